//! End to end: the real `privet` binary (`init`, `serve`, `demo`, `import`, `subject`),
//! spoken to over real HTTP and through its command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_privet");

/// Which store a test vault uses.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A new vault in `dir` on `backend`; returns its admin key and, for PostgreSQL, the
/// database (kept alive by the caller, dropped with it).
fn init_on(dir: &Path, backend: Backend) -> (String, Option<TempDatabase>) {
    match backend {
        Backend::Sqlite => (init(dir), None),
        Backend::Postgres => {
            let db = TempDatabase::new();
            (init_with(dir, &["--store-url", &db.url()]), Some(db))
        }
    }
}

fn init(dir: &Path) -> String {
    init_with(dir, &[])
}

fn init_with(dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["init", "--json"])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dir"], json!(dir.display().to_string()));
    v["admin_api_key"].as_str().unwrap().to_owned()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Server {
    serve_with(dir, &[])
}

/// `privet serve` on a free port with extra environment variables.
fn serve_with(dir: &Path, env: &[(&str, &str)]) -> Server {
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .env("PRIVET_LOG", "debug")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| {
            panic!(
                "server did not start: {line:?}; log: {}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            )
        });
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

struct Api {
    http: Client,
    base: String,
    key: String,
}

impl Api {
    fn new(base: &str, key: &str) -> Self {
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            http,
            base: base.to_owned(),
            key: key.to_owned(),
        }
    }

    fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v, headers)
    }

    fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.req(reqwest::Method::GET, path, None);
        (s, v)
    }

    fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.req(reqwest::Method::POST, path, Some(body));
        (s, v)
    }
}

fn problem_type(v: &Value) -> &str {
    v["type"].as_str().unwrap_or_default()
}

mod audit;
mod backup;
mod bad_input;
mod cli;
mod concurrency;
mod consent;
mod durability;
mod faults;
mod monitoring;
mod notify_smtp;
mod portal;
mod postgres;
mod retention;
mod rights;
mod rotation;
mod routes;
mod tls;

/// A fresh database on the server `DATABASE_URL` points at; dropped on drop.
struct TempDatabase {
    admin_url: String,
    name: String,
}

impl TempDatabase {
    fn new() -> Self {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!("DATABASE_URL is not set: run ./scripts/test, which starts PostgreSQL")
        });
        // Unique per test in this process (tests run in parallel) and per process.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("privet_e2e_{}_{n}", std::process::id());
        psql(
            &admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        Self { admin_url, name }
    }

    /// The connection string for this database.
    fn url(&self) -> String {
        if self.admin_url.starts_with("postgres") {
            let (base, query) = self
                .admin_url
                .split_once('?')
                .unwrap_or((&self.admin_url, ""));
            let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            format!("{base}/{}{query}", self.name)
        } else {
            format!("{} dbname={}", self.admin_url, self.name)
        }
    }
}

impl TempDatabase {
    /// Runs `sql` in this database; the unaligned, tuples-only output.
    fn query(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .arg(self.url())
            .args(["-XAtqc", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .arg(url)
        .args(["-qXc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
