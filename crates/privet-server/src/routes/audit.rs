//! `/v1/audit/*` and `/v1/subjects/{id}/access-log`: the tamper-evident audit trail. A third
//! party can check the log with nothing but these responses and RFC 9162: signed checkpoints
//! (C2SP signed notes, `text/plain`), the verifier key, the exact leaf bytes, and inclusion
//! and consistency proofs (hashes in standard base64). Admin only, except the verifier key,
//! which is public.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use privet_audit::{ConsistencyProof, InclusionProof};
use privet_vault::{AccessLogEntry, AuditRecord, Vault};
use serde::Serialize;
use utoipa::ToSchema;

use super::subjects::subject_id;
use crate::extract::Auth;
use crate::problem::{Problem, ProblemKind};

/// Query parameters, as text: each route parses the ones it knows, with messages that name
/// the parameter (unknown ones are ignored, as everywhere in the API).
pub(crate) struct Params(HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Params(q))
            .map_err(|_: QueryRejection| {
                Problem::new(
                    ProblemKind::MalformedRequest,
                    "The query string is malformed",
                )
            })
    }
}

impl Params {
    /// A text parameter, if given.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A non-negative integer parameter, if given.
    fn number(&self, name: &str) -> Result<Option<u64>, Problem> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                Problem::new(
                    ProblemKind::MalformedRequest,
                    format!("`{name}` must be a non-negative integer"),
                )
            }),
        }
    }

    fn required(&self, name: &str) -> Result<u64, Problem> {
        self.number(name)?.ok_or_else(|| {
            Problem::new(
                ProblemKind::MalformedRequest,
                format!("`{name}` is required"),
            )
        })
    }

    fn limit(&self) -> Result<Option<u32>, Problem> {
        match self.number("limit")? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| Problem::new(ProblemKind::MalformedRequest, "`limit` is too large")),
        }
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The latest signed checkpoint of the audit log (a C2SP tlog-checkpoint in a C2SP signed
/// note), made now if there is none or the log grew since the last one.
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit", security(("api_key" = [])),
    responses(
        (status = 200, content_type = "text/plain", body = String,
         description = "`<origin>\\n<tree size>\\n<base64 root hash>\\n\\n— <key name> <base64(key id ‖ Ed25519 signature)>\\n`"),
        (status = 403, description = "Not an admin", content_type = "application/problem+json"),
    ))]
pub(crate) async fn checkpoint(
    State(vault): State<Vault>,
    Auth(actor): Auth,
) -> Result<Response, Problem> {
    Ok(text(vault.checkpoint(&actor).await?))
}

/// The verifier key of the log's checkpoints, in the C2SP note verifier-key format
/// (`<name>+<key id hex>+<base64(0x01 ‖ Ed25519 public key)>`). Public: no API key needed.
#[utoipa::path(get, path = "/v1/audit/key", tag = "audit",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub(crate) async fn key(State(vault): State<Vault>) -> Result<Response, Problem> {
    Ok(text(vault.audit_key()?.to_string()))
}

/// A page of audit entries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Entries {
    /// `[{index, leaf: base64 of the exact leaf bytes, entry: {decoded fields}}]`.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<AuditRecord>,
}

/// Audit entries in index order: each with its index, the exact bytes hashed as its Merkle
/// leaf (standard base64), and the decoded entry. Page with `from` (the next index).
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", security(("api_key" = [])),
    params(
        ("from" = Option<u64>, Query, description = "First index (default 0)"),
        ("limit" = Option<u32>, Query, description = "At most this many (default 100, 1..=1000)"),
        ("subject" = Option<String>, Query, description = "Only entries about this subject (`sub_…`)"),
    ),
    responses(
        (status = 200, body = Entries),
        (status = 400, description = "A parameter is not a number, or `limit` is out of range", content_type = "application/problem+json"),
    ))]
pub(crate) async fn entries(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    params: Params,
) -> Result<Json<Entries>, Problem> {
    let subject = params.0.get("subject").map(|s| subject_id(s)).transpose()?;
    let entries = vault
        .audit_entries(&actor, params.number("from")?, params.limit()?, subject)
        .await?;
    Ok(Json(Entries { entries }))
}

/// The inclusion proof of entry `index` in the tree of the first `size` entries (default:
/// the whole log): RFC 9162 `PATH(index, D[size])`, leaf side first.
#[utoipa::path(get, path = "/v1/audit/proof/inclusion", tag = "audit", security(("api_key" = [])),
    params(("index" = u64, Query), ("size" = Option<u64>, Query, description = "Tree size (default: the log's size)")),
    responses(
        (status = 200, description = "`{index, tree_size, leaf_hash, hashes: [...]}`, hashes in standard base64", body = Object),
        (status = 400, description = "A parameter is missing or not a number", content_type = "application/problem+json"),
        (status = 422, description = "`size` beyond the log, or `index` not below `size`", content_type = "application/problem+json"),
    ))]
pub(crate) async fn inclusion(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    params: Params,
) -> Result<Json<InclusionProof>, Problem> {
    let index = params.required("index")?;
    let size = params.number("size")?;
    Ok(Json(vault.inclusion_proof(&actor, index, size).await?))
}

/// The consistency proof from the tree of the first `from` entries to the tree of the first
/// `to` entries (default: the whole log): RFC 9162 `PROOF(from, D[to])`.
#[utoipa::path(get, path = "/v1/audit/proof/consistency", tag = "audit", security(("api_key" = [])),
    params(("from" = u64, Query), ("to" = Option<u64>, Query, description = "Tree size (default: the log's size)")),
    responses(
        (status = 200, description = "`{from, to, hashes: [...]}`, hashes in standard base64", body = Object),
        (status = 400, description = "A parameter is missing or not a number", content_type = "application/problem+json"),
        (status = 422, description = "`to` beyond the log, or `from` above `to`", content_type = "application/problem+json"),
    ))]
pub(crate) async fn consistency(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    params: Params,
) -> Result<Json<ConsistencyProof>, Problem> {
    let from = params.required("from")?;
    let to = params.number("to")?;
    Ok(Json(vault.consistency_proof(&actor, from, to).await?))
}

/// One subject's access log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccessLog {
    subject: String,
    /// `[{index, time, actor, actor_name, action, purpose, collection, record, fields,
    /// withheld: [{field, reason}], decision, reason, request_id}]`, oldest first.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<AccessLogEntry>,
}

/// Who accessed or changed one subject's data, when, for which purpose, which fields, and
/// what the policy decided: the subject's entries of the audit log (ids and names only,
/// never a value). Page with `from` (the next index).
#[utoipa::path(get, path = "/v1/subjects/{id}/access-log", tag = "audit", security(("api_key" = [])),
    params(("id" = String, Path),
        ("from" = Option<u64>, Query, description = "First audit index (default 0)"),
        ("limit" = Option<u32>, Query, description = "At most this many (default 100, 1..=1000)")),
    responses((status = 200, body = AccessLog)))]
pub(crate) async fn access_log(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<AccessLog>, Problem> {
    let id = subject_id(&id)?;
    let entries = vault
        .access_log(&actor, id, params.number("from")?, params.limit()?)
        .await?;
    Ok(Json(AccessLog {
        subject: id.to_string(),
        entries,
    }))
}
