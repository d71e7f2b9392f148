//! TLS to the database, against a real PostgreSQL that accepts TCP connections only over TLS
//! (a throwaway cluster with a certificate from a test CA).

use privet_testpg::{Cluster, TestCa};

use super::*;

/// `privet migrate` against `url` with `ca_file`: its exit status and stderr.
fn migrate(dir: &Path, url: &str, ca_file: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["migrate", "--dir"])
        .arg(dir)
        .env("PRIVET_STORE_URL", url);
    match ca_file {
        Some(f) => cmd.env("PRIVET_STORE_CA_FILE", f),
        None => cmd.env_remove("PRIVET_STORE_CA_FILE"),
    };
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tls_to_the_database_verifies_the_server_and_encrypts_the_session() {
    let ca = TestCa::new(&["localhost"]);
    let cluster = Cluster::start_with_tls(&ca);
    cluster.create_database("privet");
    let port = cluster.port();
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("db-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let other_ca = files.path().join("other-ca.pem");
    std::fs::write(&other_ca, TestCa::new(&["localhost"]).ca_pem).unwrap();
    let url =
        |extra: &str| format!("host=localhost port={port} user=postgres dbname=privet {extra}");

    // A vault created over verify-full, trusting the test CA through store.ca_file.
    let dir = tempfile::tempdir().unwrap();
    let vault = dir.path().join("v");
    let out = Command::new(BIN)
        .args(["init", "--json", "--dir"])
        .arg(&vault)
        .args(["--store-url", &url("sslmode=verify-full")])
        .env("PRIVET_STORE_CA_FILE", &ca_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = serde_json::from_slice::<Value>(&out.stdout).unwrap()["admin_api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = serve_with(
        &vault,
        &[("PRIVET_STORE_CA_FILE", ca_file.to_str().unwrap())],
    );
    let api = Api::new(&server.base, &key);
    assert_eq!(api.get("/readyz").0, StatusCode::OK);
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "tls@example.com", "name": "Over TLS"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap();
    let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(
        (s, &v["data"]["name"]),
        (StatusCode::OK, &json!("Over TLS"))
    );
    // Every session the server holds on the database is encrypted.
    let sessions = cluster.psql(
        "postgres",
        "SELECT count(*), bool_and(s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = 'privet' AND a.client_addr IS NOT NULL",
    );
    let (count, all_ssl) = sessions.trim().split_once('|').unwrap();
    assert!(
        count.parse::<u32>().unwrap() >= 1,
        "no session seen: {sessions}"
    );
    assert_eq!(all_ssl, "t", "a session without TLS: {sessions}");
    drop(server);

    // A certificate from a CA we do not trust is refused, with a message that says so.
    for (ca, what) in [(Some(other_ca.as_path()), "wrong CA"), (None, "no CA file")] {
        let (ok, err) = migrate(&vault, &url("sslmode=verify-full"), ca);
        assert!(!ok, "{what}: must fail");
        assert!(
            err.contains("TLS") && err.contains("certificate") && err.contains("UnknownIssuer"),
            "{what}: {err}"
        );
    }
    // verify-full checks the host name (the certificate names `localhost`); verify-ca and
    // require check only the chain.
    let elsewhere =
        format!("host=db.example port={port} hostaddr=127.0.0.1 user=postgres dbname=privet");
    let (ok, err) = migrate(
        &vault,
        &format!("{elsewhere} sslmode=verify-full"),
        Some(&ca_file),
    );
    assert!(!ok && err.contains("not valid for name"), "{err}");
    for mode in ["verify-ca", "require"] {
        let (ok, err) = migrate(
            &vault,
            &format!("{elsewhere} sslmode={mode}"),
            Some(&ca_file),
        );
        assert!(ok, "{mode}: {err}");
    }
    // `prefer` never falls back to plaintext: it verifies like verify-full.
    let (ok, err) = migrate(&vault, &url("sslmode=prefer"), Some(&other_ca));
    assert!(!ok && err.contains("UnknownIssuer"), "{err}");
    // Without TLS this server refuses TCP sessions: sslmode=disable (and the loopback
    // default) really send plaintext.
    for extra in ["sslmode=disable", ""] {
        let (ok, err) = migrate(&vault, &url(extra), Some(&ca_file));
        assert!(!ok && err.contains("no encryption"), "{extra}: {err}");
    }

    // Or from the URL, as in libpq.
    let with_root = url(&format!(
        "sslmode=verify-full sslrootcert={}",
        ca_file.display()
    ));
    let (ok, err) = migrate(&vault, &with_root, None);
    assert!(ok, "sslrootcert in the URL: {err}");
    // The CA file may also come from the config, relative to the vault directory.
    std::fs::copy(&ca_file, vault.join("db-ca.pem")).unwrap();
    let config = std::fs::read_to_string(vault.join("privet.toml")).unwrap();
    let config = config.replace("# ca_file = \"db-ca.pem\"", "ca_file = \"db-ca.pem\"");
    std::fs::write(vault.join("privet.toml"), config).unwrap();
    let (ok, err) = migrate(&vault, &url("sslmode=verify-full"), None);
    assert!(ok, "ca_file from the config: {err}");
}
