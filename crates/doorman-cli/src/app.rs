//! Booting the service: open the store, load the keys, bind, then serve.
//! Binding happens before serving, so callers (tests, the demo) get a real
//! address that already accepts connections.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use doorman_domain::Clock;
use doorman_server::{KeyFile, Service, ServiceConfig};
use doorman_store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;

/// A service answering on `addr` until [`Running::stop`].
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    /// Present only on the very first start of this database.
    pub operator_token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, and returns.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.join.await.context("server task")?.context("server")
    }

    /// Serves until the process is asked to stop (Ctrl-C or SIGTERM).
    pub async fn wait(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

pub async fn open_service(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Service>> {
    if config.database.starts_with("sqlite:") || !config.database.contains("://") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    }
    let store = doorman_store::open(&config.database).await.context("opening the database")?;
    let keys = KeyFile::load_or_create(&config.key_file, clock.now())
        .and_then(|f| f.ring())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("loading the key file")?;
    Ok(Arc::new(Service::new(store, clock, keys, config.service.clone())))
}

/// A service over `store` with the given keys; for tests and the demo.
pub fn service_with(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: &KeyFile,
    config: ServiceConfig,
) -> anyhow::Result<Arc<Service>> {
    let ring = keys.ring().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Arc::new(Service::new(store, clock, ring, config)))
}

/// Binds `listen`, bootstraps the operator token on first start, and serves
/// in the background.
pub async fn start(service: Arc<Service>, listen: SocketAddr) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let operator_token = service.bootstrap().await.map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
    let (tx, rx) = oneshot::channel::<()>();
    let join = tokio::spawn(doorman_web::serve(listener, service.clone(), async move {
        let _ = rx.await;
    }));
    Ok(Running { addr, service, operator_token, stop: Some(tx), join })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
