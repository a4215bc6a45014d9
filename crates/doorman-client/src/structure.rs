//! Changing and removing what a manager made: the property, units, doors,
//! drop spots, and locks decommissioned or replaced.

use doorman_api::{
    AccessPoint, AccessPointId, DropSpot, DropSpotId, Lock, LockId, LockProvisioned, Property, PropertyId, ReplaceLock,
    Unit, UnitId, UpdateAccessPoint, UpdateDropSpot, UpdateProperty, UpdateUnit,
};
use reqwest::Method;

use crate::{Client, ClientError, ClientResult};

impl Client {
    pub async fn update_property(&self, property: PropertyId, req: &UpdateProperty) -> ClientResult<Property> {
        self.call(Method::PATCH, &format!("/v1/properties/{property}"), Some(req)).await
    }

    pub async fn update_unit(&self, property: PropertyId, unit: UnitId, req: &UpdateUnit) -> ClientResult<Unit> {
        self.call(Method::PATCH, &format!("/v1/properties/{property}/units/{unit}"), Some(req)).await
    }

    pub async fn remove_unit(&self, property: PropertyId, unit: UnitId) -> ClientResult<()> {
        self.delete_structure(&format!("/v1/properties/{property}/units/{unit}")).await
    }

    pub async fn update_access_point(
        &self,
        property: PropertyId,
        access_point: AccessPointId,
        req: &UpdateAccessPoint,
    ) -> ClientResult<AccessPoint> {
        self.call(Method::PATCH, &format!("/v1/properties/{property}/access-points/{access_point}"), Some(req)).await
    }

    pub async fn remove_access_point(&self, property: PropertyId, access_point: AccessPointId) -> ClientResult<()> {
        self.delete_structure(&format!("/v1/properties/{property}/access-points/{access_point}")).await
    }

    pub async fn update_drop_spot(
        &self,
        property: PropertyId,
        spot: DropSpotId,
        req: &UpdateDropSpot,
    ) -> ClientResult<DropSpot> {
        self.call(Method::PATCH, &format!("/v1/properties/{property}/drop-spots/{spot}"), Some(req)).await
    }

    pub async fn remove_drop_spot(&self, property: PropertyId, spot: DropSpotId) -> ClientResult<()> {
        self.delete_structure(&format!("/v1/properties/{property}/drop-spots/{spot}")).await
    }

    pub async fn decommission_lock(&self, property: PropertyId, lock: LockId) -> ClientResult<Lock> {
        self.call::<(), _>(Method::POST, &format!("/v1/properties/{property}/locks/{lock}/decommission"), None).await
    }

    pub async fn replace_lock(
        &self,
        property: PropertyId,
        lock: LockId,
        req: &ReplaceLock,
    ) -> ClientResult<LockProvisioned> {
        self.call(Method::POST, &format!("/v1/properties/{property}/locks/{lock}/replace"), Some(req)).await
    }

    /// A DELETE answered with 204 and no body.
    async fn delete_structure(&self, path: &str) -> ClientResult<()> {
        let (status, text) = self.send_raw(Method::DELETE, path, None, None).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(match serde_json::from_str::<doorman_api::ErrorBody>(&text) {
            Ok(body) => ClientError::Api { status, body },
            Err(_) => ClientError::Unexpected { status, text },
        })
    }
}
