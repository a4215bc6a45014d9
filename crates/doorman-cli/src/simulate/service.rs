//! The simulation's service in a process of its own: `doorman simulate`
//! starts `doorman simulate-service` (this binary, hidden subcommand) as a
//! child, so that the memory and CPU time it reports for the service are
//! the service's alone, measured from `/proc/<pid>`.
//!
//! The child runs the real boot code (HTTP API, embedded MQTT broker,
//! background sequencer, the database) on a simulated clock that only its
//! parent moves. The two talk over the child's standard input and output,
//! one line each way (nothing that the product's API offers: the pipe
//! exists only between a simulation and the service it started):
//!
//! - the child's first line: [`Hello`] as JSON (its URL, the operator's
//!   token, the log's key, the backend's name);
//! - `time <unix seconds>`: set the clock; answered `ok` once set, so
//!   every request the parent sends afterwards is served at that time;
//! - `sequence`: sign a checkpoint over everything written now; answered
//!   `size <entries>`;
//! - `stop` (or the end of its input): stop as `doorman serve` stops
//!   (finish requests in flight, sign a last checkpoint); answered `stopped`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use doorman_domain::{Clock, UnixSeconds};
use doorman_server::{KeyFile, ServiceConfig};
use serde::{Deserialize, Serialize};

use super::SimClock;
use crate::app;
use crate::config::{FleetBroker, FleetSettings};

/// What the child says once it serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub url: String,
    pub operator_token: String,
    pub log_key: String,
    pub backend: String,
}

/// The parent's handle on the child.
pub struct ServiceProcess {
    child: Mutex<Child>,
    io: Arc<Mutex<(ChildStdin, BufReader<ChildStdout>)>>,
    pub pid: u32,
    pub hello: Hello,
}

impl ServiceProcess {
    /// Starts the service on `database` (SQLite keys and files in `dir`)
    /// with its clock at `now`, and waits until it serves.
    pub async fn start(database: &str, dir: &Path, now: UnixSeconds) -> anyhow::Result<ServiceProcess> {
        let exe = std::env::current_exe().context("finding this program, to start the service")?;
        let mut child = Command::new(exe)
            .args(["simulate-service", "--database", database, "--time", &now.to_string(), "--data-dir"])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the service process")?;
        let pid = child.id();
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            anyhow::bail!("the service process has no pipes");
        };
        let io = Arc::new(Mutex::new((stdin, BufReader::new(stdout))));
        let first = {
            let io = io.clone();
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                let mut io = io.lock().unwrap_or_else(PoisonError::into_inner);
                io.1.read_line(&mut line).map(|_| line)
            })
            .await??
        };
        let hello = match serde_json::from_str::<Hello>(first.trim()) {
            Ok(hello) => hello,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("the service process did not start (it said {:?})", first.trim());
            }
        };
        Ok(ServiceProcess { child: Mutex::new(child), io, pid, hello })
    }

    /// One line to the child, its one line back.
    async fn ask(&self, line: String) -> anyhow::Result<String> {
        let io = self.io.clone();
        let answer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut io = io.lock().unwrap_or_else(PoisonError::into_inner);
            writeln!(io.0, "{line}")?;
            io.0.flush()?;
            let mut answer = String::new();
            io.1.read_line(&mut answer)?;
            Ok(answer)
        })
        .await??;
        anyhow::ensure!(!answer.is_empty(), "the service process ended");
        Ok(answer.trim().to_owned())
    }

    /// Moves the service's clock; returns once it is set.
    pub async fn set_time(&self, now: UnixSeconds) -> anyhow::Result<()> {
        let answer = self.ask(format!("time {now}")).await?;
        anyhow::ensure!(answer == "ok", "the service process answered {answer:?} to the time");
        Ok(())
    }

    /// Signs a checkpoint over everything written; the log's size.
    pub async fn sequence(&self) -> anyhow::Result<u64> {
        let answer = self.ask("sequence".into()).await?;
        answer
            .strip_prefix("size ")
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("the service process answered {answer:?} to sequence"))
    }

    /// Stops the service as `doorman serve` stops, and waits for the process.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let answer = self.ask("stop".into()).await?;
        anyhow::ensure!(answer == "stopped", "the service process answered {answer:?} to stop");
        let status = self.child.lock().unwrap_or_else(PoisonError::into_inner).wait()?;
        anyhow::ensure!(status.success(), "the service process ended with {status}");
        Ok(())
    }

    /// The service's resident memory now and at its peak, in KiB.
    pub fn memory_kib(&self) -> (Option<u64>, Option<u64>) {
        super::memory_kib(&format!("/proc/{}/status", self.pid))
    }

    /// The service's CPU time so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        super::cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        // A run that failed half-way must not leave its service behind.
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `doorman simulate-service`: the child's side.
pub async fn serve(database: &str, dir: &Path, now: UnixSeconds) -> anyhow::Result<()> {
    let clock = Arc::new(SimClock::default());
    clock.set(now);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = doorman_store::open(database).await.context("opening the database")?;
    let keys = KeyFile::generate(clock.now() - 86_400).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = ServiceConfig { lock_stale_after_s: 3600, ..ServiceConfig::default() };
    let service = app::service_with(store, clock.clone(), &keys, config)?;
    let log_key = service.log_key().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut running = app::start_serving(
        service.clone(),
        "127.0.0.1:0".parse()?,
        Some(app::DEFAULT_LOG_INTERVAL),
        doorman_dashboard::DashboardConfig::default(),
    )
    .await?;
    let fleet = FleetSettings {
        broker: FleetBroker::Embedded { listen: "127.0.0.1:0".parse()? },
        public_url: None,
        mosquitto_dir: None,
    };
    running.fleet = app::start_fleet(&running.service, &fleet).await?;
    let operator_token = running.operator_token.clone().context("a fresh database: the run needs its own")?;
    let hello = Hello { url: running.url(), operator_token, log_key, backend: service.backend().to_string() };

    // The parent's lines, read on a thread of their own.
    let (lines, mut incoming) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let say = |line: &str| -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    };
    say(&serde_json::to_string(&hello)?)?;
    while let Some(line) = incoming.recv().await {
        let line = line.trim();
        if let Some(t) = line.strip_prefix("time ") {
            clock.set(t.parse().context("time: not a number")?);
            say("ok")?;
        } else if line == "sequence" {
            let checkpoint = service.sequence_now().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            say(&format!("size {}", checkpoint.map(|c| c.size).unwrap_or_default()))?;
        } else if line == "stop" {
            break;
        } else {
            anyhow::bail!("simulate-service: unknown line {line:?}");
        }
    }
    running.stop().await?;
    // The parent may have gone (the end of input): nobody to tell.
    let _ = say("stopped");
    Ok(())
}
