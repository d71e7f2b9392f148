//! `privet demo`: a vault full of synthetic customers and orders, served at once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use privet_vault::{Actor, ImportOutcome};

use super::synth;
use crate::config::{Config, DEFAULT_SCHEMA};

/// Where the demo keeps its admin key so a second `privet demo` can show it again. Only the
/// demo does this: a real vault's key is shown once and never written down.
const DEMO_KEY_FILE: &str = "demo-api-key";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The demo's data directory (created and seeded if absent).
    #[arg(long, default_value = "./privet-demo")]
    dir: PathBuf,
    /// How many synthetic customers to create.
    #[arg(long, default_value_t = 300)]
    customers: u64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode> {
    let key_path = args.dir.join(DEMO_KEY_FILE);
    let (mut config, api_key) = if args.dir.join(crate::config::CONFIG_FILE).exists() {
        let key = std::fs::read_to_string(&key_path).with_context(|| {
            format!(
                "{} is not a demo directory (no {DEMO_KEY_FILE})",
                args.dir.display()
            )
        })?;
        (Config::load(&args.dir)?, key.trim().to_owned())
    } else {
        let (config, key) = super::init::init_dir(&args.dir, DEFAULT_SCHEMA, None).await?;
        write_private(&key_path, key.expose())?;
        let vault = crate::open::open(&config).await?;
        seed(&vault, args.customers).await?;
        (config, key.expose().to_owned())
    };
    config.listen = args.listen;
    let vault = crate::open::open(&config).await?;
    // Customer 0 is the one the printed examples look up.
    let email = synth::customer(0)["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let example = vault
        .find_subjects(&Actor::cli(), "email", &email, Some("essential.service"))
        .await
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|v| v.id.to_string());
    super::serve::serve(vault, &config, |addr| {
        println!("Privet demo vault in {}", args.dir.display());
        println!("  API:      http://{addr}/v1/subjects");
        println!("  API docs: http://{addr}/docs");
        println!("  API key:  {api_key}");
        println!();
        println!("Try:");
        println!("  curl -H 'Authorization: Bearer {api_key}' 'http://{addr}/v1/subjects?email={email}&purpose=essential.service'");
        if let Some(id) = example {
            println!("  curl -H 'Authorization: Bearer {api_key}' 'http://{addr}/v1/subjects/{id}?purpose=analytics.reporting'");
            println!("  curl -H 'Authorization: Bearer {api_key}' 'http://{addr}/v1/subjects/{id}/records/orders?purpose=essential.service'");
        }
        println!("Stop with Ctrl-C.");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn seed(vault: &privet_vault::Vault, customers: u64) -> Result<()> {
    let bar = ProgressBar::new(customers);
    bar.set_message("seeding synthetic customers");
    let actor = Actor::cli();
    let mut n = 0;
    // Customer 0 is the one the printed examples look up.
    while n < customers {
        let chunk: Vec<u64> = (n..customers.min(n + 100)).collect();
        let rows = chunk.iter().map(|i| synth::customer(*i)).collect();
        let ImportOutcome::Subjects(ids) = vault.import_batch(&actor, "customers", rows).await?
        else {
            anyhow::bail!("the profile import returned records");
        };
        let mut orders = Vec::new();
        for (i, id) in chunk.iter().zip(&ids) {
            for k in 0..(i % 4) {
                orders.push(synth::order(*i, k, &id.to_string()));
            }
        }
        if !orders.is_empty() {
            vault.import_batch(&actor, "orders", orders).await?;
        }
        n += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    use std::io::Write;
    o.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}
