//! What a read returns: the released values and, for every field not released, the reason.

use privet_core::{RecordId, SubjectId};
use serde::Serialize;
use time::OffsetDateTime;

/// A field the policy withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Withheld {
    /// The field.
    pub field: String,
    /// A stable reason code (`purpose_not_declared`, `no_consent`, …).
    pub reason: String,
}

/// A subject's profile as released for one purpose.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectView {
    /// The subject.
    pub id: SubjectId,
    /// Released fields and their (decrypted, normalized) values.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Declared fields not released, whether or not the subject has a value for them (so a
    /// withheld list never reveals which fields are filled in).
    pub withheld: Vec<Withheld>,
}

/// One record as released for one purpose.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    /// The record.
    pub id: RecordId,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Released fields and their values.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Declared fields not released, with reasons.
    pub withheld: Vec<Withheld>,
}
