//! End to end: the real `privet` binary (`init`, `serve`), spoken to over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_privet");

fn init(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["init", "--json", "--dir"])
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
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .env("PRIVET_LOG", "debug")
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

#[test]
fn every_route_works_over_real_http_including_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);

    let (s, v) = api.get("/healthz");
    assert_eq!((s, v), (StatusCode::OK, json!({"status": "ok"})));
    assert_eq!(api.get("/readyz").0, StatusCode::OK);
    let (s, doc) = api.get("/openapi.json");
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in [
        "/v1/subjects",
        "/v1/subjects/{id}",
        "/v1/subjects/batch",
        "/v1/subjects/{id}/records/{collection}",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    assert_eq!(api.get("/docs/").0, StatusCode::OK);

    // Create.
    let (s, v, h) = api.req(reqwest::Method::POST, "/v1/subjects", Some(json!({"data": {
        "email": "jane@example.com", "name": "Jane Doe", "phone": "+1 650 253 0042", "gender": "female"
    }})));
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sub_"));
    assert_eq!(
        h["location"].to_str().unwrap(),
        format!("/v1/subjects/{id}")
    );

    // Read for a purpose; no purpose → 400.
    let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["data"],
        json!({"email": "jane@example.com", "name": "Jane Doe", "phone": "+16502530042"})
    );
    assert!(
        v["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == &json!({"field": "gender", "reason": "purpose_not_declared"}))
    );
    let (s, v) = api.get(&format!("/v1/subjects/{id}"));
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::BAD_REQUEST,
            "urn:privet:problem:missing-purpose"
        )
    );
    let (s, v, _) = api
        .http
        .get(format!("{}/v1/subjects/{id}", api.base))
        .bearer_auth(&key)
        .header("Privet-Purpose", "analytics.reporting")
        .send()
        .map(|r| (r.status(), r.json::<Value>().unwrap(), ()))
        .unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"], json!({"gender": "female"}));

    // Patch.
    let (s, v, _) = api.req(
        reqwest::Method::PATCH,
        &format!("/v1/subjects/{id}"),
        Some(json!({"data": {"name": "Jane Roe"}})),
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        api.get(&format!("/v1/subjects/{id}?purpose=essential.service"))
            .1["data"]["name"],
        json!("Jane Roe")
    );

    // Lookup through the blind index, by query and by body.
    let (s, v) = api.get("/v1/subjects?email=JANE@example.com&purpose=essential.service");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["subjects"][0]["id"], json!(id));
    let (s, v) = api.post(
        "/v1/subjects/search",
        json!({"field": "phone", "value": "+16502530042", "purpose": "essential.service"}),
    );
    assert_eq!(
        (s, v["subjects"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );

    // Records.
    let (s, v) = api.post(&format!("/v1/subjects/{id}/records/orders"), json!({"data": {"items": [{"sku": "pen", "qty": 2}], "total_cents": 1299, "card_last4": "4242"}}));
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let rec = v["id"].as_str().unwrap().to_owned();
    let (s, v) = api.get(&format!(
        "/v1/subjects/{id}/records/orders?purpose=essential.service"
    ));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["records"][0]["id"], json!(rec));
    assert_eq!(
        v["records"][0]["data"],
        json!({"items": [{"sku": "pen", "qty": 2}], "total_cents": 1299})
    );
    let (s, v) = api.get(&format!(
        "/v1/subjects/{id}/records/orders/{rec}?purpose=essential.service.payment_processing"
    ));
    assert_eq!(
        (s, &v["data"]),
        (StatusCode::OK, &json!({"card_last4": "4242"}))
    );

    // Batch: all or nothing, errors by index.
    let (s, v) = api.post("/v1/subjects/batch", json!({"items": [{"data": {"email": "b1@example.com"}}, {"data": {"email": "nope"}}, {"data": {"mail": "x"}}]}));
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "urn:privet:problem:batch-invalid"
        )
    );
    let idx: Vec<u64> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![1, 2]);
    assert_eq!(
        api.get("/v1/subjects?email=b1@example.com&purpose=essential.service")
            .1["subjects"],
        json!([])
    );
    let (s, v) = api.post("/v1/subjects/batch", json!({"items": [{"data": {"email": "b1@example.com"}}, {"data": {"email": "b2@example.com"}}]}));
    assert_eq!(
        (s, v["ids"].as_array().unwrap().len()),
        (StatusCode::CREATED, 2)
    );

    // Erasure: 204, then 404 on every route.
    let (s, _, _) = api.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
    assert_eq!(s, StatusCode::NO_CONTENT);
    for path in [
        format!("/v1/subjects/{id}?purpose=essential.service"),
        format!("/v1/subjects/{id}/records/orders?purpose=essential.service"),
        format!("/v1/subjects/{id}/records/orders/{rec}?purpose=essential.service"),
    ] {
        let (s, v) = api.get(&path);
        assert_eq!(
            (s, problem_type(&v)),
            (
                StatusCode::NOT_FOUND,
                "urn:privet:problem:subject-not-found"
            ),
            "{path}"
        );
    }
    let (s, _, _) = api.req(
        reqwest::Method::PATCH,
        &format!("/v1/subjects/{id}"),
        Some(json!({"data": {"name": "x"}})),
    );
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.post(
        &format!("/v1/subjects/{id}/records/orders"),
        json!({"data": {"total_cents": 1}}),
    );
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = api.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/v1/subjects?email=jane@example.com&purpose=essential.service")
            .1["subjects"],
        json!([])
    );

    // The server log holds no personal value.
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        log.contains("request"),
        "debug request logs are on in this test"
    );
    for v in [
        "jane@example.com",
        "JANE@example.com",
        "Jane",
        "4242",
        "6502530042",
    ] {
        assert!(!log.contains(v), "{v} leaked into the server log");
    }
}

#[test]
fn bad_input_gets_a_clear_problem_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
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
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let mut server = serve(dir.path());
    let base = server.base.clone();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (base, key, acked) = (base.clone(), key.clone(), acked.clone());
        writers.push(std::thread::spawn(move || {
            let api = Api::new(&base, &key);
            for n in 0..10_000 {
                let body = json!({"data": {"email": format!("crash{w}.{n}@example.com"), "name": format!("Crash {w} {n}")}});
                let r = api.http.post(format!("{base}/v1/subjects")).bearer_auth(&key).json(&body).send();
                match r {
                    Ok(resp) if resp.status() == StatusCode::CREATED => {
                        let id = resp.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
                        acked.lock().unwrap().push(id);
                    }
                    _ => break,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 200 {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    for id in &acked {
        let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
        assert_eq!(s, StatusCode::OK, "acknowledged {id} lost after kill -9");
        assert!(v["data"]["email"].as_str().unwrap().starts_with("crash"));
    }
    // No half-written subject: every subject row has its profile record.
    drop(server);
    let db = rusqlite::Connection::open(dir.path().join("privet.db")).unwrap();
    let orphans: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM subjects WHERE id NOT IN (SELECT subject_id FROM records)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    let audit: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE leaf LIKE '%subject_create%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let subjects: i64 = db
        .query_row("SELECT COUNT(*) FROM subjects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        audit, subjects,
        "every committed subject has its audit entry"
    );
    assert!(subjects as usize >= acked.len());
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
fn import_reports_bad_lines_and_writes_no_partial_batch() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let csv = dir.path().join("customers.csv");
    std::fs::write(&csv, "email,name,gender\na@example.com,Ann,female\nb@example.com,Bob,male\nnot-an-email,Cy,male\nd@example.com,Di,robot\ne@example.com,Ed,male\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "import",
            "--collection",
            "customers",
            "--batch-size",
            "2",
            "--keep-going",
            "--dir",
        ])
        .arg(dir.path())
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success(), "bad lines make the import fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4") && err.contains("invalid_email"),
        "{err}"
    );
    assert!(
        err.contains("line 5") && err.contains("not_in_enum"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("imported 3 row(s)"), "{stdout}");
    // Batches: [a,b] ok, [c,d] rejected whole, [e] ok.
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    for (email, present) in [
        ("a@example.com", 1),
        ("b@example.com", 1),
        ("d@example.com", 0),
        ("e@example.com", 1),
    ] {
        let (_, v) = api.get(&format!(
            "/v1/subjects?email={email}&purpose=essential.service"
        ));
        assert_eq!(v["subjects"].as_array().unwrap().len(), present, "{email}");
    }
    // JSON Lines into a records collection.
    let (_, v) = api.get("/v1/subjects?email=a@example.com&purpose=essential.service");
    let sid = v["subjects"][0]["id"].as_str().unwrap().to_owned();
    drop(server);
    let jl = dir.path().join("orders.jsonl");
    std::fs::write(&jl, format!("{{\"subject_id\": \"{sid}\", \"total_cents\": 100}}\n{{\"subject_id\": \"{sid}\", \"total_cents\": 200}}\n")).unwrap();
    let out = Command::new(BIN)
        .args(["import", "--collection", "orders", "--dir"])
        .arg(dir.path())
        .arg(&jl)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args([
            "subject",
            "get",
            &sid,
            "--purpose",
            "essential.service",
            "--json",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["email"], json!("a@example.com"));
}

#[test]
fn demo_seeds_customers_and_its_printed_example_works() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--customers",
            "40",
            "--listen",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(&demo)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("Stop with");
        printed.push(line);
        if done {
            break;
        }
    }
    let server = Server {
        child,
        base: String::new(),
    };
    let text = printed.join("\n");
    let key = text
        .split("API key:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let lookup = text.lines().find(|l| l.contains("?email=")).unwrap();
    let url = lookup.split('\'').rev().nth(1).unwrap();
    let v: Value = Client::new()
        .get(url)
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["subjects"].as_array().unwrap().len(), 1, "{text}\n{v}");
    let orders = text
        .lines()
        .find(|l| l.contains("/records/orders"))
        .unwrap();
    let url = orders.split('\'').rev().nth(1).unwrap();
    let resp = Client::new().get(url).bearer_auth(&key).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    drop(server);
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

#[test]
fn subject_commands_work_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--dir")
            .arg(dir.path())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&[
        "subject",
        "put",
        r#"{"email": "term@example.com", "name": "Terry"}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_owned();
    assert!(id.starts_with("sub_"));
    let (code, out, _) = run(&[
        "subject",
        "find",
        "--field",
        "email",
        "--value",
        "TERM@example.com",
        "--purpose",
        "essential.service",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("Terry"), "{out}");
    let (code, out, _) = run(&["subject", "get", &id, "--purpose", "analytics.reporting"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("withheld: purpose_not_declared") && !out.contains("Terry"),
        "{out}"
    );
    let (code, _, err) = run(&["subject", "put", r#"{"email": "x@example.com", "shoe": 1}"#]);
    assert_ne!(code, 0);
    assert!(err.contains("shoe"), "{err}");
    let (code, _, err) = run(&["subject", "erase", &id]);
    assert_ne!(code, 0, "erasure needs --yes");
    assert!(err.contains("--yes"), "{err}");
    let (code, _, _) = run(&["subject", "erase", &id, "--yes"]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&["subject", "get", &id, "--purpose", "essential.service"]);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
}
