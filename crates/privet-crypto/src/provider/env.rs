//! Master keys from an environment variable, for containers and test setups.
//!
//! The value is either a bare `<base64>` (that key is `v1`) or a versioned list
//! `v1:<base64>,v2:<base64>`; keys are standard, padded base64 of 32 bytes. The highest
//! version is current.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::{KeyProvider, decode_key};
use crate::error::CryptoError;
use crate::keyring::Keyring;
use crate::master::{KeyVersion, MasterKey};

/// Master keys read from one environment variable (see the module docs for the format).
#[derive(Clone, Debug)]
pub struct EnvKey {
    var: String,
}

impl EnvKey {
    /// A provider reading variable `var`; nothing is read until [`KeyProvider::load`].
    pub fn new(var: impl Into<String>) -> Self {
        EnvKey { var: var.into() }
    }

    /// The variable's name.
    pub fn var(&self) -> &str {
        &self.var
    }
}

impl KeyProvider for EnvKey {
    fn load(&self) -> Result<Keyring, CryptoError> {
        let Some(value) = std::env::var_os(&self.var) else {
            return Err(CryptoError::EnvKeyMissing {
                var: self.var.clone(),
            });
        };
        let value = Zeroizing::new(
            value
                .into_string()
                .map_err(|_| malformed(&self.var, "value is not valid UTF-8"))?,
        );
        Keyring::from_master_keys(parse(&self.var, &value)?)
    }

    fn describe(&self) -> String {
        format!("environment variable {}", self.var)
    }
}

fn malformed(var: &str, reason: impl Into<String>) -> CryptoError {
    CryptoError::EnvKeyMalformed {
        var: var.to_owned(),
        reason: reason.into(),
    }
}

/// Parses a value. Reasons are fixed words and entry numbers, never the value.
fn parse(var: &str, value: &str) -> Result<BTreeMap<KeyVersion, MasterKey>, CryptoError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(malformed(var, "value is empty"));
    }
    // Standard base64 has no ':', so a colon means the versioned form.
    if !value.contains(':') {
        let key = decode_key(value).map_err(|reason| malformed(var, reason))?;
        return Ok(BTreeMap::from([(KeyVersion::V1, key)]));
    }
    let mut keys = BTreeMap::new();
    for (index, entry) in value.split(',').enumerate() {
        let n = index + 1;
        let Some((version, key)) = entry.trim().split_once(':') else {
            return Err(malformed(
                var,
                format!("entry {n}: expected `v<N>:<base64 key>`"),
            ));
        };
        let version: KeyVersion = version
            .trim()
            .parse()
            .map_err(|_| malformed(var, format!("entry {n}: version is not of the form v<N>")))?;
        let key = decode_key(key.trim())
            .map_err(|reason| malformed(var, format!("entry {n}: {reason}")))?;
        if keys.insert(version, key).is_some() {
            return Err(malformed(
                var,
                format!("entry {n}: {version} appears more than once"),
            ));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const VAR: &str = "PRIVET_TEST_KEY";

    fn b64(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    fn reason(err: CryptoError) -> String {
        match err {
            CryptoError::EnvKeyMalformed { var, reason } => {
                assert_eq!(var, VAR);
                reason
            }
            other => panic!("expected EnvKeyMalformed, got {other:?}"),
        }
    }

    #[test]
    fn env_key_accepts_a_bare_base64_key_as_v1() {
        let keys = parse(VAR, &format!("  {}\n", b64(1))).unwrap();
        assert_eq!(keys.keys().copied().collect::<Vec<_>>(), [KeyVersion(1)]);
        assert_eq!(keys[&KeyVersion(1)].expose(), &[1; 32]);
    }

    #[test]
    fn env_key_accepts_a_versioned_list_and_the_highest_is_current() {
        let value = format!("v2:{}, v1:{} ,v10:{}", b64(2), b64(1), b64(10));
        let keys = parse(VAR, &value).unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[&KeyVersion(10)].expose(), &[10; 32]);
        let ring = Keyring::from_master_keys(keys).unwrap();
        assert_eq!(ring.current(), KeyVersion(10));
    }

    #[test]
    fn malformed_env_keys_are_refused_without_echoing_the_value() {
        let secret = b64(7);
        let cases = [
            (String::new(), "value is empty"),
            ("c2hvcnQ=".to_owned(), "key is not 32 bytes (256 bits)"),
            (format!("{secret}!"), "key is not valid base64"),
            (
                format!("v1:{secret},"),
                "entry 2: expected `v<N>:<base64 key>`",
            ),
            (
                format!("x1:{secret}"),
                "entry 1: version is not of the form v<N>",
            ),
            (
                format!("v1:{secret},v2:AAAA"),
                "entry 2: key is not 32 bytes (256 bits)",
            ),
            (
                format!("v1:{secret},v1:{secret}"),
                "entry 2: v1 appears more than once",
            ),
        ];
        for (value, want) in cases {
            let err = parse(VAR, &value).unwrap_err();
            let shown = err.to_string();
            assert!(!shown.contains(&secret[..20]), "{shown}");
            assert_eq!(reason(err), want, "{value:?}");
        }
    }

    #[test]
    fn an_unset_variable_is_reported_missing() {
        let err = EnvKey::new("PRIVET_TEST_SURELY_UNSET_VARIABLE_4F1C")
            .load()
            .unwrap_err();
        assert!(
            matches!(err, CryptoError::EnvKeyMissing { var } if var == "PRIVET_TEST_SURELY_UNSET_VARIABLE_4F1C")
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(value in "[ -~]{0,120}") {
            let _ = parse(VAR, &value);
        }
    }

    #[test]
    fn describe_names_the_variable() {
        assert_eq!(
            EnvKey::new(VAR).describe(),
            "environment variable PRIVET_TEST_KEY"
        );
    }
}
