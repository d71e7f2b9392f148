//! What the policy engine and the consent lookup cost on the read path: audited profile
//! reads of random subjects through `Vault::read_subject` (grants, consents, restriction,
//! per-field decisions), against the same read path with the policy bypassed (every field
//! released, still loaded, decrypted and audited), alternating in rounds in one process on
//! one SQLite vault.
//!
//! `cargo bench -p privet-vault --features bench-internals --bench read_policy [-- SUBJECTS ROUNDS READS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{Actor, Keyring, Schema, SystemClock, Vault};
use serde_json::json;

const SCHEMA: &str = include_str!("../../privet-core/examples/shop.schema.toml");
const PURPOSE: &str = "marketing.communications.email";

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let subjects = arg(1, 5_000);
    let rounds = arg(2, 5);
    let reads = arg(3, 20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path().join("privet.db"), SqliteOptions::default()).unwrap();
        let (vault, _) = Vault::initialize(
            Schema::from_toml_str(SCHEMA).unwrap(),
            Arc::new(store),
            Keyring::generate(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        // A caller with a real role (email plain, name masked) reading for a consent-based
        // purpose: every read looks the consent up and decides each of the 7 fields.
        let role = serde_json::from_value(json!({"name": "mailer", "purposes": [PURPOSE],
            "collections": {"customers": {"email": "plain", "name": "masked"}}}))
        .unwrap();
        vault.put_role(&Actor::cli(), role, false).await.unwrap();
        let p = vault
            .create_principal(&Actor::cli(), "mailer", &["mailer".into()], None)
            .await
            .unwrap();
        let mailer = Actor::principal(&vault.authenticate(p.api_key.expose()).await.unwrap(), None);
        let mut ids = Vec::with_capacity(subjects);
        for chunk in (0..subjects).collect::<Vec<_>>().chunks(1000) {
            let items: Vec<_> = chunk
                .iter()
                .map(|i| {
                    json!({"email": format!("c{i}@example.com"), "name": format!("Customer {i}"),
                           "phone": "+1 650 253 0000", "address": "1 Main St",
                           "birth_date": "1980-01-01", "gender": "undisclosed"})
                    .as_object()
                    .unwrap()
                    .clone()
                })
                .collect();
            ids.extend(vault.create_subjects(&Actor::cli(), &items).await.unwrap());
        }
        let change = privet_core::ConsentChange {
            state: privet_core::ConsentState::Granted,
            source: privet_core::ConsentSource::Api,
            notice_version: "v1".into(),
            expires_at: None,
        };
        for id in &ids {
            vault
                .set_consent(&Actor::cli(), *id, PURPOSE, change.clone(), false)
                .await
                .unwrap();
        }
        println!(
            "{subjects} subjects, {rounds} rounds of {reads} reads per path, 8 concurrent readers"
        );
        println!("round  policy reads/s  bypassed reads/s  ratio");
        let mut ratios = Vec::new();
        for round in 1..=rounds {
            let with = run(&vault, &mailer, &ids, reads, true).await;
            let without = run(&vault, &mailer, &ids, reads, false).await;
            let (a, b) = (
                reads as f64 / with.as_secs_f64(),
                reads as f64 / without.as_secs_f64(),
            );
            ratios.push(a / b);
            println!("{round:>5}  {a:>14.0}  {b:>16.0}  {:.3}", a / b);
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "median ratio (policy / bypassed): {:.3}",
            ratios[ratios.len() / 2]
        );
    });
}

async fn run(
    vault: &Vault,
    actor: &Actor,
    ids: &[privet_core::SubjectId],
    reads: usize,
    policy: bool,
) -> Duration {
    const READERS: usize = 8;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..READERS {
        let (vault, actor) = (vault.clone(), actor.clone());
        let ids: Vec<_> = ids.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ (r as u64);
            for _ in 0..reads / READERS {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = ids[(x % ids.len() as u64) as usize];
                let v = if policy {
                    vault.read_subject(&actor, id, Some(PURPOSE)).await
                } else {
                    vault
                        .read_subject_bypassing_policy(&actor, id, Some(PURPOSE))
                        .await
                };
                assert!(!v.unwrap().data.is_empty());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}
