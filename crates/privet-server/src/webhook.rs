//! Alert webhooks: each alert is POSTed as JSON to the configured URL, signed with
//! HMAC-SHA256 (`Privet-Signature: t=<unix>,v1=<hex>` over `"<t>." ‖ body`, fresh for each
//! attempt), on a task of its own so no request ever waits for it. A failed attempt (no
//! connection, a timeout, 408, 429 or 5xx) is retried after a delay that doubles each time,
//! up to a bounded number of attempts; any other answer ends the delivery. Deliveries are
//! at least once while the process runs: receivers drop duplicates by the alert's `id`. The
//! alert itself is on the audit record whatever becomes of its delivery.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Request, StatusCode, Uri, header};
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use privet_crypto::SharedSecret;
use privet_vault::{Alert, MonitorObserver};
use serde::Serialize;
use time::OffsetDateTime;

use crate::metrics::Metrics;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "privet-signature";

/// The longest delay between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Where and how alerts are delivered.
#[derive(Clone)]
pub struct WebhookConfig {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// The key alerts are signed with.
    pub secret: Arc<SharedSecret>,
    /// Attempts per alert, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt; doubled before each next one (at most 5 minutes).
    pub backoff: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    // The URL may carry a token (many receivers put one in the path): only its scheme shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split_once("://").map_or("?", |(s, _)| s);
        f.debug_struct("WebhookConfig")
            .field("url", &format_args!("{scheme}://[redacted]"))
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a webhook cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL is not an absolute `http` or `https` URL.
    #[error("monitor.webhook_url must be an absolute http:// or https:// URL")]
    BadUrl,
    /// No trusted root certificates were found for `https` URLs.
    #[error("cannot verify the webhook's TLS certificate: {0}")]
    Tls(String),
}

/// The JSON body of an alert.
#[derive(Debug, Serialize)]
struct AlertBody<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    id: &'a str,
    kind: &'static str,
    principal: &'a str,
    count: u64,
    threshold: u64,
    window_seconds: u64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    request_id: Option<String>,
    suspended: bool,
    audit_index: Option<u64>,
}

/// The exact body delivered for `alert`.
pub(crate) fn alert_body(alert: &Alert) -> Vec<u8> {
    let body = AlertBody {
        ty: "privet.alert",
        id: &alert.id,
        kind: alert.kind.as_str(),
        principal: &alert.principal,
        count: alert.count,
        threshold: alert.threshold,
        window_seconds: alert.window.as_secs(),
        at: alert.at,
        request_id: alert.request_id.map(|r| r.to_string()),
        suspended: alert.suspended,
        audit_index: alert.audit_index,
    };
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

struct Inner {
    uri: Uri,
    config: WebhookConfig,
    client: HttpClient,
    metrics: Metrics,
}

/// Delivers alerts to one URL.
#[derive(Clone)]
pub(crate) struct Webhook {
    inner: Arc<Inner>,
}

/// How one attempt ended, when it did not deliver.
enum Failure {
    Retryable(String),
    Permanent(StatusCode),
}

pub(crate) fn client(uri: &Uri) -> Result<HttpClient, WebhookError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Tls(e.to_string()))?;
    // System roots (so an internal CA the operator installed is trusted); needed for https.
    let tls = match tls.clone().with_native_roots() {
        Ok(b) => b.with_no_client_auth(),
        Err(e) if uri.scheme_str() == Some("https") => {
            return Err(WebhookError::Tls(e.to_string()));
        }
        Err(_) => tls
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

impl Webhook {
    pub(crate) fn new(config: WebhookConfig, metrics: Metrics) -> Result<Self, WebhookError> {
        let uri: Uri = config.url.parse().map_err(|_| WebhookError::BadUrl)?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(WebhookError::BadUrl);
        }
        let client = client(&uri)?;
        let loopback = matches!(uri.host(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if uri.scheme_str() == Some("http") && !loopback {
            tracing::warn!(
                target: "privet::monitor",
                "the alert webhook is plain http: alerts are signed but not encrypted in transit"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                uri,
                config,
                client,
                metrics,
            }),
        })
    }

    /// Starts delivering `alert` on a task of its own.
    pub(crate) fn send(&self, alert: &Alert) {
        let (this, body, id) = (self.clone(), alert_body(alert), alert.id.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move { this.deliver(&id, Bytes::from(body)).await });
            }
            Err(_) => tracing::error!(
                target: "privet::monitor",
                alert_id = %id,
                "no runtime to deliver the alert webhook on"
            ),
        }
    }

    async fn deliver(&self, id: &str, body: Bytes) {
        let c = &self.inner.config;
        let attempts = c.attempts.max(1);
        let mut delay = c.backoff;
        for attempt in 1..=attempts {
            match self.attempt(id, body.clone()).await {
                Ok(()) => {
                    tracing::info!(target: "privet::monitor", alert_id = %id, attempt, "alert webhook delivered");
                    self.inner.metrics.webhook(true);
                    return;
                }
                Err(Failure::Permanent(status)) => {
                    tracing::error!(
                        target: "privet::monitor",
                        alert_id = %id,
                        attempt,
                        status = status.as_u16(),
                        "alert webhook refused; not retrying"
                    );
                    break;
                }
                Err(Failure::Retryable(why)) => {
                    tracing::warn!(
                        target: "privet::monitor",
                        alert_id = %id,
                        attempt,
                        attempts,
                        error = %why,
                        "alert webhook attempt failed"
                    );
                    if attempt < attempts {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
        tracing::error!(target: "privet::monitor", alert_id = %id, "alert webhook not delivered; the alert is in the audit log");
        self.inner.metrics.webhook(false);
    }

    async fn attempt(&self, id: &str, body: Bytes) -> Result<(), Failure> {
        let c = &self.inner.config;
        let t = OffsetDateTime::now_utc().unix_timestamp();
        let signature = c.secret.sign_webhook(t, &body);
        let req = Request::post(self.inner.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "privet-alerts/1")
            .header(SIGNATURE_HEADER, signature)
            .header(
                "privet-alert-id",
                HeaderValue::from_str(id).map_err(|e| Failure::Retryable(e.to_string()))?,
            )
            .body(Full::new(body))
            .map_err(|e| Failure::Retryable(e.to_string()))?;
        let resp = tokio::time::timeout(c.timeout, self.inner.client.request(req))
            .await
            .map_err(|_| Failure::Retryable("timed out".into()))?
            .map_err(|e| Failure::Retryable(e.to_string()))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            Err(Failure::Retryable(format!("status {status}")))
        } else {
            Err(Failure::Permanent(status))
        }
    }
}

/// What the server does with what monitoring sees: counts it in the metrics and sends alerts
/// to the webhook, if one is configured.
pub struct Observer {
    metrics: Metrics,
    webhook: Option<Webhook>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("webhook", &self.webhook.is_some())
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// Counts into `metrics` and delivers alerts to `webhook` (if any). Fails if the
    /// webhook's URL is not usable.
    pub fn new(metrics: Metrics, webhook: Option<WebhookConfig>) -> Result<Self, WebhookError> {
        let webhook = webhook
            .map(|w| Webhook::new(w, metrics.clone()))
            .transpose()?;
        Ok(Self { metrics, webhook })
    }
}

impl MonitorObserver for Observer {
    fn access(&self, entry: &privet_audit::AuditEntry) {
        self.metrics.access(entry);
    }

    fn refusal(&self, entry: &privet_audit::AuditEntry) {
        self.metrics.refusal(entry);
    }

    fn alert(&self, alert: &Alert) {
        self.metrics.alert(alert.kind);
        if let Some(w) = &self.webhook {
            w.send(alert);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> WebhookConfig {
        WebhookConfig {
            url: url.to_owned(),
            secret: Arc::new(SharedSecret::from_text(&"k".repeat(32), "TEST").unwrap()),
            attempts: 3,
            backoff: Duration::from_millis(10),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn only_absolute_http_urls_are_accepted_and_never_printed() {
        for bad in [
            "ftp://example.com/x",
            "/relative",
            "example.com/x",
            "http://",
            "not a url",
        ] {
            assert!(
                matches!(
                    Webhook::new(config(bad), Metrics::new()),
                    Err(WebhookError::BadUrl)
                ),
                "{bad}"
            );
        }
        assert!(Webhook::new(config("http://127.0.0.1:9/hook"), Metrics::new()).is_ok());
        let c = config("https://hooks.example/T000/B000/XXXXSECRET");
        assert!(!format!("{c:?}").contains("XXXXSECRET"), "{c:?}");
    }

    #[test]
    fn the_body_holds_ids_codes_and_counts() {
        let alert = Alert {
            id: "alr_1".into(),
            principal: "prn_1".into(),
            kind: privet_vault::AlertKind::Denials,
            count: 51,
            threshold: 50,
            window: Duration::from_secs(600),
            at: OffsetDateTime::UNIX_EPOCH,
            request_id: None,
            suspended: false,
            audit_index: Some(7),
        };
        let body: serde_json::Value = serde_json::from_slice(&alert_body(&alert)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": "privet.alert", "id": "alr_1", "kind": "denials",
                "principal": "prn_1", "count": 51, "threshold": 50, "window_seconds": 600,
                "at": "1970-01-01T00:00:00Z", "request_id": null, "suspended": false,
                "audit_index": 7})
        );
    }
}
