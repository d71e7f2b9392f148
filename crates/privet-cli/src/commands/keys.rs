//! `privet keys`: the signing keys of a vault made before they existed
//! (`create-signing`), and the master-key life cycle (`rotate`, `status`, `retire`; see
//! `rotate.rs`).

use std::process::ExitCode;

use anyhow::Result;
use privet_audit::VerifierKey;

use crate::DirArg;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Create the audit signing key (audit-signing.key) and the consent-receipt signing key
    /// (receipt-signing.key), mode 0600, where they are missing; existing keys are never
    /// replaced. Run it once per vault, then copy both files to every server of the vault:
    /// servers do not create keys on their own, so they cannot end up signing one log with
    /// different keys.
    CreateSigning {
        #[command(flatten)]
        dir: DirArg,
        /// The audit log's name (C2SP checkpoint origin). Default: audit.origin from the
        /// configuration, else `privet.local/` and a random id.
        #[arg(long)]
        origin: Option<String>,
    },
    /// Rotate the master key: add a new version to the key file (the old ones are kept),
    /// make it current, then re-wrap every subject key and re-compute every blind-index
    /// entry under it, online, in batches. Run again after an interruption: it continues
    /// the unfinished rotation instead of adding another version.
    Rotate(super::rotate::RotateArgs),
    /// Show every master-key version: which is current, which keys API-key hashes and
    /// tokens, and how many subject keys and blind-index entries each still protects.
    Status(super::rotate::StatusArgs),
    /// Remove an old master-key version from the key file, refused while anything still
    /// uses it.
    Retire(super::rotate::RetireArgs),
    /// Replace the audit signing key with a new one of the same name: signs a last checkpoint
    /// with the old key, keeps the old public key in `audit-signing.previous` (so `privet
    /// audit verify` still verifies old checkpoints), binds the store to the new key
    /// (audited) and signs a checkpoint with it. Restart every server with the new key file.
    RotateSigning {
        #[command(flatten)]
        dir: DirArg,
    },
}

pub(crate) async fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::CreateSigning { dir, origin } => {
            let config = Config::load(&dir.dir)?;
            let origin = origin
                .or_else(|| config.audit_origin.clone())
                .unwrap_or_else(super::init::new_origin);
            let created = super::init::create_signing_keys(
                &config.audit_key_file,
                &config.receipt_key_file,
                &origin,
            )?;
            if created.is_empty() {
                println!("Both signing keys exist already; nothing was changed.");
            }
            for path in &created {
                println!("Created {} (mode 0600).", path.display());
            }
            let signer = crate::open::audit_signer(&config, &dir.dir)?;
            println!("Audit log verifier key:\n  {}", VerifierKey::of(&signer));
            println!("Copy both key files to every server of this vault.");
        }
        Command::Rotate(a) => return super::rotate::rotate(a).await,
        Command::Status(a) => return super::rotate::status(a).await,
        Command::Retire(a) => return super::rotate::retire(a).await,
        Command::RotateSigning { dir } => return super::rotate_signing::run(dir).await,
    }
    Ok(ExitCode::SUCCESS)
}
