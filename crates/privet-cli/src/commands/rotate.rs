//! `privet keys rotate | status | retire`: the master-key life cycle, as thin adapters over
//! the vault's rotation use cases (privet-vault `rotation`), with a progress bar.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use privet_crypto::{KeyFile, KeyVersion};
use privet_vault::{KeyStatus, RotationProgress};

use crate::DirArg;
use crate::config::{Config, KeySource};

#[derive(Debug, clap::Args)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Keys re-wrapped (or records re-indexed) per transaction.
    #[arg(long, default_value_t = 500)]
    batch: u32,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RetireArgs {
    #[command(flatten)]
    dir: DirArg,
    /// The version to retire, e.g. `v2`.
    #[arg(id = "key_version", value_name = "VERSION")]
    version: KeyVersion,
}

pub(crate) async fn rotate(args: RotateArgs) -> Result<ExitCode> {
    let config = Config::load(&args.dir.dir)?;
    let vault = crate::open::open(&config).await?;
    let status = vault.key_status().await?;
    let (current, _) = vault.key_versions();
    let started = vault.key_check_stored(current).await?;
    if status.pending() || !started {
        eprintln!("Continuing the rotation to {current}.");
    } else {
        match &config.keys {
            KeySource::File(path) => {
                let ring = crate::open::load_keys(&config)?;
                let rotated = ring
                    .rotated()
                    .context("the key version number is exhausted")?;
                KeyFile::new(path.clone())
                    .replace(&rotated)
                    .with_context(|| format!("cannot write the key file {}", path.display()))?;
                vault.reload_keys().await?;
                eprintln!(
                    "Added {} to {} (old versions kept). Copy it to every other server of this \
                     vault now: they re-read it within 10 s, and at once when they meet a key \
                     wrapped under {}.",
                    rotated.current(),
                    path.display(),
                    rotated.current()
                );
            }
            KeySource::Env(var) => bail!(
                "the master keys come from the environment variable {var}, which privet cannot \
                 change. Rotate in three steps: (1) generate a key, e.g. `openssl rand -base64 \
                 32`; (2) set {var} on every server and for this command to the versioned form \
                 holding every old version and the new one, e.g. `v1:<old>,v2:<new>` (the \
                 highest is current), and restart the servers; (3) run `privet keys rotate` \
                 again: it sees the new version and re-wraps everything under it"
            ),
        }
    }
    let new = vault.begin_rotation().await?;
    let (current, _) = vault.key_versions();
    if new {
        eprintln!("Rotating to {current}.");
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>13} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut on_progress = |p: RotationProgress| {
        bar.set_message(p.phase);
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let summary = vault.finish_rotation(args.batch, &mut on_progress).await;
    bar.finish_and_clear();
    let summary = summary?;
    let rewrapped: u64 = summary.rewrapped.values().sum();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "current": current.to_string(),
                "rewrapped": summary.rewrapped,
                "reindexed_records": summary.reindexed,
            })
        );
    } else {
        println!(
            "Rotation to {current} complete: {rewrapped} keys re-wrapped, {} records \
             re-indexed.",
            summary.reindexed
        );
        print_status(&vault.key_status().await?);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn status(args: StatusArgs) -> Result<ExitCode> {
    let config = Config::load(&args.dir.dir)?;
    let vault = crate::open::open(&config).await?;
    let status = vault.key_status().await?;
    if args.json {
        let versions: Vec<_> = status
            .versions
            .iter()
            .map(|v| {
                let wrapped: serde_json::Map<String, serde_json::Value> = v
                    .wrapped
                    .iter()
                    .map(|c| (c.table.to_owned(), c.count.into()))
                    .collect();
                serde_json::json!({
                    "version": v.version.to_string(),
                    "held": v.held,
                    "current": v.current,
                    "keys_api_keys_and_tokens": v.keys_api_keys_and_tokens,
                    "wrapped": wrapped,
                    "blind_index_entries": v.index_entries,
                    "retirable": v.held && v.in_use().is_none(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"versions": versions, "rotation_pending": status.pending()})
        );
    } else {
        print_status(&status);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: &KeyStatus) {
    let tables: Vec<&str> = status
        .versions
        .first()
        .map(|v| v.wrapped.iter().map(|c| c.table).collect())
        .unwrap_or_default();
    print!("{:<8} {:<30}", "version", "role");
    for t in &tables {
        print!(" {t:>14}");
    }
    println!(" {:>20}", "blind_index_entries");
    for v in &status.versions {
        let mut role = Vec::new();
        if !v.held {
            role.push("MISSING from key source");
        }
        if v.current {
            role.push("current");
        }
        if v.keys_api_keys_and_tokens {
            role.push("API keys, tokens");
        }
        print!("{:<8} {:<30}", v.version.to_string(), role.join(", "));
        for c in &v.wrapped {
            print!(" {:>14}", c.count);
        }
        println!(" {:>20}", v.index_entries);
    }
    if status.pending() {
        println!("A rotation is unfinished: run `privet keys rotate` to complete it.");
    }
}

pub(crate) async fn retire(args: RetireArgs) -> Result<ExitCode> {
    let config = Config::load(&args.dir.dir)?;
    let KeySource::File(path) = &config.keys else {
        bail!(
            "the master keys come from an environment variable: check with `privet keys status` \
             that {} is not in use, then remove it from the variable on every server",
            args.version
        );
    };
    let vault = crate::open::open(&config).await?;
    vault.retire_key_version(args.version).await?;
    let ring = crate::open::load_keys(&config)?;
    let without = ring
        .without(args.version)
        .with_context(|| format!("the key file does not hold {} besides others", args.version))?;
    KeyFile::new(path.clone())
        .retire(&without, args.version)
        .with_context(|| format!("cannot write the key file {}", path.display()))?;
    println!(
        "Retired {} from {}. Copy the file to every other server; destroy the backups of \
         the old key file only once no backup of the data still needs {}.",
        args.version,
        path.display(),
        args.version
    );
    Ok(ExitCode::SUCCESS)
}
