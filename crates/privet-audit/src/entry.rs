//! The audit entry: who did what to which subject's data, for what purpose, and what the
//! policy decided. Never a personal value.

use privet_core::{RecordId, RequestId, SubjectId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A subject was created (with its profile, if any).
    SubjectCreate,
    /// A subject's profile was read.
    SubjectRead,
    /// A subject's profile was changed.
    SubjectUpdate,
    /// Subjects were looked up through a blind index.
    SubjectLookup,
    /// A subject was erased (its keys destroyed).
    SubjectErase,
    /// A record was added to a records collection.
    RecordCreate,
    /// Records of a collection were read.
    RecordRead,
    /// An administrative act (vault initialised, key created, …).
    Admin,
    /// A consent was recorded (granted, denied, withdrawn), or a GPC opt-out.
    ConsentUpdate,
    /// A subject's consents, their history or a receipt were read.
    ConsentRead,
    /// A restriction of processing was set or lifted.
    RestrictionUpdate,
    /// A principal was created (with its API key).
    PrincipalCreate,
    /// A principal and its keys were revoked.
    PrincipalRevoke,
    /// A role was created or replaced.
    RoleUpdate,
    /// Access monitoring raised an alert: a principal crossed a threshold (`reason` names
    /// the kind and the principal, `count` the value that crossed it).
    Alert,
    /// A principal was suspended (its keys refused until an admin lifts it).
    PrincipalSuspend,
    /// A principal's suspension was lifted.
    PrincipalUnsuspend,
    /// Everything held about a subject was exported (purpose `subject_access`).
    SubjectExport,
    /// A data-subject rights request was created or took a step (`reason`:
    /// `step:kind:status:request id`), or its notification could not be delivered
    /// (`notification_undeliverable:message id:request id:code`).
    RightsRequest,
    /// Retention deleted expired data (`reason`: `record_expired`, `field_expired`), or a
    /// line of a purge report (`reason` `purge_report…`, with `count`).
    RetentionPurge,
    /// A legal hold was set (`reason` `hold:<code>`) or lifted (`released`).
    LegalHold,
}

/// The outcome of the policy decision for this access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// Everything asked for was released or written.
    Allowed,
    /// Some fields were withheld.
    Partial,
    /// Nothing was released.
    Denied,
}

/// A field the policy withheld, and why (a stable reason code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithheldField {
    /// Field name.
    pub field: String,
    /// Reason code, e.g. `purpose_not_declared`.
    pub reason: String,
}

/// An encoded audit entry: the exact leaf bytes and their RFC 9162 leaf hash. Encoding and
/// hashing happen where the entry is made, so a store's single writer only appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The leaf bytes ([`AuditEntry::leaf_bytes`]).
    pub bytes: Vec<u8>,
    /// `SHA-256(0x00 || bytes)`.
    pub hash: [u8; 32],
    /// The entry's subject, if any, so a store can index entries by subject without
    /// decoding them.
    pub subject: Option<SubjectId>,
}

/// One audit entry. Its serialized form ([`AuditEntry::leaf_bytes`]) is the Merkle leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Who: a principal id, or `admin` for the vault's admin key, or `cli` for local commands.
    pub actor: String,
    /// What.
    pub action: Action,
    /// Which subject, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<SubjectId>,
    /// Which collection, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Which record, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordId>,
    /// Field names released or written (names only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Fields withheld, with reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldField>,
    /// The purpose stated for the access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The policy decision.
    pub decision: Decision,
    /// Free-form reason code for administrative entries or denials (never a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Number of items, for batch operations (e.g. subjects imported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The request this entry belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
}

impl AuditEntry {
    /// A minimal entry; callers fill in the optional parts.
    pub fn new(time: OffsetDateTime, actor: impl Into<String>, action: Action) -> Self {
        Self {
            time,
            actor: actor.into(),
            action,
            subject: None,
            collection: None,
            record: None,
            fields: Vec::new(),
            withheld: Vec::new(),
            purpose: None,
            decision: Decision::Allowed,
            reason: None,
            count: None,
            request_id: None,
        }
    }

    /// The exact bytes hashed as this entry's Merkle leaf: compact JSON with a fixed field
    /// order (the struct's), so the same entry always yields the same leaf.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        // Serializing this struct cannot fail: every field is a plain string, number or list.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The entry encoded and hashed as a Merkle leaf, ready to append.
    pub fn to_leaf(&self) -> Leaf {
        let bytes = self.leaf_bytes();
        let hash = crate::leaf_hash(&bytes);
        Leaf {
            bytes,
            hash,
            subject: self.subject,
        }
    }

    /// Decodes an entry from its leaf bytes.
    pub fn from_leaf_bytes(leaf: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_bytes_round_trip_and_are_stable() {
        let mut e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "admin", Action::SubjectRead);
        e.subject = Some(SubjectId::new());
        e.fields = vec!["email".into()];
        e.purpose = Some("essential.service".into());
        let leaf = e.leaf_bytes();
        assert_eq!(AuditEntry::from_leaf_bytes(&leaf).unwrap(), e);
        assert_eq!(e.leaf_bytes(), leaf);
        assert!(
            String::from_utf8(leaf)
                .unwrap()
                .starts_with("{\"time\":\"1970-01-01T00:00:00Z\"")
        );
    }
}
