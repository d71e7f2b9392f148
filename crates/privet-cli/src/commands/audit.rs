//! `privet audit key|checkpoint|proof|tail|verify`: the tamper-evident audit trail from the
//! terminal, in the same formats as the HTTP API.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use privet_audit::{AuditEntry, VerifierKey};
use privet_vault::{Actor, AuditError, AuditRecord, VaultError};

use crate::DirArg;
use crate::config::Config;

/// Exit code of `verify` when the log does not verify (other failures exit with 1).
const TAMPERED: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print the log's verifier key (C2SP note verifier-key format): publish it, and pin it
    /// wherever checkpoints are checked.
    Key {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Print the latest signed checkpoint (C2SP signed note), signing a new one first if the
    /// log grew since the last. Keep a copy outside the vault for `verify --against`.
    Checkpoint {
        #[command(flatten)]
        dir: DirArg,
        /// Also write it to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print an inclusion or consistency proof (JSON, hashes in standard base64).
    #[command(subcommand)]
    Proof(ProofCommand),
    /// Print the latest entries (oldest first), one per line.
    Tail {
        #[command(flatten)]
        dir: DirArg,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u32,
        /// Only entries about this subject (`sub_…`).
        #[arg(long)]
        subject: Option<String>,
        /// Keep printing new entries as they are appended (Ctrl-C to stop).
        #[arg(short, long)]
        follow: bool,
        /// Print each as the JSON of `GET /v1/audit/entries` (index, leaf, entry).
        #[arg(long)]
        json: bool,
    },
    /// Recompute the whole tree from the stored leaves and check every stored checkpoint
    /// (and, with --against, one saved outside the vault). Needs only the database and the
    /// verifier key, not the master key. Exits with 2 and names the first bad entry when
    /// the log was tampered with.
    Verify {
        #[command(flatten)]
        dir: DirArg,
        /// A checkpoint saved earlier (e.g. by `privet audit checkpoint --out FILE`): the log
        /// must still hold it, so a rolled-back or rewritten log fails.
        #[arg(long)]
        against: Option<PathBuf>,
        /// The verifier key to check signatures with (default: the public half of the
        /// configured audit signing key). Pin the published key here.
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ProofCommand {
    /// The inclusion proof of one entry: `{"index", "tree_size", "leaf_hash", "hashes"}`.
    Inclusion {
        #[command(flatten)]
        dir: DirArg,
        /// The entry's index.
        #[arg(long)]
        index: u64,
        /// The tree size (default: the log's size now).
        #[arg(long)]
        size: Option<u64>,
    },
    /// The consistency proof between two tree sizes: `{"from", "to", "hashes"}`.
    Consistency {
        #[command(flatten)]
        dir: DirArg,
        /// The older size.
        #[arg(long)]
        from: u64,
        /// The newer size (default: the log's size now).
        #[arg(long)]
        to: Option<u64>,
    },
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Key { dir } => {
            let config = Config::load(&dir.dir)?;
            let signer = crate::open::audit_signer(&config, &dir.dir)?;
            println!("{}", VerifierKey::of(&signer));
        }
        Command::Checkpoint { dir, out } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let note = vault.checkpoint(&Actor::cli()).await?;
            if let Some(path) = out {
                std::fs::write(&path, &note)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            print!("{note}");
        }
        Command::Proof(p) => proof(p).await?,
        Command::Tail {
            dir,
            lines,
            subject,
            follow,
            json,
        } => tail(dir, lines, subject, follow, json).await?,
        Command::Verify { dir, against, key } => return verify(dir, against, key).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn proof(cmd: ProofCommand) -> Result<()> {
    let json = match cmd {
        ProofCommand::Inclusion { dir, index, size } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let proof = vault.inclusion_proof(&Actor::cli(), index, size).await?;
            serde_json::to_string_pretty(&proof)?
        }
        ProofCommand::Consistency { dir, from, to } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let proof = vault.consistency_proof(&Actor::cli(), from, to).await?;
            serde_json::to_string_pretty(&proof)?
        }
    };
    println!("{json}");
    Ok(())
}

fn print_entry(r: &AuditRecord, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    let Ok(e) = AuditEntry::from_leaf_bytes(&r.leaf) else {
        println!("{:>8}  (leaf does not decode)", r.index);
        return Ok(());
    };
    let time = e
        .time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut line = format!(
        "{:>8}  {time}  {:<14} {}",
        r.index,
        e.actor,
        serde_json::to_value(e.action)?.as_str().unwrap_or("?")
    );
    let decision = serde_json::to_value(e.decision)?;
    line.push_str(&format!(" {}", decision.as_str().unwrap_or("?")));
    for (k, v) in [
        ("subject", e.subject.map(|s| s.to_string())),
        ("collection", e.collection),
        ("purpose", e.purpose),
        ("reason", e.reason),
    ] {
        if let Some(v) = v {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    if !e.fields.is_empty() {
        line.push_str(&format!(" fields={}", e.fields.join(",")));
    }
    if !e.withheld.is_empty() {
        let w: Vec<_> = e.withheld.iter().map(|w| w.field.as_str()).collect();
        line.push_str(&format!(" withheld={}", w.join(",")));
    }
    println!("{line}");
    Ok(())
}

async fn tail(
    dir: DirArg,
    lines: u32,
    subject: Option<String>,
    follow: bool,
    json: bool,
) -> Result<()> {
    let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
    let subject = subject
        .map(|s| s.parse::<privet_core::SubjectId>())
        .transpose()?;
    let actor = Actor::cli();
    let lines = lines.clamp(1, privet_vault::MAX_AUDIT_PAGE);
    let size = vault.store().audit_len().await?;
    let mut from = match subject {
        // By subject, the last `lines` of its entries: page through them, keeping the tail.
        Some(_) => {
            let mut last: Vec<AuditRecord> = Vec::new();
            let mut next = 0;
            loop {
                let page = vault
                    .audit_entries(
                        &actor,
                        Some(next),
                        Some(privet_vault::MAX_AUDIT_PAGE),
                        subject,
                    )
                    .await?;
                let Some(end) = page.last().map(|r| r.index + 1) else {
                    break;
                };
                last.extend(page);
                let keep = last.len().saturating_sub(lines as usize);
                last.drain(..keep);
                next = end;
            }
            for r in &last {
                print_entry(r, json)?;
            }
            next.max(last.last().map_or(0, |r| r.index + 1))
        }
        None => {
            let start = size.saturating_sub(u64::from(lines));
            let page = vault
                .audit_entries(&actor, Some(start), Some(lines), None)
                .await?;
            for r in &page {
                print_entry(r, json)?;
            }
            page.last().map_or(start, |r| r.index + 1)
        }
    };
    if !follow {
        return Ok(());
    }
    loop {
        std::io::stdout().flush()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let page = vault
            .audit_entries(
                &actor,
                Some(from),
                Some(privet_vault::MAX_AUDIT_PAGE),
                subject,
            )
            .await?;
        for r in &page {
            print_entry(r, json)?;
        }
        if let Some(r) = page.last() {
            from = r.index + 1;
        }
    }
}

async fn verify(dir: DirArg, against: Option<PathBuf>, key: Option<String>) -> Result<ExitCode> {
    let config = Config::load(&dir.dir)?;
    let (key, previous) = match key {
        Some(k) => (
            VerifierKey::parse(k.trim()).context("--key is not a verifier key")?,
            Vec::new(),
        ),
        // The configured key, and the keys it replaced (`privet keys rotate-signing`).
        None => (
            VerifierKey::of(&crate::open::audit_signer(&config, &dir.dir)?),
            super::rotate_signing::previous_keys(&config)?,
        ),
    };
    let mut keys = vec![key.clone()];
    keys.extend(previous);
    let origin = config
        .audit_origin
        .clone()
        .unwrap_or_else(|| key.name().to_owned());
    let saved = against
        .as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()?;
    let store = crate::open::open_store(&config.store).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} entries  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = privet_vault::verify_audit_log_with_keys(
        &store,
        &keys,
        &origin,
        saved.as_deref(),
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .await;
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            let latest = report
                .latest
                .map_or("none".to_owned(), |c| format!("at size {}", c.size()));
            println!(
                "audit log verified: {} entries, root {}, {} checkpoint(s) checked (latest {latest})",
                report.size,
                base64_hash(&report.root),
                report.checkpoints,
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(VaultError::Audit(
            e
            @ (AuditError::Verify(_) | AuditError::Truncated { .. } | AuditError::Subtrees { .. }),
        )) => {
            eprintln!("audit log verification FAILED: {e}");
            Ok(ExitCode::from(TAMPERED))
        }
        Err(e) => Err(e.into()),
    }
}

/// Standard base64, as checkpoints and proofs spell hashes.
fn base64_hash(h: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h)
}
