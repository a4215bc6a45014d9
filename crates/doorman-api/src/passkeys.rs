//! Passkeys as their holder sees them, and a manager's re-invitation of a
//! resident who lost every device.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::PasskeyId;

/// One of a person's passkeys: what they called it, when it was added and
/// last used. The credential itself never leaves the service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PasskeyInfo {
    pub id: PasskeyId,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}
