//! The keyring: every version of the master key, with the keys derived from each prepared
//! once at load so the hot paths (wrap, unwrap, blind index, API-key hash) only compute.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::Aes256Gcm;
use hmac::Mac;
use privet_core::{MessageId, Sensitive, SubjectId};
use zeroize::Zeroizing;

use crate::aad::{class_dek_aad, dek_aad, recipient_aad};
use crate::blind::{BLIND_INDEX_LEN, BlindIndexKeys};
use crate::error::CryptoError;
use crate::field::{SubjectKey, open, seal};
use crate::kdf::{
    self, HmacSha256, KEY_CHECK_MESSAGE, LABEL_API_KEY, LABEL_DEK_WRAP, LABEL_KEY_CHECK,
    LABEL_OUTBOX,
};
use crate::master::{KEY_LEN, KeyVersion, MasterKey};
use crate::token::{TokenRoot, Tokenizer};

/// A subject key wrapped (encrypted) under one master-key version.
///
/// `bytes` = `0x01` || 12-byte nonce || AES-256-GCM(subject key) || tag, with AAD
/// `"privet/dek/v1"` || subject id || version (u32 BE). It is ciphertext, safe to store and print.
#[derive(Clone, Debug)]
pub struct WrappedKey {
    /// The master-key version that wrapped it.
    pub version: KeyVersion,
    /// The sealed key.
    pub bytes: Vec<u8>,
}

/// What one master-key version provides, derived once.
struct VersionKeys {
    master: MasterKey,
    wrap: Aes256Gcm,
    check: [u8; 32],
    blind: BlindIndexKeys,
    /// Seals notification recipients (label `"privet outbox v1"`).
    outbox: Aes256Gcm,
}

impl VersionKeys {
    fn derive(master: MasterKey) -> VersionKeys {
        let prk = kdf::master_prk(&master);
        let wrap = kdf::aes_gcm(&kdf::expand_key(&prk, &[LABEL_DEK_WRAP]));
        let mut mac = kdf::hmac(&kdf::expand_key(&prk, &[LABEL_KEY_CHECK]));
        mac.update(KEY_CHECK_MESSAGE);
        let check = mac.finalize().into_bytes().into();
        let blind = BlindIndexKeys::new(&master);
        let outbox = kdf::aes_gcm(&kdf::expand_key(&prk, &[LABEL_OUTBOX]));
        VersionKeys {
            master,
            wrap,
            check,
            blind,
            outbox,
        }
    }
}

/// The versioned master keys (KEKs) of a vault and everything derived from them.
///
/// The highest version is current: it wraps new subject keys and keys the blind indexes.
/// API-key hashes and tokens are keyed from the lowest version (v1), so they survive rotation.
/// Key material is zeroized on drop (see the crate docs for the limits of that);
/// `Debug` shows versions only.
pub struct Keyring {
    versions: BTreeMap<KeyVersion, VersionKeys>,
    current: KeyVersion,
    api_key: HmacSha256,
    tokens: TokenRoot,
}

impl Keyring {
    /// A keyring holding one fresh random master key, `v1`.
    ///
    /// # Panics
    /// If the operating system's random number generator fails (see the crate docs).
    pub fn generate() -> Keyring {
        let master = MasterKey::generate();
        let api_key = api_key_mac(&master);
        let tokens = TokenRoot::new(&master);
        let versions = BTreeMap::from([(KeyVersion::V1, VersionKeys::derive(master))]);
        Keyring {
            versions,
            current: KeyVersion::V1,
            api_key,
            tokens,
        }
    }

    /// A keyring from master keys by version, as a [`KeyProvider`](crate::KeyProvider)
    /// read them. Errors with [`CryptoError::NoMasterKey`] when `keys` is empty.
    pub fn from_master_keys(keys: BTreeMap<KeyVersion, MasterKey>) -> Result<Keyring, CryptoError> {
        Keyring::build(keys).ok_or(CryptoError::NoMasterKey)
    }

    fn build(keys: BTreeMap<KeyVersion, MasterKey>) -> Option<Keyring> {
        let (&current, _) = keys.last_key_value()?;
        let (_, oldest_key) = keys.first_key_value()?;
        let api_key = api_key_mac(oldest_key);
        let tokens = TokenRoot::new(oldest_key);
        let versions = keys
            .into_iter()
            .map(|(v, k)| (v, VersionKeys::derive(k)))
            .collect();
        Some(Keyring {
            versions,
            current,
            api_key,
            tokens,
        })
    }

    /// A new keyring with every key of this one plus a fresh random key one version above
    /// the current, which becomes current. `None` if the version number is exhausted.
    ///
    /// Existing wrapped keys stay readable; re-wrap them under the new version at leisure.
    /// Blind indexes are keyed from the current version, so they must be recomputed.
    pub fn rotated(&self) -> Option<Keyring> {
        let next = self.current.next()?;
        let mut keys: BTreeMap<KeyVersion, MasterKey> = self
            .versions
            .iter()
            .map(|(v, k)| (*v, MasterKey::from_bytes(k.master.expose())))
            .collect();
        keys.insert(next, MasterKey::generate());
        Keyring::build(keys)
    }

    /// A new keyring with every key of this one but `version`. `None` if `version` is not
    /// held, or is the only one held.
    ///
    /// Removing the lowest version changes the API-key hashing secret and the token keys
    /// (they are derived from the lowest version); callers refuse that while they are in use.
    pub fn without(&self, version: KeyVersion) -> Option<Keyring> {
        if !self.versions.contains_key(&version) || self.versions.len() < 2 {
            return None;
        }
        let keys: BTreeMap<KeyVersion, MasterKey> = self
            .versions
            .iter()
            .filter(|(v, _)| **v != version)
            .map(|(v, k)| (*v, MasterKey::from_bytes(k.master.expose())))
            .collect();
        Keyring::build(keys)
    }

    /// The lowest version: the one API-key hashes and tokens are keyed from.
    pub fn lowest(&self) -> KeyVersion {
        self.versions.keys().next().copied().unwrap_or(self.current)
    }

    /// The current (highest) version.
    pub fn current(&self) -> KeyVersion {
        self.current
    }

    /// Every version held, ascending.
    pub fn versions(&self) -> Vec<KeyVersion> {
        self.versions.keys().copied().collect()
    }

    /// The master keys, for writing them out (key file, backups).
    pub(crate) fn master_keys(&self) -> impl Iterator<Item = (KeyVersion, &MasterKey)> {
        self.versions.iter().map(|(v, k)| (*v, &k.master))
    }

    fn keys(&self, version: KeyVersion) -> Result<&VersionKeys, CryptoError> {
        self.versions
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion(version))
    }

    /// The key-check value of version `v`: HMAC-SHA256, under a key HKDF-derived from that
    /// version (label `"privet key-check v1"`), of a fixed label. Store it beside the data;
    /// it reveals nothing about the key.
    pub fn key_check_value(&self, v: KeyVersion) -> Result<[u8; 32], CryptoError> {
        Ok(self.keys(v)?.check)
    }

    /// Compares `stored` with the key-check value of `v` in constant time:
    /// [`CryptoError::WrongKey`] when they differ, so a wrong key is refused before any
    /// decryption fails.
    pub fn verify_key_check(&self, v: KeyVersion, stored: &[u8]) -> Result<(), CryptoError> {
        if kdf::constant_time_eq(&self.keys(v)?.check, stored) {
            Ok(())
        } else {
            Err(CryptoError::WrongKey { version: v })
        }
    }

    /// Wraps a subject key under the current version, bound to `subject`.
    pub fn wrap_subject_key(
        &self,
        subject: &SubjectId,
        key: &SubjectKey,
    ) -> Result<WrappedKey, CryptoError> {
        let version = self.current;
        let bytes = seal(
            &self.keys(version)?.wrap,
            &dek_aad(subject, version),
            key.expose(),
        )?;
        Ok(WrappedKey { version, bytes })
    }

    /// Unwraps a subject key wrapped for `subject` under any version held.
    ///
    /// Errors: [`CryptoError::UnknownKeyVersion`], [`CryptoError::UnsupportedFormat`], or an
    /// opaque [`CryptoError::Decrypt`] for another subject, another key or altered bytes.
    pub fn unwrap_subject_key(
        &self,
        subject: &SubjectId,
        wrapped: &WrappedKey,
    ) -> Result<SubjectKey, CryptoError> {
        let keys = self.keys(wrapped.version)?;
        let plain = open(
            &keys.wrap,
            &dek_aad(subject, wrapped.version),
            &wrapped.bytes,
        )?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if plain.expose().len() != KEY_LEN {
            return Err(CryptoError::Decrypt);
        }
        key.copy_from_slice(plain.expose());
        Ok(SubjectKey::from_bytes(key))
    }

    /// Wraps a subject's key of retention class `class` (e.g. `legal_obligation`) under the
    /// current version, bound to `subject`, `class` and the version (AAD
    /// `"privet/class-dek/v1"`, see the crate docs): a second key per subject, so that
    /// erasing the subject can destroy its own key while records the law obliges the business
    /// to keep stay readable under this one.
    pub fn wrap_class_key(
        &self,
        subject: &SubjectId,
        class: &str,
        key: &SubjectKey,
    ) -> Result<WrappedKey, CryptoError> {
        let version = self.current;
        let aad = class_dek_aad(subject, version, class)?;
        let bytes = seal(&self.keys(version)?.wrap, &aad, key.expose())?;
        Ok(WrappedKey { version, bytes })
    }

    /// Unwraps a key wrapped by [`Keyring::wrap_class_key`] for `subject` and `class` under
    /// any version held. Errors as [`Keyring::unwrap_subject_key`]; a subject key, another
    /// class's key or another subject's key is an opaque [`CryptoError::Decrypt`].
    pub fn unwrap_class_key(
        &self,
        subject: &SubjectId,
        class: &str,
        wrapped: &WrappedKey,
    ) -> Result<SubjectKey, CryptoError> {
        let keys = self.keys(wrapped.version)?;
        let aad = class_dek_aad(subject, wrapped.version, class)?;
        let plain = open(&keys.wrap, &aad, &wrapped.bytes)?;
        if plain.expose().len() != KEY_LEN {
            return Err(CryptoError::Decrypt);
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(plain.expose());
        Ok(SubjectKey::from_bytes(key))
    }

    /// The blind index of a normalized `term` in (collection, field): HMAC-SHA256 under a
    /// key HKDF-derived from the current master key for that pair, truncated to 16 bytes.
    /// Deterministic for one keyring; unrelated across fields, collections and keys.
    pub fn blind_index(&self, collection: &str, field: &str, term: &[u8]) -> [u8; BLIND_INDEX_LEN] {
        match self.versions.get(&self.current) {
            Some(keys) => keys.blind.index(collection, field, term),
            // `build` makes `current` the highest key of a non-empty map, so it is held.
            None => [0u8; BLIND_INDEX_LEN],
        }
    }

    /// The blind index of `term` as [`Keyring::blind_index`] computes it, but under the
    /// per-field key derived from master-key `version`: what an entry written while that
    /// version was current holds. Lookups query every version the index still holds.
    pub fn blind_index_under(
        &self,
        version: KeyVersion,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<[u8; BLIND_INDEX_LEN], CryptoError> {
        Ok(self.keys(version)?.blind.index(collection, field, term))
    }

    /// HMAC-SHA256 of an API key's full text under a secret HKDF-derived from the lowest
    /// master-key version (label `"privet api-key v1"`). Store this, never the key.
    pub fn api_key_hash(&self, api_key: &str) -> [u8; 32] {
        let mut mac = self.api_key.clone();
        mac.update(api_key.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The tokenizer of `role`: deterministic pseudonyms of field values under a key
    /// HKDF-derived from the lowest master-key version with label `"privet token v1"` and
    /// the role name. Derive it once per request (it costs an HKDF expansion).
    pub fn tokenizer(&self, role: &str) -> Tokenizer {
        self.tokens.tokenizer(role)
    }

    /// The MAC key of the privacy portal's links, sessions and CSRF tokens, HKDF-derived
    /// from the lowest master-key version (label `"privet portal v1"`). Derive it once.
    pub fn portal_key(&self) -> Option<crate::PortalKey> {
        let (_, oldest) = self.versions.first_key_value()?;
        Some(crate::PortalKey::new(&oldest.master))
    }

    /// Seals the address a notification goes to, under the current version's outbox key
    /// (AES-256-GCM, HKDF label `"privet outbox v1"`), bound to `message` (AAD
    /// `"privet/outbox-recipient/v1"` || message id || version): the address outlives the
    /// subject's own key (an erasure's confirmation still reaches the customer) only inside
    /// its message, and opens for no other.
    ///
    /// Returns version (u32 BE) || `0x01` || nonce || ciphertext || tag.
    pub fn seal_recipient(
        &self,
        message: &MessageId,
        address: &str,
    ) -> Result<Vec<u8>, CryptoError> {
        let version = self.current;
        let sealed = seal(
            &self.keys(version)?.outbox,
            &recipient_aad(message, version),
            address.as_bytes(),
        )?;
        let mut out = Vec::with_capacity(4 + sealed.len());
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The master-key version a recipient sealed by [`Keyring::seal_recipient`] is under
    /// (read from its first bytes, not authenticated): what retiring a version must wait for.
    pub fn recipient_key_version(sealed: &[u8]) -> Option<KeyVersion> {
        let v: [u8; 4] = sealed.get(..4)?.try_into().ok()?;
        Some(KeyVersion(u32::from_be_bytes(v)))
    }

    /// Opens what [`Keyring::seal_recipient`] sealed for `message`. Errors:
    /// [`CryptoError::UnknownKeyVersion`] (a version this keyring lacks), or an opaque
    /// [`CryptoError::Decrypt`] for another message, another key or altered bytes.
    pub fn open_recipient(
        &self,
        message: &MessageId,
        sealed: &[u8],
    ) -> Result<Sensitive<String>, CryptoError> {
        let (version, rest) = sealed.split_at_checked(4).ok_or(CryptoError::Decrypt)?;
        let mut v = [0u8; 4];
        v.copy_from_slice(version);
        let version = KeyVersion(u32::from_be_bytes(v));
        let plain = open(
            &self.keys(version)?.outbox,
            &recipient_aad(message, version),
            rest,
        )?;
        let text = std::str::from_utf8(plain.expose()).map_err(|_| CryptoError::Decrypt)?;
        Ok(Sensitive::new(text.to_owned()))
    }

    /// Whether a presented API key matches a stored hash, compared in constant time.
    pub fn api_key_matches(&self, api_key: &str, stored_hash: &[u8]) -> bool {
        kdf::constant_time_eq(&self.api_key_hash(api_key), stored_hash)
    }
}

/// Shows versions as `[v1, v2]`.
struct VersionList<'a>(&'a BTreeMap<KeyVersion, VersionKeys>);

impl fmt::Display for VersionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.keys().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str("]")
    }
}

/// The prepared HMAC that hashes API keys, keyed from `master`.
fn api_key_mac(master: &MasterKey) -> HmacSha256 {
    kdf::hmac(&kdf::expand_key(&kdf::master_prk(master), &[LABEL_API_KEY]))
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &format_args!("{}", self.current))
            .field("versions", &format_args!("{}", VersionList(&self.versions)))
            .field("keys", &format_args!("[redacted]"))
            .finish()
    }
}
