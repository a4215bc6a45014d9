//! The event feed: each principal's view of the transparency log, in log
//! order, and the signal that wakes whoever waits for new entries.
//!
//! - Every event is a log entry (written with its change, see [`crate::audit`]);
//!   the feed is the entries a principal may see ([`crate::audit::entry_filter`]
//!   narrows the read, [`doorman_domain::Viewer::may_see`] decides), so the
//!   feed, the audit log and webhooks cannot disagree.
//! - Log indexes are handed out under the log counter's row lock, so the
//!   committed entries are always a prefix of the index space: a reader that
//!   saw index `n` never later finds a smaller one appearing. Reading
//!   "after `n`" therefore loses nothing and repeats nothing.
//! - Wake-ups: the service bumps [`FeedSignal`] after each write it makes,
//!   and [`Service::relay_log_growth`] bumps it when another process on the
//!   same PostgreSQL committed entries (the store's LISTEN/NOTIFY, see
//!   `doorman_store::cluster`); waiters also re-check on a period
//!   (`ServiceConfig::feed_recheck_ms`), a safety net should a wake-up be
//!   lost with a connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use doorman_api::{EventPage, FeedEvent};
use doorman_domain::{Event, Principal};
use tokio::sync::watch;

use crate::audit::entry_filter;
use crate::{Service, ServiceResult};

/// Most events one feed page holds.
pub const MAX_FEED_PAGE: u32 = 500;
/// The largest index a read asks for (the store's indexes are i64).
const END: u64 = i64::MAX as u64;

/// Bumped after every write this process makes to the log, and after every
/// append another process commits (on PostgreSQL).
#[derive(Debug)]
pub struct FeedSignal(watch::Sender<u64>);

impl Default for FeedSignal {
    fn default() -> Self {
        Self(watch::channel(0).0)
    }
}

impl FeedSignal {
    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

impl Service {
    /// The events `p` may see with an index above `after` (all if None),
    /// oldest first, at most `limit` (default and maximum [`MAX_FEED_PAGE`]).
    pub async fn feed(&self, p: &Principal, after: Option<u64>, limit: Option<u32>) -> ServiceResult<EventPage> {
        let viewer = self.viewer(p).await?;
        let limit = limit.unwrap_or(MAX_FEED_PAGE).clamp(1, MAX_FEED_PAGE);
        let start = after.map_or(0, |a| a.saturating_add(1));
        let rows = self.store.log_entries(&entry_filter(&viewer), start..END, limit).await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            match Event::from_bytes(&row.bytes) {
                Ok(event) if viewer.may_see(&event) => events.push(FeedEvent::of(row.index, event)),
                Ok(_) => {}
                Err(e) => tracing::warn!(index = row.index, error = %e, "a log entry does not decode; not in the feed"),
            }
        }
        // Skipped rows still move the cursor: the next read starts after them.
        let next_after = rows.last().map(|row| row.index).or(after);
        Ok(EventPage { events, next_after })
    }

    /// The index of the newest entry now (None on an empty log): where a
    /// stream that skips history starts.
    pub async fn feed_head(&self) -> ServiceResult<Option<u64>> {
        Ok(self.store.log_state().await?.appended.checked_sub(1))
    }

    /// A receiver that changes whenever this process, or another on the
    /// same database, appends to the log.
    pub fn feed_signal(&self) -> watch::Receiver<u64> {
        self.feed.subscribe()
    }

    /// Bumps the feed signal whenever another process on the same database
    /// commits log entries, for as long as it runs (`doorman serve` spawns
    /// it). Returns at once on SQLite, where only this process appends.
    pub async fn relay_log_growth(&self) {
        let Some(mut growth) = self.store.log_growth() else { return };
        while growth.changed().await.is_ok() {
            self.feed.bump();
        }
    }

    /// Wakes the feed's waiters: to be called after a write with events
    /// (the service's own writes do; code that writes events through the
    /// store directly should too, or its events wait for the re-check).
    pub fn events_appended(&self) {
        self.feed.bump();
    }

    /// Logs one event that goes with no other write (a door a remote unlock
    /// opened, a step of a key rotation) and wakes the feed.
    pub(crate) async fn log_alone(
        &self,
        kind: doorman_domain::EventKind,
        at: doorman_domain::UnixSeconds,
        scope: crate::audit::Scope,
        actor: Option<Principal>,
    ) -> ServiceResult<()> {
        let event = crate::audit::new_event(kind, at, scope, actor)?;
        self.store.append_events(&[event]).await?;
        self.events_appended();
        Ok(())
    }

    /// How often a waiting stream re-reads even without a wake-up.
    pub fn feed_recheck(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.feed_recheck_ms.max(10))
    }
}

/// Events read per query while following the feed.
pub const FOLLOW_PAGE: u32 = 200;

/// A principal following the feed from a point: [`FeedCursor::next`] returns
/// each event after it once, in order, waiting for new ones (woken by the
/// appends of this process and of the others on the same database, and
/// re-reading every [`Service::feed_recheck`] in case a wake-up was lost).
/// What the SSE stream and the dashboard's live updates share.
pub struct FeedCursor {
    service: Arc<Service>,
    principal: Principal,
    signal: watch::Receiver<u64>,
    recheck: Duration,
    after: Option<u64>,
    buffer: VecDeque<FeedEvent>,
}

impl FeedCursor {
    /// Starts after `after` (from the start when `None`). Reads the first
    /// page now, so that an error (a principal that is gone, a database
    /// down) is returned here rather than inside a stream.
    pub async fn start(service: Arc<Service>, principal: Principal, after: Option<u64>) -> ServiceResult<Self> {
        let first = service.feed(&principal, after, Some(FOLLOW_PAGE)).await?;
        Ok(Self {
            signal: service.feed_signal(),
            recheck: service.feed_recheck(),
            service,
            principal,
            after: first.next_after,
            buffer: first.events.into(),
        })
    }

    /// The next event, waiting as long as it takes.
    pub async fn next(&mut self) -> FeedEvent {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return event;
            }
            // Mark the signal seen before reading: an append after the read
            // then wakes the wait below.
            self.signal.borrow_and_update();
            match self.service.feed(&self.principal, self.after, Some(FOLLOW_PAGE)).await {
                Ok(page) => {
                    self.after = page.next_after;
                    if !page.events.is_empty() {
                        self.buffer.extend(page.events);
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the event feed failed; retrying"),
            }
            tokio::select! {
                changed = self.signal.changed() => {
                    if changed.is_err() {
                        // The service is gone: only the period is left.
                        tokio::time::sleep(self.recheck).await;
                    }
                }
                () = tokio::time::sleep(self.recheck) => {}
            }
        }
    }
}
