//! The driver's handheld: its key, and what it does at a door (fetch a challenge,
//! check the lock's signature, present the credential, type a code, walk through), and
//! what it carries for an offline lock (the latest revocation bundle in, the signed
//! events out).

use std::net::SocketAddr;

use doorman_domain::serde_b64;
use doorman_fleet::lock_name;
use doorman_protocol::{open_challenge, HandheldKey, LockDevicePublicKey, LockId};
use rand_core::CryptoRngCore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::endpoint::{DecisionJson, EndpointReply, EndpointRequest, HostedLock};
use crate::DeviceError;

/// A connection to a lock endpoint (a new TCP connection per request).
#[derive(Debug, Clone)]
pub struct LockEndpoint {
    addr: SocketAddr,
}

impl LockEndpoint {
    /// The endpoint at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    /// Sends one request, returns the reply (`Err` for `ok: false`).
    pub async fn call(&self, request: &EndpointRequest) -> Result<EndpointReply, DeviceError> {
        let io = |e: std::io::Error| DeviceError::Io(format!("lock endpoint {}: {e}", self.addr));
        let mut stream = TcpStream::connect(self.addr).await.map_err(io)?;
        let mut line = serde_json::to_vec(request).map_err(|e| DeviceError::Request(e.to_string()))?;
        line.push(b'\n');
        stream.write_all(&line).await.map_err(io)?;
        let mut reader = BufReader::new(stream);
        let mut reply = String::new();
        reader.read_line(&mut reply).await.map_err(io)?;
        let reply: EndpointReply =
            serde_json::from_str(&reply).map_err(|e| DeviceError::Request(format!("bad reply: {e}")))?;
        if !reply.ok {
            return Err(DeviceError::Refused(reply.error.unwrap_or_default()));
        }
        Ok(reply)
    }

    /// The locks served here.
    pub async fn hello(&self) -> Result<Vec<HostedLock>, DeviceError> {
        Ok(self.call(&EndpointRequest::Hello).await?.locks.unwrap_or_default())
    }

    /// A fresh signed challenge from `lock`.
    pub async fn challenge(&self, lock: LockId) -> Result<Vec<u8>, DeviceError> {
        let reply = self.call(&EndpointRequest::Challenge { lock: Some(lock_name(lock)) }).await?;
        let text = reply.challenge.ok_or_else(|| DeviceError::Request("no challenge in the reply".into()))?;
        serde_b64::decode(&text).map_err(|_| DeviceError::Request("challenge is not base64url".into()))
    }

    /// Sends a presentation.
    pub async fn present(&self, lock: LockId, presentation: &[u8]) -> Result<DecisionJson, DeviceError> {
        let request = EndpointRequest::Present { lock: Some(lock_name(lock)), presentation: presentation.to_vec() };
        self.call(&request).await?.decision.ok_or_else(|| DeviceError::Request("no decision".into()))
    }

    /// Types a code.
    pub async fn door_code(&self, lock: LockId, code: &str) -> Result<DecisionJson, DeviceError> {
        let request = EndpointRequest::DoorCode { lock: Some(lock_name(lock)), code: code.to_owned() };
        self.call(&request).await?.decision.ok_or_else(|| DeviceError::Request("no decision".into()))
    }

    /// Opens or closes the door (the door sensor reports it).
    pub async fn door(&self, lock: LockId, open: bool) -> Result<(), DeviceError> {
        self.call(&EndpointRequest::Door { lock: Some(lock_name(lock)), open }).await.map(|_| ())
    }

    /// Jams or frees the lock's camera.
    pub async fn camera(&self, lock: LockId, jammed: bool) -> Result<(), DeviceError> {
        self.call(&EndpointRequest::Camera { lock: Some(lock_name(lock)), jammed }).await.map(|_| ())
    }

    /// The lock's health.
    pub async fn status(&self, lock: LockId) -> Result<doorman_fleet::LockHealth, DeviceError> {
        let reply = self.call(&EndpointRequest::Status { lock: Some(lock_name(lock)) }).await?;
        reply.status.ok_or_else(|| DeviceError::Request("no status".into()))
    }

    /// Hands the lock a revocation bundle; `Ok(Some(sequence))` if it took it,
    /// `Ok(None)` if it already had it or a newer one, or refused it.
    pub async fn relay_revocation(&self, lock: LockId, bundle: &[u8]) -> Result<Option<u64>, DeviceError> {
        let request = EndpointRequest::Revocation { lock: Some(lock_name(lock)), bundle: bundle.to_vec() };
        let reply = self.call(&request).await?;
        Ok(if reply.applied == Some(true) { reply.sequence } else { None })
    }

    /// Hands the lock a key update; like [`Self::relay_revocation`].
    pub async fn relay_key_update(&self, lock: LockId, update: &[u8]) -> Result<Option<u64>, DeviceError> {
        let request = EndpointRequest::KeyUpdate { lock: Some(lock_name(lock)), update: update.to_vec() };
        let reply = self.call(&request).await?;
        Ok(if reply.applied == Some(true) { reply.sequence } else { None })
    }

    /// The lock's unacknowledged signed events after `after`, to carry to the service.
    pub async fn collect_events(&self, lock: LockId, after: u64) -> Result<Vec<Vec<u8>>, DeviceError> {
        let reply = self.call(&EndpointRequest::Events { lock: Some(lock_name(lock)), after }).await?;
        reply
            .events
            .unwrap_or_default()
            .iter()
            .map(|e| serde_b64::decode(e).map_err(|_| DeviceError::Request("event is not base64url".into())))
            .collect()
    }
}

/// A driver's handheld.
pub struct Handheld {
    key: HandheldKey,
}

impl std::fmt::Debug for Handheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handheld").field("public_key", &self.key.public_key()).finish()
    }
}

impl Handheld {
    /// A handheld with a fresh key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self { key: HandheldKey::generate(rng) }
    }

    /// From its 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, DeviceError> {
        Ok(Self {
            key: HandheldKey::from_secret(secret).map_err(|_| DeviceError::Request("bad handheld secret".into()))?,
        })
    }

    /// The key credentials are bound to.
    pub fn key(&self) -> &HandheldKey {
        &self.key
    }

    /// Its public key as the service's API wants it (SEC1, base64url).
    pub fn public_key_b64(&self) -> String {
        serde_b64::encode(self.key.public_key().as_sec1_bytes())
    }

    /// At the door: fetches a challenge, checks it is signed by `lock_key` for `lock`
    /// (a fake lock gets nothing), answers with `credential`, and returns the decision.
    pub async fn enter(
        &self,
        endpoint: &LockEndpoint,
        lock: LockId,
        lock_key: &LockDevicePublicKey,
        credential: &[u8],
    ) -> Result<DecisionJson, DeviceError> {
        let signed = endpoint.challenge(lock).await?;
        let opened = open_challenge(&signed, lock_key, &lock)
            .map_err(|e| DeviceError::Refused(format!("the lock's challenge does not check out: {e:?}")))?;
        let presentation = self
            .key
            .present(&opened, credential)
            .map_err(|e| DeviceError::Refused(format!("this credential cannot be presented here: {e:?}")))?;
        endpoint.present(lock, presentation.as_bytes()).await
    }

    /// [`Self::enter`], then, if let in, opens and closes the door (the driver walks in
    /// to the drop spot).
    pub async fn walk_through(
        &self,
        endpoint: &LockEndpoint,
        lock: LockId,
        lock_key: &LockDevicePublicKey,
        credential: &[u8],
    ) -> Result<DecisionJson, DeviceError> {
        let decision = self.enter(endpoint, lock, lock_key, credential).await?;
        if decision.unlocked {
            endpoint.door(lock, true).await?;
            endpoint.door(lock, false).await?;
        }
        Ok(decision)
    }
}
