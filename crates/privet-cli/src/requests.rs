//! The `[requests]` config section: the default regime of rights requests and the one sender
//! rights-request notifications are delivered through (a webhook, or mail through an SMTP
//! relay) — raw TOML and env in, validated settings out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use privet_core::Regime;
use privet_crypto::SharedSecret;
use privet_server::{NotifyConfig, SmtpConfig};
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
# Or mail each notification to the subject through an SMTP relay (not both):
# "smtp://user:password@host:587?tls=required", "smtps://user:password@host" or
# "smtp://localhost:25" (PRIVET_NOTIFY_SMTP_URL; it may hold a password: never printed). The
# subject's address is read from the profile field notify_email_field (of type email) when
# the message is queued, and kept sealed in the outbox until it is delivered.
# notify_smtp_url = "smtps://privet:secret@mail.example.com"
# notify_from = "Privacy team <privacy@example.com>"   # required with notify_smtp_url
# notify_email_field = "email"
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
    notify_smtp_url: Option<String>,
    notify_from: Option<String>,
    notify_email_field: Option<String>,
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
    pub(crate) notify: Option<Notify>,
}

/// The one sender notifications go through.
#[derive(Debug, Clone)]
pub(crate) enum Notify {
    Webhook(NotifyConfig),
    /// Mail, to the address in `email_field` of the profile (checked against the schema
    /// when the vault is opened).
    Smtp {
        config: SmtpConfig,
        email_field: String,
    },
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
        let interval = duration(
            "requests.notify_interval",
            r.notify_interval,
            Duration::from_secs(5),
        )?;
        let timeout = duration(
            "requests.notify_timeout",
            r.notify_timeout,
            Duration::from_secs(10),
        )?;
        let webhook = env("PRIVET_NOTIFY_WEBHOOK_URL").or(r.notify_webhook_url);
        let smtp = env("PRIVET_NOTIFY_SMTP_URL").or(r.notify_smtp_url);
        let from = env("PRIVET_NOTIFY_FROM").or(r.notify_from);
        let email_field = env("PRIVET_NOTIFY_EMAIL_FIELD").or(r.notify_email_field);
        let notify = match (webhook, smtp) {
            (Some(_), Some(_)) => bail!(
                "requests.notify_webhook_url and requests.notify_smtp_url are both set: \
                 notifications go through one sender, so set only one of them"
            ),
            (Some(url), None) => {
                if from.is_some() || email_field.is_some() {
                    bail!(
                        "requests.notify_from and requests.notify_email_field are for mail: \
                         they need requests.notify_smtp_url, not a webhook"
                    );
                }
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
                Some(Notify::Webhook(NotifyConfig {
                    url,
                    secret: Arc::new(secret),
                    interval,
                    timeout,
                }))
            }
            (None, Some(url)) => {
                SmtpConfig::check_url(&url)
                    .map_err(|e| anyhow!("requests.notify_smtp_url: {e}"))?;
                let Some(from) = from else {
                    bail!(
                        "requests.notify_smtp_url needs requests.notify_from (the From address \
                         of the mails, e.g. \"Privacy team <privacy@example.com>\")"
                    );
                };
                let from = SmtpConfig::parse_from(&from)
                    .map_err(|e| anyhow!("requests.notify_from: {e}"))?;
                Some(Notify::Smtp {
                    config: SmtpConfig {
                        url,
                        from,
                        timeout,
                        interval,
                    },
                    email_field: email_field.unwrap_or_else(|| "email".into()),
                })
            }
            (None, None) => {
                if from.is_some() || email_field.is_some() {
                    bail!(
                        "requests.notify_from and requests.notify_email_field are for mail: \
                         they need requests.notify_smtp_url"
                    );
                }
                None
            }
        };
        Ok(Self {
            default_regime,
            notify,
        })
    }
}
