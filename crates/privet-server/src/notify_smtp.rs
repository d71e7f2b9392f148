//! Delivering rights-request notifications by mail, through an SMTP relay named by URL
//! (`smtp://user:pass@host:587?tls=required`, `smtps://host`, `smtp://localhost:25`; see
//! lettre's `from_url`). Each message is one plain-text mail to the subject's address, which
//! the vault opened from its sealed copy in the outbox ([`OutboundMessage::recipient`]).
//!
//! A 4xx answer, a refused connection or a timeout leaves the message in the outbox (retried
//! with backoff); a 5xx rejection drops it — except an authentication failure (530, 534, 535,
//! 538), which is the relay's configuration, not the message's, and is retried. Its
//! `Message-ID` is derived from the message id, so a repeat after a crash can be recognised.
//! Nothing here logs an address or the relay's free text (which may quote one), and the URL,
//! which may hold a password, is never printed.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use privet_vault::{OutboundMessage, SendError, Sender};

/// Why an SMTP sender could not be set up. Never quotes the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// The relay URL is malformed (the reason names no part of it beyond its scheme).
    #[error(
        "not a valid SMTP URL (smtp://[user:password@]host[:port][?tls=required|opportunistic] or smtps://…): {0}"
    )]
    BadUrl(String),
    /// The sender address is not a mailbox.
    #[error("not a valid mailbox (`name@example.com` or `Name <name@example.com>`)")]
    BadFrom,
}

/// Where notification mails go, and as whom.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The relay, e.g. `smtps://user:password@mail.example.com` (may hold a password).
    pub url: String,
    /// The `From` of every mail.
    pub from: Mailbox,
    /// How long one delivery may take.
    pub timeout: Duration,
    /// How often the outbox is looked at.
    pub interval: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: not printed.
        f.debug_struct("SmtpConfig")
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// Checks that `url` is an SMTP URL the sender can use, without connecting.
    pub fn check_url(url: &str) -> Result<(), SmtpError> {
        transport(url, Duration::from_secs(1)).map(|_| ())
    }

    /// Parses a `From` address (`name@example.com` or `Name <name@example.com>`).
    pub fn parse_from(text: &str) -> Result<Mailbox, SmtpError> {
        text.parse().map_err(|_| SmtpError::BadFrom)
    }
}

fn transport(
    url: &str,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpError> {
    // lettre's reasons come from the URL parser and name no part of the URL but its scheme.
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| SmtpError::BadUrl(e.to_string()))?;
    Ok(builder.timeout(Some(timeout)).build())
}

/// A [`Sender`] that mails each message to its recipient through one SMTP relay.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender").finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender for `config` (no connection is made until a message is sent).
    pub fn new(config: &SmtpConfig) -> Result<Self, SmtpError> {
        Ok(Self {
            transport: transport(&config.url, config.timeout)?,
            from: config.from.clone(),
            timeout: config.timeout,
        })
    }

    /// The mail for `message` to `to`.
    fn mail(&self, message: &OutboundMessage, to: Mailbox) -> Result<Message, SendError> {
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject_line(message))
            .message_id(Some(message_id(message, &self.from)))
            .user_agent("privet-notify/1".into())
            .header(ContentType::TEXT_PLAIN)
            .body(message.text.clone())
            .map_err(|_| SendError::Undeliverable("mail_not_built".into()))
    }
}

/// The subject line of a message: its request's id and new status.
pub fn subject_line(message: &OutboundMessage) -> String {
    let Some(request) = message.request_id else {
        return "About your privacy request".into();
    };
    match message.template.strip_prefix("request_").unwrap_or("") {
        "verifying" => format!("Your privacy request {request} was received"),
        "in_progress" => format!("Your privacy request {request} is in progress"),
        "extended" => format!("Your privacy request {request} was extended"),
        "completed" => format!("Your privacy request {request} is completed"),
        "rejected" => format!("Your privacy request {request} was rejected"),
        _ => format!("About your privacy request {request}"),
    }
}

/// `<msg_…@domain of the From address>`: the same for every attempt at one message.
fn message_id(message: &OutboundMessage, from: &Mailbox) -> String {
    format!("<{}@{}>", message.id, from.email.domain())
}

/// Authentication refused (RFC 4954): the relay's configuration, worth retrying once fixed.
const AUTH_CODES: [u16; 4] = [530, 534, 535, 538];

impl Sender for SmtpSender {
    async fn send(&self, message: &OutboundMessage) -> Result<(), SendError> {
        let Some(address) = &message.recipient else {
            return Err(SendError::Undeliverable("no_recipient".into()));
        };
        let to: Mailbox = address
            .expose()
            .parse()
            .map_err(|_| SendError::Undeliverable("bad_recipient".into()))?;
        let mail = self.mail(message, to)?;
        let sent = tokio::time::timeout(self.timeout, self.transport.send(mail))
            .await
            .map_err(|_| SendError::Retry("timed_out".into()))?;
        let Err(e) = sent else {
            return Ok(());
        };
        // Only the status code: the relay's text may quote the address.
        let code = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
        Err(match code {
            Some(c) if e.is_permanent() && !AUTH_CODES.contains(&c) => {
                SendError::Undeliverable(format!("smtp_{c}"))
            }
            Some(c) => SendError::Retry(format!("smtp_{c}")),
            None if e.is_timeout() => SendError::Retry("timed_out".into()),
            None if e.is_tls() => SendError::Retry("tls_failed".into()),
            None => SendError::Retry("connection_failed".into()),
        })
    }
}
