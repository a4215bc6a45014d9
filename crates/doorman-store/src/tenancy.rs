//! Life over time between a property and its people: a resident moving out,
//! a carrier's enablement withdrawn, a property handed to another manager,
//! and the properties that enabled a carrier.
//!
//! Each change is one transaction with its events: a carrier disabled has
//! its live grants at the property revoked in the same transaction (the
//! caller pushes the revocations to the locks afterwards, as a block does);
//! a resident moved out has their tokens and dashboard sessions deleted
//! with the mark.

use async_trait::async_trait;
use doorman_domain::{
    CarrierEnablement, CarrierId, Event, Grant, ManagerId, Principal, Property, PropertyId, Resident, ResidentId,
    UnixSeconds,
};

use crate::audit::append_in;
use crate::delivery::RevocationEvents;
use crate::exec::{values, Exec};
use crate::records::{columns, select, to_json};
use crate::sqlx_exec::Backend;
use crate::{StoreError, StoreResult};

/// Tenancy changes; every [`Store`](crate::Store) is one.
#[async_trait]
pub trait TenancyStore: Send + Sync {
    /// In one transaction: marks the resident moved out at `now`, deletes
    /// every API token whose principal is this resident, the dashboard
    /// sessions acting as those tokens, the passkeys held through them and
    /// their unredeemed re-invitations, and writes `events`. Returns the
    /// resident as it now is; None (nothing written) if there is no such
    /// resident or they already moved out.
    async fn move_out_resident(
        &self,
        resident: ResidentId,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<Resident>>;

    /// In one transaction: withdraws the carrier's enablement at the
    /// property (deleted when `replacement` is None, otherwise replaced by
    /// it, as [`PropertyStore::put_enablement`](crate::PropertyStore::put_enablement)
    /// would), marks revoked every grant of that carrier at that property
    /// that is unrevoked and unexpired at `now`, and writes `events` and the
    /// events `revoked` makes of each revoked grant. Returns the revoked
    /// grants (oldest first); None, nothing written, if there was no
    /// enablement to delete.
    async fn withdraw_enablement(
        &self,
        property: PropertyId,
        carrier: CarrierId,
        replacement: Option<&CarrierEnablement>,
        now: UnixSeconds,
        events: &[Event],
        revoked: &RevocationEvents,
    ) -> StoreResult<Option<Vec<Grant>>>;

    /// In one transaction: gives the property managed by `from` to manager
    /// `to`, with `events`. None (nothing written) if `from` does not manage
    /// it; Conflict (nothing written) if manager `to` does not exist.
    async fn hand_over_property(
        &self,
        property: PropertyId,
        from: ManagerId,
        to: ManagerId,
        events: &[Event],
    ) -> StoreResult<Option<Property>>;

    /// The carrier's enablements that are enabled, at every property, oldest
    /// update first.
    async fn carrier_enablements(&self, carrier: CarrierId) -> StoreResult<Vec<CarrierEnablement>>;
}

/// $1 property, $2 carrier, $3 now: the carrier's live grants there, revoked.
const REVOKE_CARRIER_GRANTS: &str = concat!(
    "UPDATE grants SET revoked_at = $3 \
     WHERE property_id = $1 AND carrier_id = $2 AND revoked_at IS NULL AND expires_at > $3 RETURNING ",
    columns!(grant)
);

#[async_trait]
impl<B: Backend> TenancyStore for B {
    async fn move_out_resident(
        &self,
        resident: ResidentId,
        now: UnixSeconds,
        events: &[Event],
    ) -> StoreResult<Option<Resident>> {
        let mut tx = self.begin_write().await?;
        let sql = concat!(
            "UPDATE residents SET moved_out_at = $2 WHERE id = $1 AND moved_out_at IS NULL RETURNING ",
            columns!(resident)
        );
        let Some(moved) = tx.fetch_optional::<Resident>(sql, &[resident.into(), now.into()]).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        // The principal is stored as JSON: the resident's id narrows the
        // read, the decoded principal decides.
        let pattern = format!("%{}%", resident.as_uuid());
        let tokens: Vec<(String, Principal)> =
            tx.fetch_all("SELECT id, principal FROM tokens WHERE principal LIKE $1", &[pattern.into()]).await?;
        for (id, principal) in tokens {
            if matches!(principal, Principal::Resident { resident_id, .. } if resident_id == resident) {
                let sql = "DELETE FROM web_sessions WHERE token_hash IN (SELECT hash FROM tokens WHERE id = $1)";
                tx.execute(sql, &[id.as_str().into()]).await?;
                // A passkey is held through a token: it goes with it.
                tx.execute("DELETE FROM passkeys WHERE token_id = $1", &[id.as_str().into()]).await?;
                tx.execute("DELETE FROM tokens WHERE id = $1", &[id.as_str().into()]).await?;
            }
        }
        // A re-invitation for someone who left brings nobody back.
        let sql = "DELETE FROM invitations WHERE resident_id = $1 AND redeemed_at IS NULL";
        tx.execute(sql, &[resident.into()]).await?;
        append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(Some(moved))
    }

    async fn withdraw_enablement(
        &self,
        property: PropertyId,
        carrier: CarrierId,
        replacement: Option<&CarrierEnablement>,
        now: UnixSeconds,
        events: &[Event],
        revoked: &RevocationEvents,
    ) -> StoreResult<Option<Vec<Grant>>> {
        let mut tx = self.begin_write().await?;
        match replacement {
            Some(e) => {
                let sql = concat!(
                    "INSERT INTO enablements (",
                    columns!(enablement),
                    ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (property_id, carrier_id) DO UPDATE SET \
                     enabled = excluded.enabled, hours = excluded.hours, \
                     allowed_drop_spots = excluded.allowed_drop_spots, updated_at = excluded.updated_at"
                );
                let hours = to_json(&e.hours, "carrier hours")?;
                let spots = to_json(&e.allowed_drop_spots, "allowed drop spots")?;
                let values = values! { property, carrier, e.enabled, hours, spots, e.updated_at };
                tx.execute(sql, &values).await?;
            }
            None => {
                let sql = "DELETE FROM enablements WHERE property_id = $1 AND carrier_id = $2";
                if tx.execute(sql, &[property.into(), carrier.into()]).await? == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
            }
        }
        let mut grants: Vec<Grant> =
            tx.fetch_all(REVOKE_CARRIER_GRANTS, &[property.into(), carrier.into(), now.into()]).await?;
        grants.sort_by_key(|g| (g.issued_at, g.id));
        let mut all = events.to_vec();
        for grant in &grants {
            all.extend(revoked(grant).map_err(StoreError::Backend)?);
        }
        append_in(&mut *tx, &all).await?;
        tx.commit().await?;
        Ok(Some(grants))
    }

    async fn hand_over_property(
        &self,
        property: PropertyId,
        from: ManagerId,
        to: ManagerId,
        events: &[Event],
    ) -> StoreResult<Option<Property>> {
        let mut tx = self.begin_write().await?;
        if tx.fetch_optional::<()>("SELECT id FROM managers WHERE id = $1", &[to.into()]).await?.is_none() {
            tx.rollback().await?;
            return Err(StoreError::Conflict("no such manager".into()));
        }
        let sql = concat!(
            "UPDATE properties SET manager_id = $3 WHERE id = $1 AND manager_id = $2 RETURNING ",
            columns!(property)
        );
        let Some(handed) = tx.fetch_optional::<Property>(sql, &[property.into(), from.into(), to.into()]).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        append_in(&mut *tx, events).await?;
        tx.commit().await?;
        Ok(Some(handed))
    }

    async fn carrier_enablements(&self, carrier: CarrierId) -> StoreResult<Vec<CarrierEnablement>> {
        let sql = select!(
            enablement,
            " FROM enablements WHERE carrier_id = $1 AND enabled = $2 ORDER BY updated_at, property_id"
        );
        self.all(sql, &[carrier.into(), true.into()]).await
    }
}
