//! Camera clips: the upload a lock or relay makes, and the reads of the
//! unit's residents and the property's managers.

use doorman_api::{ClipId, ClipView, ErrorBody, LockId, PropertyId, UnitId};
use reqwest::StatusCode;

use crate::{Client, ClientError, ClientResult};

/// A clip as served: its bytes and the headers that describe them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipBytes {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// `x-clip-sha256`: the hash in the `clip_ready` log entry.
    pub sha256: Option<String>,
    pub etag: Option<String>,
}

fn error(status: StatusCode, text: String) -> ClientError {
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ClientError::Api { status, body },
        Err(_) => ClientError::Unexpected { status, text },
    }
}

impl Client {
    /// Uploads the clip the lock announced with its event `counter` (no token needed).
    pub async fn upload_clip(
        &self,
        lock: LockId,
        counter: u64,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> ClientResult<ClipView> {
        let (status, text) = self
            .send_raw(
                reqwest::Method::PUT,
                &format!("/v1/locks/{lock}/clips/{counter}"),
                Some(reqwest::Body::from(bytes)),
                Some(content_type),
            )
            .await?;
        if status.is_success() {
            serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { status, text })
        } else {
            Err(error(status, text))
        }
    }

    /// A clip's bytes.
    pub async fn clip(&self, id: ClipId) -> ClientResult<ClipBytes> {
        let mut req = self.http.get(format!("{}/v1/clips/{id}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        let status = res.status();
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (content_type, sha256, etag) = (header("content-type"), header("x-clip-sha256"), header("etag"));
        if !status.is_success() {
            return Err(error(status, res.text().await?));
        }
        Ok(ClipBytes { bytes: res.bytes().await?.to_vec(), content_type, sha256, etag })
    }

    pub async fn clip_info(&self, id: ClipId) -> ClientResult<ClipView> {
        self.get(&format!("/v1/clips/{id}/info")).await
    }

    pub async fn unit_clips(&self, unit: UnitId) -> ClientResult<Vec<ClipView>> {
        self.get(&format!("/v1/units/{unit}/clips")).await
    }

    pub async fn property_clips(&self, property: PropertyId) -> ClientResult<Vec<ClipView>> {
        self.get(&format!("/v1/properties/{property}/clips")).await
    }
}
