//! `privet request list|show|create|verify|extend|reject|complete`: data-subject rights
//! requests from the terminal (as the local operator: staff requests).

use std::process::ExitCode;

use anyhow::{Context, Result};
use privet_core::{Origin, RightsRequest, RightsRequestId, SubjectId};
use privet_vault::{Actor, RequestInput, Vault};
use serde_json::{Map, Value};

use super::time_or_dash;
use crate::DirArg;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List requests by due date (soonest first); overdue ones are marked.
    List {
        #[command(flatten)]
        dir: DirArg,
        /// Only this status (`received`, `verifying`, `in_progress`, `extended`, `completed`,
        /// `rejected`).
        #[arg(long)]
        status: Option<String>,
        /// Only those due before this time (RFC 3339).
        #[arg(long)]
        due_before: Option<String>,
        /// Only this subject's.
        #[arg(long)]
        subject: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one request with its history.
    Show {
        #[command(flatten)]
        dir: DirArg,
        /// Request id (`dsr_…`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record a request (it starts `verifying`); prints its id and due date.
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// Subject id (`sub_…`).
        subject: String,
        /// `access`, `portability`, `rectification`, `erasure`, `restriction`, `objection`,
        /// `opt_out_sale_sharing`.
        #[arg(long)]
        kind: String,
        /// `gdpr` or `ccpa` (default: `requests.default_regime`).
        #[arg(long)]
        regime: Option<String>,
        /// The purpose objected to (objections only).
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Record that the requester's identity was verified, and how.
    Verify {
        #[command(flatten)]
        dir: DirArg,
        /// Request id.
        id: String,
        /// How (e.g. `id_document`, `email_link`).
        #[arg(long)]
        method: String,
    },
    /// Extend the deadline once, to the legal maximum.
    Extend {
        #[command(flatten)]
        dir: DirArg,
        /// Request id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Reject the request.
    Reject {
        #[command(flatten)]
        dir: DirArg,
        /// Request id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Complete (fulfil) the request. For access and portability, `--out` writes the export
    /// (JSON, mode 0600).
    Complete {
        #[command(flatten)]
        dir: DirArg,
        /// Request id.
        id: String,
        /// Corrected profile values of a rectification, as a JSON object.
        #[arg(long)]
        data: Option<String>,
        /// Where to write the export of an access or portability request.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

async fn open(dir: &DirArg) -> Result<Vault> {
    crate::open::open(&Config::load(&dir.dir)?).await
}

fn id(raw: &str) -> Result<RightsRequestId> {
    Ok(raw.parse()?)
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    let cli = Actor::cli();
    match cmd {
        Command::List {
            dir,
            status,
            due_before,
            subject,
            json,
        } => {
            let vault = open(&dir).await?;
            let status = status.map(|s| s.parse()).transpose()?;
            let due_before = super::expires_at(due_before).context("--due-before")?;
            let subject: Option<SubjectId> = subject.map(|s| s.parse()).transpose()?;
            let list = vault
                .rights_requests(&cli, status, due_before, subject, Some(1000))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("no requests");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<38} {:<37} {:<21} {:<5} {:<12} DUE",
                "ID", "SUBJECT", "KIND", "LAW", "STATUS"
            );
            for s in &list {
                let r = &s.request;
                println!(
                    "{:<38} {:<37} {:<21} {:<5} {:<12} {:<26} {}",
                    r.id.to_string(),
                    r.subject.to_string(),
                    r.kind.as_str(),
                    r.regime.as_str(),
                    r.status.as_str(),
                    time_or_dash(Some(r.due_at)),
                    if s.overdue { "OVERDUE" } else { "" }
                );
            }
            let overdue = list.iter().filter(|s| s.overdue).count();
            if overdue > 0 {
                eprintln!("{overdue} overdue");
            }
        }
        Command::Show { dir, id: raw, json } => {
            let vault = open(&dir).await?;
            let r = vault.rights_request(&cli, id(&raw)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_request(&vault, &r);
            }
        }
        Command::Create {
            dir,
            subject,
            kind,
            regime,
            purpose,
        } => {
            let vault = open(&dir).await?;
            let r = vault
                .create_request(
                    &cli,
                    RequestInput {
                        subject: subject.parse()?,
                        kind: kind.parse()?,
                        regime: regime.map(|r| r.parse()).transpose()?,
                        purpose,
                        origin: Origin::Staff,
                    },
                )
                .await?;
            println!("{}", r.id);
            eprintln!(
                "{} request, {}, due {}",
                r.kind,
                r.status,
                time_or_dash(Some(r.due_at))
            );
        }
        Command::Verify {
            dir,
            id: raw,
            method,
        } => {
            let vault = open(&dir).await?;
            let r = vault.verify_request(&cli, id(&raw)?, &method).await?;
            print_request(&vault, &r);
        }
        Command::Extend {
            dir,
            id: raw,
            reason,
        } => {
            let vault = open(&dir).await?;
            let r = vault.extend_request(&cli, id(&raw)?, &reason).await?;
            print_request(&vault, &r);
        }
        Command::Reject {
            dir,
            id: raw,
            reason,
        } => {
            let vault = open(&dir).await?;
            let r = vault.reject_request(&cli, id(&raw)?, &reason).await?;
            print_request(&vault, &r);
        }
        Command::Complete {
            dir,
            id: raw,
            data,
            out,
        } => {
            let vault = open(&dir).await?;
            let data: Option<Map<String, Value>> = data
                .map(|d| serde_json::from_str(&d))
                .transpose()
                .context("--data must be a JSON object of profile fields")?;
            let done = vault
                .complete_request(&cli, id(&raw)?, data.as_ref())
                .await?;
            if let (Some(export), Some(path)) = (&done.export, &out) {
                super::subject::write_private(path, &export.to_json()?)?;
                eprintln!("wrote the export to {}", path.display());
            }
            print_request(&vault, &done.request);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_request(vault: &Vault, r: &RightsRequest) {
    println!("{}  {} ({})", r.id, r.kind, r.regime);
    println!("  subject   {}", r.subject);
    if let Some(p) = &r.purpose {
        println!("  purpose   {p}");
    }
    println!("  status    {}", r.status);
    println!("  received  {}", time_or_dash(Some(r.received_at)));
    let overdue = if vault.is_overdue(r) { "  OVERDUE" } else { "" };
    println!("  due       {}{overdue}", time_or_dash(Some(r.due_at)));
    for e in &r.history {
        let detail = e.detail.as_ref().map(Value::to_string).unwrap_or_default();
        println!(
            "  {}  {:<16} {:<12} {} {}",
            time_or_dash(Some(e.at)),
            e.event,
            e.status.as_str(),
            e.actor,
            detail
        );
    }
}
