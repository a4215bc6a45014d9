//! The names behind the ids of log events, looked up in bulk: one query per
//! kind of thing for a whole page (or message) of events, not one per event.
//!
//! Removed units, doors and drop spots, decommissioned locks and revoked
//! passes are found too: the history that mentions them still needs their
//! names (a renamed door is shown by its name now). Nothing here decides who
//! may read a name: the service's naming read model does.

use std::collections::BTreeSet;

use async_trait::async_trait;
use doorman_domain::{
    AccessPoint, AccessPointId, Carrier, CarrierId, ClipId, DeliveryId, Driver, DriverId, DropSpot, DropSpotId,
    GuestPass, GuestPassId, Lock, LockId, Property, PropertyId, Unit, UnitId,
};

use crate::doors::ClipRecord;
use crate::exec::{Exec, Record, Value};
use crate::records::select;
use crate::sqlx_exec::Backend;
use crate::StoreResult;

/// Most ids bound in one statement (well under both databases' limits).
const IDS_PER_STATEMENT: usize = 500;

/// The ids whose records a page of events needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameQuery {
    pub carriers: BTreeSet<CarrierId>,
    pub drivers: BTreeSet<DriverId>,
    pub properties: BTreeSet<PropertyId>,
    pub units: BTreeSet<UnitId>,
    pub access_points: BTreeSet<AccessPointId>,
    /// Each lock's access point is looked up with the others.
    pub locks: BTreeSet<LockId>,
    pub drop_spots: BTreeSet<DropSpotId>,
    pub guest_passes: BTreeSet<GuestPassId>,
    pub clips: BTreeSet<ClipId>,
    /// The clips recorded during these deliveries' entries.
    pub delivery_clips: BTreeSet<DeliveryId>,
}

/// What [`NamingStore::names`] found; ids it did not find are missing.
/// The properties include those of every access point, unit and drop spot
/// found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameRows {
    pub carriers: Vec<Carrier>,
    pub drivers: Vec<Driver>,
    pub properties: Vec<Property>,
    pub units: Vec<Unit>,
    pub access_points: Vec<AccessPoint>,
    pub locks: Vec<Lock>,
    pub drop_spots: Vec<DropSpot>,
    pub guest_passes: Vec<GuestPass>,
    /// Announced, stored or deleted alike (the record says which).
    pub clips: Vec<ClipRecord>,
}

/// Bulk lookups for naming; every [`Store`](crate::Store) is one.
#[async_trait]
pub trait NamingStore: Send + Sync {
    /// The records of the ids in `wanted` that exist, removed ones included.
    async fn names(&self, wanted: &NameQuery) -> StoreResult<NameRows>;
}

/// The rows of `select` (which ends in `WHERE <column> IN `) for each of
/// `ids`, in statements of at most [`IDS_PER_STATEMENT`] ids.
async fn fetch_in<R, I>(ex: &mut impl Exec, select: &str, ids: impl IntoIterator<Item = I>) -> StoreResult<Vec<R>>
where
    R: Record + Send,
    I: for<'a> Into<Value<'a>>,
{
    let values: Vec<Value<'static>> = ids.into_iter().map(Into::into).collect();
    let mut out = Vec::new();
    for chunk in values.chunks(IDS_PER_STATEMENT) {
        let sql = format!("{select}({})", crate::audit::placeholders(1, chunk.len()));
        out.extend(ex.fetch_all::<R>(&sql, chunk).await?);
    }
    Ok(out)
}

#[async_trait]
impl<B: Backend> NamingStore for B {
    async fn names(&self, q: &NameQuery) -> StoreResult<NameRows> {
        let mut conn = self.read().await?;
        let ex = &mut *conn;
        let carriers = fetch_in(ex, select!(party, " FROM carriers WHERE id IN "), q.carriers.iter().copied()).await?;
        let drivers = fetch_in(ex, select!(driver, " FROM drivers WHERE id IN "), q.drivers.iter().copied()).await?;
        let locks: Vec<Lock> = fetch_in(ex, select!(lock, " FROM locks WHERE id IN "), q.locks.iter().copied()).await?;
        let mut access_point_ids = q.access_points.clone();
        access_point_ids.extend(locks.iter().map(|l| l.access_point_id));
        let access_points: Vec<AccessPoint> =
            fetch_in(ex, select!(access_point, " FROM access_points WHERE id IN "), access_point_ids).await?;
        let units: Vec<Unit> = fetch_in(ex, select!(unit, " FROM units WHERE id IN "), q.units.iter().copied()).await?;
        let drop_spots: Vec<DropSpot> =
            fetch_in(ex, select!(drop_spot, " FROM drop_spots WHERE id IN "), q.drop_spots.iter().copied()).await?;
        let guest_passes =
            fetch_in(ex, select!(guest_pass, " FROM guest_passes WHERE id IN "), q.guest_passes.iter().copied())
                .await?;
        let mut clips: Vec<ClipRecord> =
            fetch_in(ex, select!(clip, " FROM clips WHERE id IN "), q.clips.iter().copied()).await?;
        let of_deliveries: Vec<ClipRecord> =
            fetch_in(ex, select!(clip, " FROM clips WHERE delivery_id IN "), q.delivery_clips.iter().copied()).await?;
        for clip in of_deliveries {
            if !clips.iter().any(|c| c.clip.id == clip.clip.id) {
                clips.push(clip);
            }
        }
        let mut property_ids = q.properties.clone();
        property_ids.extend(access_points.iter().map(|a| a.property_id));
        property_ids.extend(units.iter().map(|u| u.property_id));
        property_ids.extend(drop_spots.iter().map(|s| s.property_id));
        let properties = fetch_in(ex, select!(property, " FROM properties WHERE id IN "), property_ids).await?;
        Ok(NameRows { carriers, drivers, properties, units, access_points, locks, drop_spots, guest_passes, clips })
    }
}
