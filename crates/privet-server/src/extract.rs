//! Extractors: the authenticated caller (with the request id), the stated purpose, and a JSON
//! body whose every rejection becomes a problem response.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use privet_core::RequestId;
use privet_vault::{Actor, Vault};
use serde::de::DeserializeOwned;

use crate::problem::{Problem, ProblemKind};

/// The header a caller may state the purpose in, instead of `?purpose=`.
pub(crate) const PURPOSE_HEADER: &str = "privet-purpose";

/// An authenticated caller, as the vault's actor.
pub(crate) struct Auth(pub(crate) Actor);

impl FromRequestParts<Vault> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, vault: &Vault) -> Result<Self, Problem> {
        let request_id = parts.extensions.get::<RequestId>().copied();
        let presented = bearer(&parts.headers).ok_or_else(|| {
            Problem::new(
                ProblemKind::Unauthorized,
                "Send `Authorization: Bearer <api key>`",
            )
        })?;
        let principal = vault.authenticate(presented).await.map_err(Problem::from)?;
        Ok(Auth(Actor::principal(&principal, request_id)))
    }
}

/// Whether the request carries the Global Privacy Control signal (`Sec-GPC: 1`).
pub(crate) fn gpc(headers: &HeaderMap) -> bool {
    headers
        .get("sec-gpc")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "1")
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The purpose stated in the `Privet-Purpose` header, merged with a `purpose` query value.
pub(crate) fn purpose(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, Problem> {
    let header = match headers.get(PURPOSE_HEADER) {
        Some(v) => Some(v.to_str().map_err(|_| {
            Problem::new(
                ProblemKind::MalformedRequest,
                "The Privet-Purpose header is not valid text",
            )
        })?),
        None => None,
    };
    match (header, query) {
        (Some(h), Some(q)) if h != q => Err(Problem::new(
            ProblemKind::MalformedRequest,
            "The purpose in the query and in the Privet-Purpose header differ",
        )),
        (Some(p), _) | (None, Some(p)) => Ok(Some(p.to_owned())),
        (None, None) => Ok(None),
    }
}

/// A JSON body. Malformed JSON → 400, wrong shape → 400, wrong content type → 415, too
/// large → 413, all as problems that name the issue but never echo the body.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

fn json_problem(r: &JsonRejection) -> Problem {
    use ProblemKind as K;
    match r {
        JsonRejection::JsonSyntaxError(_) => {
            Problem::new(K::MalformedRequest, "The body is not valid JSON")
        }
        JsonRejection::JsonDataError(e) => {
            // serde's message names the member and the expected type; quoted input is cut out
            // so the response never echoes a value.
            let text = redact_quoted(&e.body_text());
            Problem::new(
                K::MalformedRequest,
                format!("The body has the wrong shape: {text}"),
            )
        }
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            K::UnsupportedMediaType,
            "Send the body with `Content-Type: application/json`",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            K::PayloadTooLarge,
            "The request body is larger than this route accepts",
        ),
        other => Problem::new(
            K::MalformedRequest,
            format!("Unreadable body ({})", other.status()),
        ),
    }
}

/// Replaces every double-quoted run in serde's message with `"…"`.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_their_quoted_values() {
        let m = r#"data: invalid type: string "jane@example.com", expected a map"#;
        assert_eq!(
            redact_quoted(m),
            r#"data: invalid type: string "…", expected a map"#
        );
    }
}
