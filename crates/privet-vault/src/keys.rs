//! The vault's keyring, and how a running vault learns of a new master-key version.
//!
//! A rotation adds a version to the key source (the key file, or the environment variable
//! before a restart) while servers keep running. A server re-reads its key source
//! ([`Vault::reload_keys`]) when it meets a wrapped key of a version it does not hold (a
//! subject re-wrapped or created by a server that already has the new version), and
//! `privet serve` also re-reads it every `keys.reload_interval`, so it starts wrapping new
//! subjects and keying new index entries under the new version without a restart. A reloaded
//! keyring is checked against the key-check values in the store before it replaces the old
//! one, exactly as at start.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use privet_crypto::{KeyProvider, Keyring};

use crate::{Vault, VaultError};

/// A version miss re-reads the key source at most this often, so rows naming a version
/// nobody holds (tampering) cannot turn every read into a file read.
const MISS_RELOAD_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Keys {
    ring: RwLock<Arc<Keyring>>,
    source: OnceLock<Arc<dyn KeyProvider>>,
    last_miss_reload: Mutex<Option<Instant>>,
    /// Held while a version miss re-reads the key source, so concurrent misses wait for that
    /// one read and then find the version, instead of each reading or giving up.
    miss_reload: tokio::sync::Mutex<()>,
}

impl Keys {
    pub(crate) fn new(ring: Keyring) -> Keys {
        Keys {
            ring: RwLock::new(Arc::new(ring)),
            source: OnceLock::new(),
            last_miss_reload: Mutex::new(None),
            miss_reload: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn get(&self) -> Arc<Keyring> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, ring: Keyring) {
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
    }

    /// Whether a version miss may re-read the key source now (and, if so, notes that it did).
    fn miss_reload_due(&self) -> bool {
        let mut last = self
            .last_miss_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < MISS_RELOAD_EVERY => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

impl Vault {
    /// The keyring in use now. Hold it for one operation, so every key of the operation comes
    /// from the same keyring even if a reload happens meanwhile.
    pub(crate) fn keys(&self) -> Arc<Keyring> {
        self.inner.keys.get()
    }

    /// The vault, able to re-read its master keys from `source` after a rotation (see
    /// [`Vault::reload_keys`]). Without it, the vault keeps the keyring it was opened with.
    pub fn with_key_source(self, source: Arc<dyn KeyProvider>) -> Self {
        // Set once, at open; a second call keeps the first source.
        let _ = self.inner.keys.source.set(source);
        self
    }

    /// The current master-key version and every version held.
    pub fn key_versions(&self) -> (privet_crypto::KeyVersion, Vec<privet_crypto::KeyVersion>) {
        let keys = self.keys();
        (keys.current(), keys.versions())
    }

    /// Re-reads the key source; if it holds another set of versions than the keyring in use,
    /// checks it against the key-check values in the store and puts it in use. Returns
    /// whether the keyring changed. Without a key source, nothing happens.
    pub async fn reload_keys(&self) -> Result<bool, VaultError> {
        let Some(source) = self.inner.keys.source.get() else {
            return Ok(false);
        };
        let source = Arc::clone(source);
        let ring = tokio::task::spawn_blocking(move || source.load())
            .await
            .map_err(|e| VaultError::Integrity {
                context: format!("reading the key source: {e}"),
            })?
            .map_err(VaultError::WrongKey)?;
        let old = self.keys();
        if ring.versions() == old.versions() {
            return Ok(false);
        }
        for v in ring.versions() {
            if let Some(stored) = self.inner.store.meta(&crate::vault::kcv_key(v)).await? {
                ring.verify_key_check(v, &stored)
                    .map_err(VaultError::WrongKey)?;
            }
        }
        tracing::info!(
            current = %ring.current(),
            versions = ring.versions().len(),
            "master keys reloaded"
        );
        self.inner.keys.set(ring);
        Ok(true)
    }

    /// After a wrapped key named `version`, which this vault does not hold: re-reads the key
    /// source (at most once a second, one miss at a time). Returns whether `version` is held
    /// now.
    pub(crate) async fn reload_keys_on_miss(&self, version: privet_crypto::KeyVersion) -> bool {
        if self.inner.keys.source.get().is_none() {
            return false;
        }
        let _one_at_a_time = self.inner.keys.miss_reload.lock().await;
        if self.keys().versions().contains(&version) {
            // Another miss re-read the source while this one waited.
            return true;
        }
        if !self.inner.keys.miss_reload_due() {
            return false;
        }
        match self.reload_keys().await {
            Ok(_) => self.keys().versions().contains(&version),
            Err(e) => {
                tracing::error!(error = %e, "re-reading the master keys failed");
                false
            }
        }
    }
}
