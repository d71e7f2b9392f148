//! Acknowledged writes survive kill -9.

use super::*;

#[test]
fn acknowledged_writes_survive_kill_9_on_sqlite() {
    acknowledged_writes_survive_kill_9(Backend::Sqlite);
}

#[test]
fn acknowledged_writes_survive_kill_9_on_postgres() {
    acknowledged_writes_survive_kill_9(Backend::Postgres);
}

fn acknowledged_writes_survive_kill_9(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, db) = init_on(dir.path(), backend);
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
    // No half-written subject: every subject row has its profile record; every committed
    // subject has its audit entry.
    drop(server);
    let count = |sqlite: &str, postgres: &str| -> i64 {
        match &db {
            None => rusqlite::Connection::open(dir.path().join("privet.db"))
                .unwrap()
                .query_row(sqlite, [], |r| r.get(0))
                .unwrap(),
            Some(db) => db.query(postgres).trim().parse().unwrap(),
        }
    };
    let orphans = "SELECT COUNT(*) FROM subjects WHERE id NOT IN (SELECT subject_id FROM records)";
    assert_eq!(count(orphans, orphans), 0);
    let audit = count(
        "SELECT COUNT(*) FROM audit WHERE leaf LIKE '%subject_create%'",
        "SELECT COUNT(*) FROM audit WHERE position('subject_create'::bytea IN leaf) > 0",
    );
    let subjects = count(
        "SELECT COUNT(*) FROM subjects",
        "SELECT COUNT(*) FROM subjects",
    );
    assert_eq!(
        audit, subjects,
        "every committed subject has its audit entry"
    );
    assert!(subjects as usize >= acked.len());
}
