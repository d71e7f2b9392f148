//! Signed notes (c2sp.org/signed-note) with Ed25519 signatures, and their verifier keys.
//!
//! A signed note is a text ending in a newline, a blank line, then signature lines
//! `— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>` (an em dash U+2014
//! and a space first). The key id is the first four bytes of
//! `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`, read big-endian. A verifier
//! key is the string `<name>+<key id, 8 lowercase hex digits>+<base64(0x01 || public key)>`.
//!
//! Verification follows the spec: signature lines from other keys are ignored; a line from
//! the expected key (same name and key id) must verify, and at least one must be present.
//! Parsing is strict: valid UTF-8 without control characters other than newline, a final
//! newline, canonical base64, and at most [`MAX_SIGNATURES`] signature lines in at most
//! [`MAX_NOTE_LEN`] bytes.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use privet_crypto::{NoteSigner, SignerPublicKey, is_valid_signer_name};
use sha2::{Digest, Sha256};

use crate::error::NoteError;

/// The signature type byte of Ed25519 in signed notes.
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// The largest note [`verify_note`] reads, in bytes.
pub const MAX_NOTE_LEN: usize = 1024 * 1024;

/// The most signature lines [`verify_note`] accepts (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The em dash and space that open a signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The key id of an Ed25519 key in signed notes.
pub fn key_id(name: &str, public_key: &SignerPublicKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519_SIGNATURE_TYPE]);
    h.update(public_key.to_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The public key that verifies a signer's notes, with its name and key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    key: SignerPublicKey,
}

impl VerifierKey {
    /// The verifier key for `name` and `key`.
    ///
    /// # Errors
    /// [`NoteError::MalformedKey`] if `name` is not a valid key name.
    pub fn new(name: &str, key: SignerPublicKey) -> Result<VerifierKey, NoteError> {
        if !is_valid_signer_name(name) {
            return Err(NoteError::MalformedKey(
                "the name is empty or holds a space, `+` or control character",
            ));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            id: key_id(name, &key),
            key,
        })
    }

    /// The verifier key of a signer.
    pub fn of(signer: &NoteSigner) -> VerifierKey {
        let key = signer.public_key();
        VerifierKey {
            name: signer.name().to_owned(),
            id: key_id(signer.name(), &key),
            key,
        }
    }

    /// Parses `<name>+<8 lowercase hex digits>+<base64(0x01 || 32-byte key)>`, exactly
    /// (no surrounding white space), checking that the key id matches the name and key.
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::MalformedKey(
                "expected `<name>+<key id>+<base64 key>`",
            ));
        };
        if !is_valid_signer_name(name) {
            return Err(NoteError::MalformedKey(
                "the name is empty or holds a space, `+` or control character",
            ));
        }
        let id = parse_key_id(id_hex).ok_or(NoteError::MalformedKey(
            "the key id is not 8 lowercase hex digits",
        ))?;
        let bytes = STANDARD
            .decode(key_b64)
            .map_err(|_| NoteError::MalformedKey("the key is not valid base64"))?;
        let Some((&ED25519_SIGNATURE_TYPE, raw)) = bytes.split_first() else {
            return Err(NoteError::MalformedKey("the key is not an Ed25519 key"));
        };
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| NoteError::MalformedKey("an Ed25519 key is 32 bytes"))?;
        let key = SignerPublicKey::from_bytes(raw)
            .map_err(|_| NoteError::MalformedKey("not a valid Ed25519 public key"))?;
        let vk = VerifierKey::new(name, key)?;
        if vk.id != id {
            return Err(NoteError::MalformedKey(
                "the key id does not match the name and key",
            ));
        }
        Ok(vk)
    }

    /// The key's name, as it appears in signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &SignerPublicKey {
        &self.key
    }

    /// `<name>+<hex id>`, how errors name the key.
    fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }
}

fn parse_key_id(text: &str) -> Option<u32> {
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if text.len() != 8 || !text.bytes().all(lower_hex) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// The verifier-key string: `<name>+<hex id>+<base64(0x01 || key)>`.
impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut typed = [0u8; 33];
        typed[0] = ED25519_SIGNATURE_TYPE;
        typed[1..].copy_from_slice(&self.key.to_bytes());
        write!(f, "{}+{}", self.label(), STANDARD.encode(typed))
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifierKey::parse(s)
    }
}

/// Checks a note text: non-empty, ends in a newline, no control characters but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text does not end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "the text holds a control character other than newline",
        ));
    }
    Ok(())
}

/// Signs `text` as a note: `text`, a blank line, and one signature line by `signer`.
///
/// # Errors
/// [`NoteError::Malformed`] if `text` is empty, lacks its final newline, holds a control
/// character other than newline, or is larger than [`MAX_NOTE_LEN`] allows.
pub fn sign_note(text: &str, signer: &NoteSigner) -> Result<String, NoteError> {
    check_text(text)?;
    let vk = VerifierKey::of(signer);
    let mut sig = Vec::with_capacity(68);
    sig.extend_from_slice(&vk.id.to_be_bytes());
    sig.extend_from_slice(&signer.sign(text.as_bytes()));
    let note = format!(
        "{text}\n{SIGNATURE_PREFIX}{} {}\n",
        vk.name,
        STANDARD.encode(&sig)
    );
    if note.len() > MAX_NOTE_LEN {
        return Err(NoteError::Malformed("the note is too large"));
    }
    Ok(note)
}

/// Verifies a signed note with `key` and returns its text (with its final newline).
///
/// # Errors
/// [`NoteError::Malformed`] if the note breaks the format, [`NoteError::NotSigned`] if no
/// signature line is by `key`, [`NoteError::BadSignature`] if one is but does not verify.
pub fn verify_note<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str, NoteError> {
    if note.len() > MAX_NOTE_LEN {
        return Err(NoteError::Malformed("the note is too large"));
    }
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("the note does not end with a newline"));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "the note holds a control character other than newline",
        ));
    }
    // The text ends at the last blank line; the signature lines follow it.
    let Some(blank) = note.rfind("\n\n") else {
        return Err(NoteError::Malformed(
            "no blank line separates the text from the signatures",
        ));
    };
    let (text, signatures) = (&note[..=blank], &note[blank + 2..]);
    if signatures.is_empty() {
        return Err(NoteError::Malformed("the note has no signature lines"));
    }
    let mut verified = false;
    for (n, line) in signatures.split_terminator('\n').enumerate() {
        if n >= MAX_SIGNATURES {
            return Err(NoteError::Malformed("the note has too many signatures"));
        }
        let (name, id, signature) = parse_signature_line(line)?;
        if name != key.name || id != key.id {
            continue; // Another key's signature: ignored, as the spec requires.
        }
        let signature: &[u8; 64] = signature
            .as_slice()
            .try_into()
            .map_err(|_| NoteError::BadSignature { key: key.label() })?;
        key.key
            .verify(text.as_bytes(), signature)
            .map_err(|_| NoteError::BadSignature { key: key.label() })?;
        verified = true;
    }
    if !verified {
        return Err(NoteError::NotSigned { key: key.label() });
    }
    Ok(text)
}

/// Splits `— <name> <base64>` into the name, the key id and the signature bytes.
fn parse_signature_line(line: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteError::Malformed(
            "a signature line does not start with an em dash and a space",
        ))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(NoteError::Malformed("a signature line lacks its signature"))?;
    if !is_valid_signer_name(name) {
        return Err(NoteError::Malformed(
            "a signature line's key name is empty or holds a space or `+`",
        ));
    }
    let bytes = STANDARD
        .decode(b64)
        .map_err(|_| NoteError::Malformed("a signature is not valid base64"))?;
    let Some((id, signature)) = bytes.split_first_chunk::<4>() else {
        return Err(NoteError::Malformed("a signature is too short"));
    };
    if signature.is_empty() {
        return Err(NoteError::Malformed("a signature is too short"));
    }
    Ok((name, u32::from_be_bytes(*id), signature.to_vec()))
}
