//! Rights requests from the portal: the customer's requests with status and due date, a
//! restriction of processing, and erasure behind a confirmation that says what is kept and
//! why. Portal requests are verified by the signed link and fulfilled at once.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use privet_core::{RequestKind, RequestStatus};
use serde::Deserialize;

use super::pages::{
    ErasePage, ErasedPage, KeptView, Layout, RequestView, RequestsPage, date, label, render,
};
use super::{Customer, PortalState, clear_cookie, csrf_refusal, subject_failure};

#[derive(Debug, Deserialize)]
pub(crate) struct RequestsQuery {
    updated: Option<String>,
}

fn what(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Access => "A copy of your data",
        RequestKind::Portability => "Your data to take elsewhere",
        RequestKind::Rectification => "Correct your data",
        RequestKind::Erasure => "Erase your data",
        RequestKind::Restriction => "Restrict the use of your data",
        RequestKind::Objection => "Object to a use of your data",
        RequestKind::OptOutSaleSharing => "Opt out of sale and sharing",
    }
}

fn status_text(status: RequestStatus, overdue: bool) -> String {
    let s = match status {
        RequestStatus::Received => "Received",
        RequestStatus::Verifying => "Checking it is you",
        RequestStatus::InProgress => "In progress",
        RequestStatus::Extended => "In progress (deadline extended)",
        RequestStatus::Completed => "Done",
        RequestStatus::Rejected => "Refused",
    };
    if overdue {
        format!("{s} — overdue")
    } else {
        s.to_owned()
    }
}

pub(crate) async fn page(
    State(s): State<PortalState>,
    c: Customer,
    Query(q): Query<RequestsQuery>,
) -> Response {
    let done = match q.updated.as_deref() {
        Some("restriction") => Some(
            "The use of your data is restricted: we now use it only where the law requires."
                .to_owned(),
        ),
        _ => None,
    };
    match s.vault.portal_requests(&c.session).await {
        Ok(list) => render(
            StatusCode::OK,
            &RequestsPage {
                l: c.layout("Your requests", "requests"),
                done,
                requests: list
                    .into_iter()
                    .map(|r| RequestView {
                        kind: r.request.kind.as_str(),
                        what: what(r.request.kind),
                        received: date(r.request.received_at),
                        due: date(r.request.due_at),
                        status: status_text(r.request.status, r.overdue),
                    })
                    .collect(),
            },
        ),
        Err(e) => subject_failure(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn restrict(
    State(s): State<PortalState>,
    c: Customer,
    Form(form): Form<ConfirmForm>,
) -> Response {
    if let Some(refused) = csrf_refusal(&c, &form.csrf) {
        return refused;
    }
    match s
        .vault
        .portal_request(&c.session, RequestKind::Restriction, c.request_id)
        .await
    {
        Ok(_) => Redirect::to("/portal/requests?updated=restriction").into_response(),
        Err(e) => subject_failure(&e),
    }
}

fn kept(s: &PortalState) -> Vec<KeptView> {
    s.vault
        .portal_kept_on_erasure()
        .into_iter()
        .map(|(name, retention, why)| KeptView {
            title: label(&name),
            name,
            retention,
            why: why.join("; "),
        })
        .collect()
}

pub(crate) async fn confirm_page(State(s): State<PortalState>, c: Customer) -> Response {
    render(
        StatusCode::OK,
        &ErasePage {
            l: c.layout("Erase your data", "requests"),
            error: None,
            kept: kept(&s),
        },
    )
}

pub(crate) async fn erase(
    State(s): State<PortalState>,
    c: Customer,
    Form(form): Form<ConfirmForm>,
) -> Response {
    if let Some(refused) = csrf_refusal(&c, &form.csrf) {
        return refused;
    }
    if form.confirm != "yes" {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ErasePage {
                l: c.layout("Erase your data", "requests"),
                error: Some(
                    "Please confirm the erasure with the button below. Nothing was erased.".into(),
                ),
                kept: kept(&s),
            },
        );
    }
    match s
        .vault
        .portal_request(&c.session, RequestKind::Erasure, c.request_id)
        .await
    {
        Ok(request) => {
            let mut resp = render(
                StatusCode::OK,
                &ErasedPage {
                    l: Layout::signed_out("Your data is erased"),
                    kept: kept(&s),
                    request_id: request.id.to_string(),
                },
            );
            // The customer is gone: so is the session.
            resp.headers_mut()
                .insert(header::SET_COOKIE, clear_cookie());
            resp
        }
        Err(e) => subject_failure(&e),
    }
}
