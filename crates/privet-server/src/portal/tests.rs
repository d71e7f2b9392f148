//! Router tests of the portal (see the module docs): links, sessions, CSRF, headers, pages.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{Actor, Clock, Keyring, Schema, Vault};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

use crate::{CONTENT_SECURITY_POLICY, ServerConfig};

const SCHEMA: &str = include_str!("../../../privet-core/examples/shop.schema.toml");
const EMAIL: &str = "jane.portal@example.com";

struct TestClock(Mutex<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

struct Env {
    _dir: tempfile::TempDir,
    app: Router,
    vault: Vault,
    clock: Arc<TestClock>,
    key: String,
    subject: String,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("p.db"), SqliteOptions::default()).unwrap();
        let t = OffsetDateTime::now_utc();
        let clock = Arc::new(TestClock(Mutex::new(t.replace_nanosecond(0).unwrap_or(t))));
        let (vault, key) = Vault::initialize(
            Schema::from_toml_str(SCHEMA).unwrap(),
            Arc::new(store),
            Keyring::generate(),
            clock.clone(),
        )
        .await
        .unwrap();
        let app = crate::router(vault.clone(), &ServerConfig::default());
        let mut env = Env {
            _dir: dir,
            app,
            vault,
            clock,
            key: key.expose().to_owned(),
            subject: String::new(),
        };
        let (status, body) = env
            .api(
                "POST",
                "/v1/subjects",
                &format!(
                    r#"{{"data": {{"email": "{EMAIL}", "name": "Jane Portal"}},
                       "consents": {{"marketing.communications.email": "granted"}},
                       "notice_version": "2026-11"}}"#
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        env.subject = v["id"].as_str().unwrap().to_owned();
        env
    }

    fn advance(&self, by: Duration) {
        *self.clock.0.lock().unwrap() += by;
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn api(&self, method: &str, path: &str, body: &str) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let (s, _, b) = self.send(req).await;
        (s, b)
    }

    /// A fresh link's path (`/portal/link/…`).
    async fn link(&self) -> String {
        let (status, body) = self
            .api(
                "POST",
                &format!("/v1/subjects/{}/portal-links", self.subject),
                "",
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let url = v["url"].as_str().unwrap();
        let at = url.find("/portal/link/").unwrap();
        url[at..].to_owned()
    }

    async fn get(
        &self,
        path: &str,
        cookie: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder().uri(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("privet_portal={c}"));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn post_form(
        &self,
        path: &str,
        cookie: &str,
        form: &str,
        gpc: bool,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::COOKIE, format!("privet_portal={cookie}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if gpc {
            req = req.header("sec-gpc", "1");
        }
        self.send(req.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Opens a fresh link; returns the session cookie's value.
    async fn sign_in(&self) -> String {
        let (status, headers, _) = self.get(&self.link().await, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let set = headers[header::SET_COOKIE].to_str().unwrap();
        let value = set.strip_prefix("privet_portal=").unwrap();
        value[..value.find(';').unwrap()].to_owned()
    }

    async fn csrf(&self, cookie: &str) -> String {
        let (_, _, body) = self.get("/portal/consents", Some(cookie)).await;
        let at = body.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
        body[at..at + body[at..].find('"').unwrap()].to_owned()
    }

    async fn consent_state(&self, purpose: &str) -> String {
        let o = self
            .vault
            .consents(&Actor::cli(), self.subject.parse().unwrap())
            .await
            .unwrap();
        o.consents
            .iter()
            .find(|c| c.purpose == purpose)
            .map(|c| c.effective.to_owned())
            .unwrap_or_else(|| "none".into())
    }
}

fn assert_security_headers(h: &axum::http::HeaderMap) {
    assert_eq!(h["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let csp = CONTENT_SECURITY_POLICY;
    for directive in [
        "default-src 'none'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive}");
    }
    assert!(!csp.contains("script-src"), "no script is ever allowed");
}

#[tokio::test]
async fn a_link_opens_a_session_with_a_strict_cookie_and_shows_the_customers_data() {
    let env = Env::new().await;
    let link = env.link().await;
    // The URL carries an opaque token, not the customer's data.
    assert!(!link.contains("jane") && !link.contains(&env.subject));
    let (status, headers, _) = env.get(&link, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/portal");
    assert_security_headers(&headers);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    for flag in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/portal",
        "Max-Age=1800",
    ] {
        assert!(
            cookie.split("; ").any(|f| f == flag),
            "{flag} missing: {cookie}"
        );
    }
    let value = cookie.strip_prefix("privet_portal=").unwrap();
    let value = &value[..value.find(';').unwrap()];
    let (status, headers, body) = env.get("/portal", Some(value)).await;
    assert_eq!(status, StatusCode::OK);
    assert_security_headers(&headers);
    assert!(
        body.contains(EMAIL) && body.contains("Jane Portal"),
        "{body}"
    );
    // Each field with the plain-language purposes of the schema.
    assert!(body.contains("Send newsletters and offers by email"));
    assert!(body.contains(r#"<html lang="en">"#) && body.contains("<main"));
    // The customer's own read is on the record, as them.
    let log = env
        .vault
        .access_log(&Actor::cli(), env.subject.parse().unwrap(), None, None)
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.actor == format!("portal:{}", env.subject)
                && e.purpose.as_deref() == Some("subject_access"))
    );
}

#[tokio::test]
async fn a_used_link_is_refused_with_a_clear_page_and_no_data() {
    let env = Env::new().await;
    let link = env.link().await;
    assert_eq!(env.get(&link, None).await.0, StatusCode::SEE_OTHER);
    let (status, headers, body) = env.get(&link, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert_security_headers(&headers);
    assert!(body.contains("already used"), "{body}");
    assert!(!body.contains(EMAIL) && !body.contains("Jane"));
}

#[tokio::test]
async fn an_expired_link_is_refused_and_spends_nothing() {
    let env = Env::new().await;
    let link = env.link().await;
    env.advance(Duration::minutes(15));
    let (status, headers, body) = env.get(&link, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert!(body.contains("expired") && !body.contains(EMAIL), "{body}");
}

#[tokio::test]
async fn a_forged_or_mangled_link_is_refused() {
    let env = Env::new().await;
    let link = env.link().await;
    let (payload, tag) = link.rsplit_once('.').unwrap();
    // Another tag, another payload under the same tag, a truncated token, junk.
    let flipped = if tag.starts_with('A') { "B" } else { "A" };
    let forged = [
        format!("{payload}.{flipped}{}", &tag[1..]),
        format!("{}x.{tag}", &payload[..payload.len() - 1]),
        link[..link.len() - 5].to_owned(),
        "/portal/link/not-a-token".to_owned(),
    ];
    for f in &forged {
        let (status, headers, body) = env.get(f, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{f}");
        assert!(headers.get(header::SET_COOKIE).is_none());
        assert!(body.contains("not valid") && !body.contains(EMAIL));
    }
    // A link signed by another vault's key (a valid token elsewhere) is forged here.
    let other = Env::new().await;
    let foreign = other.link().await;
    assert_eq!(env.get(&foreign, None).await.0, StatusCode::BAD_REQUEST);
    // The genuine link still works once.
    assert_eq!(env.get(&link, None).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_without_a_valid_session_show_nothing() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    for path in [
        "/portal",
        "/portal/consents",
        "/portal/activity",
        "/portal/export.json",
    ] {
        let (status, headers, body) = env.get(path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_security_headers(&headers);
        assert!(!body.contains(EMAIL));
        // One character changed (to one it is not: a cookie ending in `A` stays genuine).
        let last = if cookie.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{}{last}", &cookie[..cookie.len() - 1]);
        let (status, _, body) = env.get(path, Some(&forged)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!body.contains(EMAIL));
    }
    // A link token is not a session cookie.
    let link = env.link().await;
    let token = link.trim_start_matches("/portal/link/");
    assert_eq!(
        env.get("/portal", Some(token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The session lasts 30 minutes, then shows nothing either.
    assert_eq!(env.get("/portal", Some(&cookie)).await.0, StatusCode::OK);
    env.advance(Duration::minutes(30));
    let (status, _, body) = env.get("/portal", Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("ended") && !body.contains(EMAIL));
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let other_session = env.sign_in().await;
    let foreign_token = env.csrf(&other_session).await;
    assert_eq!(
        env.consent_state("marketing.communications.email").await,
        "granted"
    );
    for csrf in ["", "bogus", foreign_token.as_str()] {
        let form = format!("csrf={csrf}&purpose=marketing.communications.email&action=withdraw");
        let (status, headers, body) = env
            .post_form("/portal/consents", &cookie, &form, false)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf}");
        assert_security_headers(&headers);
        assert!(body.contains("Nothing was changed"));
    }
    let (status, _, _) = env
        .post_form("/portal/logout", &cookie, "csrf=bogus", false)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        env.consent_state("marketing.communications.email").await,
        "granted"
    );
    assert_eq!(env.get("/portal", Some(&cookie)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn withdrawing_and_giving_consent_through_the_form_is_recorded_as_the_customer() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let csrf = env.csrf(&cookie).await;
    let form = format!("csrf={csrf}&purpose=marketing.communications.email&action=withdraw");
    let (status, headers, _) = env
        .post_form("/portal/consents", &cookie, &form, false)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        "/portal/consents?updated=withdrawn"
    );
    assert_eq!(
        env.consent_state("marketing.communications.email").await,
        "withdrawn"
    );
    let history = env
        .vault
        .consent_history(&Actor::cli(), env.subject.parse().unwrap())
        .await
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.actor, format!("portal:{}", env.subject));
    assert_eq!(last.source.as_str(), "portal");
    let (_, _, page) = env
        .get("/portal/consents?updated=withdrawn", Some(&cookie))
        .await;
    assert!(page.contains("You have withdrawn your consent"), "{page}");
    // A purpose that is not the customer's to decide is refused inline, nothing changed.
    let form = format!("csrf={csrf}&purpose=essential.legal_obligation&action=withdraw");
    let (status, _, body) = env
        .post_form("/portal/consents", &cookie, &form, false)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains(r#"role="alert""#));
    assert_eq!(
        env.consent_state("essential.legal_obligation").await,
        "none"
    );
}

#[tokio::test]
async fn under_gpc_a_sale_or_sharing_grant_is_refused_with_a_clear_message() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let csrf = env.csrf(&cookie).await;
    let ads = "marketing.advertising.third_party.targeted";
    let form = format!("csrf={csrf}&purpose={ads}&action=grant");
    let (status, _, body) = env
        .post_form("/portal/consents", &cookie, &form, true)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("Global Privacy Control") && body.contains("Nothing was changed"));
    assert_eq!(env.consent_state(ads).await, "none");
    // Without the signal the same grant is recorded.
    let (status, _, _) = env
        .post_form("/portal/consents", &cookie, &form, false)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(env.consent_state(ads).await, "granted");
    // A visit carrying the signal records the opt-out, as the consent API does.
    let link = env.link().await;
    let req = Request::builder()
        .uri(&link)
        .header("sec-gpc", "1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(req).await.0, StatusCode::SEE_OTHER);
    assert_eq!(env.consent_state(ads).await, "denied");
}

#[tokio::test]
async fn signing_out_ends_the_session_everywhere() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let csrf = env.csrf(&cookie).await;
    let (status, headers, _) = env
        .post_form("/portal/logout", &cookie, &format!("csrf={csrf}"), false)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The cookie, replayed (say, from another tab or a copy), no longer opens anything.
    assert_eq!(
        env.get("/portal", Some(&cookie)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn links_are_issued_only_by_an_admin_for_an_existing_subject() {
    let env = Env::new().await;
    let path = format!("/v1/subjects/{}/portal-links", env.subject);
    let req = Request::builder()
        .method("POST")
        .uri(&path)
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(req).await.0, StatusCode::UNAUTHORIZED);
    let role = r#"{"name": "mailer", "purposes": ["marketing.communications.email"],
                   "collections": {"customers": {"email": "plain"}}}"#;
    assert_eq!(
        env.api("POST", "/v1/roles", role).await.0,
        StatusCode::CREATED
    );
    let (status, body) = env
        .api(
            "POST",
            "/v1/principals",
            r#"{"name": "reader", "roles": ["mailer"]}"#,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reader: serde_json::Value = serde_json::from_str(&body).unwrap();
    let req = Request::builder()
        .method("POST")
        .uri(&path)
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", reader["api_key"].as_str().unwrap()),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(req).await.0, StatusCode::FORBIDDEN);
    let missing = privet_core::SubjectId::new();
    let (status, body) = env
        .api("POST", &format!("/v1/subjects/{missing}/portal-links"), "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = env.api("POST", &path, r#"{"ttl_seconds": 60}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let expires = OffsetDateTime::parse(
        v["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        expires,
        *env.clock.0.lock().unwrap() + Duration::seconds(60)
    );
    let (status, _) = env.api("POST", &path, r#"{"ttl_seconds": 0}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_export_downloads_as_json_for_the_signed_in_customer() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let (status, headers, body) = env.get("/portal/export.json", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["subject"], env.subject.as_str());
    assert!(body.contains(EMAIL));
}

async fn profile_email(env: &Env) -> String {
    let v = env
        .vault
        .read_subject(
            &Actor::cli(),
            env.subject.parse().unwrap(),
            Some("essential.service"),
        )
        .await
        .unwrap();
    v.data["email"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn invalid_corrections_are_shown_inline_and_change_nothing() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let csrf = env.csrf(&cookie).await;
    let (status, _, page) = env.get("/portal/rectify", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<label for="f-email">Email (required)</label>"#),
        "{page}"
    );
    assert!(page.contains(EMAIL), "the form shows the stored value");
    let form = format!(
        "csrf={csrf}&f.email=not-an-email&f.name=Jane+Correct&f.phone=12&f.birth_date=1985-13-45&f.gender=robot"
    );
    let (status, headers, body) = env
        .post_form("/portal/rectify", &cookie, &form, false)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_security_headers(&headers);
    assert!(body.contains(r#"role="alert""#) && body.contains("Nothing was changed"));
    for field in ["email", "phone", "birth_date", "gender"] {
        assert!(
            body.contains(&format!(
                r#"aria-invalid="true" aria-describedby="e-{field}""#
            )),
            "{field} not marked invalid: {body}"
        );
        assert!(body.contains(&format!(r#"<p class="field-error" id="e-{field}">"#)));
    }
    // The valid change in the same form was not applied either, and the submitted text is
    // kept in the form for the customer to fix.
    assert!(!body.contains(r#"id="e-name""#));
    assert!(body.contains(r#"value="not-an-email""#) && body.contains("Jane Correct"));
    assert_eq!(profile_email(&env).await, EMAIL);
    let v = env
        .vault
        .read_subject(
            &Actor::cli(),
            env.subject.parse().unwrap(),
            Some("essential.service"),
        )
        .await
        .unwrap();
    assert_eq!(v.data["name"], "Jane Portal");
}

#[tokio::test]
async fn a_valid_correction_is_saved_as_the_customer() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let csrf = env.csrf(&cookie).await;
    // Without the CSRF token: refused, nothing changed.
    let (status, _, _) = env
        .post_form(
            "/portal/rectify",
            &cookie,
            "csrf=x&f.email=new%40example.com",
            false,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(profile_email(&env).await, EMAIL);
    let form = format!("csrf={csrf}&f.email=jane.new%40example.com&f.name=Jane+Portal");
    let (status, headers, _) = env
        .post_form("/portal/rectify", &cookie, &form, false)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/portal/rectify?updated=1");
    assert_eq!(profile_email(&env).await, "jane.new@example.com");
    let log = env
        .vault
        .access_log(&Actor::cli(), env.subject.parse().unwrap(), None, None)
        .await
        .unwrap();
    let update = log
        .iter()
        .rev()
        .find(|e| e.action == privet_audit::Action::SubjectUpdate)
        .unwrap();
    assert_eq!(update.actor, format!("portal:{}", env.subject));
    assert_eq!(update.fields, vec!["email".to_owned()], "only what changed");
}

#[tokio::test]
async fn erasure_needs_the_csrf_token_and_the_confirmation() {
    let env = Env::new().await;
    let cookie = env.sign_in().await;
    let csrf = env.csrf(&cookie).await;
    let (status, _, page) = env.get("/portal/erase", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("What we must keep, and why") && page.contains("Orders"));
    assert!(page.contains("the law requires"), "{page}");
    let (status, _, _) = env
        .post_form("/portal/erase", &cookie, "csrf=bogus&confirm=yes", false)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = env
        .post_form("/portal/erase", &cookie, &format!("csrf={csrf}"), false)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Nothing was erased"));
    assert_eq!(profile_email(&env).await, EMAIL, "nothing erased");
    // A restriction, asked here, is a completed portal request with a due date.
    let (status, headers, _) = env
        .post_form("/portal/restrict", &cookie, &format!("csrf={csrf}"), false)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{headers:?}");
    let (_, _, list) = env.get("/portal/requests", Some(&cookie)).await;
    assert!(
        list.contains("Restrict the use of your data") && list.contains("Done"),
        "{list}"
    );
    let overview = env
        .vault
        .consents(&Actor::cli(), env.subject.parse().unwrap())
        .await
        .unwrap();
    assert!(overview.restriction.is_some());
    // Confirmed: erased, the session ends with it.
    let (status, headers, body) = env
        .post_form(
            "/portal/erase",
            &cookie,
            &format!("csrf={csrf}&confirm=yes"),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Your data is erased") && !body.contains(EMAIL));
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _, body) = env.get("/portal", Some(&cookie)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(!body.contains(EMAIL));
}
