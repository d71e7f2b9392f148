//! Opening a vault from its data directory: config → schema → keys → store → vault, each
//! failure with a message that says what to do.

use std::sync::Arc;

use anyhow::{Context, Result};
use privet_backup::{Ledger, LedgerStore};
use privet_crypto::{
    CryptoError, EnvKey, KeyFile, KeyProvider, Keyring, NoteSigner, SigningKeyFile,
};
use privet_store::Store;
use privet_store_postgres::{PgOptions, PgStore};
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{Schema, Signers, SystemClock, Vault};

use crate::config::{Config, KeySource, StoreLocation};
use crate::requests::Notify;

pub(crate) fn load_schema(path: &std::path::Path) -> Result<Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read schema {}", path.display()))?;
    Schema::from_toml_str(&text)
        .map_err(|e| anyhow::anyhow!("schema {} is invalid:\n{e}", path.display()))
}

/// Where the master keys of `config` come from.
pub(crate) fn key_provider(config: &Config) -> Arc<dyn KeyProvider> {
    match &config.keys {
        KeySource::File(p) => Arc::new(KeyFile::new(p.clone())),
        KeySource::Env(var) => Arc::new(EnvKey::new(var.clone())),
    }
}

pub(crate) fn load_keys(config: &Config) -> Result<Keyring> {
    let provider = key_provider(config);
    provider
        .load()
        .with_context(|| format!("cannot load the master key from {}", provider.describe()))
}

/// Opens the vault of `config` (the store is created if missing, but must be initialised).
pub(crate) async fn open(config: &Config) -> Result<Vault> {
    let schema = load_schema(&config.schema_path)?;
    let keys = load_keys(config)?;
    let store = open_store(&config.store).await?;
    // Every erasure and restriction is appended to the erasure ledger once committed.
    let ledger = Arc::new(Ledger::new(config.ledger.clone()));
    let store: Arc<dyn Store> = Arc::new(LedgerStore::new(store, ledger));
    let mut vault = Vault::open(schema, store, keys, Arc::new(SystemClock)).await?;
    // Mail needs the subject's address: every vault that queues notifications captures it.
    if let Some(Notify::Smtp { email_field, .. }) = &config.requests.notify {
        vault = vault
            .with_notify_recipient(email_field)
            .map_err(|e| anyhow::anyhow!("requests.notify_email_field: {e}"))?;
    }
    Ok(vault
        .with_key_source(key_provider(config))
        .with_signers(load_signers(config)?)
        .with_default_regime(config.requests.default_regime))
}

/// Appends to the erasure ledger the erasures the store holds that it lacks (committed just
/// before a crash, before their append); `serve` does this before it serves.
pub(crate) async fn resync_ledger(config: &Config) -> Result<()> {
    let store = open_store(&config.store).await?;
    let ledger = Ledger::new(config.ledger.clone());
    let added = privet_backup::resync_erasures(store.as_ref(), &ledger)
        .await
        .context("cannot re-sync the erasure ledger")?;
    if added > 0 {
        tracing::warn!(
            added,
            ledger = %config.ledger.display(),
            "erasures committed before a crash were missing from the erasure ledger: appended"
        );
    }
    Ok(())
}

/// A signing key from its file; `None` if the file does not exist (a vault made before
/// the key existed), an error if it exists but cannot be used.
fn load_signer(path: &std::path::Path, what: &str) -> Result<Option<NoteSigner>> {
    match SigningKeyFile::new(path).load() {
        Ok(s) => Ok(Some(s)),
        Err(CryptoError::KeyFileMissing { .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot load the {what} {}", path.display())),
    }
}

/// The vault's signing keys, as far as their files exist; the audit key's name must be the
/// configured origin.
pub(crate) fn load_signers(config: &Config) -> Result<Signers> {
    let audit = load_signer(&config.audit_key_file, "audit signing key")?;
    if let (Some(key), Some(origin)) = (&audit, &config.audit_origin)
        && key.name() != origin
    {
        anyhow::bail!(
            "the audit signing key {} is named `{}` but audit.origin is `{origin}`: the key's \
             name is the log's origin, so they must be the same",
            config.audit_key_file.display(),
            key.name()
        );
    }
    Ok(Signers {
        audit,
        receipts: load_signer(&config.receipt_key_file, "receipt signing key")?,
    })
}

/// The audit signing key alone (for `privet audit key` and `verify`, which need no vault).
pub(crate) fn audit_signer(config: &Config, dir: &std::path::Path) -> Result<NoteSigner> {
    load_signers(config)?
        .audit
        .with_context(|| missing_signing_keys(config, dir))
}

/// What to say when a vault lacks its signing keys.
pub(crate) fn missing_signing_keys(config: &Config, dir: &std::path::Path) -> String {
    format!(
        "the signing keys {} and {} are missing. A vault created before signed audit \
         checkpoints needs them once: run `privet keys create-signing --dir {}`, then copy both \
         files (mode 0600) to every server of this vault",
        config.audit_key_file.display(),
        config.receipt_key_file.display(),
        dir.display()
    )
}

/// Opens (creating and migrating if needed) the store a configuration points at.
pub(crate) async fn open_store(location: &StoreLocation) -> Result<Arc<dyn Store>> {
    Ok(match location {
        StoreLocation::Sqlite(path) => Arc::new(
            SqliteStore::open(path, SqliteOptions::default())
                .with_context(|| format!("cannot open the store {}", path.display()))?,
        ),
        StoreLocation::Postgres { url, ca_file } => Arc::new(
            PgStore::connect(
                url,
                PgOptions {
                    ca_file: ca_file.clone(),
                    ..PgOptions::default()
                },
            )
            .await
            .context("cannot open the PostgreSQL store")?,
        ),
    })
}
