//! The `[requests]` config section: the default regime of rights requests and the webhook
//! that rights-request notifications are delivered to — raw TOML and env in, validated
//! settings out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use privet_core::Regime;
use privet_crypto::SharedSecret;
use privet_server::NotifyConfig;
use serde::Deserialize;

use crate::monitoring::duration;

/// The section as `privet init` writes it: every key with its default.
pub(crate) const DEFAULT_TEXT: &str = r#"
[requests]
# The regime of data-subject rights requests that name none: "gdpr" (one month, extendable
# by two) or "ccpa" (45 days, extendable by 45) (PRIVET_REQUESTS_DEFAULT_REGIME).
default_regime = "gdpr"
# POST each rights-request notification (a status change, for the subject) as JSON, signed
# with HMAC-SHA256 in the Privet-Signature header (PRIVET_NOTIFY_WEBHOOK_URL). Undelivered
# messages stay in the outbox and are retried with backoff; delivered ones are deleted.
# notify_webhook_url = "https://mailer.internal/privet"
# The signing secret, at least 32 bytes: a file only its owner can read, or the variable
# PRIVET_NOTIFY_WEBHOOK_SECRET.
# notify_webhook_secret_file = "notify.secret"
notify_interval = "5s"
notify_timeout = "10s"
"#;

// The webhook URL may carry a token: not printed.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequests {
    default_regime: Option<String>,
    notify_webhook_url: Option<String>,
    notify_webhook_secret_file: Option<String>,
    notify_interval: Option<String>,
    notify_timeout: Option<String>,
}

impl std::fmt::Debug for RawRequests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRequests")
            .field("default_regime", &self.default_regime)
            .finish_non_exhaustive()
    }
}

/// Validated `[requests]` settings.
#[derive(Debug, Clone)]
pub(crate) struct Requests {
    pub(crate) default_regime: Regime,
    pub(crate) notify: Option<NotifyConfig>,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

impl Requests {
    pub(crate) fn from_raw(r: RawRequests, dir: &Path) -> Result<Self> {
        let regime = env("PRIVET_REQUESTS_DEFAULT_REGIME").or(r.default_regime);
        let default_regime = match regime.as_deref() {
            None => Regime::Gdpr,
            Some(text) => text
                .parse()
                .map_err(|e| anyhow::anyhow!("requests.default_regime: {e}"))?,
        };
        let notify = match env("PRIVET_NOTIFY_WEBHOOK_URL").or(r.notify_webhook_url) {
            None => None,
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("requests.notify_webhook_url must be an http:// or https:// URL");
                }
                let secret = match (
                    env("PRIVET_NOTIFY_WEBHOOK_SECRET"),
                    r.notify_webhook_secret_file,
                ) {
                    (Some(v), _) => SharedSecret::from_text(&v, "PRIVET_NOTIFY_WEBHOOK_SECRET")?,
                    (None, Some(f)) => SharedSecret::from_file(&dir.join(f))?,
                    (None, None) => bail!(
                        "requests.notify_webhook_url needs a signing secret: set requests.notify_webhook_secret_file or PRIVET_NOTIFY_WEBHOOK_SECRET"
                    ),
                };
                Some(NotifyConfig {
                    url,
                    secret: Arc::new(secret),
                    interval: duration(
                        "requests.notify_interval",
                        r.notify_interval,
                        Duration::from_secs(5),
                    )?,
                    timeout: duration(
                        "requests.notify_timeout",
                        r.notify_timeout,
                        Duration::from_secs(10),
                    )?,
                })
            }
        };
        Ok(Self {
            default_regime,
            notify,
        })
    }
}
