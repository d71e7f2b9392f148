//! Encrypted backups and the erasure ledger, through the real binary: an erased customer
//! does not come back from an older backup; truncated, tampered, foreign-key and
//! ledger-less restores are refused with nothing written; kill -9 during a backup or a
//! restore leaves nothing that looks finished, and a re-run works.

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
    erased: String,
    kept: String,
}

impl Fixture {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let vault = root.path().join("vault");
        init(&vault);
        let erased = put(
            &vault,
            json!({"email": "canary-7q2x@example.com", "name": "Canaryname Qzxw"}),
        );
        let kept = put(&vault, json!({"email": "kept@example.com", "name": "Kept"}));
        Self { root, erased, kept }
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

    fn restore(&self, file: &Path, target: &Path, extra: &[&str]) -> Output {
        let key = self.key();
        let mut args = vec![
            "backup",
            "restore",
            s(file),
            "--dir",
            s(target),
            "--key-file",
            s(&key),
        ];
        args.extend_from_slice(extra);
        privet(&args)
    }
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

/// The erased subject's stored secrets in the source database: its wrapped key and the
/// blind-index terms of its records (both random-looking bytes that occur nowhere else).
fn stored_canaries(db: &Path, id: &str) -> Vec<Vec<u8>> {
    let raw = uuid::Uuid::parse_str(id.trim_start_matches("sub_")).unwrap();
    let c = rusqlite::Connection::open(db).unwrap();
    let mut out: Vec<Vec<u8>> = vec![
        c.query_row(
            "SELECT wrapped_key FROM subjects WHERE id = ?1",
            [raw.as_bytes().as_slice()],
            |r| r.get(0),
        )
        .unwrap(),
    ];
    let mut st = c
        .prepare(
            "SELECT term FROM blind_index_recent WHERE record_id IN \
             (SELECT id FROM records WHERE subject_id = ?1) \
             UNION ALL SELECT term FROM blind_index WHERE record_id IN \
             (SELECT id FROM records WHERE subject_id = ?1)",
        )
        .unwrap();
    let terms = st
        .query_map([raw.as_bytes().as_slice()], |r| r.get::<_, Vec<u8>>(0))
        .unwrap();
    out.extend(terms.map(Result::unwrap));
    assert!(out.len() >= 2, "the subject has a key and index terms");
    out
}

#[test]
fn an_erased_customer_does_not_come_back_from_an_older_backup_and_leaves_no_bytes_behind() {
    let f = Fixture::new();
    let canaries = stored_canaries(&f.vault().join("privet.db"), &f.erased);
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
    let out = ok(f.restore(&backup, &target, &[]));
    assert!(out.contains("1 erased again"), "{out}");
    assert!(!exists(&target, &f.erased), "the erased customer came back");
    assert!(exists(&target, &f.kept));
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
    // Raw scan of every restored file: no plaintext, no key, no index term of the customer.
    for (path, bytes) in files_under(&target) {
        assert!(
            !contains(&bytes, b"canary-7q2x") && !contains(&bytes, b"Canaryname"),
            "plaintext in {}",
            path.display()
        );
        for c in &canaries {
            assert!(!contains(&bytes, c), "erased bytes in {}", path.display());
        }
    }
    // The restored vault's own ledger already lists the erasure.
    let own = std::fs::read_to_string(target.join("erasures.ledger")).unwrap();
    assert!(own.contains(&f.erased));
}

#[test]
fn writes_during_a_backup_succeed_and_the_backup_restores_to_a_consistent_vault() {
    let root = tempfile::tempdir().unwrap();
    let vault = root.path().join("vault");
    let admin = init(&vault);
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
    let mut line = String::new();
    BufReader::new(held.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("paused"), "{line}");
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
    ok(privet(&[
        "backup",
        "restore",
        s(&file),
        "--dir",
        s(&target),
        "--key-file",
        s(&vault.join("master.key")),
    ]));
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
}

#[test]
fn truncated_or_tampered_backups_are_refused_by_verify_and_restore_and_nothing_is_written() {
    let f = Fixture::new();
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
    header[at + 12] ^= 0x20; // "sqlite" -> "sQlite"
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
        let err = failed(f.restore(&file, &target, &[]));
        assert!(err.contains(what), "case {i}: {err}");
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
    let err = failed(privet(&[
        "backup",
        "restore",
        s(&file),
        "--dir",
        s(&target),
        "--key-file",
        s(&other_key),
    ]));
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
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn a_backup_killed_midway_leaves_no_file_that_passes_for_a_backup_and_a_rerun_works() {
    let f = Fixture::new();
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
    let f = Fixture::new();
    let file = f.backup("b.privet-backup");
    erase(&f.vault(), &f.erased);
    let target = f.path("restored");
    kill_when_paused(&[
        "backup",
        "restore",
        s(&file),
        "--dir",
        s(&target),
        "--key-file",
        s(&f.key()),
    ]);
    assert!(
        !target.exists(),
        "a killed restore left something at the target"
    );
    assert!(f.path(".restored.restore-partial").exists());
    let out = f.restore(&file, &target, &[]);
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
fn stored_fields(db: &Path, id: &str, collections: &[&str]) -> Vec<Vec<u8>> {
    let raw = uuid::Uuid::parse_str(id.trim_start_matches("sub_")).unwrap();
    let c = rusqlite::Connection::open(db).unwrap();
    let mut out = Vec::new();
    for coll in collections {
        let mut st = c
            .prepare("SELECT fields FROM records WHERE subject_id = ?1 AND collection = ?2")
            .unwrap();
        let rows = st
            .query_map(rusqlite::params![raw.as_bytes().as_slice(), coll], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .unwrap();
        let n = out.len();
        out.extend(rows.map(Result::unwrap));
        assert!(out.len() > n, "{id} has {coll}");
    }
    out
}

#[test]
fn a_restore_replays_erasures_keeping_legal_obligation_records_and_replays_legal_holds() {
    let root = tempfile::tempdir().unwrap();
    let vault = root.path().join("vault");
    let admin = init(&vault);
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
    let db = vault.join("privet.db");
    let mut canaries = stored_canaries(&db, &erased);
    canaries.extend(stored_fields(
        &db,
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
    let out = ok(privet(&[
        "backup",
        "restore",
        s(&backup),
        "--dir",
        s(&target),
        "--key-file",
        s(&vault.join("master.key")),
    ]));
    assert!(out.contains("1 erased again"), "{out}");
    assert!(out.contains("2 legal-hold changes"), "{out}");
    ok(privet(&["audit", "verify", "--dir", s(&target)]));
    // The profile and the ticket are nowhere in the restored files: no plaintext, no
    // ciphertext, no key, no index term.
    for (path, bytes) in files_under(&target) {
        for plain in [
            &b"canary-profile-4kq"[..],
            b"Canaryprofile",
            b"canary-ticket-8wd",
        ] {
            assert!(!contains(&bytes, plain), "plaintext in {}", path.display());
        }
        for c in &canaries {
            assert!(!contains(&bytes, c), "erased bytes in {}", path.display());
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
