//! The simulated locks' local endpoint: what NFC or BLE would be on a real lock, as
//! JSON lines over loopback TCP. One request per line, one reply per line.
//!
//! ```text
//! {"op":"hello"}                                   -> {"ok":true,"locks":[{"lock":"<uuid>","device_public_key":"<b64>","keypad":true}]}
//! {"op":"challenge","lock":"<uuid>"}               -> {"ok":true,"challenge":"<b64 COSE_Sign1>"}
//! {"op":"present","lock":..,"presentation":"<b64>"} -> {"ok":true,"decision":{"unlocked":true,"source":"handheld"}}
//! {"op":"door_code","lock":..,"code":"12345678"}   -> {"ok":true,"decision":{"unlocked":false,"reason":"wrong_code"}}
//! {"op":"door","lock":..,"open":true}              -> {"ok":true}            (the door sensor)
//! {"op":"inside","lock":..}                        -> {"ok":true}            (the exit button)
//! {"op":"camera","lock":..,"jammed":true}          -> {"ok":true}            (jam the camera's Wi-Fi)
//! {"op":"revocation","lock":..,"bundle":"<b64>"}   -> {"ok":true,"applied":true,"sequence":3}
//! {"op":"key_update","lock":..,"update":"<b64>"}   -> {"ok":true,"applied":false,"reason":"stale"}
//! {"op":"events","lock":..,"after":12}             -> {"ok":true,"events":["<b64>",..],"head":20,"acked":12}
//! {"op":"status","lock":..}                        -> {"ok":true,"status":{..health..}}
//! ```
//!
//! `lock` may be left out when the process runs one lock. Binary fields are unpadded
//! base64url. Errors: `{"ok":false,"error":"..."}`. There is deliberately no way to
//! acknowledge events here: anyone can walk up to a door, and an acknowledgement makes
//! the lock forget; acknowledgements come only from the service over the fleet channel.

use std::net::SocketAddr;
use std::sync::Arc;

use doorman_domain::serde_b64;
use doorman_fleet::{lock_name, parse_lock_name, LockHealth};
use doorman_lock::{Decision, LockRefusal};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::sim_lock::SimLock;
use crate::DeviceError;

/// Longest request line.
pub const MAX_LINE: usize = 16 * 1024;

/// A request to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum EndpointRequest {
    /// Which locks are here.
    Hello,
    /// A fresh challenge.
    Challenge {
        /// The lock (optional with one lock).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
    },
    /// A presentation answering the latest challenge.
    Present {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// The presentation.
        #[serde(with = "serde_b64")]
        presentation: Vec<u8>,
    },
    /// A code typed on the keypad.
    DoorCode {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// The digits.
        code: String,
    },
    /// The door sensor.
    Door {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// Open or closed.
        open: bool,
    },
    /// The inside release.
    Inside {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
    },
    /// Jam or free the camera.
    Camera {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// Jammed.
        jammed: bool,
    },
    /// A revocation bundle a handheld carries.
    Revocation {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// The bundle.
        #[serde(with = "serde_b64")]
        bundle: Vec<u8>,
    },
    /// A key update a handheld carries.
    KeyUpdate {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// The update.
        #[serde(with = "serde_b64")]
        update: Vec<u8>,
    },
    /// The signed events after a counter, for a handheld to carry to the service.
    Events {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
        /// Counter after which to start.
        #[serde(default)]
        after: u64,
    },
    /// The lock's health.
    Status {
        /// The lock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lock: Option<String>,
    },
}

/// A lock served by the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedLock {
    /// Its id.
    pub lock: String,
    /// Its device public key (base64url): a careful handheld already has it from the
    /// service and compares.
    pub device_public_key: String,
    /// Has a keypad.
    pub keypad: bool,
}

/// What a presentation or a code got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionJson {
    /// The bolt was released.
    pub unlocked: bool,
    /// How (when unlocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why not (when refused): a stable machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&Decision> for DecisionJson {
    fn from(d: &Decision) -> Self {
        match d {
            Decision::Unlocked(e) => Self { unlocked: true, source: Some(e.source.as_str().into()), reason: None },
            Decision::Refused(r) => Self { unlocked: false, source: None, reason: Some(r.as_str().into()) },
        }
    }
}

impl DecisionJson {
    /// The refusal reason, if refused.
    pub fn refused(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// The reply to a request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EndpointReply {
    /// The request was understood and carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `hello`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locks: Option<Vec<HostedLock>>,
    /// `challenge` (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// `present`, `door_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionJson>,
    /// `revocation`, `key_update`: taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<bool>,
    /// `revocation`, `key_update`: the sequence held now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// `revocation`, `key_update`: why not taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `events` (base64url signed events, oldest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// `events`: the lock's last event counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<u64>,
    /// `events`: the last counter the service acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<u64>,
    /// `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LockHealth>,
}

impl EndpointReply {
    fn ok() -> Self {
        Self { ok: true, ..Self::default() }
    }

    fn error(e: impl std::fmt::Display) -> Self {
        Self { ok: false, error: Some(e.to_string()), ..Self::default() }
    }
}

/// The endpoint of one process's simulated locks; dropping it stops serving.
#[derive(Debug)]
pub struct LockServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for LockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LockServer {
    /// Binds `listen` (use a loopback address) and serves `locks`.
    pub async fn start(listen: SocketAddr, locks: Vec<Arc<SimLock>>) -> Result<Self, DeviceError> {
        let listener = TcpListener::bind(listen).await.map_err(|e| DeviceError::Io(format!("bind {listen}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| DeviceError::Io(e.to_string()))?;
        let locks = Arc::new(locks);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                match listener.accept().await {
                    Ok((stream, _)) => {
                        connections.spawn(serve(stream, locks.clone()));
                    }
                    Err(e) => tracing::warn!(error = %e, "lock endpoint accept failed"),
                }
            }
        });
        Ok(Self { addr, task })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn serve(stream: TcpStream, locks: Arc<Vec<Arc<SimLock>>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let n = match (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let reply = if line.len() > MAX_LINE {
            EndpointReply::error("request too long")
        } else {
            match serde_json::from_slice::<EndpointRequest>(&line) {
                Ok(request) => handle(&locks, request),
                Err(e) => EndpointReply::error(format!("bad request: {e}")),
            }
        };
        let mut out = serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
        out.push(b'\n');
        if write.write_all(&out).await.is_err() || line.len() > MAX_LINE {
            return;
        }
    }
}

fn find<'a>(locks: &'a [Arc<SimLock>], lock: &Option<String>) -> Result<&'a Arc<SimLock>, DeviceError> {
    match lock {
        Some(name) => {
            let id = parse_lock_name(name).ok_or_else(|| DeviceError::Request("lock is not a lock id".into()))?;
            locks.iter().find(|l| l.lock_id() == id).ok_or_else(|| DeviceError::Request("no such lock here".into()))
        }
        None => match locks {
            [only] => Ok(only),
            _ => Err(DeviceError::Request("several locks here: name one".into())),
        },
    }
}

fn handle(locks: &[Arc<SimLock>], request: EndpointRequest) -> EndpointReply {
    match try_handle(locks, request) {
        Ok(reply) => reply,
        Err(e) => EndpointReply::error(e),
    }
}

fn decision(outcome: &doorman_lock::Outcome) -> EndpointReply {
    EndpointReply { decision: Some(DecisionJson::from(&outcome.decision)), ..EndpointReply::ok() }
}

fn try_handle(locks: &[Arc<SimLock>], request: EndpointRequest) -> Result<EndpointReply, DeviceError> {
    Ok(match request {
        EndpointRequest::Hello => EndpointReply {
            locks: Some(
                locks
                    .iter()
                    .map(|l| HostedLock {
                        lock: lock_name(l.lock_id()),
                        device_public_key: serde_b64::encode(&l.device_public_key().0),
                        keypad: l.keypad(),
                    })
                    .collect(),
            ),
            ..EndpointReply::ok()
        },
        EndpointRequest::Challenge { lock } => {
            let signed = find(locks, &lock)?.challenge()?;
            EndpointReply { challenge: Some(serde_b64::encode(signed.as_bytes())), ..EndpointReply::ok() }
        }
        EndpointRequest::Present { lock, presentation } => decision(&find(locks, &lock)?.present(&presentation)?),
        EndpointRequest::DoorCode { lock, code } => {
            let l = find(locks, &lock)?;
            let outcome = l.door_code(code.as_bytes())?;
            if outcome.decision.refusal() == Some(LockRefusal::NoKeypad) {
                return Err(DeviceError::Request("this lock has no keypad".into()));
            }
            decision(&outcome)
        }
        EndpointRequest::Door { lock, open } => {
            find(locks, &lock)?.door(open)?;
            EndpointReply::ok()
        }
        EndpointRequest::Inside { lock } => {
            find(locks, &lock)?.release_from_inside()?;
            EndpointReply::ok()
        }
        EndpointRequest::Camera { lock, jammed } => {
            find(locks, &lock)?.set_camera_jammed(jammed)?;
            EndpointReply::ok()
        }
        EndpointRequest::Revocation { lock, bundle } => match find(locks, &lock)?.apply_revocation_bundle(&bundle)? {
            Ok(a) => EndpointReply { applied: Some(true), sequence: Some(a.sequence), ..EndpointReply::ok() },
            Err(e) => EndpointReply { applied: Some(false), reason: Some(format!("{e:?}")), ..EndpointReply::ok() },
        },
        EndpointRequest::KeyUpdate { lock, update } => match find(locks, &lock)?.apply_key_update(&update)? {
            Ok(a) => EndpointReply { applied: Some(true), sequence: Some(a.sequence), ..EndpointReply::ok() },
            Err(e) => EndpointReply { applied: Some(false), reason: Some(format!("{e:?}")), ..EndpointReply::ok() },
        },
        EndpointRequest::Events { lock, after } => {
            let l = find(locks, &lock)?;
            let health = l.health()?;
            let events = l.events_after(after)?.into_iter().map(|(_, b)| serde_b64::encode(&b)).collect();
            EndpointReply {
                events: Some(events),
                head: Some(health.event_counter),
                acked: Some(health.acked_counter),
                ..EndpointReply::ok()
            }
        }
        EndpointRequest::Status { lock } => {
            EndpointReply { status: Some(find(locks, &lock)?.health_report()?), ..EndpointReply::ok() }
        }
    })
}
