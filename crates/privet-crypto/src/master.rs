//! Master keys (KEKs) and their versions.

use std::fmt;
use std::str::FromStr;

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// The version of a master key: `v1`, `v2`, … Rotation adds a version; the highest one
/// in a keyring is current.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct KeyVersion(pub u32);

impl KeyVersion {
    /// The first version, given to a freshly generated keyring.
    pub const V1: KeyVersion = KeyVersion(1);

    /// The version after this one, or `None` at `u32::MAX`.
    pub fn next(self) -> Option<KeyVersion> {
        self.0.checked_add(1).map(KeyVersion)
    }

    /// The version as 4 big-endian bytes, as bound into wrapped-key AAD.
    pub(crate) fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A string that is not a key version of the form `v<N>` (decimal, no sign, no leading zeros).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a key version: expected `v` followed by a number, like `v1`")]
#[non_exhaustive]
pub struct KeyVersionParseError;

impl FromStr for KeyVersion {
    type Err = KeyVersionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('v').ok_or(KeyVersionParseError)?;
        // Only the canonical spelling, so each version has exactly one text form.
        let leading_zero = digits.len() > 1 && digits.starts_with('0');
        if digits.is_empty() || leading_zero || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KeyVersionParseError);
        }
        digits
            .parse()
            .map(KeyVersion)
            .map_err(|_| KeyVersionParseError)
    }
}

/// The length of every key in this crate, in bytes (256 bits).
pub(crate) const KEY_LEN: usize = 32;

/// One 256-bit master key. Zeroized on drop; `Debug` prints `[redacted]`; no `PartialEq`.
///
/// Key providers build these from their source and hand them to
/// [`Keyring::from_master_keys`](crate::Keyring::from_master_keys).
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    /// A fresh random key from the operating system's generator.
    ///
    /// # Panics
    /// If the operating system's random number generator fails (see the crate docs).
    pub fn generate() -> MasterKey {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        MasterKey(key)
    }

    /// Copies a key from bytes; the caller remains responsible for zeroizing its copy.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> MasterKey {
        MasterKey(Zeroizing::new(*bytes))
    }

    /// Copies a key from a slice; `None` unless it is exactly 32 bytes.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<MasterKey> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return None;
        }
        key.copy_from_slice(bytes);
        Some(MasterKey(key))
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_versions_round_trip_through_their_text_form() {
        assert_eq!(KeyVersion(1).to_string(), "v1");
        assert_eq!("v1".parse(), Ok(KeyVersion(1)));
        assert_eq!("v4294967295".parse(), Ok(KeyVersion(u32::MAX)));
        for v in [0, 1, 2, 17, 1000, u32::MAX] {
            assert_eq!(KeyVersion(v).to_string().parse(), Ok(KeyVersion(v)));
        }
    }

    #[test]
    fn non_canonical_key_versions_are_refused() {
        for bad in [
            "",
            "v",
            "1",
            "V1",
            "v00",
            "v01",
            "v+1",
            "v-1",
            "v1 ",
            " v1",
            "v4294967296",
            "vx",
        ] {
            assert_eq!(
                bad.parse::<KeyVersion>(),
                Err(KeyVersionParseError),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn next_version_stops_at_the_maximum() {
        assert_eq!(KeyVersion::V1.next(), Some(KeyVersion(2)));
        assert_eq!(KeyVersion(u32::MAX).next(), None);
    }

    #[test]
    fn master_keys_come_only_from_32_bytes() {
        assert!(MasterKey::from_slice(&[0u8; 31]).is_none());
        assert!(MasterKey::from_slice(&[0u8; 33]).is_none());
        assert!(MasterKey::from_slice(&[7u8; 32]).is_some());
    }

    #[test]
    fn master_key_debug_is_redacted() {
        let key = MasterKey::from_bytes(&[0xAB; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "MasterKey([redacted])");
        assert!(!shown.to_lowercase().contains("abab"));
    }
}
