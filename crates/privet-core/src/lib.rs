//! Privet's pure domain: typed ids, the schema (data inventory) and its taxonomy, validation
//! and normalization of personal values, the consent model, roles and grants, the policy
//! engine that decides what a caller may see, and masking.
//!
//! This crate owns every decision and does no I/O: no files, no network, no clock, no
//! randomness beyond fresh ids. Callers hand it text and values; it hands back validated
//! structures or errors that name fields, never personal values.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod consent;
pub mod erasure;
pub mod grant;
pub mod ids;
pub mod mask;
pub mod policy;
pub mod rights;
pub mod schema;
pub mod sensitive;
pub mod taxonomy;
pub mod validate;

pub use consent::{
    ChangeContext, ConsentChange, ConsentError, ConsentEvent, ConsentSource, ConsentState,
    ConsentStatus, ConsentView, CurrentConsents, EffectiveConsent, NoConsents, gpc_denial_events,
    gpc_denials,
};
pub use grant::{Access, Grant, Grants, Role, RoleErrors, RoleProblem};
pub use ids::{
    IdParseError, MessageId, PrincipalId, ReceiptId, RecordId, RequestId, RightsRequestId,
    SubjectId,
};
pub use mask::{mask, token_input};
pub use policy::{
    Decision, Outcome, ReadContext, WithholdReason, WriteRefusal, WriteRefused, check_lookup,
    check_write,
};
pub use rights::{
    NewRequest, Origin, Regime, RequestError, RequestEvent, RequestKind, RequestStatus,
    RightsRequest,
};
pub use schema::{
    Collection, CollectionKind, EXAMPLE_SCHEMA, Field, FieldType, LegalBasis, PeriodUnit, Purpose,
    Retention, RetentionAnchor, RetentionPeriod, Schema, SchemaErrors, SchemaProblem,
};
pub use sensitive::Sensitive;
pub use taxonomy::Category;
pub use validate::{
    FieldError, FieldErrorCode, ValidatedData, ValidatedValue, ValidationErrors, WriteMode,
};
