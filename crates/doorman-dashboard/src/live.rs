//! The dashboard's live updates: a server-sent event stream of the log
//! entries the signed-in principal may see, newer than `after` (or the
//! `Last-Event-ID` a reconnecting browser sends). Each event's id is the
//! entry's log index and its data a one-line description; the page reacts by
//! fetching its live fragment again.
//!
//! Unlike the API's feed (`/v1/events/stream`, which sends an event as soon
//! as it is written), this follows the entries a signed checkpoint covers
//! (`Service::audit_entries`), polled on a short interval: the page's
//! timeline shows entries with their inclusion proof ("verified"), so it is
//! told of an entry once that proof exists.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use doorman_api::AuditEntriesQuery;
use std::collections::BTreeMap;

use doorman_domain::{serde_b64, Event, Principal, PropertyId};
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use crate::session::Signed;
use crate::text::describe;
use crate::DashState;

/// How often the stream looks for new entries.
const POLL: Duration = Duration::from_millis(300);
/// Entries sent per look, at most.
const BATCH: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LiveQuery {
    #[serde(default)]
    after: Option<String>,
}

struct Cursor {
    dash: DashState,
    principal: Principal,
    /// The time zone of each building whose entries the principal reads.
    zones: BTreeMap<PropertyId, String>,
    /// The last index sent (or given by the client).
    after: Option<u64>,
    pending: std::collections::VecDeque<SseEvent>,
    ticker: tokio::time::Interval,
}

pub(crate) async fn stream(
    State(dash): State<DashState>,
    signed: Signed,
    headers: HeaderMap,
    Query(query): Query<LiveQuery>,
) -> Response {
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let after = resume.or_else(|| query.after.as_deref().and_then(|a| a.trim().parse::<u64>().ok()));
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Times in each line are the building's, as on the pages.
    let zones = match crate::pages::time_zones(&dash.service, &signed.principal).await {
        Ok((_, zones)) => zones,
        Err(e) => return crate::pages::service_error(e),
    };
    let cursor = Cursor { dash, principal: signed.principal, zones, after, pending: Default::default(), ticker };
    Sse::new(events(cursor)).keep_alive(KeepAlive::default()).into_response()
}

fn events(cursor: Cursor) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(next) = c.pending.pop_front() {
                return Some((Ok(next), c));
            }
            c.ticker.tick().await;
            let query = AuditEntriesQuery { after: c.after, size: None, limit: Some(BATCH) };
            let page = match c.dash.service.audit_entries(&c.principal, query).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "live stream: reading the log failed; ending the stream");
                    return None;
                }
            };
            let looked_at = page.next_after.or(page.size.checked_sub(1));
            let events: Vec<(u64, Option<Event>)> = page
                .entries
                .iter()
                .map(|entry| {
                    let event = serde_b64::decode(&entry.entry).ok().and_then(|b| Event::from_bytes(&b).ok());
                    (entry.index, event)
                })
                .collect();
            if events.is_empty() {
                c.after = c.after.max(looked_at);
                continue;
            }
            // One lookup of the names for the whole batch.
            let names =
                match c.dash.service.names_for(&c.principal, events.iter().filter_map(|(_, e)| e.as_ref())).await {
                    Ok(names) => names,
                    Err(e) => {
                        tracing::warn!(error = %e, "live stream: naming the entries failed; ending the stream");
                        return None;
                    }
                };
            for (index, event) in events {
                c.after = Some(index);
                let text = match &event {
                    Some(ev) => {
                        let tz = ev.property_id.and_then(|p| c.zones.get(&p)).map_or("UTC", String::as_str);
                        describe(ev, &names.of(ev), tz)
                    }
                    None => "a new log entry".to_string(),
                };
                c.pending.push_back(SseEvent::default().id(index.to_string()).data(text));
            }
            // Entries the principal may not see were looked at too: skip them.
            c.after = c.after.max(looked_at);
        }
    })
}
