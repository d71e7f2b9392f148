//! Delivering rights-request notifications from the vault's outbox to a webhook: each
//! message is POSTed as JSON (`{id, subject_id, request_id, template, text, created_at}`),
//! signed like the alert webhook (`Privet-Signature: t=<unix>,v1=<hex>` over `"<t>." ‖
//! body`). One attempt per round: a message that fails stays in the outbox and the vault
//! retries it later with backoff ([`Vault::deliver_outbox`]); one delivered is deleted.
//! Receivers deduplicate by `id` (a crash between delivery and deletion repeats one).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, Uri, header};
use bytes::Bytes;
use http_body_util::Full;
use privet_crypto::SharedSecret;
use privet_vault::{OutboundMessage, SendError, Sender, Vault};
use time::OffsetDateTime;

use crate::webhook::{HttpClient, SIGNATURE_HEADER, WebhookError, client};

/// Where notifications go.
#[derive(Clone)]
pub struct NotifyConfig {
    /// The receiver (`http://` or `https://`).
    pub url: String,
    /// The HMAC key that signs each body.
    pub secret: Arc<SharedSecret>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How often the outbox is looked at.
    pub interval: Duration,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token: not printed.
        f.debug_struct("NotifyConfig")
            .field("timeout", &self.timeout)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// A [`Sender`] that POSTs each message to a webhook.
pub struct WebhookSender {
    uri: Uri,
    config: NotifyConfig,
    client: HttpClient,
}

impl WebhookSender {
    /// A sender for `config` (an absolute http(s) URL).
    pub fn new(config: NotifyConfig) -> Result<Self, WebhookError> {
        let uri: Uri = config.url.parse().map_err(|_| WebhookError::BadUrl)?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(WebhookError::BadUrl);
        }
        Ok(Self {
            client: client(&uri)?,
            uri,
            config,
        })
    }
}

impl Sender for WebhookSender {
    /// Every failure is worth retrying: a receiver answering 4xx may be fixed, and the
    /// outbox backs off up to an hour between attempts.
    async fn send(&self, message: &OutboundMessage) -> Result<(), SendError> {
        let retry = |code: String| SendError::Retry(code);
        let body = Bytes::from(serde_json::to_vec(message).map_err(|e| retry(e.to_string()))?);
        let t = OffsetDateTime::now_utc().unix_timestamp();
        let signature = self.config.secret.sign_webhook(t, &body);
        let req = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "privet-notify/1")
            .header(SIGNATURE_HEADER, signature)
            .body(Full::new(body))
            .map_err(|e| retry(e.to_string()))?;
        let resp = tokio::time::timeout(self.config.timeout, self.client.request(req))
            .await
            .map_err(|_| retry("timed_out".to_owned()))?
            .map_err(|_| retry("connection_failed".to_owned()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(retry(format!("http_{}", resp.status().as_u16())))
        }
    }
}

/// Delivers the outbox through `sender` every `interval` until the task is dropped; failures
/// are logged and retried by the outbox's backoff, never fatal.
pub async fn deliver_notifications<S: Sender>(vault: Vault, sender: S, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match vault.deliver_outbox(&sender).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(delivered = n, "rights-request notifications delivered"),
            Err(e) => tracing::warn!(error = %e, "could not read the notifications outbox"),
        }
    }
}
