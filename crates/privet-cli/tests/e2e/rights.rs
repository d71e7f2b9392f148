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
