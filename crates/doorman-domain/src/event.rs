//! What happened, as one record that serves three purposes:
//! - an entry of the transparency log (its index is the log index; its
//!   canonical bytes are the Merkle leaf, so a resident can check it);
//! - the live feed and notifications of whoever it concerns (the index is
//!   the server-sent event id, so a client resumes with `Last-Event-ID`);
//! - the webhook outbox (the index makes receivers idempotent).
//!
//! An event is written in the same transaction as the change it describes,
//! so no grant exists without its entry and no entry without its grant.
//!
//! Privacy: the public parts of the log are hashes only. Every event carries
//! 16 random bytes (`salt`) so that the hash of a low-entropy event (a
//! refusal at a known building) cannot be confirmed by guessing.

use serde::{Deserialize, Serialize};

use crate::{
    AccessPointId, AccessRequestId, Actor, CarrierId, ClipId, DeliveryId, DriverId, DropSpotId, GrantId, GuestPassId,
    InvitationId, LockId, PasskeyId, PickupPointId, Principal, PropertyId, RefusalReason, ResidentId, UnitId,
    UnixSeconds, VehicleId,
};

/// What kind of thing happened, with what only that kind carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// A carrier told the resident when the parcel will arrive.
    EtaUpdated {
        eta: UnixSeconds,
    },
    /// A driver at the door scanned a parcel.
    AccessRequested {
        request_id: AccessRequestId,
    },
    AccessGranted {
        request_id: AccessRequestId,
        grant_id: GrantId,
        drop_spot_id: DropSpotId,
        /// The locks the credentials open, street first.
        locks: Vec<LockId>,
        expires_at: UnixSeconds,
    },
    AccessRefused {
        request_id: AccessRequestId,
        reason: RefusalReason,
    },
    /// Credentials revoked before use (a block, a cancellation).
    GrantRevoked {
        grant_id: GrantId,
    },
    DoorUnlocked {
        lock_id: LockId,
        access_point_id: AccessPointId,
    },
    DoorOpened {
        lock_id: LockId,
        access_point_id: AccessPointId,
    },
    DoorClosed {
        lock_id: LockId,
        access_point_id: AccessPointId,
    },
    DoorAjar {
        lock_id: LockId,
        access_point_id: AccessPointId,
    },
    Relocked {
        lock_id: LockId,
        access_point_id: AccessPointId,
    },
    /// A signed lock event as the lock sent it (COSE bytes, base64url).
    LockEvent {
        lock_id: LockId,
        counter: u64,
        signed: String,
    },
    Delivered {
        drop_spot_id: DropSpotId,
        photo_ref: Option<String>,
    },
    /// A camera clip of an entry was uploaded; `sha256` (hex) is the hash
    /// the lock signed and the bytes served under `clip_id` have.
    ClipReady {
        clip_id: ClipId,
        lock_id: LockId,
        sha256: String,
    },
    /// The clip's retention ended: its bytes were deleted.
    ClipDeleted {
        clip_id: ClipId,
    },
    Blocked {
        until: Option<UnixSeconds>,
    },
    Unblocked,
    /// The unit blocked: the carrier is to take this delivery to `to`
    /// (the chosen pickup point's name and address, or the alternate address).
    Diverted {
        to: String,
        pickup_point_id: Option<PickupPointId>,
    },
    /// A resident scheduled a return: the carrier's driver is to collect it
    /// from the drop spot where it waits.
    ReturnScheduled {
        drop_spot_id: DropSpotId,
        tracking_number: String,
    },
    /// The driver collected the return.
    ReturnCollected {
        drop_spot_id: DropSpotId,
        photo_ref: Option<String>,
    },
    /// The manager turned delivery access on: each unit is told before it
    /// goes live (one event per unit).
    TenantNoticeGiven {
        live_from: UnixSeconds,
        text: String,
    },
    DeliveryCancelled,
    /// A manager changed the property's configuration (what, in words).
    ConfigurationChanged {
        what: String,
    },
    KeyRotated {
        kid: String,
    },
    /// A resident registered their car: its trunk device is `lock_id`, its
    /// trunk a drop spot of their unit. (Its positions are never logged.)
    VehicleRegistered {
        vehicle_id: VehicleId,
        lock_id: LockId,
        drop_spot_id: DropSpotId,
    },
    /// A resident gave a named guest access to their doors (or trunk) for a
    /// time window.
    GuestPassCreated {
        guest_pass_id: GuestPassId,
        name: String,
        valid_from: UnixSeconds,
        valid_until: UnixSeconds,
        /// The locks the pass opens, street first.
        locks: Vec<LockId>,
    },
    /// The pass was revoked before its end: online locks are told at once.
    GuestPassRevoked {
        guest_pass_id: GuestPassId,
    },
    /// The actor registered a passkey (a WebAuthn credential) to sign in to
    /// the dashboard with, under the name they gave it.
    PasskeyAdded {
        passkey_id: PasskeyId,
        name: String,
    },
    /// A passkey was removed: by its holder, or by a re-invitation
    /// (`by_reinvitation`), after which it signs nobody in.
    PasskeyRemoved {
        passkey_id: PasskeyId,
        name: String,
        by_reinvitation: Option<InvitationId>,
    },
    /// A manager re-invited a resident who lost their devices: redeeming
    /// `invitation_id` brings back the same resident; their passkeys were
    /// removed with it (one `PasskeyRemoved` each).
    ResidentReinvited {
        resident_id: ResidentId,
        invitation_id: InvitationId,
    },
    /// The resident redeemed their re-invitation: a new API token and
    /// session for the same account.
    ReinvitationRedeemed {
        resident_id: ResidentId,
        invitation_id: InvitationId,
    },
}

/// Every event type name, as [`EventKind::name`] gives them.
pub const EVENT_TYPES: &[&str] = &[
    "eta_updated",
    "access_requested",
    "access_granted",
    "access_refused",
    "grant_revoked",
    "door_unlocked",
    "door_opened",
    "door_closed",
    "door_ajar",
    "relocked",
    "lock_event",
    "delivered",
    "clip_ready",
    "clip_deleted",
    "blocked",
    "unblocked",
    "diverted",
    "delivery_cancelled",
    "tenant_notice_given",
    "return_scheduled",
    "return_collected",
    "configuration_changed",
    "key_rotated",
    "vehicle_registered",
    "guest_pass_created",
    "guest_pass_revoked",
    "passkey_added",
    "passkey_removed",
    "resident_reinvited",
    "reinvitation_redeemed",
];

impl EventKind {
    /// The stable name used in filters, SSE `event:` lines and webhooks.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::EtaUpdated { .. } => "eta_updated",
            EventKind::AccessRequested { .. } => "access_requested",
            EventKind::AccessGranted { .. } => "access_granted",
            EventKind::AccessRefused { .. } => "access_refused",
            EventKind::GrantRevoked { .. } => "grant_revoked",
            EventKind::DoorUnlocked { .. } => "door_unlocked",
            EventKind::DoorOpened { .. } => "door_opened",
            EventKind::DoorClosed { .. } => "door_closed",
            EventKind::DoorAjar { .. } => "door_ajar",
            EventKind::Relocked { .. } => "relocked",
            EventKind::LockEvent { .. } => "lock_event",
            EventKind::Delivered { .. } => "delivered",
            EventKind::ClipReady { .. } => "clip_ready",
            EventKind::ClipDeleted { .. } => "clip_deleted",
            EventKind::Blocked { .. } => "blocked",
            EventKind::Unblocked => "unblocked",
            EventKind::Diverted { .. } => "diverted",
            EventKind::DeliveryCancelled => "delivery_cancelled",
            EventKind::TenantNoticeGiven { .. } => "tenant_notice_given",
            EventKind::ReturnScheduled { .. } => "return_scheduled",
            EventKind::ReturnCollected { .. } => "return_collected",
            EventKind::ConfigurationChanged { .. } => "configuration_changed",
            EventKind::KeyRotated { .. } => "key_rotated",
            EventKind::VehicleRegistered { .. } => "vehicle_registered",
            EventKind::GuestPassCreated { .. } => "guest_pass_created",
            EventKind::GuestPassRevoked { .. } => "guest_pass_revoked",
            EventKind::PasskeyAdded { .. } => "passkey_added",
            EventKind::PasskeyRemoved { .. } => "passkey_removed",
            EventKind::ResidentReinvited { .. } => "resident_reinvited",
            EventKind::ReinvitationRedeemed { .. } => "reinvitation_redeemed",
        }
    }

    /// Door events at a shared door concern every resident of the building.
    pub fn is_door_event(&self) -> bool {
        matches!(
            self,
            EventKind::DoorUnlocked { .. }
                | EventKind::DoorOpened { .. }
                | EventKind::DoorClosed { .. }
                | EventKind::DoorAjar { .. }
                | EventKind::Relocked { .. }
                | EventKind::LockEvent { .. }
        )
    }
}

/// One event. Whom it concerns is stated by its scope fields; the log's
/// privacy rules and the notification routing both read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Format version of this record.
    pub v: u8,
    pub at: UnixSeconds,
    #[serde(flatten)]
    pub kind: EventKind,
    pub property_id: Option<PropertyId>,
    pub unit_id: Option<UnitId>,
    pub carrier_id: Option<CarrierId>,
    pub driver_id: Option<DriverId>,
    pub delivery_id: Option<DeliveryId>,
    /// Who caused it, when a principal did (by role alone in an event that
    /// carriers or drivers read and a resident or manager caused).
    pub actor: Option<Actor>,
    /// 16 random bytes, base64url: keeps the public leaf hash unguessable.
    pub salt: String,
}

pub const EVENT_FORMAT_VERSION: u8 = 1;

impl Event {
    /// The canonical bytes: compact JSON, fields in declaration order. The
    /// log stores and hashes exactly these bytes; verifiers hash what they
    /// are given and never re-encode.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// What a principal may see of the events, with the facts authorization
/// needs that the principal alone does not carry.
#[derive(Clone, Debug, PartialEq)]
pub struct Viewer {
    pub principal: Principal,
    /// For a manager: the properties they manage.
    pub managed_properties: Vec<PropertyId>,
    /// For a resident: the property of their unit.
    pub resident_property: Option<PropertyId>,
    /// For a resident: their move-in; they see nothing from before it (the
    /// unit's history before them belongs to the residents before them).
    pub since: Option<UnixSeconds>,
}

impl Viewer {
    /// A resident sees their unit's events and door events at their
    /// building's shared doors; a manager everything at their properties; a
    /// carrier its own deliveries; a driver what they did; the operator
    /// configuration and key events only.
    pub fn may_see(&self, e: &Event) -> bool {
        if self.since.is_some_and(|since| e.at < since) {
            return false;
        }
        match &self.principal {
            Principal::Resident { unit_id, .. } => {
                e.unit_id == Some(*unit_id)
                    || (e.unit_id.is_none()
                        && e.kind.is_door_event()
                        && e.property_id.is_some()
                        && e.property_id == self.resident_property)
            }
            Principal::Manager { .. } => e.property_id.is_some_and(|p| self.managed_properties.contains(&p)),
            Principal::Carrier { carrier_id } => e.carrier_id == Some(*carrier_id),
            Principal::Driver { driver_id, .. } => e.driver_id == Some(*driver_id),
            Principal::Operator => {
                matches!(e.kind, EventKind::ConfigurationChanged { .. } | EventKind::KeyRotated { .. })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManagerId;

    fn event(kind: EventKind, property: PropertyId, unit: Option<UnitId>, carrier: CarrierId) -> Event {
        Event {
            v: EVENT_FORMAT_VERSION,
            at: 1_800_000_000,
            kind,
            property_id: Some(property),
            unit_id: unit,
            carrier_id: Some(carrier),
            driver_id: None,
            delivery_id: None,
            actor: None,
            salt: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }

    #[test]
    fn canonical_bytes_round_trip_and_are_stable() {
        let e = event(
            EventKind::Blocked { until: None },
            PropertyId::random(),
            Some(UnitId::random()),
            CarrierId::random(),
        );
        let bytes = e.to_canonical_bytes();
        let back = Event::from_bytes(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_canonical_bytes(), bytes);
        assert!(std::str::from_utf8(&bytes).unwrap().contains(r#""type":"blocked""#));
    }

    #[test]
    fn each_principal_sees_only_what_concerns_it() {
        let (home, other_building) = (PropertyId::random(), PropertyId::random());
        let (mine, neighbours) = (UnitId::random(), UnitId::random());
        let (carrier, other_carrier) = (CarrierId::random(), CarrierId::random());
        let lock = LockId::random();
        let ap = AccessPointId::random();
        let resident = Viewer {
            principal: Principal::Resident { resident_id: ResidentId::random(), unit_id: mine },
            managed_properties: vec![],
            resident_property: Some(home),
            since: None,
        };
        let blocked_mine = event(EventKind::Blocked { until: None }, home, Some(mine), carrier);
        let blocked_neighbour = event(EventKind::Blocked { until: None }, home, Some(neighbours), carrier);
        let lobby_opened = event(EventKind::DoorOpened { lock_id: lock, access_point_id: ap }, home, None, carrier);
        let elsewhere_opened =
            event(EventKind::DoorOpened { lock_id: lock, access_point_id: ap }, other_building, None, carrier);
        let config = event(EventKind::ConfigurationChanged { what: "hours".into() }, home, None, carrier);
        assert!(resident.may_see(&blocked_mine));
        assert!(!resident.may_see(&blocked_neighbour));
        assert!(resident.may_see(&lobby_opened));
        assert!(!resident.may_see(&elsewhere_opened));
        assert!(!resident.may_see(&config));

        let manager = Viewer {
            principal: Principal::Manager { manager_id: ManagerId::random() },
            managed_properties: vec![home],
            resident_property: None,
            since: None,
        };
        assert!(manager.may_see(&blocked_neighbour) && manager.may_see(&config));
        assert!(!manager.may_see(&elsewhere_opened));

        let other = Viewer {
            principal: Principal::Carrier { carrier_id: other_carrier },
            managed_properties: vec![],
            resident_property: None,
            since: None,
        };
        assert!(!other.may_see(&blocked_mine));
        let own = Viewer { principal: Principal::Carrier { carrier_id: carrier }, ..other };
        assert!(own.may_see(&blocked_mine));
    }
}
