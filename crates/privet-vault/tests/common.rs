//! Shared test setup: a vault on SQLite in a temporary directory with the example schema.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{Actor, Keyring, Schema, SystemClock, Vault};
use serde_json::{Map, Value};

pub const SCHEMA: &str = include_str!("../../privet-core/examples/shop.schema.toml");

pub struct TestVault {
    pub dir: tempfile::TempDir,
    pub vault: Vault,
    pub api_key: String,
}

impl TestVault {
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("privet.db")
    }
}

pub async fn vault() -> TestVault {
    vault_with_schema(SCHEMA).await
}

/// A fresh vault enforcing `schema` (TOML text).
pub async fn vault_with_schema(schema: &str) -> TestVault {
    let dir = tempfile::tempdir().unwrap();
    let (vault, key) = open_new(dir.path(), schema, Keyring::generate()).await;
    TestVault {
        dir,
        vault,
        api_key: key,
    }
}

pub async fn vault_in(dir: &Path, keys: Keyring) -> (Vault, String) {
    open_new(dir, SCHEMA, keys).await
}

async fn open_new(dir: &Path, schema: &str, keys: Keyring) -> (Vault, String) {
    let schema = Schema::from_toml_str(schema).unwrap();
    let store = SqliteStore::open(dir.join("privet.db"), SqliteOptions::default()).unwrap();
    let (vault, key) = Vault::initialize(schema, Arc::new(store), keys, Arc::new(SystemClock))
        .await
        .unwrap();
    (vault, key.expose().to_owned())
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

pub fn actor() -> Actor {
    Actor::cli()
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Which files under `dir` contain `needle` as raw bytes.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn base64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
