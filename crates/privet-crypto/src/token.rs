//! Tokens: deterministic per-role pseudonyms of field values, for `tokenized` grants.
//!
//! A token is HMAC-SHA256, under a key HKDF-derived per role from the master key, over the
//! (collection, field, normalized value) triple, truncated to 128 bits and shown as
//! `tok_` + 32 lowercase hex digits. The same value in the same field gives the same token
//! for one role, so a holder can count, join and deduplicate without seeing the value; two
//! roles get unrelated tokens, so tokens handed to two services do not link.
//!
//! Tokens are keyed from the **lowest** master-key version (like API-key hashes), so they
//! stay stable across key rotation and downstream joins keep working. Changing every
//! token (after a leak of one role's tokens together with their values, say) therefore
//! takes renaming the role, which derives a fresh key.

use hkdf::Hkdf;
use hmac::Mac;
use sha2::Sha256;

use crate::kdf::{self, HmacSha256, LABEL_TOKEN};
use crate::master::MasterKey;

/// Bytes of MAC kept in a token: 128 bits, so distinct values collide with negligible
/// probability at 10^9 values.
pub const TOKEN_BYTES: usize = 16;

/// Prefix of every token.
pub const TOKEN_PREFIX: &str = "tok_";

/// The root from which each role's token key is derived.
pub(crate) struct TokenRoot(Hkdf<Sha256>);

impl TokenRoot {
    pub(crate) fn new(master: &MasterKey) -> TokenRoot {
        TokenRoot(kdf::master_prk(master))
    }

    pub(crate) fn tokenizer(&self, role: &str) -> Tokenizer {
        // Length-prefixed so that no role name is a prefix-collision of another's label.
        let role_len = (role.len() as u64).to_be_bytes();
        let key = kdf::expand_key(&self.0, &[LABEL_TOKEN, &role_len, role.as_bytes()]);
        Tokenizer {
            mac: kdf::hmac(&key),
        }
    }
}

/// The tokenizer of one role: derive it once per request (see
/// [`Keyring::tokenizer`](crate::Keyring::tokenizer)) and call [`Tokenizer::token`] per value.
/// `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct Tokenizer {
    mac: HmacSha256,
}

impl Tokenizer {
    /// The token of `value` (a normalized value, e.g. `privet_core::token_input`) in
    /// (collection, field): `tok_` + 32 hex digits.
    pub fn token(&self, collection: &str, field: &str, value: &[u8]) -> String {
        let mut mac = self.mac.clone();
        // Each part length-prefixed (u64 BE), so ("ab","c") and ("a","bc") stay apart.
        for part in [collection.as_bytes(), field.as_bytes(), value] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let full = mac.finalize().into_bytes();
        let mut out = String::with_capacity(TOKEN_PREFIX.len() + 2 * TOKEN_BYTES);
        out.push_str(TOKEN_PREFIX);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in full.iter().take(TOKEN_BYTES) {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokenizer([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keyring;

    fn root(byte: u8) -> TokenRoot {
        TokenRoot::new(&MasterKey::from_bytes(&[byte; 32]))
    }

    #[test]
    fn the_same_value_and_role_give_the_same_token() {
        let r = root(1);
        let a = r
            .tokenizer("analyst")
            .token("customers", "email", b"jane@example.com");
        let b = r
            .tokenizer("analyst")
            .token("customers", "email", b"jane@example.com");
        assert_eq!(a, b);
        assert!(a.starts_with("tok_"));
        assert_eq!(a.len(), 4 + 32);
        assert!(
            a[4..]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn tokens_differ_per_role_value_field_collection_and_master_key() {
        let r = root(1);
        let t = |role: &str, c: &str, f: &str, v: &[u8]| r.tokenizer(role).token(c, f, v);
        let base = t("analyst", "customers", "email", b"jane@example.com");
        assert_ne!(base, t("mailer", "customers", "email", b"jane@example.com"));
        assert_ne!(
            base,
            t("analyst", "customers", "email", b"john@example.com")
        );
        assert_ne!(
            base,
            t("analyst", "customers", "phone", b"jane@example.com")
        );
        assert_ne!(base, t("analyst", "leads", "email", b"jane@example.com"));
        assert_ne!(
            base,
            root(2)
                .tokenizer("analyst")
                .token("customers", "email", b"jane@example.com")
        );
        // Length prefixes keep shifted boundaries apart.
        assert_ne!(t("r", "ab", "c", b"x"), t("r", "a", "bc", b"x"));
        assert_ne!(t("r", "a", "b", b"cx"), t("r", "a", "bc", b"x"));
        assert_ne!(t("ab", "c", "f", b"x"), t("a", "bc", "f", b"x"));
    }

    #[test]
    fn a_token_is_the_truncated_hmac_under_the_derived_role_key() {
        // Recomputed from the primitives, independently of `Tokenizer`.
        let master = MasterKey::from_bytes(&[7; 32]);
        let hk = Hkdf::<Sha256>::new(None, master.expose());
        let mut key = [0u8; 32];
        hk.expand(b"privet token v1\0\0\0\0\0\0\0\x07analyst", &mut key)
            .unwrap();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
        mac.update(
            b"\0\0\0\0\0\0\0\x09customers\0\0\0\0\0\0\0\x06gender\0\0\0\0\0\0\0\x08\"female\"",
        );
        let expected: String = mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let got = TokenRoot::new(&master).tokenizer("analyst").token(
            "customers",
            "gender",
            b"\"female\"",
        );
        assert_eq!(got, format!("tok_{expected}"));
        // A keyring loaded from the same master key (a restart, another server) agrees.
        let ring = Keyring::from_master_keys(std::collections::BTreeMap::from([(
            crate::KeyVersion::V1,
            MasterKey::from_bytes(&[7; 32]),
        )]))
        .unwrap();
        assert_eq!(
            ring.tokenizer("analyst")
                .token("customers", "gender", b"\"female\""),
            got
        );
    }

    #[test]
    fn tokens_survive_key_rotation_and_debug_shows_no_key() {
        let ring = Keyring::generate();
        let before = ring.tokenizer("analyst").token("c", "f", b"v");
        let rotated = ring.rotated().unwrap();
        assert_eq!(rotated.tokenizer("analyst").token("c", "f", b"v"), before);
        assert_eq!(
            format!("{:?}", ring.tokenizer("analyst")),
            "Tokenizer([redacted])"
        );
    }
}
