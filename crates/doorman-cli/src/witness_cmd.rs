//! `doorman witness`: a C2SP tlog-witness for doorman logs (or any log that
//! signs C2SP checkpoints with Ed25519). It cosigns a checkpoint only if
//! the log signed it and it provably extends the last one it cosigned, and
//! records that head (atomically, fsynced) before answering.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use doorman_server::audit::{WitnessReply, WitnessTransport};
use doorman_server::witness::{load_or_create_witness_key, WitnessHost};
use doorman_tlog::VerifierKey;

use crate::SystemClock;

#[derive(clap::Args, Debug)]
pub struct WitnessArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7380")]
    pub listen: SocketAddr,
    /// The witness's cosigning key (created on first start).
    #[arg(long)]
    pub key_file: PathBuf,
    /// A log to follow, by its verifier key (`origin+id+key`, as the log
    /// prints it); repeat for several logs.
    #[arg(long = "log-vkey", required = true)]
    pub log_vkeys: Vec<String>,
    /// The witness's key name, used when the key file is created.
    #[arg(long, default_value = "doorman.example/witness")]
    pub name: String,
    /// Where the last cosigned head of each log is kept [default: the key
    /// file with extension .state.json].
    #[arg(long)]
    pub state: Option<PathBuf>,
}

/// The service's way to its witnesses: `POST <url>/add-checkpoint` over
/// HTTP, with a timeout so a slow witness cannot hold the sequencer up.
#[derive(Debug, Clone)]
pub struct HttpWitnesses {
    http: reqwest::Client,
}

impl HttpWitnesses {
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .context("building the witness HTTP client")?;
        Ok(Self { http })
    }
}

#[async_trait::async_trait]
impl WitnessTransport for HttpWitnesses {
    async fn add_checkpoint(&self, url: &str, body: Vec<u8>) -> Result<WitnessReply, String> {
        let res = self
            .http
            .post(format!("{}/add-checkpoint", url.trim_end_matches('/')))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach the witness: {e}"))?;
        let status = res.status().as_u16();
        let content_type =
            res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
        let body = res.text().await.map_err(|e| format!("reading the witness's answer: {e}"))?;
        Ok(WitnessReply { status, content_type, body })
    }
}

/// A witness bound to its address, serving in the background.
#[derive(Debug)]
pub struct RunningWitness {
    pub addr: SocketAddr,
    pub host: Arc<WitnessHost>,
    stop: tokio::sync::oneshot::Sender<()>,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningWitness {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.join.await.context("witness task")?.context("witness server")
    }
}

/// Opens the witness's key and state and starts serving.
pub async fn start(args: &WitnessArgs) -> anyhow::Result<RunningWitness> {
    let cosigner = load_or_create_witness_key(&args.key_file, &args.name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let keys = args
        .log_vkeys
        .iter()
        .map(|k| VerifierKey::parse(k.trim()).with_context(|| format!("--log-vkey {k:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let state = args.state.clone().unwrap_or_else(|| args.key_file.with_extension("state.json"));
    let host = Arc::new(
        WitnessHost::open(cosigner, &keys, &state, Arc::new(SystemClock)).map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let join = tokio::spawn(doorman_web::witness::serve_witness(listener, host.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(RunningWitness { addr, host, stop, join })
}

/// `doorman witness`: serves until Ctrl-C or SIGTERM.
pub async fn run(args: WitnessArgs) -> anyhow::Result<()> {
    let running = start(&args).await?;
    let vkey = running.host.verifier_key().map_err(|e| anyhow::anyhow!("{e}"))?.to_vkey();
    println!("doorman witness listening on {} (POST /add-checkpoint)", running.url());
    println!("witness key (give it to the logs and their verifiers): {vkey}");
    crate::app::shutdown_signal().await;
    running.stop().await
}
