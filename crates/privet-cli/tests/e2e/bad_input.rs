//! Bad input gets a clear problem or message and changes nothing.

use super::*;

#[test]
fn bad_input_gets_a_clear_problem_and_changes_nothing_on_sqlite() {
    bad_input_changes_nothing(Backend::Sqlite);
}

#[test]
fn bad_input_gets_a_clear_problem_and_changes_nothing_on_postgres() {
    bad_input_changes_nothing(Backend::Postgres);
}

fn bad_input_changes_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let url = format!("{}/v1/subjects", api.base);

    let cases: Vec<(reqwest::blocking::RequestBuilder, StatusCode, &str)> = vec![
        (
            api.http
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body("{\"data\": {"),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            api.http
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body("{\"data\": 5}"),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            api.http
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body("{\"data\": {}, \"extra\": 1}"),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            api.http
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", "text/plain")
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            api.http
                .post(&url)
                .bearer_auth(&key)
                .json(&json!({"data": {"email": 5}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        ),
        (
            api.http
                .post(&url)
                .bearer_auth(&key)
                .json(&json!({"data": {"email": "a@example.com", "favourite_colour": "red"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
        ),
        (
            api.http
                .post(&url)
                .json(&json!({"data": {"email": "a@example.com"}})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            api.http
                .post(&url)
                .bearer_auth("pk_wrongwro_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .json(&json!({"data": {}})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            api.http
                .get(format!(
                    "{url}/sub_0190f0a0b0c0d0e0f000000000000000?purpose=essential.service"
                ))
                .bearer_auth(&key),
            StatusCode::NOT_FOUND,
            "subject-not-found",
        ),
        (
            api.http
                .get(format!("{url}/not-an-id?purpose=essential.service"))
                .bearer_auth(&key),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            api.http
                .get(format!("{url}?email=a@example.com&purpose=no.such.purpose"))
                .bearer_auth(&key),
            StatusCode::BAD_REQUEST,
            "unknown-purpose",
        ),
        (
            api.http
                .get(format!("{url}?name=a&purpose=essential.service"))
                .bearer_auth(&key),
            StatusCode::BAD_REQUEST,
            "not-searchable",
        ),
        (
            api.http
                .get(format!("{}/v1/nothing", api.base))
                .bearer_auth(&key),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            api.http.put(&url).bearer_auth(&key),
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
    ];
    for (i, (rb, status, ty)) in cases.into_iter().enumerate() {
        let resp = rb.send().unwrap();
        assert_eq!(resp.status(), status, "case {i}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "case {i}"
        );
        let v: Value = resp.json().unwrap();
        assert_eq!(
            v["type"],
            json!(format!("urn:privet:problem:{ty}")),
            "case {i}: {v}"
        );
        assert_eq!(v["status"], json!(status.as_u16()), "case {i}");
    }
    // An oversize body is refused from its Content-Length, before it is read.
    let (status, body) = raw_oversize_post(&api.base, &key, 2_000_000);
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("urn:privet:problem:payload-too-large"),
        "{body}"
    );
    // Records of an unknown collection.
    let (_, v) = api.post("/v1/subjects", json!({"data": {"email": "ok@example.com"}}));
    let id = v["id"].as_str().unwrap();
    let (s, v) = api.post(
        &format!("/v1/subjects/{id}/records/spaceships"),
        json!({"data": {}}),
    );
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::NOT_FOUND,
            "urn:privet:problem:unknown-collection"
        )
    );
    // Nothing of the rejected requests was written: only the one valid subject exists.
    let (_, v) = api.get("/v1/subjects?email=a@example.com&purpose=essential.service");
    assert_eq!(v["subjects"], json!([]));
}

/// Announces a JSON body of `len` bytes by hand and sends none of it, then reads the response:
/// the server must refuse from Content-Length alone (a client streaming the body would see a
/// reset while still sending).
fn raw_oversize_post(base: &str, key: &str, len: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /v1/subjects HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn cli_commands_refuse_bad_keys_and_schemas_clearly() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    // Loose key-file permissions.
    use std::os::unix::fs::PermissionsExt;
    let keyfile = dir.path().join("master.key");
    std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("master.key") && err.contains("600"), "{err}");
    std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A wrong master key (from the environment) is refused before serving.
    let other = tempfile::tempdir().unwrap();
    init(other.path());
    let other_key = std::fs::read_to_string(other.path().join("master.key")).unwrap();
    let b64 = other_key
        .lines()
        .find(|l| l.starts_with("v1 "))
        .unwrap()
        .trim_start_matches("v1 ")
        .trim()
        .to_owned();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .env("PRIVET_MASTER_KEY", b64)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wrong") || err.contains("does not match"),
        "{err}"
    );
    // init refuses an existing vault.
    let out = Command::new(BIN)
        .args(["init", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    // schema check lists every problem by path.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[purposes.\"marketing.communications.email\"]\ndescription = \"x\"\nlegal_basis = \"consent\"\n[collections.c]\nkind = \"profile\"\n[collections.c.fields.a]\ntype = \"json\"\nsearchable = true\ncategory = \"user.nope\"\npurposes = [\"marketing.communications.email\"]\n").unwrap();
    let out = Command::new(BIN)
        .args(["schema", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("collections.c.fields.a.category"), "{err}");
    assert!(
        err.contains("collections.c.fields.a.searchable") || err.contains("searchable"),
        "{err}"
    );
    let good = Command::new(BIN)
        .args([
            "schema",
            "check",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../privet-core/examples/shop.schema.toml"
            ),
        ])
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}

#[test]
fn a_corrupted_ciphertext_gives_an_opaque_500_logged_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (_, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "tamper.me@example.com", "name": "Tamper Victim"}}),
    );
    let id = v["id"].as_str().unwrap().to_owned();
    drop(server);
    // Flip one byte in the last ciphertext of the subject's profile record.
    let db = rusqlite::Connection::open(dir.path().join("privet.db")).unwrap();
    let mut blob: Vec<u8> = db
        .query_row("SELECT fields FROM records", [], |r| r.get(0))
        .unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 0x01;
    db.execute("UPDATE records SET fields = ?1", [&blob])
        .unwrap();
    drop(db);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["type"], json!("urn:privet:problem:integrity-failure"));
    let error_id = v["error_id"].as_str().unwrap().to_owned();
    assert!(error_id.starts_with("err_"));
    assert!(v["detail"].as_str().unwrap().contains(&error_id));
    assert!(
        !v.to_string().contains("tamper"),
        "the response says nothing about the data"
    );
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        log.contains(&error_id),
        "the cause is logged under the error id"
    );
    assert!(
        !log.contains("tamper.me") && !log.contains("Tamper Victim"),
        "no value in the log"
    );
}
