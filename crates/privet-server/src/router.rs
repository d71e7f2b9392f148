//! The router, its layers (request ids, body limits, tracing without query strings) and the
//! server loop.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use privet_core::RequestId;
use privet_vault::Vault;
use tokio::net::TcpListener;

use crate::metrics::{Metrics, MetricsAccess};
use crate::problem::{Problem, ProblemKind};
use crate::{openapi, routes};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted body on ordinary routes, in bytes.
    pub body_limit: usize,
    /// Largest accepted body on batch routes, in bytes.
    pub batch_body_limit: usize,
    /// The metrics the server counts into and serves at `/metrics`.
    pub metrics: Metrics,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// The privacy portal's settings.
    pub portal: crate::PortalConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            batch_body_limit: 16 * 1024 * 1024,
            metrics: Metrics::new(),
            metrics_access: MetricsAccess::Off,
            portal: crate::PortalConfig::default(),
        }
    }
}

/// Builds the whole API.
pub fn router(vault: Vault, config: &ServerConfig) -> Router {
    let batch = Router::new()
        .route("/v1/subjects/batch", post(routes::subjects::create_batch))
        .layer(DefaultBodyLimit::max(config.batch_body_limit))
        .layer(middleware::from_fn_with_state(
            config.batch_body_limit,
            length_guard,
        ));
    let api = Router::new()
        .route(
            "/v1/subjects",
            post(routes::subjects::create).get(routes::subjects::find),
        )
        .route("/v1/subjects/search", post(routes::subjects::search))
        .route(
            "/v1/subjects/{id}",
            get(routes::subjects::read)
                .patch(routes::subjects::update)
                .delete(routes::subjects::erase),
        )
        .route("/v1/subjects/{id}/consents", get(routes::consents::current))
        .route(
            "/v1/subjects/{id}/consents/history",
            get(routes::consents::history),
        )
        .route(
            "/v1/subjects/{id}/consents/receipt",
            get(routes::consents::receipt),
        )
        .route(
            "/v1/consents/receipt-key",
            get(routes::consents::receipt_key),
        )
        .route(
            "/v1/subjects/{id}/consents/{purpose}",
            put(routes::consents::put),
        )
        .route(
            "/v1/subjects/{id}/restriction",
            put(routes::consents::restrict).delete(routes::consents::lift),
        )
        .route(
            "/v1/roles",
            post(routes::admin::create_role).get(routes::admin::roles),
        )
        .route(
            "/v1/roles/{name}",
            get(routes::admin::role).put(routes::admin::replace_role),
        )
        .route(
            "/v1/principals",
            post(routes::admin::create_principal).get(routes::admin::principals),
        )
        .route(
            "/v1/principals/{id}",
            delete(routes::admin::revoke_principal),
        )
        .route(
            "/v1/principals/{id}/suspension",
            delete(routes::monitoring::unsuspend),
        )
        .route(
            "/v1/subjects/{id}/records/{collection}",
            post(routes::records::create).get(routes::records::list),
        )
        .route("/v1/audit/checkpoint", get(routes::audit::checkpoint))
        .route("/v1/audit/key", get(routes::audit::key))
        .route("/v1/audit/entries", get(routes::audit::entries))
        .route("/v1/audit/proof/inclusion", get(routes::audit::inclusion))
        .route(
            "/v1/audit/proof/consistency",
            get(routes::audit::consistency),
        )
        .route(
            "/v1/subjects/{id}/access-log",
            get(routes::audit::access_log),
        )
        .route(
            "/v1/subjects/{id}/records/{collection}/{record}",
            get(routes::records::read),
        )
        .route("/v1/subjects/{id}/export", get(routes::exports::export))
        .route(
            "/v1/requests",
            post(routes::requests::create).get(routes::requests::list),
        )
        .route("/v1/requests/{id}", get(routes::requests::show))
        .route("/v1/requests/{id}/verify", post(routes::requests::verify))
        .route("/v1/requests/{id}/extend", post(routes::requests::extend))
        .route("/v1/requests/{id}/reject", post(routes::requests::reject))
        .route(
            "/v1/requests/{id}/complete",
            post(routes::requests::complete),
        )
        .route(
            "/v1/subjects/{id}/legal-hold",
            put(routes::legal_hold::hold)
                .get(routes::legal_hold::show)
                .delete(routes::legal_hold::release),
        )
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(middleware::from_fn_with_state(
            config.body_limit,
            length_guard,
        ));
    Router::new()
        .merge(batch)
        .merge(api)
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route(
            "/metrics",
            routes::monitoring::metrics_route(
                config.metrics.clone(),
                config.metrics_access.clone(),
            ),
        )
        .merge(openapi::routes())
        .merge(crate::portal::router(vault.clone(), &config.portal))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(vault)
        .layer(middleware::from_fn_with_state(
            config.metrics.clone(),
            count_request,
        ))
        .layer(middleware::from_fn(request_context))
}

/// Refuses a body whose declared `Content-Length` is over `limit` before reading any of it
/// (`DefaultBodyLimit` still catches bodies without a length once they grow past it).
async fn length_guard(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let detail = format!("The request body is larger than this route accepts ({limit} bytes)");
        return axum::response::IntoResponse::into_response(Problem::new(
            ProblemKind::PayloadTooLarge,
            detail,
        ));
    }
    next.run(req).await
}

async fn not_found() -> Problem {
    Problem::new(ProblemKind::NotFound, "No route matches this path")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        ProblemKind::MethodNotAllowed,
        "This route does not accept this method",
    )
}

/// Counts the request by method, matched route template (never the path itself, which holds
/// ids) and status.
async fn count_request(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    metrics.request(
        &method,
        route.as_ref().map(MatchedPath::as_str),
        resp.status(),
    );
    resp
}

/// Gives every request an id (returned as `Privet-Request-Id`, recorded in audit entries) and
/// logs method, path (never the query string: it may hold a looked-up value), status, time.
async fn request_context(mut req: Request, next: Next) -> Response {
    let id = RequestId::new();
    req.extensions_mut().insert(id);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert("privet-request-id", v);
    }
    tracing::debug!(
        request_id = %id,
        %method,
        path = %redact_path(&path),
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

/// Paths hold only ids and schema names, but cap their length in logs anyway.
fn redact_path(path: &str) -> &str {
    let end = path.char_indices().nth(200).map_or(path.len(), |(i, _)| i);
    &path[..end]
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    // Give the store's writer a moment to finish acknowledging what it has.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
