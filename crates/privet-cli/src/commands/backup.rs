//! `privet backup create|verify|restore`: encrypted backups of a vault (privet-backup) and
//! restores that replay the erasure ledger before the restored vault can serve.
//!
//! The payload of a backup is the data-dir files it carries (`F` name content), then `D`
//! and the store's dump. Files are carried by their path relative to the data dir: the
//! config, the schema and the signing keys — never the master key, never the ledger.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use privet_backup::{BackupError, BackupReader, BackupWriter, Ledger, Manifest};
use privet_crypto::{EnvKey, KeyFile, KeyProvider, Keyring};
use privet_store::{DumpSummary, SnapshotInfo};
use privet_store_postgres::{PgOptions, PgSnapshot, PgStore};
use privet_store_sqlite::SqliteSnapshot;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::DirArg;
use crate::config::{Config, KeySource, StoreLocation};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Write a consistent, encrypted snapshot of the vault to FILE while it keeps serving.
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// The backup file to write (refused if it exists).
        file: PathBuf,
    },
    /// Check a backup's integrity and manifest without restoring it (needs the master key).
    Verify {
        /// The backup file.
        file: PathBuf,
        /// The master key file of the vault that made the backup. Default: PRIVET_MASTER_KEY
        /// if set, else the key of the vault in --dir.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// A vault whose master key to use when neither --key-file nor PRIVET_MASTER_KEY is given.
        #[arg(long, env = "PRIVET_DIR", default_value = "./privet-data")]
        dir: PathBuf,
    },
    /// Restore a backup into a new data directory, replaying the erasure ledger.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// The data directory to create (it must not exist, or be empty).
        #[arg(long)]
        dir: PathBuf,
        /// The master key file of the vault that made the backup (copied into the restored
        /// vault). Default: PRIVET_MASTER_KEY.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// For a backup of a PostgreSQL store: the empty database to restore into (a
        /// postgres:// URL or key=value string; it must hold no table). The restored
        /// privet.toml points at it.
        #[arg(long, value_name = "URL")]
        store_url: Option<String>,
        /// The erasure ledger to replay. Default: the ledger the backed-up vault used (its
        /// path is in the backup's manifest). Give it once per server when several servers
        /// shared one PostgreSQL database: their ledgers are merged in time order.
        #[arg(long, value_name = "PATH")]
        ledger: Vec<PathBuf>,
        /// Restore even though the ledger cannot be found. Customers erased after the backup
        /// was made would come back.
        #[arg(long)]
        accept_missing_ledger: bool,
    },
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Create { dir, file } => create(&dir.dir, &file).await,
        Command::Verify {
            file,
            key_file,
            dir,
        } => verify(&file, key_file.as_deref(), &dir).await,
        Command::Restore {
            file,
            dir,
            key_file,
            store_url,
            ledger,
            accept_missing_ledger,
        } => {
            restore(
                &file,
                &dir,
                key_file.as_deref(),
                store_url.as_deref(),
                &ledger,
                accept_missing_ledger,
            )
            .await
        }
    }
}

/// Fault injection for the kill -9 tests: with `PRIVET_FAULT_PAUSE_AFTER_ROWS=N` set, a
/// backup or restore stops once it has streamed N rows (before its file or directory gets its
/// final name), says so on stderr, and waits to be killed. Unset, this does nothing.
fn fault_pause(rows: u64) {
    let Some(n) = std::env::var("PRIVET_FAULT_PAUSE_AFTER_ROWS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if rows >= n {
        eprintln!("fault injection: paused after {rows} rows");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {what} {{wide_bar}} {{pos}}/{{len}} rows"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Files the config names by path (relative to the data dir) that the restored vault needs
/// to start with that config: secrets of the webhooks and of `/metrics`, the database's CA.
const REFERENCED_FILES: &[(&str, &str)] = &[
    ("store", "ca_file"),
    ("monitor", "webhook_secret_file"),
    ("metrics", "token_file"),
    ("requests", "notify_webhook_secret_file"),
];

/// The files of `dir` a backup carries, by path relative to it: the config, the schema, the
/// signing keys (and the earlier audit verifier keys), and the files of [`REFERENCED_FILES`] the config sets — those inside the
/// data dir (a file elsewhere is the operator's to restore).
fn carried_files(config: &Config, dir: &Path) -> Vec<(String, PathBuf)> {
    let config_file = dir.join(crate::config::CONFIG_FILE);
    let mut paths = vec![
        config_file.clone(),
        config.schema_path.clone(),
        config.audit_key_file.clone(),
        // Earlier audit verifier keys (public): checkpoints signed before a `rotate-signing`
        // verify with them.
        super::rotate_signing::previous_keys_path(config),
        config.receipt_key_file.clone(),
    ];
    let raw: toml::Table = std::fs::read_to_string(&config_file)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    for (section, key) in REFERENCED_FILES {
        if let Some(name) = raw
            .get(*section)
            .and_then(|t| t.get(*key))
            .and_then(|v| v.as_str())
        {
            paths.push(dir.join(name));
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let rel = p.strip_prefix(dir).ok()?.to_str()?.to_owned();
            let safe = Path::new(&rel)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            safe.then_some((rel, p))
        })
        .collect()
}

fn put_bytes(out: &mut dyn Write, b: &[u8]) -> std::io::Result<()> {
    out.write_all(&(b.len() as u64).to_be_bytes())?;
    out.write_all(b)
}

fn get_bytes(input: &mut dyn Read, max: u64) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    let len = u64::from_be_bytes(len);
    if len > max {
        return Err(std::io::Error::other(BackupError::Mismatch(
            "a carried file is too large".into(),
        )));
    }
    let mut b = vec![0u8; len as usize];
    input.read_exact(&mut b)?;
    Ok(b)
}

/// Syncs a directory so a rename or a new file in it survives a crash.
fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

fn pg_options(ca_file: &Option<PathBuf>) -> PgOptions {
    PgOptions {
        pool_size: 2,
        ca_file: ca_file.clone(),
        ..PgOptions::default()
    }
}

/// A consistent snapshot of either backend.
enum Snapshot {
    Sqlite(SqliteSnapshot),
    /// The PostgreSQL dump is async; it runs on this runtime from the blocking writer thread.
    Postgres(PgSnapshot, tokio::runtime::Handle),
}

impl Snapshot {
    async fn open(config: &Config) -> Result<Snapshot> {
        Ok(match &config.store {
            StoreLocation::Sqlite(db) => {
                Snapshot::Sqlite(SqliteSnapshot::open(db).context("cannot open a snapshot")?)
            }
            StoreLocation::Postgres { url, ca_file } => {
                let store = PgStore::connect(url, pg_options(ca_file))
                    .await
                    .context("cannot open the PostgreSQL store")?;
                let snapshot = store.snapshot().await.context("cannot open a snapshot")?;
                Snapshot::Postgres(snapshot, tokio::runtime::Handle::current())
            }
        })
    }

    fn info(&self) -> &SnapshotInfo {
        match self {
            Snapshot::Sqlite(s) => s.info(),
            Snapshot::Postgres(s, _) => s.info(),
        }
    }

    /// Writes the dump; call from a blocking thread.
    fn write_to(self, out: &mut dyn Write, progress: &mut dyn FnMut(u64)) -> Result<()> {
        match self {
            Snapshot::Sqlite(s) => s.write_to(out, progress)?,
            Snapshot::Postgres(s, rt) => rt.block_on(s.write_to(out, progress))?,
        }
        Ok(())
    }
}

/// Checks a dump of `backend` without loading it; call from a blocking thread.
fn check_dump(
    backend: &str,
    input: &mut dyn Read,
    progress: &mut dyn FnMut(u64),
    rt: &tokio::runtime::Handle,
) -> Result<privet_store::Result<DumpSummary>> {
    Ok(match backend {
        "sqlite" => privet_store_sqlite::check_dump(input, progress),
        "postgres" => rt.block_on(privet_store_postgres::check_dump(input, progress)),
        other => bail!("this build cannot read backups of a {other:?} store"),
    })
}

async fn create(dir: &Path, file: &Path) -> Result<ExitCode> {
    let config = Config::load(dir)?;
    // Opening the vault checks the master key against the store's key-check value: a backup
    // under a wrong key could never be restored.
    let vault = crate::open::open(&config).await?;
    drop(vault);
    let keys = crate::open::load_keys(&config)?;
    if file.exists() {
        bail!("{} exists: refusing to overwrite a backup", file.display());
    }
    let partial = partial_path(file);
    // The ledger must exist for a restore to find it (even if nobody was erased yet) and
    // hold every erasure the database records.
    crate::open::resync_ledger(&config).await?;
    let files = carried_files(&config, dir);
    let ledger = std::path::absolute(&config.ledger).unwrap_or_else(|_| config.ledger.clone());
    let file = file.to_path_buf();
    let started = std::time::Instant::now();
    // The time is taken before the snapshot: every ledger event at or after it may be
    // missing from the backup, so a restore replays those.
    let created_at = OffsetDateTime::now_utc();
    let snapshot = Snapshot::open(&config).await?;
    let (manifest, size) = tokio::task::spawn_blocking(move || -> Result<(Manifest, u64)> {
        let names = files.iter().map(|(n, _)| n.clone()).collect();
        let manifest = Manifest::new(snapshot.info(), created_at, Some(&ledger), names);
        let out = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let (mut w, manifest) =
            BackupWriter::start(BufWriter::with_capacity(1 << 20, out), &keys, manifest)?;
        let io = |e| anyhow::anyhow!("cannot write {}: {e}", partial.display());
        for (name, path) in &files {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            w.write_all(b"F").map_err(io)?;
            put_bytes(&mut w, name.as_bytes()).map_err(io)?;
            put_bytes(&mut w, &bytes).map_err(io)?;
        }
        w.write_all(b"D").map_err(io)?;
        let pb = bar(manifest.total_rows(), "backup");
        snapshot.write_to(&mut w, &mut |n| {
            pb.set_position(n);
            fault_pause(n);
        })?;
        pb.finish_and_clear();
        let out = w
            .finish()
            .map_err(io)?
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        out.sync_all().map_err(io)?;
        let size = out.metadata().map_err(io)?.len();
        drop(out);
        // Only a complete, synced file gets the backup's name.
        std::fs::rename(&partial, &file).with_context(|| {
            format!("cannot rename {} to {}", partial.display(), file.display())
        })?;
        sync_dir(file.parent().unwrap_or(Path::new(".")))?;
        Ok((manifest, size))
    })
    .await
    .context("backup task failed")??;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "backup written: {} rows, {} subjects, audit size {}, {:.1} MB in {secs:.2} s",
        manifest.total_rows(),
        manifest.rows_of("subjects"),
        manifest.audit_size,
        size as f64 / 1e6
    );
    println!(
        "keep apart from it: the master key (the backup is useless without it) and the \
         erasure ledger {}",
        config.ledger.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The keys to read a backup with: `--key-file`, else PRIVET_MASTER_KEY, else `fallback`'s.
fn keys_for(key_file: Option<&Path>, fallback: Option<&Config>) -> Result<Keyring> {
    if let Some(p) = key_file {
        return KeyFile::new(p.to_path_buf())
            .load()
            .with_context(|| format!("cannot load the master key from {}", p.display()));
    }
    if std::env::var_os("PRIVET_MASTER_KEY").is_some_and(|v| !v.is_empty()) {
        return EnvKey::new("PRIVET_MASTER_KEY")
            .load()
            .context("cannot load the master key from PRIVET_MASTER_KEY");
    }
    match fallback {
        Some(config) => crate::open::load_keys(config),
        None => bail!(
            "no master key: give --key-file (the master.key of the vault that made the \
             backup) or set PRIVET_MASTER_KEY"
        ),
    }
}

fn open_backup(file: &Path, keys: &Keyring) -> Result<BackupReader<BufReader<File>>> {
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    Ok(BackupReader::open(
        BufReader::with_capacity(1 << 20, f),
        file,
        keys,
    )?)
}

/// Reads the carried files of a payload, up to the dump's marker.
fn read_files(r: &mut dyn Read, file: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag)
            .map_err(|e| BackupError::from_io(e, file))?;
        match tag[0] {
            b'F' => {
                let name = get_bytes(r, 4096).map_err(|e| BackupError::from_io(e, file))?;
                let name = String::from_utf8(name)
                    .map_err(|_| BackupError::Mismatch("a file name is not UTF-8".into()))?;
                let body = get_bytes(r, 64 << 20).map_err(|e| BackupError::from_io(e, file))?;
                files.push((name, body));
            }
            b'D' => return Ok(files),
            _ => return Err(BackupError::Mismatch("unknown payload section".into()).into()),
        }
    }
}

/// The store error of a dump, or the backup error inside it (a damaged chunk read through
/// the dump parser surfaces as an I/O error of the stream).
fn dump_error(e: privet_store::StoreError, reader_error: Option<BackupError>) -> anyhow::Error {
    match reader_error {
        Some(b) => b.into(),
        None => anyhow::Error::new(e).context("the backup's dump is malformed"),
    }
}

/// A reader that keeps the first [`BackupError`] its inner reader returned, so a dump
/// parser's generic I/O error can be reported as what it was (truncated, damaged).
struct Tap<'a, R: Read> {
    inner: &'a mut BackupReader<R>,
    error: Option<BackupError>,
    file: PathBuf,
}

impl<R: Read> Read for Tap<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(out) {
            Ok(n) => Ok(n),
            Err(e) => {
                let msg = e.to_string();
                self.error = Some(BackupError::from_io(e, &self.file));
                Err(std::io::Error::other(msg))
            }
        }
    }
}

fn check_counts(manifest: &Manifest, tables: &[(String, u64)]) -> Result<()> {
    let expected: Vec<(String, u64)> = manifest
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.rows))
        .collect();
    if expected != tables {
        return Err(
            BackupError::Mismatch("tables or row counts differ from the manifest".into()).into(),
        );
    }
    Ok(())
}

fn print_manifest(m: &Manifest) {
    println!(
        "backup of {} store, made {} by privet {}",
        m.backend,
        m.created_at.format(&Rfc3339).unwrap_or_default(),
        m.privet_version
    );
    println!(
        "schema version {} ({})",
        m.schema_version,
        m.migrations.join(", ")
    );
    println!("audit tree size {} root {}", m.audit_size, m.audit_root);
    println!(
        "master key {}; carried files: {}",
        m.key_version,
        m.files.join(", ")
    );
    for t in &m.tables {
        println!("  {:<24} {:>12} rows", t.name, t.rows);
    }
}

async fn verify(file: &Path, key_file: Option<&Path>, dir: &Path) -> Result<ExitCode> {
    let fallback = if key_file.is_none() {
        Config::load(dir).ok()
    } else {
        None
    };
    let keys = keys_for(key_file, fallback.as_ref())?;
    let file = file.to_path_buf();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<ExitCode> {
        let mut r = open_backup(&file, &keys)?;
        let manifest = r.manifest().clone();
        print_manifest(&manifest);
        // The first chunk authenticates the header, so the manifest is trusted from here.
        let files = read_files(&mut r, &file)?;
        let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        if names != manifest.files {
            return Err(
                BackupError::Mismatch("carried files differ from the manifest".into()).into(),
            );
        }
        let pb = bar(manifest.total_rows(), "verify");
        let mut tap = Tap {
            inner: &mut r,
            error: None,
            file: file.clone(),
        };
        let summary = check_dump(
            &manifest.backend,
            &mut tap,
            &mut |n| pb.set_position(n),
            &rt,
        )?;
        pb.finish_and_clear();
        let summary = summary.map_err(|e| dump_error(e, tap.error.take()))?;
        check_counts(&manifest, &summary.tables)?;
        r.expect_end()?;
        println!(
            "backup OK: every chunk authenticated, {} rows as in the manifest",
            manifest.total_rows()
        );
        Ok(ExitCode::SUCCESS)
    })
    .await
    .context("verify task failed")?
}

/// Where a restore is staged: beside the target, named after it, so a restore killed
/// midway leaves an obviously unfinished directory and never a half-restored target.
fn staging_dir(target: &Path) -> Result<PathBuf> {
    let name = target
        .file_name()
        .with_context(|| format!("{} is not a directory name", target.display()))?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(".restore-partial");
    Ok(target.with_file_name(staged))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

async fn restore(
    file: &Path,
    target: &Path,
    key_file: Option<&Path>,
    store_url: Option<&str>,
    ledgers: &[PathBuf],
    accept_missing_ledger: bool,
) -> Result<ExitCode> {
    if target.exists() && std::fs::read_dir(target)?.next().is_some() {
        bail!(
            "{} is not empty: restore only into a new (or empty) data directory",
            target.display()
        );
    }
    let keys = keys_for(key_file, None)?;
    // Header and key first: a wrong key or a foreign file is refused before anything is
    // written.
    let manifest = {
        let mut r = open_backup(file, &keys)?;
        // The first chunk authenticates the header: the manifest is trusted from here.
        read_files(&mut r, file)?;
        r.manifest().clone()
    };
    match (manifest.backend.as_str(), store_url) {
        ("sqlite", None) | ("postgres", Some(_)) => {}
        ("sqlite", Some(_)) => bail!(
            "this is a backup of a SQLite store: it restores into the data directory's own \
             database file; --store-url is for backups of a PostgreSQL store"
        ),
        ("postgres", None) => bail!(
            "this is a backup of a PostgreSQL store: give --store-url URL, an empty database to \
             restore into (the restored privet.toml will point at it)"
        ),
        (other, _) => bail!("this build cannot restore backups of a {other:?} store"),
    }
    // Ledgers named on the command line must all be there; several are merged.
    if let Some(missing) = ledgers.iter().find(|p| !p.is_file()) {
        bail!("the erasure ledger {} cannot be found", missing.display());
    }
    if ledgers.len() > 1 {
        let mut lists = Vec::with_capacity(ledgers.len());
        for p in ledgers {
            lists.push(Ledger::new(p.clone()).read()?);
        }
        let events = privet_backup::merge_ledgers(lists);
        return restore_with(file, target, keys, key_file, store_url, &manifest, &events).await;
    }
    let ledger_path = ledgers
        .first()
        .cloned()
        .or_else(|| manifest.ledger.as_ref().map(PathBuf::from));
    let events = match &ledger_path {
        Some(p) if p.is_file() => Ledger::new(p.clone()).read()?,
        missing if accept_missing_ledger => {
            eprintln!(
                "warning: no erasure ledger{} — restoring without replaying erasures: customers \
                 erased after {} are back in the restored vault. Erase them again.",
                missing
                    .as_ref()
                    .map(|p| format!(" at {}", p.display()))
                    .unwrap_or_default(),
                manifest.created_at.format(&Rfc3339).unwrap_or_default()
            );
            Vec::new()
        }
        missing => bail!(
            "the erasure ledger{} cannot be found. Without it, customers erased after this \
             backup was made ({}) would come back in the restored vault. Give it with \
             --ledger PATH, or pass --accept-missing-ledger to restore anyway and erase them \
             again by hand",
            missing
                .as_ref()
                .map(|p| format!(" {}", p.display()))
                .unwrap_or_default(),
            manifest.created_at.format(&Rfc3339).unwrap_or_default()
        ),
    };
    restore_with(file, target, keys, key_file, store_url, &manifest, &events).await
}

/// The restore once the ledger's events are known: staged, then renamed into place.
async fn restore_with(
    file: &Path,
    target: &Path,
    keys: Keyring,
    key_file: Option<&Path>,
    store_url: Option<&str>,
    manifest: &Manifest,
    events: &[privet_backup::LedgerEvent],
) -> Result<ExitCode> {
    let staging = staging_dir(target)?;
    if staging.exists() {
        eprintln!(
            "removing {} left by an unfinished restore",
            staging.display()
        );
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    let loaded = Arc::new(AtomicBool::new(false));
    let result = restore_into(
        file,
        &staging,
        Arc::new(keys),
        key_file,
        store_url.map(str::to_owned),
        manifest,
        events,
        loaded.clone(),
    )
    .await;
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        let what = if loaded.load(Ordering::SeqCst) {
            "restore failed after the database was loaded: the data directory was not \
             created; drop and recreate the database before restoring again"
        } else {
            "restore failed; nothing was restored"
        };
        return Err(e.context(what));
    }
    if target.exists() {
        std::fs::remove_dir(target)
            .with_context(|| format!("cannot replace the empty {}", target.display()))?;
    }
    std::fs::rename(&staging, target).with_context(|| {
        format!(
            "cannot rename {} to {}",
            staging.display(),
            target.display()
        )
    })?;
    sync_dir(target.parent().unwrap_or(Path::new(".")))?;
    println!("restored into {}", target.display());
    Ok(ExitCode::SUCCESS)
}

/// Points the `[store]` of the privet.toml at `path` at `url` (comments and the rest of the
/// file kept).
fn point_config_at(path: &Path, url: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("the backup carries no {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("the backup's {} is not valid TOML", path.display()))?;
    let store = doc
        .entry("store")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .context("the backup's privet.toml has a `store` that is not a table")?;
    store.insert("url", toml_edit::value(url));
    std::fs::write(path, doc.to_string())
        .and_then(|()| File::open(path)?.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[allow(clippy::too_many_arguments)]
async fn restore_into(
    file: &Path,
    staging: &Path,
    keys: Arc<Keyring>,
    key_file: Option<&Path>,
    store_url: Option<String>,
    manifest: &Manifest,
    events: &[privet_backup::LedgerEvent],
    loaded: Arc<AtomicBool>,
) -> Result<()> {
    std::fs::create_dir_all(staging)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staging, std::fs::Permissions::from_mode(0o700))?;
    }
    let (file_c, staging_c) = (file.to_path_buf(), staging.to_path_buf());
    let manifest_c = manifest.clone();
    let rt = tokio::runtime::Handle::current();
    let config = tokio::task::spawn_blocking(move || -> Result<Config> {
        let mut r = open_backup(&file_c, &keys)?;
        // The first chunk authenticates the header, so the manifest is trusted from here.
        let files = read_files(&mut r, &file_c)?;
        for (name, body) in files {
            if !Path::new(&name)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            {
                return Err(
                    BackupError::Mismatch("a carried file name is not relative".into()).into(),
                );
            }
            write_private(&staging_c.join(&name), &body)?;
        }
        if let Some(url) = &store_url {
            point_config_at(&staging_c.join(crate::config::CONFIG_FILE), url)?;
        }
        let config = Config::load(&staging_c)?;
        let pb = bar(manifest_c.total_rows(), "restore");
        let mut tap = Tap {
            inner: &mut r,
            error: None,
            file: file_c.clone(),
        };
        let mut progress = |n| {
            pb.set_position(n);
            fault_pause(n);
        };
        let summary = match (&config.store, &store_url) {
            (StoreLocation::Sqlite(db), None) if db.starts_with(&staging_c) => {
                privet_store_sqlite::load_dump(db, &mut tap, &mut progress)
            }
            (StoreLocation::Postgres { url, ca_file }, Some(want)) if url == want => {
                // One transaction: it commits only after the dump's last chunk was read and
                // authenticated; killed or failed before that, the database stays empty.
                let summary = rt.block_on(async {
                    let store = PgStore::connect_for_load(url, pg_options(ca_file)).await?;
                    store.load_dump(&mut tap, &mut progress).await
                });
                loaded.store(summary.is_ok(), Ordering::SeqCst);
                summary
            }
            (StoreLocation::Sqlite(_), None) => bail!(
                "the backup's privet.toml (or a PRIVET_STORE_* variable) puts the database \
                 outside the data directory; unset the variable or restore by hand"
            ),
            _ => bail!(
                "a PRIVET_STORE_* variable overrides the store the restored privet.toml names; \
                 unset it to restore"
            ),
        };
        pb.finish_and_clear();
        let summary = summary.map_err(|e| dump_error(e, tap.error.take()))?;
        check_counts(&manifest_c, &summary.tables)?;
        // The whole stream, to its authenticated last chunk, before anything is kept.
        r.expect_end()?;
        Ok(config)
    })
    .await
    .context("restore task failed")??;
    if let (Some(src), KeySource::File(dst)) = (key_file, &config.keys)
        && dst.starts_with(staging)
        && !dst.exists()
    {
        let bytes = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
        write_private(dst, &bytes)?;
    }
    // Opening it checks the key against the restored key-check values.
    let vault = crate::open::open(&config)
        .await
        .context("the restored vault does not open")?;
    // The erasures, restrictions and legal holds recorded after the backup, before anything
    // can serve. The vault plans each erasure (what the law obliges keeping); the writes go
    // to the bare store, so the replay is not appended to any ledger.
    let store = crate::open::open_store(&config.store).await?;
    let report =
        privet_backup::replay_ledger(&vault, store.as_ref(), events, manifest.created_at).await?;
    drop(vault);
    // The restored vault's own ledger starts with every erasure it holds.
    privet_backup::resync_erasures(store.as_ref(), &Ledger::new(config.ledger.clone())).await?;
    drop(store);
    println!(
        "erasure ledger replayed: {} erased again, {} already erased in the backup, {} not in \
         the backup (created after it), {} restriction changes, {} legal-hold changes",
        report.erased, report.already_erased, report.absent, report.restrictions, report.holds
    );
    Ok(())
}
