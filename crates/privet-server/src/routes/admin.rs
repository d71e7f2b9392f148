//! `/v1/roles` and `/v1/principals`: who may see what, for which purposes, and how. Admin
//! only; an API key is shown once, in the response that creates it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use privet_core::Role;
use privet_vault::{PrincipalInfo, Vault};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::extract::{ApiJson, Auth};
use crate::problem::Problem;

/// A role: `{"name": "mailer", "purposes": ["marketing.communications.email"],
/// "collections": {"customers": {"email": "plain", "name": "masked"}}, "admin"?: false}`;
/// access is `plain`, `masked` or `tokenized`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body for OpenAPI; the handlers take `Role` itself
pub(crate) struct RoleBody {
    name: String,
    purposes: Vec<String>,
    #[schema(value_type = Object)]
    collections: serde_json::Value,
    admin: Option<bool>,
}

/// Roles.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleList {
    #[schema(value_type = Vec<Object>)]
    roles: Vec<Role>,
}

/// Create a role (`PUT /v1/roles/{name}` replaces one).
#[utoipa::path(post, path = "/v1/roles", tag = "admin", request_body = RoleBody,
    security(("api_key" = [])),
    responses((status = 201), (status = 409, description = "Exists"),
              (status = 422, description = "Unknown purposes, collections or fields (listed by path)")))]
pub(crate) async fn create_role(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    ApiJson(role): ApiJson<Role>,
) -> Result<Response, Problem> {
    let name = role.name.clone();
    vault.put_role(&actor, role.clone(), false).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/roles/{name}"))],
        Json(role),
    )
        .into_response())
}

/// Replace a role; holders get the new grants on their next request.
#[utoipa::path(put, path = "/v1/roles/{name}", tag = "admin", request_body = RoleBody,
    params(("name" = String, Path)), security(("api_key" = [])),
    responses((status = 200), (status = 404, description = "No such role")))]
pub(crate) async fn replace_role(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(name): Path<String>,
    ApiJson(role): ApiJson<Role>,
) -> Result<Json<Role>, Problem> {
    if role.name != name {
        return Err(Problem::new(
            crate::problem::ProblemKind::MalformedRequest,
            "The role's name differs from the one in the path",
        ));
    }
    vault.put_role(&actor, role.clone(), true).await?;
    Ok(Json(role))
}

/// One role.
#[utoipa::path(get, path = "/v1/roles/{name}", tag = "admin",
    params(("name" = String, Path)), security(("api_key" = [])), responses((status = 200)))]
pub(crate) async fn role(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(name): Path<String>,
) -> Result<Json<Role>, Problem> {
    Ok(Json(vault.role(&actor, &name).await?))
}

/// Every role.
#[utoipa::path(get, path = "/v1/roles", tag = "admin", security(("api_key" = [])),
    responses((status = 200, body = RoleList)))]
pub(crate) async fn roles(
    State(vault): State<Vault>,
    Auth(actor): Auth,
) -> Result<Json<RoleList>, Problem> {
    Ok(Json(RoleList {
        roles: vault.roles(&actor).await?,
    }))
}

/// A new principal: `{"name": "newsletter-service", "roles": ["mailer"], "expires_at"?}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrincipalBody {
    name: String,
    roles: Vec<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<OffsetDateTime>,
}

/// A created principal and its API key (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PrincipalCreated {
    id: String,
    api_key: String,
}

/// Principals.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PrincipalList {
    #[schema(value_type = Vec<Object>)]
    principals: Vec<PrincipalInfo>,
}

/// Create a principal with a fresh API key.
#[utoipa::path(post, path = "/v1/principals", tag = "admin", request_body = PrincipalBody,
    security(("api_key" = [])),
    responses((status = 201, body = PrincipalCreated), (status = 404, description = "Unknown role")))]
pub(crate) async fn create_principal(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<PrincipalBody>,
) -> Result<Response, Problem> {
    let p = vault
        .create_principal(&actor, &body.name, &body.roles, body.expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/v1/principals/{}", p.id))],
        Json(PrincipalCreated {
            api_key: p.api_key.expose().to_owned(),
            id: p.id,
        }),
    )
        .into_response())
}

/// Every principal, with its roles, what they grant, and its status.
#[utoipa::path(get, path = "/v1/principals", tag = "admin", security(("api_key" = [])),
    responses((status = 200, body = PrincipalList)))]
pub(crate) async fn principals(
    State(vault): State<Vault>,
    Auth(actor): Auth,
) -> Result<Json<PrincipalList>, Problem> {
    Ok(Json(PrincipalList {
        principals: vault.principals(&actor).await?,
    }))
}

/// Revoke a principal and all its keys (effective on the next request, on every server).
#[utoipa::path(delete, path = "/v1/principals/{id}", tag = "admin",
    params(("id" = String, Path)), security(("api_key" = [])),
    responses((status = 204), (status = 404, description = "No such principal")))]
pub(crate) async fn revoke_principal(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    vault.revoke_principal(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
