//! The data directory and its configuration: raw TOML + `PRIVET_*` environment overrides,
//! turned into a validated [`Config`] before anything opens a socket or a file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::monitoring::{Monitoring, RawMetrics, RawMonitor};

/// File names inside a data directory.
pub(crate) const CONFIG_FILE: &str = "privet.toml";
pub(crate) const SCHEMA_FILE: &str = "schema.toml";
pub(crate) const KEY_FILE: &str = "master.key";
pub(crate) const DB_FILE: &str = "privet.db";
pub(crate) const AUDIT_KEY_FILE: &str = "audit-signing.key";
pub(crate) const RECEIPT_KEY_FILE: &str = "receipt-signing.key";
/// The erasure ledger's default file (relative to the data directory).
pub(crate) const LEDGER_FILE: &str = "erasures.ledger";
/// How often `serve` signs a checkpoint by default.
pub(crate) const CHECKPOINT_INTERVAL: &str = "60s";
/// How often `serve` runs the retention purge by default.
pub(crate) const RETENTION_INTERVAL: &str = "1h";

/// The default schema: the example shop schema, identical to `shared/examples/schema.toml`.
pub(crate) const DEFAULT_SCHEMA: &str = include_str!("../../privet-core/examples/shop.schema.toml");

/// `privet.toml`, as written by `privet init` (every key with its default), pointing at
/// PostgreSQL when `store_url` is given, with the audit log's origin.
pub(crate) fn default_config_text(store_url: Option<&str>, origin: &str) -> String {
    let origin = toml::Value::String(origin.to_owned());
    let url_line = match store_url {
        // A TOML string literal, quoted and escaped by the toml crate.
        Some(url) => format!("url = {}", toml::Value::String(url.to_owned())),
        None => "# url = \"postgres://privet@db.internal/privet\"".to_owned(),
    };
    format!(
        r#"# Privet configuration. Paths are relative to this directory.
# Every key is shown with its default; PRIVET_* environment variables override them.

# The data inventory: what personal data is kept, why, and for how long.
schema = "{SCHEMA_FILE}"

[server]
# Address to listen on (PRIVET_LISTEN).
listen = "127.0.0.1:8080"
# Largest request body in bytes on ordinary routes, and on /v1/subjects/batch.
body_limit = 1048576
batch_body_limit = 16777216

[store]
# The embedded SQLite database (PRIVET_STORE_PATH), used unless `url` is set.
path = "{DB_FILE}"
# A PostgreSQL database instead (PRIVET_STORE_URL): a postgres:// URL or a libpq
# key=value string. Several `privet serve` processes may share one. TLS follows the URL's
# sslmode: unset means plaintext only to a Unix socket or a loopback address and
# verify-full otherwise; disable; require/verify-ca (chain verified); verify-full (chain
# and host name verified); prefer is taken as verify-full (no silent plaintext fallback).
{url_line}
# CA certificates (PEM) trusted for the database server's certificate besides the
# system's roots (PRIVET_STORE_CA_FILE); the URL's sslrootcert works too. Default: none.
# ca_file = "db-ca.pem"

[keys]
# Where the master key comes from: "file" (mode 0600, refused if group/world readable)
# or "env" (the variable named by `env`). PRIVET_MASTER_KEY, when set, always wins.
source = "file"
file = "{KEY_FILE}"
env = "PRIVET_MASTER_KEY"
# The Ed25519 key that signs consent receipts (mode 0600; PRIVET_RECEIPT_SIGNING_KEY_FILE).
receipt_signing_key_file = "{RECEIPT_KEY_FILE}"

[audit]
# The log's name in its signed checkpoints (the C2SP checkpoint origin). It is the audit
# signing key's name and must match it (PRIVET_AUDIT_ORIGIN). Default: the key's name.
origin = {origin}
# The Ed25519 key that signs checkpoints: separate from the master key, mode 0600
# (PRIVET_AUDIT_SIGNING_KEY_FILE). Every server of one vault needs the same one.
signing_key_file = "{AUDIT_KEY_FILE}"
# How often `privet serve` signs a checkpoint when the log grew: "30s", "5m", "1h";
# "0" turns the timer off (PRIVET_CHECKPOINT_INTERVAL).
checkpoint_interval = "{CHECKPOINT_INTERVAL}"

[retention]
# The purge job of `privet serve`: deletes what the schema's retention says has expired, at
# start and then every `interval` ("30m", "1h", "24h"; "0" or enabled = false: no job;
# PRIVET_RETENTION_INTERVAL). `privet retention run` does the same by hand.
enabled = true
interval = "{RETENTION_INTERVAL}"
# Deletions per transaction.
batch_size = 500
{monitoring}{requests}{backup}
[portal]
# The privacy portal's public origin, which the links of POST /v1/subjects/{{id}}/portal-links
# start with (PRIVET_PORTAL_URL). Unset: http:// and the Host the request came to.
# base_url = "https://privacy.example.com"
# How long a portal link is valid (single use), and a portal session after it: "15m", "1h".
link_ttl = "15m"
session_ttl = "30m"
"#,
        monitoring = crate::monitoring::DEFAULT_TEXT,
        requests = crate::requests::DEFAULT_TEXT,
        backup = BACKUP_TEXT,
    )
}

/// The `[backup]` section of a new `privet.toml`.
const BACKUP_TEXT: &str = r#"
[backup]
# The erasure ledger: every erasure and restriction of processing (subject id, time and
# kind; nothing else) is appended here and fsynced before it is acknowledged, outside the
# database and outside backups; `privet backup restore` replays it so erased customers stay
# erased (PRIVET_LEDGER). Put it on another disk than the database, or copy it off-machine.
ledger = "erasures.ledger"
"#;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    ledger: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    schema: Option<String>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    monitor: RawMonitor,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    requests: crate::requests::RawRequests,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    backup: RawBackup,
    #[serde(default)]
    portal: RawPortal,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    enabled: Option<bool>,
    interval: Option<String>,
    batch_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortal {
    base_url: Option<String>,
    link_ttl: Option<String>,
    session_ttl: Option<String>,
}

/// The portal section, validated.
fn portal_config(raw: RawPortal) -> Result<privet_server::PortalConfig> {
    let ttl =
        |key: &str, value: Option<String>, default: time::Duration| -> Result<time::Duration> {
            let Some(v) = value else { return Ok(default) };
            let d = crate::monitoring::parse_duration(&v)
                .and_then(|d| time::Duration::try_from(d).ok())
                .filter(|d| *d >= time::Duration::SECOND && *d <= time::Duration::hours(24))
                .with_context(|| {
                    format!("portal.{key} `{v}` is not a duration from 1s to 24h like \"15m\"")
                })?;
            Ok(d)
        };
    let base_url = std::env::var("PRIVET_PORTAL_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .or(raw.base_url);
    if let Some(u) = &base_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        bail!("portal.base_url `{u}` must start with https:// (or http://)");
    }
    Ok(privet_server::PortalConfig {
        base_url,
        link_ttl: ttl("link_ttl", raw.link_ttl, privet_vault::DEFAULT_LINK_TTL)?,
        session_ttl: ttl(
            "session_ttl",
            raw.session_ttl,
            privet_vault::DEFAULT_SESSION_TTL,
        )?,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    origin: Option<String>,
    signing_key_file: Option<String>,
    checkpoint_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    body_limit: Option<usize>,
    batch_body_limit: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<String>,
    url: Option<String>,
    ca_file: Option<String>,
}

impl std::fmt::Debug for RawStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStore")
            .field("path", &self.path)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// Where the data lives.
#[derive(Clone)]
pub(crate) enum StoreLocation {
    /// The embedded SQLite database file.
    Sqlite(PathBuf),
    /// PostgreSQL.
    Postgres {
        /// The connection string (may hold a password: never printed).
        url: String,
        /// Extra CA certificates for the server's TLS certificate.
        ca_file: Option<PathBuf>,
    },
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Self::Postgres { ca_file, .. } => f
                .debug_struct("Postgres")
                .field("url", &"[redacted]")
                .field("ca_file", ca_file)
                .finish(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    source: Option<String>,
    file: Option<String>,
    env: Option<String>,
    receipt_signing_key_file: Option<String>,
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    File(PathBuf),
    Env(String),
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) schema_path: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) body_limit: usize,
    pub(crate) batch_body_limit: usize,
    pub(crate) store: StoreLocation,
    pub(crate) keys: KeySource,
    pub(crate) monitoring: Monitoring,
    /// The audit signing key's file.
    pub(crate) audit_key_file: PathBuf,
    /// The log's origin, if configured (else the audit key's name).
    pub(crate) audit_origin: Option<String>,
    /// How often `serve` signs a checkpoint; `None` = never on a timer.
    pub(crate) checkpoint_interval: Option<Duration>,
    /// The consent-receipt signing key's file.
    pub(crate) receipt_key_file: PathBuf,
    /// Rights requests: default regime, notification webhook.
    pub(crate) requests: crate::requests::Requests,
    /// How often `serve` runs the retention purge; `None` = no purge job.
    pub(crate) retention_interval: Option<Duration>,
    /// Deletions per purge transaction.
    pub(crate) retention_batch_size: usize,
    /// The erasure ledger's file.
    pub(crate) ledger: PathBuf,
    /// The privacy portal's settings.
    pub(crate) portal: privet_server::PortalConfig,
}

/// Parses an interval: a whole number with an `s`, `m` or `h` suffix (bare = seconds);
/// `0` means none.
pub(crate) fn parse_interval(text: &str) -> Result<Option<Duration>> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = digits
        .parse()
        .ok()
        .filter(|_| !digits.is_empty())
        .with_context(|| format!("`{text}` is not an interval like \"60s\", \"5m\" or \"1h\""))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    }
    .with_context(|| format!("`{text}` is not an interval like \"60s\", \"5m\" or \"1h\""))?;
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

impl Config {
    /// Loads `DIR/privet.toml` and applies environment overrides.
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no Privet vault at {} (run `privet init --dir {}` first)",
                dir.display(),
                dir.display()
            )
        })?;
        let raw: RawConfig = toml::from_str(&text)
            .with_context(|| format!("invalid configuration in {}", path.display()))?;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let listen = env("PRIVET_LISTEN")
            .or(raw.server.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen.parse().with_context(|| {
            format!("server.listen `{listen}` is not an address like 127.0.0.1:8080")
        })?;
        let rel = |p: String| dir.join(p);
        let key_env = raw.keys.env.unwrap_or_else(|| "PRIVET_MASTER_KEY".into());
        let keys = if env("PRIVET_MASTER_KEY").is_some() {
            KeySource::Env("PRIVET_MASTER_KEY".into())
        } else {
            match raw.keys.source.as_deref().unwrap_or("file") {
                "file" => KeySource::File(
                    env("PRIVET_MASTER_KEY_FILE")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| rel(raw.keys.file.unwrap_or_else(|| KEY_FILE.into()))),
                ),
                "env" => KeySource::Env(key_env),
                other => bail!("keys.source must be \"file\" or \"env\", not `{other}`"),
            }
        };
        let retention_interval = parse_interval(
            &env("PRIVET_RETENTION_INTERVAL")
                .or(raw.retention.interval)
                .unwrap_or_else(|| RETENTION_INTERVAL.into()),
        )
        .context("retention.interval")?
        .filter(|_| raw.retention.enabled.unwrap_or(true));
        let retention_batch_size = raw.retention.batch_size.unwrap_or(500);
        if retention_batch_size == 0 {
            bail!("retention.batch_size must be at least 1");
        }
        Ok(Self {
            retention_interval,
            retention_batch_size,
            schema_path: rel(raw.schema.unwrap_or_else(|| SCHEMA_FILE.into())),
            listen,
            body_limit: raw.server.body_limit.unwrap_or(1024 * 1024),
            batch_body_limit: raw.server.batch_body_limit.unwrap_or(16 * 1024 * 1024),
            store: match env("PRIVET_STORE_URL").or(raw.store.url) {
                Some(url) => StoreLocation::Postgres {
                    url,
                    ca_file: env("PRIVET_STORE_CA_FILE")
                        .map(PathBuf::from)
                        .or_else(|| raw.store.ca_file.map(rel)),
                },
                None => StoreLocation::Sqlite(
                    env("PRIVET_STORE_PATH")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| rel(raw.store.path.unwrap_or_else(|| DB_FILE.into()))),
                ),
            },
            keys,
            monitoring: Monitoring::from_raw(raw.monitor, raw.metrics, dir)?,
            audit_key_file: env("PRIVET_AUDIT_SIGNING_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    rel(raw
                        .audit
                        .signing_key_file
                        .unwrap_or_else(|| AUDIT_KEY_FILE.into()))
                }),
            audit_origin: env("PRIVET_AUDIT_ORIGIN").or(raw.audit.origin),
            checkpoint_interval: parse_interval(
                &env("PRIVET_CHECKPOINT_INTERVAL")
                    .or(raw.audit.checkpoint_interval)
                    .unwrap_or_else(|| CHECKPOINT_INTERVAL.into()),
            )
            .context("audit.checkpoint_interval")?,
            receipt_key_file: env("PRIVET_RECEIPT_SIGNING_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    rel(raw
                        .keys
                        .receipt_signing_key_file
                        .unwrap_or_else(|| RECEIPT_KEY_FILE.into()))
                }),
            requests: crate::requests::Requests::from_raw(raw.requests, dir)?,
            ledger: env("PRIVET_LEDGER")
                .map(PathBuf::from)
                .unwrap_or_else(|| rel(raw.backup.ledger.unwrap_or_else(|| LEDGER_FILE.into()))),
            portal: portal_config(raw.portal)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units_and_zero_turns_the_timer_off() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(parse_interval("60s").unwrap(), s(60));
        assert_eq!(parse_interval("90").unwrap(), s(90));
        assert_eq!(parse_interval("5m").unwrap(), s(300));
        assert_eq!(parse_interval("2h").unwrap(), s(7200));
        assert_eq!(parse_interval("0").unwrap(), None);
        assert_eq!(parse_interval("0s").unwrap(), None);
        for bad in ["", "s", "1d", "-5s", "1.5m", "ten", "99999999999999999999h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
