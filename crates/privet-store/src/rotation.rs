//! The rows key rotation moves: wrapped keys read page by page for re-wrapping, and records
//! whose blind-index entries are keyed from an older master-key version.
//!
//! Wrapped keys live in more than one table (subject keys today; a retained key per
//! retention class beside them), so rotation speaks of a [`KeyTable`] and a
//! [`WrappedKeyRow`] that names its row by subject and slot: supporting another table is
//! one variant here and one arm per backend.

use privet_core::SubjectId;

use crate::RecordRow;

/// A table of wrapped keys that rotation re-wraps. Deliberately exhaustive, like `Op`: a
/// new table is a compile error in every backend until it is handled there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyTable {
    /// `subjects`: one subject key per subject (slot `""`).
    Subjects,
    /// `retained_keys`: a subject's key per retention class (slot = the class), including the
    /// kept keys of erased subjects.
    Retained,
}

impl KeyTable {
    /// Every table, in the order rotation visits them.
    pub const ALL: &'static [KeyTable] = &[KeyTable::Subjects, KeyTable::Retained];

    /// The table's name, for progress, status and audit reasons.
    pub fn name(self) -> &'static str {
        match self {
            KeyTable::Subjects => "subject_keys",
            KeyTable::Retained => "retained_keys",
        }
    }
}

/// One wrapped key as rotation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKeyRow {
    /// The subject the key belongs to.
    pub subject: SubjectId,
    /// Which of the subject's keys in its table (`""` for the subject key; a retention class
    /// for a retained key).
    pub slot: String,
    /// The master-key version that wraps it.
    pub key_version: u32,
    /// The wrapped key.
    pub wrapped_key: Vec<u8>,
}

/// A record whose blind-index entries include one keyed from an older version than the
/// target, with its subject's wrapped key, so the vault can decrypt and re-index it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleIndexRecord {
    /// The record (its `version` is the optimistic check of the re-index).
    pub record: RecordRow,
    /// The subject key's version.
    pub key_version: u32,
    /// The subject key, wrapped.
    pub wrapped_key: Vec<u8>,
}
