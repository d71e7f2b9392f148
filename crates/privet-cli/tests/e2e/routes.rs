//! Every route over real HTTP, and the demo.

use super::*;

#[test]
fn every_route_works_over_real_http_including_erasure_on_sqlite() {
    every_route_works(Backend::Sqlite);
}

#[test]
fn every_route_works_over_real_http_including_erasure_on_postgres() {
    every_route_works(Backend::Postgres);
}

fn every_route_works(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
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

    // Erasure: 200 with the certificate; the order is kept by legal obligation, everything
    // else is gone (404 on every route).
    let (s, cert, _) = api.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
    assert_eq!(s, StatusCode::OK, "{cert}");
    assert_eq!(cert["subject_id"], json!(id));
    assert_eq!(cert["erased"][0]["collection"], json!("customers"));
    assert_eq!(cert["kept"][0]["collection"], json!("orders"));
    assert_eq!(cert["kept"][0]["legal_basis"], json!("legal_obligation"));
    assert!(cert["audit"]["leaf_hash"].is_string() && cert["audit"]["hashes"].is_array());
    assert!(!cert.to_string().contains("Jane"), "names and counts only");
    let (s, v) = api.get(&format!(
        "/v1/subjects/{id}/records/orders/{rec}?purpose=essential.legal_obligation"
    ));
    assert_eq!(
        (s, &v["data"]["total_cents"]),
        (StatusCode::OK, &json!(1299)),
        "{v}"
    );
    for path in [
        format!("/v1/subjects/{id}/records/orders?purpose=essential.service"),
        format!("/v1/subjects/{id}/records/orders/{rec}?purpose=essential.service"),
    ] {
        let (s, v) = api.get(&path);
        assert_eq!(
            (s, problem_type(&v), &v["reason"]),
            (
                StatusCode::FORBIDDEN,
                "urn:privet:problem:forbidden",
                &json!("erased_retained")
            ),
            "{path}"
        );
    }
    for path in [
        format!("/v1/subjects/{id}?purpose=essential.service"),
        format!("/v1/subjects/{id}/records/support_tickets?purpose=essential.service"),
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
    let (s, v, _) = api.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
    assert_eq!(
        (s, problem_type(&v)),
        (StatusCode::CONFLICT, "urn:privet:problem:already-erased")
    );
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
    // tokio-postgres would log every statement's parameters at debug level; it is capped.
    assert!(
        !log.contains("executing statement"),
        "statement parameters were logged"
    );
    for v in [
        "jane@example.com",
        "JANE@example.com",
        "Jane",
        "4242",
        "6502530042",
    ] {
        let hits: Vec<&str> = log.lines().filter(|l| l.contains(v)).collect();
        assert!(hits.is_empty(), "{v} leaked into the server log: {hits:#?}");
    }
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
