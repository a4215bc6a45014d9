//! What a lock is told at installation: its identity and its policies.

use doorman_protocol::{DoorCodePolicy, DoorCodeSecret, KeypadPolicy, LockDeviceKey, LockId, VerifyConfig};

/// Who the lock is: its id, its device key and, for a keypad, its door-code secret.
#[derive(Debug)]
pub struct LockIdentity {
    /// The lock's id (the service's UUID bytes).
    pub lock_id: LockId,
    /// Signs challenges and events.
    pub device: LockDeviceKey,
    /// Present when the lock has a keypad.
    pub door_code_secret: Option<DoorCodeSecret>,
}

/// The camera rule: the lesson of the 2017 jamming attack on a delivery camera, where a
/// camera knocked off Wi-Fi let a courier be recorded as gone while inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraPolicy {
    /// Refuse non-resident entries by credential or door code while the camera's
    /// heartbeat is stale. Remote unlocks (a resident's explicit decision) and the
    /// inside release are never refused for this.
    pub refuse_entry_when_stale: bool,
    /// A heartbeat older than this is stale.
    pub max_heartbeat_age_secs: u64,
}

impl Default for CameraPolicy {
    /// Refuse when the camera has been quiet for more than 90 seconds.
    fn default() -> Self {
        Self { refuse_entry_when_stale: true, max_heartbeat_age_secs: 90 }
    }
}

/// The lock's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockConfig {
    /// Tolerances of the credential verifier.
    pub verify: VerifyConfig,
    /// How door codes are formed.
    pub door_codes: DoorCodePolicy,
    /// How the keypad answers wrong codes (growing lockout).
    pub keypad: KeypadPolicy,
    /// After an unlock, throw the bolt again if nobody opened the door within this time.
    pub relock_after_secs: u64,
    /// Raise the door-ajar alarm when the door stays open longer than this.
    pub ajar_alarm_after_secs: u64,
    /// The camera rule.
    pub camera: CameraPolicy,
    /// How long the lock waits for the answer to a time request.
    pub time_request_ttl_secs: u64,
    /// A signed time statement further than this from the lock's clock is recorded as a
    /// `ClockAdjusted` event (smaller corrections are silent).
    pub clock_adjust_report_secs: u64,
}

impl Default for LockConfig {
    /// The protocol's defaults, 10 s relock, 60 s ajar alarm, the default camera rule,
    /// 60 s for a time answer, 2 s drift reported.
    fn default() -> Self {
        Self {
            verify: VerifyConfig::default(),
            door_codes: DoorCodePolicy::default(),
            keypad: KeypadPolicy::default(),
            relock_after_secs: 10,
            ajar_alarm_after_secs: 60,
            camera: CameraPolicy::default(),
            time_request_ttl_secs: 60,
            clock_adjust_report_secs: 2,
        }
    }
}
