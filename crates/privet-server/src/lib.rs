//! Privet's HTTP API: thin axum adapters over [`privet_vault::Vault`].
//!
//! Every handler does three things: extract (authenticated principal, stated purpose,
//! validated body), call one vault use case, map the result. Errors are RFC 9457
//! `application/problem+json` with a stable `type` from one table ([`problem`]); a 500 says
//! nothing but an error id, and the cause goes to the log. Nothing here decides policy,
//! touches a key or writes SQL, and no URL query string (which may hold a looked-up value)
//! is ever logged.
//!
//! It serves the privacy portal too (`/portal`, server-rendered pages for customers, see the
//! `portal` module), signed in by single-use links from `POST /v1/subjects/{id}/portal-links`.
//!
//! It also serves Prometheus metrics ([`Metrics`], `GET /metrics`) and delivers the alerts
//! of the vault's access monitoring to a signed webhook ([`Observer`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod extract;
mod metrics;
mod notify;
mod notify_smtp;
mod openapi;
mod portal;
pub mod problem;
mod router;
mod routes;
mod webhook;

pub use metrics::{Metrics, MetricsAccess};
pub use notify::{NotifyConfig, WebhookSender, deliver_notifications};
pub use notify_smtp::{SmtpConfig, SmtpError, SmtpSender, subject_line};
pub use portal::{CONTENT_SECURITY_POLICY, PortalConfig, SESSION_COOKIE};
pub use router::{ServerConfig, router, serve};
pub use webhook::{Observer, SIGNATURE_HEADER, WebhookConfig, WebhookError};
