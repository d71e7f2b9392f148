//! The MAC of the privacy portal's tokens: single-use links, session cookies and CSRF tokens.
//!
//! HMAC-SHA256 under a key HKDF-derived from the lowest master-key version with label
//! `"privet portal v1"` (so a key rotation does not log every customer out). Each use passes
//! a context string (`"link"`, `"session"`, `"csrf"`), MACed length-prefixed before the
//! message, so a tag made for one use never verifies for another.

use hmac::Mac;

use crate::kdf::{self, HmacSha256};
use crate::master::MasterKey;

/// HKDF label of the portal's MAC key.
pub(crate) const LABEL_PORTAL: &[u8] = b"privet portal v1";

/// Length of a portal tag in bytes (full HMAC-SHA256).
pub const PORTAL_TAG_LEN: usize = 32;

/// The portal's MAC key. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct PortalKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for PortalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortalKey([redacted])")
    }
}

impl PortalKey {
    pub(crate) fn new(master: &MasterKey) -> PortalKey {
        let key = kdf::expand_key(&kdf::master_prk(master), &[LABEL_PORTAL]);
        PortalKey {
            mac: kdf::hmac(&key),
        }
    }

    /// The tag of `message` for `context`.
    pub fn tag(&self, context: &str, message: &[u8]) -> [u8; PORTAL_TAG_LEN] {
        let mut mac = self.mac.clone();
        mac.update(&(context.len() as u64).to_be_bytes());
        mac.update(context.as_bytes());
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of `message` for `context`, compared in constant time.
    pub fn verify(&self, context: &str, message: &[u8], tag: &[u8]) -> bool {
        kdf::constant_time_eq(&self.tag(context, message), tag)
    }
}

/// A fresh random 128-bit id for a portal link or session, from the operating system.
///
/// # Panics
/// If the operating system's random number generator fails (see the crate docs).
pub fn random_portal_id() -> [u8; 16] {
    use rand_core::RngCore;
    let mut id = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut id);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_only_for_their_own_context_message_and_key() {
        let k = PortalKey::new(&MasterKey::from_bytes(&[7; 32]));
        let other = PortalKey::new(&MasterKey::from_bytes(&[8; 32]));
        let t = k.tag("link", b"payload");
        assert!(k.verify("link", b"payload", &t));
        assert!(!k.verify("session", b"payload", &t));
        assert!(!k.verify("link", b"payloae", &t));
        assert!(!k.verify("link", b"payload", &t[..31]));
        assert!(!other.verify("link", b"payload", &t));
        // The context is length-prefixed: ("ab", "c…") and ("a", "bc…") differ.
        assert_ne!(k.tag("ab", b"c"), k.tag("a", b"bc"));
    }
}
