//! Privet's use cases. Each public method of [`Vault`] is one thing a user can do — create a
//! subject, read it for a purpose, look it up, add a record, erase — and does it the same way
//! for the HTTP API and the CLI: validate and decide (privet-core), encrypt or decrypt
//! (privet-crypto), then store and audit in one transaction (privet-store).
//!
//! The audit trail's own use cases — signed checkpoints, proofs, the subject's access log,
//! verification of the whole log — live here too, with the signing keys ([`Signers`]).
//!
//! This crate knows nothing of HTTP or terminals and writes no SQL. It is the only place that
//! holds keys and plaintext together, and it never logs a personal value.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod admin;
mod audit;
mod audit_verify;
mod auth;
mod clock;
mod consent;
mod erase;
mod error;
mod export;
mod export_format;
mod fulfil;
mod import;
mod keys;
mod legal_hold;
mod monitor;
mod outbox;
mod portal;
mod portal_data;
mod read;
mod receipt;
mod recipient;
mod requests;
mod retained;
mod retention;
mod retention_kept;
mod retention_plan;
mod rotation;
mod seal;
mod vault;
mod view;
mod window;
mod write;

pub use admin::{MAX_PRINCIPAL_NAME_LEN, NewPrincipal, PrincipalInfo};
pub use audit::{AccessLogEntry, AuditError, AuditRecord, DecodedEntry, MAX_AUDIT_PAGE, Signers};
pub use audit_verify::{verify_audit_log, verify_audit_log_with_keys};
pub use auth::{ADMIN_PRINCIPAL, ADMIN_ROLE, Actor, Principal};
pub use clock::{Clock, SystemClock};
pub use consent::{ConsentNow, ConsentOverview, Restriction};
pub use erase::{ErasedCollection, ErasureCertificate, ErasureProof, KeptCollection, KeptPurpose};
pub use error::{ItemErrors, VaultError};
pub use export::{
    ExportCollection, ExportPurpose, ExportRecord, ExportValue, SUBJECT_ACCESS, SubjectExport,
};
pub use export_format::ExportFormat;
pub use fulfil::Completion;
pub use import::ImportOutcome;
pub use legal_hold::{LegalHold, MAX_HOLD_REASON_LEN};
pub use monitor::{
    Alert, AlertKind, MAX_THRESHOLD, MONITOR_ACTOR, Monitor, MonitorConfig, MonitorObserver,
};
pub use outbox::{OutboundMessage, SendError, Sender};
pub use portal::{
    DEFAULT_LINK_TTL, DEFAULT_SESSION_TTL, MAX_LINK_TTL, PortalLink, PortalRefusal, PortalSession,
};
pub use portal_data::{PortalCollection, PortalConsent, PortalField, PortalRecord};
pub use receipt::{
    ConsentReceipt, RECEIPT_HEADER, ReceiptError, ReceiptPurpose, SignedReceipt, sign_receipt,
    verify_receipt,
};
pub use requests::{MAX_REQUEST_PAGE, RequestInput, RequestSummary};
pub use retention::{
    PurgeLine, PurgeOptions, PurgeProgress, PurgeReport, RETAINED_PREFIX, RETENTION_ACTOR,
};
pub use retention_plan::{PlanLine, RetentionPlan};
pub use rotation::{KeyStatus, KeyTableCount, RotationProgress, RotationSummary, VersionStatus};
pub use vault::Vault;
pub use view::{RecordView, SubjectView, Withheld};

pub use privet_core::Schema;
pub use privet_crypto::{ApiKey, Keyring};
