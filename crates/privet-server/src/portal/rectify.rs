//! The rectification form: the customer corrects their profile. Values go through the
//! vault's validated write path; every problem is shown next to its field (the submitted
//! text kept), and a form with any problem changes nothing.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use privet_core::{Collection, FieldType};
use privet_vault::{PortalField, VaultError};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::pages::{EditField, RectifyPage, label, render};
use super::{Customer, PortalState, csrf_refusal, subject_failure};

#[derive(Debug, Deserialize)]
pub(crate) struct RectifyQuery {
    updated: Option<String>,
}

fn hint(f: &privet_core::Field) -> Option<String> {
    match f.ty {
        FieldType::Email => Some("An email address.".into()),
        FieldType::Phone => {
            Some("A phone number with its country code, e.g. +44 20 7946 0000.".into())
        }
        FieldType::Date => Some("A date as YEAR-MONTH-DAY, e.g. 1985-02-03.".into()),
        FieldType::Enum => Some(format!("One of: {}.", f.values.join(", "))),
        FieldType::Integer => Some("A whole number.".into()),
        FieldType::Decimal => Some("A number.".into()),
        FieldType::Bool => Some("true or false.".into()),
        FieldType::Json => Some("JSON.".into()),
        _ => None,
    }
}

fn autocomplete(f: &privet_core::Field) -> Option<&'static str> {
    match (f.ty, f.name.as_str()) {
        (FieldType::Email, _) => Some("email"),
        (FieldType::Phone, _) => Some("tel"),
        (_, "name") => Some("name"),
        (_, "address") => Some("street-address"),
        (_, "birth_date") => Some("bday"),
        _ => Some("off"),
    }
}

/// The form's fields, showing `submitted` text where given, else the stored values.
fn edit_fields(
    profile: &Collection,
    stored: &[PortalField],
    submitted: &HashMap<String, String>,
    errors: &HashMap<String, String>,
) -> Vec<EditField> {
    profile
        .fields()
        .map(|f| EditField {
            name: f.name.clone(),
            label: label(&f.name),
            required: f.required,
            multiline: matches!(f.ty, FieldType::Text | FieldType::Json),
            hint: hint(f),
            autocomplete: autocomplete(f),
            value: submitted.get(&f.name).cloned().unwrap_or_else(|| {
                stored
                    .iter()
                    .find(|s| s.name == f.name)
                    .map(|s| s.value.clone())
                    .unwrap_or_default()
            }),
            error: errors.get(&f.name).cloned(),
        })
        .collect()
}

pub(crate) async fn page(
    State(s): State<PortalState>,
    c: Customer,
    Query(q): Query<RectifyQuery>,
) -> Response {
    let done = q
        .updated
        .is_some()
        .then(|| "Your corrections are saved.".to_owned());
    respond(
        &s,
        &c,
        StatusCode::OK,
        None,
        done,
        &HashMap::new(),
        &HashMap::new(),
    )
    .await
}

async fn respond(
    s: &PortalState,
    c: &Customer,
    status: StatusCode,
    error: Option<String>,
    done: Option<String>,
    submitted: &HashMap<String, String>,
    errors: &HashMap<String, String>,
) -> Response {
    let Some(profile) = s.vault.schema().profile() else {
        return subject_failure(&VaultError::NoProfile);
    };
    let stored = match s.vault.portal_profile(&c.session, c.request_id).await {
        Ok(p) => p
            .records
            .into_iter()
            .next()
            .map(|r| r.fields)
            .unwrap_or_default(),
        Err(e) => return subject_failure(&e),
    };
    render(
        status,
        &RectifyPage {
            l: c.layout("Correct your data", "rectify"),
            error,
            done,
            fields: edit_fields(profile, &stored, submitted, errors),
        },
    )
}

/// The submitted text of one field as the JSON value the schema expects, or what is wrong.
fn to_value(ty: FieldType, text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Value::Null);
    }
    match ty {
        FieldType::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "Enter a whole number.".to_owned()),
        FieldType::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("Enter true or false.".to_owned()),
        },
        FieldType::Json => serde_json::from_str(text).map_err(|_| "Enter valid JSON.".to_owned()),
        _ => Ok(Value::String(text.to_owned())),
    }
}

pub(crate) async fn submit(
    State(s): State<PortalState>,
    c: Customer,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if let Some(refused) = csrf_refusal(&c, csrf) {
        return refused;
    }
    let Some(profile) = s.vault.schema().profile() else {
        return subject_failure(&VaultError::NoProfile);
    };
    let submitted: HashMap<String, String> = pairs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("f.")?.to_owned(), v.clone())))
        .collect();
    let stored = match s.vault.portal_profile(&c.session, c.request_id).await {
        Ok(p) => p
            .records
            .into_iter()
            .next()
            .map(|r| r.fields)
            .unwrap_or_default(),
        Err(e) => return subject_failure(&e),
    };
    let mut changes = Map::new();
    let mut errors = HashMap::new();
    for f in profile.fields() {
        let Some(text) = submitted.get(&f.name) else {
            continue;
        };
        let current = stored
            .iter()
            .find(|s| s.name == f.name)
            .map(|s| s.value.as_str());
        if Some(text.trim()) == current || (text.trim().is_empty() && current.is_none()) {
            continue;
        }
        match to_value(f.ty, text) {
            Ok(v) => {
                changes.insert(f.name.clone(), v);
            }
            Err(e) => {
                errors.insert(f.name.clone(), e);
            }
        }
    }
    let invalid = |errors: &HashMap<String, String>| {
        Some(format!(
            "{} value(s) could not be accepted; see the fields marked below. Nothing was changed.",
            errors.len()
        ))
    };
    if !errors.is_empty() {
        let msg = invalid(&errors);
        return respond(
            &s,
            &c,
            StatusCode::UNPROCESSABLE_ENTITY,
            msg,
            None,
            &submitted,
            &errors,
        )
        .await;
    }
    if changes.is_empty() {
        let done = Some("Nothing to save: the values are as we hold them.".to_owned());
        return respond(&s, &c, StatusCode::OK, None, done, &submitted, &errors).await;
    }
    match s
        .vault
        .portal_rectify(&c.session, &changes, c.request_id)
        .await
    {
        Ok(()) => Redirect::to("/portal/rectify?updated=1").into_response(),
        Err(VaultError::Invalid(v)) => {
            for e in &v.0 {
                errors
                    .entry(e.field.clone())
                    .or_insert_with(|| format!("{}.", e.message.trim_end_matches('.')));
            }
            let msg = invalid(&errors);
            respond(
                &s,
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                msg,
                None,
                &submitted,
                &errors,
            )
            .await
        }
        Err(VaultError::WriteRefused(refused)) => {
            for r in &refused.0 {
                errors.insert(
                    r.field.clone(),
                    "We may keep this only with your consent: give it on the Consents page first."
                        .into(),
                );
            }
            let msg = invalid(&errors);
            respond(
                &s,
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                msg,
                None,
                &submitted,
                &errors,
            )
            .await
        }
        Err(VaultError::Conflict) => {
            let msg = Some("Your data changed while you were editing. Nothing was changed; please check and save again.".to_owned());
            respond(
                &s,
                &c,
                StatusCode::CONFLICT,
                msg,
                None,
                &HashMap::new(),
                &errors,
            )
            .await
        }
        Err(e) => subject_failure(&e),
    }
}
