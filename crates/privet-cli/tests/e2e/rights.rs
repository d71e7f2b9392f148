//! Data-subject rights over real HTTP and the command line: the subject export.

use std::io::Read as _;
use std::process::Output;

use super::*;

fn privet(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn a_subject_export_is_served_as_json_csv_zip_and_html_and_written_by_the_cli_on_sqlite() {
    export_works(Backend::Sqlite);
}

#[test]
fn a_subject_export_is_served_as_json_csv_zip_and_html_and_written_by_the_cli_on_postgres() {
    export_works(Backend::Postgres);
}

fn export_works(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "grace@example.com", "name": "Grace <Hopper>"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, v) = api.post(
        &format!("/v1/subjects/{id}/records/orders"),
        json!({"data": {"items": [{"sku": "cobol"}], "total_cents": 4200, "card_last4": "0042"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // JSON (the default): every value with its category and purposes, and the access log.
    let (s, v, h) = api.req(
        reqwest::Method::GET,
        &format!("/v1/subjects/{id}/export"),
        None,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["content-disposition"].to_str().unwrap().contains(&id));
    assert_eq!(v["purpose"], json!("subject_access"));
    let profile = &v["collections"][0]["records"][0]["values"];
    assert_eq!(profile[0]["field"], json!("email"));
    assert_eq!(profile[0]["value"], json!("grace@example.com"));
    assert_eq!(profile[0]["category"], json!("user.contact.email"));
    let order = &v["collections"][1]["records"][0]["values"];
    assert_eq!(order[1]["value"], json!(4200));
    let log = v["access_log"].as_array().unwrap();
    assert_eq!(log.last().unwrap()["action"], json!("subject_export"));

    // CSV, as a zip of one file per collection.
    let resp = api
        .http
        .get(format!("{}/v1/subjects/{id}/export?format=csv", api.base))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut customers = String::new();
    zip.by_name("customers.csv")
        .unwrap()
        .read_to_string(&mut customers)
        .unwrap();
    assert!(customers.starts_with("record_id,created_at,updated_at,email,name\n"));
    assert!(customers.contains("grace@example.com,Grace <Hopper>"));

    // HTML: escaped, self-contained.
    let (s, v, h) = api.req(
        reqwest::Method::GET,
        &format!("/v1/subjects/{id}/export?format=html"),
        None,
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let html = v.as_str().unwrap();
    assert!(html.contains("Grace &lt;Hopper&gt;") && !html.contains("<Hopper>"));

    // Bad input: an unknown format, an unknown subject, no key.
    let (s, v) = api.get(&format!("/v1/subjects/{id}/export?format=pdf"));
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::BAD_REQUEST,
            "urn:privet:problem:malformed-request"
        )
    );
    let (s, v) = api.get("/v1/subjects/sub_0193a5b2c3d47e8f9a0b1c2d3e4f5a6b/export");
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let anon = Api::new(&server.base, "wrong");
    assert_eq!(
        anon.get(&format!("/v1/subjects/{id}/export")).0,
        StatusCode::UNAUTHORIZED
    );

    // The CLI writes the same export to a new owner-only file, and refuses to overwrite.
    let out = dir.path().join("export.json");
    let o = privet(
        dir.path(),
        &["subject", "export", &id, "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        file["collections"][0]["records"][0]["values"][0]["value"],
        json!("grace@example.com")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let o = privet(
        dir.path(),
        &["subject", "export", &id, "--out", out.to_str().unwrap()],
    );
    assert!(!o.status.success());
    let o = privet(dir.path(), &["subject", "export", &id, "--format", "html"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Grace &lt;Hopper&gt;"));
    let o = privet(dir.path(), &["subject", "export", &id, "--format", "xml"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format"));
}

#[test]
fn rights_requests_go_through_their_steps_over_http_and_the_cli_and_notify_on_sqlite() {
    requests_work(Backend::Sqlite);
}

#[test]
fn rights_requests_go_through_their_steps_over_http_and_the_cli_and_notify_on_postgres() {
    requests_work(Backend::Postgres);
}

fn requests_work(backend: Backend) {
    use super::monitoring::{
        WEBHOOK_SECRET, check_signature, configure, hook, receiver, write_private,
    };

    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let (url, hooks) = receiver(1);
    write_private(&dir.path().join("notify.secret"), WEBHOOK_SECRET);
    configure(
        dir.path(),
        &[
            (
                "# notify_webhook_url = \"https://mailer.internal/privet\"",
                &format!("notify_webhook_url = \"{url}\""),
            ),
            (
                "# notify_webhook_secret_file = \"notify.secret\"",
                "notify_webhook_secret_file = \"notify.secret\"",
            ),
            ("notify_interval = \"5s\"", "notify_interval = \"200ms\""),
        ],
    );
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (_, doc) = api.get("/openapi.json");
    for p in [
        "/v1/requests",
        "/v1/requests/{id}/complete",
        "/v1/subjects/{id}/export",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "ada@example.com", "name": "Ada"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sub = v["id"].as_str().unwrap().to_owned();

    // An access request: staff requests wait for verification.
    let (s, v, h) = api.req(
        reqwest::Method::POST,
        "/v1/requests",
        Some(json!({"subject_id": sub, "kind": "access"})),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dsr_"));
    assert_eq!(
        h["location"].to_str().unwrap(),
        format!("/v1/requests/{id}")
    );
    assert_eq!(v["status"], json!("verifying"));
    let received = time::OffsetDateTime::parse(
        v["received_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let due = time::OffsetDateTime::parse(
        v["due_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        (28..=31).contains(&(due - received).whole_days()),
        "GDPR: one month"
    );

    let step = |path: &str, body: Value| api.post(&format!("/v1/requests/{id}/{path}"), body);
    let (s, v) = step("complete", json!({}));
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::CONFLICT,
            "urn:privet:problem:request-state-conflict"
        )
    );
    assert_eq!(v["code"], json!("not_verified"));
    let (s, v) = step("verify", json!({"method": "id_document"}));
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("in_progress")),
        "{v}"
    );
    let (s, v) = step("extend", json!({"reason": "many systems to search"}));
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("extended")),
        "{v}"
    );
    let (s, v) = step("extend", json!({"reason": "still searching"}));
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "urn:privet:problem:extension-limit"
        )
    );
    let (s, v) = step("complete", json!({}));
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], json!("completed"));
    assert_eq!(
        v["export"]["collections"][0]["records"][0]["values"][0]["value"],
        json!("ada@example.com")
    );
    let (s, v) = step("complete", json!({}));
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::CONFLICT,
            "urn:privet:problem:request-state-conflict"
        )
    );
    let (s, v) = api.get(&format!("/v1/requests/{id}"));
    assert_eq!(s, StatusCode::OK);
    let events: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "received",
            "verifying",
            "verified",
            "extended",
            "export_produced",
            "completed"
        ]
    );

    // Bad input.
    for (body, status, ty) in [
        (
            json!({"subject_id": sub, "kind": "delete_everything"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-rights-request",
        ),
        (
            json!({"subject_id": sub, "kind": "access", "regime": "lgpd"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-rights-request",
        ),
        (
            json!({"subject_id": sub, "kind": "objection"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-rights-request",
        ),
        (
            json!({"subject_id": "sub_0193a5b2c3d47e8f9a0b1c2d3e4f5a6b", "kind": "access"}),
            StatusCode::NOT_FOUND,
            "subject-not-found",
        ),
        (
            json!({"subject_id": sub, "kind": "access", "extra": 1}),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
    ] {
        let (s, v) = api.post("/v1/requests", body.clone());
        assert_eq!(
            (s, problem_type(&v)),
            (status, format!("urn:privet:problem:{ty}").as_str()),
            "{body}: {v}"
        );
    }
    let (s, v) = api.get("/v1/requests/dsr_0193a5b2c3d47e8f9a0b1c2d3e4f5a6b");
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::NOT_FOUND,
            "urn:privet:problem:request-not-found"
        )
    );

    // A CCPA rectification: invalid values change nothing; valid ones go through.
    let (_, v) = api.post(
        "/v1/requests",
        json!({"subject_id": sub, "kind": "rectification", "regime": "ccpa"}),
    );
    let rect = v["id"].as_str().unwrap().to_owned();
    api.post(
        &format!("/v1/requests/{rect}/verify"),
        json!({"method": "account_login"}),
    );
    let (s, v) = api.post(
        &format!("/v1/requests/{rect}/complete"),
        json!({"data": {"email": "not-an-email"}}),
    );
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "urn:privet:problem:validation-failed"
        )
    );
    let (_, v) = api.get(&format!("/v1/subjects/{sub}?purpose=essential.service"));
    assert_eq!(v["data"]["email"], json!("ada@example.com"));
    let (s, v) = api.post(
        &format!("/v1/requests/{rect}/complete"),
        json!({"data": {"email": "ada@lovelace.example"}}),
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = api.get(&format!("/v1/subjects/{sub}?purpose=essential.service"));
    assert_eq!(v["data"]["email"], json!("ada@lovelace.example"));

    let (_, v) = api.get("/v1/requests?status=completed");
    assert_eq!(v["requests"].as_array().unwrap().len(), 2);
    let (s, v) = api.get("/v1/requests?status=done");
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = api.get("/v1/requests?due_before=yesterday");
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The CLI: an erasure request, verified and completed, erases the subject.
    let o = privet(
        dir.path(),
        &["request", "create", &sub, "--kind", "erasure"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let era = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let o = privet(dir.path(), &["request", "list"]);
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        table.contains(&era) && table.contains("verifying"),
        "{table}"
    );
    let o = privet(dir.path(), &["request", "complete", &era]);
    assert!(!o.status.success(), "not verified yet");
    let o = privet(
        dir.path(),
        &["request", "verify", &era, "--method", "id_document"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = privet(dir.path(), &["request", "complete", &era]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("erased"));
    assert_eq!(
        api.get(&format!("/v1/subjects/{sub}?purpose=essential.service"))
            .0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = api.post("/v1/requests", json!({"subject_id": sub, "kind": "access"}));
    assert_eq!(s, StatusCode::NOT_FOUND, "no request for an erased subject");

    // Notifications reach the webhook, signed; the first attempt failed and was retried.
    let first = hook(&hooks);
    assert_eq!(first.answered, 500);
    let mut completed = false;
    let mut seen = Vec::new();
    while !completed {
        let h = hook(&hooks);
        check_signature(&h);
        let m: Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(m["subject_id"], json!(sub));
        let text = String::from_utf8_lossy(&h.body);
        assert!(!text.contains("ada@") && !text.contains("Ada"), "{text}");
        completed = m["request_id"] == json!(id) && m["template"] == json!("request_completed");
        seen.push(m["id"].as_str().unwrap().to_owned());
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "each message delivered once");
}
