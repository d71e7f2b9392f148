//! The rows a store moves. Every byte string here is a ciphertext, a wrapped key, an HMAC or
//! an audit leaf: nothing a store sees can be read without keys it never has.

use privet_audit::{AuditEntry, Leaf};
use privet_core::{MessageId, RecordId, SubjectId};

use crate::{OutboxRow, RequestEventRow, RightsRequestRow};
use time::OffsetDateTime;

/// A data subject as stored: its id and its wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRow {
    /// The subject.
    pub id: SubjectId,
    /// Master-key version that wraps `wrapped_key`.
    pub key_version: u32,
    /// The subject key, wrapped (AEAD) by that master-key version.
    pub wrapped_key: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A subject's key of a retention class (e.g. `legal_obligation`): a second key that
/// encrypts the records the law obliges the business to keep, so that an erasure can destroy
/// the subject's own key and keep these. It outlives its subject while records are kept
/// under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedKeyRow {
    /// The subject.
    pub subject: SubjectId,
    /// The retention class, e.g. `legal_obligation`.
    pub class: String,
    /// Master-key version that wraps `wrapped_key`.
    pub key_version: u32,
    /// The class key, wrapped (AEAD, AAD binding subject, class and version).
    pub wrapped_key: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// What an erasure kept of a subject: the erasure time, the keys of its retention classes
/// that still hold records, and the kept records asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedData {
    /// When the subject was erased.
    pub erased_at: OffsetDateTime,
    /// The retention-class keys still held.
    pub keys: Vec<RetainedKeyRow>,
    /// Kept records of the requested collection, oldest first.
    pub records: Vec<RetainedRecord>,
}

/// A record an erasure kept, with its class and until when it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedRecord {
    /// The record as it was when the subject was erased.
    pub record: RecordRow,
    /// The retention class whose key encrypts it.
    pub class: String,
    /// Until when the law obliges keeping it.
    pub keep_until: OffsetDateTime,
}

/// One record of a collection, its field values each a separate ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The record.
    pub id: RecordId,
    /// Its subject.
    pub subject: SubjectId,
    /// Its collection.
    pub collection: String,
    /// Optimistic-concurrency version, 1 on creation, +1 per update.
    pub version: i64,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last update time.
    pub updated_at: OffsetDateTime,
    /// `(field name, ciphertext)` pairs.
    pub fields: Vec<(String, Vec<u8>)>,
}

/// A subject with the records a read asked for, and everything the policy needs to decide
/// what of them may be released, all read in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectData {
    /// The subject and its wrapped key.
    pub subject: SubjectRow,
    /// Records of the requested collection, oldest first.
    pub records: Vec<RecordRow>,
    /// The current consent state: the latest event of each purpose that has one (whatever its
    /// time or expiry), ordered by purpose.
    pub consents: Vec<ConsentEventRow>,
    /// The restriction of processing in force, if any.
    pub restriction: Option<RestrictionRow>,
}

/// One event of a subject's consent ledger (the fields of an ISO/IEC TS 27560 consent
/// record). The ledger is append-only; the latest event of a purpose is its current state.
/// Enumerations are kept as strings: the store does not interpret them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEventRow {
    /// The subject.
    pub subject: SubjectId,
    /// The purpose (a data-use name, e.g. `marketing.communications.email`).
    pub purpose: String,
    /// `granted`, `denied` or `withdrawn`.
    pub state: String,
    /// When the subject gave or refused it.
    pub at: OffsetDateTime,
    /// How it was collected (`web_form`, `api`, `portal`, `gpc`, `import`).
    pub source: String,
    /// The version of the privacy notice shown.
    pub notice_version: String,
    /// When a grant lapses, if it does.
    pub expires_at: Option<OffsetDateTime>,
    /// Who recorded it (a principal id).
    pub actor: String,
}

/// A restriction of processing (GDPR Art. 18) in force on a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestrictionRow {
    /// The subject.
    pub subject: SubjectId,
    /// Why (a reason code or short text without personal data).
    pub reason: String,
    /// When it was set.
    pub at: OffsetDateTime,
    /// Who set it (a principal id).
    pub actor: String,
}

/// A principal: a service or a person that holds API keys and is granted roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRow {
    /// Its id (`prn_…`).
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// Names of the roles granted to it, in the order given (a role that does not exist
    /// grants nothing).
    pub roles: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When it stops authenticating, if it does.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it was suspended, if it is (until an admin lifts it).
    pub suspended_at: Option<OffsetDateTime>,
    /// Why it was suspended (a reason code, never a value), if it is.
    pub suspension_reason: Option<String>,
}

/// A role: a named grant, its definition owned (and parsed) by the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    /// Its unique name.
    pub name: String,
    /// The definition (JSON the vault writes and reads; opaque to the store).
    pub definition: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A blind-index entry: an HMAC term pointing at a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Collection of the indexed field.
    pub collection: String,
    /// The indexed field.
    pub field: String,
    /// HMAC of the normalized value.
    pub term: Vec<u8>,
    /// The subject.
    pub subject: SubjectId,
    /// The record holding the value.
    pub record: RecordId,
    /// Whether the schema declares the field unique (a second subject with the term fails).
    pub unique: bool,
    /// The master-key version the term's HMAC key is derived from.
    pub key_version: u32,
}

/// A registered API key (only its keyed hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Public lookup prefix.
    pub prefix: String,
    /// HMAC-SHA256 of the whole key under the server secret.
    pub hash: Vec<u8>,
    /// Who holds it (`admin` for the key made by `init`).
    pub principal: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When it stops authenticating, if it does.
    pub expires_at: Option<OffsetDateTime>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// One stored audit leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLeaf {
    /// 0-based position in the log.
    pub index: u64,
    /// The exact leaf bytes.
    pub leaf: Vec<u8>,
    /// RFC 9162 leaf hash of `leaf`, as stored.
    pub leaf_hash: [u8; 32],
    /// The leaf-chain value stored with it ([`privet_audit::chain_hash`]); `None` if the
    /// row has none (which only tampering leaves behind).
    pub chain: Option<[u8; 32]>,
}

/// A signed checkpoint of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// The tree size it covers.
    pub size: u64,
    /// The signed note (C2SP tlog-checkpoint text and its signature lines).
    pub note: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// One write operation. Deliberately exhaustive: a new op must be a compile error in every
/// backend until it is implemented there.
#[derive(Debug, Clone)]
pub enum Op {
    /// Creates a subject with its wrapped key. Fails with `AlreadyExists` if the id exists or
    /// was erased (an erased id never comes back).
    CreateSubject(SubjectRow),
    /// Fails with `SubjectNotFound` unless the subject exists. Lets a read's audit entry
    /// commit only if the subject was not erased meanwhile.
    RequireSubject(SubjectId),
    /// Inserts a new record (`expected_version: None`), or replaces an existing one whose
    /// stored version equals `expected_version` (its version becomes `record.version`).
    PutRecord {
        /// The record with its new field ciphertexts and version.
        record: RecordRow,
        /// The version the change is based on.
        expected_version: Option<i64>,
    },
    /// Adds a blind-index entry.
    PutIndex(IndexEntry),
    /// Removes the blind-index entries of one field of one record.
    DeleteIndex {
        /// The record.
        record: RecordId,
        /// The field.
        field: String,
    },
    /// Crypto-shreds a subject: destroys its wrapped key, deletes its records, index entries,
    /// consent ledger and restriction, destroys its retention-class keys except those of
    /// classes that kept records ([`Op::RetainRecords`]), and writes the erasure ledger entry
    /// (id and time only). Fails with `SubjectNotFound` unless the subject exists, and with
    /// `LegalHold` while the subject is under a legal hold.
    EraseSubject {
        /// The subject.
        subject: SubjectId,
        /// Erasure time.
        at: OffsetDateTime,
    },
    /// Sets a metadata value.
    PutMeta {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
    /// Registers an API key.
    PutApiKey(ApiKeyRow),
    /// Appends an event to a subject's consent ledger. Fails with `SubjectNotFound` unless the
    /// subject exists, and holds off a concurrent erasure until the write set commits, so no
    /// consent outlives its subject. Events of one subject keep their append order.
    AppendConsent(ConsentEventRow),
    /// Sets (`Some`, replacing any earlier one) or lifts (`None`) a subject's restriction of
    /// processing. Fails with `SubjectNotFound` unless the subject exists; a restriction row
    /// for another subject than `subject` is refused (`Invalid`).
    SetRestriction {
        /// The subject.
        subject: SubjectId,
        /// The restriction now in force, or `None` to lift it.
        restriction: Option<RestrictionRow>,
    },
    /// Registers a principal with its roles. Fails with `AlreadyExists` if its id or its name
    /// is taken.
    PutPrincipal(PrincipalRow),
    /// Revokes a principal and every API key it holds, from `at` on (a principal or key
    /// revoked earlier keeps its first revocation time). Fails with `PrincipalNotFound`.
    RevokePrincipal {
        /// The principal.
        id: String,
        /// Revocation time.
        at: OffsetDateTime,
    },
    /// Suspends a principal from `at` on, with a reason code: its keys are refused until
    /// the suspension is lifted. A principal suspended already keeps its first time and
    /// reason. Fails with `PrincipalNotFound`.
    SuspendPrincipal {
        /// The principal.
        id: String,
        /// Suspension time.
        at: OffsetDateTime,
        /// Why (a reason code such as `distinct_subjects`).
        reason: String,
    },
    /// Lifts a principal's suspension (nothing to do if it is not suspended). Fails with
    /// `PrincipalNotFound`.
    LiftSuspension {
        /// The principal.
        id: String,
    },
    /// Registers a role. Fails with `AlreadyExists` if the name is taken.
    PutRole(RoleRow),
    /// Replaces the definition of an existing role (its creation time is kept). Fails with
    /// `RoleNotFound` if there is no role of that name.
    ReplaceRole(RoleRow),
    /// Stores a signed checkpoint of the audit log. The store does not check the signature
    /// (verification does), only that `size` does not exceed the log (`Invalid`).
    PutCheckpoint(CheckpointRow),
    /// Inserts a rights request (`expected_version: None`; `AlreadyExists` if the id is
    /// taken) or updates one whose stored version equals `expected_version` (`Conflict`
    /// otherwise), and appends `events` to its history (their `seq` continue the stored ones;
    /// the new version is `request.version`).
    PutRightsRequest {
        /// The request as it is now.
        request: RightsRequestRow,
        /// The events to append.
        events: Vec<RequestEventRow>,
        /// The version the change is based on.
        expected_version: Option<i64>,
    },
    /// Queues a notification.
    QueueMessage(OutboxRow),
    /// Deletes a delivered notification (nothing to do if it is gone).
    DeleteMessage(MessageId),
    /// Deletes every notification for `subject` queued before `before` (a restore replaying
    /// the subject's erasure: those were delivered, or were due, before it was erased).
    DeleteMessagesOf {
        /// The subject.
        subject: SubjectId,
        /// Messages created before this time go.
        before: OffsetDateTime,
    },
    /// Records a failed delivery: the attempts made, when to try next, and why it failed.
    DeferMessage {
        /// The message.
        id: MessageId,
        /// Attempts made so far.
        attempts: i64,
        /// Not before.
        next_attempt_at: OffsetDateTime,
        /// Why (a code or status, no value).
        last_error: String,
    },
    /// Stores a subject's retention-class key. Fails with `SubjectNotFound` unless the
    /// subject exists, and with `AlreadyExists` if it has a key of that class already.
    PutRetainedKey(RetainedKeyRow),
    /// Moves records of a subject out of its erasable records into the kept ones, under
    /// `class`, each kept until the time given, with their blind-index entries deleted. Put
    /// it before the [`Op::EraseSubject`] of the same write set: that erasure then keeps
    /// the subject's key of `class`, and destroys its other keys and everything else. Fails
    /// with `RecordNotFound` for a record that is not the subject's.
    RetainRecords {
        /// The subject.
        subject: SubjectId,
        /// The retention class whose key encrypts the records.
        class: String,
        /// The records and until when each is kept.
        records: Vec<(RecordId, OffsetDateTime)>,
    },
    /// Records activity of a subject at `at`: its last activity becomes the later of the
    /// stored one and `at`. Fails with `SubjectNotFound` unless the subject exists.
    TouchSubject {
        /// The subject.
        subject: SubjectId,
        /// When it was active.
        at: OffsetDateTime,
    },
    /// Sets (`Some`, replacing any earlier one) or lifts (`None`) a subject's legal hold.
    /// Fails with `SubjectNotFound` unless the subject exists.
    SetLegalHold {
        /// The subject.
        subject: SubjectId,
        /// The hold now in force, or `None` to lift it.
        hold: Option<crate::LegalHoldRow>,
    },
    /// Deletes one record of `subject` and its blind-index entries. Fails with
    /// `RecordNotFound` if there is no such record of that subject, `VersionConflict` if its
    /// version is not `expected_version`.
    DeleteRecord {
        /// The record.
        record: RecordId,
        /// Its subject.
        subject: SubjectId,
        /// The version the deletion was decided on.
        expected_version: i64,
    },
    /// The precondition of a retention purge of a subject: fails with `SubjectNotFound` if
    /// it is gone, `LegalHold` if a hold is in force, and `ActivityConflict` if its last
    /// activity is not `last_activity` or it no longer has `records` records (it changed
    /// after the purge decided). Holds off every other write of the subject (activity,
    /// holds, new records) until the write set commits.
    GuardRetention {
        /// The subject.
        subject: SubjectId,
        /// The last activity the purge decided on.
        last_activity: OffsetDateTime,
        /// How many records (of every collection) the subject had when the purge decided.
        records: u64,
    },
    /// Spends a single-use portal token (a link exchanged for a session, or a session
    /// ended): records its id until `expires_at`. Fails with `AlreadyExists` if the id was
    /// spent before — on any server sharing the store — so a token is used at most once.
    /// Also forgets spent ids whose tokens expired over an hour before `at` (such tokens are
    /// refused by their own expiry; the hour allows for clock skew between servers).
    SpendPortalToken {
        /// The token's random id.
        id: String,
        /// When the token expires.
        expires_at: OffsetDateTime,
        /// Now.
        at: OffsetDateTime,
    },
    /// Replaces a wrapped key of `table` by the same key wrapped under another version, only
    /// if the stored key is still wrapped under `from_version` (the optimistic check of a
    /// re-wrap): a row erased or re-wrapped meanwhile is left alone, and the op succeeds.
    RewrapKey {
        /// The table.
        table: crate::KeyTable,
        /// The subject the key belongs to.
        subject: SubjectId,
        /// The key's slot in the table (`""` for the subject key).
        slot: String,
        /// The version the re-wrap read.
        from_version: u32,
        /// The version that wraps `wrapped_key`.
        to_version: u32,
        /// The key wrapped under `to_version`.
        wrapped_key: Vec<u8>,
    },
    /// Replaces every blind-index entry of `record` by `entries`, only if the stored record
    /// is still at `version` (the optimistic check of a re-index): a record updated or
    /// erased meanwhile is left alone (its writer indexed it), and the op succeeds.
    ReindexRecord {
        /// The record.
        record: RecordId,
        /// The record version the re-index read and decrypted.
        version: i64,
        /// The new entries (every field of the record that is indexed).
        entries: Vec<IndexEntry>,
    },
    /// Deletes a kept record (see [`Op::RetainRecords`]) whose retention has ended, and then
    /// destroys the subject's key of the record's class if it keeps no other record and the
    /// subject is erased. Fails with `RecordNotFound` unless `record` is a kept record of
    /// `subject` whose `keep_until` is at or before `now`.
    PurgeRetained {
        /// The kept record.
        record: RecordId,
        /// Its subject.
        subject: SubjectId,
        /// The moment the purge decided on.
        now: OffsetDateTime,
    },
}

/// Everything one use case writes, committed atomically together with its audit entries.
#[derive(Debug, Clone, Default)]
pub struct WriteSet {
    /// The operations, applied in order.
    pub ops: Vec<Op>,
    /// Audit entries (encoded as leaves) appended in the same transaction, in order.
    pub audit: Vec<Leaf>,
}

impl WriteSet {
    /// An empty write set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an op.
    pub fn op(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }

    /// Adds an audit entry.
    pub fn audit(mut self, entry: AuditEntry) -> Self {
        self.push_audit(&entry);
        self
    }

    /// Adds an audit entry (encoded and hashed here, on the caller's thread).
    pub fn push_audit(&mut self, entry: &AuditEntry) {
        self.audit.push(entry.to_leaf());
    }
}

/// What a committed write set produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Log index of the first audit entry appended (if any).
    pub first_audit_index: Option<u64>,
}
