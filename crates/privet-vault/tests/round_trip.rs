//! Property: any valid profile, written through the vault, reads back for a purpose exactly as
//! normalized — through validation, per-field encryption, the store (SQLite and PostgreSQL)
//! and the policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A valid profile of the example schema, and what each field must read back as.
fn profile() -> impl Strategy<Value = (Map<String, Value>, Map<String, Value>)> {
    let local = "[a-z][a-z0-9_]{0,15}(\\.[a-z0-9]{1,5})?";
    let domain = "[a-z]{1,10}\\.(com|org|net)";
    (
        local,
        domain,
        proptest::bool::ANY,
        "\\PC{0,200}",
        proptest::option::of(0u32..10_000),
        proptest::option::of((1900i32..2024, 1u8..=12, 1u8..=28)),
        proptest::option::of(prop::sample::select(vec![
            "female",
            "male",
            "non_binary",
            "undisclosed",
        ])),
        proptest::option::of("[ -~]{0,100}"),
    )
        .prop_map(|(l, d, upper, name, phone, dob, gender, address)| {
            let shown_domain = if upper { d.to_uppercase() } else { d.clone() };
            let mut input = json!({"email": format!(" {l}@{shown_domain} "), "name": name});
            let mut want = json!({"email": format!("{l}@{d}"), "name": name});
            if let Some(p) = phone {
                input["phone"] = json!(format!("+1 (650) 253-{p:04}"));
                want["phone"] = json!(format!("+1650253{p:04}"));
            }
            if let Some((y, m, day)) = dob {
                let date = format!("{y:04}-{m:02}-{day:02}");
                input["birth_date"] = json!(date);
                want["birth_date"] = json!(date);
            }
            if let Some(g) = gender {
                input["gender"] = json!(g);
                want["gender"] = json!(g);
            }
            if let Some(a) = address {
                input["address"] = json!(a);
                want["address"] = json!(a);
            }
            (obj(input), obj(want))
        })
}

/// The fields each purpose may see in the example schema.
fn visible(purpose: &str, field: &str) -> bool {
    match purpose {
        "essential.service" => ["email", "name", "phone", "address"].contains(&field),
        "analytics.reporting" => ["birth_date", "gender"].contains(&field),
        _ => false,
    }
}

/// Writes `input` through a fresh vault on `backend` and reads it back for each purpose.
fn reads_back_normalized(backend: Backend, input: &Map<String, Value>, want: &Map<String, Value>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = vault(backend).await;
        let a = actor();
        let id = t.vault.create_subject(&a, input).await.unwrap();
        for purpose in ["essential.service", "analytics.reporting"] {
            let v = t.vault.read_subject(&a, id, Some(purpose)).await.unwrap();
            let expected: Map<String, Value> = want
                .iter()
                .filter(|(k, _)| visible(purpose, k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(v.data, expected, "purpose {purpose}");
        }
        let email = want["email"].as_str().unwrap().to_uppercase();
        let found = t
            .vault
            .find_subjects(&a, "email", &email, Some("essential.service"))
            .await
            .unwrap();
        assert_eq!(found.iter().map(|v| v.id).collect::<Vec<_>>(), vec![id]);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_valid_profile_reads_back_normalized_for_each_purpose_on_sqlite((input, want) in profile()) {
        reads_back_normalized(Backend::Sqlite, &input, &want);
    }

    #[test]
    fn any_valid_profile_reads_back_normalized_for_each_purpose_on_postgres((input, want) in profile()) {
        reads_back_normalized(Backend::Postgres, &input, &want);
    }
}
