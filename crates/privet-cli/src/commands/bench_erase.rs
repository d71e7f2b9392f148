//! `privet bench erase`: erasure time per subject in a store of many subjects, against two
//! baselines in the same run and store — the bare store erasure of the same shape of subject
//! (one `EraseSubject` write set: the rows deleted, the key destroyed, no plan, nothing kept,
//! no certificate), and an audited read of a subject (one commit, like any audited call).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use privet_core::SubjectId;
use privet_crypto::{Keyring, NoteSigner};
use privet_store::{Op, Store, WriteSet};
use privet_store_postgres::{PgOptions, PgStore};
use privet_vault::{Actor, Schema, Signers, SystemClock, Vault};
use serde_json::{Map, Value, json};

use super::bench::report;
use super::synth;
use crate::config::DEFAULT_SCHEMA;

/// What to measure.
pub(crate) struct Plan {
    /// Subjects in the store.
    pub(crate) subjects: u64,
    /// Subjects erased (and as many for each baseline).
    pub(crate) erasures: usize,
    /// PostgreSQL instead of SQLite.
    pub(crate) store_url: Option<String>,
}

pub(crate) async fn run(plan: Plan) -> Result<()> {
    anyhow::ensure!(
        plan.subjects >= 3 * plan.erasures as u64,
        "--subjects must be at least three times --erasures (each baseline takes its own)"
    );
    let keydir = tempfile::tempdir()?;
    let schema = Schema::from_toml_str(DEFAULT_SCHEMA)
        .map_err(|e| anyhow::anyhow!("example schema: {e}"))?;
    let (store, backend, pg_schema): (Arc<dyn Store>, &str, Option<String>) = match &plan.store_url
    {
        None => {
            let path = keydir.path().join("privet.db");
            let s = privet_store_sqlite::SqliteStore::open(
                &path,
                privet_store_sqlite::SqliteOptions::default(),
            )?;
            (
                Arc::new(s),
                "SQLite (WAL, synchronous=FULL, secure_delete)",
                None,
            )
        }
        Some(url) => {
            let name = format!("privet_bench_erase_{}", std::process::id());
            let s = PgStore::connect(
                url,
                PgOptions {
                    schema: Some(name.clone()),
                    ..PgOptions::default()
                },
            )
            .await
            .context("cannot open the PostgreSQL store")?;
            (Arc::new(s), "PostgreSQL", Some(name))
        }
    };
    let (vault, _) = Vault::initialize(
        schema,
        Arc::clone(&store),
        Keyring::generate(),
        Arc::new(SystemClock),
    )
    .await?;
    let vault = vault.with_signers(Signers {
        audit: Some(NoteSigner::generate("privet.bench/erase")?),
        receipts: None,
    });
    let result = measure(&vault, &store, &plan, backend).await;
    if let (Some(url), Some(name)) = (&plan.store_url, pg_schema) {
        drop_schema(url, &name).await?;
    }
    result
}

async fn drop_schema(url: &str, name: &str) -> Result<()> {
    // The baseline helper owns the connection code (TLS rules included) and drops schemas.
    let conn =
        privet_store_postgres::baseline::Baseline::connect(url, name, 1, &["id"], &[]).await?;
    conn.drop_schema().await?;
    Ok(())
}

fn order(subject: SubjectId, n: u64) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "subject_id": subject.to_string(),
        "items": [{"sku": format!("sku-{}", n % 97), "qty": 1 + n % 3}],
        "total_cents": 100 + n % 10_000,
        "card_last4": format!("{:04}", n % 10_000),
    }) else {
        return Map::new();
    };
    m
}

fn ticket(subject: SubjectId, n: u64) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "subject_id": subject.to_string(),
        "message": format!("My parcel {n} has not arrived yet, could you check?"),
    }) else {
        return Map::new();
    };
    m
}

async fn measure(vault: &Vault, store: &Arc<dyn Store>, plan: &Plan, backend: &str) -> Result<()> {
    let a = Actor::cli();
    let n = plan.subjects;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n as usize);
    let batch = 1000u64;
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let rows: Vec<Map<String, Value>> = (i..end).map(synth::customer).collect();
        let created = match vault.import_batch(&a, "customers", rows).await? {
            privet_vault::ImportOutcome::Subjects(ids) => ids,
            privet_vault::ImportOutcome::Records(_) => anyhow::bail!("customers made records"),
        };
        // Every customer has an order (kept by law on erasure) and a support ticket.
        let orders = created.iter().zip(i..).map(|(s, k)| order(*s, k)).collect();
        vault.import_batch(&a, "orders", orders).await?;
        let tickets = created
            .iter()
            .zip(i..)
            .map(|(s, k)| ticket(*s, k))
            .collect();
        vault.import_batch(&a, "support_tickets", tickets).await?;
        ids.extend(created);
        i = end;
    }
    println!(
        "bench erase: {n} customers, each with a profile, an order and a support ticket \
         ({:.1}s to load), {} erasures, {backend}",
        started.elapsed().as_secs_f64(),
        plan.erasures
    );
    // Three disjoint samples spread over the store, measured interleaved.
    let step = (n as usize / (3 * plan.erasures)).max(1);
    let (mut t_read, mut t_bare, mut t_erase) = (Vec::new(), Vec::new(), Vec::new());
    let mut kept = 0;
    for k in 0..plan.erasures {
        let base = 3 * k * step;
        let (r, b, e) = (ids[base], ids[base + step], ids[base + 2 * step]);
        let t0 = Instant::now();
        vault.read_subject(&a, r, Some("essential.service")).await?;
        t_read.push(t0.elapsed());
        let t0 = Instant::now();
        let w = WriteSet::new().op(Op::EraseSubject {
            subject: b,
            at: time::OffsetDateTime::now_utc(),
        });
        store.apply(w).await?;
        t_bare.push(t0.elapsed());
        let t0 = Instant::now();
        let cert = vault.erase_subject(&a, e).await?;
        t_erase.push(t0.elapsed());
        kept += cert.kept.iter().map(|c| c.records).sum::<usize>();
    }
    anyhow::ensure!(kept == plan.erasures, "each erasure keeps its order");
    let p50 = |d: &[Duration]| {
        let mut d = d.to_vec();
        d.sort_unstable();
        d[d.len() / 2].as_secs_f64() * 1e3
    };
    let ratio_bare = p50(&t_erase) / p50(&t_bare);
    let ratio_read = p50(&t_erase) / p50(&t_read);
    report("baseline: audited read of a subject", t_read);
    report("baseline: bare store erasure (nothing kept)", t_bare);
    report("erase_subject: keep orders, certificate", t_erase);
    println!(
        "  ratio erase_subject/bare erasure (p50) = {ratio_bare:.2}, erase_subject/audited read (p50) = {ratio_read:.2}"
    );
    Ok(())
}
