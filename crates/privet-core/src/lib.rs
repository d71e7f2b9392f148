//! Privet's pure domain: typed ids, the schema (data inventory) and its taxonomy, validation
//! and normalization of personal values, and the policy engine that decides what a caller
//! may see.
//!
//! This crate owns every decision and does no I/O: no files, no network, no clock, no
//! randomness beyond fresh ids. Callers hand it text and values; it hands back validated
//! structures or errors that name fields, never personal values.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod ids;
pub mod policy;
pub mod schema;
pub mod sensitive;
pub mod taxonomy;
pub mod validate;

pub use ids::{IdParseError, PrincipalId, RecordId, RequestId, SubjectId};
pub use policy::{ConsentState, ConsentView, Decision, NoConsents, WithholdReason, decide};
pub use schema::{
    Collection, CollectionKind, EXAMPLE_SCHEMA, Field, FieldType, LegalBasis, PeriodUnit, Purpose,
    Retention, RetentionAnchor, RetentionPeriod, Schema, SchemaErrors, SchemaProblem,
};
pub use sensitive::Sensitive;
pub use taxonomy::Category;
pub use validate::{
    FieldError, FieldErrorCode, ValidatedData, ValidatedValue, ValidationErrors, WriteMode,
};
