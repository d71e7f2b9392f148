//! `/v1/subjects/{id}/consents` and `/restriction`: the consent ledger (record, current
//! state, history, signed receipt) and the restriction of processing.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use privet_core::{ConsentChange, ConsentEvent};
use privet_vault::{ConsentOverview, SignedReceipt, Vault};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::subjects::subject_id;
use crate::extract::{ApiJson, Auth, gpc};
use crate::problem::Problem;

/// A consent decision: `{"state": "granted"|"denied"|"withdrawn", "source": "web_form"|"api"|
/// "portal"|"gpc"|"import", "notice_version": "2026-01", "expires_at"?: RFC 3339}`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body for OpenAPI; the handler takes ConsentChange itself
pub(crate) struct ConsentBody {
    state: String,
    source: String,
    notice_version: String,
    expires_at: Option<String>,
}

/// The events a consent change recorded (with `Sec-GPC: 1`, also the GPC opt-outs).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Recorded {
    #[schema(value_type = Vec<Object>)]
    recorded: Vec<ConsentEvent>,
}

/// A restriction of processing: `{"reason": "…"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestrictionBody {
    /// Why (e.g. `accuracy_contested`); never personal data.
    reason: String,
}

/// Record a consent decision for one purpose.
#[utoipa::path(put, path = "/v1/subjects/{id}/consents/{purpose}", tag = "consents",
    request_body = ConsentBody, security(("api_key" = [])),
    params(("id" = String, Path), ("purpose" = String, Path),
           ("Sec-GPC" = Option<String>, Header, description = "`1`: also deny every sale-or-sharing purpose; such a purpose cannot be granted with the signal")),
    responses(
        (status = 200, body = Recorded),
        (status = 400, description = "Unknown purpose, unknown state or source", content_type = "application/problem+json"),
        (status = 422, description = "Expiry in the past, GPC forbids the grant, …", content_type = "application/problem+json"),
    ))]
pub(crate) async fn put(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path((id, purpose)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(change): ApiJson<ConsentChange>,
) -> Result<Json<Recorded>, Problem> {
    let id = subject_id(&id)?;
    let recorded = vault
        .set_consent(&actor, id, &purpose, change, gpc(&headers))
        .await?;
    Ok(Json(Recorded { recorded }))
}

/// The consent in force per purpose, and the restriction if any.
#[utoipa::path(get, path = "/v1/subjects/{id}/consents", tag = "consents",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 200, description = "`{subject, consents: [{purpose, state, effective, at, source, notice_version, expires_at}], restriction}`")))]
pub(crate) async fn current(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<ConsentOverview>, Problem> {
    let id = subject_id(&id)?;
    Ok(Json(vault.consents(&actor, id).await?))
}

/// The whole consent history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct History {
    subject: String,
    #[schema(value_type = Vec<Object>)]
    events: Vec<ConsentEvent>,
}

/// Every consent event of a subject, oldest first.
#[utoipa::path(get, path = "/v1/subjects/{id}/consents/history", tag = "consents",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 200, body = History)))]
pub(crate) async fn history(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<History>, Problem> {
    let sid = subject_id(&id)?;
    let events = vault.consent_history(&actor, sid).await?;
    Ok(Json(History {
        subject: sid.to_string(),
        events,
    }))
}

/// Restrict processing (GDPR Art. 18): until lifted, only legal-obligation purposes read.
#[utoipa::path(put, path = "/v1/subjects/{id}/restriction", tag = "consents",
    request_body = RestrictionBody, params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 204)))]
pub(crate) async fn restrict(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RestrictionBody>,
) -> Result<StatusCode, Problem> {
    let id = subject_id(&id)?;
    vault
        .set_restriction(&actor, id, Some(&body.reason))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift the restriction of processing.
#[utoipa::path(delete, path = "/v1/subjects/{id}/restriction", tag = "consents",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 204)))]
pub(crate) async fn lift(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = subject_id(&id)?;
    vault.set_restriction(&actor, id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A signed consent receipt: the consent in force per purpose (ISO/IEC TS 27560 fields),
/// as JSON and as the C2SP signed note to hand to the customer, with the verifier key.
#[utoipa::path(get, path = "/v1/subjects/{id}/consents/receipt", tag = "consents",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 200, description = "`{receipt: {version, receipt_id, issued_at, controller, subject_id, purposes: [...]}, signed: \"<signed note>\", verifier_key}`")))]
pub(crate) async fn receipt(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<SignedReceipt>, Problem> {
    let id = subject_id(&id)?;
    Ok(Json(vault.signed_consent_receipt(&actor, id).await?))
}

/// The verifier key of consent receipts (C2SP note verifier key, `text/plain`; public).
#[utoipa::path(get, path = "/v1/consents/receipt-key", tag = "consents",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub(crate) async fn receipt_key(State(vault): State<Vault>) -> Result<Response, Problem> {
    let key = vault.receipt_key()?.to_string();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], key).into_response())
}
