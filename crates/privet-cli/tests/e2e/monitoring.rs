//! Access monitoring end to end, on both backends: a principal that reads more distinct
//! subjects than its threshold raises exactly one alert in the window, delivered as a signed
//! webhook to a real local receiver (which fails the first attempt, so the retry is what
//! delivers it), and with `auto_suspend` is refused (403 `suspended`) until an admin lifts
//! the suspension over HTTP or with `privet principal unsuspend`. `/metrics` counts it all.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

#[test]
fn monitoring_alerts_suspends_and_counts_on_sqlite() {
    monitoring(Backend::Sqlite);
}

#[test]
fn monitoring_alerts_suspends_and_counts_on_postgres() {
    monitoring(Backend::Postgres);
}

pub(super) const WEBHOOK_SECRET: &str = "e2e-webhook-secret-0123456789abcdef0123456789";
const METRICS_TOKEN: &str = "e2e-metrics-token-0123456789abcdef0123456789";
const PURPOSE: &str = "essential.service";

/// One request the receiver got.
pub(super) struct Hook {
    pub(super) headers: HashMap<String, String>,
    pub(super) body: Vec<u8>,
    /// The status it answered with.
    pub(super) answered: u16,
}

/// A local HTTP receiver answering 500 to its first `fail_first` requests and 200 after.
pub(super) fn receiver(fail_first: usize) -> (String, mpsc::Receiver<Hook>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/privet", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /hooks/privet "), "{line}");
            let mut headers = HashMap::new();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap();
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
            let len: usize = headers["content-length"].parse().unwrap();
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let answered = if n < fail_first { 500 } else { 200 };
            let _ = write!(
                stream,
                "HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.flush();
            if tx
                .send(Hook {
                    headers,
                    body,
                    answered,
                })
                .is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

pub(super) fn hook(rx: &mpsc::Receiver<Hook>) -> Hook {
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the webhook receiver got nothing")
}

/// Checks `Privet-Signature: t=…,v1=…` with an HMAC computed here, independently.
pub(super) fn check_signature(h: &Hook) -> i64 {
    let sig = &h.headers["privet-signature"];
    let (t, v1) = sig
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("bad signature header {sig}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&h.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, want, "signature does not verify");
    // A tampered body fails the same check.
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&[h.body.as_slice(), b" "].concat());
    assert_ne!(
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        v1
    );
    t.parse().unwrap()
}

pub(super) fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Replaces each `from` (which must be there) in the vault's privet.toml.
pub(super) fn configure(dir: &Path, edits: &[(&str, &str)]) {
    let path = dir.join("privet.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "privet.toml has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&path, text).unwrap();
}

/// `GET /metrics` with the token.
fn metrics(api: &Api) -> String {
    let resp = api
        .http
        .get(format!("{}/metrics", api.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    resp.text().unwrap()
}

/// The value of one series.
fn metric(api: &Api, series: &str) -> Option<f64> {
    metrics(api)
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The sum of every series of a family.
fn family_sum(api: &Api, family: &str) -> f64 {
    metrics(api)
        .lines()
        .filter_map(|l| l.strip_prefix(family)?.strip_prefix('{'))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn del(api: &Api, path: &str) -> StatusCode {
    api.req(reqwest::Method::DELETE, path, None).0
}

/// Creates a reader principal; returns its id and API.
fn reader(admin: &Api, name: &str) -> (String, Api) {
    let (s, v) = admin.post("/v1/principals", json!({"name": name, "roles": ["reader"]}));
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["api_key"].as_str().unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        Api::new(&admin.base, key),
    )
}

fn monitoring(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let (url, hooks) = receiver(1);
    write_private(&dir.path().join("webhook.secret"), WEBHOOK_SECRET);
    write_private(&dir.path().join("metrics.token"), METRICS_TOKEN);
    configure(
        dir.path(),
        &[
            ("window = \"10m\"", "window = \"1h\""),
            ("max_distinct_subjects = 1000", "max_distinct_subjects = 3"),
            ("auto_suspend = false", "auto_suspend = true"),
            (
                "# webhook_url = \"https://alerts.internal/privet\"",
                &format!("webhook_url = \"{url}\""),
            ),
            (
                "# webhook_secret_file = \"webhook.secret\"",
                "webhook_secret_file = \"webhook.secret\"",
            ),
            ("webhook_backoff = \"1s\"", "webhook_backoff = \"100ms\""),
            (
                "# token_file = \"metrics.token\"",
                "token_file = \"metrics.token\"",
            ),
        ],
    );
    let server = serve(dir.path());
    let admin = Api::new(&server.base, &key);
    let (s, v) = admin.post(
        "/v1/roles",
        json!({"name": "reader", "purposes": [PURPOSE],
               "collections": {"customers": {"email": "plain"}}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (reader_id, reader_api) = reader(&admin, "support-desk");
    let ids: Vec<String> = (0..8)
        .map(|i| {
            let (s, v) = admin.post(
                "/v1/subjects",
                json!({"data": {"email": format!("customer{i}@example.com")}}),
            );
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let read = |api: &Api, id: &str| api.get(&format!("/v1/subjects/{id}?purpose={PURPOSE}"));

    // Three distinct subjects are within the threshold; the fourth crosses it. The request
    // that crosses is answered (what it read is on the record); the next one is refused.
    for id in &ids[..4] {
        let (s, v) = read(&reader_api, id);
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["data"]["email"].is_string(), "{v}");
    }
    let (s, v) = read(&reader_api, &ids[0]);
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(problem_type(&v), "urn:privet:problem:suspended");
    assert!(v.get("data").is_none());
    let (s, v) = admin.get("/v1/principals");
    assert_eq!(s, StatusCode::OK);
    let me = v["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == json!(reader_id))
        .unwrap()
        .clone();
    assert_eq!(me["status"], json!("suspended"), "{me}");
    assert_eq!(me["suspension_reason"], json!("distinct_subjects"));

    // The webhook: the first attempt got a 500, the retry delivered the same signed alert.
    let first = hook(&hooks);
    let second = hook(&hooks);
    assert_eq!((first.answered, second.answered), (500, 200));
    for h in [&first, &second] {
        let t = check_signature(h);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - t).abs() < 3600, "signed at {t}, now {now}");
        assert_eq!(h.headers["content-type"], "application/json");
    }
    let alert: Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&first.body).unwrap()["id"],
        alert["id"]
    );
    assert_eq!(alert["type"], json!("privet.alert"));
    assert_eq!(alert["kind"], json!("distinct_subjects"));
    assert_eq!(alert["principal"], json!(reader_id));
    assert_eq!(alert["count"], json!(4));
    assert_eq!(alert["threshold"], json!(3));
    assert_eq!(alert["window_seconds"], json!(3600));
    assert_eq!(alert["suspended"], json!(true));
    assert!(alert["audit_index"].is_u64(), "{alert}");
    assert!(alert["id"].as_str().unwrap().starts_with("alr_"), "{alert}");
    assert!(alert["request_id"].as_str().unwrap().starts_with("req_"));
    let body = String::from_utf8(second.body.clone()).unwrap();
    assert!(!body.contains("example.com"), "{body}");

    // /metrics: refused without the token; counts the alert, requests and decisions.
    let resp = reader_api
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = admin
        .http
        .get(format!("{}/metrics", server.base))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "an API key is not the token"
    );
    assert_eq!(
        metric(&admin, r#"privet_alerts_total{kind="distinct_subjects"}"#),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &admin,
            r#"privet_http_requests_total{method="GET",route="/v1/subjects/{id}",status="200"}"#
        ),
        Some(4.0)
    );
    assert_eq!(
        metric(
            &admin,
            r#"privet_http_requests_total{method="GET",route="/v1/subjects/{id}",status="403"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &admin,
            r#"privet_policy_decisions_total{action="subject_read",decision="partial"}"#
        ),
        Some(4.0)
    );
    assert_eq!(
        family_sum(&admin, "privet_policy_reasons_total"),
        4.0 * 6.0,
        "each read withheld the six customer fields other than the email, each with a reason"
    );
    assert!(metric(&admin, "privet_audit_entries").unwrap() >= 15.0);
    // The delivery is counted once its answer is in; the receiver saw it a moment before.
    let delivered = r#"privet_webhook_deliveries_total{outcome="delivered"}"#;
    for _ in 0..600 {
        if metric(&admin, delivered) == Some(1.0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&admin, delivered), Some(1.0));

    // Only an admin lifts it; then the principal reads again, new subjects too, and in this
    // window no second alert is raised.
    let (s, v, _) = reader_api.req(
        reqwest::Method::DELETE,
        &format!("/v1/principals/{reader_id}/suspension"),
        None,
    );
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        del(&admin, &format!("/v1/principals/{reader_id}/suspension")),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        del(
            &admin,
            "/v1/principals/prn_0000000000000000000000000000000a/suspension"
        ),
        StatusCode::NOT_FOUND
    );
    for id in &ids {
        let (s, v) = read(&reader_api, id);
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert_eq!(
        metric(&admin, r#"privet_alerts_total{kind="distinct_subjects"}"#),
        Some(1.0)
    );

    // Another principal crosses too, and the CLI lifts its suspension.
    let (other_id, other) = reader(&admin, "batch-exporter");
    for id in &ids[..4] {
        assert_eq!(read(&other, id).0, StatusCode::OK);
    }
    let (s, v) = read(&other, &ids[0]);
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(problem_type(&v), "urn:privet:problem:suspended");
    let third = hook(&hooks);
    check_signature(&third);
    let alert: Value = serde_json::from_slice(&third.body).unwrap();
    assert_eq!(alert["principal"], json!(other_id));
    let out = Command::new(BIN)
        .args(["principal", "unsuspend", "--dir"])
        .arg(dir.path())
        .arg(&other_id)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read(&other, &ids[0]).0, StatusCode::OK);
    assert_eq!(
        metric(&admin, r#"privet_alerts_total{kind="distinct_subjects"}"#),
        Some(2.0)
    );
    // The admin was never monitored out of its access.
    assert_eq!(admin.get("/v1/principals").0, StatusCode::OK);
}

#[test]
fn bad_monitoring_config_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    // A webhook without a signing secret: unsigned alerts are never sent.
    configure(
        dir.path(),
        &[(
            "# webhook_url = \"https://alerts.internal/privet\"",
            "webhook_url = \"https://alerts.invalid/privet\"",
        )],
    );
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("webhook_secret_file"), "{err}");

    // A secret file others can read, a short secret, a bad window: each named.
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    std::fs::write(dir.path().join("metrics.token"), METRICS_TOKEN).unwrap();
    configure(
        dir.path(),
        &[(
            "# token_file = \"metrics.token\"",
            "token_file = \"metrics.token\"",
        )],
    );
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics.token"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    configure(
        dir.path(),
        &[("window = \"10m\"", "window = \"10 minutes\"")],
    );
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("monitor.window"), "{err}");
}

#[test]
fn metrics_are_off_until_configured() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (s, v) = api.get("/metrics");
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("token_file"), "{v}");
}
