//! The `[monitor]` and `[metrics]` sections of `privet.toml`: access-monitoring thresholds,
//! the alert webhook and its signing secret, and who may read `/metrics` — raw TOML and
//! `PRIVET_*` overrides turned into validated settings before the server starts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use privet_crypto::SharedSecret;
use privet_server::{MetricsAccess, WebhookConfig};
use privet_vault::{MAX_THRESHOLD, MonitorConfig};
use serde::Deserialize;

/// The sections as `privet init` writes them: every key with its default.
pub(crate) const DEFAULT_TEXT: &str = r#"
[monitor]
# Access monitoring. Each server counts, per principal and within a sliding window, the
# distinct subjects whose data it was shown, its refused requests, and its exports; more
# than a threshold raises one alert per window (log, audit entry, webhook). 0 turns one off.
window = "10m"
max_distinct_subjects = 1000
max_denials = 50
max_exports = 100
# Suspend a principal that crosses a threshold, until an admin lifts it
# (`privet principal unsuspend ID` or DELETE /v1/principals/ID/suspension).
auto_suspend = false
# POST each alert as JSON, signed with HMAC-SHA256 in the Privet-Signature header
# (PRIVET_WEBHOOK_URL). Failed deliveries are retried with a doubling delay.
# webhook_url = "https://alerts.internal/privet"
# The signing secret, at least 32 bytes: a file only its owner can read, or the
# variable PRIVET_WEBHOOK_SECRET.
# webhook_secret_file = "webhook.secret"
webhook_attempts = 8
webhook_backoff = "1s"
webhook_timeout = "10s"

[metrics]
# GET /metrics (Prometheus) needs `Authorization: Bearer <token>`, with the token (at
# least 32 bytes) in this file (mode 0600) or in PRIVET_METRICS_TOKEN. Without a token it
# answers 404, unless `public = true` (only where the network keeps others out).
# token_file = "metrics.token"
public = false
"#;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMonitor {
    window: Option<String>,
    max_distinct_subjects: Option<u32>,
    max_denials: Option<u32>,
    max_exports: Option<u32>,
    auto_suspend: Option<bool>,
    webhook_url: Option<String>,
    webhook_secret_file: Option<String>,
    webhook_attempts: Option<u32>,
    webhook_backoff: Option<String>,
    webhook_timeout: Option<String>,
}

impl std::fmt::Debug for RawMonitor {
    // The webhook URL may carry a token (many receivers put one in the path): not printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMonitor")
            .field("window", &self.window)
            .field("auto_suspend", &self.auto_suspend)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    token_file: Option<String>,
    public: Option<bool>,
}

/// Validated monitoring settings.
#[derive(Debug, Clone)]
pub(crate) struct Monitoring {
    pub(crate) monitor: MonitorConfig,
    pub(crate) webhook: Option<WebhookConfig>,
    pub(crate) metrics: MetricsAccess,
}

/// Parses `500ms`, `30s`, `10m`, `2h` or `1d`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = |k: u64| n.checked_mul(k).map(Duration::from_secs);
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => None,
    }
}

pub(crate) fn duration(key: &str, value: Option<String>, default: Duration) -> Result<Duration> {
    match value {
        None => Ok(default),
        Some(v) => parse_duration(&v).with_context(|| {
            format!(
                "{key} `{v}` is not a duration like \"500ms\", \"30s\", \"10m\", \"2h\" or \"1d\""
            )
        }),
    }
}

fn threshold(key: &str, value: Option<u32>, default: u32) -> Result<Option<u32>> {
    match value.unwrap_or(default) {
        0 => Ok(None),
        n if n > MAX_THRESHOLD => bail!("monitor.{key} must be at most {MAX_THRESHOLD}"),
        n => Ok(Some(n)),
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

impl Monitoring {
    /// Validates the sections; relative paths are taken from `dir`.
    pub(crate) fn from_raw(m: RawMonitor, metrics: RawMetrics, dir: &Path) -> Result<Self> {
        let defaults = MonitorConfig::default();
        let window = duration("monitor.window", m.window, defaults.window)?;
        if window < Duration::from_secs(1) {
            bail!("monitor.window must be at least 1s");
        }
        let monitor = MonitorConfig {
            window,
            max_distinct_subjects: threshold(
                "max_distinct_subjects",
                m.max_distinct_subjects,
                1000,
            )?,
            max_denials: threshold("max_denials", m.max_denials, 50)?,
            max_exports: threshold("max_exports", m.max_exports, 100)?,
            auto_suspend: m.auto_suspend.unwrap_or(false),
        };
        let webhook = match env("PRIVET_WEBHOOK_URL").or(m.webhook_url) {
            None => None,
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("monitor.webhook_url must be an http:// or https:// URL");
                }
                let secret = match (env("PRIVET_WEBHOOK_SECRET"), m.webhook_secret_file) {
                    (Some(v), _) => SharedSecret::from_text(&v, "PRIVET_WEBHOOK_SECRET")?,
                    (None, Some(f)) => SharedSecret::from_file(&dir.join(f))?,
                    (None, None) => bail!(
                        "monitor.webhook_url needs a signing secret: set monitor.webhook_secret_file or PRIVET_WEBHOOK_SECRET"
                    ),
                };
                let attempts = m.webhook_attempts.unwrap_or(8);
                if !(1..=100).contains(&attempts) {
                    bail!("monitor.webhook_attempts must be from 1 to 100");
                }
                Some(WebhookConfig {
                    url,
                    secret: Arc::new(secret),
                    attempts,
                    backoff: duration(
                        "monitor.webhook_backoff",
                        m.webhook_backoff,
                        Duration::from_secs(1),
                    )?,
                    timeout: duration(
                        "monitor.webhook_timeout",
                        m.webhook_timeout,
                        Duration::from_secs(10),
                    )?,
                })
            }
        };
        let token = match (env("PRIVET_METRICS_TOKEN"), metrics.token_file) {
            (Some(v), _) => Some(SharedSecret::from_text(&v, "PRIVET_METRICS_TOKEN")?),
            (None, Some(f)) => Some(SharedSecret::from_file(&dir.join(f))?),
            (None, None) => None,
        };
        let metrics = match (token, metrics.public.unwrap_or(false)) {
            (Some(_), true) => {
                bail!("metrics.public = true and a metrics token are both set: choose one")
            }
            (Some(t), false) => MetricsAccess::Token(Arc::new(t)),
            (None, true) => MetricsAccess::Public,
            (None, false) => MetricsAccess::Off,
        };
        Ok(Self {
            monitor,
            webhook,
            metrics,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 2h "), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        for bad in [
            "10",
            "m",
            "",
            "-1s",
            "1.5s",
            "10 m",
            "10y",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_defaults_are_written_and_parse_to_the_built_in_values() {
        #[derive(Deserialize)]
        struct Sections {
            monitor: RawMonitor,
            metrics: RawMetrics,
        }
        let s: Sections = toml::from_str(DEFAULT_TEXT).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let m = Monitoring::from_raw(s.monitor, s.metrics, dir.path()).unwrap();
        assert_eq!(m.monitor, MonitorConfig::default());
        assert!(m.webhook.is_none());
        assert!(matches!(m.metrics, MetricsAccess::Off));
    }
}
