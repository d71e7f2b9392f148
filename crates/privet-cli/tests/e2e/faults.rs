//! Database faults, each against a real PostgreSQL that the test owns (a throwaway cluster it
//! can stop, crash and start): a restart under load, and a migration killed with -9.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use privet_testpg::Cluster;

use super::*;

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Ids whose creation was acknowledged (201).
    acked: Vec<String>,
    /// Successful reads of acknowledged subjects.
    reads_ok: usize,
    /// 503 problem responses (each checked when recorded).
    unavailable: usize,
    /// Anything else: (what, status or error). Must stay empty.
    wrong: Vec<String>,
}

fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap()
}

/// Checks a non-success response: it must be a 503 problem saying the store is unavailable,
/// with Retry-After.
fn record_failure(seen: &Mutex<Seen>, what: &str, resp: reqwest::blocking::Response) {
    let status = resp.status();
    let retry_after = resp.headers().get("retry-after").is_some();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body: Value = resp.json().unwrap_or(Value::Null);
    let mut s = lock(seen);
    if status == StatusCode::SERVICE_UNAVAILABLE
        && problem_type(&body) == "urn:privet:problem:unavailable"
        && content_type == "application/problem+json"
        && retry_after
    {
        s.unavailable += 1;
    } else {
        s.wrong.push(format!("{what}: {status} {body}"));
    }
}

/// Writers and readers hammering `base` until `stop`.
fn clients(
    base: &str,
    key: &str,
    seen: &Arc<Mutex<Seen>>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    for w in 0..3 {
        let (base, key, seen, stop) = (base.to_owned(), key.to_owned(), seen.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let api = Api::new(&base, &key);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"data": {"email": format!("load{w}.{n}@example.com"), "name": format!("Load {w} {n}")}});
                match api.http.post(format!("{base}/v1/subjects")).bearer_auth(&key).json(&body).send() {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let id = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
                        lock(&seen).acked.push(id);
                    }
                    Ok(r) => {
                        record_failure(&seen, "write", r);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => lock(&seen).wrong.push(format!("write: {e}")),
                }
            }
        }));
    }
    for _ in 0..2 {
        let (base, key, seen, stop) = (base.to_owned(), key.to_owned(), seen.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let api = Api::new(&base, &key);
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let id = {
                    let s = lock(&seen);
                    if s.acked.is_empty() {
                        None
                    } else {
                        Some(s.acked[i % s.acked.len()].clone())
                    }
                };
                let Some(id) = id else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let url = format!("{base}/v1/subjects/{id}?purpose=essential.service");
                match api.http.get(url).bearer_auth(&key).send() {
                    Ok(r) if r.status() == StatusCode::OK => lock(&seen).reads_ok += 1,
                    Ok(r) => {
                        record_failure(&seen, "read", r);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => lock(&seen).wrong.push(format!("read: {e}")),
                }
            }
        }));
    }
    threads
}

/// Waits (bounded) until `cond` holds of what the clients saw.
fn wait_for(seen: &Mutex<Seen>, what: &str, cond: impl Fn(&Seen) -> bool) {
    for _ in 0..6000 {
        if cond(&lock(seen)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = lock(seen);
    panic!(
        "timed out waiting for {what}: {} acked, {} reads, {} unavailable, {} wrong, first: {:?}",
        s.acked.len(),
        s.reads_ok,
        s.unavailable,
        s.wrong.len(),
        &s.wrong[..s.wrong.len().min(3)]
    );
}

fn readyz(base: &str) -> (StatusCode, bool) {
    let r = reqwest::blocking::get(format!("{base}/readyz")).unwrap();
    (r.status(), r.headers().get("retry-after").is_some())
}

#[test]
fn a_database_restart_under_load_is_503_then_recovers_and_loses_no_acknowledged_write() {
    let cluster = Cluster::start();
    cluster.create_database("privet");
    let dir = tempfile::tempdir().unwrap();
    let key = init_with(dir.path(), &["--store-url", &cluster.socket_url("privet")]);
    let server = serve(dir.path());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = clients(&server.base, &key, &seen, &stop);
    wait_for(&seen, "writes and reads", |s| {
        s.acked.len() >= 50 && s.reads_ok >= 50
    });

    // A clean restart (clients disconnected), then a crash (recovery from the WAL).
    for (round, crash) in [(1, false), (2, true)] {
        let before = lock(&seen).unavailable;
        if crash {
            cluster.crash();
        } else {
            cluster.stop();
        }
        // While it is down: 503 problems with Retry-After, never a 500 or a hang; not ready.
        wait_for(&seen, "503s during the outage", |s| {
            s.unavailable >= before + 20
        });
        assert_eq!(
            readyz(&server.base),
            (StatusCode::SERVICE_UNAVAILABLE, true)
        );
        cluster.start_again();
        // Back: the same server process serves again (its pool replaced the dead connections).
        let mut ready = readyz(&server.base).0;
        for _ in 0..600 {
            if ready == StatusCode::OK {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            ready = readyz(&server.base).0;
        }
        assert_eq!(ready, StatusCode::OK, "round {round}: not ready again");
        let (acked, reads) = {
            let s = lock(&seen);
            (s.acked.len(), s.reads_ok)
        };
        wait_for(&seen, "writes and reads after the restart", |s| {
            s.acked.len() >= acked + 50 && s.reads_ok >= reads + 50
        });
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let seen = lock(&seen);
    assert!(
        seen.wrong.is_empty(),
        "responses other than 2xx/503: {:?}",
        seen.wrong
    );
    // Every acknowledged write is there, read through the same server process.
    let api = Api::new(&server.base, &key);
    for id in &seen.acked {
        let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
        assert_eq!(s, StatusCode::OK, "acknowledged {id} lost: {v}");
        assert!(v["data"]["email"].as_str().unwrap().starts_with("load"));
    }
    // The audit log stayed one gap-free sequence through the outages.
    let gaps = cluster.psql(
        "privet",
        "SELECT (SELECT size FROM audit_head) - count(*), max(idx) + 1 - count(*) FROM audit",
    );
    assert_eq!(gaps.trim(), "0|0", "audit gaps");
}

#[test]
fn a_migration_killed_mid_step_leaves_no_half_state_and_the_next_run_completes_it() {
    let cluster = Cluster::start();
    // A vault whose config we borrow; the migration under test runs on a fresh database.
    cluster.create_database("home");
    cluster.create_database("fresh");
    let dir = tempfile::tempdir().unwrap();
    init_with(dir.path(), &["--store-url", &cluster.socket_url("home")]);
    // Make the migration observable: once it has created `blind_index` (half-way through
    // its first step) it waits for an advisory lock that this test holds.
    cluster.psql(
        "fresh",
        "CREATE FUNCTION hold_migration() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() \
                      WHERE object_identity LIKE '%.blind_index') THEN \
             PERFORM pg_advisory_xact_lock(4242); \
           END IF; END $$; \
         CREATE EVENT TRIGGER hold_migration ON ddl_command_end EXECUTE FUNCTION hold_migration()",
    );
    let mut holder = Command::new(privet_testpg::pg_bin().join("psql"))
        .arg(cluster.socket_url("fresh"))
        .args(["-XAtq"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut holder_in = holder.stdin.take().unwrap();
    writeln!(holder_in, "SELECT pg_advisory_lock(4242);").unwrap();
    holder_in.flush().unwrap();
    let lock_state = |granted: bool| {
        format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted = {granted}"
        )
    };
    poll(
        || cluster.psql("fresh", &lock_state(true)).trim() == "1",
        "the test's lock",
    );

    let fresh = cluster.socket_url("fresh");
    let mut migrate = Command::new(BIN)
        .args(["migrate", "--dir"])
        .arg(dir.path())
        .env("PRIVET_STORE_URL", &fresh)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    poll(
        || cluster.psql("fresh", &lock_state(false)).trim() == "1",
        "the migration to block mid-step",
    );
    // Half-way: its tables exist only inside its open transaction.
    assert_eq!(
        cluster
            .psql("fresh", "SELECT to_regclass('subjects') IS NULL")
            .trim(),
        "t"
    );
    migrate.kill().unwrap(); // SIGKILL
    migrate.wait().unwrap();
    writeln!(holder_in, "SELECT pg_advisory_unlock(4242);").unwrap();
    drop(holder_in);
    holder.wait().unwrap();
    // The killed migration's session ends and its transaction is rolled back: no half state.
    poll(
        || {
            cluster
                .psql("fresh", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'fresh' AND pid <> pg_backend_pid()")
                .trim()
                == "0"
        },
        "the killed session to end",
    );
    assert_eq!(
        cluster
            .psql(
                "fresh",
                "SELECT to_regclass('subjects') IS NULL AND to_regclass('blind_index') IS NULL \
             AND (SELECT count(*) FROM privet_migrations) = 0"
            )
            .trim(),
        "t",
        "a killed migration left part of its step behind"
    );
    cluster.psql(
        "fresh",
        "DROP EVENT TRIGGER hold_migration; DROP FUNCTION hold_migration()",
    );

    // The next run completes the migration, and the database works as a vault.
    let out = Command::new(BIN)
        .args(["migrate", "--dir"])
        .arg(dir.path())
        .env("PRIVET_STORE_URL", &fresh)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every migration step is recorded: the latest version is the number of steps shipped.
    let steps = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../privet-store-postgres/migrations"
    ))
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "sql")
    })
    .count();
    assert_eq!(
        cluster
            .psql("fresh", "SELECT max(version) FROM privet_migrations")
            .trim(),
        steps.to_string()
    );
    let vault = dir.path().join("second");
    let key = init_with(&vault, &["--store-url", &fresh]);
    let server = serve(&vault);
    let api = Api::new(&server.base, &key);
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "after@example.com"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap();
    let (s, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    assert_eq!(
        (s, &v["data"]["email"]),
        (StatusCode::OK, &json!("after@example.com"))
    );
}

/// Polls `cond` (bounded), panicking with `what` if it never holds.
fn poll(cond: impl Fn() -> bool, what: &str) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_request_stuck_behind_a_database_lock_is_a_503_once_the_statement_timeout_passes() {
    let cluster = Cluster::start();
    cluster.create_database("privet");
    // The URL's own statement timeout (1 s here) wins over Privet's default (30 s).
    let url = format!(
        "{} options='-c statement_timeout=1000'",
        cluster.socket_url("privet")
    );
    let dir = tempfile::tempdir().unwrap();
    let key = init_with(dir.path(), &["--store-url", &url]);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "before@example.com"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Another session holds the audit head's row lock, which every write and read needs.
    let mut holder = Command::new(privet_testpg::pg_bin().join("psql"))
        .arg(cluster.socket_url("privet"))
        .args(["-XAtq"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut holder_in = holder.stdin.take().unwrap();
    writeln!(
        holder_in,
        "BEGIN; SELECT size FROM audit_head FOR UPDATE; \\echo locked"
    )
    .unwrap();
    holder_in.flush().unwrap();
    let mut out = BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "locked" {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "psql ended early");
    }
    let (s, v, h) = api.req(
        reqwest::Method::POST,
        "/v1/subjects",
        Some(json!({"data": {"email": "blocked@example.com"}})),
    );
    assert_eq!(
        (s, problem_type(&v)),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:privet:problem:unavailable"
        ),
        "{v}"
    );
    assert!(h.get("retry-after").is_some());
    writeln!(holder_in, "ROLLBACK;").unwrap();
    drop(holder_in);
    holder.wait().unwrap();
    // Nothing of the cancelled write landed; the next one goes through.
    let (s, v) = api.get("/v1/subjects?email=blocked@example.com&purpose=essential.service");
    assert_eq!((s, &v["subjects"]), (StatusCode::OK, &json!([])));
    let (s, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "after@example.com"}}),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
}
