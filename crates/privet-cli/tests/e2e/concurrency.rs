//! Concurrent requests on one subject, on both backends: updates race under an optimistic
//! version check (200 or a clear 409, never a 500, and what is read afterwards is a value that was acknowledged), and writes
//! racing an erasure fail cleanly; the subject never comes back.

use std::sync::Arc;

use super::*;

#[test]
fn concurrent_updates_get_200_or_409_and_the_final_value_was_acknowledged_on_sqlite() {
    concurrent_updates(Backend::Sqlite);
}

#[test]
fn concurrent_updates_get_200_or_409_and_the_final_value_was_acknowledged_on_postgres() {
    concurrent_updates(Backend::Postgres);
}

fn concurrent_updates(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let api = Api::new(&server.base, &key);
    let (_, v) = api.post(
        "/v1/subjects",
        json!({"data": {"email": "race@example.com", "name": "start"}}),
    );
    let id = v["id"].as_str().unwrap().to_owned();
    let mut workers = Vec::new();
    for w in 0..6 {
        let (base, key, id) = (server.base.clone(), key.clone(), id.clone());
        workers.push(std::thread::spawn(move || {
            let api = Api::new(&base, &key);
            let mut outcomes = Vec::new();
            for n in 0..15 {
                let name = format!("w{w}-{n}");
                let (s, v, _) = api.req(
                    reqwest::Method::PATCH,
                    &format!("/v1/subjects/{id}"),
                    Some(json!({"data": {"name": name}})),
                );
                if s == StatusCode::CONFLICT {
                    assert_eq!(v["type"], json!("urn:privet:problem:conflict"));
                }
                outcomes.push((s, name));
            }
            outcomes
        }));
    }
    let outcomes: Vec<(StatusCode, String)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    for (s, _) in &outcomes {
        assert!(
            *s == StatusCode::OK || *s == StatusCode::CONFLICT,
            "unexpected {s}"
        );
    }
    let acknowledged: Vec<&String> = outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, n)| n)
        .collect();
    assert!(!acknowledged.is_empty());
    let (_, v) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
    let last = v["data"]["name"].as_str().unwrap().to_owned();
    assert!(
        acknowledged.contains(&&last),
        "{last} was never acknowledged"
    );
}

#[test]
fn writes_racing_an_erasure_fail_cleanly_and_never_resurrect_the_subject_on_sqlite() {
    erasure_race(Backend::Sqlite);
}

#[test]
fn writes_racing_an_erasure_fail_cleanly_and_never_resurrect_the_subject_on_postgres() {
    erasure_race(Backend::Postgres);
}

fn erasure_race(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (key, _db) = init_on(dir.path(), backend);
    let server = serve(dir.path());
    let api = Arc::new(Api::new(&server.base, &key));
    for round in 0..5 {
        let (_, v) = api.post(
            "/v1/subjects",
            json!({"data": {"email": format!("gone{round}@example.com")}}),
        );
        let id = v["id"].as_str().unwrap().to_owned();
        let mut writers = Vec::new();
        for w in 0..4 {
            let (base, key, id) = (server.base.clone(), key.clone(), id.clone());
            writers.push(std::thread::spawn(move || {
                let api = Api::new(&base, &key);
                let mut statuses = Vec::new();
                for n in 0..10 {
                    let s = if (w + n) % 2 == 0 {
                        api.post(
                            &format!("/v1/subjects/{id}/records/orders"),
                            json!({"data": {"total_cents": n}}),
                        )
                        .0
                    } else {
                        api.req(
                            reqwest::Method::PATCH,
                            &format!("/v1/subjects/{id}"),
                            Some(json!({"data": {"name": "x"}})),
                        )
                        .0
                    };
                    statuses.push(s);
                }
                statuses
            }));
        }
        let (s, cert, _) = api.req(reqwest::Method::DELETE, &format!("/v1/subjects/{id}"), None);
        assert_eq!(s, StatusCode::OK);
        for w in writers {
            for s in w.join().unwrap() {
                assert!(
                    [
                        StatusCode::OK,
                        StatusCode::CREATED,
                        StatusCode::NOT_FOUND,
                        StatusCode::CONFLICT
                    ]
                    .contains(&s),
                    "a write racing the erasure got {s}"
                );
            }
        }
        // The erasure wins: nothing of the subject is readable, written before or after.
        let (s, _) = api.get(&format!("/v1/subjects/{id}?purpose=essential.service"));
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Orders committed before the erasure are kept by legal obligation, for that purpose
        // only; any other read is refused (or, if none was kept, finds nothing).
        let (s, _) = api.get(&format!(
            "/v1/subjects/{id}/records/orders?purpose=essential.service"
        ));
        let kept = cert["kept"].as_array().is_some_and(|k| !k.is_empty());
        let expected = if kept {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(s, expected, "{cert}");
        let (_, v) = api.get(&format!(
            "/v1/subjects?email=gone{round}@example.com&purpose=essential.service"
        ));
        assert_eq!(v["subjects"], json!([]));
    }
}
