//! `privet init`: a new vault in a new directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use privet_crypto::{KeyFile, Keyring, NoteSigner, SigningKeyFile, is_valid_signer_name};
use privet_vault::{ApiKey, Schema, Signers, SystemClock, Vault};

use crate::DirArg;
use crate::config::{
    AUDIT_KEY_FILE, CONFIG_FILE, Config, DB_FILE, DEFAULT_SCHEMA, KEY_FILE, RECEIPT_KEY_FILE,
    SCHEMA_FILE, StoreLocation, default_config_text,
};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// Schema file to use (default: the example shop schema).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Print `{"admin_api_key": …, "dir": …}` instead of text.
    #[arg(long)]
    json: bool,
    /// Keep the data in this PostgreSQL database instead of the embedded SQLite file (a
    /// postgres:// URL or a key=value string). Other servers then share it given a copy of
    /// this directory's privet.toml, schema.toml and master.key.
    #[arg(long, env = "PRIVET_STORE_URL")]
    store_url: Option<String>,
    /// The audit log's name in its signed checkpoints (the C2SP origin, e.g.
    /// `privet.example.com/audit`). Default: `privet.local/` and a random id.
    #[arg(long)]
    audit_origin: Option<String>,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode> {
    let schema_text = match &args.schema {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read schema {}", p.display()))?,
        None => DEFAULT_SCHEMA.to_owned(),
    };
    let (config, key) = init_dir_with(
        &args.dir.dir,
        &schema_text,
        args.store_url.as_deref(),
        args.audit_origin.as_deref(),
    )
    .await?;
    let dir = args.dir.dir.display().to_string();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"admin_api_key": key.expose(), "dir": dir})
        );
    } else {
        println!("Initialised a Privet vault in {dir}");
        println!();
        println!("Admin API key (shown only now; store it in your secrets manager):");
        println!("  {}", key.expose());
        println!();
        println!(
            "The master key is in {dir}/{KEY_FILE} (mode 0600). Back it up apart from the data:"
        );
        println!("without it the data cannot be decrypted.");
        println!(
            "Audit checkpoints are signed by {dir}/{AUDIT_KEY_FILE} and consent receipts by \
             {dir}/{RECEIPT_KEY_FILE} (both mode 0600)."
        );
        if let Ok(k) = crate::open::audit_signer(&config, &args.dir.dir) {
            println!(
                "Audit log verifier key (publish it; `privet audit key` shows it again):\n  {}",
                privet_audit::VerifierKey::of(&k)
            );
        }
        println!("Next: privet serve --dir {dir}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates and initialises a vault directory; returns its config and the admin API key.
pub(crate) async fn init_dir(
    dir: &Path,
    schema_text: &str,
    store_url: Option<&str>,
) -> Result<(Config, ApiKey)> {
    init_dir_with(dir, schema_text, store_url, None).await
}

/// A new origin: `privet.local/` and 16 random hex digits (the random half of a UUIDv7).
pub(crate) fn new_origin() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("privet.local/{}", &id[16..])
}

/// Creates the audit and receipt signing keys (mode 0600), each only if missing; the audit
/// key is named `origin`, the receipt key `<origin>/receipts`. Returns the files created.
pub(crate) fn create_signing_keys(
    audit: &Path,
    receipts: &Path,
    origin: &str,
) -> Result<Vec<std::path::PathBuf>> {
    if !is_valid_signer_name(origin) {
        bail!(
            "the audit origin `{origin}` must be non-empty, without spaces, `+` or control characters"
        );
    }
    let mut created = Vec::new();
    for (path, name) in [
        (audit, origin.to_owned()),
        (receipts, format!("{origin}/receipts")),
    ] {
        if path.exists() {
            continue;
        }
        let signer = NoteSigner::generate(&name).context("cannot generate a signing key")?;
        SigningKeyFile::create(path, &signer)
            .with_context(|| format!("cannot create {}", path.display()))?;
        created.push(path.to_owned());
    }
    Ok(created)
}

/// [`init_dir`] with the audit log's origin chosen.
pub(crate) async fn init_dir_with(
    dir: &Path,
    schema_text: &str,
    store_url: Option<&str>,
    origin: Option<&str>,
) -> Result<(Config, ApiKey)> {
    let schema = Schema::from_toml_str(schema_text)
        .map_err(|e| anyhow::anyhow!("the schema is invalid:\n{e}"))?;
    if dir.join(CONFIG_FILE).exists() || dir.join(DB_FILE).exists() {
        bail!(
            "{} already holds a Privet vault; choose another --dir",
            dir.display()
        );
    }
    create_private_dir(dir)?;
    std::fs::write(dir.join(SCHEMA_FILE), schema_text).context("cannot write the schema")?;
    let keys = Keyring::generate();
    KeyFile::create(dir.join(KEY_FILE), &keys).context("cannot create the master key file")?;
    let origin = origin.map_or_else(new_origin, str::to_owned);
    create_signing_keys(
        &dir.join(AUDIT_KEY_FILE),
        &dir.join(RECEIPT_KEY_FILE),
        &origin,
    )?;
    let location = match store_url {
        Some(url) => StoreLocation::Postgres {
            url: url.to_owned(),
            ca_file: std::env::var_os("PRIVET_STORE_CA_FILE")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from),
        },
        None => StoreLocation::Sqlite(dir.join(DB_FILE)),
    };
    let store = crate::open::open_store(&location).await?;
    let (vault, api_key) = Vault::initialize(schema, store, keys, Arc::new(SystemClock)).await?;
    let audit = SigningKeyFile::new(dir.join(AUDIT_KEY_FILE))
        .load()
        .context("cannot load the audit signing key")?;
    let vault = vault.with_signers(Signers {
        audit: Some(audit),
        receipts: None,
    });
    // Binds the log to its key and signs the first checkpoint (of the init entries).
    vault.checkpoint(&privet_vault::Actor::cli()).await?;
    // The config is written last (mode 0600: it may hold a database password); its presence
    // marks a complete vault.
    write_private(
        &dir.join(CONFIG_FILE),
        &default_config_text(store_url, &origin),
    )
    .context("cannot write the configuration")?;
    Ok((Config::load(dir)?, api_key))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
