//! `privet subject put|get|find|erase|export`: the vault's subject use cases from the terminal.

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use privet_core::SubjectId;
use privet_vault::{Actor, ExportFormat, SubjectView};
use serde_json::{Map, Value};

use crate::DirArg;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Create a subject from a JSON object of profile fields; prints its id.
    Put {
        #[command(flatten)]
        dir: DirArg,
        /// Profile fields as a JSON object, e.g. '{"email": "jane@example.com"}', or `-` to read stdin.
        data: String,
    },
    /// Show a subject's profile as released for a purpose.
    Get {
        #[command(flatten)]
        dir: DirArg,
        /// Subject id (`sub_…`).
        id: String,
        /// Purpose of the read (a purpose declared in the schema).
        #[arg(long)]
        purpose: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Look subjects up by a searchable field (through the blind index).
    Find {
        #[command(flatten)]
        dir: DirArg,
        /// A searchable profile field, e.g. `email`.
        #[arg(long)]
        field: String,
        /// The value to look for.
        #[arg(long)]
        value: String,
        /// Purpose of the lookup.
        #[arg(long)]
        purpose: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Erase a subject for good: its key is destroyed with all its data, except records the
    /// law obliges keeping (legal_obligation purposes, within their retention). Prints the
    /// erasure certificate.
    Erase {
        #[command(flatten)]
        dir: DirArg,
        /// Subject id (`sub_…`).
        id: String,
        /// Confirm: erasure cannot be undone.
        #[arg(long)]
        yes: bool,
        /// Print the erasure certificate as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export everything held about a subject (purpose `subject_access`, audited).
    Export {
        #[command(flatten)]
        dir: DirArg,
        /// Subject id (`sub_…`).
        id: String,
        /// `json`, `csv` (a zip of CSV files: one per collection, consents, consent history,
        /// access log) or `html` (one readable page).
        #[arg(long, default_value = "json")]
        format: String,
        /// Write to this new file (created with mode 0600; an existing file is not
        /// overwritten) instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Put { dir, data } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let text = if data == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
            } else {
                data
            };
            let data: Map<String, Value> = serde_json::from_str(&text)
                .context("the data must be a JSON object of profile fields")?;
            let id = vault.create_subject(&Actor::cli(), &data).await?;
            println!("{id}");
        }
        Command::Get {
            dir,
            id,
            purpose,
            json,
        } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let id: SubjectId = id.parse()?;
            let view = vault
                .read_subject(&Actor::cli(), id, Some(&purpose))
                .await?;
            print_views(&[view], json)?;
        }
        Command::Find {
            dir,
            field,
            value,
            purpose,
            json,
        } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let views = vault
                .find_subjects(&Actor::cli(), &field, &value, Some(&purpose))
                .await?;
            if views.is_empty() && !json {
                eprintln!("no subject found");
                return Ok(ExitCode::from(2));
            }
            print_views(&views, json)?;
        }
        Command::Erase { dir, id, yes, json } => {
            let id: SubjectId = id.parse()?;
            if !yes {
                let hint = if std::io::stdin().is_terminal() {
                    ""
                } else {
                    " (non-interactive)"
                };
                bail!(
                    "erasure destroys {id}'s key and data for good; re-run with --yes to confirm{hint}"
                );
            }
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let certificate = vault.erase_subject(&Actor::cli(), id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&certificate)?);
            } else {
                print_certificate(&certificate);
            }
        }
        Command::Export {
            dir,
            id,
            format,
            out,
        } => {
            let id: SubjectId = id.parse()?;
            let Some(format) = ExportFormat::parse(&format) else {
                bail!("--format must be json, csv or html, not `{format}`");
            };
            if out.is_none() && format == ExportFormat::CsvZip && std::io::stdout().is_terminal() {
                bail!("a zip is not for a terminal: give --out FILE or redirect standard output");
            }
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let bytes = vault
                .export_subject(&Actor::cli(), id)
                .await?
                .render(format)?;
            match out {
                Some(path) => {
                    write_private(&path, &bytes)?;
                    eprintln!("wrote the export of {id} to {}", path.display());
                }
                None => std::io::stdout()
                    .write_all(&bytes)
                    .context("cannot write to standard output")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` (which must not exist) readable by its owner only, and writes `bytes`.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn print_views(views: &[SubjectView], json: bool) -> Result<()> {
    if json {
        let out: Vec<Value> = views
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        let out = if out.len() == 1 {
            out.into_iter().next().unwrap_or_default()
        } else {
            Value::Array(out)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for v in views {
        println!("{}", v.id);
        for (k, val) in &v.data {
            let shown = match val {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {k:<16} {shown}");
        }
        for w in &v.withheld {
            println!("  {:<16} (withheld: {})", w.field, w.reason);
        }
    }
    Ok(())
}

/// The certificate for a person: what went, what stayed and why, and where the proof is.
fn print_certificate(c: &privet_vault::ErasureCertificate) {
    let at = c
        .erased_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    println!("erased {} at {at}", c.subject_id);
    for e in &c.erased {
        println!(
            "  erased  {}: {} record(s), fields {}",
            e.collection,
            e.records,
            e.fields.join(", ")
        );
    }
    println!(
        "  erased  consents of {} purpose(s){}",
        c.consents_erased,
        if c.restriction_erased {
            ", and the restriction"
        } else {
            ""
        }
    );
    for k in &c.kept {
        let until = k
            .until
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let purposes: Vec<&str> = k.purposes.iter().map(|p| p.name.as_str()).collect();
        println!(
            "  kept    {}: {} record(s), fields {} — {} ({}), retention {}, until {until}",
            k.collection,
            k.records,
            k.fields.join(", "),
            k.legal_basis,
            purposes.join(", "),
            k.retention
        );
    }
    if c.kept.is_empty() {
        println!("  kept    nothing: the subject is fully crypto-shredded");
    }
    println!(
        "  audit   entry {} in a tree of {} (inclusion proof: --json){}",
        c.audit.proof.index,
        c.audit.proof.tree_size,
        if c.audit.checkpoint.is_some() {
            ", against a signed checkpoint"
        } else {
            ""
        }
    );
}
