//! The signing key: one named Ed25519 key (RFC 8032, via ed25519-dalek) that signs audit
//! checkpoints and consent receipts. It is separate from the master key and lives in its
//! own file, so it can be rotated, backed up and shown (its public half) on its own.
//!
//! # File format
//! UTF-8 text, mode 0600 (loading refuses a file that the group or others can access, like
//! the master-key file). `#` comment lines and blank lines are ignored; exactly one line is
//!
//! ```text
//! privet-signing-key v1 <name> <standard base64 of the 32-byte Ed25519 seed>
//! ```
//!
//! The name is the key's public identity in signed notes (c2sp.org/signed-note): non-empty,
//! without spaces, `+` or control characters, e.g. `privet.example/audit`.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::secret_file::{self, malformed, read_private, sync_parent};

/// The first word of the key line, naming what the file is.
const MAGIC: &str = "privet-signing-key";
/// The format version of the key line.
const FORMAT_V1: &str = "v1";

const HEADER: &str = "\
# Privet signing key (Ed25519): signs audit checkpoints and receipts. It is not the master
# key. Keep this file secret: mode 0600, owned by the user running privet. Anyone holding it
# can sign checkpoints in this vault's name; losing it only means signing with a new key.
# Format: `privet-signing-key v1 <name> <base64 seed>`.
";

/// Whether `name` can name a signing key: non-empty, and free of Unicode white space, `+`
/// and control characters (the rule of c2sp.org/signed-note, which also keeps the key
/// file's line unambiguous).
pub fn is_valid_signer_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// A named Ed25519 signing key. The secret half is zeroized on drop; `Debug` shows only
/// the name and the public key; no `PartialEq`.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl NoteSigner {
    /// A fresh key from the operating system's generator.
    ///
    /// # Errors
    /// [`CryptoError::InvalidSignerName`] unless [`is_valid_signer_name`] accepts `name`.
    ///
    /// # Panics
    /// If the operating system's random number generator fails (see the crate docs).
    pub fn generate(name: &str) -> Result<NoteSigner, CryptoError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        NoteSigner::from_seed(name, &seed)
    }

    /// The key with this 32-byte Ed25519 seed (RFC 8032's private key); the caller remains
    /// responsible for zeroizing its copy.
    ///
    /// # Errors
    /// [`CryptoError::InvalidSignerName`] unless [`is_valid_signer_name`] accepts `name`.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, CryptoError> {
        if !is_valid_signer_name(name) {
            return Err(CryptoError::InvalidSignerName {
                name: name.to_owned(),
            });
        }
        Ok(NoteSigner {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, to publish and verify with.
    pub fn public_key(&self) -> SignerPublicKey {
        SignerPublicKey(self.key.verifying_key())
    }

    /// The Ed25519 signature of `message` (deterministic, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The key file's text: the header and the key line.
    fn render(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(HEADER.len() + 128));
        out.push_str(HEADER);
        out.push_str(MAGIC);
        out.push(' ');
        out.push_str(FORMAT_V1);
        out.push(' ');
        out.push_str(&self.name);
        out.push(' ');
        STANDARD.encode_string(self.key.as_bytes(), &mut out);
        out.push('\n');
        out
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("public_key", &self.public_key().to_string())
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// An Ed25519 public key that is a valid curve point and not of small order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignerPublicKey(VerifyingKey);

impl SignerPublicKey {
    /// Parses the 32-byte encoding of RFC 8032.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] if the bytes are not a curve point, or are a
    /// small-order ("weak") point, which any signature would verify against.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<SignerPublicKey, CryptoError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(CryptoError::InvalidPublicKey);
        }
        Ok(SignerPublicKey(key))
    }

    /// The 32-byte encoding of RFC 8032.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks an Ed25519 signature of `message`, strictly (no malleable or non-canonical
    /// signatures).
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] if it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), CryptoError> {
        self.0
            .verify_strict(message, &Signature::from_bytes(signature))
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// Standard base64 of the 32 key bytes.
impl fmt::Display for SignerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.to_bytes()))
    }
}

impl fmt::Debug for SignerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerPublicKey({self})")
    }
}

/// The signing-key file (see the module docs for the format).
#[derive(Clone, Debug)]
pub struct SigningKeyFile {
    path: PathBuf,
}

impl SigningKeyFile {
    /// The file at `path`; nothing is touched until [`SigningKeyFile::load`].
    pub fn new(path: impl Into<PathBuf>) -> SigningKeyFile {
        SigningKeyFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new key file holding `signer`, with mode 0600, and fsyncs it and its
    /// directory. Refuses with [`CryptoError::KeyFileExists`] if anything is already at
    /// `path`.
    pub fn create(
        path: impl Into<PathBuf>,
        signer: &NoteSigner,
    ) -> Result<SigningKeyFile, CryptoError> {
        let path = path.into();
        secret_file::write_new(&path, signer.render().as_bytes())?;
        sync_parent(&path)?;
        Ok(SigningKeyFile { path })
    }

    /// Reads the key.
    ///
    /// # Errors
    /// [`CryptoError::KeyFileMissing`], [`CryptoError::KeyFilePermissions`] when the group
    /// or others can access the file, [`CryptoError::KeyFileMalformed`] (naming the line,
    /// never echoing it), or [`CryptoError::Io`].
    pub fn load(&self) -> Result<NoteSigner, CryptoError> {
        let contents = read_private(&self.path)?;
        parse(&self.path, &contents)
    }
}

/// Parses the file's text. Reasons are fixed words: a line's text never reaches an error.
fn parse(path: &Path, contents: &[u8]) -> Result<NoteSigner, CryptoError> {
    let mut found: Option<NoteSigner> = None;
    for (index, raw) in contents.split(|b| *b == b'\n').enumerate() {
        let line_no = index + 1;
        let line =
            std::str::from_utf8(raw).map_err(|_| malformed(path, line_no, "not valid UTF-8"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_ascii_whitespace();
        let (Some(magic), Some(version), Some(name), Some(seed), None) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            return Err(malformed(
                path,
                line_no,
                "expected `privet-signing-key v1 <name> <base64 seed>`",
            ));
        };
        if magic != MAGIC {
            return Err(malformed(path, line_no, "not a privet signing key"));
        }
        if version != FORMAT_V1 {
            return Err(malformed(
                path,
                line_no,
                "unsupported signing-key format version",
            ));
        }
        if !is_valid_signer_name(name) {
            return Err(malformed(
                path,
                line_no,
                "key name contains a `+` or a control character",
            ));
        }
        let seed = decode_seed(seed).map_err(|reason| malformed(path, line_no, reason))?;
        if found.is_some() {
            return Err(malformed(path, line_no, "the file holds more than one key"));
        }
        found = Some(NoteSigner::from_seed(name, &seed)?);
    }
    found.ok_or_else(|| malformed(path, 0, "the file holds no key"))
}

fn decode_seed(text: &str) -> Result<Zeroizing<[u8; 32]>, &'static str> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text)
            .map_err(|_| "seed is not valid base64")?,
    );
    let mut seed = Zeroizing::new([0u8; 32]);
    if bytes.len() != seed.len() {
        return Err("seed is not 32 bytes");
    }
    seed.copy_from_slice(&bytes);
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    // RFC 8032 §7.1, TEST 1: the empty message under a known seed.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn signing_matches_the_rfc_8032_test_vector() {
        let signer = NoteSigner::from_seed("test", &unhex(RFC8032_SEED)).unwrap();
        assert_eq!(signer.public_key().to_bytes(), unhex::<32>(RFC8032_PUBLIC));
        let sig = signer.sign(b"");
        assert_eq!(sig, unhex::<64>(RFC8032_SIGNATURE));
        signer.public_key().verify(b"", &sig).unwrap();
    }

    #[test]
    fn verification_fails_for_another_message_signature_or_key() {
        let signer = NoteSigner::generate("a").unwrap();
        let other = NoteSigner::generate("a").unwrap();
        let sig = signer.sign(b"hello");
        let key = signer.public_key();
        key.verify(b"hello", &sig).unwrap();
        assert!(matches!(
            key.verify(b"hellp", &sig),
            Err(CryptoError::BadSignature)
        ));
        let mut flipped = sig;
        flipped[10] ^= 1;
        assert!(key.verify(b"hello", &flipped).is_err());
        assert!(other.public_key().verify(b"hello", &sig).is_err());
    }

    #[test]
    fn invalid_and_weak_public_keys_are_refused() {
        // The identity point (small order): every "signature" by it would be meaningless.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            SignerPublicKey::from_bytes(&identity),
            Err(CryptoError::InvalidPublicKey)
        ));
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(SignerPublicKey::from_bytes(&off_curve).is_err());
        assert!(SignerPublicKey::from_bytes(&unhex(RFC8032_PUBLIC)).is_ok());
    }

    #[test]
    fn signer_names_follow_the_signed_note_rules() {
        for good in ["a", "privet.example/audit", "log-1", "ünïcode"] {
            assert!(is_valid_signer_name(good), "{good:?}");
            assert!(NoteSigner::generate(good).is_ok());
        }
        for bad in [
            "",
            "a b",
            "a+b",
            "a\tb",
            "a\nb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\u{7f}",
        ] {
            assert!(!is_valid_signer_name(bad), "{bad:?}");
            assert!(matches!(
                NoteSigner::generate(bad),
                Err(CryptoError::InvalidSignerName { .. })
            ));
        }
    }

    #[test]
    fn debug_shows_the_name_and_public_key_but_not_the_seed() {
        let signer = NoteSigner::from_seed("test", &[0x5A; 32]).unwrap();
        let shown = format!("{signer:?}");
        assert!(shown.contains("test"), "{shown}");
        assert!(shown.contains(&signer.public_key().to_string()), "{shown}");
        assert!(!shown.contains(&STANDARD.encode([0x5A; 32])), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn rendered_files_parse_back_to_the_same_key() {
        let signer = NoteSigner::generate("privet.example/audit").unwrap();
        let text = signer.render();
        assert!(text.starts_with("# Privet signing key"));
        let back = parse(Path::new("k"), text.as_bytes()).unwrap();
        assert_eq!(back.name(), signer.name());
        assert_eq!(back.public_key(), signer.public_key());
        assert_eq!(back.sign(b"m"), signer.sign(b"m"));
    }

    fn reason(err: CryptoError) -> (usize, String) {
        match err {
            CryptoError::KeyFileMalformed { line, reason, .. } => (line, reason),
            other => panic!("expected KeyFileMalformed, got {other:?}"),
        }
    }

    #[test]
    fn malformed_files_are_refused_naming_the_line_without_echoing_it() {
        let seed = STANDARD.encode([7u8; 32]);
        let line = format!("privet-signing-key v1 n {seed}");
        let cases = [
            (String::new(), 0, "the file holds no key"),
            (
                "# only a comment\n\n".to_owned(),
                0,
                "the file holds no key",
            ),
            (
                format!("privet-signing-key v1 {seed}"),
                1,
                "expected `privet-signing-key v1 <name> <base64 seed>`",
            ),
            (
                format!("{line} extra"),
                1,
                "expected `privet-signing-key v1 <name> <base64 seed>`",
            ),
            (format!("v1 v1 n {seed}"), 1, "not a privet signing key"),
            (
                format!("privet-signing-key v2 n {seed}"),
                1,
                "unsupported signing-key format version",
            ),
            (
                format!("privet-signing-key v1 a+b {seed}"),
                1,
                "key name contains a `+` or a control character",
            ),
            (
                "privet-signing-key v1 n AAAA".to_owned(),
                1,
                "seed is not 32 bytes",
            ),
            (
                format!("privet-signing-key v1 n {seed}!"),
                1,
                "seed is not valid base64",
            ),
            (
                format!("# c\n{line}\n{line}\n"),
                3,
                "the file holds more than one key",
            ),
        ];
        for (text, want_line, want) in cases {
            let err = parse(Path::new("k"), text.as_bytes()).unwrap_err();
            assert!(!err.to_string().contains(&seed[..20]), "{err}");
            assert_eq!(reason(err), (want_line, want.to_owned()), "{text:?}");
        }
        let err = parse(Path::new("k"), b"\xff\xfe").unwrap_err();
        assert_eq!(reason(err), (1, "not valid UTF-8".to_owned()));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(Path::new("k"), &bytes);
        }

        #[test]
        fn parsing_never_panics_on_near_miss_lines(text in "(privet-signing-key|#)? ?(v[0-9])? ?[a-z+ ]{0,5} [A-Za-z0-9+/=]{0,46}\n?") {
            let _ = parse(Path::new("k"), text.as_bytes());
        }
    }
}
