//! The event feed: pages (`GET /v1/events`) and the live stream
//! (`GET /v1/events/stream`, server-sent events) read message by message.

use doorman_api::*;
use reqwest::{Method, StatusCode};

use crate::{Client, ClientError, ClientResult, ErrorBody};

/// Where a stream starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamStart {
    /// At the caller's first event.
    #[default]
    Beginning,
    /// After this event id, sent as `Last-Event-ID` (as a reconnecting
    /// EventSource does).
    LastEventId(u64),
    /// After this event id, sent as `?after=`.
    After(u64),
    /// After the newest event that exists now.
    Now,
}

impl Client {
    /// The bearer token this client sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A page of the caller's events with an id above `after`.
    pub async fn events(&self, after: Option<u64>, limit: Option<u32>) -> ClientResult<EventPage> {
        let mut params = Vec::new();
        if let Some(after) = after {
            params.push(format!("after={after}"));
        }
        if let Some(limit) = limit {
            params.push(format!("limit={limit}"));
        }
        let query = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
        self.get(&format!("/v1/events{query}")).await
    }

    // --- webhooks
    pub async fn create_webhook(&self, req: &CreateWebhook) -> ClientResult<WebhookCreated> {
        self.post("/v1/webhooks", req).await
    }
    pub async fn list_webhooks(&self) -> ClientResult<Vec<WebhookSubscription>> {
        self.get("/v1/webhooks").await
    }
    pub async fn get_webhook(&self, id: WebhookId) -> ClientResult<WebhookSubscription> {
        self.get(&format!("/v1/webhooks/{id}")).await
    }
    pub async fn update_webhook(&self, id: WebhookId, req: &UpdateWebhook) -> ClientResult<WebhookSubscription> {
        self.call(Method::PATCH, &format!("/v1/webhooks/{id}"), Some(req)).await
    }
    pub async fn delete_webhook(&self, id: WebhookId) -> ClientResult<()> {
        let (status, text) = self.send_raw(Method::DELETE, &format!("/v1/webhooks/{id}"), None, None).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ClientError::Api { status, body },
            Err(_) => ClientError::Unexpected { status, text },
        })
    }
    pub async fn webhook_deliveries(
        &self,
        id: WebhookId,
        state: Option<WebhookDeliveryState>,
    ) -> ClientResult<Vec<WebhookDelivery>> {
        let query = state.map(|s| format!("?state={}", s.as_str())).unwrap_or_default();
        self.get(&format!("/v1/webhooks/{id}/deliveries{query}")).await
    }
    pub async fn resend_webhook_delivery(
        &self,
        id: WebhookId,
        delivery: WebhookDeliveryId,
    ) -> ClientResult<WebhookDelivery> {
        self.post(&format!("/v1/webhooks/{id}/deliveries/{delivery}/resend"), &serde_json::json!({})).await
    }

    // --- pickup points
    pub async fn create_pickup_point(&self, req: &CreatePickupPoint) -> ClientResult<PickupPoint> {
        self.post("/v1/pickup-points", req).await
    }
    pub async fn list_pickup_points(&self) -> ClientResult<Vec<PickupPoint>> {
        self.get("/v1/pickup-points").await
    }

    // --- returns
    pub async fn schedule_return(&self, unit: UnitId, req: &ScheduleReturn) -> ClientResult<Delivery> {
        self.post(&format!("/v1/units/{unit}/returns"), req).await
    }

    /// Opens the caller's live event stream.
    pub async fn event_stream(&self, start: StreamStart) -> ClientResult<EventStream> {
        let path = match start {
            StreamStart::After(id) => format!("/v1/events/stream?after={id}"),
            StreamStart::Now => "/v1/events/stream?from_now=true".into(),
            _ => "/v1/events/stream".into(),
        };
        let mut req =
            self.http.get(format!("{}{path}", self.base)).header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let StreamStart::LastEventId(id) = start {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await?;
        let status = res.status();
        if !status.is_success() {
            let text = res.text().await?;
            return Err(match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => ClientError::Api { status, body },
                Err(_) => ClientError::Unexpected { status, text },
            });
        }
        let content_type = res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !content_type.is_some_and(|t| t.starts_with("text/event-stream")) {
            let text = format!("content type {content_type:?} is not text/event-stream");
            return Err(ClientError::Unexpected { status, text });
        }
        Ok(EventStream { res, buffer: String::new(), last_event_id: None })
    }
}

/// One SSE message as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseMessage {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    res: reqwest::Response,
    buffer: String,
    last_event_id: Option<u64>,
}

impl EventStream {
    /// The next message as sent (keep-alive comments skipped); None when the
    /// service closed the stream.
    pub async fn next_message(&mut self) -> ClientResult<Option<SseMessage>> {
        loop {
            if let Some(message) = take_message(&mut self.buffer) {
                if message.data.is_empty() && message.id.is_none() && message.event.is_none() {
                    continue;
                }
                return Ok(Some(message));
            }
            match self.res.chunk().await? {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return Ok(None),
            }
        }
    }

    /// The next event; None when the service closed the stream.
    pub async fn next(&mut self) -> ClientResult<Option<FeedEvent>> {
        let Some(message) = self.next_message().await? else { return Ok(None) };
        let event: FeedEvent = serde_json::from_str(&message.data)
            .map_err(|e| ClientError::Unexpected { status: StatusCode::OK, text: format!("{e}: {}", message.data) })?;
        if message.id.as_deref() != Some(event.id.to_string().as_str())
            || message.event.as_deref() != Some(event.kind_name())
        {
            return Err(ClientError::Unexpected {
                status: StatusCode::OK,
                text: format!("message id/event {:?}/{:?} do not match its data", message.id, message.event),
            });
        }
        self.last_event_id = Some(event.id);
        Ok(Some(event))
    }

    /// The id of the last event read: where to resume.
    pub fn last_event_id(&self) -> Option<u64> {
        self.last_event_id
    }
}

/// Takes one complete message (up to a blank line) off the front of `buffer`.
fn take_message(buffer: &mut String) -> Option<SseMessage> {
    let normalized = buffer.replace("\r\n", "\n");
    let end = normalized.find("\n\n")?;
    let (block, rest) = normalized.split_at(end);
    let mut message = SseMessage { id: None, event: None, data: String::new() };
    let mut data_lines = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => message.id = Some(value.to_string()),
            "event" => message.event = Some(value.to_string()),
            "data" => data_lines.push(value.to_string()),
            _ => {}
        }
    }
    message.data = data_lines.join("\n");
    *buffer = rest.get(2..).unwrap_or_default().to_string();
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_at_blank_lines() {
        let mut buffer = ": keep-alive\n\nid: 7\nevent: blocked\ndata: {\"a\":\ndata: 1}\n\nid: 8".to_string();
        let first = take_message(&mut buffer).unwrap();
        assert_eq!(first, SseMessage { id: None, event: None, data: String::new() });
        let second = take_message(&mut buffer).unwrap();
        assert_eq!(second.id.as_deref(), Some("7"));
        assert_eq!(second.event.as_deref(), Some("blocked"));
        assert_eq!(second.data, "{\"a\":\n1}");
        assert!(take_message(&mut buffer).is_none());
        assert_eq!(buffer, "id: 8");
    }
}
