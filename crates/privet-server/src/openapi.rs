//! The OpenAPI 3.1 document, generated from the handlers' annotations, served at
//! `/openapi.json`, with Swagger UI (assets vendored in the binary, no CDN) at `/docs`.

use axum::Router;
use privet_vault::Vault;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{
    admin, audit, consents, exports, health, monitoring, records, requests, subjects,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Privet", description = "A privacy vault for customer data. Every read states a purpose; errors are RFC 9457 problems."),
    paths(
        subjects::create, subjects::create_batch, subjects::read, subjects::find, subjects::search,
        subjects::update, subjects::erase, records::create, records::list, records::read,
        consents::put, consents::current, consents::history, consents::receipt, consents::receipt_key, consents::restrict, consents::lift,
        admin::create_role, admin::replace_role, admin::role, admin::roles,
        admin::create_principal, admin::principals, admin::revoke_principal,
        monitoring::unsuspend,
        audit::checkpoint, audit::key, audit::entries, audit::inclusion, audit::consistency,
        audit::access_log,
        health::healthz, health::readyz,
        exports::export,
        requests::create, requests::list, requests::show, requests::verify, requests::extend,
        requests::reject, requests::complete,
    ),
    modifiers(&BearerAuth),
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(crate) fn routes() -> Router<Vault> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", document()))
}
