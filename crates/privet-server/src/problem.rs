//! RFC 9457 problem details. [`ProblemKind`] is the one table of stable problem types: each
//! has its `type` URI, HTTP status and title. The `type` strings never change once released.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use privet_vault::VaultError;
use serde::Serialize;
use serde_json::{Value, json};

/// Every kind of problem the API reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Body or parameters are not well-formed (bad JSON, wrong shape, bad id).
    MalformedRequest,
    /// The data does not match the schema (undeclared fields, wrong types, limits).
    ValidationFailed,
    /// Some items of a batch are invalid; nothing was written.
    BatchInvalid,
    /// A read without a purpose.
    MissingPurpose,
    /// A purpose the schema does not declare.
    UnknownPurpose,
    /// A collection the schema does not declare.
    UnknownCollection,
    /// A collection of the wrong kind for this route.
    WrongCollectionKind,
    /// A lookup by a field that is not searchable.
    NotSearchable,
    /// A lookup by a field not declared for the stated purpose.
    LookupNotAllowed,
    /// Missing or invalid API key.
    Unauthorized,
    /// The caller's roles do not allow this (`reason` says why).
    Forbidden,
    /// The caller's principal is suspended until an admin lifts it.
    Suspended,
    /// A write would collect data without a lawful basis (e.g. consent not given).
    NoLawfulBasis,
    /// A consent change the rules refuse (`code` says which rule).
    InvalidConsent,
    /// A role that does not match the schema.
    InvalidRole,
    /// Unknown role.
    RoleNotFound,
    /// Unknown principal.
    PrincipalNotFound,
    /// A role or principal of that name exists.
    AlreadyExists,
    /// Unknown or erased subject.
    SubjectNotFound,
    /// Unknown record.
    RecordNotFound,
    /// No such route.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// A concurrent change won.
    Conflict,
    /// A unique value already in use.
    Duplicate,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The store is unreachable; retry later.
    Unavailable,
    /// No audit proof exists for these sizes (beyond the log, index not below size, from
    /// above to).
    InvalidProofRequest,
    /// Stored data failed integrity checks.
    IntegrityFailure,
    /// Anything else.
    Internal,
    /// Unknown rights request.
    RequestNotFound,
    /// A rights request that is not well-formed: unknown kind, regime or status, a purpose
    /// missing or out of place, an empty or overlong reason (`code` says which).
    InvalidRightsRequest,
    /// A step the request's status does not allow: completing or rejecting a closed
    /// request, completing an unverified one, verifying twice (`code` says which).
    RequestStateConflict,
    /// A second extension: the deadline is already at the legal maximum.
    ExtensionLimit,
    /// The subject was erased already.
    AlreadyErased,
}

impl ProblemKind {
    /// `(slug, status, title)`. The slug is the stable part of the `type` URI.
    pub fn info(self) -> (&'static str, StatusCode, &'static str) {
        use ProblemKind::*;
        match self {
            MalformedRequest => (
                "malformed-request",
                StatusCode::BAD_REQUEST,
                "Malformed request",
            ),
            ValidationFailed => (
                "validation-failed",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Data does not match the schema",
            ),
            BatchInvalid => (
                "batch-invalid",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Some items of the batch are invalid",
            ),
            MissingPurpose => (
                "missing-purpose",
                StatusCode::BAD_REQUEST,
                "A purpose is required",
            ),
            UnknownPurpose => (
                "unknown-purpose",
                StatusCode::BAD_REQUEST,
                "Unknown purpose",
            ),
            UnknownCollection => (
                "unknown-collection",
                StatusCode::NOT_FOUND,
                "Unknown collection",
            ),
            WrongCollectionKind => (
                "wrong-collection-kind",
                StatusCode::BAD_REQUEST,
                "Wrong kind of collection",
            ),
            NotSearchable => (
                "not-searchable",
                StatusCode::BAD_REQUEST,
                "Field is not searchable",
            ),
            LookupNotAllowed => (
                "lookup-not-allowed",
                StatusCode::FORBIDDEN,
                "Field may not be used for this purpose",
            ),
            Unauthorized => (
                "unauthorized",
                StatusCode::UNAUTHORIZED,
                "Missing or invalid API key",
            ),
            Forbidden => (
                "forbidden",
                StatusCode::FORBIDDEN,
                "Not allowed for this caller",
            ),
            Suspended => ("suspended", StatusCode::FORBIDDEN, "Principal suspended"),
            NoLawfulBasis => (
                "no-lawful-basis",
                StatusCode::FORBIDDEN,
                "No lawful basis to collect this data",
            ),
            InvalidConsent => (
                "invalid-consent",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Consent change refused",
            ),
            InvalidRole => (
                "invalid-role",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Role does not match the schema",
            ),
            RoleNotFound => ("role-not-found", StatusCode::NOT_FOUND, "Role not found"),
            PrincipalNotFound => (
                "principal-not-found",
                StatusCode::NOT_FOUND,
                "Principal not found",
            ),
            AlreadyExists => ("already-exists", StatusCode::CONFLICT, "Already exists"),
            SubjectNotFound => (
                "subject-not-found",
                StatusCode::NOT_FOUND,
                "Subject not found",
            ),
            RecordNotFound => (
                "record-not-found",
                StatusCode::NOT_FOUND,
                "Record not found",
            ),
            NotFound => ("not-found", StatusCode::NOT_FOUND, "No such route"),
            MethodNotAllowed => (
                "method-not-allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            Conflict => ("conflict", StatusCode::CONFLICT, "Changed concurrently"),
            Duplicate => ("duplicate", StatusCode::CONFLICT, "Value already in use"),
            PayloadTooLarge => (
                "payload-too-large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
            ),
            UnsupportedMediaType => (
                "unsupported-media-type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Body must be application/json",
            ),
            Unavailable => (
                "unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
            ),
            InvalidProofRequest => (
                "invalid-proof-request",
                StatusCode::UNPROCESSABLE_ENTITY,
                "No proof for these tree sizes",
            ),
            RequestNotFound => (
                "request-not-found",
                StatusCode::NOT_FOUND,
                "Rights request not found",
            ),
            InvalidRightsRequest => (
                "invalid-rights-request",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid rights request",
            ),
            RequestStateConflict => (
                "request-state-conflict",
                StatusCode::CONFLICT,
                "Not possible in the request's status",
            ),
            ExtensionLimit => (
                "extension-limit",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Deadline already at the legal maximum",
            ),
            IntegrityFailure => (
                "integrity-failure",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Stored data failed integrity checks",
            ),
            Internal => (
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            ),
            AlreadyErased => (
                "already-erased",
                StatusCode::CONFLICT,
                "Subject already erased",
            ),
        }
    }

    /// The `type` URI.
    pub fn type_uri(self) -> String {
        format!("urn:privet:problem:{}", self.info().0)
    }
}

/// A problem response.
#[derive(Debug)]
pub struct Problem {
    kind: ProblemKind,
    detail: String,
    extra: Option<(&'static str, Value)>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    ty: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    /// A problem with a human-readable detail (which never contains a personal value).
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            extra: None,
        }
    }

    /// Adds one extension member (e.g. `errors`).
    pub fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra = Some((key, value));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// An opaque 500: the cause is logged under a fresh error id, the client sees the id only.
    pub fn internal(kind: ProblemKind, cause: &dyn std::fmt::Display) -> Self {
        let error_id = privet_core::RequestId::new()
            .to_string()
            .replacen("req_", "err_", 1);
        tracing::error!(error_id = %error_id, cause = %cause, "internal error");
        Self::new(
            kind,
            format!("Something went wrong on our side. Reference: {error_id}"),
        )
        .with("error_id", Value::String(error_id))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (_, status, title) = self.kind.info();
        let body = Body {
            ty: self.kind.type_uri(),
            title,
            status: status.as_u16(),
            detail: &self.detail,
        };
        let mut value = serde_json::to_value(body).unwrap_or_else(|_| json!({}));
        if let (Some((k, v)), Some(obj)) = (self.extra, value.as_object_mut()) {
            obj.insert(k.to_owned(), v);
        }
        let mut resp = (status, axum::Json(value)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The store is down or restarting: clients may retry shortly.
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

fn field_errors(errors: &privet_core::ValidationErrors) -> Value {
    Value::Array(
        errors
            .0
            .iter()
            .map(|e| json!({"field": e.field, "code": e.code.as_str(), "message": e.message}))
            .collect(),
    )
}

impl From<VaultError> for Problem {
    fn from(e: VaultError) -> Self {
        use ProblemKind as K;
        let detail = e.to_string();
        match e {
            VaultError::Invalid(errors) => {
                Problem::new(K::ValidationFailed, detail).with("errors", field_errors(&errors))
            }
            VaultError::InvalidBatch(items) => {
                let list = items
                    .iter()
                    .map(|i| json!({"index": i.index, "errors": field_errors(&i.errors)}))
                    .collect();
                Problem::new(K::BatchInvalid, detail).with("items", Value::Array(list))
            }
            VaultError::BadRequest(_) => Problem::new(K::MalformedRequest, detail),
            VaultError::UnknownCollection(_) => Problem::new(K::UnknownCollection, detail),
            VaultError::WrongCollectionKind { .. } | VaultError::NoProfile => {
                Problem::new(K::WrongCollectionKind, detail)
            }
            VaultError::UnknownPurpose(_) => Problem::new(K::UnknownPurpose, detail),
            VaultError::MissingPurpose => Problem::new(
                K::MissingPurpose,
                "State the purpose of this read with `?purpose=` or the `Privet-Purpose` header",
            ),
            VaultError::NotSearchable(_) => Problem::new(K::NotSearchable, detail),
            VaultError::LookupNotAllowed { .. } => Problem::new(K::LookupNotAllowed, detail),
            VaultError::SubjectNotFound(_) => Problem::new(K::SubjectNotFound, detail),
            VaultError::RecordNotFound(_) => Problem::new(K::RecordNotFound, detail),
            VaultError::Conflict => Problem::new(K::Conflict, detail),
            VaultError::Duplicate { .. } => Problem::new(K::Duplicate, detail),
            VaultError::Unauthorized => Problem::new(K::Unauthorized, detail),
            VaultError::Forbidden { reason, .. } => Problem::new(K::Forbidden, detail)
                .with("reason", Value::String(reason.as_str().to_owned())),
            VaultError::Suspended(_) => Problem::new(
                K::Suspended,
                "This principal is suspended (access monitoring or an admin); an admin must lift the suspension",
            ),
            VaultError::NotAdmin => Problem::new(K::Forbidden, detail)
                .with("reason", Value::String("not_admin".to_owned())),
            VaultError::WriteRefused(refused) => {
                let list = refused
                    .0
                    .iter()
                    .map(|r| {
                        json!({"field": r.field, "reason": r.reason.as_str(),
                               "needs_consent_to": r.needs_consent_to})
                    })
                    .collect();
                Problem::new(K::NoLawfulBasis, detail).with("errors", Value::Array(list))
            }
            VaultError::Consent(ref c) => match c {
                privet_core::ConsentError::UnknownPurpose { .. } => {
                    Problem::new(K::UnknownPurpose, detail)
                }
                _ => Problem::new(K::InvalidConsent, detail)
                    .with("code", Value::String(c.code().to_owned())),
            },
            VaultError::InvalidRole(errors) => {
                let list = errors
                    .problems()
                    .iter()
                    .map(|p| json!({"path": p.path, "message": p.message}))
                    .collect();
                Problem::new(K::InvalidRole, detail).with("errors", Value::Array(list))
            }
            VaultError::RoleNotFound(_) => Problem::new(K::RoleNotFound, detail),
            VaultError::PrincipalNotFound(_) => Problem::new(K::PrincipalNotFound, detail),
            VaultError::AlreadyExists(_) => Problem::new(K::AlreadyExists, detail),
            VaultError::Integrity { .. } => Problem::internal(K::IntegrityFailure, &detail),
            VaultError::AlreadyErased { at, .. } => Problem::new(K::AlreadyErased, detail).with(
                "erased_at",
                Value::String(
                    at.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                ),
            ),
            VaultError::Audit(privet_vault::AuditError::Proof(_)) => {
                Problem::new(K::InvalidProofRequest, detail)
            }
            VaultError::RequestNotFound(_) => Problem::new(K::RequestNotFound, detail),
            VaultError::Request(ref e) => {
                use privet_core::RequestError as R;
                let kind = match e {
                    R::ExtensionLimit { .. } => K::ExtensionLimit,
                    R::BadTransition { .. } | R::Closed(_) | R::NotVerified => {
                        K::RequestStateConflict
                    }
                    _ => K::InvalidRightsRequest,
                };
                Problem::new(kind, detail).with("code", Value::String(e.code().to_owned()))
            }
            ref err if err.is_unavailable() => {
                tracing::warn!(cause = %err, "store unavailable");
                Problem::new(
                    K::Unavailable,
                    "The data store is unavailable; retry shortly",
                )
            }
            other => Problem::internal(K::Internal, &other),
        }
    }
}
