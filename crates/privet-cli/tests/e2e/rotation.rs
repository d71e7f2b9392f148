//! `privet keys rotate` killed with -9 half-way, while a server reads: every read during it
//! succeeds, running it again completes it, nothing is unreadable, and the audit log
//! verifies. `privet keys retire` refuses a version in use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

const SUBJECTS: usize = 3000;

fn count(dir: &Path, db: &Option<TempDatabase>, sql: &str) -> i64 {
    match db {
        None => {
            let c = rusqlite::Connection::open(dir.join("privet.db")).unwrap();
            c.query_row(sql, [], |r| r.get(0)).unwrap()
        }
        Some(db) => {
            let out = Command::new("psql")
                .arg(db.url())
                .args(["-AtXc", sql])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        }
    }
}

fn privet(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("PRIVET_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn status(dir: &Path) -> Value {
    let (code, out, err) = privet(dir, &["keys", "status", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn rotation_killed_with_9_completes_when_run_again_on_sqlite() {
    rotation_killed_with_9(Backend::Sqlite);
}

#[test]
fn rotation_killed_with_9_completes_when_run_again_on_postgres() {
    rotation_killed_with_9(Backend::Postgres);
}

fn rotation_killed_with_9(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, db) = init_on(dir.path(), backend);
    let lines: String = (0..SUBJECTS)
        .map(|i| format!("{{\"email\": \"r{i}@example.com\", \"name\": \"R\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("people.jsonl"), lines).unwrap();
    let path = dir.path().join("people.jsonl");
    let (code, _, err) = privet(
        dir.path(),
        &[
            "import",
            "--collection",
            "customers",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");

    // A server reads and looks subjects up throughout, and must never fail.
    let server = serve(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (base, key, stop) = (server.base.clone(), key.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let api = Api::new(&base, &key);
            let mut reads = 0usize;
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) || reads < 20 {
                let email = format!("r{}@example.com", (i * 7919) % SUBJECTS);
                let (s, v) = api.get(&format!(
                    "/v1/subjects?email={email}&purpose=essential.service"
                ));
                assert_eq!(s, StatusCode::OK, "{v}");
                let found = v["subjects"].as_array().unwrap();
                assert_eq!(found.len(), 1, "lookup of {email}: {v}");
                assert_eq!(found[0]["data"]["email"], json!(email));
                let id = found[0]["id"].as_str().unwrap();
                let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
                assert_eq!(s, StatusCode::OK, "{v}");
                assert_eq!(v["data"]["email"], json!(email));
                reads += 1;
                i += 1;
            }
            reads
        })
    };

    // Kill the rotation once it has re-wrapped some keys.
    let mut rotate = Command::new(BIN)
        .args(["keys", "rotate", "--batch", "10", "--dir"])
        .arg(dir.path())
        .env("PRIVET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let on_v2 = "SELECT COUNT(*) FROM subjects WHERE key_version = 2";
    while count(dir.path(), &db, on_v2) < 100 {
        assert!(rotate.try_wait().unwrap().is_none(), "rotation ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    rotate.kill().unwrap(); // SIGKILL
    rotate.wait().unwrap();
    let left = count(
        dir.path(),
        &db,
        "SELECT COUNT(*) FROM subjects WHERE key_version = 1",
    );
    assert!(left > 0, "the rotation was interrupted half-way");
    let s = status(dir.path());
    assert_eq!(s["rotation_pending"], json!(true), "{s}");
    assert_eq!(s["versions"][1]["current"], json!(true), "{s}");

    // Running it again continues the same rotation (no v3) and completes it.
    let (code, out, err) = privet(dir.path(), &["keys", "rotate", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Continuing the rotation to v2"), "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["current"], json!("v2"));
    assert_eq!(summary["rewrapped"]["subject_keys"], json!(left));
    stop.store(true, Ordering::SeqCst);
    let reads = reader.join().unwrap();
    assert!(reads >= 20);

    let s = status(dir.path());
    assert_eq!(s["rotation_pending"], json!(false), "{s}");
    let versions = s["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{s}");
    assert_eq!(versions[0]["wrapped"]["subject_keys"], json!(0));
    assert_eq!(versions[0]["blind_index_entries"], json!(0));
    assert_eq!(versions[1]["wrapped"]["subject_keys"], json!(SUBJECTS));
    assert_eq!(versions[1]["blind_index_entries"], json!(SUBJECTS));

    // Nothing is unreadable: every subject reads, and is found by its email.
    let api = Api::new(&server.base, &key);
    for i in (0..SUBJECTS).step_by(97) {
        let email = format!("r{i}@example.com");
        let (s, v) = api.get(&format!(
            "/v1/subjects?email={email}&purpose=essential.service"
        ));
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["subjects"].as_array().unwrap().len(), 1, "{email}");
    }
    drop(server);
    let (code, out, err) = privet(dir.path(), &["audit", "verify"]);
    assert_eq!(code, 0, "{out} {err}");

    // v1 keys API-key hashes and tokens; v2 is current: neither can be retired.
    for v in ["v1", "v2"] {
        let (code, _, err) = privet(dir.path(), &["keys", "retire", v]);
        assert_ne!(code, 0, "retiring {v}");
        assert!(err.contains("still in use"), "{err}");
    }
    let key_file = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    assert!(key_file.lines().any(|l| l.starts_with("v1 ")));
    assert!(key_file.lines().any(|l| l.starts_with("v2 ")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn checkpoints_signed_before_an_audit_key_rotation_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (s, _) = api.post("/v1/subjects", json!({"data": {"email": "s1@example.com"}}));
    assert_eq!(s, StatusCode::CREATED);
    let old_key = reqwest::blocking::get(format!("{}/v1/audit/key", server.base))
        .unwrap()
        .text()
        .unwrap();
    let (s, _) = api.get("/v1/audit/checkpoint");
    assert_eq!(s, StatusCode::OK);
    drop(server);

    let (code, out, err) = privet(dir.path(), &["keys", "rotate-signing"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("New audit verifier key"), "{out}");
    let previous = std::fs::read_to_string(dir.path().join("audit-signing.previous")).unwrap();
    assert_eq!(previous.trim(), old_key.trim());

    // Servers restarted with the new key sign with it and serve it.
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let new_key = reqwest::blocking::get(format!("{}/v1/audit/key", server.base))
        .unwrap()
        .text()
        .unwrap();
    assert_ne!(new_key.trim(), old_key.trim());
    let (s, _) = api.post("/v1/subjects", json!({"data": {"email": "s2@example.com"}}));
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = api.get("/v1/audit/checkpoint");
    assert_eq!(s, StatusCode::OK);
    drop(server);

    // Old and new checkpoints verify with the configured key and the previous one...
    let (code, out, err) = privet(dir.path(), &["audit", "verify"]);
    assert_eq!(code, 0, "{out} {err}");
    // ...and not with the new key alone: the old checkpoints need the old key.
    let (code, _, err) = privet(dir.path(), &["audit", "verify", "--key", new_key.trim()]);
    assert_ne!(code, 0, "{err}");
    // The rotation is on the audit trail.
    let (code, out, err) = privet(dir.path(), &["audit", "tail"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reason=audit_signing_key_rotated"), "{out}");

    // A backup carries the earlier verifier keys: the restored log verifies too.
    let file = dir.path().join("after-rotation.privet-backup");
    let (code, _, err) = privet(dir.path(), &["backup", "create", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("vault");
    let out = Command::new(BIN)
        .args(["backup", "restore"])
        .arg(&file)
        .arg("--dir")
        .arg(&target)
        .arg("--key-file")
        .arg(dir.path().join("master.key"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(target.join("audit-signing.previous")).unwrap(),
        previous
    );
    let (code, out, err) = privet(&target, &["audit", "verify"]);
    assert_eq!(code, 0, "{out} {err}");
}
