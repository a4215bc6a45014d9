//! A unit's people and what they set: invitations, residents, preferences,
//! blocks, vehicles (a resident's car with its trunk device and last
//! position) and guest passes.
//!
//! A vehicle's trunk is an access point, a lock (with its fleet account) and
//! a drop spot of the owner's home property and unit:
//! [`ResidentStore::insert_vehicle`] writes them with the vehicle in one
//! transaction. Only the last position of a vehicle is kept. A guest pass
//! numbers its doors (each lock's next credential sequence number, the
//! counter grants use) in the transaction that stores it.

use async_trait::async_trait;
use doorman_domain::{
    AccessPoint, Block, DropSpot, Event, GuestPass, GuestPassId, Invitation, Lock, Principal, PropertyId, Resident,
    ResidentId, TokenId, TrunkFacts, UnitId, UnitPreferences, UnixSeconds, Vehicle, VehicleId, VehiclePosition,
};

use crate::accounts::{insert_token_in, TokenRecord};
use crate::audit::append_in;
use crate::exec::values;
use crate::exec::Exec;
use crate::fleet::insert_fleet_lock_in;
use crate::property::{insert_access_point_in, insert_drop_spot_in, next_lock_sequence_in};
use crate::records::select;
use crate::records::{columns, to_json, AccessLists};
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// A unit's people and their settings; every [`Store`](crate::Store) is one.
#[async_trait]
pub trait ResidentStore: Send + Sync {
    /// `code_hash` is the SHA-256 of the invitation code given to the resident.
    async fn insert_invitation(&self, invitation: &Invitation, code_hash: &[u8; 32]) -> StoreResult<()>;
    async fn list_invitations(&self, unit: UnitId) -> StoreResult<Vec<Invitation>>;
    /// In one transaction: finds the unredeemed, unexpired invitation with
    /// this code hash, marks it redeemed at `now`, creates the resident (id
    /// `resident_id`, unit, name and email from the invitation) and stores
    /// the resident's token (`token_id`, `token_hash`, principal Resident).
    /// NotFound if no such invitation; a second redemption is NotFound; so
    /// is a re-invitation (see `PasskeyStore::redeem_reinvitation`).
    async fn redeem_invitation(
        &self,
        code_hash: &[u8; 32],
        resident_id: ResidentId,
        token_id: TokenId,
        token_hash: &[u8; 32],
        now: UnixSeconds,
    ) -> StoreResult<Resident>;
    async fn get_resident(&self, id: ResidentId) -> StoreResult<Option<Resident>>;
    async fn list_residents(&self, unit: UnitId) -> StoreResult<Vec<Resident>>;

    /// The unit's preferences, or the defaults if never set.
    async fn get_preferences(&self, unit: UnitId) -> StoreResult<UnitPreferences>;
    async fn put_preferences(&self, unit: UnitId, preferences: &UnitPreferences) -> StoreResult<()>;

    async fn insert_block(&self, block: &Block, events: &[Event]) -> StoreResult<()>;
    /// Ends every block of the unit active at `now` (sets `until = now`);
    /// returns how many were ended (the events are written only if some were).
    async fn end_blocks(&self, unit: UnitId, now: UnixSeconds, events: &[Event]) -> StoreResult<u64>;
    /// A block of the unit active at `now`, if any.
    async fn active_block(&self, unit: UnitId, now: UnixSeconds) -> StoreResult<Option<Block>>;

    /// In one transaction: the trunk's access point, its lock and the lock's
    /// fleet account (`mqtt_password_hash`, as `insert_fleet_lock`), its drop
    /// spot, the vehicle, and `events`. Conflict (nothing written) if a
    /// reference does not hold.
    async fn insert_vehicle(
        &self,
        vehicle: &Vehicle,
        trunk: &AccessPoint,
        lock: &Lock,
        mqtt_password_hash: &str,
        spot: &DropSpot,
        events: &[Event],
    ) -> StoreResult<()>;
    async fn get_vehicle(&self, id: VehicleId) -> StoreResult<Option<Vehicle>>;
    /// The unit's vehicles, oldest first.
    async fn list_vehicles(&self, unit: UnitId) -> StoreResult<Vec<Vehicle>>;
    /// Replaces the vehicle's last position. NotFound for an unknown vehicle.
    async fn put_vehicle_position(&self, vehicle: VehicleId, position: &VehiclePosition) -> StoreResult<()>;
    async fn vehicle_position(&self, vehicle: VehicleId) -> StoreResult<Option<VehiclePosition>>;
    /// The trunks of the unit's vehicles with their last positions: what the
    /// access policy reads for a trunk delivery.
    async fn trunk_facts(&self, unit: UnitId) -> StoreResult<Vec<TrunkFacts>>;

    /// In one transaction: numbers every door of `pass` with its lock's next
    /// sequence number (in the order of `pass.doors`; whatever `sequence` a
    /// door had is replaced), stores the pass and `events`; returns the pass
    /// as stored. NotFound, nothing stored, if a door names an unknown lock.
    async fn insert_guest_pass(&self, pass: &GuestPass, events: &[Event]) -> StoreResult<GuestPass>;
    async fn get_guest_pass(&self, id: GuestPassId) -> StoreResult<Option<GuestPass>>;
    /// The unit's passes, newest first.
    async fn list_guest_passes(&self, unit: UnitId) -> StoreResult<Vec<GuestPass>>;
    /// The property's passes, revoked ones too, whose window
    /// `valid_from..=valid_until` meets `from..=to`, oldest first: where a
    /// lock's door event finds the pass its credential or code belongs to.
    async fn guest_passes_valid_between(
        &self,
        property: PropertyId,
        from: UnixSeconds,
        to: UnixSeconds,
    ) -> StoreResult<Vec<GuestPass>>;
    /// Marks the pass revoked at `now` and writes `events`, if it was not
    /// revoked yet; returns it as it now is. None (nothing written) if it
    /// does not exist or was already revoked.
    async fn revoke_guest_pass(
        &self,
        id: GuestPassId,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<GuestPass>>;
}

/// $1 unit, $2 now
pub(crate) const ACTIVE_BLOCK: &str = concat!(
    "SELECT ",
    columns!(block),
    " FROM blocks WHERE unit_id = $1 AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2) \
     ORDER BY starts_at DESC, id DESC LIMIT 1"
);
/// $1 unit
pub(crate) const GET_PREFERENCES: &str = select!(preferences, " FROM unit_preferences WHERE unit_id = $1");

#[async_trait]
impl<B: Backend> ResidentStore for B {
    async fn insert_invitation(&self, inv: &Invitation, code_hash: &[u8; 32]) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO invitations (",
            columns!(invitation),
            ", code_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let values = values! {
            inv.id, inv.unit_id, &inv.name, &inv.email, inv.created_at, inv.expires_at, inv.redeemed_at,
            inv.resident_id, code_hash
        };
        self.write_one(sql, &values, &[]).await.map(drop)
    }

    async fn list_invitations(&self, unit: UnitId) -> StoreResult<Vec<Invitation>> {
        let sql = select!(invitation, " FROM invitations WHERE unit_id = $1 ORDER BY created_at, id");
        self.all(sql, &[unit.into()]).await
    }

    async fn redeem_invitation(
        &self,
        code_hash: &[u8; 32],
        resident_id: ResidentId,
        token_id: TokenId,
        token_hash: &[u8; 32],
        now: UnixSeconds,
    ) -> StoreResult<Resident> {
        let mut tx = self.begin_write().await?;
        // The conditional UPDATE is the check: a second redemption (or one
        // racing this) finds no unredeemed row.
        let sql = concat!(
            "UPDATE invitations SET redeemed_at = $2 \
             WHERE code_hash = $1 AND redeemed_at IS NULL AND expires_at > $2 AND resident_id IS NULL RETURNING ",
            columns!(invitation)
        );
        let Some(invitation) = tx.fetch_optional::<Invitation>(sql, &[code_hash.into(), now.into()]).await? else {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        };
        let resident = Resident {
            id: resident_id,
            unit_id: invitation.unit_id,
            name: invitation.name,
            email: invitation.email,
            created_at: now,
            moved_out_at: None,
        };
        let sql = concat!("INSERT INTO residents (", columns!(resident), ") VALUES ($1, $2, $3, $4, $5, NULL)");
        let values = values! { resident.id, resident.unit_id, &resident.name, &resident.email, now };
        tx.execute(sql, &values).await?;
        let token = TokenRecord {
            id: token_id,
            hash: *token_hash,
            principal: Principal::Resident { resident_id, unit_id: resident.unit_id },
            label: format!("invitation {}", invitation.id),
            created_at: now,
        };
        insert_token_in(&mut *tx, &token).await?;
        tx.commit().await?;
        Ok(resident)
    }

    async fn get_resident(&self, id: ResidentId) -> StoreResult<Option<Resident>> {
        self.one(select!(resident, " FROM residents WHERE id = $1"), &[id.into()]).await
    }

    async fn list_residents(&self, unit: UnitId) -> StoreResult<Vec<Resident>> {
        self.all(select!(resident, " FROM residents WHERE unit_id = $1 ORDER BY created_at, id"), &[unit.into()]).await
    }

    async fn get_preferences(&self, unit: UnitId) -> StoreResult<UnitPreferences> {
        Ok(self.one(GET_PREFERENCES, &[unit.into()]).await?.unwrap_or_default())
    }

    async fn put_preferences(&self, unit: UnitId, p: &UnitPreferences) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO unit_preferences (unit_id, ",
            columns!(preferences),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (unit_id) DO UPDATE SET \
             preferred_drop_spot = excluded.preferred_drop_spot, allow_in_unit = excluded.allow_in_unit, \
             alternate_address = excluded.alternate_address, pickup_point = excluded.pickup_point, \
             pickup_point_id = excluded.pickup_point_id, access_lists = excluded.access_lists"
        );
        let values = values! {
            unit, p.preferred_drop_spot, p.allow_in_unit, p.alternate_address.as_deref(),
            p.pickup_point.as_deref(), p.pickup_point_id, AccessLists::column(p)?
        };
        self.write_one(sql, &values, &[]).await.map(drop)
    }

    async fn insert_block(&self, b: &Block, events: &[Event]) -> StoreResult<()> {
        let sql = concat!("INSERT INTO blocks (", columns!(block), ") VALUES ($1, $2, $3, $4, $5)");
        let values = [b.unit_id.into(), b.blocked_by.into(), b.from.into(), b.until.into(), b.reason.as_deref().into()];
        self.write_one(sql, &values, events).await.map(drop)
    }

    async fn end_blocks(&self, unit: UnitId, now: UnixSeconds, events: &[Event]) -> StoreResult<u64> {
        let sql = "UPDATE blocks SET ends_at = $2 \
                   WHERE unit_id = $1 AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2)";
        self.write_one(sql, &[unit.into(), now.into()], events).await
    }

    async fn active_block(&self, unit: UnitId, now: UnixSeconds) -> StoreResult<Option<Block>> {
        self.one(ACTIVE_BLOCK, &[unit.into(), now.into()]).await
    }

    async fn insert_vehicle(
        &self,
        v: &Vehicle,
        ap: &AccessPoint,
        lock: &Lock,
        mqtt_password_hash: &str,
        spot: &DropSpot,
        events: &[Event],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_access_point_in(&mut *tx, ap).await?;
        insert_fleet_lock_in(&mut *tx, lock, mqtt_password_hash).await?;
        insert_drop_spot_in(&mut *tx, spot).await?;
        let sql =
            concat!("INSERT INTO vehicles (", columns!(vehicle), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        let values = values! {
            v.id, v.owner_id, v.unit_id, v.property_id, &v.name, v.plate.as_deref(), v.access_point_id, v.lock_id,
            v.drop_spot_id, v.created_at
        };
        tx.execute(sql, &values).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await
    }

    async fn get_vehicle(&self, id: VehicleId) -> StoreResult<Option<Vehicle>> {
        self.one(select!(vehicle, " FROM vehicles WHERE id = $1"), &[id.into()]).await
    }

    async fn list_vehicles(&self, unit: UnitId) -> StoreResult<Vec<Vehicle>> {
        self.all(select!(vehicle, " FROM vehicles WHERE unit_id = $1 ORDER BY created_at, id"), &[unit.into()]).await
    }

    async fn put_vehicle_position(&self, vehicle: VehicleId, p: &VehiclePosition) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if tx.fetch_optional::<()>("SELECT id FROM vehicles WHERE id = $1", &[vehicle.into()]).await?.is_none() {
            tx.rollback().await?;
            return Err(StoreError::NotFound);
        }
        let sql = "INSERT INTO vehicle_positions (vehicle_id, lat, lon, reported_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (vehicle_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, \
                   reported_at = excluded.reported_at";
        tx.execute(sql, &[vehicle.into(), p.position.lat.into(), p.position.lon.into(), p.reported_at.into()]).await?;
        tx.commit().await
    }

    async fn vehicle_position(&self, vehicle: VehicleId) -> StoreResult<Option<VehiclePosition>> {
        self.one(select!(position, " FROM vehicle_positions WHERE vehicle_id = $1"), &[vehicle.into()]).await
    }

    async fn trunk_facts(&self, unit: UnitId) -> StoreResult<Vec<TrunkFacts>> {
        let mut out = Vec::new();
        for v in self.list_vehicles(unit).await? {
            out.push(TrunkFacts {
                access_point_id: v.access_point_id,
                last_position: self.vehicle_position(v.id).await?,
            });
        }
        Ok(out)
    }

    async fn insert_guest_pass(&self, pass: &GuestPass, events: &[Event]) -> StoreResult<GuestPass> {
        let mut tx = self.begin_write().await?;
        let mut stored = pass.clone();
        for door in &mut stored.doors {
            let Some(next) = next_lock_sequence_in(&mut *tx, door.lock_id).await? else {
                tx.rollback().await?;
                return Err(StoreError::NotFound);
            };
            door.sequence = next;
        }
        let sql = concat!(
            "INSERT INTO guest_passes (",
            columns!(guest_pass),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        let doors = to_json(&stored.doors, "guest pass doors")?;
        let values = values! {
            stored.id, stored.unit_id, stored.property_id, stored.vehicle_id, stored.created_by, &stored.name,
            stored.valid_from, stored.valid_until, doors, stored.created_at, stored.revoked_at
        };
        tx.execute(sql, &values).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn get_guest_pass(&self, id: GuestPassId) -> StoreResult<Option<GuestPass>> {
        self.one(select!(guest_pass, " FROM guest_passes WHERE id = $1"), &[id.into()]).await
    }

    async fn list_guest_passes(&self, unit: UnitId) -> StoreResult<Vec<GuestPass>> {
        let sql = select!(guest_pass, " FROM guest_passes WHERE unit_id = $1 ORDER BY created_at DESC, id");
        self.all(sql, &[unit.into()]).await
    }

    async fn guest_passes_valid_between(
        &self,
        property: PropertyId,
        from: UnixSeconds,
        to: UnixSeconds,
    ) -> StoreResult<Vec<GuestPass>> {
        let sql = select!(guest_pass, " FROM guest_passes WHERE property_id = $1 AND valid_until >= $2 AND valid_from <= $3 ORDER BY created_at, id");
        self.all(sql, &[property.into(), from.into(), to.into()]).await
    }

    async fn revoke_guest_pass(
        &self,
        id: GuestPassId,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<GuestPass>> {
        let mut tx = self.begin_write().await?;
        let sql = concat!(
            "UPDATE guest_passes SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ",
            columns!(guest_pass)
        );
        let Some(pass) = tx.fetch_optional::<GuestPass>(sql, &[id.into(), now.into()]).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(Some(pass))
    }
}
