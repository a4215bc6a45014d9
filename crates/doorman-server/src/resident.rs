//! What a resident does: join their unit with an invitation, say where
//! parcels go, block and unblock delivery access, and watch their unit.

use doorman_api::{BlockResult, CreateBlock, Created, RedeemInvitation, UnblockResult};
use doorman_domain::{
    AccessRequestRecord, Block, Delivery, EventKind, Invitation, Principal, Resident, ResidentId, TokenId, UnitId,
    UnitPreferences,
};
use doorman_store::{AccessRequestFilter, DeliveryFilter, StoreError};

use crate::audit::Scope;
use crate::{auth, Service, ServiceError, ServiceResult};

impl Service {
    /// Exchanges a one-time invitation code for a resident account and token.
    /// A re-invitation's code brings back the resident it names (same
    /// account, a new token), logged.
    pub async fn redeem_invitation(&self, req: RedeemInvitation) -> ServiceResult<Created<Resident>> {
        let code = req.code.trim();
        if code.is_empty() || code.len() > 200 {
            return Err(ServiceError::invalid("code must be the invitation code you were given"));
        }
        let (token, token_hash) = auth::fresh_token()?;
        let code_hash = auth::hash_secret(code);
        let unknown = || ServiceError::NotFound("invitation (unknown, expired or already used)");
        if let Some(Invitation { id, unit_id, resident_id: Some(resident_id), .. }) =
            self.store.invitation_by_code(&code_hash).await?
        {
            let property = self.store.get_unit(unit_id).await?.ok_or_else(unknown)?.property_id;
            let scope = Scope { property: Some(property), unit: Some(unit_id), ..Scope::default() };
            let principal = Principal::Resident { resident_id, unit_id };
            let kind = EventKind::ReinvitationRedeemed { resident_id, invitation_id: id };
            let event = self.event(kind, scope, &principal)?;
            let resident = self
                .store
                .redeem_reinvitation(&code_hash, TokenId::random(), &token_hash, self.now(), &[event])
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => unknown(),
                    other => other.into(),
                })?;
            self.events_appended();
            return Ok(Created { item: resident, token });
        }
        let resident = self
            .store
            .redeem_invitation(&code_hash, ResidentId::random(), TokenId::random(), &token_hash, self.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::NotFound("invitation (unknown, expired or already used)"),
                other => other.into(),
            })?;
        Ok(Created { item: resident, token })
    }

    pub async fn get_preferences(&self, p: &Principal, unit: UnitId) -> ServiceResult<UnitPreferences> {
        self.visible_unit(p, unit).await?;
        Ok(self.store.get_preferences(unit).await?)
    }

    pub async fn put_preferences(
        &self,
        p: &Principal,
        unit: UnitId,
        prefs: UnitPreferences,
    ) -> ServiceResult<UnitPreferences> {
        self.unit_resident(p, unit).await?;
        let u = self.store.get_unit(unit).await?.ok_or(ServiceError::NotFound("unit"))?;
        if let Some(spot) = prefs.preferred_drop_spot {
            match self.store.get_drop_spot(spot).await? {
                Some(s) if crate::views::spot_serves_unit(&s, &u) => {}
                _ => return Err(ServiceError::invalid("preferred_drop_spot: not a drop spot this unit can use")),
            }
        }
        for (field, value) in [("alternate_address", &prefs.alternate_address), ("pickup_point", &prefs.pickup_point)] {
            if let Some(v) = value {
                crate::text_field(field, v, 500)?;
            }
        }
        self.check_choices(&prefs).await?;
        self.store.put_preferences(unit, &prefs).await?;
        Ok(prefs)
    }

    /// Blocks delivery access to the unit now (until `until`, or until
    /// unblocked) and revokes every outstanding credential of its deliveries.
    pub async fn block(&self, p: &Principal, unit: UnitId, req: CreateBlock) -> ServiceResult<BlockResult> {
        let resident = self.unit_resident(p, unit).await?;
        let now = self.now();
        if req.until.is_some_and(|u| u <= now) {
            return Err(ServiceError::invalid("until must be in the future"));
        }
        let reason = match &req.reason {
            Some(r) => Some(crate::text_field("reason", r, 500)?),
            None => None,
        };
        let block = Block { unit_id: unit, blocked_by: resident, from: now, until: req.until, reason };
        let property = self.store.get_unit(unit).await?.ok_or(ServiceError::NotFound("unit"))?.property_id;
        let scope = Scope { property: Some(property), unit: Some(unit), ..Scope::default() };
        let blocked = self.event(EventKind::Blocked { until: req.until }, scope, p)?;
        // The carriers of the unit's open deliveries are told where to go.
        let (diverted, mut events) = self.diversions(p, unit).await?;
        events.insert(0, blocked);
        self.store.insert_block(&block, &events).await?;
        self.events_appended();
        let revocation = crate::audit::grant_revocation(now, *p);
        let revoked = self.store.revoke_live_grants_for_unit(unit, now, &revocation).await?;
        // Online locks refuse the revoked credentials from now on.
        self.revoke_at_locks(&revoked).await;
        self.events_appended();
        Ok(BlockResult {
            block,
            revoked_grants: revoked.into_iter().map(|g| g.id).collect(),
            diverted_deliveries: diverted.into_iter().map(|d| d.id).collect(),
        })
    }

    pub async fn unblock(&self, p: &Principal, unit: UnitId) -> ServiceResult<UnblockResult> {
        self.unit_resident(p, unit).await?;
        let property = self.store.get_unit(unit).await?.ok_or(ServiceError::NotFound("unit"))?.property_id;
        let scope = Scope { property: Some(property), unit: Some(unit), ..Scope::default() };
        let unblocked = self.event(EventKind::Unblocked, scope, p)?;
        let ended_blocks = self.store.end_blocks(unit, self.now(), &[unblocked]).await?;
        self.events_appended();
        Ok(UnblockResult { ended_blocks })
    }

    pub async fn unit_deliveries(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<Delivery>> {
        self.visible_unit(p, unit).await?;
        let filter = DeliveryFilter { unit_id: Some(unit), ..Default::default() };
        let since = self.history_since(p).await?;
        Ok(crate::tenancy::since_move_in(self.store.list_deliveries(&filter).await?, since, |d| d.created_at))
    }

    pub async fn unit_access_requests(&self, p: &Principal, unit: UnitId) -> ServiceResult<Vec<AccessRequestRecord>> {
        self.visible_unit(p, unit).await?;
        let filter = AccessRequestFilter { unit_id: Some(unit), ..Default::default() };
        let since = self.history_since(p).await?;
        Ok(crate::tenancy::since_move_in(self.store.list_access_requests(&filter).await?, since, |r| r.at))
    }
}
