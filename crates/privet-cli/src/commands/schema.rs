//! `privet schema check`: validate a schema file and list every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use privet_vault::Schema;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check a schema file; prints every problem with its path, exits 1 if there is any.
    Check {
        /// The schema TOML file.
        file: PathBuf,
    },
}

pub(crate) fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            match Schema::from_toml_str(&text) {
                Ok(schema) => {
                    let collections = schema.collections().count();
                    let fields: usize = schema.collections().map(|c| c.fields().count()).sum();
                    let purposes = schema.purposes().count();
                    println!(
                        "{}: ok ({purposes} purposes, {collections} collections, {fields} fields)",
                        file.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{}: {} problem(s)", file.display(), errors.0.len());
                    for p in &errors.0 {
                        eprintln!("  {}: {}", p.path, p.message);
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
