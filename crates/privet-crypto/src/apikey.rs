//! API keys: 256 random bits shown once as `pk_<prefix>_<secret>`, stored only as a keyed
//! hash ([`Keyring::api_key_hash`](crate::Keyring::api_key_hash)).
//!
//! The 8-character prefix is public: it is stored in clear to find the key's record and
//! shown in listings, so an operator can tell keys apart without seeing them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// Text every API key starts with.
const TAG: &str = "pk_";
/// Length of the public prefix, in base64url characters (48 bits).
pub(crate) const PREFIX_LEN: usize = 8;
/// Random bytes in a key.
const SECRET_BYTES: usize = 32;
/// Length of the base64url (unpadded) form of the random bytes.
const SECRET_LEN: usize = 43;
/// Length of the whole text form.
const TEXT_LEN: usize = TAG.len() + PREFIX_LEN + 1 + SECRET_LEN;

/// A freshly generated API key. Show [`ApiKey::expose`] to its owner once, store
/// [`ApiKey::prefix`] and the keyring's hash of it, then drop it.
///
/// Zeroized on drop; `Debug` shows the public prefix only; no `PartialEq`.
pub struct ApiKey {
    text: Zeroizing<String>,
}

/// A new API key carrying 256 bits from the operating system's generator.
///
/// # Panics
/// If the operating system's random number generator fails (see the crate docs).
pub fn generate_api_key() -> ApiKey {
    let mut raw = Zeroizing::new([0u8; SECRET_BYTES]);
    OsRng.fill_bytes(raw.as_mut());
    // Capacity reserved up front so the String never reallocates and leaves copies behind.
    let mut text = Zeroizing::new(String::with_capacity(TEXT_LEN));
    text.push_str(TAG);
    let mut secret = Zeroizing::new(String::with_capacity(SECRET_LEN));
    URL_SAFE_NO_PAD.encode_string(raw.as_ref(), &mut secret);
    text.push_str(secret.get(..PREFIX_LEN).unwrap_or_default());
    text.push('_');
    text.push_str(&secret);
    ApiKey { text }
}

impl ApiKey {
    /// The public 8-character prefix (the first characters of the random part).
    pub fn prefix(&self) -> &str {
        self.text
            .get(TAG.len()..TAG.len() + PREFIX_LEN)
            .unwrap_or_default()
    }

    /// The full text form, `pk_<prefix>_<base64url of 32 bytes>`: the secret itself.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("prefix", &self.prefix())
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

/// The public prefix of a presented API key, or `None` unless `text` has exactly the
/// shape of a key this crate generates (tag, prefix, 32 bytes of canonical base64url, and
/// a prefix that matches the random part). Checks shape only; the hash decides validity.
pub fn api_key_prefix(text: &str) -> Option<&str> {
    if text.len() != TEXT_LEN {
        return None;
    }
    let rest = text.strip_prefix(TAG)?;
    let prefix = rest.get(..PREFIX_LEN)?;
    let secret = rest.get(PREFIX_LEN..)?.strip_prefix('_')?;
    if !secret.starts_with(prefix) {
        return None;
    }
    let raw = Zeroizing::new(URL_SAFE_NO_PAD.decode(secret).ok()?);
    (raw.len() == SECRET_BYTES).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_has_the_documented_shape() {
        let key = generate_api_key();
        let text = key.expose();
        assert_eq!(text.len(), TEXT_LEN);
        assert!(text.starts_with("pk_"));
        assert_eq!(text.as_bytes()[TAG.len() + PREFIX_LEN], b'_');
        let secret = &text[TAG.len() + PREFIX_LEN + 1..];
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        assert_eq!(&secret[..PREFIX_LEN], key.prefix());
        assert_eq!(
            key.text.capacity(),
            TEXT_LEN,
            "no reallocation left a copy behind"
        );
    }

    #[test]
    fn misshapen_keys_have_no_prefix() {
        let key = generate_api_key();
        let text = key.expose();
        let secret = &text[TAG.len() + PREFIX_LEN + 1..];
        let bad = [
            String::new(),
            text[..text.len() - 1].to_owned(),
            format!("{text}A"),
            text.replacen("pk_", "sk_", 1),
            // A prefix that does not match the random part.
            format!(
                "pk_{}_{secret}",
                if key.prefix() == "AAAAAAAA" {
                    "BBBBBBBB"
                } else {
                    "AAAAAAAA"
                }
            ),
            // A character outside base64url.
            format!("pk_{}_{}+", key.prefix(), &secret[..SECRET_LEN - 1]),
            // Non-ASCII of the right byte length must not panic on a char boundary.
            format!("pk_é{}", &text[5..]),
        ];
        for b in &bad {
            assert_eq!(api_key_prefix(b), None, "{b:?}");
        }
    }
}
