//! What a blind-index lookup of several terms returns ([`crate::Store::lookup_terms`]).

use privet_core::{RecordId, SubjectId};

/// The entries a lookup found and a metadata value, both as of one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TermHits {
    /// The (subject, record) pairs found, ordered by record id, each once.
    pub hits: Vec<(SubjectId, RecordId)>,
    /// The metadata value asked for, if set.
    pub meta: Option<Vec<u8>>,
}
