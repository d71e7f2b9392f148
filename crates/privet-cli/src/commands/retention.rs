//! `privet retention run|plan`, and the purge job `privet serve` runs on a timer.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use privet_vault::{Actor, PurgeOptions, PurgeProgress, PurgeReport, RetentionPlan, Vault};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::DirArg;
use crate::config::Config;

/// Tests only: after this many committed batches, `retention run` stops where it is (and
/// says so on stderr) until killed, so a test can kill -9 it mid-purge at a known point.
/// Unset in production; it only ever pauses, never changes what a run deletes.
const PAUSE_HOOK: &str = "PRIVET_TEST_PURGE_PAUSE_AFTER_BATCHES";

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Delete what the schema's retention says has expired (records, fields, subjects with
    /// nothing left), in atomic batches, and write the purge report to the audit trail.
    /// Safe to re-run, also after a crash.
    Run {
        #[command(flatten)]
        dir: DirArg,
        /// Count what would be deleted; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deletions per batch (each batch is one transaction with its audit entries).
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what will expire in the next N days: counts per collection and field, and the
    /// earliest dates (no values). Writes nothing.
    Plan {
        #[command(flatten)]
        dir: DirArg,
        /// The horizon in days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Run {
            dir,
            dry_run,
            batch_size,
            json,
        } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let bar = if json {
                ProgressBar::hidden()
            } else {
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
            };
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {pos} subjects scanned · {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            let pause_after: Option<u64> =
                std::env::var(PAUSE_HOOK).ok().and_then(|v| v.parse().ok());
            let progress = |p: &PurgeProgress| {
                bar.set_position(p.scanned);
                bar.set_message(format!(
                    "{} records, {} fields, {} subjects erased, {} kept records, {} batches",
                    p.records, p.fields, p.subjects_erased, p.retained, p.batches
                ));
                if pause_after.is_some_and(|n| p.batches >= n) {
                    eprintln!(
                        "retention: paused after {} batches ({PAUSE_HOOK})",
                        p.batches
                    );
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
            };
            let options = PurgeOptions {
                dry_run,
                batch_size,
                progress: Some(&progress),
                ..PurgeOptions::default()
            };
            let report = vault
                .run_retention_with(&Actor::cli(), OffsetDateTime::now_utc(), &options)
                .await;
            bar.finish_and_clear();
            print_report(&report?, json)?;
        }
        Command::Plan { dir, days, json } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let plan = vault
                .retention_plan(&Actor::cli(), OffsetDateTime::now_utc(), days)
                .await?;
            print_plan(&plan, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn print_report(r: &PurgeReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    let p = &r.progress;
    println!(
        "retention run {} at {}: {verb} {} records and {} fields; {} subjects erased; \
         {verb} {} records kept by erasures ({} subjects scanned, {} batches)",
        r.run_id,
        rfc3339(r.now),
        p.records,
        p.fields,
        p.subjects_erased,
        p.retained,
        p.scanned,
        p.batches
    );
    for l in &r.lines {
        let what = match &l.field {
            Some(f) => format!("{}.{f}", l.collection),
            None => format!("{} (records)", l.collection),
        };
        println!("  {what:<40} {:>10}", l.count);
    }
    if r.held_subjects > 0 {
        println!(
            "  {} subjects under legal hold were skipped",
            r.held_subjects
        );
    }
    if r.changed_subjects > 0 {
        println!(
            "  {} subjects changed during the run; the next run decides again",
            r.changed_subjects
        );
    }
    if let Some(i) = r.report_audit_index {
        println!("purge report written to the audit trail (last entry #{i})");
    }
    Ok(())
}

fn print_plan(plan: &RetentionPlan, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    println!(
        "expiring from {} to {} ({} subjects scanned):",
        rfc3339(plan.now),
        rfc3339(plan.until),
        plan.scanned
    );
    if plan.lines.is_empty() {
        println!("  nothing");
    }
    println!(
        "  {:<40} {:>8} {:>9}  earliest",
        "what", "due now", "upcoming"
    );
    for l in &plan.lines {
        let what = match &l.field {
            Some(f) => format!("{}.{f}", l.collection),
            None => format!("{} (records)", l.collection),
        };
        let earliest = l.earliest.map(rfc3339).unwrap_or_else(|| "-".into());
        println!(
            "  {what:<40} {:>8} {:>9}  {earliest}",
            l.due_now, l.upcoming
        );
    }
    if plan.held_subjects > 0 {
        println!(
            "  {} subjects under legal hold are not counted (not purged while held)",
            plan.held_subjects
        );
    }
    Ok(())
}

/// The purge job of `privet serve`: a run at start and then every `every`. A failed run is
/// logged and retried at the next tick; it never stops the server.
pub(crate) async fn purge_job(vault: Vault, every: Duration, batch_size: usize) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let actor = Actor::retention_job();
    loop {
        tick.tick().await;
        let options = PurgeOptions {
            batch_size,
            ..PurgeOptions::default()
        };
        match vault
            .run_retention_with(&actor, OffsetDateTime::now_utc(), &options)
            .await
        {
            Ok(r) => tracing::info!(
                run = %r.run_id,
                records = r.progress.records,
                fields = r.progress.fields,
                subjects_erased = r.progress.subjects_erased,
                kept_records = r.progress.retained,
                held = r.held_subjects,
                changed = r.changed_subjects,
                "retention run finished"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "retention run failed; retried at the next interval")
            }
        }
    }
}
