//! The witness's HTTP interface (`c2sp.org/tlog-witness`): `POST
//! /add-checkpoint` with a text body, answered with the cosignature line, or
//! with the status the spec gives each refusal (409 with the latest size as
//! `text/x.tlog.size` when the log's idea of the old size is stale).

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use doorman_server::witness::{WitnessHost, WitnessRefusal};
use doorman_tlog::WitnessError;

/// Largest add-checkpoint request accepted.
const MAX_REQUEST_BYTES: usize = doorman_tlog::MAX_NOTE_SIZE + 4096;

/// The witness's routes.
pub fn witness_router(host: Arc<WitnessHost>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(host)
}

/// Serves the witness on an already-bound listener until `shutdown`.
pub async fn serve_witness(
    listener: tokio::net::TcpListener,
    host: Arc<WitnessHost>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, witness_router(host)).with_graceful_shutdown(shutdown).await
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn add_checkpoint(State(host): State<Arc<WitnessHost>>, body: Bytes) -> Response {
    // The state file is written and fsynced before answering: off the
    // async workers.
    let outcome = tokio::task::spawn_blocking(move || host.add_checkpoint(&body)).await;
    match outcome {
        Ok(Ok(line)) => text(StatusCode::OK, "text/plain; charset=utf-8", line),
        Ok(Err(refusal)) => refusal_response(&refusal),
        Err(e) => {
            tracing::error!(error = %e, "witness task failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "internal error\n".into())
        }
    }
}

fn refusal_response(refusal: &WitnessRefusal) -> Response {
    let plain = "text/plain; charset=utf-8";
    let status = match refusal {
        WitnessRefusal::State(e) => {
            tracing::error!(error = %e, "cannot persist the witness state");
            return text(StatusCode::INTERNAL_SERVER_ERROR, plain, "cannot persist the witness state\n".into());
        }
        WitnessRefusal::Witness(error) => match error {
            WitnessError::OldSizeMismatch { latest_size, .. } => {
                return text(StatusCode::CONFLICT, "text/x.tlog.size", format!("{latest_size}\n"));
            }
            WitnessError::MalformedRequest(_)
            | WitnessError::MalformedCheckpoint(_)
            | WitnessError::Rollback { .. } => StatusCode::BAD_REQUEST,
            WitnessError::UnknownLog { .. } => StatusCode::NOT_FOUND,
            WitnessError::NotSignedByLog(_) => StatusCode::FORBIDDEN,
            WitnessError::Fork { .. } | WitnessError::Conflict { .. } => StatusCode::CONFLICT,
            WitnessError::InvalidConsistencyProof(_) => StatusCode::UNPROCESSABLE_ENTITY,
            WitnessError::Cosign(_) | WitnessError::Key(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
    };
    if status.is_client_error() {
        tracing::info!(%refusal, "witness refused a checkpoint");
    } else {
        tracing::error!(%refusal, "witness failed");
    }
    text(status, plain, format!("{refusal}\n"))
}
