//! `/v1/subjects/{id}/legal-hold`: put a subject under a legal hold (purges skip it, erasures
//! are refused with a `legal-hold` problem), show it, lift it. Admin only; audited.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use privet_vault::{LegalHold, Vault};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::subjects::subject_id;
use crate::extract::{ApiJson, Auth};
use crate::problem::Problem;

/// A legal hold: `{"reason": "litigation-2026-17"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    /// A reason code (1–64 of `a-z 0-9 . _ : -`), written to the audit trail; never
    /// personal data.
    reason: String,
}

/// The hold in force on a subject, if any.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HoldView {
    subject: String,
    /// `{reason, at, actor}`, or `null` when the subject is not held.
    #[schema(value_type = Option<Object>)]
    legal_hold: Option<LegalHold>,
}

/// Put a subject under a legal hold (replacing any earlier one).
#[utoipa::path(put, path = "/v1/subjects/{id}/legal-hold", tag = "retention",
    request_body = HoldBody, params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 204), (status = 404, description = "unknown or erased subject")))]
pub(crate) async fn hold(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HoldBody>,
) -> Result<StatusCode, Problem> {
    let id = subject_id(&id)?;
    vault.set_legal_hold(&actor, id, Some(&body.reason)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The legal hold on a subject.
#[utoipa::path(get, path = "/v1/subjects/{id}/legal-hold", tag = "retention",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 200, body = HoldView)))]
pub(crate) async fn show(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<HoldView>, Problem> {
    let sid = subject_id(&id)?;
    let legal_hold = vault.legal_hold(&actor, sid).await?;
    Ok(Json(HoldView {
        subject: sid.to_string(),
        legal_hold,
    }))
}

/// Lift a subject's legal hold.
#[utoipa::path(delete, path = "/v1/subjects/{id}/legal-hold", tag = "retention",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 204), (status = 404, description = "unknown or erased subject")))]
pub(crate) async fn release(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = subject_id(&id)?;
    vault.set_legal_hold(&actor, id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
