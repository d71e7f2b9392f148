//! The portal's pages: askama templates (HTML auto-escaped) and the view models they show.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use privet_vault::{AccessLogEntry, PortalCollection, PortalConsent};
use time::OffsetDateTime;
use time::macros::format_description;

/// What every page's frame needs.
pub(crate) struct Layout {
    pub(crate) title: &'static str,
    /// Which navigation entry is the current page (`data`, `consents`, `activity`, …).
    pub(crate) active: &'static str,
    /// Whether the customer is signed in (navigation and sign-out shown).
    pub(crate) nav: bool,
    /// The session's CSRF token (empty when signed out).
    pub(crate) csrf: String,
}

impl Layout {
    pub(crate) fn signed_out(title: &'static str) -> Self {
        Self {
            title,
            active: "",
            nav: false,
            csrf: String::new(),
        }
    }
}

/// A page with a heading and a few paragraphs: errors, sign-out, expired links.
#[derive(Template)]
#[template(path = "portal/message.html")]
pub(crate) struct MessagePage {
    pub(crate) l: Layout,
    pub(crate) heading: &'static str,
    pub(crate) paragraphs: Vec<String>,
    pub(crate) continue_href: Option<&'static str>,
    pub(crate) continue_text: &'static str,
}

impl MessagePage {
    pub(crate) fn new(title: &'static str, heading: &'static str, paragraphs: &[&str]) -> Self {
        Self {
            l: Layout::signed_out(title),
            heading,
            paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            continue_href: None,
            continue_text: "",
        }
    }
}

#[derive(Template)]
#[template(path = "portal/data.html")]
pub(crate) struct DataPage {
    pub(crate) l: Layout,
    pub(crate) collections: Vec<CollectionView>,
}

pub(crate) struct CollectionView {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) retention: Option<String>,
    pub(crate) records: Vec<RecordView>,
}

pub(crate) struct RecordView {
    pub(crate) id: String,
    pub(crate) caption: String,
    pub(crate) fields: Vec<FieldView>,
}

pub(crate) struct FieldView {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) value: String,
    pub(crate) purposes: Vec<PurposeView>,
}

pub(crate) struct PurposeView {
    pub(crate) description: String,
    pub(crate) basis: &'static str,
}

#[derive(Template)]
#[template(path = "portal/consents.html")]
pub(crate) struct ConsentsPage {
    pub(crate) l: Layout,
    pub(crate) gpc: bool,
    pub(crate) error: Option<String>,
    pub(crate) done: Option<String>,
    pub(crate) consents: Vec<ConsentView>,
}

pub(crate) struct ConsentView {
    pub(crate) purpose: String,
    pub(crate) description: String,
    pub(crate) sale_or_sharing: bool,
    pub(crate) granted: bool,
    pub(crate) state_text: &'static str,
    pub(crate) recorded: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/rectify.html")]
pub(crate) struct RectifyPage {
    pub(crate) l: Layout,
    pub(crate) error: Option<String>,
    pub(crate) done: Option<String>,
    pub(crate) fields: Vec<EditField>,
}

/// One profile field in the rectification form.
pub(crate) struct EditField {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) required: bool,
    pub(crate) multiline: bool,
    pub(crate) hint: Option<String>,
    pub(crate) autocomplete: Option<&'static str>,
    /// The value shown: the stored one, or what the customer submitted.
    pub(crate) value: String,
    /// What is wrong with the submitted value.
    pub(crate) error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/requests.html")]
pub(crate) struct RequestsPage {
    pub(crate) l: Layout,
    pub(crate) done: Option<String>,
    pub(crate) requests: Vec<RequestView>,
}

pub(crate) struct RequestView {
    pub(crate) kind: &'static str,
    pub(crate) what: &'static str,
    pub(crate) received: String,
    pub(crate) due: String,
    pub(crate) status: String,
}

/// What an erasure keeps, for the customer.
pub(crate) struct KeptView {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) retention: Option<String>,
    pub(crate) why: String,
}

#[derive(Template)]
#[template(path = "portal/erase.html")]
pub(crate) struct ErasePage {
    pub(crate) l: Layout,
    pub(crate) error: Option<String>,
    pub(crate) kept: Vec<KeptView>,
}

#[derive(Template)]
#[template(path = "portal/erased.html")]
pub(crate) struct ErasedPage {
    pub(crate) l: Layout,
    pub(crate) kept: Vec<KeptView>,
    pub(crate) request_id: String,
}

#[derive(Template)]
#[template(path = "portal/export.html")]
pub(crate) struct ExportPage {
    pub(crate) l: Layout,
}

#[derive(Template)]
#[template(path = "portal/activity.html")]
pub(crate) struct ActivityPage {
    pub(crate) l: Layout,
    pub(crate) entries: Vec<ActivityView>,
}

pub(crate) struct ActivityView {
    pub(crate) time: String,
    pub(crate) who: String,
    pub(crate) what: &'static str,
    pub(crate) why: String,
    pub(crate) fields: String,
}

/// Renders a page with a status. A template that fails to render (it cannot, short of a bug)
/// is a bare 500 that says nothing.
pub(crate) fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a portal page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// `card_last4` → `Card last4`.
pub(crate) fn label(name: &str) -> String {
    let text = name.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

pub(crate) fn date_time(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| t.to_string())
}

pub(crate) fn date(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day]");
    t.format(&f).unwrap_or_else(|_| t.to_string())
}

/// A legal basis in the words of a privacy notice.
pub(crate) fn basis_text(basis: &str) -> &'static str {
    match basis {
        "consent" => "with your consent",
        "contract" => "to provide the service you asked for",
        "legal_obligation" => "because the law requires it",
        "legitimate_interest" => "in our legitimate interest",
        "vital_interests" => "to protect someone's vital interests",
        "public_task" => "for a task in the public interest",
        _ => "on another legal basis",
    }
}

pub(crate) fn data_view(collections: Vec<PortalCollection>) -> Vec<CollectionView> {
    collections
        .into_iter()
        .map(|c| {
            let many = !c.profile;
            CollectionView {
                title: if c.profile {
                    "Your profile".to_owned()
                } else {
                    label(&c.name)
                },
                records: c
                    .records
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| RecordView {
                        id: r.id.to_string(),
                        caption: if many {
                            format!(
                                "{} {}, created {}",
                                label(&c.name),
                                i + 1,
                                date(r.created_at)
                            )
                        } else {
                            format!("Since {}", date(r.created_at))
                        },
                        fields: r
                            .fields
                            .into_iter()
                            .map(|f| FieldView {
                                label: label(&f.name),
                                name: f.name,
                                value: f.value,
                                purposes: f
                                    .purposes
                                    .into_iter()
                                    .map(|(_, description, basis)| PurposeView {
                                        description,
                                        basis: basis_text(basis),
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
                name: c.name,
                description: c.description,
                retention: c.retention,
            }
        })
        .collect()
}

pub(crate) fn consent_view(c: PortalConsent) -> ConsentView {
    ConsentView {
        granted: c.granted(),
        state_text: match c.state {
            "granted" => "You have given your consent",
            "withdrawn" => "You have withdrawn your consent",
            "denied" => "You have not consented",
            "expired" => "Your consent has expired",
            _ => "Not asked yet: we do not use your data for this",
        },
        recorded: c.recorded.map(|(at, source)| {
            let how = match source.as_str() {
                "portal" => "on this page",
                "gpc" => "by your browser's Global Privacy Control",
                "web_form" => "on a web form",
                "import" => "imported from earlier records",
                _ => "through our service",
            };
            format!("since {}, {how}", date_time(at))
        }),
        purpose: c.purpose,
        description: c.description,
        sale_or_sharing: c.sale_or_sharing,
    }
}

pub(crate) fn activity_view(e: AccessLogEntry, schema: &privet_vault::Schema) -> ActivityView {
    let action = serde_json::to_value(e.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let who = if e.actor.starts_with("portal:") {
        "You, on this page".to_owned()
    } else if e.actor == "cli" {
        "An operator of our service".to_owned()
    } else if e.actor == "monitor" {
        "Our access monitoring".to_owned()
    } else {
        match e.actor_name {
            Some(name) => format!("Our service “{name}”"),
            None => format!("A former service ({})", e.actor),
        }
    };
    let denied = matches!(e.decision, privet_audit::Decision::Denied);
    let portal_reason = e
        .reason
        .as_deref()
        .is_some_and(|r| r.starts_with("portal_"));
    let what = match (action.as_str(), denied) {
        (_, true) => "Asked, and was refused",
        ("subject_export", _) => "Exported all your data",
        _ if portal_reason => "Privacy page",
        ("subject_create", _) => "Created your record",
        ("subject_read", _) => "Read your profile",
        ("subject_update", _) => "Changed your profile",
        ("subject_lookup", _) => "Looked you up",
        ("subject_erase", _) => "Erased your data",
        ("record_create", _) => "Added a record",
        ("record_read", _) => "Read your records",
        ("consent_update", _) => "Recorded a consent decision",
        ("consent_read", _) => "Read your consents",
        ("restriction_update", _) => "Changed a restriction of use",
        _ => "Administration",
    };
    let why = match e.purpose.as_deref() {
        Some("subject_access") => "Showing you your own data".to_owned(),
        Some(p) => schema
            .purpose(p)
            .map_or_else(|| p.to_owned(), |p| p.description.clone()),
        None => match e.reason.as_deref() {
            Some("portal_link_issued") => "Sent you a link to this page".to_owned(),
            Some("portal_session_started") => "You opened this page".to_owned(),
            Some("portal_session_ended") => "You signed out".to_owned(),
            _ => "—".to_owned(),
        },
    };
    ActivityView {
        time: date_time(e.time),
        who,
        what,
        why,
        fields: if e.fields.is_empty() {
            "—".to_owned()
        } else {
            e.fields.join(", ")
        },
    }
}
