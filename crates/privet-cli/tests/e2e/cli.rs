//! The command line: import and subject commands.

use super::*;

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
    assert!(
        err.contains("not imported (fix and re-import only these): lines 4-5"),
        "{err}"
    );
    assert!(err.contains("imported: lines 2-3, line 6"), "{err}");
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
    let (code, out, _) = run(&["subject", "erase", &id, "--yes"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("erased {id}")) && out.contains("kept    nothing"),
        "{out}"
    );
    assert!(
        !out.contains("Terry"),
        "the certificate names no value: {out}"
    );
    let (code, _, err) = run(&["subject", "erase", &id, "--yes", "--json"]);
    assert_ne!(code, 0);
    assert!(err.contains("already erased"), "{err}");
    let (code, _, err) = run(&["subject", "get", &id, "--purpose", "essential.service"]);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn an_import_that_stops_says_exactly_which_lines_went_in() {
    let dir = tempfile::tempdir().unwrap();
    let key = init(dir.path());
    let csv = dir.path().join("customers.csv");
    let mut text = String::from("email\n");
    for i in 0..40 {
        // Line 2 + i; the batch holding line 12 (i = 10) is bad.
        let email = if i == 10 {
            "broken".to_owned()
        } else {
            format!("s{i}@example.com")
        };
        text.push_str(&email);
        text.push('\n');
    }
    std::fs::write(&csv, text).unwrap();
    let out = Command::new(BIN)
        .args([
            "import",
            "--collection",
            "customers",
            "--batch-size",
            "5",
            "--dir",
        ])
        .arg(dir.path())
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lines 12-16"), "the bad batch is named: {err}");
    // Whatever the report says was imported is in the vault, and nothing else is.
    let imported: Vec<(u64, u64)> = err
        .lines()
        .find_map(|l| l.strip_prefix("imported: "))
        .map(|l| {
            l.split(", ")
                .map(|r| {
                    let r = r.trim_start_matches("lines ").trim_start_matches("line ");
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    (a.parse().unwrap(), b.parse().unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    for i in 0..40u64 {
        if i == 10 {
            continue;
        }
        let line = i + 2;
        let reported = imported.iter().any(|(a, b)| (*a..=*b).contains(&line));
        let (_, v) = api.get(&format!(
            "/v1/subjects?email=s{i}@example.com&purpose=essential.service"
        ));
        let present = v["subjects"].as_array().unwrap().len() == 1;
        assert_eq!(
            present, reported,
            "line {line}: in the vault = {present}, reported = {reported}\n{err}"
        );
        if (12..=16).contains(&line) {
            assert!(!present, "line {line} of the rejected batch was written");
        }
    }
}
