//! `/v1/requests`: data-subject rights requests (admin only). Requests entered here are
//! staff requests: they start `verifying` and move on only with `verify`. Completing one
//! fulfils it (export, rectification, restriction, objection, opt-out, erasure).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use privet_core::{
    Origin, Regime, RequestError, RequestKind, RequestStatus, RightsRequest, RightsRequestId,
};
use privet_vault::{Completion, RequestInput, RequestSummary, Vault};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::audit::Params;
use super::subjects::subject_id;
use crate::extract::{ApiJson, Auth};
use crate::problem::{Problem, ProblemKind};

/// A new rights request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    /// The subject (`sub_…`).
    subject_id: String,
    /// `access`, `portability`, `rectification`, `erasure`, `restriction`, `objection`,
    /// `opt_out_sale_sharing`.
    kind: String,
    /// `gdpr` or `ccpa` (default: the server's `requests.default_regime`).
    regime: Option<String>,
    /// The purpose objected to (objections only).
    purpose: Option<String>,
}

/// A request just created.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedRequest {
    /// Its id (`dsr_…`).
    id: String,
    /// `verifying` (staff requests wait for verification).
    status: String,
    /// When it was received (RFC 3339).
    received_at: String,
    /// When it must be answered by (RFC 3339).
    due_at: String,
}

/// `{"method"}`: how the requester's identity was checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    /// E.g. `id_document`, `email_link`, `account_login` (1 to 500 characters, no value).
    method: String,
}

/// `{"reason"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    /// Why (1 to 500 characters; no personal data).
    reason: String,
}

/// `{"data"?}`: the corrected profile values of a rectification (other kinds take none).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteBody {
    /// Corrected profile fields, validated like any write.
    #[schema(value_type = Option<Object>)]
    data: Option<Map<String, Value>>,
}

/// A request as shown, with `overdue`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Shown {
    /// The request: `id`, `subject`, `kind`, `purpose`, `regime`, `origin`, `status`,
    /// `received_at`, `due_at`, `extended`, `verified_at`, `closed_at`, `history`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    request: RightsRequest,
    /// Open past its due date.
    overdue: bool,
    /// The export an access or portability request produced on completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    export: Option<privet_vault::SubjectExport>,
}

/// A listing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestList {
    #[schema(value_type = Vec<Object>)]
    requests: Vec<RequestSummary>,
}

fn request_id(raw: &str) -> Result<RightsRequestId, Problem> {
    raw.parse().map_err(|e: privet_core::IdParseError| {
        Problem::new(ProblemKind::MalformedRequest, e.to_string())
    })
}

fn invalid(e: RequestError) -> Problem {
    Problem::from(privet_vault::VaultError::Request(e))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn shown(
    vault: &Vault,
    request: RightsRequest,
    export: Option<privet_vault::SubjectExport>,
) -> Json<Shown> {
    let overdue = vault.is_overdue(&request);
    Json(Shown {
        request,
        overdue,
        export,
    })
}

/// Record a rights request entered by staff (starts `verifying`).
#[utoipa::path(post, path = "/v1/requests", tag = "rights", security(("api_key" = [])),
    request_body = CreateRequest,
    responses(
        (status = 201, body = CreatedRequest),
        (status = 404, description = "Unknown or erased subject", content_type = "application/problem+json"),
        (status = 422, description = "Unknown kind or regime, purpose missing or out of place", content_type = "application/problem+json"),
    ))]
pub(crate) async fn create(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<Response, Problem> {
    let subject = subject_id(&body.subject_id)?;
    let kind: RequestKind = body.kind.parse().map_err(invalid)?;
    let regime: Option<Regime> = body
        .regime
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(invalid)?;
    let r = vault
        .create_request(
            &actor,
            RequestInput {
                subject,
                kind,
                regime,
                purpose: body.purpose,
                origin: Origin::Staff,
            },
        )
        .await?;
    let location = format!("/v1/requests/{}", r.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(CreatedRequest {
            id: r.id.to_string(),
            status: r.status.as_str().to_owned(),
            received_at: rfc3339(r.received_at),
            due_at: rfc3339(r.due_at),
        }),
    )
        .into_response())
}

/// List rights requests by due date (soonest first), each with `overdue`.
#[utoipa::path(get, path = "/v1/requests", tag = "rights", security(("api_key" = [])),
    params(
        ("status" = Option<String>, Query, description = "Only this status"),
        ("due_before" = Option<String>, Query, description = "Only those due before this time (RFC 3339)"),
        ("subject_id" = Option<String>, Query, description = "Only this subject's"),
        ("limit" = Option<u32>, Query, description = "At most this many (default 100, 1..=1000)")),
    responses((status = 200, body = RequestList)))]
pub(crate) async fn list(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    params: Params,
) -> Result<Json<RequestList>, Problem> {
    let status: Option<RequestStatus> = params
        .text("status")
        .map(str::parse)
        .transpose()
        .map_err(invalid)?;
    let due_before = params
        .text("due_before")
        .map(|t| OffsetDateTime::parse(t, &Rfc3339))
        .transpose()
        .map_err(|_| {
            Problem::new(
                ProblemKind::MalformedRequest,
                "`due_before` must be an RFC 3339 time, e.g. 2026-12-31T00:00:00Z",
            )
        })?;
    let subject = params.text("subject_id").map(subject_id).transpose()?;
    let limit = match params.text("limit") {
        None => None,
        Some(l) => Some(l.parse::<u32>().map_err(|_| {
            Problem::new(ProblemKind::MalformedRequest, "`limit` must be 1 to 1000")
        })?),
    };
    let requests = vault
        .rights_requests(&actor, status, due_before, subject, limit)
        .await?;
    Ok(Json(RequestList { requests }))
}

/// One rights request with its history.
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "rights", security(("api_key" = [])),
    params(("id" = String, Path, description = "Request id (`dsr_…`)")),
    responses((status = 200, body = Shown),
        (status = 404, description = "Unknown request", content_type = "application/problem+json")))]
pub(crate) async fn show(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<Shown>, Problem> {
    let r = vault.rights_request(&actor, request_id(&id)?).await?;
    Ok(shown(&vault, r, None))
}

/// Record that the requester's identity was verified, and how.
#[utoipa::path(post, path = "/v1/requests/{id}/verify", tag = "rights", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = VerifyBody,
    responses((status = 200, body = Shown),
        (status = 409, description = "Closed or already verified", content_type = "application/problem+json")))]
pub(crate) async fn verify(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Json<Shown>, Problem> {
    let r = vault
        .verify_request(&actor, request_id(&id)?, &body.method)
        .await?;
    Ok(shown(&vault, r, None))
}

/// Extend the deadline once to the legal maximum (GDPR +2 months, CCPA +45 days).
#[utoipa::path(post, path = "/v1/requests/{id}/extend", tag = "rights", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = Shown),
        (status = 422, description = "Already extended to the legal maximum (`extension-limit`)", content_type = "application/problem+json")))]
pub(crate) async fn extend(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Shown>, Problem> {
    let r = vault
        .extend_request(&actor, request_id(&id)?, &body.reason)
        .await?;
    Ok(shown(&vault, r, None))
}

/// Reject the request, with a reason.
#[utoipa::path(post, path = "/v1/requests/{id}/reject", tag = "rights", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = Shown),
        (status = 409, description = "Already closed", content_type = "application/problem+json")))]
pub(crate) async fn reject(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Shown>, Problem> {
    let r = vault
        .reject_request(&actor, request_id(&id)?, &body.reason)
        .await?;
    Ok(shown(&vault, r, None))
}

/// Complete (fulfil) a verified request. Access and portability return the export with the
/// request; a rectification takes the corrected values in `data`.
#[utoipa::path(post, path = "/v1/requests/{id}/complete", tag = "rights", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = CompleteBody,
    responses((status = 200, body = Shown),
        (status = 409, description = "Already closed, or not verified", content_type = "application/problem+json"),
        (status = 422, description = "Invalid rectification values; nothing changed", content_type = "application/problem+json")))]
pub(crate) async fn complete(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Shown>, Problem> {
    // The body is optional (only a rectification carries one).
    let body: CompleteBody = if body.iter().all(u8::is_ascii_whitespace) {
        CompleteBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Problem::new(
                ProblemKind::MalformedRequest,
                format!(
                    "the body must be {{\"data\": {{…}}}} or empty (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?
    };
    let Completion { request, export } = vault
        .complete_request(&actor, request_id(&id)?, body.data.as_ref())
        .await?;
    Ok(shown(&vault, request, export))
}
