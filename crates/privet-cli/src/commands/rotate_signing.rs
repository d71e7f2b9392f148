//! `privet keys rotate-signing`: a new audit signing key, with the old public keys kept
//! beside it so checkpoints signed before keep verifying.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use privet_audit::VerifierKey;
use privet_crypto::{NoteSigner, SigningKeyFile};
use privet_vault::Actor;

use crate::DirArg;
use crate::config::Config;

/// The file of earlier audit verifier keys (public), one per line, oldest first.
pub(crate) fn previous_keys_path(config: &Config) -> PathBuf {
    config.audit_key_file.with_extension("previous")
}

/// The earlier audit verifier keys, oldest first (none if the file does not exist).
pub(crate) fn previous_keys(config: &Config) -> Result<Vec<VerifierKey>> {
    let path = previous_keys_path(config);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, l)| {
            VerifierKey::parse(l)
                .with_context(|| format!("{} line {}: not a verifier key", path.display(), i + 1))
        })
        .collect()
}

fn append_previous(path: &Path, key: &VerifierKey, known: &[VerifierKey]) -> Result<()> {
    if known.contains(key) {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(f, "{key}").and_then(|()| f.sync_all())?;
    Ok(())
}

pub(crate) async fn run(dir: DirArg) -> Result<ExitCode> {
    let config = Config::load(&dir.dir)?;
    let previous = previous_keys(&config)?;
    let vault = crate::open::open(&config).await?;
    // A run killed after the key file was replaced left the store bound to the old key:
    // finish that rotation first (a no-op when the store is bound to the configured key).
    if let Some(last) = previous.last() {
        vault.rebind_audit_key(last).await?;
    }
    // The log so far, signed with the key being retired.
    vault.checkpoint(&Actor::cli()).await?;
    let old = crate::open::audit_signer(&config, &dir.dir)?;
    let old_key = VerifierKey::of(&old);
    let new = NoteSigner::generate(old.name()).context("cannot generate a signing key")?;
    append_previous(&previous_keys_path(&config), &old_key, &previous)?;
    replace_key_file(&config.audit_key_file, &new)?;

    let vault = crate::open::open(&config).await?;
    vault.rebind_audit_key(&old_key).await?;
    vault.checkpoint(&Actor::cli()).await?;
    println!(
        "New audit verifier key:\n  {}\nThe old one is kept in {} so `privet audit verify` \
         still verifies earlier checkpoints; give both to anyone who verifies the log.\nCopy \
         {} to every server of this vault and restart them: until then they cannot sign \
         checkpoints.",
        VerifierKey::of(&new),
        previous_keys_path(&config).display(),
        config.audit_key_file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `signer` to `<path>.new` (mode 0600, fsynced) and renames it over `path`.
fn replace_key_file(path: &Path, signer: &NoteSigner) -> Result<()> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".new");
    let staged = PathBuf::from(staged);
    match std::fs::remove_file(&staged) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", staged.display())),
    }
    SigningKeyFile::create(&staged, signer)
        .with_context(|| format!("cannot write {}", staged.display()))?;
    std::fs::rename(&staged, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent).and_then(|d| d.sync_all())?;
    }
    Ok(())
}
