//! The event feed over HTTP: a JSON page (`GET /v1/events`) and the live
//! stream (`GET /v1/events/stream`, server-sent events). Both serve
//! `Service::feed`: the caller's events, in log order, `id` = log index.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use doorman_api::{EventPage, EventStreamQuery, EventsQuery, FeedEvent};
use doorman_server::feed::FeedCursor;
use doorman_server::Service;
use futures_util::Stream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(event_stream))
}

/// The caller's events after `after`, oldest first: a resident's unit (and
/// the shared doors of their building), a manager's properties, a carrier's
/// deliveries, a driver's own requests, the operator's configuration and
/// key events. Each event's `id` is its log index.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, body = EventPage)))]
async fn list_events(
    State(s): State<Arc<Service>>,
    Caller(p): Caller,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Json<EventPage>> {
    let Query(q) = query?;
    Ok(Json(s.feed(&p, q.after, q.limit).await?))
}

/// The caller's events as they happen (server-sent events): each message
/// has `id:` = the event's log index, `event:` = its type
/// (`access_granted`, ...), `data:` = the event as JSON (`FeedEvent`). Starts
/// after the `Last-Event-ID` header, else after `?after=`, else at the first
/// event (or, with `from_now=true`, after the newest one); a reconnecting
/// client loses nothing and gets nothing twice.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events",
    params(EventStreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "the id of the last event received; the stream resumes after it")),
    responses((status = 200, description = "a text/event-stream of FeedEvent messages", body = FeedEvent,
        content_type = "text/event-stream")))]
async fn event_stream(
    State(s): State<Arc<Service>>,
    Caller(p): Caller,
    headers: HeaderMap,
    query: Result<Query<EventStreamQuery>, QueryRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let Query(q) = query?;
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => match v
            .to_str()
            .ok()
            .map(str::trim)
            .and_then(|t| t.parse::<u64>().ok())
            .and_then(|id| doorman_api::bounded::check(id).ok())
        {
            Some(id) => Some(id),
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Last-Event-ID must be the id (a log index) of an event received",
                ))
            }
        },
    };
    let after = match (last_event_id, q.after, q.from_now) {
        (Some(id), _, _) | (None, Some(id), _) => Some(id),
        (None, None, Some(true)) => s.feed_head().await?,
        _ => None,
    };
    // Fail now, with a proper status, rather than inside the stream.
    let cursor = FeedCursor::start(s, p, after).await?;
    let stream = futures_util::stream::unfold(cursor, |mut cursor| async move {
        let event = cursor.next().await;
        Some((Ok(to_sse(&event)), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn to_sse(event: &FeedEvent) -> SseEvent {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    SseEvent::default().id(event.id.to_string()).event(event.kind_name()).data(data)
}
