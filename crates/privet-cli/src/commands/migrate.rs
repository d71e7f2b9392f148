//! `privet migrate`: bring the store's schema up to this build's version and exit. Servers
//! also migrate at start; this is for doing it ahead of a rollout.

use std::process::ExitCode;

use anyhow::Result;

use crate::DirArg;
use crate::config::{Config, StoreLocation};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    dir: DirArg,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode> {
    let config = Config::load(&args.dir.dir)?;
    crate::open::open_store(&config.store).await?;
    let what = match &config.store {
        StoreLocation::Sqlite(p) => p.display().to_string(),
        StoreLocation::Postgres { .. } => "the PostgreSQL database".to_owned(),
    };
    println!("{what} is at the current schema version");
    Ok(ExitCode::SUCCESS)
}
