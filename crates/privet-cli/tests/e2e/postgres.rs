//! Two `privet serve` processes on one PostgreSQL database behave as one vault. Needs
//! `DATABASE_URL` (`./scripts/test` starts the machine's PostgreSQL and sets it); without
//! it this test fails rather than pass silently.

use super::*;

#[test]
fn two_servers_on_one_postgres_database_act_as_one_vault() {
    let a_dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(a_dir.path(), Backend::Postgres);
    // No SQLite file: the data lives in PostgreSQL. The config may hold a password: 0600.
    assert!(!a_dir.path().join("privet.db").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(a_dir.path().join("privet.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "privet.toml must not be group/world readable"
    );
    // A second server gets a copy of the config, schema and key files, nothing else.
    let b_dir = tempfile::tempdir().unwrap();
    for f in ["privet.toml", "schema.toml", "master.key"] {
        std::fs::copy(a_dir.path().join(f), b_dir.path().join(f)).unwrap();
    }
    // Without the signing keys it refuses to start, and says how to get them.
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(b_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("audit-signing.key"), "{err}");
    assert!(err.contains("privet keys create-signing"), "{err}");
    for f in ["audit-signing.key", "receipt-signing.key"] {
        std::fs::copy(a_dir.path().join(f), b_dir.path().join(f)).unwrap();
    }
    let (a, b) = (serve(a_dir.path()), serve(b_dir.path()));
    let (api_a, api_b) = (Api::new(&a.base, &key), Api::new(&b.base, &key));
    assert_eq!(api_a.get("/readyz").0, StatusCode::OK);
    assert_eq!(api_b.get("/readyz").0, StatusCode::OK);

    // A write on one is readable on the other at once.
    let (s, v) = api_a.post(
        "/v1/subjects",
        json!({"data": {"email": "shared@example.com", "name": "Shared"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, v) = api_b.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!((s, &v["data"]["name"]), (StatusCode::OK, &json!("Shared")));
    let (s, v) = api_b.get("/v1/subjects?email=shared@example.com&purpose=essential.service");
    assert_eq!(
        (s, v["subjects"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );

    // An update on one is what the other reads next.
    let (s, _, _) = api_b.req(
        reqwest::Method::PATCH,
        &format!("/v1/subjects/{id}"),
        Some(json!({"data": {"name": "Updated on B"}})),
    );
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api_a.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(v["data"]["name"], json!("Updated on B"));

    // Consent granted on one server releases on the other; withdrawn on the other, the
    // very next read on the first withholds (no server caches consent).
    let marketing = "marketing.communications.email";
    let consent =
        |state: &str| json!({"state": state, "source": "web_form", "notice_version": "2026-11"});
    let (s, _, _) = api_a.req(
        reqwest::Method::PUT,
        &format!("/v1/subjects/{id}/consents/{marketing}"),
        Some(consent("granted")),
    );
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api_b.get(&format!("/v1/subjects/{id}?purpose={marketing}"));
    assert_eq!(v["data"]["email"], json!("shared@example.com"), "{v}");
    let (s, _, _) = api_b.req(
        reqwest::Method::PUT,
        &format!("/v1/subjects/{id}/consents/{marketing}"),
        Some(consent("withdrawn")),
    );
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api_a.get(&format!("/v1/subjects/{id}?purpose={marketing}"));
    assert!(v["data"].as_object().unwrap().is_empty(), "{v}");
    assert!(
        v["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["field"] == "email" && w["reason"] == "consent_withdrawn"),
        "{v}"
    );

    // Concurrent writes through both servers all land.
    let mut ids = Vec::new();
    for i in 0..20 {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        let (s, v) = api.post(
            "/v1/subjects",
            json!({"data": {"email": format!("both{i}@example.com")}}),
        );
        assert_eq!(s, StatusCode::CREATED);
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for (i, id) in ids.iter().enumerate() {
        let api = if i % 2 == 0 { &api_b } else { &api_a };
        assert_eq!(
            api.get(&format!("/v1/subjects/{id}?purpose=essential.service"))
                .0,
            StatusCode::OK
        );
    }

    // An erasure on one is final everywhere.
    let (s, _, _) = api_a.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api_b.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::NOT_FOUND,
            "urn:privet:problem:subject-not-found"
        )
    );
    let (_, v) = api_b.get("/v1/subjects?email=shared@example.com&purpose=essential.service");
    assert_eq!(v["subjects"], json!([]));
    let (s, _, _) = api_b.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
    assert_eq!(s, StatusCode::CONFLICT, "already erased");
    drop((a, b));
}

#[test]
fn an_unreachable_database_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_key, _db) = init_on(dir.path(), Backend::Postgres);
    let ok = Command::new(BIN)
        .args(["migrate", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Nothing listens on port 1: both serve and migrate must say so and exit non-zero.
    for cmd in ["serve", "migrate"] {
        let out = Command::new(BIN)
            .args([cmd, "--dir"])
            .arg(dir.path())
            .env(
                "PRIVET_STORE_URL",
                "host=127.0.0.1 port=1 user=nobody dbname=nothing connect_timeout=5",
            )
            .output()
            .unwrap();
        assert!(!out.status.success(), "{cmd} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot connect to the database"),
            "{cmd}: {err}"
        );
        assert!(!err.contains("password"), "{cmd}: {err}");
    }
}
