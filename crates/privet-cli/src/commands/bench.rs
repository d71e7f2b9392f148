//! `privet bench`: measurements against a baseline in the same run, for BENCHMARKS.md.
//! Build with `--release`; numbers from debug builds mean nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use privet_core::SubjectId;
use privet_core::{Grants, NoConsents, Outcome, ReadContext, Role};
use privet_crypto::{FieldAad, KeyVersion, WrappedKey};
use privet_vault::{Actor, Vault};
use serde_json::{Map, Value};

use super::import::{Row, import_rows};
use super::synth;
use crate::config::{Config, DEFAULT_SCHEMA};

mod pg;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Bulk import of synthetic customers (the example schema's profile fields but religion) vs the
    /// same rows stored in plaintext in the same SQLite file, same batch size, same run. With
    /// `--store-url`: on PostgreSQL, vs the same rows in a pgcrypto table (one
    /// `pgp_sym_encrypt` column per field, an HMAC column per searchable field).
    Import {
        /// How many customers.
        #[arg(long, default_value_t = 100_000)]
        subjects: u64,
        /// Rows per transaction, for both.
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
        /// Where to build the vault (default: a temporary directory, removed afterwards).
        #[arg(long, conflicts_with = "store_url")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        pg: PgArgs,
    },
    /// Point reads by id and lookups by email: latency of store + policy + decrypt, and of
    /// the full audited read (sequential and 32 concurrent readers).
    Read {
        /// How many customers to load first.
        #[arg(long, default_value_t = 20_000)]
        subjects: u64,
        /// How many reads of each kind to time.
        #[arg(long, default_value_t = 20_000)]
        reads: usize,
        #[command(flatten)]
        pg: PgArgs,
    },
    /// The audit log: appends of the log alone (entries/s); audited reads against the same
    /// reads with the audit append removed (in this harness only); `audit verify` of a
    /// large log.
    Audit {
        /// Entries appended for the append measurement (0 skips it).
        #[arg(long, default_value_t = 100_000)]
        appends: u64,
        /// Customers loaded, each then read once per round (0 skips the read measurement).
        #[arg(long, default_value_t = 20_000)]
        subjects: u64,
        /// Concurrent readers.
        #[arg(long, default_value_t = 32)]
        readers: usize,
        /// Size of the log verified (0 skips it).
        #[arg(long, default_value_t = 1_000_000)]
        verify_entries: u64,
        /// Where to build the vault (kept, so `privet audit verify --dir` can be timed on
        /// it; default: a temporary directory, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Erasure time per subject (orders kept by legal obligation, certificate with a signed
    /// checkpoint) in a store of many subjects, against the bare store erasure and an
    /// audited read in the same run. With `--store-url`: on PostgreSQL (a schema
    /// `privet_bench_erase_<pid>`, dropped afterwards).
    Erase {
        /// Customers in the store, each with an order and a support ticket.
        #[arg(long, default_value_t = 100_000)]
        subjects: u64,
        /// Erasures timed (and as many of each baseline).
        #[arg(long, default_value_t = 1000)]
        erasures: usize,
        /// PostgreSQL URL (default: SQLite in a temporary directory).
        #[arg(long)]
        store_url: Option<String>,
    },
    /// The subject export (gather + decrypt + audit, then JSON, zip of CSV, HTML) of one
    /// subject with many records, vs the same records read through the ordinary audited
    /// reads in the same run.
    Export {
        /// Records (orders) of the subject.
        #[arg(long, default_value_t = 1000)]
        records: u64,
        /// Exports timed.
        #[arg(long, default_value_t = 30)]
        rounds: usize,
    },
    /// Master-key rotation: the re-wrap rate (subject keys/s) vs the same rows rewritten
    /// unchanged in transactions of the same size, then the blind-index re-key rate.
    Rotate {
        /// How many customers.
        #[arg(long, default_value_t = 100_000)]
        subjects: u64,
        /// Keys per transaction, for both.
        #[arg(long, default_value_t = 500)]
        batch: u32,
        /// Where to build the vault (default: a temporary directory, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct PgArgs {
    /// Run on this PostgreSQL database (a postgres:// URL or key=value string) instead of
    /// SQLite, next to the hand-written pgcrypto baseline in the same database. Both live in
    /// a schema `privet_bench_<pid>`, dropped afterwards.
    #[arg(long)]
    store_url: Option<String>,
    /// With --store-url: keep the benchmark schema (to inspect it).
    #[arg(long, requires = "store_url")]
    keep: bool,
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Import {
            subjects,
            batch_size,
            pg: PgArgs {
                store_url: Some(url),
                keep,
            },
            ..
        } => pg::bench_import(&url, subjects, batch_size, keep).await?,
        Command::Import {
            subjects,
            batch_size,
            dir,
            ..
        } => bench_import(subjects, batch_size, dir).await?,
        Command::Read {
            subjects,
            reads,
            pg: PgArgs {
                store_url: Some(url),
                keep,
            },
        } => pg::bench_read(&url, subjects, reads, keep).await?,
        Command::Read {
            subjects, reads, ..
        } => bench_read(subjects, reads).await?,
        Command::Audit {
            appends,
            subjects,
            readers,
            verify_entries,
            dir,
        } => {
            super::bench_audit::run(super::bench_audit::Plan {
                appends,
                subjects,
                readers,
                verify_entries,
                dir,
            })
            .await?
        }
        Command::Erase {
            subjects,
            erasures,
            store_url,
        } => {
            super::bench_erase::run(super::bench_erase::Plan {
                subjects,
                erasures,
                store_url,
            })
            .await?
        }
        Command::Export { records, rounds } => super::bench_export::run(records, rounds).await?,
        Command::Rotate {
            subjects,
            batch,
            dir,
        } => super::bench_rotate::run(subjects, batch, dir).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Every profile field of the example schema except `religion`: its legal basis is consent,
/// and a bulk import carries no consents, so the vault refuses to collect it there.
fn customer(n: u64) -> Map<String, Value> {
    synth::customer(n)
}

pub(crate) struct Scratch {
    _tmp: Option<tempfile::TempDir>,
    pub(crate) dir: PathBuf,
}

pub(crate) fn scratch(dir: Option<PathBuf>) -> Result<Scratch> {
    Ok(match dir {
        Some(d) => Scratch { _tmp: None, dir: d },
        None => {
            let t = tempfile::Builder::new()
                .prefix("privet-bench-")
                .tempdir_in(std::env::temp_dir())?;
            Scratch {
                dir: t.path().join("vault"),
                _tmp: Some(t),
            }
        }
    })
}

pub(crate) async fn load(vault: &Vault, n: u64, batch_size: usize) -> (Duration, usize) {
    let rows: Vec<Row> = (0..n).map(|i| (i + 1, Ok(customer(i)))).collect();
    let started = Instant::now();
    let summary = import_rows(
        vault,
        "customers",
        rows.into_iter(),
        batch_size,
        false,
        &ProgressBar::hidden(),
    )
    .await;
    (started.elapsed(), summary.imported)
}

async fn bench_import(n: u64, batch_size: usize, dir: Option<PathBuf>) -> Result<()> {
    let s = scratch(dir)?;
    let (config, _) = super::init::init_dir(&s.dir, DEFAULT_SCHEMA, None).await?;
    let columns = [
        "id",
        "email",
        "name",
        "phone",
        "address",
        "birth_date",
        "gender",
    ];
    let plain: Vec<Vec<String>> = (0..n)
        .map(|i| {
            let c = customer(i);
            let mut row = vec![SubjectId::new().to_string()];
            for col in &columns[1..] {
                row.push(
                    c.get(*col)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            row
        })
        .collect();
    println!(
        "bench import: {n} customers, {batch_size} per transaction, SQLite WAL synchronous=FULL"
    );
    let crate::config::StoreLocation::Sqlite(db_path) = &config.store else {
        anyhow::bail!("bench import measures the embedded SQLite store");
    };
    let base = privet_store_sqlite::baseline::plaintext_import(
        db_path,
        &columns,
        &["email", "phone"],
        &plain,
        batch_size,
    )?;
    let base_rate = n as f64 / base.as_secs_f64();
    println!(
        "  plaintext baseline   {:>9.0} subjects/s  ({:.2}s)",
        base_rate,
        base.as_secs_f64()
    );
    let vault = crate::open::open(&config).await?;
    let (took, imported) = load(&vault, n, batch_size).await;
    anyhow::ensure!(imported as u64 == n, "only {imported} of {n} imported");
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "  privet (encrypted)   {:>9.0} subjects/s  ({:.2}s)",
        rate,
        took.as_secs_f64()
    );
    println!("  ratio privet/plaintext = {:.2}", rate / base_rate);
    Ok(())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

pub(crate) fn report(label: &str, mut d: Vec<Duration>) {
    d.sort_unstable();
    println!(
        "  {label:<44} p50 {:>8.1} µs   p99 {:>8.1} µs",
        pct(&d, 0.5),
        pct(&d, 0.99)
    );
}

async fn bench_read(n: u64, reads: usize) -> Result<()> {
    let s = scratch(None)?;
    let (config, _) = super::init::init_dir(&s.dir, DEFAULT_SCHEMA, None).await?;
    let vault = crate::open::open(&config).await?;
    let keys = crate::open::load_keys(&Config::load(&s.dir)?)?;
    let (_, imported) = load(&vault, n, 1000).await;
    anyhow::ensure!(imported as u64 == n, "only {imported} of {n} imported");
    // Resolve ids by lookup once (outside timing).
    let mut subjects = Vec::with_capacity(reads);
    let purpose = "essential.service";
    for i in 0..(reads as u64).min(n) {
        let email = customer(i)["email"].as_str().unwrap_or_default().to_owned();
        if let Some(v) = vault
            .find_subjects(&Actor::cli(), "email", &email, Some(purpose))
            .await?
            .into_iter()
            .next()
        {
            subjects.push((v.id, email));
        }
    }
    let schema = vault.schema().clone();
    let profile = schema.profile().context("no profile")?;
    let purp = schema.purpose(purpose).context("no purpose")?;
    let grants = Grants::from_roles([&Role::full_access("bench", &schema)]);
    let store = Arc::clone(vault.store());
    println!(
        "bench read: {n} customers loaded, {} reads of each kind",
        subjects.len()
    );

    // 1. store + policy + decrypt (the read path before its audit append).
    let mut t_read = Vec::with_capacity(subjects.len());
    let mut t_lookup = Vec::with_capacity(subjects.len());
    let email_field = profile.field("email").context("no email field")?;
    for (id, email) in &subjects {
        let t0 = Instant::now();
        let data = store
            .load_subject(*id, &profile.name, None)
            .await?
            .context("missing")?;
        open_released(&keys, &grants, profile, purp, &data)?;
        t_read.push(t0.elapsed());
        let t0 = Instant::now();
        let term = email_field.normalize_query(email)?;
        let hash = keys.blind_index(&profile.name, "email", term.expose());
        let hits = store.lookup(&profile.name, "email", &hash).await?;
        for (sid, rid) in hits {
            let data = store
                .load_subject(sid, &profile.name, Some(rid))
                .await?
                .context("missing")?;
            open_released(&keys, &grants, profile, purp, &data)?;
        }
        t_lookup.push(t0.elapsed());
    }
    report("read by id: store + policy + decrypt", t_read);
    report(
        "lookup by email: index + store + policy + decrypt",
        t_lookup,
    );

    // 2. The full audited read through the vault, one at a time: includes the audit
    //    commit (an fsync) per read.
    let sample: Vec<_> = subjects.iter().take(2000).collect();
    let mut t_full = Vec::with_capacity(sample.len());
    for (id, _) in &sample {
        let t0 = Instant::now();
        vault
            .read_subject(&Actor::cli(), *id, Some(purpose))
            .await?;
        t_full.push(t0.elapsed());
    }
    report("vault.read_subject, audited, 1 reader", t_full);

    // 3. Audited reads from 32 concurrent readers: group commit shares the fsync.
    let ids: Arc<Vec<SubjectId>> = Arc::new(subjects.iter().map(|(id, _)| *id).collect());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per = ids.len() / 32;
    for w in 0..32 {
        let (vault, ids) = (vault.clone(), Arc::clone(&ids));
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for id in ids.iter().skip(w * per).take(per) {
                let t0 = Instant::now();
                vault
                    .read_subject(&Actor::cli(), *id, Some("essential.service"))
                    .await?;
                lat.push(t0.elapsed());
            }
            Ok::<_, privet_vault::VaultError>(lat)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    let secs = started.elapsed().as_secs_f64();
    let total = all.len();
    report("vault.read_subject, audited, 32 readers", all);
    println!(
        "  audited reads, 32 readers: {:.0} reads/s",
        total as f64 / secs
    );
    Ok(())
}

fn open_released(
    keys: &privet_crypto::Keyring,
    grants: &Grants,
    coll: &privet_core::Collection,
    purpose: &privet_core::Purpose,
    data: &privet_store::SubjectData,
) -> Result<usize> {
    let wrapped = WrappedKey {
        version: KeyVersion(data.subject.key_version),
        bytes: data.subject.wrapped_key.clone(),
    };
    let key = keys.unwrap_subject_key(&data.subject.id, &wrapped)?;
    let cipher = key.cipher();
    let mut released = 0;
    let ctx = ReadContext::new(
        grants,
        purpose,
        &NoConsents,
        false,
        time::OffsetDateTime::now_utc(),
    );
    for record in &data.records {
        for field in coll.fields() {
            if ctx.decide(&coll.name, field).outcome != Outcome::Plain {
                continue;
            }
            if let Some((_, ct)) = record.fields.iter().find(|(n, _)| *n == field.name) {
                let aad = FieldAad {
                    collection: &coll.name,
                    record: &record.id,
                    field: &field.name,
                    subject: &record.subject,
                };
                let plain = cipher.decrypt_field(&aad, ct)?;
                field.decode(plain.expose())?;
                released += 1;
            }
        }
    }
    Ok(released)
}
