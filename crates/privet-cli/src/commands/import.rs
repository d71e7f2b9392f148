//! `privet import`: CSV or JSON Lines into a collection, in atomic batches, with a progress
//! bar and per-line errors. A batch with any bad line writes nothing; by default the import
//! stops there (earlier batches stay committed), `--keep-going` skips it and goes on.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use privet_core::{Collection, FieldType};
use privet_vault::{Actor, ImportOutcome, Vault, VaultError};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::DirArg;
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Csv,
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// The collection to import into. For a records collection every row needs `subject_id`.
    #[arg(long)]
    collection: String,
    /// The file: CSV with a header row of field names, or JSON Lines (one object per line).
    file: PathBuf,
    /// File format (default: from the extension; `.csv` is CSV, anything else JSON Lines).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Rows per atomic batch.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// Skip a batch with bad lines and go on (default: stop at the first one).
    #[arg(long)]
    keep_going: bool,
}

/// Batches in flight at once (validated and encrypted on the runtime, committed by the
/// store): enough that the store group-commits several while the next are encrypted.
const IN_FLIGHT: usize = 8;

/// A parsed row and the line it started on.
pub(crate) type Row = (u64, Result<Map<String, Value>, String>);

pub(crate) async fn run(args: Args) -> Result<ExitCode> {
    let vault = crate::open::open(&Config::load(&args.dir.dir)?).await?;
    let coll = vault
        .schema()
        .collection(&args.collection)
        .with_context(|| format!("the schema has no collection `{}`", args.collection))?
        .clone();
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let format = args.format.unwrap_or_else(|| {
        if args
            .file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            Format::Csv
        } else {
            Format::Jsonl
        }
    });
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reader = bar.wrap_read(file);
    let rows: Box<dyn Iterator<Item = Row>> = match format {
        Format::Csv => Box::new(csv_rows(reader, coll.clone())?),
        Format::Jsonl => Box::new(jsonl_rows(reader)),
    };
    let started = Instant::now();
    let summary = import_rows(
        &vault,
        &args.collection,
        rows,
        args.batch_size as usize,
        args.keep_going,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {} row(s) into {} in {secs:.1}s ({:.0} rows/s); {} batch(es) rejected",
        summary.imported,
        args.collection,
        summary.imported as f64 / secs.max(1e-9),
        summary.rejected.len()
    );
    if summary.rejected.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    // Batches already in flight when one was rejected still commit, so say exactly which
    // lines went in and which did not: re-importing an imported line would duplicate it.
    eprintln!(
        "not imported (fix and re-import only these): {}",
        ranges(&summary.rejected)
    );
    if let Some(after) = summary.unread_after {
        eprintln!("stopped at a rejected batch; lines after {after} were not read");
    }
    if !summary.imported_lines.is_empty() {
        eprintln!("imported: {}", ranges(&summary.imported_lines));
    }
    Ok(ExitCode::FAILURE)
}

/// What an import did, by line ranges (inclusive).
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) imported: usize,
    pub(crate) imported_lines: Vec<(u64, u64)>,
    pub(crate) rejected: Vec<(u64, u64)>,
    /// Set when the import stopped early: the last line read.
    pub(crate) unread_after: Option<u64>,
}

/// The first and last line of a batch.
fn span(lines: impl IntoIterator<Item = u64>) -> (u64, u64) {
    lines
        .into_iter()
        .fold((u64::MAX, 0), |(lo, hi), l| (lo.min(l), hi.max(l)))
}

/// `1-1000, 2001-2500`, adjacent ranges merged.
fn ranges(spans: &[(u64, u64)]) -> String {
    let mut sorted = spans.to_vec();
    sorted.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (lo, hi) in sorted {
        match merged.last_mut() {
            Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let parts: Vec<String> = merged
        .iter()
        .map(|(lo, hi)| {
            if lo == hi {
                format!("line {lo}")
            } else {
                format!("lines {lo}-{hi}")
            }
        })
        .collect();
    parts.join(", ")
}

/// Feeds rows to the vault in atomic batches, several in flight (encrypting while the store
/// commits). Reports bad lines on stderr and returns which line ranges went in.
pub(crate) async fn import_rows(
    vault: &Vault,
    collection: &str,
    rows: impl Iterator<Item = Row>,
    batch_size: usize,
    keep_going: bool,
    bar: &ProgressBar,
) -> Summary {
    let mut summary = Summary::default();
    let mut in_flight: JoinSet<(Vec<u64>, Result<ImportOutcome, VaultError>)> = JoinSet::new();
    let mut batch: Vec<(u64, Map<String, Value>)> = Vec::with_capacity(batch_size);
    let mut bad: Vec<(u64, String)> = Vec::new();
    let mut stop = false;
    let mut rows = rows.peekable();
    while !stop {
        let Some((line, parsed)) = rows.next() else {
            break;
        };
        match parsed {
            Ok(map) => batch.push((line, map)),
            Err(e) => bad.push((line, e)),
        }
        if batch.len() + bad.len() < batch_size && rows.peek().is_some() {
            continue;
        }
        if !bad.is_empty() {
            let lines = batch
                .iter()
                .map(|(l, _)| *l)
                .chain(bad.iter().map(|(l, _)| *l));
            summary.rejected.push(span(lines));
            for (line, e) in bad.drain(..) {
                bar.suspend(|| eprintln!("line {line}: {e}"));
            }
            batch.clear();
            stop = !keep_going;
            if stop && rows.peek().is_some() {
                summary.unread_after = Some(line);
            }
            continue;
        }
        let (lines, data): (Vec<u64>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
        let (v, c) = (vault.clone(), collection.to_owned());
        in_flight.spawn(async move { (lines, v.import_batch(&Actor::cli(), &c, data).await) });
        while in_flight.len() >= IN_FLIGHT || (in_flight.len() == 1 && rows.peek().is_none()) {
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            if !record(joined, &mut summary, bar) && !keep_going {
                stop = true;
                if rows.peek().is_some() {
                    summary.unread_after = Some(line);
                }
            }
        }
    }
    while let Some(joined) = in_flight.join_next().await {
        record(joined, &mut summary, bar);
    }
    summary
}

/// Accounts one finished batch; false if it was rejected.
fn record(
    joined: Result<(Vec<u64>, Result<ImportOutcome, VaultError>), tokio::task::JoinError>,
    summary: &mut Summary,
    bar: &ProgressBar,
) -> bool {
    let (lines, result) = match joined {
        Ok(x) => x,
        Err(e) => {
            // The lines of a task that failed to run are unknown here; say so plainly.
            bar.suspend(|| {
                eprintln!("an import task failed ({e}); check the imported ranges below")
            });
            return false;
        }
    };
    let batch_span = span(lines.iter().copied());
    match result {
        Ok(outcome) => {
            summary.imported_lines.push(batch_span);
            summary.imported += outcome.len();
            bar.set_message(format!("{} rows", summary.imported));
            true
        }
        Err(VaultError::InvalidBatch(items)) => {
            for item in items {
                let line = lines.get(item.index).copied().unwrap_or_default();
                for e in item.errors.0 {
                    bar.suspend(|| {
                        eprintln!(
                            "line {line}: {}: {}: {}",
                            e.field,
                            e.code.as_str(),
                            e.message
                        )
                    });
                }
            }
            summary.rejected.push(batch_span);
            false
        }
        Err(e) => {
            let (first, last) = batch_span;
            bar.suspend(|| eprintln!("lines {first}-{last}: batch not imported: {e}"));
            summary.rejected.push(batch_span);
            false
        }
    }
}

fn jsonl_rows(reader: impl Read) -> impl Iterator<Item = Row> {
    BufReader::new(reader)
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let n = i as u64 + 1;
            match line {
                Err(e) => Some((n, Err(format!("unreadable line: {e}")))),
                Ok(l) if l.trim().is_empty() => None,
                Ok(l) => Some((
                    n,
                    match serde_json::from_str::<Value>(&l) {
                        Ok(Value::Object(m)) => Ok(m),
                        Ok(_) => Err("not a JSON object".into()),
                        Err(e) => Err(format!("malformed JSON at column {}", e.column())),
                    },
                )),
            }
        })
}

fn csv_rows(reader: impl Read + 'static, coll: Collection) -> Result<impl Iterator<Item = Row>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = r
        .headers()
        .context("cannot read the CSV header row")?
        .clone();
    if headers.iter().any(str::is_empty) {
        bail!("the CSV header row has an empty column name");
    }
    Ok(r.into_records().map(move |rec| match rec {
        Err(e) => {
            let line = e.position().map_or(0, |p| p.line());
            (line, Err(format!("malformed CSV: {}", csv_error_kind(&e))))
        }
        Ok(rec) => {
            let line = rec.position().map_or(0, |p| p.line());
            let mut m = Map::new();
            for (name, raw) in headers.iter().zip(rec.iter()) {
                if raw.is_empty() {
                    continue;
                }
                m.insert(name.to_owned(), coerce(&coll, name, raw));
            }
            (line, Ok(m))
        }
    }))
}

/// CSV cells are text; give typed fields their JSON type so validation sees what a JSON
/// client would send. A cell that does not convert stays text and fails validation by name.
fn coerce(coll: &Collection, name: &str, raw: &str) -> Value {
    let ty = coll.field(name).map(|f| f.ty);
    let parsed = match ty {
        Some(FieldType::Integer) => raw.trim().parse::<i64>().ok().map(Value::from),
        Some(FieldType::Bool) => raw.trim().parse::<bool>().ok().map(Value::from),
        Some(FieldType::Json) => serde_json::from_str(raw).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// The kind of a CSV error without the offending content.
fn csv_error_kind(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { .. } => "wrong number of fields",
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8",
        csv::ErrorKind::Io(_) => "read error",
        _ => "unreadable record",
    }
}
