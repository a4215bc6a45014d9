//! What travels on each topic.
//!
//! Protocol messages travel verbatim, one per MQTT message: a signed event on
//! `events`, a revocation bundle on `commands/revocation`, a key update on
//! `commands/keys`, a signed time statement on `commands/time`. Everything else is a
//! small JSON object whose binary fields are unpadded base64url: health, requests,
//! acknowledgements, remote-unlock requests and presentations, resend requests. Every
//! message is published with QoS 1; revocation bundles, key updates and
//! acknowledgements are retained (a lock that connects later gets the latest), the
//! rest are not (a remote unlock must never fire late).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use doorman_protocol::challenge::{MAX_PRESENTATION_LEN, MAX_SIGNED_CHALLENGE_LEN};
use doorman_protocol::credential::MAX_CREDENTIAL_LEN;
use doorman_protocol::events::MAX_EVENT_LEN;
use doorman_protocol::revocation::MAX_REVOCATION_BUNDLE_LEN;
use doorman_protocol::trust::MAX_KEY_UPDATE_LEN;
use doorman_protocol::{LockId, Nonce};
use serde::{Deserialize, Serialize};

use crate::topics::{DownlinkKind, TopicScheme, UplinkKind};
use crate::FleetError;

/// Longest JSON message accepted.
pub const MAX_JSON_LEN: usize = 4096;

/// A lock's health report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LockHealth {
    /// The lock's time (unix seconds).
    pub lock_time: u64,
    /// The lowest time the lock believes.
    pub time_floor: u64,
    /// The lock has no trustworthy clock.
    pub clock_lost: bool,
    /// Service time minus lock time at the last signed time statement.
    #[serde(default)]
    pub clock_drift_secs: Option<i64>,
    /// Battery charge, if battery powered.
    #[serde(default)]
    pub battery_percent: Option<u8>,
    /// Revocation bundle held.
    pub revocation_sequence: u64,
    /// Revocation epoch held.
    pub revocation_epoch: u64,
    /// Key update held.
    pub key_update_sequence: u64,
    /// Last event recorded.
    pub event_counter: u64,
    /// Last event the service acknowledged.
    pub acked_counter: u64,
    /// Events waiting for an acknowledgement.
    pub unacked_events: u32,
    /// Refusals counted but not recorded one by one (ring half full).
    pub suppressed_events: u32,
    /// Events lost to a full ring.
    pub dropped_events: u32,
    /// Seconds since the camera's last heartbeat (`None`: none since start).
    #[serde(default)]
    pub camera_heartbeat_age_secs: Option<u64>,
    /// The camera rule would refuse entries now.
    pub camera_stale: bool,
    /// The keypad refuses input before this time (0: not locked out).
    pub keypad_locked_until: u64,
    /// `locked` or `released`.
    pub bolt: String,
    /// `closed` or `open`.
    pub door: String,
    /// Firmware version.
    #[serde(default)]
    pub firmware: Option<String>,
}

/// A lock asks the service for something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockRequest {
    /// A signed time statement answering this nonce.
    Time {
        /// Fresh random bytes from the lock.
        nonce: Nonce,
    },
    /// The lock's signed challenge for the remote unlock `request_id`.
    Challenge {
        /// As in the service's [`Downlink::Unlock`].
        request_id: u64,
        /// The signed challenge (COSE_Sign1).
        challenge: Vec<u8>,
    },
}

/// Lock to service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uplink {
    /// One signed event, verbatim.
    Event(Vec<u8>),
    /// A health report.
    Health(LockHealth),
    /// A request.
    Request(LockRequest),
}

/// Service to lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Downlink {
    /// A signed revocation bundle, verbatim.
    RevocationBundle(Vec<u8>),
    /// A signed key update, verbatim.
    KeyUpdate(Vec<u8>),
    /// Every event up to `counter` is stored.
    Ack {
        /// The highest counter stored without a gap.
        counter: u64,
    },
    /// A signed time statement, verbatim.
    TimeStatement(Vec<u8>),
    /// A resident asks for a remote unlock.
    Unlock {
        /// Tells the answer apart.
        request_id: u64,
    },
    /// The presentation for a remote unlock.
    Present {
        /// As in the request.
        request_id: u64,
        /// The presentation (CBOR).
        presentation: Vec<u8>,
    },
    /// Send the events after `after` again.
    Resend {
        /// The service's last stored counter.
        after: u64,
    },
}

/// An MQTT message ready to publish (always QoS 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Where.
    pub topic: String,
    /// What.
    pub payload: Vec<u8>,
    /// Kept by the broker for later subscribers.
    pub retain: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RequestJson {
    Time { nonce: String },
    Challenge { request_id: u64, challenge: String },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckJson {
    counter: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockJson {
    request_id: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresentJson {
    request_id: u64,
    presentation: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendJson {
    after: u64,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str, max: usize) -> Result<Vec<u8>, FleetError> {
    if text.len() > max.saturating_mul(4) / 3 + 4 {
        return Err(FleetError::Malformed("binary field too long"));
    }
    URL_SAFE_NO_PAD.decode(text).map_err(|_| FleetError::Malformed("not base64url"))
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail; an empty payload would be refused
    // by the receiver rather than misread.
    serde_json::to_vec(value).unwrap_or_default()
}

fn from_json<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, FleetError> {
    if payload.len() > MAX_JSON_LEN {
        return Err(FleetError::Malformed("message too long"));
    }
    serde_json::from_slice(payload).map_err(|_| FleetError::Malformed("not the expected JSON"))
}

fn verbatim(payload: &[u8], max: usize) -> Result<Vec<u8>, FleetError> {
    if payload.is_empty() || payload.len() > max {
        return Err(FleetError::Malformed("bad length"));
    }
    Ok(payload.to_vec())
}

impl Uplink {
    /// The kind of topic it goes on.
    pub fn kind(&self) -> UplinkKind {
        match self {
            Uplink::Event(_) => UplinkKind::Events,
            Uplink::Health(_) => UplinkKind::Health,
            Uplink::Request(_) => UplinkKind::Requests,
        }
    }

    /// As an MQTT message from `lock`.
    pub fn encode(&self, scheme: &TopicScheme, lock: LockId) -> Message {
        let payload = match self {
            Uplink::Event(bytes) => bytes.clone(),
            Uplink::Health(h) => json(h),
            Uplink::Request(LockRequest::Time { nonce }) => json(&RequestJson::Time { nonce: b64(&nonce.0) }),
            Uplink::Request(LockRequest::Challenge { request_id, challenge }) => {
                json(&RequestJson::Challenge { request_id: *request_id, challenge: b64(challenge) })
            }
        };
        Message { topic: scheme.uplink(lock, self.kind()), payload, retain: matches!(self, Uplink::Health(_)) }
    }

    /// From a message received on a topic of `kind`.
    pub fn decode(kind: UplinkKind, payload: &[u8]) -> Result<Self, FleetError> {
        Ok(match kind {
            UplinkKind::Events => Uplink::Event(verbatim(payload, MAX_EVENT_LEN)?),
            UplinkKind::Health => Uplink::Health(from_json(payload)?),
            UplinkKind::Requests => Uplink::Request(match from_json::<RequestJson>(payload)? {
                RequestJson::Time { nonce } => {
                    let bytes = unb64(&nonce, 16)?;
                    let nonce = <[u8; 16]>::try_from(bytes).map_err(|_| FleetError::Malformed("nonce length"))?;
                    LockRequest::Time { nonce: Nonce(nonce) }
                }
                RequestJson::Challenge { request_id, challenge } => {
                    LockRequest::Challenge { request_id, challenge: unb64(&challenge, MAX_SIGNED_CHALLENGE_LEN)? }
                }
            }),
        })
    }
}

impl Downlink {
    /// The kind of topic it goes on.
    pub fn kind(&self) -> DownlinkKind {
        match self {
            Downlink::RevocationBundle(_) => DownlinkKind::Revocation,
            Downlink::KeyUpdate(_) => DownlinkKind::Keys,
            Downlink::Ack { .. } => DownlinkKind::Ack,
            Downlink::TimeStatement(_) => DownlinkKind::Time,
            Downlink::Unlock { .. } => DownlinkKind::Unlock,
            Downlink::Present { .. } => DownlinkKind::Present,
            Downlink::Resend { .. } => DownlinkKind::Resend,
        }
    }

    /// As an MQTT message to `lock`.
    pub fn encode(&self, scheme: &TopicScheme, lock: LockId) -> Message {
        let payload = match self {
            Downlink::RevocationBundle(b) | Downlink::KeyUpdate(b) | Downlink::TimeStatement(b) => b.clone(),
            Downlink::Ack { counter } => json(&AckJson { counter: *counter }),
            Downlink::Unlock { request_id } => json(&UnlockJson { request_id: *request_id }),
            Downlink::Present { request_id, presentation } => {
                json(&PresentJson { request_id: *request_id, presentation: b64(presentation) })
            }
            Downlink::Resend { after } => json(&ResendJson { after: *after }),
        };
        let kind = self.kind();
        Message { topic: scheme.downlink(lock, kind), payload, retain: kind.retained() }
    }

    /// From a message received on a topic of `kind`.
    pub fn decode(kind: DownlinkKind, payload: &[u8]) -> Result<Self, FleetError> {
        Ok(match kind {
            DownlinkKind::Revocation => Downlink::RevocationBundle(verbatim(payload, MAX_REVOCATION_BUNDLE_LEN)?),
            DownlinkKind::Keys => Downlink::KeyUpdate(verbatim(payload, MAX_KEY_UPDATE_LEN)?),
            DownlinkKind::Time => Downlink::TimeStatement(verbatim(payload, MAX_CREDENTIAL_LEN)?),
            DownlinkKind::Ack => Downlink::Ack { counter: from_json::<AckJson>(payload)?.counter },
            DownlinkKind::Unlock => Downlink::Unlock { request_id: from_json::<UnlockJson>(payload)?.request_id },
            DownlinkKind::Present => {
                let p = from_json::<PresentJson>(payload)?;
                Downlink::Present {
                    request_id: p.request_id,
                    presentation: unb64(&p.presentation, MAX_PRESENTATION_LEN)?,
                }
            }
            DownlinkKind::Resend => Downlink::Resend { after: from_json::<ResendJson>(payload)?.after },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips_through_its_topic() {
        let s = TopicScheme::default();
        let lock = LockId([7; 16]);
        let ups = vec![
            Uplink::Event(vec![0xd2, 1, 2, 3]),
            Uplink::Health(LockHealth {
                lock_time: 5,
                bolt: "locked".into(),
                door: "closed".into(),
                ..LockHealth::default()
            }),
            Uplink::Request(LockRequest::Time { nonce: Nonce([9; 16]) }),
            Uplink::Request(LockRequest::Challenge { request_id: 4, challenge: vec![1; 100] }),
        ];
        for u in ups {
            let m = u.encode(&s, lock);
            let Some((l, crate::topics::Channel::Up(kind))) = s.parse(&m.topic) else { panic!("{}", m.topic) };
            assert_eq!(l, lock);
            assert_eq!(Uplink::decode(kind, &m.payload).unwrap(), u);
        }
        let downs = vec![
            Downlink::RevocationBundle(vec![1; 300]),
            Downlink::KeyUpdate(vec![2; 30]),
            Downlink::Ack { counter: 42 },
            Downlink::TimeStatement(vec![3; 200]),
            Downlink::Unlock { request_id: 8 },
            Downlink::Present { request_id: 8, presentation: vec![4; 250] },
            Downlink::Resend { after: 17 },
        ];
        for d in downs {
            let m = d.encode(&s, lock);
            assert_eq!(m.retain, d.kind().retained());
            let Some((_, crate::topics::Channel::Down(kind))) = s.parse(&m.topic) else { panic!("{}", m.topic) };
            assert_eq!(Downlink::decode(kind, &m.payload).unwrap(), d);
        }
    }

    #[test]
    fn malformed_payloads_are_refused() {
        assert!(Uplink::decode(UplinkKind::Events, &[]).is_err());
        assert!(Uplink::decode(UplinkKind::Events, &[0; MAX_EVENT_LEN + 1]).is_err());
        assert!(Uplink::decode(UplinkKind::Requests, br#"{"type":"time","nonce":"AAAA"}"#).is_err());
        assert!(
            Uplink::decode(UplinkKind::Requests, br#"{"type":"time","nonce":"AAAAAAAAAAAAAAAAAAAAAA","x":1}"#).is_err()
        );
        assert!(Uplink::decode(UplinkKind::Health, b"[]").is_err());
        assert!(Downlink::decode(DownlinkKind::Ack, br#"{"counter":-1}"#).is_err());
        assert!(Downlink::decode(DownlinkKind::Present, br#"{"request_id":1,"presentation":"***"}"#).is_err());
        assert!(Downlink::decode(DownlinkKind::Revocation, &vec![0; MAX_REVOCATION_BUNDLE_LEN + 1]).is_err());
    }
}
