//! Shared test setup: a vault with the example schema on either backend. Every test body
//! takes a [`Backend`] and [`backend_tests!`] runs it on SQLite (a temporary directory) and on
//! PostgreSQL (a fresh schema in the database named by `DATABASE_URL`, which
//! `./scripts/test` sets; without it the PostgreSQL cases fail, never skip).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use privet_crypto::KeyProvider;
use privet_store::Store;
use privet_store_postgres::{PgOptions, PgStore};
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_testpg::Cluster;
use privet_vault::{Actor, Keyring, Schema, SystemClock, Vault};
use serde_json::{Map, Value};

pub const SCHEMA: &str = include_str!("../../privet-core/examples/shop.schema.toml");

/// Runs each named `async fn NAME(backend: Backend)` as two tests, `NAME::sqlite` and
/// `NAME::postgres`.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's data lives: a SQLite file in a temporary directory, or a PostgreSQL schema
/// (in `DATABASE_URL`'s database, or in a throwaway cluster whose files the test can read).
pub struct Place {
    pub dir: tempfile::TempDir,
    pg: Option<Pg>,
}

struct Pg {
    url: String,
    schema: String,
    cluster: Option<Cluster>,
}

impl Place {
    /// A new, empty place on `backend`.
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Pg {
                url: database_url(),
                schema: fresh_schema(),
                cluster: None,
            }),
        };
        Self { dir, pg }
    }

    /// Like [`Place::new`], but PostgreSQL runs in a throwaway cluster of its own, so that
    /// [`Place::files_containing`] can read every file the database wrote (tables, WAL, log).
    pub fn isolated(backend: Backend) -> Self {
        let mut place = Self::new(backend);
        if let Some(pg) = &mut place.pg {
            let cluster = Cluster::start();
            cluster.create_database("privet");
            pg.url = cluster.socket_url("privet");
            pg.cluster = Some(cluster);
        }
        place
    }

    pub fn backend(&self) -> Backend {
        if self.pg.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Opens the store (again: the same data each time).
    pub async fn store(&self) -> Arc<dyn Store> {
        match &self.pg {
            None => Arc::new(
                SqliteStore::open(self.dir.path().join("privet.db"), SqliteOptions::default())
                    .unwrap(),
            ),
            Some(pg) => Arc::new(
                PgStore::connect(
                    &pg.url,
                    PgOptions {
                        schema: Some(pg.schema.clone()),
                        pool_size: 4,
                        ..PgOptions::default()
                    },
                )
                .await
                .unwrap(),
            ),
        }
    }

    /// Every stored row, as text: for PostgreSQL `pg_dump --data-only` of the test's schema
    /// (bytea in hex), for SQLite empty (its files are scanned instead).
    pub fn dump(&self) -> String {
        let Some(pg) = &self.pg else {
            return String::new();
        };
        let pg_dump = privet_testpg::pg_bin().join("pg_dump");
        let out = Command::new(pg_dump)
            .args(["--data-only", "--schema", &pg.schema, "--dbname"])
            .arg(&pg.url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = String::from_utf8(out.stdout).unwrap();
        assert!(
            dump.contains("COPY ") && dump.contains(".audit "),
            "the dump must hold the schema's tables: {dump}"
        );
        dump
    }

    /// The files holding `needle`: the SQLite directory, or every file of the throwaway
    /// cluster (after a checkpoint, so table pages are written as well as the WAL). For
    /// PostgreSQL outside an isolated place there are no files to read: empty.
    pub fn files_containing(&self, needle: &[u8]) -> Vec<PathBuf> {
        match &self.pg {
            None => files_containing(self.dir.path(), needle),
            Some(Pg {
                cluster: Some(c), ..
            }) => {
                c.psql("privet", "CHECKPOINT");
                let root = c.data_dir().parent().unwrap().to_path_buf();
                privet_testpg::files_containing(&root, needle)
            }
            Some(_) => Vec::new(),
        }
    }

    /// Whether [`Place::files_containing`] reads real files here.
    pub fn has_files(&self) -> bool {
        self.pg.as_ref().is_none_or(|pg| pg.cluster.is_some())
    }
}

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: PostgreSQL tests need a database. Run ./scripts/test, which \
             starts the machine's PostgreSQL, or set DATABASE_URL (e.g. host=/var/run/postgresql dbname=privet_test)"
        )
    })
}

fn fresh_schema() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("v_{}_{nanos}_{n}", std::process::id())
}

pub struct TestVault {
    pub place: Place,
    pub vault: Vault,
    pub api_key: String,
}

pub async fn vault(backend: Backend) -> TestVault {
    vault_with_schema(backend, SCHEMA).await
}

/// A fresh vault enforcing `schema` (TOML text).
pub async fn vault_with_schema(backend: Backend, schema: &str) -> TestVault {
    vault_at(Place::new(backend), schema, Keyring::generate()).await
}

/// A fresh vault with the example schema and `keys` at `place`.
pub async fn vault_at(place: Place, schema: &str, keys: Keyring) -> TestVault {
    let schema = Schema::from_toml_str(schema).unwrap();
    let store = place.store().await;
    let (vault, key) = Vault::initialize(schema, store, keys, Arc::new(SystemClock))
        .await
        .unwrap();
    TestVault {
        place,
        vault,
        api_key: key.expose().to_owned(),
    }
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
    privet_testpg::files_containing(dir, needle)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn base64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A vault whose keys come from a key file in its place's directory, as `privet serve`
/// opens it (so it re-reads the file on a version miss).
pub async fn served_vault(backend: Backend) -> (TestVault, privet_crypto::KeyFile) {
    let place = Place::new(backend);
    let path = place.dir.path().join("master.key");
    let file = privet_crypto::KeyFile::create(&path, &privet_crypto::Keyring::generate()).unwrap();
    let mut t = vault_at(place, SCHEMA, file.load().unwrap()).await;
    t.vault = t.vault.clone().with_key_source(Arc::new(file.clone()));
    (t, file)
}

/// What `privet keys rotate` does to the key file, and the vault it then runs with.
pub async fn rotate_key_file(t: &TestVault, file: &privet_crypto::KeyFile) -> Vault {
    let rotated = file.load().unwrap().rotated().unwrap();
    file.replace(&rotated).unwrap();
    let schema = Schema::from_toml_str(SCHEMA).unwrap();
    Vault::open(
        schema,
        t.vault.store().clone(),
        file.load().unwrap(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}
