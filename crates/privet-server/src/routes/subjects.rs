//! `/v1/subjects`: create (one or a batch), read for a purpose, look up, update, erase.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use privet_core::{ConsentChange, ConsentSource, ConsentState, SubjectId};
use privet_vault::{SubjectView, Vault};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::extract::{ApiJson, Auth, gpc, purpose};
use crate::problem::{Problem, ProblemKind};

/// A body carrying data for one collection: `{"data": {field: value, …}}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataBody {
    /// Field values, by field name, as declared in the schema.
    #[schema(value_type = Object)]
    pub(crate) data: Map<String, Value>,
}

/// A new subject: its profile and, optionally, the consents it gave with it:
/// `{"data": {…}, "consents": {"marketing.communications.email": "granted"},
///   "notice_version": "2026-01", "consent_source": "web_form"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    /// Field values, by field name, as declared in the schema.
    #[schema(value_type = Object)]
    pub(crate) data: Map<String, Value>,
    /// Consent per purpose: `granted`, `denied` or `withdrawn`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(crate) consents: BTreeMap<String, ConsentState>,
    /// The privacy-notice version shown (required with `consents`).
    #[serde(default)]
    pub(crate) notice_version: Option<String>,
    /// How the consents were collected (`web_form`, `api`, `portal`, `import`; default `api`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub(crate) consent_source: Option<ConsentSource>,
}

/// A batch: `{"items": [{"data": {…}}, …]}` (at most 10,000 items).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    /// The subjects to create.
    items: Vec<DataBody>,
}

/// A lookup given in the body, so the looked-up value stays out of URLs and access logs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchBody {
    /// A searchable profile field.
    field: String,
    /// The value to look for (normalized like a write of that field).
    value: String,
    /// The purpose of the lookup (or give it in `Privet-Purpose`).
    purpose: Option<String>,
}

/// The id of something created.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Created {
    /// Its id (`sub_…` or `rec_…`).
    pub(crate) id: String,
}

/// Ids of subjects created by a batch, in item order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchCreated {
    ids: Vec<String>,
}

/// A field withheld from a read, with its reason code.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WithheldOut {
    field: String,
    /// e.g. `purpose_not_declared`, `no_consent`, `special_category`.
    reason: String,
}

/// A subject's profile as released for the stated purpose.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubjectOut {
    id: String,
    /// Released fields only.
    #[schema(value_type = Object)]
    data: Map<String, Value>,
    /// Every declared field not released, with the reason.
    withheld: Vec<WithheldOut>,
}

/// Lookup results.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubjectList {
    subjects: Vec<SubjectOut>,
}

pub(crate) fn withheld(w: Vec<privet_vault::Withheld>) -> Vec<WithheldOut> {
    w.into_iter()
        .map(|w| WithheldOut {
            field: w.field,
            reason: w.reason,
        })
        .collect()
}

impl From<SubjectView> for SubjectOut {
    fn from(v: SubjectView) -> Self {
        Self {
            id: v.id.to_string(),
            data: v.data,
            withheld: withheld(v.withheld),
        }
    }
}

pub(crate) fn subject_id(raw: &str) -> Result<SubjectId, Problem> {
    raw.parse().map_err(|e: privet_core::IdParseError| {
        Problem::new(ProblemKind::MalformedRequest, e.to_string())
    })
}

fn created(location: String, id: String) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(Created { id }),
    )
        .into_response()
}

/// Create a subject with its profile.
#[utoipa::path(post, path = "/v1/subjects", tag = "subjects", request_body = CreateBody,
    security(("api_key" = [])),
    params(("Sec-GPC" = Option<String>, Header, description = "`1`: record the Global Privacy Control opt-out of every sale-or-sharing purpose")),
    responses(
        (status = 201, body = Created),
        (status = 400, description = "Malformed body", content_type = "application/problem+json"),
        (status = 403, description = "No role grants the fields, or a consent-based field without consent", content_type = "application/problem+json"),
        (status = 422, description = "Data does not match the schema, or a consent the rules refuse", content_type = "application/problem+json"),
    ))]
pub(crate) async fn create(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, Problem> {
    if !body.consents.is_empty() && body.notice_version.is_none() {
        return Err(Problem::new(
            ProblemKind::MalformedRequest,
            "Give `notice_version` (the privacy notice shown) with `consents`",
        ));
    }
    let source = body.consent_source.unwrap_or(ConsentSource::Api);
    let notice = body.notice_version.unwrap_or_default();
    let consents = body
        .consents
        .into_iter()
        .map(|(purpose, state)| {
            let change = ConsentChange {
                state,
                source,
                notice_version: notice.clone(),
                expires_at: None,
            };
            (purpose, change)
        })
        .collect();
    let id = vault
        .create_subject_with_consents(&actor, &body.data, consents, gpc(&headers))
        .await?;
    Ok(created(format!("/v1/subjects/{id}"), id.to_string()))
}

/// Create many subjects atomically; any invalid item refuses the whole batch.
#[utoipa::path(post, path = "/v1/subjects/batch", tag = "subjects", request_body = BatchBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = BatchCreated),
        (status = 422, description = "Items invalid (listed by index); nothing written", content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_batch(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Response, Problem> {
    if body.items.len() > 10_000 {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            "A batch holds at most 10,000 items",
        ));
    }
    let items: Vec<Map<String, Value>> = body.items.into_iter().map(|i| i.data).collect();
    let ids = vault.create_subjects(&actor, &items).await?;
    let ids = ids.iter().map(ToString::to_string).collect();
    Ok((StatusCode::CREATED, Json(BatchCreated { ids })).into_response())
}

/// Read a subject's profile for a purpose: only fields declared for it are released.
#[utoipa::path(get, path = "/v1/subjects/{id}", tag = "subjects",
    params(("id" = String, Path, description = "Subject id (`sub_…`)"),
           ("purpose" = Option<String>, Query, description = "Purpose of the read (or the Privet-Purpose header)")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = SubjectOut),
        (status = 400, description = "Missing or unknown purpose", content_type = "application/problem+json"),
        (status = 404, description = "Unknown or erased subject", content_type = "application/problem+json"),
    ))]
pub(crate) async fn read(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<SubjectOut>, Problem> {
    let id = subject_id(&id)?;
    let purpose = purpose(&headers, q.get("purpose").map(String::as_str))?;
    let view = vault.read_subject(&actor, id, purpose.as_deref()).await?;
    Ok(Json(view.into()))
}

/// Look subjects up by one searchable profile field: `?email=…&purpose=…`.
#[utoipa::path(get, path = "/v1/subjects", tag = "subjects",
    params(("purpose" = Option<String>, Query, description = "Purpose of the lookup"),
           ("FIELD" = Option<String>, Query, description = "Exactly one searchable field and its value, e.g. `email=jane@example.com`")),
    security(("api_key" = [])),
    responses((status = 200, body = SubjectList)))]
pub(crate) async fn find(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Query(mut q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<SubjectList>, Problem> {
    let purpose = purpose(&headers, q.remove("purpose").as_deref())?;
    if q.len() != 1 {
        return Err(Problem::new(
            ProblemKind::MalformedRequest,
            "Give exactly one searchable field to look up, e.g. `?email=…&purpose=…`",
        ));
    }
    let Some((field, value)) = q.into_iter().next() else {
        return Err(Problem::new(
            ProblemKind::MalformedRequest,
            "No field to look up",
        ));
    };
    lookup(&vault, &actor, &field, &value, purpose.as_deref()).await
}

/// Look subjects up with the value in the body (keeps it out of URLs).
#[utoipa::path(post, path = "/v1/subjects/search", tag = "subjects", request_body = SearchBody,
    security(("api_key" = [])),
    responses((status = 200, body = SubjectList)))]
pub(crate) async fn search(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<SubjectList>, Problem> {
    let purpose = purpose(&headers, body.purpose.as_deref())?;
    lookup(&vault, &actor, &body.field, &body.value, purpose.as_deref()).await
}

async fn lookup(
    vault: &Vault,
    actor: &privet_vault::Actor,
    field: &str,
    value: &str,
    purpose: Option<&str>,
) -> Result<Json<SubjectList>, Problem> {
    let views = vault.find_subjects(actor, field, value, purpose).await?;
    Ok(Json(SubjectList {
        subjects: views.into_iter().map(Into::into).collect(),
    }))
}

/// Change profile fields; `null` removes an optional field.
#[utoipa::path(patch, path = "/v1/subjects/{id}", tag = "subjects", request_body = DataBody,
    params(("id" = String, Path, description = "Subject id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = Created),
        (status = 404, description = "Unknown or erased subject", content_type = "application/problem+json"),
        (status = 409, description = "Changed concurrently; retry", content_type = "application/problem+json"),
    ))]
pub(crate) async fn update(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DataBody>,
) -> Result<Json<Created>, Problem> {
    let id = subject_id(&id)?;
    vault.update_subject(&actor, id, &body.data).await?;
    Ok(Json(Created { id: id.to_string() }))
}

/// The erasure certificate: `{subject_id, erased_at, erased: [{collection, records, fields}],
/// consents_erased, restriction_erased, kept: [{collection, records, fields, legal_basis,
/// purposes: [{name, description}], retention, until}], audit: {index, tree_size, leaf_hash,
/// hashes, checkpoint}}` — names and counts, never values.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateOut {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    certificate: privet_vault::ErasureCertificate,
}

/// Erase a subject: its key is destroyed with its records, index entries, consents and
/// restriction, except records the law obliges keeping (collections with a `legal_obligation`
/// purpose whose retention has not run out), which stay readable only for such purposes.
/// Returns the erasure certificate.
#[utoipa::path(delete, path = "/v1/subjects/{id}", tag = "subjects",
    params(("id" = String, Path, description = "Subject id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Erased: the certificate of what was erased, what was kept and why, with the audit inclusion proof", body = CertificateOut),
        (status = 404, description = "Unknown subject", content_type = "application/problem+json"),
        (status = 409, description = "Already erased (`already-erased`)", content_type = "application/problem+json"),
    ))]
pub(crate) async fn erase(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<CertificateOut>, Problem> {
    let id = subject_id(&id)?;
    let certificate = vault.erase_subject(&actor, id).await?;
    Ok(Json(CertificateOut { certificate }))
}
