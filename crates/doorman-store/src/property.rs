//! A property's configuration: the property (with its tenant notice), its
//! units, access points, locks (with their credential counters), drop spots
//! and carriers' enablements.

use async_trait::async_trait;
use doorman_domain::{
    AccessPoint, AccessPointId, CarrierEnablement, CarrierId, DropSpot, DropSpotId, Event, Lock, LockId, ManagerId,
    Property, PropertyId, TenantNotice, Unit, UnitId,
};

use crate::exec::values;
use crate::exec::Exec;
use crate::records::select;
use crate::records::{columns, to_json};
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// A property's configuration; every [`Store`](crate::Store) is one.
///
/// The methods that change what the service decides on take the events
/// that describe the change (`events`, for the transparency log) and write
/// them in the same transaction, after the change, only if it happened
/// (see the `audit` module).
#[async_trait]
pub trait PropertyStore: Send + Sync {
    async fn insert_property(&self, property: &Property, events: &[Event]) -> StoreResult<()>;
    async fn get_property(&self, id: PropertyId) -> StoreResult<Option<Property>>;
    async fn list_properties(&self, manager: ManagerId) -> StoreResult<Vec<Property>>;
    async fn set_tenant_notice(&self, property: PropertyId, notice: &TenantNotice, events: &[Event])
        -> StoreResult<()>;

    async fn insert_unit(&self, unit: &Unit, events: &[Event]) -> StoreResult<()>;
    async fn get_unit(&self, id: UnitId) -> StoreResult<Option<Unit>>;
    async fn list_units(&self, property: PropertyId) -> StoreResult<Vec<Unit>>;

    async fn insert_access_point(&self, ap: &AccessPoint, events: &[Event]) -> StoreResult<()>;
    async fn get_access_point(&self, id: AccessPointId) -> StoreResult<Option<AccessPoint>>;
    async fn list_access_points(&self, property: PropertyId) -> StoreResult<Vec<AccessPoint>>;

    /// Conflict if the access point already has a lock.
    async fn insert_lock(&self, lock: &Lock, events: &[Event]) -> StoreResult<()>;
    async fn get_lock(&self, id: LockId) -> StoreResult<Option<Lock>>;
    async fn list_locks(&self, property: PropertyId) -> StoreResult<Vec<Lock>>;
    /// Atomically increments and returns the lock's credential sequence
    /// number (the first call returns 1). NotFound for an unknown lock.
    async fn next_lock_sequence(&self, lock: LockId) -> StoreResult<i64>;

    async fn insert_drop_spot(&self, spot: &DropSpot, events: &[Event]) -> StoreResult<()>;
    async fn get_drop_spot(&self, id: DropSpotId) -> StoreResult<Option<DropSpot>>;
    async fn list_drop_spots(&self, property: PropertyId) -> StoreResult<Vec<DropSpot>>;

    /// Insert or replace the enablement of (property, carrier).
    async fn put_enablement(&self, enablement: &CarrierEnablement, events: &[Event]) -> StoreResult<()>;
    async fn get_enablement(&self, property: PropertyId, carrier: CarrierId) -> StoreResult<Option<CarrierEnablement>>;
    async fn list_enablements(&self, property: PropertyId) -> StoreResult<Vec<CarrierEnablement>>;
}

/// $1 id
pub(crate) const GET_PROPERTY: &str = select!(property, " FROM properties WHERE id = $1");
/// $1 property, $2 carrier
pub(crate) const GET_ENABLEMENT: &str =
    select!(enablement, " FROM enablements WHERE property_id = $1 AND carrier_id = $2");
/// $1 property
pub(crate) const LIST_DROP_SPOTS: &str =
    select!(drop_spot, " FROM drop_spots WHERE property_id = $1 AND removed_at IS NULL ORDER BY name, id");
/// $1 property
pub(crate) const LIST_ACCESS_POINTS: &str =
    select!(access_point, " FROM access_points WHERE property_id = $1 AND removed_at IS NULL ORDER BY name, id");
/// $1 property
pub(crate) const LIST_LOCKS: &str = select!(lock, " FROM locks WHERE property_id = $1 ORDER BY created_at, id");
/// $1 property: the locks in service (the access path's; decommissioned
/// locks open nothing).
pub(crate) const LIST_LOCKS_IN_SERVICE: &str =
    select!(lock, " FROM locks WHERE property_id = $1 AND decommissioned_at IS NULL ORDER BY created_at, id");

/// The lock's next credential sequence number, or None for an unknown lock,
/// inside the caller's write (the row lock the UPDATE takes serializes
/// concurrent callers).
pub(crate) async fn next_lock_sequence_in(ex: &mut impl Exec, lock: LockId) -> StoreResult<Option<i64>> {
    ex.fetch_optional("UPDATE locks SET sequence = sequence + 1 WHERE id = $1 RETURNING sequence", &[lock.into()]).await
}

/// `INSERT` of an access point, inside the caller's write.
pub(crate) async fn insert_access_point_in(ex: &mut impl Exec, ap: &AccessPoint) -> StoreResult<()> {
    let sql = concat!("INSERT INTO access_points (", columns!(access_point), ") VALUES ($1, $2, $3, $4, $5, $6)");
    let values = values! { ap.id, ap.property_id, ap.kind.as_str(), &ap.name, ap.parent_id, ap.unit_id };
    ex.execute(sql, &values).await.map(drop)
}

/// `INSERT` of a lock, inside the caller's write.
pub(crate) async fn insert_lock_in(ex: &mut impl Exec, lock: &Lock) -> StoreResult<()> {
    let sql = concat!("INSERT INTO locks (", columns!(lock), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
    let values = values! {
        lock.id, lock.property_id, lock.access_point_id, lock.device_public_key.as_slice(), &lock.model,
        &lock.firmware, lock.mobile_credential, lock.keypad, lock.created_at, lock.decommissioned_at, lock.replaced_by
    };
    ex.execute(sql, &values).await.map(drop)
}

/// `INSERT` of a drop spot, inside the caller's write.
pub(crate) async fn insert_drop_spot_in(ex: &mut impl Exec, spot: &DropSpot) -> StoreResult<()> {
    let sql = concat!("INSERT INTO drop_spots (", columns!(drop_spot), ") VALUES ($1, $2, $3, $4, $5, $6)");
    let values = values! {
        spot.id, spot.property_id, &spot.name, spot.kind.as_str(), spot.access_point_id, spot.unit_id
    };
    ex.execute(sql, &values).await.map(drop)
}

/// One insert in its own write transaction, with its events.
macro_rules! insert_logged {
    ($store:expr, $insert:ident($value:expr), $events:expr) => {{
        let mut tx = $store.begin_write().await?;
        $insert(&mut *tx, $value).await?;
        crate::audit::append_in(&mut *tx, $events).await?;
        tx.commit().await
    }};
}

#[async_trait]
impl<B: Backend> PropertyStore for B {
    async fn insert_property(&self, p: &Property, events: &[Event]) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO properties (",
            columns!(property),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let notice = p.tenant_notice.as_ref();
        let values = values! {
            p.id, p.manager_id, p.kind.as_str(), &p.name, &p.address, p.location.lat, p.location.lon, &p.time_zone,
            notice.map(|n| n.text.as_str()), notice.map(|n| n.notified_at), notice.map(|n| n.live_from),
            p.created_at
        };
        self.write_one(sql, &values, events).await.map(drop)
    }

    async fn get_property(&self, id: PropertyId) -> StoreResult<Option<Property>> {
        self.one(GET_PROPERTY, &[id.into()]).await
    }

    async fn list_properties(&self, manager: ManagerId) -> StoreResult<Vec<Property>> {
        let sql = select!(property, " FROM properties WHERE manager_id = $1 ORDER BY created_at, id");
        self.all(sql, &[manager.into()]).await
    }

    async fn set_tenant_notice(&self, property: PropertyId, n: &TenantNotice, events: &[Event]) -> StoreResult<()> {
        let sql =
            "UPDATE properties SET notice_text = $2, notice_notified_at = $3, notice_live_from = $4 WHERE id = $1";
        let values = [property.into(), (&n.text).into(), n.notified_at.into(), n.live_from.into()];
        self.write_existing(sql, &values, events).await
    }

    async fn insert_unit(&self, unit: &Unit, events: &[Event]) -> StoreResult<()> {
        let sql = concat!("INSERT INTO units (", columns!(unit), ") VALUES ($1, $2, $3)");
        self.write_one(sql, &[unit.id.into(), unit.property_id.into(), (&unit.label).into()], events).await.map(drop)
    }

    async fn get_unit(&self, id: UnitId) -> StoreResult<Option<Unit>> {
        self.one(select!(unit, " FROM units WHERE id = $1 AND removed_at IS NULL"), &[id.into()]).await
    }

    async fn list_units(&self, property: PropertyId) -> StoreResult<Vec<Unit>> {
        self.all(
            select!(unit, " FROM units WHERE property_id = $1 AND removed_at IS NULL ORDER BY label, id"),
            &[property.into()],
        )
        .await
    }

    async fn insert_access_point(&self, ap: &AccessPoint, events: &[Event]) -> StoreResult<()> {
        insert_logged!(self, insert_access_point_in(ap), events)
    }

    async fn get_access_point(&self, id: AccessPointId) -> StoreResult<Option<AccessPoint>> {
        self.one(select!(access_point, " FROM access_points WHERE id = $1 AND removed_at IS NULL"), &[id.into()]).await
    }

    async fn list_access_points(&self, property: PropertyId) -> StoreResult<Vec<AccessPoint>> {
        self.all(LIST_ACCESS_POINTS, &[property.into()]).await
    }

    async fn insert_lock(&self, lock: &Lock, events: &[Event]) -> StoreResult<()> {
        insert_logged!(self, insert_lock_in(lock), events)
    }

    async fn get_lock(&self, id: LockId) -> StoreResult<Option<Lock>> {
        self.one(select!(lock, " FROM locks WHERE id = $1"), &[id.into()]).await
    }

    async fn list_locks(&self, property: PropertyId) -> StoreResult<Vec<Lock>> {
        self.all(LIST_LOCKS, &[property.into()]).await
    }

    async fn next_lock_sequence(&self, lock: LockId) -> StoreResult<i64> {
        if let Some(direct) = self.direct() {
            return direct.next_lock_sequence(lock).await;
        }
        let mut tx = self.begin_write().await?;
        let next = next_lock_sequence_in(&mut *tx, lock).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(next)
    }

    async fn insert_drop_spot(&self, spot: &DropSpot, events: &[Event]) -> StoreResult<()> {
        insert_logged!(self, insert_drop_spot_in(spot), events)
    }

    async fn get_drop_spot(&self, id: DropSpotId) -> StoreResult<Option<DropSpot>> {
        self.one(select!(drop_spot, " FROM drop_spots WHERE id = $1 AND removed_at IS NULL"), &[id.into()]).await
    }

    async fn list_drop_spots(&self, property: PropertyId) -> StoreResult<Vec<DropSpot>> {
        self.all(LIST_DROP_SPOTS, &[property.into()]).await
    }

    async fn put_enablement(&self, e: &CarrierEnablement, events: &[Event]) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO enablements (",
            columns!(enablement),
            ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (property_id, carrier_id) DO UPDATE SET \
             enabled = excluded.enabled, hours = excluded.hours, \
             allowed_drop_spots = excluded.allowed_drop_spots, updated_at = excluded.updated_at"
        );
        let hours = to_json(&e.hours, "carrier hours")?;
        let spots = to_json(&e.allowed_drop_spots, "allowed drop spots")?;
        let values = values! { e.property_id, e.carrier_id, e.enabled, hours, spots, e.updated_at };
        self.write_one(sql, &values, events).await.map(drop)
    }

    async fn get_enablement(&self, property: PropertyId, carrier: CarrierId) -> StoreResult<Option<CarrierEnablement>> {
        self.one(GET_ENABLEMENT, &[property.into(), carrier.into()]).await
    }

    async fn list_enablements(&self, property: PropertyId) -> StoreResult<Vec<CarrierEnablement>> {
        let sql = select!(enablement, " FROM enablements WHERE property_id = $1 ORDER BY updated_at, carrier_id");
        self.all(sql, &[property.into()]).await
    }
}
