//! The provisioning bundle: everything a simulated lock needs to start, as one JSON
//! file (its identity, its trust anchors, its door-code secret, its MQTT account).
//! It holds secrets: written readable by its owner only.

use doorman_domain::serde_b64;
use doorman_fleet::{lock_name, parse_lock_name, MqttCredentials, Secret};
use doorman_lock::LockIdentity;
use doorman_protocol::{Algorithm, DoorCodeSecret, KeyId, KeyUsage, LockDeviceKey, LockId, PublicKey, TrustedKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::DeviceError;

/// One trust anchor, as the service's key set lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorJson {
    /// base64url key id (8 bytes).
    pub kid: String,
    /// `EdDSA` or `ES256`.
    pub alg: String,
    /// base64url public key.
    pub public_key: String,
    /// What it may sign: any of `credentials`, `revocation`, `key_update`; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Vec<String>>,
}

impl AnchorJson {
    /// From a protocol trust anchor.
    pub fn from_trusted(key: &TrustedKey) -> Self {
        let mut usage = Vec::new();
        for (bit, name) in [
            (KeyUsage::CREDENTIALS, "credentials"),
            (KeyUsage::REVOCATION, "revocation"),
            (KeyUsage::KEY_UPDATE, "key_update"),
        ] {
            if key.usage.contains(bit) {
                usage.push(name.to_owned());
            }
        }
        Self {
            kid: serde_b64::encode(&key.kid.0),
            alg: match key.key.algorithm() {
                Algorithm::EdDSA => "EdDSA".into(),
                Algorithm::ES256 => "ES256".into(),
            },
            public_key: serde_b64::encode(key.key.as_bytes()),
            usage: Some(usage),
        }
    }

    /// As a protocol trust anchor.
    pub fn to_trusted(&self) -> Result<TrustedKey, DeviceError> {
        let bad = |what: &str| DeviceError::Bundle(format!("trust anchor {}: {what}", self.kid));
        let kid: [u8; 8] =
            serde_b64::decode(&self.kid).map_err(|_| bad("kid"))?.try_into().map_err(|_| bad("kid is not 8 bytes"))?;
        let alg = match self.alg.as_str() {
            "EdDSA" => Algorithm::EdDSA,
            "ES256" => Algorithm::ES256,
            _ => return Err(bad("unknown alg")),
        };
        let bytes = serde_b64::decode(&self.public_key).map_err(|_| bad("public key"))?;
        let key = PublicKey::from_bytes(alg, &bytes).map_err(|_| bad("public key"))?;
        let usage = match &self.usage {
            None => KeyUsage::ALL,
            Some(names) => {
                let mut bits = 0u8;
                for n in names {
                    bits |= match n.as_str() {
                        "credentials" => KeyUsage::CREDENTIALS.bits(),
                        "revocation" => KeyUsage::REVOCATION.bits(),
                        "key_update" => KeyUsage::KEY_UPDATE.bits(),
                        _ => return Err(bad("unknown usage")),
                    };
                }
                KeyUsage::from_bits(bits).ok_or_else(|| bad("usage"))?
            }
        };
        Ok(TrustedKey { kid: KeyId(kid), key, usage })
    }
}

/// The lock's MQTT account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttJson {
    /// `mqtt://host:port`.
    pub url: String,
    /// The lock's id.
    pub username: String,
    /// Its secret.
    pub password: String,
}

/// A lock's provisioning bundle.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBundle {
    /// The lock's id (hyphenated UUID).
    pub lock_id: String,
    /// base64url Ed25519 device secret (32 bytes); generated on the lock, never sent to
    /// the service.
    pub device_secret: String,
    /// The keys it trusts.
    pub trust_anchors: Vec<AnchorJson>,
    /// base64url door-code secret, for a lock with a keypad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_code_secret: Option<String>,
    /// Its MQTT account, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttJson>,
}

impl std::fmt::Debug for LockBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockBundle").field("lock_id", &self.lock_id).finish_non_exhaustive()
    }
}

impl LockBundle {
    /// A bundle with a fresh device key.
    pub fn generate(
        lock: LockId,
        trusted: &[TrustedKey],
        door_code_secret: Option<&DoorCodeSecret>,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self {
            lock_id: lock_name(lock),
            device_secret: serde_b64::encode(&secret),
            trust_anchors: trusted.iter().map(AnchorJson::from_trusted).collect(),
            door_code_secret: door_code_secret.map(|s| serde_b64::encode(&s.to_bytes())),
            mqtt: None,
        }
    }

    /// Adds the MQTT account.
    pub fn with_mqtt(mut self, url: &str, credentials: &MqttCredentials) -> Self {
        self.mqtt = Some(MqttJson {
            url: url.to_owned(),
            username: credentials.username.clone(),
            password: credentials.password.expose().to_owned(),
        });
        self
    }

    /// The lock id.
    pub fn lock(&self) -> Result<LockId, DeviceError> {
        parse_lock_name(&self.lock_id).ok_or_else(|| DeviceError::Bundle("lock_id is not a lowercase UUID".into()))
    }

    fn secret32(text: &str, what: &str) -> Result<[u8; 32], DeviceError> {
        serde_b64::decode(text)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| DeviceError::Bundle(format!("{what} is not 32 bytes of base64url")))
    }

    /// The device public key (what the service registers).
    pub fn device_public_key(&self) -> Result<doorman_protocol::LockDevicePublicKey, DeviceError> {
        Ok(LockDeviceKey::from_secret(&Self::secret32(&self.device_secret, "device_secret")?).public_key())
    }

    /// The lock's identity.
    pub fn identity(&self) -> Result<LockIdentity, DeviceError> {
        let door_code_secret = match &self.door_code_secret {
            Some(s) => Some(DoorCodeSecret::from_bytes(Self::secret32(s, "door_code_secret")?)),
            None => None,
        };
        Ok(LockIdentity {
            lock_id: self.lock()?,
            device: LockDeviceKey::from_secret(&Self::secret32(&self.device_secret, "device_secret")?),
            door_code_secret,
        })
    }

    /// The trust anchors.
    pub fn trusted(&self) -> Result<Vec<TrustedKey>, DeviceError> {
        self.trust_anchors.iter().map(AnchorJson::to_trusted).collect()
    }

    /// The MQTT account, if any.
    pub fn mqtt_credentials(&self) -> Option<(String, MqttCredentials)> {
        self.mqtt.as_ref().map(|m| {
            (m.url.clone(), MqttCredentials { username: m.username.clone(), password: Secret::new(m.password.clone()) })
        })
    }

    /// Reads a bundle file.
    pub fn read(path: &std::path::Path) -> Result<Self, DeviceError> {
        let text = std::fs::read_to_string(path).map_err(|e| DeviceError::Io(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| DeviceError::Bundle(format!("{}: {e}", path.display())))
    }

    /// Writes it, readable by its owner only.
    pub fn write(&self, path: &std::path::Path) -> Result<(), DeviceError> {
        use std::io::Write as _;
        let text = serde_json::to_string_pretty(self).map_err(|e| DeviceError::Bundle(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| DeviceError::Io(format!("{}: {e}", path.display())))?;
        file.write_all(text.as_bytes()).map_err(|e| DeviceError::Io(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorman_protocol::IssuerSigningKey;

    #[test]
    fn a_bundle_round_trips_and_never_prints_its_secrets() {
        let issuer = IssuerSigningKey::from_ed25519_secret(&[1; 32]);
        let anchors = [issuer.trusted_key(KeyUsage::ISSUER), issuer.trusted_key(KeyUsage::ALL)];
        let door = DoorCodeSecret::from_bytes([4; 32]);
        let bundle = LockBundle::generate(LockId([9; 16]), &anchors[1..], Some(&door), &mut rand_core::OsRng);
        assert_eq!(bundle.lock().unwrap(), LockId([9; 16]));
        assert_eq!(bundle.trusted().unwrap(), vec![anchors[1]]);
        assert_eq!(AnchorJson::from_trusted(&anchors[0]).to_trusted().unwrap(), anchors[0]);
        let identity = bundle.identity().unwrap();
        assert_eq!(identity.door_code_secret, Some(door));
        assert!(!format!("{bundle:?}").contains(&bundle.device_secret));
        let dir = tempfile::tempdir().unwrap();
        bundle.write(&dir.path().join("b.json")).unwrap();
        assert_eq!(LockBundle::read(&dir.path().join("b.json")).unwrap(), bundle);
    }
}
