//! A process of simulated locks: each lock's state file, the shared endpoint, a
//! hardware ticker per lock (camera heartbeat, relock, alarms), and an MQTT agent per
//! lock that has an account.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use doorman_domain::Clock;
use doorman_fleet::{MqttEndpoint, SessionOptions, TopicScheme};
use doorman_lock::LockConfig;
use doorman_protocol::LockId;
use tokio::task::JoinHandle;

use crate::agent::{spawn_agent, AgentOptions};
use crate::endpoint::LockServer;
use crate::handheld::LockEndpoint;
use crate::provisioning::LockBundle;
use crate::sim_lock::SimLock;
use crate::DeviceError;

/// How to run the locks.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The endpoint's address (loopback; port 0 for any).
    pub listen: SocketAddr,
    /// Where the locks' state files live.
    pub state_dir: PathBuf,
    /// The locks' policies.
    pub config: LockConfig,
    /// Hardware tick period.
    pub tick_every: Duration,
    /// Connect to the fleet channel (with each bundle's MQTT account).
    pub online: bool,
    /// Use this broker instead of the bundles' URL.
    pub mqtt_url: Option<String>,
    /// Topic scheme.
    pub scheme: TopicScheme,
    /// Health report period.
    pub health_every: Duration,
}

impl RunOptions {
    /// 127.0.0.1:0, default policies, a tick a second, online when a bundle has an account.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir,
            config: LockConfig::default(),
            tick_every: Duration::from_secs(1),
            online: true,
            mqtt_url: None,
            scheme: TopicScheme::default(),
            health_every: Duration::from_secs(30),
        }
    }
}

/// Running simulated locks; dropping this stops them (their state stays on disk).
#[derive(Debug)]
pub struct RunningLocks {
    locks: Vec<Arc<SimLock>>,
    server: LockServer,
    tasks: Vec<JoinHandle<()>>,
    agents: Vec<(LockId, JoinHandle<()>)>,
    options: RunOptions,
    bundles: Vec<LockBundle>,
}

impl Drop for RunningLocks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for (_, a) in &self.agents {
            a.abort();
        }
    }
}

impl RunningLocks {
    /// Opens (or provisions) every lock and starts serving.
    pub async fn start(
        bundles: &[LockBundle],
        options: RunOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DeviceError> {
        std::fs::create_dir_all(&options.state_dir)
            .map_err(|e| DeviceError::Io(format!("{}: {e}", options.state_dir.display())))?;
        let mut locks = Vec::new();
        for b in bundles {
            locks.push(SimLock::open(b, options.config, &options.state_dir, clock.clone())?);
        }
        let server = LockServer::start(options.listen, locks.clone()).await?;
        let mut tasks = Vec::new();
        for lock in &locks {
            let lock = lock.clone();
            let every = options.tick_every;
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    if let Err(e) = lock.tick() {
                        tracing::error!(lock = ?lock.lock_id(), error = %e, "lock tick failed");
                    }
                }
            }));
        }
        let mut running = Self { locks, server, tasks, agents: Vec::new(), options, bundles: bundles.to_vec() };
        if running.options.online {
            for i in 0..running.locks.len() {
                running.connect(i)?;
            }
        }
        Ok(running)
    }

    fn connect(&mut self, i: usize) -> Result<(), DeviceError> {
        let (Some(lock), Some(bundle)) = (self.locks.get(i), self.bundles.get(i)) else { return Ok(()) };
        let Some((url, credentials)) = bundle.mqtt_credentials() else { return Ok(()) };
        let url = self.options.mqtt_url.clone().unwrap_or(url);
        let (endpoint, _) = MqttEndpoint::parse(&url)?;
        let mut session = SessionOptions::new(endpoint, credentials);
        session.backoff_max = Duration::from_secs(5);
        let options = AgentOptions {
            session,
            scheme: self.options.scheme.clone(),
            health_every: self.options.health_every,
            time_every: Duration::from_secs(3600),
        };
        let id = lock.lock_id();
        self.agents.push((id, spawn_agent(lock.clone(), options)?));
        Ok(())
    }

    /// Cuts `lock` off the network (its agent stops; the lock works on).
    pub fn disconnect(&mut self, lock: LockId) {
        self.agents.retain(|(id, task)| {
            if *id == lock {
                task.abort();
                false
            } else {
                true
            }
        });
    }

    /// Puts `lock` back on the network.
    pub fn reconnect(&mut self, lock: LockId) -> Result<(), DeviceError> {
        self.disconnect(lock);
        match self.locks.iter().position(|l| l.lock_id() == lock) {
            Some(i) => self.connect(i),
            None => Err(DeviceError::Request("no such lock".into())),
        }
    }

    /// The endpoint's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A client for the endpoint.
    pub fn endpoint(&self) -> LockEndpoint {
        LockEndpoint::new(self.server.local_addr())
    }

    /// The locks.
    pub fn locks(&self) -> &[Arc<SimLock>] {
        &self.locks
    }

    /// One lock.
    pub fn lock(&self, id: LockId) -> Option<&Arc<SimLock>> {
        self.locks.iter().find(|l| l.lock_id() == id)
    }
}
