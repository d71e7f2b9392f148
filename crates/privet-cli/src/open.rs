//! Opening a vault from its data directory: config → schema → keys → store → vault, each
//! failure with a message that says what to do.

use std::sync::Arc;

use anyhow::{Context, Result};
use privet_crypto::{EnvKey, KeyFile, KeyProvider, Keyring};
use privet_store::Store;
use privet_store_postgres::{PgOptions, PgStore};
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{Schema, SystemClock, Vault};

use crate::config::{Config, KeySource, StoreLocation};

pub(crate) fn load_schema(path: &std::path::Path) -> Result<Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read schema {}", path.display()))?;
    Schema::from_toml_str(&text)
        .map_err(|e| anyhow::anyhow!("schema {} is invalid:\n{e}", path.display()))
}

pub(crate) fn load_keys(config: &Config) -> Result<Keyring> {
    let provider: Box<dyn KeyProvider> = match &config.keys {
        KeySource::File(p) => Box::new(KeyFile::new(p.clone())),
        KeySource::Env(var) => Box::new(EnvKey::new(var.clone())),
    };
    provider
        .load()
        .with_context(|| format!("cannot load the master key from {}", provider.describe()))
}

/// Opens the vault of `config` (the store is created if missing, but must be initialised).
pub(crate) async fn open(config: &Config) -> Result<Vault> {
    let schema = load_schema(&config.schema_path)?;
    let keys = load_keys(config)?;
    let store = open_store(&config.store).await?;
    let vault = Vault::open(schema, store, keys, Arc::new(SystemClock)).await?;
    Ok(vault)
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
