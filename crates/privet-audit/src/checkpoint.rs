//! Checkpoints (c2sp.org/tlog-checkpoint): the signed head of the log.
//!
//! The text is the origin line (the log's identity), the tree size in decimal (no leading
//! zeros), the root hash in standard base64, then optional non-empty extension lines, each
//! line ending in a newline:
//!
//! ```text
//! privet.example/audit
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! ```
//!
//! Signed, it is a signed note ([`crate::note`]).

use std::fmt;

use privet_crypto::NoteSigner;

use crate::b64::{decode_hash, encode_hash};
use crate::error::NoteError;
use crate::hash::Hash;
use crate::note::{VerifierKey, sign_note, verify_note};

/// A checkpoint: the root hash of the log at a tree size, under the log's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

/// A checkpoint line: non-empty, without control characters (so without newlines).
fn check_line(line: &str, what: &'static str) -> Result<(), NoteError> {
    if line.is_empty() || line.chars().any(char::is_control) {
        return Err(NoteError::MalformedCheckpoint(what));
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint for `origin` at `size` with root `root`.
    ///
    /// # Errors
    /// [`NoteError::MalformedCheckpoint`] if `origin` is empty or holds a control character.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Checkpoint, NoteError> {
        check_line(origin, "the origin is empty or holds a control character")?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Adds an extension line (opaque; the spec discourages them).
    ///
    /// # Errors
    /// [`NoteError::MalformedCheckpoint`] if `line` is empty or holds a control character.
    pub fn with_extension(mut self, line: &str) -> Result<Checkpoint, NoteError> {
        check_line(
            line,
            "an extension line is empty or holds a control character",
        )?;
        self.extensions.push(line.to_owned());
        Ok(self)
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of `size` leaves.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The checkpoint's text (the note body), every line ending in a newline.
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// Parses a checkpoint text, strictly.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(NoteError::MalformedCheckpoint(
                "the text does not end with a newline",
            ));
        };
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::MalformedCheckpoint(
                "expected an origin, a tree size and a root hash line",
            ));
        };
        let mut checkpoint = Checkpoint::new(origin, parse_size(size)?, parse_root(root)?)?;
        for line in lines {
            checkpoint = checkpoint.with_extension(line)?;
        }
        Ok(checkpoint)
    }

    /// The signed note of this checkpoint, signed by `signer`.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        sign_note(&self.to_text(), signer)
    }
}

fn parse_size(line: &str) -> Result<u64, NoteError> {
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(NoteError::MalformedCheckpoint(
            "the tree size is not a decimal number without leading zeros",
        ));
    }
    line.parse()
        .map_err(|_| NoteError::MalformedCheckpoint("the tree size is too large"))
}

fn parse_root(line: &str) -> Result<Hash, NoteError> {
    decode_hash(line).ok_or(NoteError::MalformedCheckpoint(
        "the root hash is not the standard base64 of 32 bytes",
    ))
}

/// The checkpoint text.
impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", encode_hash(&self.root))?;
        for line in &self.extensions {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Verifies a signed checkpoint: its signature by `key`, its format, and that it is for
/// the log `origin`.
pub fn verify_checkpoint(
    note: &str,
    key: &VerifierKey,
    origin: &str,
) -> Result<Checkpoint, NoteError> {
    let checkpoint = Checkpoint::parse(verify_note(note, key)?)?;
    if checkpoint.origin != origin {
        return Err(NoteError::WrongOrigin {
            expected: origin.to_owned(),
            found: checkpoint.origin,
        });
    }
    Ok(checkpoint)
}
