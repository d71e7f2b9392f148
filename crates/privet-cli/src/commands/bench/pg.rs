//! `privet bench import|read --store-url URL`: the same workloads on PostgreSQL, each next to
//! the hand-written pgcrypto baseline (`privet_store_postgres::baseline`) in the same database
//! in the same run. Everything lives in a schema of its own (`privet_bench_<pid>`), dropped at
//! the end unless `--keep`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use privet_core::{Grants, Role, SubjectId};
use privet_crypto::{KeyFile, KeyProvider, Keyring};
use privet_store_postgres::baseline::{Baseline, BaselineReads, PGP_DEFAULTS, PGP_RANDOM_KEY};
use privet_store_postgres::{PgOptions, PgStore};
use privet_vault::{Actor, Schema, SystemClock, Vault};
use serde_json::Value;
use tokio::task::JoinSet;

use super::{customer, load, open_released, report};
use crate::config::DEFAULT_SCHEMA;

/// The baseline's columns: the id, then the profile fields the benchmark customers have.
const COLUMNS: [&str; 7] = [
    "id",
    "email",
    "name",
    "phone",
    "address",
    "birth_date",
    "gender",
];
/// Privet's searchable fields, which the baseline gives an HMAC column each.
const SEARCHABLE: [&str; 2] = ["email", "phone"];
/// What a read for `essential.service` releases in the example schema; the baseline's reads
/// decrypt the same fields.
const RELEASED: [&str; 4] = ["email", "name", "phone", "address"];
/// Batches in flight for both imports (as `privet import`).
const IN_FLIGHT: usize = 8;
/// Connections (Privet's pool, the baseline's concurrent readers) and concurrent readers.
const CONNECTIONS: usize = 16;
const READERS: usize = 32;
/// The pgcrypto-defaults baseline is ~20× slower per value: it imports a tenth of `n`, at
/// most this many.
const DEFAULTS_MAX: u64 = 10_000;

struct Setup {
    _keydir: tempfile::TempDir,
    baseline: Baseline,
    vault: Vault,
    /// A second copy of the vault's keys, for timing the read path piece by piece.
    keys: Arc<Keyring>,
    schema: String,
}

async fn setup(url: &str) -> Result<Setup> {
    let schema = format!("privet_bench_{}", std::process::id());
    let baseline = Baseline::connect(url, &schema, CONNECTIONS, &COLUMNS, &SEARCHABLE)
        .await
        .context("baseline")?;
    let store = PgStore::connect(
        url,
        PgOptions {
            pool_size: CONNECTIONS,
            schema: Some(schema.clone()),
            ..PgOptions::default()
        },
    )
    .await
    .context("cannot open the PostgreSQL store")?;
    let keydir = tempfile::tempdir()?;
    let keyfile = KeyFile::create(keydir.path().join("master.key"), &Keyring::generate())?;
    let vault_schema = Schema::from_toml_str(DEFAULT_SCHEMA)
        .map_err(|e| anyhow::anyhow!("example schema: {e}"))?;
    let (vault, _) = Vault::initialize(
        vault_schema,
        Arc::new(store),
        keyfile.load()?,
        Arc::new(SystemClock),
    )
    .await?;
    Ok(Setup {
        keys: Arc::new(keyfile.load()?),
        _keydir: keydir,
        baseline,
        vault,
        schema,
    })
}

impl Setup {
    async fn finish(self, keep: bool) -> Result<()> {
        if keep {
            println!(
                "  kept schema {} (drop it with DROP SCHEMA … CASCADE)",
                self.schema
            );
            return Ok(());
        }
        self.baseline.drop_schema().await?;
        Ok(())
    }
}

fn baseline_rows(n: u64) -> Vec<([u8; 16], Vec<Option<String>>)> {
    (0..n)
        .map(|i| {
            let c = customer(i);
            let values = COLUMNS[1..]
                .iter()
                .map(|col| c.get(*col).and_then(Value::as_str).map(str::to_owned))
                .collect();
            (*SubjectId::new().as_bytes(), values)
        })
        .collect()
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Imports `n` customers into the baseline (pgcrypto defaults on a share of them first) and
/// into the vault; prints the rates. Leaves the baseline table holding all `n`.
async fn import_both(
    s: &Setup,
    rows: &[([u8; 16], Vec<Option<String>>)],
    batch: usize,
) -> Result<(f64, f64)> {
    let n = rows.len() as u64;
    let few = (n / 10).clamp(1, DEFAULTS_MAX) as usize;
    s.baseline.create_table().await?;
    let took = s
        .baseline
        .import(&rows[..few], batch, IN_FLIGHT, PGP_DEFAULTS)
        .await?;
    println!(
        "  baseline, pgcrypto defaults ({few} customers)      {:>9.0} subjects/s  ({:.2}s)",
        rate(few as u64, took),
        took.as_secs_f64()
    );
    s.baseline.create_table().await?;
    let cpu = CpuMeter::start();
    let took = s
        .baseline
        .import(rows, batch, IN_FLIGHT, PGP_RANDOM_KEY)
        .await?;
    let base_cpu = cpu.per_op(rows.len());
    let base = rate(n, took);
    println!(
        "  baseline, pgcrypto aes256 s2k-mode=1            {base:>9.0} subjects/s  ({:.2}s)",
        took.as_secs_f64()
    );
    let cpu = CpuMeter::start();
    let (took, imported) = load(&s.vault, n, batch).await;
    let privet_cpu = cpu.per_op(rows.len());
    anyhow::ensure!(imported as u64 == n, "only {imported} of {n} imported");
    let privet = rate(n, took);
    println!(
        "  privet (encrypted, blind-indexed, audited)      {privet:>9.0} subjects/s  ({:.2}s)",
        took.as_secs_f64()
    );
    print_cpu("subject", [("privet", privet_cpu), ("baseline", base_cpu)]);
    Ok((base, privet))
}

async fn print_sizes(s: &Setup, n: u64) -> Result<()> {
    let sizes = s.baseline.relation_sizes().await?;
    let (base, privet): (Vec<_>, Vec<_>) = sizes
        .iter()
        .partition(|(t, _)| t == privet_store_postgres::baseline::TABLE);
    let detail: Vec<String> = privet
        .iter()
        .filter(|(_, b)| *b > 64 * 1024)
        .map(|(t, b)| format!("{t} {:.1} MiB", *b as f64 / 1048576.0))
        .collect();
    let total = |v: &[&(String, i64)]| v.iter().map(|(_, b)| *b).sum::<i64>() as f64;
    println!(
        "  on disk (tables + indexes + TOAST): baseline {:.0} B/subject, privet {:.0} B/subject ({})",
        total(&base) / n as f64,
        total(&privet) / n as f64,
        detail.join(", ")
    );
    Ok(())
}

pub(crate) async fn bench_import(url: &str, n: u64, batch: usize, keep: bool) -> Result<()> {
    let s = setup(url).await?;
    let result = import_workload(&s, n, batch).await;
    // The schema goes even when the workload failed.
    s.finish(keep).await?;
    result
}

async fn import_workload(s: &Setup, n: u64, batch: usize) -> Result<()> {
    let rows = baseline_rows(n);
    println!(
        "bench import (PostgreSQL): {n} customers, {batch} per transaction, {IN_FLIGHT} batches in flight"
    );
    let (base, privet) = import_both(s, &rows, batch).await?;
    println!(
        "  ratio privet/baseline (s2k-mode=1) = {:.2}",
        privet / base
    );
    print_sizes(s, n).await
}

pub(crate) async fn bench_read(url: &str, n: u64, reads: usize, keep: bool) -> Result<()> {
    let s = setup(url).await?;
    let result = read_workload(&s, n, reads).await;
    // The schema goes even when the workload failed.
    s.finish(keep).await?;
    result
}

async fn read_workload(s: &Setup, n: u64, reads: usize) -> Result<()> {
    let rows = baseline_rows(n);
    println!("bench read (PostgreSQL): loading {n} customers into both");
    import_both(s, &rows, 1000).await?;
    print_sizes(s, n).await?;
    let purpose = "essential.service";
    let count = (reads as u64).min(n) as usize;
    // The same customers for both; Privet's ids resolved by lookup outside timing.
    let mut sample = Vec::with_capacity(count);
    for (i, (base_id, _)) in rows.iter().enumerate().take(count) {
        let email = customer(i as u64)["email"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let found = s
            .vault
            .find_subjects(&Actor::cli(), "email", &email, Some(purpose))
            .await?;
        let id = found
            .first()
            .context("an imported customer was not found")?
            .id;
        sample.push((id, *base_id, email));
    }
    println!("  {} reads of each kind", sample.len());
    let schema = s.vault.schema().clone();
    let profile = schema.profile().context("no profile")?;
    let purp = schema.purpose(purpose).context("no purpose")?;
    let store = Arc::clone(s.vault.store());
    let email_field = profile.field("email").context("no email field")?;
    let grants = Grants::from_roles([&Role::full_access("bench", &schema)]);

    // 1. One at a time: Privet's read path before its audit append, and the baseline's
    //    prepared statements (decryption server-side).
    let base_reads = s.baseline.prepare_reads(0, &RELEASED, "email").await?;
    let (mut t_read, mut t_lookup, mut b_read, mut b_lookup) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, base_id, email) in &sample {
        let t0 = Instant::now();
        let data = store
            .load_subject(*id, &profile.name, None)
            .await?
            .context("missing")?;
        open_released(&s.keys, &grants, profile, purp, &data)?;
        t_read.push(t0.elapsed());
        let t0 = Instant::now();
        let term = email_field.normalize_query(email)?;
        let hash = s.keys.blind_index(&profile.name, "email", term.expose());
        // As the vault's lookup: the terms of every key version held (one here), the version
        // a rotation recorded and the load of each hit, in one statement.
        let found = store
            .lookup_and_load(&profile.name, "email", &[hash.to_vec()], "keys:current")
            .await?;
        anyhow::ensure!(
            !found.found.is_empty(),
            "an imported customer was not found"
        );
        for data in &found.found {
            open_released(&s.keys, &grants, profile, purp, data)?;
        }
        t_lookup.push(t0.elapsed());
        let t0 = Instant::now();
        anyhow::ensure!(base_reads.by_id(base_id).await? == RELEASED.len());
        b_read.push(t0.elapsed());
        let t0 = Instant::now();
        anyhow::ensure!(base_reads.by_hmac(email).await? == RELEASED.len());
        b_lookup.push(t0.elapsed());
    }
    report("privet read by id: store + policy + decrypt", t_read);
    report("baseline read by id: pgp_sym_decrypt ×4", b_read);
    report("privet lookup by email: HMAC + index + read", t_lookup);
    report("baseline lookup by HMAC: hmac() + pgp ×4", b_lookup);

    // 2. 32 concurrent readers, unaudited, over 16 connections.
    let ids: Arc<Vec<SubjectId>> = Arc::new(sample.iter().map(|(id, _, _)| *id).collect());
    let reader = Arc::new(Reader {
        keys: Arc::clone(&s.keys),
        store: Arc::clone(&store),
        schema: schema.clone(),
        grants,
    });
    let cpu = CpuMeter::start();
    let privet_rate = concurrent(ids.len(), |w, per| {
        let (ids, r) = (Arc::clone(&ids), Arc::clone(&reader));
        async move {
            let (profile, purp) = r.profile(purpose)?;
            for id in ids.iter().skip(w * per).take(per) {
                let data = r
                    .store
                    .load_subject(*id, &profile.name, None)
                    .await?
                    .context("missing")?;
                open_released(&r.keys, &r.grants, profile, purp, &data)?;
            }
            Ok(())
        }
    })
    .await?;
    let privet_cpu = cpu.per_op(ids.len() / READERS * READERS);
    let mut prepared = Vec::with_capacity(CONNECTIONS);
    for c in 0..CONNECTIONS {
        prepared.push(Arc::new(
            s.baseline.prepare_reads(c, &RELEASED, "email").await?,
        ));
    }
    let base_ids: Arc<Vec<[u8; 16]>> = Arc::new(sample.iter().map(|(_, b, _)| *b).collect());
    let cpu = CpuMeter::start();
    let base_rate = concurrent(base_ids.len(), |w, per| {
        let (ids, reads): (_, Arc<BaselineReads>) = (
            Arc::clone(&base_ids),
            Arc::clone(&prepared[w % CONNECTIONS]),
        );
        async move {
            for id in ids.iter().skip(w * per).take(per) {
                reads.by_id(id).await?;
            }
            Ok(())
        }
    })
    .await?;
    let base_cpu = cpu.per_op(base_ids.len() / READERS * READERS);
    println!(
        "  {READERS} readers, unaudited: privet {privet_rate:.0} reads/s, baseline {base_rate:.0} reads/s, ratio {:.2}",
        privet_rate / base_rate
    );
    print_cpu("read", [("privet", privet_cpu), ("baseline", base_cpu)]);

    // 2b. The same 32 readers looking customers up by email.
    let emails: Arc<Vec<String>> = Arc::new(sample.iter().map(|(_, _, e)| e.clone()).collect());
    let cpu = CpuMeter::start();
    let privet_rate = concurrent(emails.len(), |w, per| {
        let (emails, r) = (Arc::clone(&emails), Arc::clone(&reader));
        async move {
            let (profile, purp) = r.profile(purpose)?;
            let field = profile.field("email").context("no email field")?;
            for email in emails.iter().skip(w * per).take(per) {
                let term = field.normalize_query(email)?;
                let hash = r.keys.blind_index(&profile.name, "email", term.expose());
                let found = r
                    .store
                    .lookup_and_load(&profile.name, "email", &[hash.to_vec()], "keys:current")
                    .await?;
                anyhow::ensure!(!found.found.is_empty(), "a customer was not found");
                for data in &found.found {
                    open_released(&r.keys, &r.grants, profile, purp, data)?;
                }
            }
            Ok(())
        }
    })
    .await?;
    let privet_cpu = cpu.per_op(emails.len() / READERS * READERS);
    let cpu = CpuMeter::start();
    let base_rate = concurrent(emails.len(), |w, per| {
        let (emails, reads): (_, Arc<BaselineReads>) =
            (Arc::clone(&emails), Arc::clone(&prepared[w % CONNECTIONS]));
        async move {
            for email in emails.iter().skip(w * per).take(per) {
                anyhow::ensure!(reads.by_hmac(email).await? > 0, "a customer was not found");
            }
            Ok(())
        }
    })
    .await?;
    let base_cpu = cpu.per_op(emails.len() / READERS * READERS);
    println!(
        "  {READERS} readers, lookups by email, unaudited: privet {privet_rate:.0} lookups/s, baseline {base_rate:.0} lookups/s, ratio {:.2}",
        privet_rate / base_rate
    );
    print_cpu("lookup", [("privet", privet_cpu), ("baseline", base_cpu)]);

    // 3. The full audited read through the vault: one reader, then 32.
    let mut t_full = Vec::new();
    for (id, _, _) in sample.iter().take(2000) {
        let t0 = Instant::now();
        s.vault
            .read_subject(&Actor::cli(), *id, Some(purpose))
            .await?;
        t_full.push(t0.elapsed());
    }
    report("privet read_subject, audited, 1 reader", t_full);
    let vault = s.vault.clone();
    let audited = concurrent(ids.len(), |w, per| {
        let (ids, vault) = (Arc::clone(&ids), vault.clone());
        async move {
            for id in ids.iter().skip(w * per).take(per) {
                vault
                    .read_subject(&Actor::cli(), *id, Some(purpose))
                    .await?;
            }
            Ok(())
        }
    })
    .await?;
    println!("  privet read_subject, audited, {READERS} readers: {audited:.0} reads/s");
    Ok(())
}

/// What the concurrent readers share: Privet's read path before its audit append.
struct Reader {
    keys: Arc<Keyring>,
    store: Arc<dyn privet_store::Store>,
    schema: Schema,
    grants: Grants,
}

impl Reader {
    fn profile(&self, purpose: &str) -> Result<(&privet_core::Collection, &privet_core::Purpose)> {
        let profile = self.schema.profile().context("no profile")?;
        let purp = self.schema.purpose(purpose).context("no purpose")?;
        Ok((profile, purp))
    }
}

/// Runs `READERS` tasks, task `w` doing its share (`per` items) of `total`; reads per second.
async fn concurrent<F, Fut>(total: usize, task: F) -> Result<f64>
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let per = total / READERS;
    let started = Instant::now();
    let mut set = JoinSet::new();
    for w in 0..READERS {
        set.spawn(task(w, per));
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok((per * READERS) as f64 / started.elapsed().as_secs_f64())
}

fn print_cpu(per: &str, runs: [(&str, Option<CpuPerOp>); 2]) {
    for (who, cpu) in runs {
        if let Some(c) = cpu {
            println!(
                "    CPU per {per}, {who:<8}: {:>5.1} µs in this process, {:>5.1} µs elsewhere (PostgreSQL), machine {:.0} % busy",
                c.process_us, c.elsewhere_us, c.busy_pct
            );
        }
    }
}

/// CPU time over a stretch of the benchmark, from Linux's `/proc`: this process's and the
/// whole machine's (on a machine doing nothing else, the rest is PostgreSQL's). Shows which
/// side of the connection a workload's CPU goes to; `None` where `/proc` cannot be read.
struct CpuMeter {
    start: Option<CpuTicks>,
}

/// Clock ticks (100 per second on Linux): this process's user + system time, the machine's
/// busy time, and its total time (all CPUs).
#[derive(Clone, Copy)]
struct CpuTicks {
    process: u64,
    busy: u64,
    total: u64,
}

struct CpuPerOp {
    process_us: f64,
    elsewhere_us: f64,
    busy_pct: f64,
}

impl CpuMeter {
    fn start() -> Self {
        Self { start: cpu_ticks() }
    }

    fn per_op(&self, ops: usize) -> Option<CpuPerOp> {
        let (a, b) = (self.start?, cpu_ticks()?);
        let tick_us = 10_000.0;
        let ops = ops.max(1) as f64;
        let process = b.process.saturating_sub(a.process) as f64;
        let busy = b.busy.saturating_sub(a.busy) as f64;
        Some(CpuPerOp {
            process_us: process * tick_us / ops,
            elsewhere_us: (busy - process).max(0.0) * tick_us / ops,
            busy_pct: 100.0 * busy / (b.total.saturating_sub(a.total).max(1) as f64),
        })
    }
}

fn cpu_ticks() -> Option<CpuTicks> {
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which may hold spaces: split after its ')'.
    let fields: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let all = std::fs::read_to_string("/proc/stat").ok()?;
    // "cpu  user nice system idle iowait irq softirq steal …"
    let cpu: Vec<u64> = all
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = cpu.iter().sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    Some(CpuTicks {
        process: utime + stime,
        busy: total.saturating_sub(idle),
        total,
    })
}
