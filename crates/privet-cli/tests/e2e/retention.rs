//! Retention end to end: `privet retention run` killed with -9 mid-purge, then re-run to
//! completion with nothing half-done; legal holds over HTTP and the CLI.

use super::*;

const SCHEMA: &str = r#"
version = 1
[purposes."essential.service"]
description = "Run the account"
legal_basis = "contract"

[collections.customers]
kind = "profile"
[collections.customers.fields.email]
type = "email"
category = "user.contact.email"
purposes = ["essential.service"]
searchable = true
required = true
[collections.customers.fields.phone]
type = "phone"
category = "user.contact.phone_number"
purposes = ["essential.service"]
searchable = true
retention = "1d"

[collections.orders]
kind = "records"
retention = "1d"
[collections.orders.fields.total_cents]
type = "integer"
category = "user.financial"
purposes = ["essential.service"]
"#;

const SUBJECTS: usize = 40;

#[test]
fn a_purge_killed_mid_run_is_finished_by_the_next_run_on_sqlite() {
    purge_killed_mid_run(Backend::Sqlite);
}

#[test]
fn a_purge_killed_mid_run_is_finished_by_the_next_run_on_postgres() {
    purge_killed_mid_run(Backend::Postgres);
}

#[test]
fn legal_hold_blocks_erasure_over_http_and_the_cli_on_sqlite() {
    legal_hold_blocks_erasure(Backend::Sqlite);
}

#[test]
fn legal_hold_blocks_erasure_over_http_and_the_cli_on_postgres() {
    legal_hold_blocks_erasure(Backend::Postgres);
}

#[test]
fn serve_purges_at_start_what_the_plan_showed_due_on_sqlite() {
    serve_purges_at_start(Backend::Sqlite);
}

#[test]
fn serve_purges_at_start_what_the_plan_showed_due_on_postgres() {
    serve_purges_at_start(Backend::Postgres);
}

fn serve_purges_at_start(backend: Backend) {
    let (dir, key, db) = vault(backend);
    let data = dir.path().join("vault");
    let id = {
        let server = serve_with(&data, &[("PRIVET_RETENTION_INTERVAL", "0")]);
        let api = Api::new(&server.base, &key);
        let (_, v) = api.post(
            "/v1/subjects",
            json!({"data": {"email": "job@example.com", "phone": "+16502530999"}}),
        );
        let id = v["id"].as_str().unwrap().to_owned();
        let (s, _) = api.post(
            &format!("/v1/subjects/{id}/records/orders"),
            json!({"data": {"total_cents": 5}}),
        );
        assert_eq!(s, StatusCode::CREATED);
        id
    };
    let plan = |data: &Path| -> Value {
        let out = privet(&["retention", "plan", "--days", "3", "--json"], data);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let upcoming = plan(&data);
    assert_eq!(upcoming["lines"][0]["collection"], "customers");
    assert_eq!(upcoming["lines"][0]["field"], "phone");
    assert_eq!(upcoming["lines"][0]["due_now"], 0);
    assert_eq!(upcoming["lines"][0]["upcoming"], 1);
    assert_eq!(upcoming["lines"][1]["collection"], "orders");
    let two_days_us = 2 * 86_400 * 1_000_000i64;
    execute(
        &data,
        &db,
        &format!("UPDATE records SET created_at = created_at - {two_days_us}"),
    );
    let due = plan(&data);
    assert_eq!(due["lines"][0]["due_now"], 1);
    assert_eq!(due["lines"][1]["due_now"], 1);

    // The job runs as the server starts (default interval 1h).
    let server = serve(&data);
    let mut waited = 0;
    while counts(&data, &db).orders > 0 {
        assert!(
            waited < 600,
            "the purge job did not run: {}",
            std::fs::read_to_string(data.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    let api = Api::new(&server.base, &key);
    let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["email"], "job@example.com");
    assert!(v["data"].get("phone").is_none(), "{v}");
    let (_, entries) = api.get(&format!("/v1/audit/entries?subject={id}"));
    let purges: Vec<&Value> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["entry"])
        .filter(|e| e["action"] == "retention_purge")
        .collect();
    assert_eq!(purges.len(), 2, "{entries}");
    assert!(purges.iter().all(|e| e["actor"] == "retention"));
    assert!(plan(&data)["lines"].as_array().unwrap().is_empty());
}

/// A vault with the retention schema above.
fn vault(backend: Backend) -> (tempfile::TempDir, String, Option<TempDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("retention.schema.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let data = dir.path().join("vault");
    let schema = schema.to_str().unwrap();
    let (key, db) = match backend {
        Backend::Sqlite => (init_with(&data, &["--schema", schema]), None),
        Backend::Postgres => {
            let db = TempDatabase::new();
            let url = db.url();
            (
                init_with(&data, &["--schema", schema, "--store-url", &url]),
                Some(db),
            )
        }
    };
    (dir, key, db)
}

/// Runs SQL returning one integer, in whichever database the vault uses.
fn count(data: &Path, db: &Option<TempDatabase>, sqlite: &str, postgres: &str) -> i64 {
    match db {
        None => rusqlite::Connection::open(data.join("privet.db"))
            .unwrap()
            .query_row(sqlite, [], |r| r.get(0))
            .unwrap(),
        Some(db) => db.query(postgres).trim().parse().unwrap(),
    }
}

fn execute(data: &Path, db: &Option<TempDatabase>, sql: &str) {
    match db {
        None => {
            rusqlite::Connection::open(data.join("privet.db"))
                .unwrap()
                .execute(sql, [])
                .unwrap();
        }
        Some(db) => {
            db.query(sql);
        }
    }
}

struct Counts {
    orders: i64,
    phones: i64,
    emails: i64,
    orphans: i64,
}

fn counts(data: &Path, db: &Option<TempDatabase>) -> Counts {
    let c = |s: &str, p: &str| count(data, db, s, p);
    let sqlite_index = |field: &str| {
        format!(
            "SELECT (SELECT COUNT(*) FROM blind_index WHERE field_id IN (SELECT id FROM index_fields WHERE field = '{field}')) \
             + (SELECT COUNT(*) FROM blind_index_recent WHERE field_id IN (SELECT id FROM index_fields WHERE field = '{field}'))"
        )
    };
    let pg_index =
        |field: &str| format!("SELECT COUNT(*) FROM blind_index WHERE field = '{field}'");
    Counts {
        orders: c(
            "SELECT COUNT(*) FROM records WHERE collection = 'orders'",
            "SELECT COUNT(*) FROM records WHERE collection = 'orders'",
        ),
        phones: c(&sqlite_index("phone"), &pg_index("phone")),
        emails: c(&sqlite_index("email"), &pg_index("email")),
        orphans: c(
            "SELECT (SELECT COUNT(*) FROM blind_index WHERE record_id NOT IN (SELECT id FROM records)) \
             + (SELECT COUNT(*) FROM blind_index_recent WHERE record_id NOT IN (SELECT id FROM records))",
            "SELECT COUNT(*) FROM blind_index WHERE record_id NOT IN (SELECT id FROM records)",
        ),
    }
}

fn audit_entries_with(data: &Path, db: &Option<TempDatabase>, needle: &str) -> i64 {
    count(
        data,
        db,
        &format!("SELECT COUNT(*) FROM audit WHERE CAST(leaf AS TEXT) LIKE '%\"{needle}\"%'"),
        &format!("SELECT COUNT(*) FROM audit WHERE position('\"{needle}\"'::bytea IN leaf) > 0"),
    )
}

fn privet(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--dir")
        .arg(data)
        .output()
        .unwrap()
}

fn purge_killed_mid_run(backend: Backend) {
    let (dir, key, db) = vault(backend);
    let data = dir.path().join("vault");
    {
        let server = serve(&data);
        let api = Api::new(&server.base, &key);
        let items: Vec<Value> = (0..SUBJECTS)
            .map(|i| json!({"data": {"email": format!("p{i}@example.com"), "phone": format!("+1650253{i:04}")}}))
            .collect();
        let (s, v) = api.post("/v1/subjects/batch", json!({ "items": items }));
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let ids: Vec<String> = v["ids"]
            .as_array()
            .unwrap_or_else(|| panic!("batch answer without ids: {v}"))
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), SUBJECTS);
        for id in &ids {
            for cents in [100, 200] {
                let (s, v) = api.post(
                    &format!("/v1/subjects/{id}/records/orders"),
                    json!({"data": {"total_cents": cents}}),
                );
                assert_eq!(s, StatusCode::CREATED, "{v}");
            }
        }
    }
    // Two days pass for the data: every order and every phone number has expired.
    let two_days_us = 2 * 86_400 * 1_000_000i64;
    execute(
        &data,
        &db,
        &format!("UPDATE records SET created_at = created_at - {two_days_us}"),
    );
    let before = counts(&data, &db);
    assert_eq!(
        (before.orders, before.phones, before.emails),
        (2 * SUBJECTS as i64, SUBJECTS as i64, SUBJECTS as i64)
    );

    // A purge in batches of ~5 deletions (a subject is 2 orders + its phone), stopped by the
    // test hook after 3 committed batches and killed there with -9.
    let mut child = Command::new(BIN)
        .args(["retention", "run", "--batch-size", "5", "--dir"])
        .arg(&data)
        .env("PRIVET_TEST_PURGE_PAUSE_AFTER_BATCHES", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "retention run ended before pausing: {seen}");
        seen.push_str(&line);
        if line.contains("retention: paused after 3 batches") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let mid = counts(&data, &db);
    assert!(
        mid.orders > 0 && mid.orders < before.orders,
        "killed mid-purge: {} of {} orders left",
        mid.orders,
        before.orders
    );
    // Whole subjects only: each committed batch took a subject's orders and phone together.
    assert_eq!(mid.orders, 2 * mid.phones, "a subject was half purged");
    assert_eq!(mid.emails, SUBJECTS as i64);
    assert_eq!(
        mid.orphans, 0,
        "index entries of deleted records were left behind"
    );

    // The next run finishes the job and reports exactly what it deleted.
    let out = privet(&["retention", "run", "--json"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records"], json!(mid.orders));
    assert_eq!(report["fields"], json!(mid.phones));
    assert_eq!(report["subjects_erased"], json!(0));
    assert_eq!(
        report["lines"],
        json!([
            {"collection": "orders", "field": null, "count": mid.orders},
            {"collection": "customers", "field": "phone", "count": mid.phones},
        ])
    );
    let after = counts(&data, &db);
    assert_eq!(
        (after.orders, after.phones, after.emails, after.orphans),
        (0, 0, SUBJECTS as i64, 0)
    );
    // Every deletion, of the killed run and of this one, is on the audit trail once.
    assert_eq!(
        audit_entries_with(&data, &db, "record_expired"),
        before.orders
    );
    assert_eq!(
        audit_entries_with(&data, &db, "field_expired"),
        before.phones
    );
    assert_eq!(audit_entries_with(&data, &db, "purge_report"), 2);

    // A third run finds nothing; the phone's lookup finds nobody; the log verifies.
    let out = privet(&["retention", "run", "--json"], &data);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["lines"], json!([]));
    let out = privet(
        &[
            "subject",
            "find",
            "--field",
            "phone",
            "--value",
            "+16502530007",
            "--purpose",
            "essential.service",
            "--json",
        ],
        &data,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let out = privet(&["audit", "verify"], &data);
    assert!(
        out.status.success(),
        "audit verify after the purge: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn legal_hold_blocks_erasure(backend: Backend) {
    let (dir, key, db) = vault(backend);
    let data = dir.path().join("vault");
    let server = serve(&data);
    let api = Api::new(&server.base, &key);
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "hold@example.com"}}),
    );
    assert_eq!(s, StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_owned();
    let hold = format!("/v1/subjects/{id}/legal-hold");
    let (s, _, _) = api.req(
        reqwest::Method::PUT,
        &hold,
        Some(json!({"reason": "litigation-2026-17"})),
    );
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api.get(&hold);
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["legal_hold"]["reason"], "litigation-2026-17");
    // Free text is refused: the reason goes to the audit trail.
    let (s, v, _) = api.req(
        reqwest::Method::PUT,
        &hold,
        Some(json!({"reason": "Jane's lawsuit"})),
    );
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, v, headers) = api.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(problem_type(&v), "urn:privet:problem:legal-hold");
    assert_eq!(headers["content-type"], "application/problem+json");
    let (s, _) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(s, StatusCode::OK, "still there");

    let (s, _, _) = api.req(reqwest::Method::DELETE, &hold, None);
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api.get(&hold);
    assert_eq!((s, &v["legal_hold"]), (StatusCode::OK, &Value::Null));

    // The same from the terminal, beside the running server.
    let out = privet(&["subject", "hold", &id, "--reason", "tax-audit"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = privet(&["subject", "erase", &id, "--yes"], &data);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("legal hold"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = privet(&["subject", "release", &id], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = privet(&["subject", "erase", &id, "--yes"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, _) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(s, StatusCode::NOT_FOUND);
    drop(server);
    // Setting and lifting are on the record with the reason code, twice each.
    assert_eq!(audit_entries_with(&data, &db, "hold:litigation-2026-17"), 1);
    assert_eq!(audit_entries_with(&data, &db, "hold:tax-audit"), 1);
    assert_eq!(audit_entries_with(&data, &db, "released"), 2);
    let out = privet(&["audit", "verify"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
