//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use privet_vault::Vault;
use serde_json::{Value, json};

use crate::problem::{Problem, ProblemKind};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "The store is unreachable", content_type = "application/problem+json"),
))]
pub(crate) async fn readyz(State(vault): State<Vault>) -> Result<Json<Value>, Problem> {
    match vault.ready().await {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(cause = %e, "not ready");
            Err(Problem::new(
                ProblemKind::Unavailable,
                "The data store is unreachable",
            ))
        }
    }
}
