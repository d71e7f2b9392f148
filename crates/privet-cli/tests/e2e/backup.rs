//! Encrypted backups and the erasure ledger, through the real binary: an erased customer
//! does not come back from an older backup; truncated, tampered, foreign-key and
//! ledger-less restores are refused with nothing written; kill -9 during a backup or a
//! restore leaves nothing that looks finished, and a re-run works. The cases that touch the
//! store run on SQLite and on PostgreSQL (a PostgreSQL backup restores into an empty database
//! given by `--store-url`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::json;

use super::*;

fn privet(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded but should not: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `backup restore FILE --dir TARGET --key-file KEY [--store-url URL]`.
fn restore_args<'a>(
    file: &'a Path,
    target: &'a Path,
    key: &'a Path,
    url: Option<&'a str>,
) -> Vec<&'a str> {
    let mut args = vec![
        "backup",
        "restore",
        s(file),
        "--dir",
        s(target),
        "--key-file",
        s(key),
    ];
    if let Some(url) = url {
        args.extend(["--store-url", url]);
    }
    args
}

fn put(dir: &Path, data: serde_json::Value) -> String {
    let out = ok(privet(&[
        "subject",
        "put",
        "--dir",
        s(dir),
        &data.to_string(),
    ]));
    out.split_whitespace()
        .find(|w| w.starts_with("sub_"))
        .unwrap()
        .to_owned()
}

fn erase(dir: &Path, id: &str) {
    ok(privet(&["subject", "erase", "--dir", s(dir), id, "--yes"]));
}

fn exists(dir: &Path, id: &str) -> bool {
    privet(&[
        "subject",
        "get",
        "--dir",
        s(dir),
        id,
        "--purpose",
        "essential.service",
    ])
    .status
    .success()
}

/// A vault in `root/vault` with a customer to erase later and one to keep.
struct Fixture {
    root: tempfile::TempDir,
    backend: Backend,
    /// The vault's database (PostgreSQL).
    db: Option<TempDatabase>,
    /// Databases restores went into (PostgreSQL), dropped with the fixture.
    restored: std::cell::RefCell<Vec<TempDatabase>>,
    erased: String,
    kept: String,
}

impl Fixture {
    fn new() -> Self {
        Self::on(Backend::Sqlite)
    }

    fn on(backend: Backend) -> Self {
        let root = tempfile::tempdir().unwrap();
        let vault = root.path().join("vault");
        let (_, db) = init_on(&vault, backend);
        let erased = put(
            &vault,
            json!({"email": "canary-7q2x@example.com", "name": "Canaryname Qzxw"}),
        );
        let kept = put(&vault, json!({"email": "kept@example.com", "name": "Kept"}));
        Self {
            root,
            backend,
            db,
            restored: Default::default(),
            erased,
            kept,
        }
    }

    fn vault(&self) -> PathBuf {
        self.root.path().join("vault")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn key(&self) -> PathBuf {
        self.vault().join("master.key")
    }

    fn backup(&self, name: &str) -> PathBuf {
        let file = self.path(name);
        ok(privet(&[
            "backup",
            "create",
            "--dir",
            s(&self.vault()),
            s(&file),
        ]));
        file
    }

    /// On PostgreSQL, a new empty database to restore into (its URL).
    fn target_db(&self) -> Option<String> {
        match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let db = TempDatabase::new();
                let url = db.url();
                self.restored.borrow_mut().push(db);
                Some(url)
            }
        }
    }

    /// Restores `file` into `target` (and, on PostgreSQL, into a new database).
    fn restore(&self, file: &Path, target: &Path, extra: &[&str]) -> Output {
        let url = self.target_db();
        self.restore_to(file, target, url.as_deref(), extra)
    }

    fn restore_to(&self, file: &Path, target: &Path, url: Option<&str>, extra: &[&str]) -> Output {
        let key = self.key();
        let mut args = restore_args(file, target, &key, url);
        args.extend_from_slice(extra);
        privet(&args)
    }

    /// The erased customer's stored secrets in the source database.
    fn canaries(&self) -> Vec<Vec<u8>> {
        stored_canaries(&self.vault(), self.db.as_ref(), &self.erased)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// The values of a query's one column, read as hex: `sql` names the column's hex with
/// `HEX(col)` and a subject id with `ID`, written for the vault's backend here.
fn hex_rows(vault: &Path, db: Option<&TempDatabase>, sql: &str, id: &str) -> Vec<Vec<u8>> {
    let raw = hex(uuid::Uuid::parse_str(id.trim_start_matches("sub_"))
        .unwrap()
        .as_bytes());
    match db {
        None => {
            let sql = sql
                .replace("HEX(", "hex(")
                .replace("ID", &format!("X'{raw}'"));
            let c = rusqlite::Connection::open(vault.join("privet.db")).unwrap();
            let mut st = c.prepare(&sql).unwrap();
            let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
            rows.map(|h| unhex(&h.unwrap().to_lowercase())).collect()
        }
        Some(db) => {
            let mut sql = sql.replace("ID", &format!("'\\x{raw}'::bytea"));
            while let Some(at) = sql.find("HEX(") {
                let end = at + sql[at..].find(')').unwrap();
                let col = sql[at + 4..end].to_owned();
                sql.replace_range(at..=end, &format!("encode({col}, 'hex')"));
            }
            db.query(&sql).lines().map(unhex).collect()
        }
    }
}

/// The erased subject's stored secrets in the source database: its wrapped key and the
/// blind-index terms of its records (both random-looking bytes that occur nowhere else).
fn stored_canaries(vault: &Path, db: Option<&TempDatabase>, id: &str) -> Vec<Vec<u8>> {
    let mut out = hex_rows(
        vault,
        db,
        "SELECT HEX(wrapped_key) FROM subjects WHERE id = ID",
        id,
    );
    // SQLite keeps fresh index terms in a second table until they are merged.
    let tables: &[&str] = match db {
        None => &["blind_index", "blind_index_recent"],
        Some(_) => &["blind_index"],
    };
    for table in tables {
        out.extend(hex_rows(
            vault,
            db,
            &format!(
                "SELECT HEX(term) FROM {table} WHERE record_id IN \
                 (SELECT id FROM records WHERE subject_id = ID)"
            ),
            id,
        ));
    }
    assert!(out.len() >= 2, "the subject has a key and index terms");
    out
}

/// Every byte a restored vault keeps: its files and, when its privet.toml names a PostgreSQL
/// database, every row of that database as `pg_dump` writes it (bytea as hex).
fn restored_bytes(target: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = files_under(target)
        .into_iter()
        .map(|(p, b)| (p.display().to_string(), b))
        .collect();
    let config: toml::Table = std::fs::read_to_string(target.join("privet.toml"))
        .unwrap()
        .parse()
        .unwrap();
    if let Some(url) = config
        .get("store")
        .and_then(|t| t.get("url"))
        .and_then(|u| u.as_str())
    {
        let dump = Command::new(privet_testpg::pg_bin().join("pg_dump"))
            .args(["--data-only", "--dbname", url])
            .output()
            .unwrap();
        assert!(
            dump.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        out.push(("the restored database".into(), dump.stdout));
    }
    out
}

/// Whether `hay` holds `needle` as bytes or as hex (how a dump shows a bytea).
fn holds(hay: &[u8], needle: &[u8]) -> bool {
    contains(hay, needle) || contains(hay, hex(needle).as_bytes())
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_erased_customer_does_not_come_back_from_an_older_backup_and_leaves_no_bytes_behind() {
    erased_customer_stays_erased(Backend::Sqlite);
}

#[test]
fn an_erased_customer_does_not_come_back_from_an_older_postgres_backup() {
    erased_customer_stays_erased(Backend::Postgres);
}

fn erased_customer_stays_erased(backend: Backend) {
    let f = Fixture::on(backend);
    let canaries = f.canaries();
    let backup = f.backup("before-erasure.privet-backup");
    ok(privet(&[
        "backup",
        "verify",
        s(&backup),
        "--key-file",
        s(&f.key()),
    ]));
    // The backup file holds no plaintext.
    let bytes = std::fs::read(&backup).unwrap();
    assert!(!contains(&bytes, b"canary-7q2x") && !contains(&bytes, b"Canaryname"));

    erase(&f.vault(), &f.erased);
    let ledger = std::fs::read_to_string(f.vault().join("erasures.ledger")).unwrap();
    assert!(ledger.contains(&format!(" erase {}", f.erased)), "{ledger}");

    let target = f.path("restored");
    if let Some(db) = &f.db {
        // Never into a database that holds anything (here: the live vault's own).
        let err = failed(f.restore_to(&backup, &target, Some(&db.url()), &[]));
        assert!(err.contains("empty database"), "{err}");
        assert!(!target.exists());
        assert!(exists(&f.vault(), &f.kept));
    }
    let out = ok(f.restore(&backup, &target, &[]));
    assert!(out.contains("1 erased again"), "{out}");
    assert!(!exists(&target, &f.erased), "the erased customer came back");
    assert!(exists(&target, &f.kept));
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
    // Raw scan of every restored file (and, on PostgreSQL, every restored row): no
    // plaintext, no key, no index term of the customer.
    let scanned = restored_bytes(&target);
    assert!(scanned.len() >= 2);
    for (what, bytes) in scanned {
        assert!(
            !contains(&bytes, b"canary-7q2x") && !contains(&bytes, b"Canaryname"),
            "plaintext in {what}"
        );
        for c in &canaries {
            assert!(!holds(&bytes, c), "erased bytes in {what}");
        }
    }
    // The restored vault's own ledger already lists the erasure.
    let own = std::fs::read_to_string(target.join("erasures.ledger")).unwrap();
    assert!(own.contains(&f.erased));
}

#[test]
fn writes_during_a_backup_succeed_and_the_backup_restores_to_a_consistent_vault() {
    online_backup(Backend::Sqlite);
}

#[test]
fn writes_during_a_postgres_backup_succeed_and_the_backup_restores_to_a_consistent_vault() {
    online_backup(Backend::Postgres);
}

fn online_backup(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let vault = root.path().join("vault");
    let (admin, _db) = init_on(&vault, backend);
    let server = serve(&vault);
    let api = Api::new(&server.base, &admin);
    let create = |i: usize| {
        let (st, _) = api.post(
            "/v1/subjects",
            json!({"data": {"email": format!("w{i}@example.com")}}),
        );
        assert_eq!(st, StatusCode::CREATED, "a write during a backup failed");
    };
    // A backup holding its snapshot open (paused mid-stream) does not hold writes up.
    let mut held = Command::new(BIN)
        .args([
            "backup",
            "create",
            "--dir",
            s(&vault),
            s(&root.path().join("held")),
        ])
        .env("PRIVET_FAULT_PAUSE_AFTER_ROWS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_pause(&mut held);
    for i in 0..5 {
        create(i);
    }
    held.kill().unwrap();
    held.wait().unwrap();
    // A backup taken while a client keeps writing completes, and restores to a vault whose
    // audit tree verifies and whose tables match the manifest (restore checks the counts).
    let stop = std::sync::atomic::AtomicBool::new(false);
    let file = root.path().join("online.privet-backup");
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut i = 100;
            loop {
                create(i);
                i += 1;
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return i - 100;
                }
            }
        });
        ok(privet(&["backup", "create", "--dir", s(&vault), s(&file)]));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0);
    });
    drop(server);
    let target = root.path().join("restored");
    let target_db = matches!(backend, Backend::Postgres).then(TempDatabase::new);
    let url = target_db.as_ref().map(TempDatabase::url);
    let key = vault.join("master.key");
    ok(privet(&restore_args(&file, &target, &key, url.as_deref())));
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
}

#[test]
fn truncated_or_tampered_backups_are_refused_by_verify_and_restore_and_nothing_is_written() {
    tampered_backups_are_refused(Backend::Sqlite);
}

#[test]
fn truncated_or_tampered_postgres_backups_are_refused_and_nothing_is_written() {
    tampered_backups_are_refused(Backend::Postgres);
}

fn tampered_backups_are_refused(backend: Backend) {
    let f = Fixture::on(backend);
    let good = f.backup("good.privet-backup");
    let bytes = std::fs::read(&good).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() - 7].to_vec()),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
    ];
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 20] ^= 0x01;
    cases.push(("damaged", flipped));
    // A changed manifest (the header is authenticated as the chunks' associated data).
    let mut header = bytes.clone();
    let at = header.windows(9).position(|w| w == b"\"backend\"").unwrap();
    header[at + 12] ^= 0x20; // "sqlite" -> "sQlite", "postgres" -> "pOstgres"
    cases.push(("damaged", header));
    for (i, (what, data)) in cases.into_iter().enumerate() {
        let file = f.path(&format!("bad-{i}.privet-backup"));
        std::fs::write(&file, &data).unwrap();
        let err = failed(privet(&[
            "backup",
            "verify",
            s(&file),
            "--key-file",
            s(&f.key()),
        ]));
        assert!(err.contains(what), "case {i}: {err}");
        let target = f.path(&format!("restored-{i}"));
        let url = f.target_db();
        let err = failed(f.restore_to(&file, &target, url.as_deref(), &[]));
        assert!(err.contains(what), "case {i}: {err}");
        if let Some(db) = f.restored.borrow().last() {
            assert_eq!(
                db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
                "0\n",
                "case {i}: a refused restore wrote the database"
            );
        }
        assert!(
            !target.exists(),
            "case {i}: a refused restore wrote the target"
        );
        assert!(
            !f.path(&format!(".restored-{i}.restore-partial")).exists(),
            "case {i}: a refused restore left its staging directory"
        );
    }
}

#[test]
fn a_backup_read_with_another_vaults_master_key_is_refused_clearly() {
    let f = Fixture::new();
    let file = f.backup("b.privet-backup");
    let other = f.path("other");
    init(&other);
    let other_key = other.join("master.key");
    let err = failed(privet(&[
        "backup",
        "verify",
        s(&file),
        "--key-file",
        s(&other_key),
    ]));
    assert!(err.contains("wrong master key"), "{err}");
    let target = f.path("restored");
    let err = failed(privet(&restore_args(&file, &target, &other_key, None)));
    assert!(err.contains("wrong master key"), "{err}");
    assert!(!target.exists());
}

#[test]
fn a_restore_without_its_ledger_is_refused_unless_the_risk_is_accepted() {
    let f = Fixture::new();
    let file = f.backup("b.privet-backup");
    erase(&f.vault(), &f.erased);
    let moved = f.path("ledger-elsewhere");
    std::fs::rename(f.vault().join("erasures.ledger"), &moved).unwrap();
    let target = f.path("restored");
    let err = failed(f.restore(&file, &target, &[]));
    assert!(
        err.contains("--accept-missing-ledger") && err.contains("come back"),
        "{err}"
    );
    assert!(!target.exists());
    // Given where it is, the ledger is replayed.
    ok(f.restore(&file, &target, &["--ledger", s(&moved)]));
    assert!(!exists(&target, &f.erased));
    // Accepting the risk restores the customer the ledger would have erased: what the
    // refusal warned about.
    let risky = f.path("risky");
    let out = f.restore(&file, &risky, &["--accept-missing-ledger"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    assert!(err.contains("back"), "{err}");
    assert!(exists(&risky, &f.erased));
}

#[test]
fn a_non_empty_target_is_refused() {
    let f = Fixture::new();
    let file = f.backup("b.privet-backup");
    let err = failed(f.restore(&file, &f.vault(), &[]));
    assert!(err.contains("not empty"), "{err}");
}

/// Starts `args` with the fault-injection pause, waits until it has paused mid-stream, and
/// kills it with SIGKILL.
fn kill_when_paused(args: &[&str]) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("PRIVET_FAULT_PAUSE_AFTER_ROWS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_pause(&mut child);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Reads `child`'s stderr until the fault-injection pause is announced (log lines may come
/// first).
fn wait_for_pause(child: &mut std::process::Child) {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "exited before pausing: {seen}"
        );
        seen.push_str(&line);
        if line.contains("fault injection: paused") {
            return;
        }
    }
}

#[test]
fn a_backup_killed_midway_leaves_no_file_that_passes_for_a_backup_and_a_rerun_works() {
    killed_backup(Backend::Sqlite);
}

#[test]
fn a_postgres_backup_killed_midway_leaves_no_backup_and_a_rerun_works() {
    killed_backup(Backend::Postgres);
}

fn killed_backup(backend: Backend) {
    let f = Fixture::on(backend);
    let file = f.path("b.privet-backup");
    kill_when_paused(&["backup", "create", "--dir", s(&f.vault()), s(&file)]);
    assert!(!file.exists(), "a killed backup has the backup's name");
    let partial = f.path("b.privet-backup.partial");
    assert!(partial.exists());
    let err = failed(privet(&[
        "backup",
        "verify",
        s(&partial),
        "--key-file",
        s(&f.key()),
    ]));
    assert!(
        err.contains("truncated") || err.contains("damaged") || err.contains("not a Privet backup"),
        "{err}"
    );
    // A re-run replaces the leftover and completes.
    ok(privet(&[
        "backup",
        "create",
        "--dir",
        s(&f.vault()),
        s(&file),
    ]));
    ok(privet(&[
        "backup",
        "verify",
        s(&file),
        "--key-file",
        s(&f.key()),
    ]));
}

#[test]
fn a_restore_killed_midway_leaves_no_target_and_a_rerun_restores_with_erasures_replayed() {
    killed_restore(Backend::Sqlite);
}

#[test]
fn a_postgres_restore_killed_midway_leaves_the_database_empty_and_a_rerun_restores() {
    killed_restore(Backend::Postgres);
}

fn killed_restore(backend: Backend) {
    let f = Fixture::on(backend);
    let file = f.backup("b.privet-backup");
    erase(&f.vault(), &f.erased);
    let target = f.path("restored");
    let url = f.target_db();
    let key = f.key();
    kill_when_paused(&restore_args(&file, &target, &key, url.as_deref()));
    assert!(
        !target.exists(),
        "a killed restore left something at the target"
    );
    assert!(f.path(".restored.restore-partial").exists());
    if let Some(db) = f.restored.borrow().last() {
        // The load is one transaction: killed, it left no table behind.
        assert_eq!(
            db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
            "0\n"
        );
    }
    // The re-run goes into the same (still empty) database.
    let out = f.restore_to(&file, &target, url.as_deref(), &[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    assert!(err.contains("unfinished restore"), "{err}");
    assert!(!f.path(".restored.restore-partial").exists());
    assert!(!exists(&target, &f.erased));
    assert!(exists(&target, &f.kept));
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
}

/// The stored field ciphertexts of `id`'s records in `collections` (random-looking bytes
/// that occur nowhere else), from the source database.
fn stored_fields(
    vault: &Path,
    db: Option<&TempDatabase>,
    id: &str,
    collections: &[&str],
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for coll in collections {
        let rows = hex_rows(
            vault,
            db,
            &format!(
                "SELECT HEX(fields) FROM records WHERE subject_id = ID AND collection = '{coll}'"
            ),
            id,
        );
        assert!(!rows.is_empty(), "{id} has {coll}");
        out.extend(rows);
    }
    out
}

#[test]
fn a_restore_replays_erasures_keeping_legal_obligation_records_and_replays_legal_holds() {
    replay_keeps_legal_obligations(Backend::Sqlite);
}

#[test]
fn a_postgres_restore_replays_erasures_keeping_legal_obligation_records_and_legal_holds() {
    replay_keeps_legal_obligations(Backend::Postgres);
}

fn replay_keeps_legal_obligations(backend: Backend) {
    let root = tempfile::tempdir().unwrap();
    let vault = root.path().join("vault");
    let (admin, db) = init_on(&vault, backend);
    let server = serve(&vault);
    let api = Api::new(&server.base, &admin);
    let subject = |email: &str, name: &str| {
        let (st, v) = api.post(
            "/v1/subjects",
            json!({"data": {"email": email, "name": name}}),
        );
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_owned()
    };
    let record = |id: &str, coll: &str, data: serde_json::Value| {
        let (st, v) = api.post(
            &format!("/v1/subjects/{id}/records/{coll}"),
            json!({ "data": data }),
        );
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_owned()
    };
    let hold = |id: &str, reason: Option<&str>| {
        let path = format!("/v1/subjects/{id}/legal-hold");
        let (st, v, _) = match reason {
            Some(r) => api.req(reqwest::Method::PUT, &path, Some(json!({ "reason": r }))),
            None => api.req(reqwest::Method::DELETE, &path, None),
        };
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    };
    let erased = subject("canary-profile-4kq@example.com", "Canaryprofile Zvq");
    let order = record(&erased, "orders", json!({"total_cents": 4321}));
    record(
        &erased,
        "support_tickets",
        json!({"message": "canary-ticket-8wd my parcel never came"}),
    );
    let held = subject("held@example.com", "Held");
    let released = subject("released@example.com", "Released");
    hold(&released, Some("litigation-2026-1"));
    let mut canaries = stored_canaries(&vault, db.as_ref(), &erased);
    canaries.extend(stored_fields(
        &vault,
        db.as_ref(),
        &erased,
        &["customers", "support_tickets"],
    ));

    let backup = root.path().join("before.privet-backup");
    ok(privet(&[
        "backup",
        "create",
        "--dir",
        s(&vault),
        s(&backup),
    ]));
    // After the backup: the customer is erased (the order is kept by legal obligation), one
    // customer is put on hold and the other's hold is lifted.
    let (st, cert, _) = api.req(
        reqwest::Method::DELETE,
        &format!("/v1/subjects/{erased}"),
        None,
    );
    assert_eq!(st, StatusCode::OK, "{cert}");
    assert_eq!(cert["kept"][0]["collection"], json!("orders"), "{cert}");
    hold(&held, Some("litigation-2026-2"));
    hold(&released, None);
    drop(server);
    let ledger = std::fs::read_to_string(vault.join("erasures.ledger")).unwrap();
    for line in [
        format!(" erase {erased}"),
        format!(" hold {held}"),
        format!(" release {released}"),
    ] {
        assert!(ledger.contains(&line), "{line} missing from\n{ledger}");
    }
    assert!(
        !ledger.contains("litigation"),
        "no reason text in the ledger"
    );

    let target = root.path().join("restored");
    let target_db = db.as_ref().map(|_| TempDatabase::new());
    let url = target_db.as_ref().map(TempDatabase::url);
    let key = vault.join("master.key");
    let out = ok(privet(&restore_args(
        &backup,
        &target,
        &key,
        url.as_deref(),
    )));
    assert!(out.contains("1 erased again"), "{out}");
    assert!(out.contains("2 legal-hold changes"), "{out}");
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
    // The profile and the ticket are nowhere in the restored files (or rows): no plaintext,
    // no ciphertext, no key, no index term.
    for (what, bytes) in restored_bytes(&target) {
        for plain in [
            &b"canary-profile-4kq"[..],
            b"Canaryprofile",
            b"canary-ticket-8wd",
        ] {
            assert!(!contains(&bytes, plain), "plaintext in {what}");
        }
        for c in &canaries {
            assert!(!holds(&bytes, c), "erased bytes in {what}");
        }
    }

    let server = serve(&target);
    let api = Api::new(&server.base, &admin);
    // The kept order survived the replay, readable for the legal obligation only.
    let (st, v) = api.get(&format!(
        "/v1/subjects/{erased}/records/orders/{order}?purpose=essential.legal_obligation"
    ));
    assert_eq!(
        (st, &v["data"]["total_cents"]),
        (StatusCode::OK, &json!(4321)),
        "{v}"
    );
    let (st, v) = api.get(&format!(
        "/v1/subjects/{erased}/records/orders/{order}?purpose=essential.service"
    ));
    assert_eq!(
        (st, &v["reason"]),
        (StatusCode::FORBIDDEN, &json!("erased_retained")),
        "{v}"
    );
    for path in [
        format!("/v1/subjects/{erased}?purpose=essential.service"),
        format!("/v1/subjects/{erased}/records/support_tickets?purpose=essential.service"),
    ] {
        let (st, v) = api.get(&path);
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    // The hold set after the backup is in force; the one lifted after it is lifted.
    let (st, v) = api.get(&format!("/v1/subjects/{held}/legal-hold"));
    assert_eq!(st, StatusCode::OK);
    assert!(v["legal_hold"].is_object(), "{v}");
    let (st, v, _) = api.req(
        reqwest::Method::DELETE,
        &format!("/v1/subjects/{held}"),
        None,
    );
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, v) = api.get(&format!("/v1/subjects/{released}/legal-hold"));
    assert_eq!((st, &v["legal_hold"]), (StatusCode::OK, &json!(null)));
}

#[test]
fn the_ledgers_of_several_servers_on_one_postgres_database_are_merged_on_restore() {
    let f = Fixture::on(Backend::Postgres);
    // A second server: the same config and keys, its own data dir and so its own ledger.
    let second = f.path("vault2");
    std::fs::create_dir(&second).unwrap();
    for name in [
        "privet.toml",
        "schema.toml",
        "master.key",
        "audit-signing.key",
        "receipt-signing.key",
    ] {
        std::fs::copy(f.vault().join(name), second.join(name)).unwrap();
    }
    let other = put(
        &second,
        json!({"email": "other@example.com", "name": "Other"}),
    );
    let backup = f.backup("b.privet-backup");
    erase(&f.vault(), &f.erased);
    erase(&second, &other);
    let (one, two) = (
        f.vault().join("erasures.ledger"),
        second.join("erasures.ledger"),
    );
    assert!(!std::fs::read_to_string(&one).unwrap().contains(&other));

    // With the first server's ledger only, the second server's erasure is undone.
    let partial = f.path("partial");
    ok(f.restore(&backup, &partial, &["--ledger", s(&one)]));
    assert!(exists(&partial, &other));
    assert!(!exists(&partial, &f.erased));
    // With both, neither comes back; the erasure both ledgers list is replayed once.
    let target = f.path("restored");
    let out = ok(f.restore(
        &backup,
        &target,
        &["--ledger", s(&one), "--ledger", s(&two)],
    ));
    assert!(out.contains("2 erased again"), "{out}");
    assert!(!exists(&target, &f.erased) && !exists(&target, &other));
    assert!(exists(&target, &f.kept));
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
    // A named ledger that is not there is an error, not a silent skip.
    let err = failed(f.restore(
        &backup,
        &f.path("never"),
        &["--ledger", s(&one), "--ledger", s(&f.path("nope.ledger"))],
    ));
    assert!(err.contains("cannot be found"), "{err}");
}

#[test]
fn a_restore_drops_the_queued_notifications_of_a_customer_it_erases_again() {
    let f = Fixture::new();
    // Mail to a relay that is not running: messages wait in the outbox, each with the
    // customer's address sealed in it.
    super::monitoring::configure(
        &f.vault(),
        &[(
            "# notify_smtp_url = \"smtps://privet:secret@mail.example.com\"",
            "notify_smtp_url = \"smtp://127.0.0.1:9\"\nnotify_from = \"Privacy <privacy@shop.example>\"",
        )],
    );
    for id in [&f.erased, &f.kept] {
        ok(privet(&[
            "request",
            "create",
            "--dir",
            s(&f.vault()),
            "--kind",
            "access",
            id,
        ]));
    }
    let queued = |dir: &Path, id: &str| -> Vec<Option<Vec<u8>>> {
        let raw = uuid::Uuid::parse_str(id.trim_start_matches("sub_")).unwrap();
        let c = rusqlite::Connection::open(dir.join("privet.db")).unwrap();
        let mut st = c
            .prepare("SELECT recipient FROM outbox WHERE subject_id = ?1")
            .unwrap();
        st.query_map([raw.as_bytes().as_slice()], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let waiting = queued(&f.vault(), &f.erased);
    assert_eq!(waiting.len(), 1);
    let sealed = waiting[0]
        .clone()
        .expect("the address is sealed in the message");
    assert_eq!(queued(&f.vault(), &f.kept).len(), 1);
    let backup = f.backup("b.privet-backup");
    erase(&f.vault(), &f.erased);

    let target = f.path("restored");
    ok(f.restore(&backup, &target, &[]));
    // The erased customer's waiting message (and the address sealed in it) did not come
    // back; the other customer's is still due.
    assert!(queued(&target, &f.erased).is_empty());
    assert_eq!(queued(&target, &f.kept).len(), 1);
    for (what, bytes) in restored_bytes(&target) {
        assert!(!contains(&bytes, &sealed), "the sealed address in {what}");
    }
}

#[test]
fn a_backup_carries_the_secret_files_its_config_names_and_the_restored_vault_starts() {
    let f = Fixture::new();
    let secret = |name: &str, body: &str| {
        let path = f.vault().join(name);
        std::fs::write(&path, body).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    };
    secret("webhook.secret", "whsec-0123456789abcdef0123456789abcdef");
    secret("metrics.token", "metrics-0123456789abcdef0123456789abcdef");
    super::monitoring::configure(
        &f.vault(),
        &[
            (
                "# webhook_url = \"https://alerts.internal/privet\"",
                "webhook_url = \"https://alerts.internal/privet\"",
            ),
            (
                "# webhook_secret_file = \"webhook.secret\"",
                "webhook_secret_file = \"webhook.secret\"",
            ),
            (
                "# token_file = \"metrics.token\"",
                "token_file = \"metrics.token\"",
            ),
        ],
    );
    let backup = f.backup("b.privet-backup");
    let out = ok(privet(&[
        "backup",
        "verify",
        s(&backup),
        "--key-file",
        s(&f.key()),
    ]));
    assert!(
        out.contains("metrics.token") && out.contains("webhook.secret"),
        "{out}"
    );
    let target = f.path("restored");
    ok(f.restore(&backup, &target, &[]));
    for name in ["webhook.secret", "metrics.token"] {
        assert_eq!(
            std::fs::read(target.join(name)).unwrap(),
            std::fs::read(f.vault().join(name)).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(target.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
    // The restored vault starts with its config (the secrets load) and serves.
    let server = serve(&target);
    let health = reqwest::blocking::get(format!("{}/healthz", server.base)).unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
