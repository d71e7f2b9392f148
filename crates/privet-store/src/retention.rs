//! Rows for retention and legal holds: what a purge scans (times, consent states, records'
//! ciphertexts it may drop but never reads) and the hold that suspends purges and erasures.

use privet_core::{RecordId, SubjectId};
use time::OffsetDateTime;

use crate::{ConsentEventRow, RecordRow};

/// A legal hold on a subject: while it is in force, purges skip the subject and erasures are
/// refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHoldRow {
    /// Why (a reason code or short text without personal data).
    pub reason: String,
    /// Since when.
    pub at: OffsetDateTime,
    /// Who set it (a principal id).
    pub actor: String,
}

/// One subject as a retention run sees it, read in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRow {
    /// The subject.
    pub subject: SubjectId,
    /// Its creation time.
    pub created_at: OffsetDateTime,
    /// Its last activity (its creation time until something else happened).
    pub last_activity: OffsetDateTime,
    /// The legal hold in force, if any.
    pub legal_hold: Option<LegalHoldRow>,
    /// The latest consent event per purpose, ordered by purpose.
    pub consents: Vec<ConsentEventRow>,
    /// Every record of the subject, of every collection, ordered by id.
    pub records: Vec<RecordRow>,
}

/// A kept record (see [`crate::Op::RetainRecords`]) in the order its retention ends, without
/// its ciphertext: what a retention run deletes once `keep_until` has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedDueRow {
    /// The record.
    pub record: RecordId,
    /// Its (erased) subject.
    pub subject: SubjectId,
    /// Its collection.
    pub collection: String,
    /// The retention class whose key encrypts it.
    pub class: String,
    /// Until when the law obliges keeping it.
    pub keep_until: OffsetDateTime,
}
