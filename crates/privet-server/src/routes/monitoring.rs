//! `GET /metrics` (Prometheus, behind its own bearer token by default) and
//! `DELETE /v1/principals/{id}/suspension` (an admin lifts a suspension).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use privet_vault::Vault;

use crate::extract::{Auth, bearer};
use crate::metrics::{CONTENT_TYPE, Metrics, MetricsAccess};
use crate::problem::{Problem, ProblemKind};

/// The `/metrics` route, reading `metrics` and guarded as `access` says.
pub(crate) fn metrics_route(metrics: Metrics, access: MetricsAccess) -> MethodRouter<Vault> {
    get(move |State(vault): State<Vault>, headers: HeaderMap| {
        scrape(vault, metrics.clone(), access.clone(), headers)
    })
}

async fn scrape(
    vault: Vault,
    metrics: Metrics,
    access: MetricsAccess,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    match &access {
        MetricsAccess::Off => {
            return Err(Problem::new(
                ProblemKind::NotFound,
                "Metrics are off: set metrics.token_file (or PRIVET_METRICS_TOKEN), or metrics.public = true",
            ));
        }
        MetricsAccess::Token(token) => {
            if !bearer(&headers).is_some_and(|t| token.matches(t.as_bytes())) {
                return Err(Problem::new(
                    ProblemKind::Unauthorized,
                    "Send `Authorization: Bearer <metrics token>`",
                ));
            }
        }
        MetricsAccess::Public => {}
    }
    let size = vault
        .store()
        .audit_len()
        .await
        .map_err(|e| Problem::from(privet_vault::VaultError::from(e)))?;
    let mut resp = metrics.render(size).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}

/// Lift a principal's suspension (effective on its next request, on every server).
#[utoipa::path(delete, path = "/v1/principals/{id}/suspension", tag = "admin",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 204), (status = 404, description = "No such principal")))]
pub(crate) async fn unsuspend(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    vault.unsuspend_principal(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
