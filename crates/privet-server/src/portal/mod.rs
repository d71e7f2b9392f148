//! The privacy portal: server-rendered pages where a customer sees their data, who used it
//! and why, and changes their consents — signed in by a single-use link the business's
//! application asks for (`POST /v1/subjects/{id}/portal-links`).
//!
//! Security properties, each tested in `tests.rs`:
//! - the link is a MAC-signed token, valid for a short time and spent in the store on use,
//!   so it works once across every server sharing the database; an expired, reused or
//!   forged link gets a page that says so, with no data, and a 4xx status;
//! - the session is a MAC-signed cookie (`HttpOnly; Secure; SameSite=Strict; Path=/portal`)
//!   with its own expiry; signing out spends its id in the store, ending it everywhere;
//! - every form carries the session's CSRF token (a MAC of the session id), compared in
//!   constant time; a mismatch is a 403 page and changes nothing;
//! - every response carries a strict Content-Security-Policy (no scripts at all, styles from
//!   this origin, forms only to this origin, no framing), `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer` and `Cache-Control: no-store`;
//! - URLs hold no personal data (tokens are opaque, pages are fixed paths), and nothing
//!   here logs a value.

mod pages;
mod rectify;
mod requests;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use privet_core::RequestId;
use privet_vault::{PortalRefusal, PortalSession, Vault, VaultError};
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::extract::{bearer, gpc};
use crate::problem::Problem;
use crate::routes::subjects::subject_id;
use pages::{
    ActivityPage, ConsentsPage, DataPage, ExportPage, Layout, MessagePage, activity_view,
    consent_view, data_view, render,
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "privet_portal";

/// The portal's Content-Security-Policy: no scripts, no external anything.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How many access-log entries the activity page shows.
const ACTIVITY_ROWS: usize = 200;

/// Portal settings.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// The portal's public origin, e.g. `https://privacy.example.com`, which links start
    /// with. `None`: the `Host` of the request that asks for the link, over `http`.
    pub base_url: Option<String>,
    /// How long a link is valid.
    pub link_ttl: Duration,
    /// How long a session lasts after the link is used.
    pub session_ttl: Duration,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            link_ttl: privet_vault::DEFAULT_LINK_TTL,
            session_ttl: privet_vault::DEFAULT_SESSION_TTL,
        }
    }
}

#[derive(Clone)]
pub(crate) struct PortalState {
    vault: Vault,
    config: Arc<PortalConfig>,
}

/// The portal's routes, and the API route that issues links.
pub(crate) fn router(vault: Vault, config: &PortalConfig) -> Router<Vault> {
    let state = PortalState {
        vault,
        config: Arc::new(config.clone()),
    };
    let pages = Router::<PortalState>::new()
        .route("/portal", get(data_page))
        .route("/portal/consents", get(consents_page).post(change_consent))
        .route("/portal/activity", get(activity_page))
        .route("/portal/rectify", get(rectify::page).post(rectify::submit))
        .route("/portal/requests", get(requests::page))
        .route("/portal/restrict", post(requests::restrict))
        .route(
            "/portal/erase",
            get(requests::confirm_page).post(requests::erase),
        )
        .route("/portal/export", get(export_page))
        .route("/portal/export.json", get(export_json))
        .route("/portal/export.zip", get(export_zip))
        .route("/portal/logout", post(logout))
        .route("/portal/link/{token}", get(open_link))
        .route("/portal/style.css", get(stylesheet))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(middleware::from_fn(security_headers));
    Router::<PortalState>::new()
        .route("/v1/subjects/{id}/portal-links", post(issue_link))
        .merge(pages)
        .with_state(state)
}

/// Headers every portal response carries.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/portal.css"),
    )
        .into_response()
}

// --- Issuing and opening links ----------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRequest {
    /// Validity in seconds (default: the configured link lifetime).
    ttl_seconds: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LinkCreated {
    url: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: time::OffsetDateTime,
}

/// `POST /v1/subjects/{id}/portal-links` (admin): a single-use portal link for the subject.
async fn issue_link(
    State(s): State<PortalState>,
    RequestIdOf(request_id): RequestIdOf,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let presented = bearer(&headers).ok_or_else(|| {
        Problem::new(
            crate::problem::ProblemKind::Unauthorized,
            "Send `Authorization: Bearer <api key>`",
        )
    })?;
    let principal = s.vault.authenticate(presented).await?;
    let actor = privet_vault::Actor::principal(&principal, request_id);
    let id = subject_id(&id)?;
    // The body is optional: none, or `{"ttl_seconds": N}`.
    let request: LinkRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LinkRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|_| {
            Problem::new(
                crate::problem::ProblemKind::MalformedRequest,
                "The body must be empty or {\"ttl_seconds\": N}",
            )
        })?
    };
    let ttl = request
        .ttl_seconds
        .map_or(s.config.link_ttl, Duration::seconds);
    let link = s.vault.issue_portal_link(&actor, id, ttl).await?;
    let base = match &s.config.base_url {
        Some(b) => b.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| {
                    !h.is_empty()
                        && h.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
                })
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let body = LinkCreated {
        url: format!("{base}/portal/link/{}", link.token),
        expires_at: link.expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /portal/link/{token}`: spends the link and starts a session (303 to the portal).
async fn open_link(
    State(s): State<PortalState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    parts: RequestIdOf,
) -> Response {
    match s
        .vault
        .open_portal_link(&token, s.config.session_ttl, gpc(&headers), parts.0)
        .await
    {
        Ok(session) => {
            let max_age = s.config.session_ttl.whole_seconds().max(0);
            let cookie = format!(
                "{SESSION_COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path=/portal; Max-Age={max_age}",
                session.cookie_value()
            );
            let mut resp = Redirect::to("/portal").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(VaultError::Portal(refusal)) => link_refused(refusal),
        Err(VaultError::SubjectNotFound(_)) => render(
            StatusCode::GONE,
            &MessagePage::new(
                "Link no longer valid",
                "This link is no longer valid",
                &["There is no data about you to show: it may have been erased."],
            ),
        ),
        Err(e) => failure(&e),
    }
}

fn link_refused(refusal: PortalRefusal) -> Response {
    let (status, heading, why) = match refusal {
        PortalRefusal::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Links to this page are valid for a short time only.",
        ),
        PortalRefusal::Used => (
            StatusCode::GONE,
            "This link was already used",
            "Each link to this page works once, so that nobody else can reuse it.",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            "It may have been copied incompletely.",
        ),
    };
    render(
        status,
        &MessagePage::new(
            heading,
            heading,
            &[
                why,
                "Please ask for a new link from the service you came from. No data was shown.",
            ],
        ),
    )
}

/// A failure that is not the customer's: logged with its cause, shown without it.
fn failure(e: &VaultError) -> Response {
    let status = if e.is_unavailable() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        tracing::error!(error = %e, "portal request failed");
        StatusCode::INTERNAL_SERVER_ERROR
    };
    render(
        status,
        &MessagePage::new(
            "Something went wrong",
            "Something went wrong",
            &["Nothing was changed. Please try again in a moment."],
        ),
    )
}

// --- Sessions and CSRF ----------------------------------------------------------------------

/// The request id the router's outer layer assigned.
pub(crate) struct RequestIdOf(Option<RequestId>);

impl<S: Send + Sync> FromRequestParts<S> for RequestIdOf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<RequestId>().copied()))
    }
}

/// A signed-in customer. Without a valid session, the page says so (401) and shows nothing.
pub(crate) struct Customer {
    session: PortalSession,
    request_id: Option<RequestId>,
}

impl Customer {
    fn layout(&self, title: &'static str, active: &'static str) -> Layout {
        Layout {
            title,
            active,
            nav: true,
            csrf: self.session.csrf_token(),
        }
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

impl FromRequestParts<PortalState> for Customer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &PortalState) -> Result<Self, Response> {
        let request_id = parts.extensions.get::<RequestId>().copied();
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(no_session(None));
        };
        match s.vault.portal_session(value).await {
            Ok(session) => Ok(Customer {
                session,
                request_id,
            }),
            Err(VaultError::Portal(r)) => Err(no_session(Some(r))),
            Err(e) => Err(failure(&e)),
        }
    }
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "privet_portal=; HttpOnly; Secure; SameSite=Strict; Path=/portal; Max-Age=0",
    )
}

fn no_session(refusal: Option<PortalRefusal>) -> Response {
    let mut page = MessagePage::new(
        "Not signed in",
        "You are not signed in",
        &[match refusal {
            Some(PortalRefusal::Expired) => "Your session has ended after a period of time.",
            Some(PortalRefusal::Used) => "You signed out of this session.",
            _ => "To see your data, open the link the service you came from gave you.",
        }],
    );
    // A link opened from another site (an email, say) sets a SameSite=Strict cookie that
    // the browser holds back on the redirect that follows; a click from here sends it.
    if refusal.is_none() {
        page.paragraphs
            .push("If you have just opened such a link, continue here:".into());
        page.continue_href = Some("/portal");
        page.continue_text = "Continue to your privacy page";
    }
    let mut resp = render(StatusCode::UNAUTHORIZED, &page);
    if refusal.is_some() {
        resp.headers_mut()
            .insert(header::SET_COOKIE, clear_cookie());
    }
    resp
}

/// The 403 page, unless `presented` is the session's CSRF token.
fn csrf_refusal(c: &Customer, presented: &str) -> Option<Response> {
    if c.session.csrf_matches(presented) {
        return None;
    }
    tracing::info!(request_id = ?c.request_id, "portal form refused: CSRF token mismatch");
    Some(render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            continue_href: Some("/portal"),
            continue_text: "Back to your privacy page",
            ..MessagePage::new(
                "Form refused",
                "This form could not be accepted",
                &[
                    "It did not come from this page, or it belongs to an earlier session. Nothing was changed.",
                    "Please go back, reload the page and try again.",
                ],
            )
        },
    ))
}

// --- Pages ------------------------------------------------------------------------------

async fn data_page(State(s): State<PortalState>, c: Customer) -> Response {
    match s.vault.portal_data(&c.session, c.request_id).await {
        Ok(collections) => render(
            StatusCode::OK,
            &DataPage {
                l: c.layout("Your data", "data"),
                collections: data_view(collections),
            },
        ),
        Err(e) => subject_failure(&e),
    }
}

/// The customer is gone (erased) or something failed.
fn subject_failure(e: &VaultError) -> Response {
    match e {
        VaultError::SubjectNotFound(_) => {
            let mut resp = render(
                StatusCode::GONE,
                &MessagePage::new(
                    "No data",
                    "We hold no data about you",
                    &["Your data has been erased, so there is nothing to show."],
                ),
            );
            resp.headers_mut()
                .insert(header::SET_COOKIE, clear_cookie());
            resp
        }
        e => failure(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsentsQuery {
    updated: Option<String>,
}

async fn consents_page(
    State(s): State<PortalState>,
    c: Customer,
    headers: HeaderMap,
    Query(q): Query<ConsentsQuery>,
) -> Response {
    let done = match q.updated.as_deref() {
        Some("granted") => Some("Thank you: your consent is recorded.".to_owned()),
        Some("withdrawn") => {
            Some("Your consent is withdrawn. We stop this use of your data at once.".to_owned())
        }
        _ => None,
    };
    consents_response(&s, &c, gpc(&headers), StatusCode::OK, None, done).await
}

async fn consents_response(
    s: &PortalState,
    c: &Customer,
    gpc: bool,
    status: StatusCode,
    error: Option<String>,
    done: Option<String>,
) -> Response {
    match s.vault.portal_consents(&c.session).await {
        Ok(list) => render(
            status,
            &ConsentsPage {
                l: c.layout("Your consents", "consents"),
                gpc,
                error,
                done,
                consents: list.into_iter().map(consent_view).collect(),
            },
        ),
        Err(e) => subject_failure(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    action: String,
}

async fn change_consent(
    State(s): State<PortalState>,
    c: Customer,
    headers: HeaderMap,
    Form(form): Form<ConsentForm>,
) -> Response {
    if let Some(refused) = csrf_refusal(&c, &form.csrf) {
        return refused;
    }
    let gpc = gpc(&headers);
    let grant = match form.action.as_str() {
        "grant" => true,
        "withdraw" => false,
        _ => {
            return consents_response(
                &s,
                &c,
                gpc,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Choose to give or to withdraw your consent.".into()),
                None,
            )
            .await;
        }
    };
    match s
        .vault
        .portal_set_consent(&c.session, &form.purpose, grant, gpc, c.request_id)
        .await
    {
        Ok(()) => Redirect::to(if grant {
            "/portal/consents?updated=granted"
        } else {
            "/portal/consents?updated=withdrawn"
        })
        .into_response(),
        Err(VaultError::Consent(privet_core::ConsentError::GpcForbidsGrant { .. })) => {
            consents_response(
                &s,
                &c,
                gpc,
                StatusCode::CONFLICT,
                Some(
                    "Your browser's Global Privacy Control signal opts you out of the sale or \
                     sharing of your data, so this consent cannot be given while it is on. \
                     Nothing was changed."
                        .into(),
                ),
                None,
            )
            .await
        }
        Err(VaultError::UnknownPurpose(_)) => {
            consents_response(
                &s,
                &c,
                gpc,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(
                    "That is not a use of your data you can decide on here. Nothing was changed."
                        .into(),
                ),
                None,
            )
            .await
        }
        Err(e) => subject_failure(&e),
    }
}

async fn activity_page(State(s): State<PortalState>, c: Customer) -> Response {
    match s.vault.portal_access_log(&c.session, ACTIVITY_ROWS).await {
        Ok(entries) => render(
            StatusCode::OK,
            &ActivityPage {
                l: c.layout("Who used your data", "activity"),
                entries: entries
                    .into_iter()
                    .map(|e| activity_view(e, s.vault.schema()))
                    .collect(),
            },
        ),
        Err(e) => subject_failure(&e),
    }
}

async fn export_page(c: Customer) -> Response {
    render(
        StatusCode::OK,
        &ExportPage {
            l: c.layout("Download your data", "export"),
        },
    )
}

async fn export_json(State(s): State<PortalState>, c: Customer) -> Response {
    download(&s, &c, privet_vault::ExportFormat::Json, "my-data.json").await
}

async fn export_zip(State(s): State<PortalState>, c: Customer) -> Response {
    download(&s, &c, privet_vault::ExportFormat::CsvZip, "my-data.zip").await
}

/// The customer's export as an attachment (audited as an export by `portal:sub_…`).
async fn download(
    s: &PortalState,
    c: &Customer,
    format: privet_vault::ExportFormat,
    name: &'static str,
) -> Response {
    let export = match s.vault.portal_export(&c.session, c.request_id).await {
        Ok(e) => e,
        Err(e) => return subject_failure(&e),
    };
    match export.render(format) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, format.media_type().to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => failure(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(s): State<PortalState>, c: Customer, Form(form): Form<CsrfForm>) -> Response {
    if let Some(refused) = csrf_refusal(&c, &form.csrf) {
        return refused;
    }
    if let Err(e) = s.vault.end_portal_session(&c.session, c.request_id).await {
        return failure(&e);
    }
    let mut resp = render(
        StatusCode::OK,
        &MessagePage::new(
            "Signed out",
            "You are signed out",
            &["To come back, ask the service you came from for a new link."],
        ),
    );
    resp.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie());
    resp
}

#[cfg(test)]
mod tests;
