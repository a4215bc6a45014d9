//! Guest passes: a resident gives a named person (a cleaner, a dog sitter, a
//! courier of their choice) access to the doors from the street to their
//! unit's door for a time window; a vehicle owner shares their trunk the same
//! way.
//!
//! How the window is enforced, by the lock, offline:
//! - a credential (for a door that reads them) is bound to the guest's
//!   handheld key and carries `nbf` = valid_from and `exp` = valid_until,
//!   which the protocol's verifier checks (with its clock skew); a lock
//!   refuses a credential whose `exp - nbf` exceeds its maximum lifetime (one
//!   hour by default), which is why passes last at most
//!   `guest_max_duration_s` (one hour by default);
//! - a door code (for a keypad-only door) is one-time and belongs to a time
//!   slot: the service picks the slot so that the keypad starts accepting it
//!   at or after valid_from and stops at or before valid_until (so a window
//!   shorter than the code's acceptance span cannot have a door code).
//!
//! Revocation puts the pass's credentials into each lock's next revocation
//! bundle, pushed at once to online locks (as a block does for grants). A
//! keypad cannot be told to forget a code: a revoked pass's door code stays
//! usable until its slot window ends (at most the acceptance span, 20
//! minutes with the default policy); the answer says when that is.

use doorman_api::{CreateGuestPass, GuestDoorAccess, GuestPassIssued};
use doorman_domain::policy::{path_to, DoorStep, OpenMethod};
use doorman_domain::{
    AccessPoint, AccessPointKind, EventKind, GuestDoor, GuestPass, GuestPassId, Principal, ResidentId, Unit, UnitId,
    VehicleId,
};
use doorman_protocol::doorcode::DoorCodePolicy;
use doorman_protocol::keys::HandheldPublicKey;
use doorman_protocol::{CredentialClaims, CredentialId};
use doorman_store::RevokedCredential;

use crate::audit::Scope;
use crate::{auth, decode_b64, issuing, text_field, Service, ServiceError, ServiceResult};

/// How far ahead a pass may start.
const MAX_ADVANCE_S: i64 = 60 * 24 * 3600;
/// How far in the past `valid_from` may lie (clock differences of the app).
const PAST_TOLERANCE_S: i64 = 300;
/// Most uses per credential a resident may give.
const MAX_USES: u8 = 10;

/// Where a pass leads and for whom.
struct PassTarget<'a> {
    unit: &'a Unit,
    resident: ResidentId,
    vehicle: Option<VehicleId>,
    doors: Vec<DoorStep>,
    access_points: &'a [AccessPoint],
}

impl Service {
    /// A pass for the doors from the street to the unit's own door.
    pub async fn create_guest_pass(
        &self,
        p: &Principal,
        unit_id: UnitId,
        req: CreateGuestPass,
    ) -> ServiceResult<GuestPassIssued> {
        let resident = self.unit_resident(p, unit_id).await?;
        let unit = self.store.get_unit(unit_id).await?.ok_or(ServiceError::NotFound("unit"))?;
        let access_points = self.store.list_access_points(unit.property_id).await?;
        let locks: Vec<_> =
            self.store.list_locks(unit.property_id).await?.into_iter().filter(|l| l.is_active()).collect();
        let door = access_points
            .iter()
            .find(|a| a.kind == AccessPointKind::UnitDoor && a.unit_id == Some(unit_id))
            .ok_or_else(|| ServiceError::Conflict("the unit has no door of its own to give access to".into()))?;
        let doors = path_to(door.id, &access_points, &locks).ok_or_else(|| {
            ServiceError::Conflict("a door on the way to the unit cannot be opened by a guest".into())
        })?;
        // Shared doors and this unit's own: never another unit's.
        let foreign = doors.iter().any(|step| {
            access_points.iter().any(|a| a.id == step.access_point_id && a.unit_id.is_some_and(|u| u != unit_id))
        });
        if foreign {
            return Err(ServiceError::Conflict("the way to the unit passes another unit's door".into()));
        }
        let target = PassTarget { unit: &unit, resident, vehicle: None, doors, access_points: &access_points };
        self.issue_guest_pass(p, target, req).await
    }

    /// A vehicle owner shares their trunk with a driver (a one-time code
    /// for a keypad trunk, a credential bound to the driver's handheld
    /// otherwise), with the limits of any guest pass.
    pub async fn create_trunk_pass(
        &self,
        p: &Principal,
        vehicle: VehicleId,
        req: CreateGuestPass,
    ) -> ServiceResult<GuestPassIssued> {
        let vehicle = self.owned_vehicle(p, vehicle).await?;
        let unit = self.store.get_unit(vehicle.unit_id).await?.ok_or(ServiceError::NotFound("vehicle"))?;
        let access_points = self.store.list_access_points(unit.property_id).await?;
        let locks: Vec<_> =
            self.store.list_locks(unit.property_id).await?.into_iter().filter(|l| l.is_active()).collect();
        let doors = path_to(vehicle.access_point_id, &access_points, &locks)
            .ok_or_else(|| ServiceError::Conflict("the trunk cannot be opened by a guest".into()))?;
        let target = PassTarget {
            unit: &unit,
            resident: vehicle.owner_id,
            vehicle: Some(vehicle.id),
            doors,
            access_points: &access_points,
        };
        self.issue_guest_pass(p, target, req).await
    }

    async fn issue_guest_pass(
        &self,
        p: &Principal,
        target: PassTarget<'_>,
        req: CreateGuestPass,
    ) -> ServiceResult<GuestPassIssued> {
        let name = text_field("name", &req.name, 100)?;
        let now = self.now();
        let (from, until) = (req.valid_from, req.valid_until);
        if until <= from {
            return Err(ServiceError::invalid("valid_until must be after valid_from"));
        }
        if from < now - PAST_TOLERANCE_S {
            return Err(ServiceError::invalid("valid_from must not be in the past"));
        }
        if from > now + MAX_ADVANCE_S {
            return Err(ServiceError::invalid(format!("valid_from may be at most {MAX_ADVANCE_S} s ahead")));
        }
        let max = self.config.guest_max_duration_s;
        if until - from > max {
            return Err(ServiceError::invalid(format!("a guest pass may last at most {max} s")));
        }
        let max_uses = req.max_uses.unwrap_or(1);
        if !(1..=MAX_USES).contains(&max_uses) {
            return Err(ServiceError::invalid(format!("max_uses must be between 1 and {MAX_USES}")));
        }
        let needs_key = target.doors.iter().any(|s| s.method == OpenMethod::Credential);
        let handheld =
            match (&req.handheld_public_key, needs_key) {
                (Some(key), _) => Some(issuing::parse_handheld_key(&decode_b64("handheld_public_key", key)?)?),
                (None, true) => return Err(ServiceError::invalid(
                    "handheld_public_key is required: a door on the way reads credentials bound to the guest's phone",
                )),
                (None, false) => None,
            };
        let code_window = door_code_window(from, until);
        let mut doors = Vec::new();
        for step in &target.doors {
            let Some(lock_id) = step.lock_id else { continue };
            let credential_id = match step.method {
                OpenMethod::Credential => Some(auth::random_bytes::<16>()?.to_vec()),
                OpenMethod::DoorCode => {
                    if code_window.is_none() {
                        return Err(ServiceError::invalid(
                            "the window is too short for a door code: a keypad accepts a code for 20 minutes, \
                             from a 5-minute boundary",
                        ));
                    }
                    None
                }
                OpenMethod::Walk => continue,
            };
            doors.push(GuestDoor {
                access_point_id: step.access_point_id,
                lock_id,
                door_code: credential_id.is_none(),
                credential_id,
                sequence: 0, // numbered by the store
            });
        }
        if doors.iter().any(|d| !d.door_code) {
            issuing::check_issuable(&self.config.issuer, from.max(0), until)?;
        }
        let pass = GuestPass {
            id: GuestPassId::random(),
            unit_id: target.unit.id,
            property_id: target.unit.property_id,
            vehicle_id: target.vehicle,
            created_by: target.resident,
            name: name.clone(),
            valid_from: from,
            valid_until: until,
            doors,
            created_at: now,
            revoked_at: None,
        };
        let scope = Scope { property: Some(pass.property_id), unit: Some(pass.unit_id), ..Scope::default() };
        let event = self.event(
            EventKind::GuestPassCreated {
                guest_pass_id: pass.id,
                name,
                valid_from: from,
                valid_until: until,
                locks: pass.doors.iter().map(|d| d.lock_id).collect(),
            },
            scope,
            p,
        )?;
        let stored = self.store.insert_guest_pass(&pass, &[event]).await?;
        self.events_appended();

        let salt = auth::random_bytes::<16>()?;
        let pass_hash = doorman_protocol::delivery_hash(&salt, stored.id.as_uuid().as_bytes());
        let mut access = Vec::with_capacity(stored.doors.len());
        for door in &stored.doors {
            let access_point_name = target
                .access_points
                .iter()
                .find(|a| a.id == door.access_point_id)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            let mut out = GuestDoorAccess {
                access_point_id: door.access_point_id,
                access_point_name,
                lock_id: door.lock_id,
                credential: None,
                door_code: None,
                door_code_valid_from: None,
                door_code_valid_until: None,
            };
            match (&door.credential_id, handheld, code_window) {
                (Some(cti), Some(key), _) => {
                    let cred = self.sign_guest_credential(&stored, door, cti, key, pass_hash, max_uses, now)?;
                    out.credential = Some(doorman_domain::serde_b64::encode(&cred));
                }
                (None, _, Some((slot_start, accepted_from, accepted_until))) => {
                    let code =
                        issuing::door_code(&self.keys().door_code_master, door.lock_id, slot_start, door.sequence)?;
                    out.door_code = Some(code);
                    out.door_code_valid_from = Some(accepted_from);
                    out.door_code_valid_until = Some(accepted_until);
                }
                _ => return Err(ServiceError::Internal("a guest door with nothing to open it".into())),
            }
            access.push(out);
        }
        tracing::info!(pass = %stored.id, doors = access.len(), "guest pass issued");
        Ok(GuestPassIssued { pass: stored, doors: access })
    }

    #[allow(clippy::too_many_arguments)]
    fn sign_guest_credential(
        &self,
        pass: &GuestPass,
        door: &GuestDoor,
        cti: &[u8],
        handheld_key: HandheldPublicKey,
        pass_hash: doorman_protocol::DeliveryHash,
        max_uses: u8,
        now: i64,
    ) -> ServiceResult<Vec<u8>> {
        let as_u64 = |v: i64, what: &str| {
            u64::try_from(v).map_err(|_| ServiceError::Internal(format!("{what} out of range for a credential")))
        };
        let cti: [u8; 16] =
            cti.try_into().map_err(|_| ServiceError::Internal("a credential id is not 16 bytes".into()))?;
        let claims = CredentialClaims {
            issuer: &self.config.issuer,
            lock_id: issuing::lock_wire_id(door.lock_id),
            not_before: as_u64(pass.valid_from, "nbf")?,
            expires_at: as_u64(pass.valid_until, "exp")?,
            issued_at: as_u64(now, "iat")?,
            credential_id: CredentialId(cti),
            handheld_key,
            delivery_hash: pass_hash,
            lock_sequence: as_u64(door.sequence, "sequence")?,
            revocation_epoch: 0,
            max_uses,
            challenge_nonce: None,
        };
        doorman_protocol::issue_credential(&self.keys().active, &claims)
            .map(|c| c.as_bytes().to_vec())
            .map_err(|e| ServiceError::Internal(format!("cannot encode a guest credential: {e:?}")))
    }

    /// The unit's passes, newest first, for its residents and its manager.
    pub async fn list_guest_passes(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<GuestPass>> {
        self.visible_unit(p, unit).await?;
        Ok(self.store.list_guest_passes(unit).await?)
    }

    /// Ends the pass now: its credentials are revoked at every lock (pushed
    /// at once to online locks).
    pub async fn revoke_guest_pass(&self, p: &Principal, unit: UnitId, id: GuestPassId) -> ServiceResult<GuestPass> {
        self.unit_resident(p, unit).await?;
        let pass = match self.store.get_guest_pass(id).await? {
            Some(pass) if pass.unit_id == unit => pass,
            _ => return Err(ServiceError::NotFound("guest pass")),
        };
        if pass.revoked_at.is_some() {
            return Err(ServiceError::Conflict("the guest pass is already revoked".into()));
        }
        let scope = Scope { property: Some(pass.property_id), unit: Some(pass.unit_id), ..Scope::default() };
        let event = self.event(EventKind::GuestPassRevoked { guest_pass_id: id }, scope, p)?;
        let revoked = self
            .store
            .revoke_guest_pass(id, self.now(), &[event])
            .await?
            .ok_or_else(|| ServiceError::Conflict("the guest pass is already revoked".into()))?;
        self.events_appended();
        for door in &revoked.doors {
            let Some(cti) = &door.credential_id else { continue };
            let entry = RevokedCredential { credential_id: cti.clone(), expires_at: revoked.valid_until };
            if let Err(e) = self.push_revocations(door.lock_id, &[entry]).await {
                tracing::error!(lock = %door.lock_id, error = %e, "the revocation could not be sent to the lock");
            }
        }
        Ok(revoked)
    }
}

/// The slot to derive a guest's door code in, and the span a keypad accepts
/// it in: `(slot start, accepted from, accepted until)`. A lock accepts a
/// code of slot `s` while its own slot is within `s - slots_ahead ..= s +
/// slots_back`; the slot is the first whose span starts at or after
/// `valid_from`, and None if that span does not end by `valid_until`.
pub(crate) fn door_code_window(valid_from: i64, valid_until: i64) -> Option<(i64, i64, i64)> {
    let policy = DoorCodePolicy::default();
    let len = i64::try_from(policy.slot_secs()).ok()?.max(1);
    let (ahead, back) = (i64::from(policy.slots_ahead()), i64::from(policy.slots_back()));
    let first_boundary = valid_from.checked_add(len - 1)?.div_euclid(len);
    let slot = first_boundary + ahead;
    let accepted_from = (slot - ahead) * len;
    let accepted_until = (slot + back + 1) * len;
    (accepted_until <= valid_until).then_some((slot * len, accepted_from, accepted_until))
}

#[cfg(test)]
mod tests {
    use super::door_code_window;

    #[test]
    fn door_codes_are_accepted_only_inside_the_window() {
        // From 10:02 to 11:00: the code's span starts at 10:05 and lasts 20 minutes.
        let (from, until) = (36_000 + 120, 39_600);
        let (slot_start, accepted_from, accepted_until) = door_code_window(from, until).unwrap();
        assert_eq!((accepted_from, accepted_until), (36_300, 37_500));
        assert_eq!(slot_start, 36_600);
        // On a boundary the span starts right there.
        assert_eq!(door_code_window(36_000, 39_600).map(|w| w.1), Some(36_000));
        // Too short a window for a whole span: no code.
        assert_eq!(door_code_window(36_000, 36_000 + 1_000), None);
    }

    /// A lock's `door_code_accepted` names the code's (slot, index); door
    /// events find the pass again among the passes whose window meets the
    /// slot's times, by the slot start inside the window and the sequence.
    #[test]
    fn a_guest_codes_slot_and_index_lead_back_to_its_pass() {
        for (from, until, sequence) in [(36_120, 39_600, 1), (36_000, 39_600, 7), (1_773_252_000, 1_773_255_600, 40)] {
            let (slot_start, _, _) = door_code_window(from, until).unwrap();
            assert!(from <= slot_start && slot_start <= until);
            let (slot, index) = crate::issuing::door_code_slot_index(slot_start, sequence);
            let (first, last) = crate::issuing::door_code_slot_times(slot);
            assert!(first <= slot_start && slot_start <= last, "the pass's window meets the slot's times");
            assert_eq!(crate::issuing::door_code_slot_index(slot_start, sequence), (slot, index));
        }
    }
}
