//! Consent and purpose-bound access end to end, on both backends: roles and principals,
//! grant → the field shows; withdraw → the very next read withholds it; GPC; restriction;
//! revocation and expiry of keys; and the bad input of each.

use super::*;

#[test]
fn consent_and_grants_end_to_end_on_sqlite() {
    consent_and_grants(Backend::Sqlite);
}

#[test]
fn consent_and_grants_end_to_end_on_postgres() {
    consent_and_grants(Backend::Postgres);
}

#[test]
fn consent_bad_input_is_refused_and_changes_nothing_on_sqlite() {
    consent_bad_input(Backend::Sqlite);
}

#[test]
fn consent_bad_input_is_refused_and_changes_nothing_on_postgres() {
    consent_bad_input(Backend::Postgres);
}

const EMAIL_MARKETING: &str = "marketing.communications.email";
const TARGETED_ADS: &str = "marketing.advertising.third_party.targeted";

impl Api {
    fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.req(reqwest::Method::PUT, path, Some(body));
        (s, v)
    }

    fn put_gpc(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Sec-GPC", "1")
            .json(&body)
            .send()
            .unwrap();
        let status = resp.status();
        (status, resp.json().unwrap_or(Value::Null))
    }

    fn delete(&self, path: &str) -> StatusCode {
        self.req(reqwest::Method::DELETE, path, None).0
    }

    fn with_key(&self, key: &str) -> Api {
        Api::new(&self.base, key)
    }
}

fn consent(state: &str) -> Value {
    json!({"state": state, "source": "web_form", "notice_version": "2026-11"})
}

/// Creates the `mailer` role and a principal holding it; returns the principal's API.
fn mailer(admin: &Api) -> (String, Api) {
    let (s, v) = admin.post(
        "/v1/roles",
        json!({"name": "mailer", "purposes": [EMAIL_MARKETING],
               "collections": {"customers": {"email": "plain", "name": "masked"}}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = admin.post(
        "/v1/principals",
        json!({"name": "newsletter-service", "roles": ["mailer"]}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["api_key"].as_str().unwrap();
    assert!(key.starts_with("pk_"), "{v}");
    (v["id"].as_str().unwrap().to_owned(), admin.with_key(key))
}

fn consent_and_grants(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let admin = Api::new(&server.base, &key);
    let (mailer_id, mailer) = mailer(&admin);

    let (s, v) = admin.post(
        "/v1/subjects",
        json!({"data": {"email": "Jane.Doe@Example.com", "name": "Jane Doe", "phone": "+1 650 253 0000"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let read = format!("/v1/subjects/{id}?purpose={EMAIL_MARKETING}");

    // No consent yet: the mailer's purpose rests on consent, so nothing shows.
    let (s, v) = mailer.get(&read);
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({}));
    let reasons: Vec<(&str, &str)> = v["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["field"].as_str().unwrap(), w["reason"].as_str().unwrap()))
        .collect();
    assert!(reasons.contains(&("email", "no_consent")), "{v}");
    assert!(reasons.contains(&("name", "no_consent")), "{v}");
    assert!(reasons.contains(&("phone", "purpose_not_declared")), "{v}");

    // Grant → the email shows in plain, the name masked.
    let (s, v) = admin.put(
        &format!("/v1/subjects/{id}/consents/{EMAIL_MARKETING}"),
        consent("granted"),
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = mailer.get(&read);
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["email"], json!("Jane.Doe@example.com"));
    assert_eq!(v["data"]["name"], json!("J***"));

    // Withdraw → the very next read withholds them, with `consent_withdrawn`.
    let (s, _) = admin.put(
        &format!("/v1/subjects/{id}/consents/{EMAIL_MARKETING}"),
        consent("withdrawn"),
    );
    assert_eq!(s, StatusCode::OK);
    let (_, v) = mailer.get(&read);
    assert_eq!(v["data"], json!({}), "{v}");
    assert!(
        v["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["field"] == "email" && w["reason"] == "consent_withdrawn"),
        "{v}"
    );

    // A purpose the mailer is not granted: 403 with the reason, no data.
    let (s, v) = mailer.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(problem_type(&v), "urn:privet:problem:forbidden");
    assert_eq!(v["reason"], json!("not_granted"));
    assert!(v.get("data").is_none());
    // Nor may it look up by phone, or administer.
    let (s, v) = mailer.get("/v1/subjects?email=jane.doe@example.com&purpose=essential.service");
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = mailer.get("/v1/principals");
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["reason"], json!("not_admin"));

    // GPC: a consent change carrying Sec-GPC: 1 denies every sale-or-sharing purpose …
    let (s, v) = admin.put_gpc(
        &format!("/v1/subjects/{id}/consents/{EMAIL_MARKETING}"),
        consent("granted"),
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    let recorded = v["recorded"].as_array().unwrap();
    assert!(
        recorded.iter().any(|e| e["purpose"] == TARGETED_ADS
            && e["state"] == "denied"
            && e["source"] == "gpc"),
        "{v}"
    );
    // … and such a purpose cannot be granted again by a request with the signal.
    let (s, v) = admin.put_gpc(
        &format!("/v1/subjects/{id}/consents/{TARGETED_ADS}"),
        consent("granted"),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], json!("gpc_forbids_grant"));
    let (_, v) = admin.get(&format!("/v1/subjects/{id}/consents"));
    let ads = v["consents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["purpose"] == TARGETED_ADS)
        .unwrap_or_else(|| panic!("no targeted-ads consent in {v}"));
    assert_eq!(ads["effective"], json!("denied"));
    assert_eq!(ads["source"], json!("gpc"));

    // A signed receipt verifies with the published key; a modified one does not.
    let (s, receipt) = admin.get(&format!("/v1/subjects/{id}/consents/receipt"));
    assert_eq!(s, StatusCode::OK, "{receipt}");
    let published = admin
        .http
        .get(format!("{}/v1/consents/receipt-key", admin.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(receipt["verifier_key"], json!(published));
    let key: privet_audit::VerifierKey = published.parse().unwrap();
    let signed = receipt["signed"].as_str().unwrap();
    let r = privet_vault::verify_receipt(signed, &key).unwrap();
    assert_eq!(r.subject_id.to_string(), id);
    assert!(
        r.purposes
            .iter()
            .any(|p| p.purpose == TARGETED_ADS && p.effective == "denied" && p.source == "gpc")
    );
    let forged = signed.replacen("\"denied\"", "\"granted\"", 1);
    assert!(privet_vault::verify_receipt(&forged, &key).is_err());
    let file = dir.path().join("receipt.txt");
    std::fs::write(&file, signed).unwrap();
    let ok = Command::new(BIN)
        .args(["consent", "verify-receipt", "--key", &published])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::write(&file, &forged).unwrap();
    let bad = Command::new(BIN)
        .args(["consent", "verify-receipt", "--key", &published])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    // The history keeps every event, oldest first.
    let (s, v) = admin.get(&format!("/v1/subjects/{id}/consents/history"));
    assert_eq!(s, StatusCode::OK, "{v}");
    let states: Vec<(&str, &str)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["purpose"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            (EMAIL_MARKETING, "granted"),
            (EMAIL_MARKETING, "withdrawn"),
            (EMAIL_MARKETING, "granted"),
            (TARGETED_ADS, "denied"),
        ]
    );

    // Restriction: only legal-obligation purposes read while it is in force.
    let (s, v) = admin.put(
        &format!("/v1/subjects/{id}/restriction"),
        json!({"reason": "accuracy_contested"}),
    );
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = admin.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(v["data"], json!({}), "{v}");
    assert!(
        v["withheld"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["reason"] == "restricted" || w["reason"] == "purpose_not_declared"),
        "{v}"
    );
    let (s, v) = admin.post(
        &format!("/v1/subjects/{id}/records/orders"),
        json!({"data": {"items": [{"sku": "A1"}], "total_cents": 1999, "card_last4": "4242"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = admin.get(&format!(
        "/v1/subjects/{id}/records/orders?purpose=essential.legal_obligation"
    ));
    assert_eq!(v["records"][0]["data"]["total_cents"], json!(1999), "{v}");
    assert_eq!(
        admin.delete(&format!("/v1/subjects/{id}/restriction")),
        StatusCode::NO_CONTENT
    );
    let (_, v) = admin.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(v["data"]["email"], json!("Jane.Doe@example.com"), "{v}");

    // Consents given at creation, checked before the fields they permit are collected.
    let religion = json!({"data": {"email": "r@example.com", "religion": "none"}});
    let (s, v) = admin.post("/v1/subjects", religion.clone());
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(problem_type(&v), "urn:privet:problem:no-lawful-basis");
    assert_eq!(v["errors"][0]["field"], json!("religion"));
    let mut with_consent = religion;
    with_consent["consents"] = json!({"essential.service": "granted"});
    with_consent["notice_version"] = json!("2026-11");
    let (s, v) = admin.post("/v1/subjects", with_consent);
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // The principal list shows the admin's grant and the mailer's.
    let (_, v) = admin.get("/v1/principals");
    let list = v["principals"].as_array().unwrap();
    let adm = list.iter().find(|p| p["id"] == "admin").unwrap();
    assert_eq!(adm["admin"], json!(true));
    assert!(adm["purposes"].as_array().unwrap().len() > 1, "{v}");
    let m = list.iter().find(|p| p["id"] == json!(mailer_id)).unwrap();
    assert_eq!(m["admin"], json!(false));
    assert_eq!(m["purposes"], json!([EMAIL_MARKETING]));

    // Revoking takes effect on the next request.
    assert_eq!(
        admin.delete(&format!("/v1/principals/{mailer_id}")),
        StatusCode::NO_CONTENT
    );
    let (s, v) = mailer.get(&read);
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    // A key that expires stops working.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (s, v) = admin.post(
        "/v1/principals",
        json!({"name": "temp", "roles": ["mailer"], "expires_at": soon}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let temp = admin.with_key(v["api_key"].as_str().unwrap());
    assert_eq!(temp.get(&read).0, StatusCode::OK);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(temp.get(&read).0, StatusCode::UNAUTHORIZED);
}

fn consent_bad_input(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let admin = Api::new(&server.base, &key);
    let (_, mailer) = mailer(&admin);
    let (_, v) = admin.post("/v1/subjects", json!({"data": {"email": "b@example.com"}}));
    let id = v["id"].as_str().unwrap().to_owned();
    let path = |p: &str| format!("/v1/subjects/{id}/consents/{p}");

    let cases: Vec<(StatusCode, Value, &str)> = vec![
        {
            let (s, v) = admin.put(&path("no.such.purpose"), consent("granted"));
            (s, v, "unknown-purpose")
        },
        {
            let (s, v) = admin.put(&path(EMAIL_MARKETING), consent("maybe"));
            (s, v, "malformed-request")
        },
        {
            let mut c = consent("granted");
            c["source"] = json!("carrier_pigeon");
            let (s, v) = admin.put(&path(EMAIL_MARKETING), c);
            (s, v, "malformed-request")
        },
        {
            let mut c = consent("granted");
            c["expires_at"] = json!("2001-01-01T00:00:00Z");
            let (s, v) = admin.put(&path(EMAIL_MARKETING), c);
            (s, v, "invalid-consent")
        },
        {
            let (s, v) = admin.put_gpc(&path(TARGETED_ADS), consent("granted"));
            (s, v, "invalid-consent")
        },
        {
            let (s, v) = admin.post(
                "/v1/roles",
                json!({"name": "bad", "purposes": ["nope"],
                       "collections": {"customers": {"shoe_size": "plain"}, "nowhere": {}}}),
            );
            (s, v, "invalid-role")
        },
        {
            let (s, v) = admin.post(
                "/v1/roles",
                json!({"name": "bad2", "purposes": [], "collections": {"customers": {"email": "peek"}}}),
            );
            (s, v, "malformed-request")
        },
        {
            let (s, v) = admin.post("/v1/principals", json!({"name": "x", "roles": ["ghost"]}));
            (s, v, "role-not-found")
        },
        {
            let (s, v) = admin.post(
                "/v1/principals",
                json!({"name": "x", "roles": ["mailer"], "expires_at": "2001-01-01T00:00:00Z"}),
            );
            (s, v, "malformed-request")
        },
        {
            let (s, v) = mailer.post(
                "/v1/roles",
                json!({"name": "mine", "purposes": [], "collections": {}}),
            );
            (s, v, "forbidden")
        },
        {
            let (s, v) = mailer.put(&path("essential.service"), consent("granted"));
            (s, v, "forbidden")
        },
        {
            let (s, v) = admin.put(
                &format!("/v1/subjects/{id}/restriction"),
                json!({"reason": ""}),
            );
            (s, v, "malformed-request")
        },
    ];
    for (i, (status, body, slug)) in cases.iter().enumerate() {
        assert!(
            status.is_client_error(),
            "case {i}: expected a client error, got {status}: {body}"
        );
        assert_eq!(
            problem_type(body),
            format!("urn:privet:problem:{slug}"),
            "case {i}: {body}"
        );
    }
    // The invalid role names every problem by path.
    let (_, v) = (StatusCode::OK, &cases[5].1);
    let paths: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"purposes.nope"), "{v}");
    assert!(paths.contains(&"collections.customers.shoe_size"), "{v}");
    assert!(paths.contains(&"collections.nowhere"), "{v}");

    // Nothing changed: no consent recorded, no role or principal created.
    let (_, v) = admin.get(&format!("/v1/subjects/{id}/consents/history"));
    assert_eq!(v["events"], json!([]), "{v}");
    let (_, v) = admin.get("/v1/roles");
    let names: Vec<&str> = v["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "mailer"]);
    let (_, v) = admin.get("/v1/principals");
    assert_eq!(v["principals"].as_array().unwrap().len(), 2, "{v}");

    // A revoked or garbage key is a 401.
    let bogus = admin.with_key("pk_nope_nope");
    assert_eq!(bogus.get("/v1/roles").0, StatusCode::UNAUTHORIZED);
}

fn privet(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn consent_principal_and_role_commands_work_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let d = dir.path();
    let (ok, id, err) = privet(d, &["subject", "put", r#"{"email": "t@example.com"}"#]);
    assert!(ok, "{err}");
    let id = id.trim().to_owned();

    let (ok, out, err) = privet(
        d,
        &[
            "consent",
            "grant",
            &id,
            EMAIL_MARKETING,
            "--notice-version",
            "2026-11",
            "--source",
            "web_form",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("granted"), "{out}");
    let (ok, _, err) = privet(
        d,
        &[
            "consent",
            "withdraw",
            &id,
            EMAIL_MARKETING,
            "--notice-version",
            "2026-11",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = privet(d, &["consent", "show", &id, "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["consents"][0]["effective"], json!("withdrawn"), "{v}");
    let (ok, out, _) = privet(d, &["consent", "history", &id]);
    assert!(ok);
    assert_eq!(out.lines().count(), 2, "{out}");
    // Bad input: a clear message, a non-zero exit, nothing recorded.
    let (ok, _, err) = privet(
        d,
        &[
            "consent",
            "grant",
            &id,
            "no.such.purpose",
            "--notice-version",
            "1",
        ],
    );
    assert!(!ok && err.contains("unknown purpose"), "{err}");
    let (ok, _, err) = privet(
        d,
        &[
            "consent",
            "grant",
            &id,
            EMAIL_MARKETING,
            "--notice-version",
            "1",
            "--expires-at",
            "2001-01-01T00:00:00Z",
        ],
    );
    assert!(!ok && err.contains("not in the future"), "{err}");
    let (ok, _, err) = privet(
        d,
        &[
            "consent",
            "grant",
            &id,
            EMAIL_MARKETING,
            "--notice-version",
            "1",
            "--source",
            "fax",
        ],
    );
    assert!(!ok && err.contains("consent source"), "{err}");
    let (_, out, _) = privet(d, &["consent", "history", &id]);
    assert_eq!(out.lines().count(), 2, "{out}");

    // Roles and principals.
    let role = r#"{"name": "mailer", "purposes": ["marketing.communications.email"], "collections": {"customers": {"email": "plain"}}}"#;
    let (ok, _, err) = privet(d, &["role", "create", role]);
    assert!(ok, "{err}");
    let (ok, _, err) = privet(
        d,
        &[
            "role",
            "create",
            r#"{"name": "bad", "collections": {"customers": {"shoe": "plain"}}}"#,
        ],
    );
    assert!(!ok && err.contains("collections.customers.shoe"), "{err}");
    let (ok, out, _) = privet(d, &["role", "show", "mailer"]);
    assert!(
        ok && out.contains("marketing.communications.email"),
        "{out}"
    );
    let (ok, out, err) = privet(
        d,
        &[
            "principal",
            "create",
            "newsletter",
            "--role",
            "mailer",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let p: Value = serde_json::from_str(&out).unwrap();
    let pid = p["id"].as_str().unwrap().to_owned();
    assert!(p["api_key"].as_str().unwrap().starts_with("pk_"));
    let (ok, _, err) = privet(d, &["principal", "create", "x", "--role", "ghost"]);
    assert!(!ok && err.contains("ghost"), "{err}");
    let (ok, out, _) = privet(d, &["principal", "list"]);
    assert!(ok);
    let admin_line = out.lines().find(|l| l.starts_with("admin ")).unwrap();
    assert!(
        admin_line.contains("yes") && admin_line.contains("essential.service"),
        "{out}"
    );
    let mailer_line = out.lines().find(|l| l.contains("newsletter")).unwrap();
    assert!(
        mailer_line.contains("active") && mailer_line.contains(EMAIL_MARKETING),
        "{out}"
    );
    let (ok, _, err) = privet(d, &["principal", "revoke", &pid]);
    assert!(ok, "{err}");
    let (_, out, _) = privet(d, &["principal", "list", "--json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let revoked = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == json!(pid))
        .unwrap();
    assert_eq!(revoked["status"], json!("revoked"));
}
