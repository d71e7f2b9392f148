//! `privet bench rotate`: the master-key rotation's re-wrap rate (subject keys per second)
//! against a baseline in the same run and vault: the same pages of the same rows read and
//! rewritten unchanged (same version, same bytes), in transactions of the same size, each
//! with its audit entry — everything a re-wrap does but the unwrap and wrap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use privet_audit::{Action, AuditEntry};
use privet_crypto::KeyFile;
use privet_store::{KeyTable, Op, WriteSet};
use privet_vault::{RotationProgress, Vault};

use crate::config::{DEFAULT_SCHEMA, KeySource};

pub(crate) async fn run(subjects: u64, batch: u32, dir: Option<std::path::PathBuf>) -> Result<()> {
    let s = super::bench::scratch(dir)?;
    let (config, _) = super::init::init_dir(&s.dir, DEFAULT_SCHEMA, None).await?;
    let vault = crate::open::open(&config).await?;
    let (took, imported) = super::bench::load(&vault, subjects, 1000).await;
    anyhow::ensure!(
        imported as u64 == subjects,
        "only {imported} of {subjects} loaded"
    );
    println!(
        "bench rotate: {subjects} customers (loaded in {:.1}s), {batch} keys per transaction, \
         SQLite WAL synchronous=FULL",
        took.as_secs_f64()
    );

    let base = baseline(&vault, batch).await?;
    let base_rate = subjects as f64 / base.as_secs_f64();
    println!(
        "  baseline: same rows rewritten unchanged  {base_rate:>9.0} subjects/s  ({:.2}s)",
        base.as_secs_f64()
    );

    let KeySource::File(path) = &config.keys else {
        anyhow::bail!("the benchmark vault keeps its keys in a file");
    };
    let rotated = crate::open::load_keys(&config)?
        .rotated()
        .context("no next key version")?;
    KeyFile::new(path.clone()).replace(&rotated)?;
    vault.reload_keys().await?;
    vault.begin_rotation().await?;
    let started = Instant::now();
    let rewrap_end: Arc<Mutex<Option<Duration>>> = Arc::default();
    let mut on_progress = {
        let rewrap_end = Arc::clone(&rewrap_end);
        move |p: RotationProgress| {
            if p.phase == "blind_index" {
                let mut end = rewrap_end.lock().unwrap_or_else(|e| e.into_inner());
                end.get_or_insert(started.elapsed());
            }
        }
    };
    let summary = vault.finish_rotation(batch, &mut on_progress).await?;
    let total = started.elapsed();
    let rewrap = rewrap_end
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(total);
    let rewrapped: u64 = summary.rewrapped.values().sum();
    anyhow::ensure!(
        rewrapped == subjects,
        "re-wrapped {rewrapped} of {subjects}"
    );
    let rate = subjects as f64 / rewrap.as_secs_f64();
    println!(
        "  re-wrap (unwrap v1, wrap v2)             {rate:>9.0} subjects/s  ({:.2}s)",
        rewrap.as_secs_f64()
    );
    println!("  ratio re-wrap/baseline = {:.2}", rate / base_rate);
    let reindex = total.saturating_sub(rewrap);
    println!(
        "  blind-index re-key (decrypt, normalize, HMAC; {} records)  {:>9.0} records/s  ({:.2}s)",
        summary.reindexed,
        summary.reindexed as f64 / reindex.as_secs_f64().max(1e-9),
        reindex.as_secs_f64()
    );
    Ok(())
}

/// Every subject key read page by page and written back unchanged, `batch` per
/// transaction with one audit entry each, as the re-wrap pages them.
async fn baseline(vault: &Vault, batch: u32) -> Result<Duration> {
    let store = vault.store();
    let started = Instant::now();
    let mut after = None;
    loop {
        let page = store
            .wrapped_keys(KeyTable::Subjects, 1, after.clone(), batch)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.subject, last.slot.clone()));
        let n = page.len() as u64;
        let mut w = WriteSet::new();
        for row in page {
            w = w.op(Op::RewrapKey {
                table: KeyTable::Subjects,
                subject: row.subject,
                slot: row.slot,
                from_version: row.key_version,
                to_version: row.key_version,
                wrapped_key: row.wrapped_key,
            });
        }
        let mut e = AuditEntry::new(time::OffsetDateTime::now_utc(), "cli", Action::Admin);
        e.reason = Some("bench_baseline_batch".into());
        e.count = Some(n);
        store.apply(w.audit(e)).await?;
    }
    Ok(started.elapsed())
}
