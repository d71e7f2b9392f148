//! Shared secrets an operator configures for an integration: the key that signs alert
//! webhooks (HMAC-SHA256, so the receiver can check who sent an alert and when) and the
//! bearer token that guards `/metrics`. Read from a 0600 file or an environment variable,
//! held in zeroizing memory, compared in constant time, never printed.

use std::path::Path;

use hmac::Mac;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::kdf::{HmacSha256, constant_time_eq};
use crate::secret_file::read_private;

/// A secret shared with another system.
pub struct SharedSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

fn trimmed(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

impl SharedSecret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// Reads a secret from a file that only its owner can read (surrounding whitespace,
    /// such as a final newline, is not part of it).
    pub fn from_file(path: &Path) -> Result<Self, CryptoError> {
        let contents = read_private(path)?;
        Self::new(trimmed(&contents), &path.display().to_string())
    }

    /// A secret given as text, e.g. from the environment variable `origin` names.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, CryptoError> {
        Self::new(trimmed(text.as_bytes()), origin)
    }

    fn new(bytes: &[u8], origin: &str) -> Result<Self, CryptoError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(CryptoError::WeakSecret {
                origin: origin.to_owned(),
                min: Self::MIN_LEN,
            });
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// Whether `presented` is this secret (in constant time for equal lengths).
    pub fn matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(&self.0, presented)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length, so this never fails; an empty key is refused above.
        <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()))
    }

    /// The `Privet-Signature` header value for a webhook body sent at `unix_time`:
    /// `t=<unix_time>,v1=<hex of HMAC-SHA256("<unix_time>." ‖ body)>`.
    pub fn sign_webhook(&self, unix_time: i64, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(unix_time.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("t={unix_time},v1={hex}")
    }
}

/// Checks a `Privet-Signature` header against `body`: returns the signed time when one of
/// its `v1` signatures is right (the receiver then refuses times too far from its clock,
/// against replays), `None` otherwise.
pub fn verify_webhook_signature(secret: &SharedSecret, header: &str, body: &[u8]) -> Option<i64> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t?;
    let expected = secret.sign_webhook(t, body);
    let expected = expected.rsplit_once("v1=").map(|(_, h)| h)?;
    sigs.iter()
        .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
        .then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SharedSecret {
        SharedSecret::from_text("0123456789abcdef0123456789abcdef\n", "TEST").unwrap()
    }

    #[test]
    fn signature_matches_a_known_answer() {
        // Computed independently: printf '1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
        assert_eq!(
            secret().sign_webhook(1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=f05f2539e3ae1c49aec5f8cfdad75ef6b06480b133973ffbb7ec9e18827af177"
        );
    }

    #[test]
    fn verification_accepts_the_signature_and_nothing_else() {
        let s = secret();
        let body = br#"{"kind":"denials"}"#;
        let h = s.sign_webhook(42, body);
        assert_eq!(verify_webhook_signature(&s, &h, body), Some(42));
        // Another body, time, secret or a mangled header fails.
        assert_eq!(verify_webhook_signature(&s, &h, b"{}"), None);
        let other_time = h.replacen("t=42", "t=43", 1);
        assert_eq!(verify_webhook_signature(&s, &other_time, body), None);
        let other = SharedSecret::from_text(&"x".repeat(40), "T").unwrap();
        assert_eq!(verify_webhook_signature(&other, &h, body), None);
        for bad in ["", "t=42", "v1=00", "t=x,v1=00", "garbage"] {
            assert_eq!(verify_webhook_signature(&s, bad, body), None, "{bad}");
        }
        // Several signatures (e.g. during a secret rotation): any right one passes.
        let two = format!("{h},v1=deadbeef");
        assert_eq!(verify_webhook_signature(&s, &two, body), Some(42));
    }

    #[test]
    fn short_secrets_are_refused_and_nothing_prints_them() {
        let e = SharedSecret::from_text("   tiny-value   ", "PRIVET_WEBHOOK_SECRET").unwrap_err();
        assert!(e.to_string().contains("PRIVET_WEBHOOK_SECRET"), "{e}");
        assert!(!e.to_string().contains("tiny-value"));
        assert_eq!(format!("{:?}", secret()), "SharedSecret([redacted])");
        assert!(secret().matches(b"0123456789abcdef0123456789abcdef"));
        assert!(!secret().matches(b"0123456789abcdef0123456789abcdeF"));
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("webhook.secret");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            SharedSecret::from_file(&p),
            Err(CryptoError::KeyFilePermissions { .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            SharedSecret::from_file(&p)
                .unwrap()
                .matches(b"0123456789abcdef0123456789abcdef")
        );
    }
}
