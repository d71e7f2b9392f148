//! The `privet` binary: clap commands as thin adapters over privet-vault (and `serve`, which
//! starts privet-server). `anyhow` lives here and only here.
#![forbid(unsafe_code)]

mod commands;
mod config;
mod monitoring;
mod open;
mod requests;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the request path allocates many small buffers
/// across threads, where glibc malloc showed up at ≈ 10 % of server CPU (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Privet: a privacy vault for customer data.
///
/// Personal data is declared in a schema, encrypted per customer, released only for declared
/// purposes, and every access is audited.
#[derive(Debug, Parser)]
#[command(name = "privet", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The data directory of a vault.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DirArg {
    /// The vault's data directory (config, schema, key file, database).
    #[arg(long, env = "PRIVET_DIR", default_value = "./privet-data")]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new vault: config, schema, master key (mode 0600), database; prints the admin
    /// API key once.
    Init(commands::init::Args),
    /// Serve the HTTP API.
    Serve(commands::serve::Args),
    /// Apply pending store migrations and exit (servers also migrate at start).
    Migrate(commands::migrate::Args),
    /// Try Privet: create a demo vault with synthetic customers and orders, then serve it.
    Demo(commands::demo::Args),
    /// Work with schemas.
    #[command(subcommand)]
    Schema(commands::schema::Command),
    /// Create, read, look up and erase data subjects directly (no server needed).
    #[command(subcommand)]
    Subject(commands::subject::Command),
    /// Record and show a subject's consents (grant, deny, withdraw, show, history).
    #[command(subcommand)]
    Consent(commands::consent::Command),
    /// Manage principals: services or people holding API keys, with roles.
    #[command(subcommand)]
    Principal(commands::principal::PrincipalCommand),
    /// Manage roles: which purposes, and which fields shown how (plain, masked, tokenized).
    #[command(subcommand)]
    Role(commands::principal::RoleCommand),
    /// Import a CSV or JSON Lines file into a collection, in atomic batches.
    Import(commands::import::Args),
    /// The tamper-evident audit trail: verifier key, signed checkpoints, proofs, entries,
    /// and verification of the whole log.
    #[command(subcommand)]
    Audit(commands::audit::Command),
    /// Signing keys (audit checkpoints and consent receipts).
    #[command(subcommand)]
    Keys(commands::keys::Command),
    /// Measure Privet against a baseline in the same run (build with --release).
    #[command(subcommand)]
    Bench(commands::bench::Command),
    /// Data-subject rights requests: list (by due date, overdue marked), show, create,
    /// verify, extend, reject, complete (which fulfils the request).
    #[command(subcommand)]
    Request(commands::request::Command),
    /// Retention: purge what expired (`run`), or show what will (`plan`).
    #[command(subcommand)]
    Retention(commands::retention::Command),
    /// Encrypted backups: create (online), verify, restore (replaying the erasure ledger).
    #[command(subcommand)]
    Backup(commands::backup::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(a) => commands::init::run(a).await,
            Command::Serve(a) => commands::serve::run(a).await,
            Command::Migrate(a) => commands::migrate::run(a).await,
            Command::Demo(a) => commands::demo::run(a).await,
            Command::Schema(c) => commands::schema::run(c),
            Command::Subject(c) => commands::subject::run(c).await,
            Command::Request(c) => commands::request::run(c).await,
            Command::Consent(c) => commands::consent::run(c).await,
            Command::Principal(c) => commands::principal::principal(c).await,
            Command::Role(c) => commands::principal::role(c).await,
            Command::Import(a) => commands::import::run(a).await,
            Command::Audit(c) => commands::audit::run(c).await,
            Command::Keys(c) => commands::keys::run(c).await,
            Command::Bench(c) => commands::bench::run(c).await,
            Command::Retention(c) => commands::retention::run(c).await,
            Command::Backup(c) => commands::backup::run(c).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    // tokio-postgres logs every statement's parameters at debug level — ciphertexts,
    // blind-index terms, ids and times — so it stays at info even when PRIVET_LOG asks for
    // debug, unless PRIVET_LOG names it explicitly.
    let spec = std::env::var("PRIVET_LOG").unwrap_or_else(|_| "info".into());
    let verbose = spec.contains("debug") || spec.contains("trace");
    let spec = if spec.contains("tokio_postgres") || !verbose {
        spec
    } else {
        format!("{spec},tokio_postgres=info")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_postgres=info"));
    let json = std::env::var("PRIVET_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
