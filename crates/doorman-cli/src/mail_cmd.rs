//! Email for the service: the SMTP settings, the transport the mail
//! dispatcher sends with (lettre over tokio: plain, STARTTLS or implicit
//! TLS with rustls), and the background dispatcher `doorman serve` runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use doorman_server::mail::{MailTransport, OutgoingMail};
use doorman_server::Service;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long one SMTP exchange may take (below the outbox's lease).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on this machine or a test server only).
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpTls {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" => Ok(SmtpTls::Tls),
            other => anyhow::bail!("smtp_tls {other:?} must be none, starttls or tls"),
        }
    }

    /// The port a server speaking this usually listens on.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// Where mail goes out. The password never prints.
#[derive(Clone, PartialEq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The `From` of every message: `doorman <doors@example.org>` or a bare address.
    pub from: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

/// `List-Unsubscribe: <https://...>` (RFC 2369).
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// Sends mail through one SMTP server.
#[derive(Clone)]
pub struct SmtpMail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMail").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl SmtpMail {
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Self> {
        let from: Mailbox =
            settings.from.parse().with_context(|| format!("mail_from {:?} is not an address", settings.from))?;
        let host = settings.host.as_str();
        let builder = match settings.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .with_context(|| format!("TLS for the SMTP server {host}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .with_context(|| format!("TLS for the SMTP server {host}"))?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &settings.user {
            builder =
                builder.credentials(Credentials::new(user.clone(), settings.password.clone().unwrap_or_default()));
        }
        Ok(Self { transport: builder.build(), from })
    }

    fn message(&self, mail: &OutgoingMail) -> Result<Message, String> {
        let to: Mailbox = mail.to.parse().map_err(|e| format!("the address {:?} is not usable: {e}", mail.to))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}>", mail.message_id)))
            .header(ContentType::TEXT_PLAIN);
        if let Some(url) = &mail.unsubscribe_url {
            builder = builder.header(ListUnsubscribe(url.clone())).header(ListUnsubscribePost);
        }
        builder.body(mail.body.clone()).map_err(|e| format!("the message could not be built: {e}"))
    }
}

#[async_trait::async_trait]
impl MailTransport for SmtpMail {
    async fn send(&self, mail: OutgoingMail) -> Result<(), String> {
        let message = self.message(&mail)?;
        self.transport.send(message).await.map(drop).map_err(|e| format!("the SMTP server: {e}"))
    }
}

/// Fans out and sends mail every `interval` until aborted.
pub async fn dispatcher(service: Arc<Service>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match service.dispatch_mail().await {
            Ok(report) if report != Default::default() => tracing::debug!(?report, "mail dispatched"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "dispatching mail failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: SmtpTls::None,
            user: Some("doorman".into()),
            password: Some("hunter2".into()),
            from: "doorman <doors@example.org>".into(),
        }
    }

    #[tokio::test]
    async fn messages_carry_their_id_and_the_one_click_headers() {
        let smtp = SmtpMail::new(&settings()).unwrap();
        assert!(!format!("{:?}", settings()).contains("hunter2"));
        let mail = OutgoingMail {
            message_id: "0190-abc@doors.example".into(),
            to: "Jun Park <jun@example.org>".into(),
            subject: "Delivered: your parcel is at the package room shelves".into(),
            body: "Hello Jun,\n\nIt is there.\n".into(),
            unsubscribe_url: Some("https://doors.example/app/unsubscribe/TOKEN".into()),
        };
        let text = String::from_utf8(smtp.message(&mail).unwrap().formatted()).unwrap();
        for line in [
            "Message-ID: <0190-abc@doors.example>",
            "List-Unsubscribe: <https://doors.example/app/unsubscribe/TOKEN>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "From: doorman <doors@example.org>",
            "Content-Type: text/plain; charset=utf-8",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        let bad = OutgoingMail { to: "not an address".into(), ..mail };
        assert!(smtp.message(&bad).is_err());
        assert!(SmtpTls::parse("STARTTLS").is_ok() && SmtpTls::parse("ssl").is_err());
    }
}
