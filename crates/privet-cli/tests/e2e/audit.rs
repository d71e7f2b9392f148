//! The tamper-evident audit trail end to end, on SQLite and PostgreSQL: proofs fetched over
//! HTTP verify with the RFC 9162 verifier against signed checkpoints; bad proof requests get
//! clear problems; tampering with the database (a flipped byte, a deleted row, swapped rows,
//! a forged checkpoint, a checkpoint by another key, a log rolled back below a saved
//! checkpoint) makes `privet audit verify` fail and name the entry; kill -9 during writes
//! leaves a log that verifies with an entry for every acknowledged write.

use std::process::Output;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use privet_audit::{
    Checkpoint, ConsistencyProof, InclusionProof, VerifierKey, leaf_hash, verify_checkpoint,
};
use privet_crypto::NoteSigner;

use super::*;

fn privet(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn verify(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = privet(&args, dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn text(api: &Api, path: &str) -> String {
    match api.get(path) {
        (StatusCode::OK, Value::String(s)) => s,
        other => panic!("GET {path}: {other:?}"),
    }
}

fn create(api: &Api, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (s, v) = api.post(
                "/v1/subjects",
                json!({"data": {"email": format!("{tag}{i}@example.com"), "name": "Audit"}}),
            );
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Every entry of the log, paging through `/v1/audit/entries` 7 at a time: (index, leaf).
fn all_entries(api: &Api) -> Vec<(u64, Vec<u8>, Value)> {
    let mut out = Vec::new();
    loop {
        let (s, v) = api.get(&format!("/v1/audit/entries?from={}&limit=7", out.len()));
        assert_eq!(s, StatusCode::OK, "{v}");
        let page = v["entries"].as_array().unwrap().clone();
        if page.is_empty() {
            return out;
        }
        for e in page {
            let leaf = STANDARD.decode(e["leaf"].as_str().unwrap()).unwrap();
            out.push((e["index"].as_u64().unwrap(), leaf, e["entry"].clone()));
        }
    }
}

#[test]
fn proofs_over_http_verify_against_signed_checkpoints_on_sqlite() {
    proofs_over_http_verify(Backend::Sqlite);
}

#[test]
fn proofs_over_http_verify_against_signed_checkpoints_on_postgres() {
    proofs_over_http_verify(Backend::Postgres);
}

fn proofs_over_http_verify(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let ids = create(&api, 9, "proof");
    let (s, _) = api.get(&format!(
        "/v1/subjects/{}?purpose=essential.service",
        ids[0]
    ));
    assert_eq!(s, StatusCode::OK);

    // The verifier key is public; everything else needs an admin key.
    let anonymous = Api::new(&server.base, "pk_nobody");
    let (s, vk) = anonymous.get("/v1/audit/key");
    assert_eq!(s, StatusCode::OK);
    let vk = VerifierKey::parse(vk.as_str().unwrap()).unwrap();
    let cli_key = privet(&["audit", "key"], dir.path());
    assert_eq!(
        String::from_utf8_lossy(&cli_key.stdout).trim(),
        vk.to_string()
    );
    let origin = vk.name().to_owned();
    assert_eq!(
        anonymous.get("/v1/audit/checkpoint").0,
        StatusCode::UNAUTHORIZED
    );

    let note1 = text(&api, "/v1/audit/checkpoint");
    let c1 = verify_checkpoint(&note1, &vk, &origin).unwrap();
    let entries = all_entries(&api);
    assert_eq!(entries.len() as u64, c1.size());
    for (index, leaf, entry) in &entries {
        let (s, v) = api.get(&format!(
            "/v1/audit/proof/inclusion?index={index}&size={}",
            c1.size()
        ));
        assert_eq!(s, StatusCode::OK, "{v}");
        let proof: InclusionProof = serde_json::from_value(v).unwrap();
        assert_eq!(proof.leaf_hash, leaf_hash(leaf));
        proof.verify(c1.root()).unwrap();
        // The decoded entry is the leaf's JSON.
        assert_eq!(&serde_json::from_slice::<Value>(leaf).unwrap(), entry);
    }
    let created = entries
        .iter()
        .filter(|(_, _, e)| e["action"] == json!("subject_create"))
        .count();
    assert_eq!(created, 9);

    // The log grows; the next checkpoint is consistent with the first.
    create(&api, 20, "more");
    let note2 = text(&api, "/v1/audit/checkpoint");
    let c2 = verify_checkpoint(&note2, &vk, &origin).unwrap();
    assert!(c2.size() >= c1.size() + 20);
    let (s, v) = api.get(&format!(
        "/v1/audit/proof/consistency?from={}&to={}",
        c1.size(),
        c2.size()
    ));
    assert_eq!(s, StatusCode::OK, "{v}");
    let proof: ConsistencyProof = serde_json::from_value(v).unwrap();
    proof.verify(c1.root(), c2.root()).unwrap();
    // An unchanged log gets the same checkpoint back.
    assert_eq!(text(&api, "/v1/audit/checkpoint"), note2);

    // Bad and impossible proof requests.
    let size = c2.size();
    for (path, status, slug) in [
        (
            format!("/v1/audit/proof/inclusion?index=0&size={}", size + 1),
            422,
            "invalid-proof-request",
        ),
        (
            format!("/v1/audit/proof/inclusion?index={size}&size={size}"),
            422,
            "invalid-proof-request",
        ),
        (
            format!("/v1/audit/proof/consistency?from={}&to={size}", size + 1),
            422,
            "invalid-proof-request",
        ),
        (
            format!("/v1/audit/proof/consistency?from=1&to={}", size + 9),
            422,
            "invalid-proof-request",
        ),
        (
            "/v1/audit/proof/inclusion?index=abc&size=3".into(),
            400,
            "malformed-request",
        ),
        (
            "/v1/audit/proof/inclusion?size=3".into(),
            400,
            "malformed-request",
        ),
        (
            "/v1/audit/proof/inclusion?index=-1".into(),
            400,
            "malformed-request",
        ),
        (
            "/v1/audit/proof/consistency?to=3".into(),
            400,
            "malformed-request",
        ),
        ("/v1/audit/entries?limit=0".into(), 400, "malformed-request"),
        (
            "/v1/audit/entries?limit=1001".into(),
            400,
            "malformed-request",
        ),
        ("/v1/audit/entries?from=x".into(), 400, "malformed-request"),
        (
            "/v1/audit/entries?subject=bob".into(),
            400,
            "malformed-request",
        ),
    ] {
        let (s, v) = api.get(&path);
        assert_eq!(s.as_u16(), status, "{path}: {v}");
        assert_eq!(
            problem_type(&v),
            format!("urn:privet:problem:{slug}"),
            "{path}"
        );
        assert!(!v["detail"].as_str().unwrap().is_empty());
    }
    let (_, v) = api.get(&format!(
        "/v1/audit/proof/inclusion?index=0&size={}",
        size + 1
    ));
    assert_eq!(
        v["detail"],
        json!(format!(
            "tree size {} is beyond the log's size {size}",
            size + 1
        ))
    );

    // The subject's access log: who, what, for which purpose, which fields.
    let (s, v) = api.get(&format!("/v1/subjects/{}/access-log", ids[0]));
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["subject"], json!(ids[0]));
    let log = v["entries"].as_array().unwrap();
    let actions: Vec<_> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["subject_create", "subject_read"]);
    let read = &log[1];
    assert_eq!(read["actor"], json!("admin"));
    assert_eq!(read["actor_name"], json!("admin"));
    assert_eq!(read["purpose"], json!("essential.service"));
    // essential.service releases email and name; the other declared fields are withheld.
    assert_eq!(read["decision"], json!("partial"));
    assert!(!read["withheld"].as_array().unwrap().is_empty());
    assert!(read["fields"].as_array().unwrap().contains(&json!("email")));
    assert!(read["time"].as_str().unwrap().ends_with('Z'));
    // Entries filtered by subject are the same ones.
    let (_, v) = api.get(&format!("/v1/audit/entries?subject={}", ids[0]));
    let filtered: Vec<_> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].clone())
        .collect();
    let logged: Vec<_> = log.iter().map(|e| e["index"].clone()).collect();
    assert_eq!(filtered, logged);

    // A principal that does not administer the vault sees none of it.
    let (s, v) = api.post(
        "/v1/roles",
        json!({"name": "support", "purposes": ["essential.service"],
               "collections": {"customers": {"email": "plain"}}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = api.post(
        "/v1/principals",
        json!({"name": "helpdesk", "roles": ["support"]}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let support = Api::new(&server.base, v["api_key"].as_str().unwrap());
    for path in [
        "/v1/audit/checkpoint".to_owned(),
        "/v1/audit/entries".to_owned(),
        "/v1/audit/proof/inclusion?index=0".to_owned(),
        "/v1/audit/proof/consistency?from=1".to_owned(),
        format!("/v1/subjects/{}/access-log", ids[0]),
    ] {
        let (s, v) = support.get(&path);
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
        assert_eq!(v["reason"], json!("not_admin"));
    }
    assert_eq!(support.get("/v1/audit/key").0, StatusCode::OK);

    // Documented in OpenAPI.
    let (_, doc) = api.get("/openapi.json");
    for p in [
        "/v1/audit/checkpoint",
        "/v1/audit/key",
        "/v1/audit/entries",
        "/v1/audit/proof/inclusion",
        "/v1/audit/proof/consistency",
        "/v1/subjects/{id}/access-log",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from OpenAPI");
    }
    drop(server);

    // The CLI gives the same proofs and verifies the whole log with both checkpoints.
    let out = privet(
        &[
            "audit",
            "proof",
            "inclusion",
            "--index",
            "3",
            "--size",
            &c1.size().to_string(),
        ],
        dir.path(),
    );
    let proof: InclusionProof = serde_json::from_slice(&out.stdout).unwrap();
    proof.verify(c1.root()).unwrap();
    let out = privet(
        &[
            "audit",
            "proof",
            "consistency",
            "--from",
            &c1.size().to_string(),
            "--to",
            &c2.size().to_string(),
        ],
        dir.path(),
    );
    let proof: ConsistencyProof = serde_json::from_slice(&out.stdout).unwrap();
    proof.verify(c1.root(), c2.root()).unwrap();
    let (code, stdout, stderr) = verify(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("audit log verified:"), "{stdout}");
    let out = privet(&["audit", "tail", "-n", "3"], dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}

/// A vault with a few dozen entries and stored checkpoints, the server stopped.
fn small_log(backend: Backend) -> (tempfile::TempDir, Option<TempDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let (key, db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    create(&api, 12, "t");
    text(&api, "/v1/audit/checkpoint");
    create(&api, 12, "u");
    text(&api, "/v1/audit/checkpoint");
    drop(server);
    let (code, _, stderr) = verify(dir.path(), &[]);
    assert_eq!(code, 0, "an intact log verifies: {stderr}");
    (dir, db)
}

/// Runs SQL against the vault's database: `sqlite` on SQLite (where `audit.idx` is the
/// index + 1), `pg` on PostgreSQL (where it is the index).
fn tamper(dir: &Path, db: &Option<TempDatabase>, sqlite: &str, pg: &str) {
    match db {
        None => {
            let c = rusqlite::Connection::open(dir.join("privet.db")).unwrap();
            c.execute_batch(sqlite).unwrap();
        }
        Some(db) => psql(&db.url(), pg),
    }
}

fn assert_fails(dir: &Path, extra: &[&str], want: &str) {
    let (code, stdout, stderr) = verify(dir, extra);
    assert_eq!(
        code, 2,
        "verify must fail with 2; stdout {stdout}, stderr {stderr}"
    );
    assert!(
        stderr.contains("audit log verification FAILED") && stderr.contains(want),
        "expected {want:?} in: {stderr}"
    );
}

#[test]
fn tampering_is_named_by_audit_verify_on_sqlite() {
    tampering_is_named(Backend::Sqlite);
}

#[test]
fn tampering_is_named_by_audit_verify_on_postgres() {
    tampering_is_named(Backend::Postgres);
}

fn tampering_is_named(backend: Backend) {
    // One flipped byte in leaf 5.
    let (dir, db) = small_log(backend);
    tamper(
        dir.path(),
        &db,
        "UPDATE audit SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"allowed\"', '\"allowee\"') AS BLOB) WHERE idx = 6",
        "UPDATE audit SET leaf = set_byte(leaf, 12, get_byte(leaf, 12) # 1) WHERE idx = 5",
    );
    assert_fails(
        dir.path(),
        &[],
        "leaf 5 was altered: its bytes do not match its stored leaf hash",
    );

    // One row deleted.
    let (dir, db) = small_log(backend);
    tamper(
        dir.path(),
        &db,
        "DELETE FROM audit WHERE idx = 8",
        "DELETE FROM audit WHERE idx = 7",
    );
    assert_fails(dir.path(), &[], "leaf 7 is missing");

    // Two rows swapped, each with its leaf hash and chain value.
    let (dir, db) = small_log(backend);
    tamper(
        dir.path(),
        &db,
        "UPDATE audit SET idx = -1 WHERE idx = 5; UPDATE audit SET idx = 5 WHERE idx = 12; \
         UPDATE audit SET idx = 12 WHERE idx = -1;",
        "UPDATE audit SET idx = -1 WHERE idx = 4; UPDATE audit SET idx = 4 WHERE idx = 11; \
         UPDATE audit SET idx = 11 WHERE idx = -1;",
    );
    assert_fails(
        dir.path(),
        &[],
        "leaf 4 is not the leaf that was appended at index 4",
    );

    // Only the leaves and their hashes swapped, the chain left in place.
    let (dir, db) = small_log(backend);
    let swap = |i: u64, j: u64| {
        format!(
            "UPDATE audit SET leaf = (SELECT leaf FROM audit WHERE idx = {j}), \
               leaf_hash = (SELECT leaf_hash FROM audit WHERE idx = {j}) WHERE idx = {i}"
        )
    };
    let sqlite = format!(
        "CREATE TEMP TABLE a AS SELECT * FROM audit WHERE idx = 10; {}; \
         UPDATE audit SET leaf = (SELECT leaf FROM a), leaf_hash = (SELECT leaf_hash FROM a) WHERE idx = 15;",
        swap(10, 15)
    );
    let pg = format!(
        "CREATE TEMP TABLE a AS SELECT * FROM audit WHERE idx = 9; {}; \
         UPDATE audit SET leaf = (SELECT leaf FROM a), leaf_hash = (SELECT leaf_hash FROM a) WHERE idx = 14;",
        swap(9, 14)
    );
    tamper(dir.path(), &db, &sqlite, &pg);
    assert_fails(
        dir.path(),
        &[],
        "leaf 9 is not the leaf that was appended at index 9",
    );

    // A stored checkpoint edited after signing (its root changed).
    let (dir, db) = small_log(backend);
    let note = String::from_utf8(privet(&["audit", "checkpoint"], dir.path()).stdout).unwrap();
    let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
    let first = if lines[2].starts_with('A') { "B" } else { "A" };
    lines[2].replace_range(0..1, first);
    let edited = lines.join("\n");
    tamper(
        dir.path(),
        &db,
        &format!("UPDATE audit_checkpoints SET note = '{edited}' WHERE note = '{note}'"),
        &format!("UPDATE audit_checkpoints SET note = $q${edited}$q$ WHERE note = $q${note}$q$"),
    );
    assert_fails(
        dir.path(),
        &[],
        "does not verify: the note was altered or forged",
    );

    // A checkpoint signed by another key under the log's name.
    let (dir, db) = small_log(backend);
    let origin = String::from_utf8_lossy(&privet(&["audit", "key"], dir.path()).stdout)
        .split('+')
        .next()
        .unwrap()
        .to_owned();
    let other = NoteSigner::generate(&origin).unwrap();
    let forged = Checkpoint::new(&origin, 3, [7; 32])
        .unwrap()
        .sign(&other)
        .unwrap();
    let insert = format!(
        "INSERT INTO audit_checkpoints (size, note, created_at) VALUES (3, $q${forged}$q$, 0)"
    );
    let insert_sqlite = format!(
        "INSERT INTO audit_checkpoints (size, note, created_at) VALUES (3, '{}', 0)",
        forged.replace('\'', "''")
    );
    tamper(dir.path(), &db, &insert_sqlite, &insert);
    assert_fails(dir.path(), &[], "carries no signature by key");

    // Rolled back below a checkpoint saved outside the vault: the newest rows and every
    // stored checkpoint that would tell are deleted.
    let (dir, db) = small_log(backend);
    let saved = dir.path().join("saved.checkpoint");
    let out = privet(
        &["audit", "checkpoint", "--out", saved.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.status.success());
    let size = Checkpoint::parse(
        std::fs::read_to_string(&saved)
            .unwrap()
            .split("\n\n")
            .next()
            .map(|t| format!("{t}\n"))
            .unwrap()
            .as_str(),
    )
    .unwrap()
    .size();
    let keep = size - 4;
    tamper(
        dir.path(),
        &db,
        &format!(
            "DELETE FROM audit WHERE idx > {keep}; DELETE FROM audit_checkpoints WHERE size > {keep}; \
             DELETE FROM audit_tiles WHERE (idx + 1) << level > {keep};"
        ),
        &format!(
            "DELETE FROM audit WHERE idx >= {keep}; DELETE FROM audit_checkpoints WHERE size > {keep};"
        ),
    );
    let against = ["--against", saved.to_str().unwrap()];
    assert_fails(
        dir.path(),
        &against,
        &format!("the saved checkpoint covers {size} leaves but the log holds only {keep}"),
    );
    if matches!(backend, Backend::Sqlite) {
        // Without the saved checkpoint, nothing in the vault tells: that is what it is for.
        assert_eq!(verify(dir.path(), &[]).0, 0);
    } else {
        // PostgreSQL's head still counts the removed rows.
        assert_fails(dir.path(), &[], &format!("only {keep} are stored"));
    }
    // The pinned key can be given instead of the key file.
    let vk = String::from_utf8_lossy(&privet(&["audit", "key"], dir.path()).stdout).into_owned();
    let mut with_key = vec!["--key", vk.trim()];
    with_key.extend_from_slice(&against);
    assert_fails(dir.path(), &with_key, "the saved checkpoint covers");
}

#[test]
fn a_rewritten_leaf_with_a_rewritten_chain_is_placed_between_checkpoints_on_sqlite() {
    let (dir, _) = small_log(Backend::Sqlite);
    let c = rusqlite::Connection::open(dir.path().join("privet.db")).unwrap();
    let rows: Vec<(i64, Vec<u8>)> = {
        let mut s = c
            .prepare("SELECT idx, leaf FROM audit ORDER BY idx")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let checkpoints: Vec<u64> = {
        let mut s = c
            .prepare("SELECT size FROM audit_checkpoints ORDER BY size")
            .unwrap();
        s.query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|r| r.unwrap() as u64)
            .collect()
    };
    // Rewrite leaf 20, its hash and every chain value from it on: only a checkpoint tells.
    let mut chain = privet_audit::CHAIN_START;
    for (idx, leaf) in rows {
        let leaf = if idx == 21 {
            String::from_utf8(leaf)
                .unwrap()
                .replace("\"admin\"", "\"nobody\"")
                .into_bytes()
        } else {
            leaf
        };
        let h = leaf_hash(&leaf);
        chain = privet_audit::chain_hash(&chain, &h);
        c.execute(
            "UPDATE audit SET leaf = ?1, leaf_hash = ?2, chain = ?3 WHERE idx = ?4",
            rusqlite::params![leaf, &h[..], &chain[..], idx],
        )
        .unwrap();
    }
    let before = checkpoints
        .iter()
        .copied()
        .filter(|s| *s <= 20)
        .max()
        .unwrap_or(0);
    let after = checkpoints.iter().copied().find(|s| *s > 20).unwrap();
    assert_fails(
        dir.path(),
        &[],
        &format!("a leaf with index in {before}..{after} was altered"),
    );
}

#[test]
fn kill_9_during_writes_leaves_a_log_that_verifies_with_every_acknowledged_write_on_sqlite() {
    kill_9_during_writes(Backend::Sqlite);
}

#[test]
fn kill_9_during_writes_leaves_a_log_that_verifies_with_every_acknowledged_write_on_postgres() {
    kill_9_during_writes(Backend::Postgres);
}

fn kill_9_during_writes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    // Checkpoints every second while writing, so some are signed mid-load.
    let mut server = serve_with(dir.path(), &[("PRIVET_CHECKPOINT_INTERVAL", "1s")]);
    let base = server.base.clone();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (base, key, acked) = (base.clone(), key.clone(), acked.clone());
        writers.push(std::thread::spawn(move || {
            let http = Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            for n in 0..10_000 {
                let body = json!({"data": {"email": format!("k{w}.{n}@example.com")}});
                let r = http
                    .post(format!("{base}/v1/subjects"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send();
                match r {
                    Ok(resp) if resp.status() == StatusCode::CREATED => {
                        let id = resp.json::<Value>().unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                        acked.lock().unwrap().push(id);
                    }
                    _ => break,
                }
            }
        }));
    }
    let started = std::time::Instant::now();
    while acked.lock().unwrap().len() < 300 || started.elapsed() < Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let count = "SELECT COUNT(*) FROM audit_checkpoints";
    let stored: i64 = match &_db {
        None => {
            let c = rusqlite::Connection::open(dir.path().join("privet.db")).unwrap();
            c.query_row(count, [], |r| r.get(0)).unwrap()
        }
        Some(db) => {
            let out = Command::new("psql")
                .arg(db.url())
                .args(["-AtXc", count])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        }
    };
    assert!(stored >= 2, "checkpoints were signed during the load");

    // The log verifies, checkpoints signed before the crash included.
    let (code, stdout, stderr) = verify(dir.path(), &[]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    // Every acknowledged write has its entry.
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    for id in &acked {
        let (s, v) = api.get(&format!("/v1/audit/entries?subject={id}"));
        assert_eq!(s, StatusCode::OK);
        let entries = v["entries"].as_array().unwrap();
        assert!(
            entries
                .iter()
                .any(|e| e["entry"]["action"] == json!("subject_create")),
            "acknowledged {id} has no audit entry after kill -9"
        );
    }
    // And the log grows on from where it was, still verifying.
    create(&api, 3, "after");
    text(&api, "/v1/audit/checkpoint");
    drop(server);
    let (code, _, stderr) = verify(dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn checkpoints_from_two_servers_on_one_postgres_database_are_of_one_tree() {
    let a_dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(a_dir.path(), Backend::Postgres);
    let b_dir = tempfile::tempdir().unwrap();
    for f in [
        "privet.toml",
        "schema.toml",
        "master.key",
        "audit-signing.key",
        "receipt-signing.key",
    ] {
        std::fs::copy(a_dir.path().join(f), b_dir.path().join(f)).unwrap();
    }
    let (a, b) = (serve(a_dir.path()), serve(b_dir.path()));
    let (api_a, api_b) = (Api::new(&a.base, &key), Api::new(&b.base, &key));
    let vk = VerifierKey::parse(text(&api_a, "/v1/audit/key").as_str()).unwrap();
    assert_eq!(text(&api_b, "/v1/audit/key"), vk.to_string());
    // Writes interleaved through both servers, concurrently.
    let threads: Vec<_> = [a.base.clone(), b.base.clone()]
        .into_iter()
        .enumerate()
        .map(|(i, base)| {
            let key = key.clone();
            std::thread::spawn(move || create(&Api::new(&base, &key), 15, &format!("s{i}x")))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c1 = verify_checkpoint(&text(&api_a, "/v1/audit/checkpoint"), &vk, vk.name()).unwrap();
    create(&api_b, 5, "b");
    let c2 = verify_checkpoint(&text(&api_b, "/v1/audit/checkpoint"), &vk, vk.name()).unwrap();
    assert!(c2.size() > c1.size());
    // A's checkpoint and B's are consistent, whichever server proves it.
    for api in [&api_a, &api_b] {
        let (_, v) = api.get(&format!(
            "/v1/audit/proof/consistency?from={}&to={}",
            c1.size(),
            c2.size()
        ));
        let proof: ConsistencyProof = serde_json::from_value(v).unwrap();
        proof.verify(c1.root(), c2.root()).unwrap();
    }
    drop((a, b));
    let (code, stdout, stderr) = verify(a_dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("checkpoint(s) checked"), "{stdout}");
}

#[test]
fn a_vault_without_signing_keys_gets_them_from_keys_create_signing() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    // As a vault made before signing keys existed: no key files, no key bound.
    std::fs::remove_file(dir.path().join("audit-signing.key")).unwrap();
    std::fs::remove_file(dir.path().join("receipt-signing.key")).unwrap();
    let c = rusqlite::Connection::open(dir.path().join("privet.db")).unwrap();
    c.execute_batch(
        "DELETE FROM meta WHERE key = 'audit_verifier_key'; DELETE FROM audit_checkpoints;",
    )
    .unwrap();
    drop(c);
    let out = privet(&["serve", "--listen", "127.0.0.1:0"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("privet keys create-signing --dir"), "{err}");
    let out = privet(&["keys", "create-signing"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    for f in ["audit-signing.key", "receipt-signing.key"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f} must be private");
    }
    // Running it again changes nothing.
    let before = std::fs::read(dir.path().join("audit-signing.key")).unwrap();
    assert!(
        privet(&["keys", "create-signing"], dir.path())
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(dir.path().join("audit-signing.key")).unwrap(),
        before
    );
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let vk = VerifierKey::parse(&text(&api, "/v1/audit/key")).unwrap();
    verify_checkpoint(&text(&api, "/v1/audit/checkpoint"), &vk, vk.name()).unwrap();
    drop(server);
    assert_eq!(verify(dir.path(), &[]).0, 0);
    // A server given a different key for the same log refuses to start.
    std::fs::remove_file(dir.path().join("audit-signing.key")).unwrap();
    assert!(
        privet(&["keys", "create-signing"], dir.path())
            .status
            .success()
    );
    let out = privet(&["serve", "--listen", "127.0.0.1:0"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("give every server the same audit-signing.key"),
        "{err}"
    );
}
