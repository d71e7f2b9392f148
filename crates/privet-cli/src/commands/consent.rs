//! `privet consent grant|deny|withdraw|show|history`: a subject's consent ledger from the
//! terminal (as the local operator; every change is audited like one over HTTP).

use std::process::ExitCode;

use anyhow::{Context, Result};
use privet_core::{ConsentChange, ConsentSource, ConsentState, SubjectId};
use privet_vault::Actor;

use super::time_or_dash;
use crate::DirArg;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub(crate) struct Change {
    #[command(flatten)]
    dir: DirArg,
    /// Subject id (`sub_…`).
    subject: String,
    /// A purpose declared in the schema, e.g. `marketing.communications.email`.
    purpose: String,
    /// The version of the privacy notice the customer saw.
    #[arg(long)]
    notice_version: String,
    /// How the decision was collected: web_form, api, portal, gpc or import.
    #[arg(long, default_value = "api")]
    source: String,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Record that the subject granted consent to a purpose.
    Grant {
        #[command(flatten)]
        change: Change,
        /// When the grant lapses (RFC 3339, e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Record that the subject refused consent to a purpose.
    Deny {
        #[command(flatten)]
        change: Change,
    },
    /// Record that the subject withdrew consent (effective on the very next read).
    Withdraw {
        #[command(flatten)]
        change: Change,
    },
    /// Show the consent in force per purpose, and any restriction.
    Show {
        #[command(flatten)]
        dir: DirArg,
        /// Subject id (`sub_…`).
        subject: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue a signed consent receipt (JSON: the receipt, the signed note to hand to the
    /// customer, and the verifier key). Check one with `privet consent verify-receipt`.
    Receipt {
        #[command(flatten)]
        dir: DirArg,
        /// Subject id (`sub_…`).
        subject: String,
    },
    /// Verify a signed receipt note (a file, or `-` for stdin) against this vault's receipt
    /// key or a published one (`--key`); exits non-zero if it was changed or signed by another key.
    VerifyReceipt {
        #[command(flatten)]
        dir: DirArg,
        /// The signed note (the `signed` member of a receipt), or `-`.
        file: String,
        /// A published verifier key (`name+keyid+base64`) instead of this vault's.
        #[arg(long)]
        key: Option<String>,
    },
    /// Show every consent event of a subject, oldest first.
    History {
        #[command(flatten)]
        dir: DirArg,
        /// Subject id (`sub_…`).
        subject: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn subject(raw: &str) -> Result<SubjectId> {
    raw.parse()
        .with_context(|| format!("`{raw}` is not a subject id (sub_…)"))
}

async fn record(c: Change, state: ConsentState, expires_at: Option<String>) -> Result<ExitCode> {
    let id = subject(&c.subject)?;
    let source: ConsentSource = c.source.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let expires_at = super::expires_at(expires_at)?;
    let vault = crate::open::open(&Config::load(&c.dir.dir)?).await?;
    let change = ConsentChange {
        state,
        source,
        notice_version: c.notice_version,
        expires_at,
    };
    let events = vault
        .set_consent(&Actor::cli(), id, &c.purpose, change, false)
        .await?;
    for e in events {
        println!("{} {} ({})", e.purpose, e.state, e.source);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Grant { change, expires_at } => {
            record(change, ConsentState::Granted, expires_at).await
        }
        Command::Deny { change } => record(change, ConsentState::Denied, None).await,
        Command::Withdraw { change } => record(change, ConsentState::Withdrawn, None).await,
        Command::Show {
            dir,
            subject: s,
            json,
        } => {
            let id = subject(&s)?;
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let overview = vault.consents(&Actor::cli(), id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&overview)?);
                return Ok(ExitCode::SUCCESS);
            }
            if overview.consents.is_empty() {
                println!("no consent recorded");
            }
            for c in &overview.consents {
                println!(
                    "{:<45} {:<10} {:<9} notice {:<12} expires {}",
                    c.purpose,
                    c.effective,
                    c.source,
                    c.notice_version,
                    time_or_dash(c.expires_at)
                );
            }
            if let Some(r) = &overview.restriction {
                println!(
                    "RESTRICTED since {} ({})",
                    time_or_dash(Some(r.at)),
                    r.reason
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Receipt { dir, subject: s } => {
            let id = subject(&s)?;
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let receipt = vault.signed_consent_receipt(&Actor::cli(), id).await?;
            println!("{}", serde_json::to_string_pretty(&receipt)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyReceipt { dir, file, key } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {file}"))?
            };
            let key: privet_audit::VerifierKey = match key {
                Some(k) => k.parse().map_err(|e| anyhow::anyhow!("--key: {e}"))?,
                None => crate::open::open(&Config::load(&dir.dir)?)
                    .await?
                    .receipt_key()?,
            };
            match privet_vault::verify_receipt(&text, &key) {
                Ok(r) => {
                    println!(
                        "valid receipt {} for {} ({} purpose(s)), issued {}",
                        r.receipt_id,
                        r.subject_id,
                        r.purposes.len(),
                        time_or_dash(Some(r.issued_at))
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: the receipt does not verify: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::History {
            dir,
            subject: s,
            json,
        } => {
            let id = subject(&s)?;
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let events = vault.consent_history(&Actor::cli(), id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
                return Ok(ExitCode::SUCCESS);
            }
            for e in &events {
                println!(
                    "{} {:<45} {:<9} {:<9} notice {} by {}",
                    time_or_dash(Some(e.at)),
                    e.purpose,
                    e.state,
                    e.source,
                    e.notice_version,
                    e.actor
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
