//! `/v1/subjects/{id}/records/{collection}`: add and read records of a records collection.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use privet_core::RecordId;
use privet_vault::{RecordView, Vault};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::subjects::{Created, DataBody, WithheldOut, subject_id, withheld};
use crate::extract::{ApiJson, Auth, purpose};
use crate::problem::{Problem, ProblemKind};

/// A record as released for the stated purpose.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordOut {
    id: String,
    /// RFC 3339.
    created_at: String,
    #[schema(value_type = Object)]
    data: Map<String, Value>,
    withheld: Vec<WithheldOut>,
}

/// Records of one collection.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecordList {
    records: Vec<RecordOut>,
}

impl From<RecordView> for RecordOut {
    fn from(v: RecordView) -> Self {
        let created_at = v
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Self {
            id: v.id.to_string(),
            created_at,
            data: v.data,
            withheld: withheld(v.withheld),
        }
    }
}

/// Add a record to a records collection of a subject.
#[utoipa::path(post, path = "/v1/subjects/{id}/records/{collection}", tag = "records", request_body = DataBody,
    params(("id" = String, Path, description = "Subject id"), ("collection" = String, Path, description = "A records collection")),
    security(("api_key" = [])),
    responses(
        (status = 201, body = Created),
        (status = 404, description = "Unknown subject or collection", content_type = "application/problem+json"),
        (status = 422, description = "Data does not match the schema", content_type = "application/problem+json"),
    ))]
pub(crate) async fn create(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path((id, collection)): Path<(String, String)>,
    ApiJson(body): ApiJson<DataBody>,
) -> Result<Response, Problem> {
    let subject = subject_id(&id)?;
    let record = vault
        .add_record(&actor, subject, &collection, &body.data)
        .await?;
    let location = format!("/v1/subjects/{subject}/records/{collection}/{record}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(Created {
            id: record.to_string(),
        }),
    )
        .into_response())
}

/// Read a subject's records of a collection for a purpose.
#[utoipa::path(get, path = "/v1/subjects/{id}/records/{collection}", tag = "records",
    params(("id" = String, Path, description = "Subject id"), ("collection" = String, Path, description = "A records collection"),
           ("purpose" = Option<String>, Query, description = "Purpose of the read")),
    security(("api_key" = [])),
    responses((status = 200, body = RecordList)))]
pub(crate) async fn list(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path((id, collection)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<RecordList>, Problem> {
    let subject = subject_id(&id)?;
    let purpose = purpose(&headers, q.get("purpose").map(String::as_str))?;
    let views = vault
        .read_records(&actor, subject, &collection, None, purpose.as_deref())
        .await?;
    Ok(Json(RecordList {
        records: views.into_iter().map(Into::into).collect(),
    }))
}

/// Read one record for a purpose.
#[utoipa::path(get, path = "/v1/subjects/{id}/records/{collection}/{record}", tag = "records",
    params(("id" = String, Path, description = "Subject id"), ("collection" = String, Path, description = "A records collection"),
           ("record" = String, Path, description = "Record id (`rec_…`)"),
           ("purpose" = Option<String>, Query, description = "Purpose of the read")),
    security(("api_key" = [])),
    responses((status = 200, body = RecordOut)))]
pub(crate) async fn read(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path((id, collection, record)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<RecordOut>, Problem> {
    let subject = subject_id(&id)?;
    let record: RecordId = record.parse().map_err(|e: privet_core::IdParseError| {
        Problem::new(ProblemKind::MalformedRequest, e.to_string())
    })?;
    let purpose = purpose(&headers, q.get("purpose").map(String::as_str))?;
    let views = vault
        .read_records(
            &actor,
            subject,
            &collection,
            Some(record),
            purpose.as_deref(),
        )
        .await?;
    let view = views.into_iter().next().ok_or(Problem::new(
        ProblemKind::RecordNotFound,
        format!("record {record} not found"),
    ))?;
    Ok(Json(view.into()))
}
