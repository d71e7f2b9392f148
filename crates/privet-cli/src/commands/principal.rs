//! `privet principal create|list|revoke|unsuspend` and `privet role create|show|list`: who may see
//! what, for which purposes and how.

use std::process::ExitCode;

use anyhow::{Context, Result};
use privet_core::Role;
use privet_vault::Actor;

use super::time_or_dash;
use crate::DirArg;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PrincipalCommand {
    /// Create a principal (a service or person) holding roles; prints its API key once.
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// A name, e.g. `newsletter-service`.
        name: String,
        /// Roles it holds (repeat or comma-separate), e.g. `--role mailer`.
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// When its key stops working (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
        /// Print JSON (`{"id", "api_key"}`).
        #[arg(long)]
        json: bool,
    },
    /// List principals with their roles, whether they administer, the purposes they may
    /// read for, and their status.
    List {
        #[command(flatten)]
        dir: DirArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a principal and all its keys (effective on the next request, everywhere).
    Revoke {
        #[command(flatten)]
        dir: DirArg,
        /// Principal id (`prn_…`).
        id: String,
    },
    /// Lift a principal's suspension (set by access monitoring's `auto_suspend`); its keys
    /// work again from its next request, on every server.
    Unsuspend {
        #[command(flatten)]
        dir: DirArg,
        /// Principal id (`prn_…`, or `admin`).
        id: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RoleCommand {
    /// Create a role from JSON: {"name", "purposes": [...], "collections": {coll: {field:
    /// "plain"|"masked"|"tokenized"}}, "admin"?: bool}. Give a file path or `-` for stdin.
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// The role as JSON, a path to a JSON file, or `-` to read stdin.
        role: String,
        /// Replace an existing role of that name.
        #[arg(long)]
        replace: bool,
    },
    /// Show one role as JSON.
    Show {
        #[command(flatten)]
        dir: DirArg,
        /// Role name.
        name: String,
    },
    /// List roles as JSON.
    List {
        #[command(flatten)]
        dir: DirArg,
    },
}

pub(crate) async fn principal(cmd: PrincipalCommand) -> Result<ExitCode> {
    match cmd {
        PrincipalCommand::Create {
            dir,
            name,
            roles,
            expires_at,
            json,
        } => {
            let expires_at = super::expires_at(expires_at)?;
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let p = vault
                .create_principal(&Actor::cli(), &name, &roles, expires_at)
                .await?;
            if json {
                let out = serde_json::json!({"id": p.id, "api_key": p.api_key.expose()});
                println!("{out}");
            } else {
                println!("principal: {}", p.id);
                println!("API key (shown only now; store it in a secret manager):");
                println!("{}", p.api_key.expose());
            }
        }
        PrincipalCommand::List { dir, json } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let list = vault.principals(&Actor::cli()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<32} {:<24} {:<9} {:<6} {:<20} purposes",
                "id", "name", "status", "admin", "roles"
            );
            for p in list {
                println!(
                    "{:<32} {:<24} {:<9} {:<6} {:<20} {}{}",
                    p.id,
                    p.name,
                    p.status,
                    if p.admin { "yes" } else { "no" },
                    p.roles.join(","),
                    if p.purposes.is_empty() {
                        "(reads no personal data)".to_owned()
                    } else {
                        p.purposes.join(",")
                    },
                    match p.expires_at {
                        Some(_) => format!(" (expires {})", time_or_dash(p.expires_at)),
                        None => String::new(),
                    }
                );
            }
        }
        PrincipalCommand::Revoke { dir, id } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            vault.revoke_principal(&Actor::cli(), &id).await?;
            println!("revoked {id}");
        }
        PrincipalCommand::Unsuspend { dir, id } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            vault.unsuspend_principal(&Actor::cli(), &id).await?;
            println!("lifted the suspension of {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_role(arg: &str) -> Result<Role> {
    let text = if arg == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else if arg.trim_start().starts_with('{') {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg).with_context(|| format!("cannot read {arg}"))?
    };
    serde_json::from_str(&text).context("the role is not valid role JSON")
}

pub(crate) async fn role(cmd: RoleCommand) -> Result<ExitCode> {
    match cmd {
        RoleCommand::Create { dir, role, replace } => {
            let role = read_role(&role)?;
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let name = role.name.clone();
            vault.put_role(&Actor::cli(), role, replace).await?;
            println!(
                "{} role {name}",
                if replace { "replaced" } else { "created" }
            );
        }
        RoleCommand::Show { dir, name } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let role = vault.role(&Actor::cli(), &name).await?;
            println!("{}", serde_json::to_string_pretty(&role)?);
        }
        RoleCommand::List { dir } => {
            let vault = crate::open::open(&Config::load(&dir.dir)?).await?;
            let roles = vault.roles(&Actor::cli()).await?;
            println!("{}", serde_json::to_string_pretty(&roles)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
