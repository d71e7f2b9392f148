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

/// What [`crate::Store::lookup_and_load`] returns: every hit loaded, and a metadata value, all
/// as of one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoundSubjects {
    /// One entry per (subject, record) hit, ordered by record id: the subject as
    /// [`crate::Store::load_subject`] with that record returns it (its `records` hold just
    /// the record hit).
    pub found: Vec<crate::SubjectData>,
    /// The metadata value asked for, if set.
    pub meta: Option<Vec<u8>>,
}
