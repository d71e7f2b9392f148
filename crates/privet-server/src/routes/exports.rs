//! `GET /v1/subjects/{id}/export`: everything held about a subject, for the purpose
//! `subject_access` (admin only, audited): JSON, a zip of CSV files, or an HTML page.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use privet_vault::{ExportFormat, Vault};

use super::audit::Params;
use super::subjects::subject_id;
use crate::extract::Auth;
use crate::problem::{Problem, ProblemKind};

/// Export everything held about a subject (access and portability rights).
#[utoipa::path(get, path = "/v1/subjects/{id}/export", tag = "rights", security(("api_key" = [])),
    params(("id" = String, Path, description = "Subject id"),
        ("format" = Option<String>, Query, description = "`json` (default), `csv` (a zip of one CSV file per collection, plus consents, consent history and access log) or `html`")),
    responses(
        (status = 200, description = "The export, as an attachment (`application/json`, `application/zip` or `text/html`)"),
        (status = 400, description = "Unknown format", content_type = "application/problem+json"),
        (status = 404, description = "Unknown or erased subject", content_type = "application/problem+json"),
    ))]
pub(crate) async fn export(
    State(vault): State<Vault>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, Problem> {
    let id = subject_id(&id)?;
    let format = match params.text("format") {
        None => ExportFormat::Json,
        Some(f) => ExportFormat::parse(f).ok_or_else(|| {
            Problem::new(
                ProblemKind::MalformedRequest,
                "`format` must be `json`, `csv` or `html`",
            )
        })?,
    };
    let export = vault.export_subject(&actor, id).await?;
    let body = export.render(format)?;
    let disposition = format!(
        "attachment; filename=\"privet-export-{id}.{}\"",
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.media_type().to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
