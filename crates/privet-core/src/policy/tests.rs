use std::collections::BTreeMap;

use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::consent::{
    ChangeContext, ConsentChange, ConsentSource, ConsentState, ConsentStatus, CurrentConsents,
    NoConsents,
};
use crate::grant::Role;
use crate::schema::{EXAMPLE_SCHEMA, Schema};

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
const EMAIL: &str = "marketing.communications.email";

fn schema() -> Schema {
    Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap()
}

fn role(v: serde_json::Value) -> Role {
    serde_json::from_value(v).unwrap()
}

fn mailer() -> Role {
    role(json!({
        "name": "mailer",
        "purposes": [EMAIL],
        "collections": {"customers": {"email": "plain", "name": "masked"}}
    }))
}

fn purpose(name: &str, legal_basis: LegalBasis, automated_decision: bool) -> Purpose {
    Purpose {
        name: name.into(),
        description: String::new(),
        legal_basis,
        sale_or_sharing: false,
        automated_decision,
    }
}

/// The example's religion field (special category, own consent basis), declared for
/// `purposes` and with the given own legal basis.
fn special_field(purposes: &[&str], legal_basis: Option<LegalBasis>) -> Field {
    let mut field = schema()
        .collection("customers")
        .unwrap()
        .field("religion")
        .unwrap()
        .clone();
    field.purposes = purposes.iter().map(|p| p.to_string()).collect();
    field.legal_basis = legal_basis;
    field
}

fn granted(purposes: &[&str]) -> BTreeMap<String, ConsentStatus> {
    purposes
        .iter()
        .map(|p| (p.to_string(), ConsentStatus::new(ConsentState::Granted)))
        .collect()
}

fn all_customers(name: &str, purposes: &[&str]) -> Role {
    role(json!({
        "name": name,
        "purposes": purposes,
        "collections": {"customers": {"religion": "plain", "email": "plain", "name": "plain"}}
    }))
}

#[test]
fn withdrawn_consent_hides_the_field_on_the_next_read() {
    let schema = schema();
    let grants = Grants::from_roles([&mailer()]);
    let p = schema.purpose(EMAIL).unwrap();
    let email = schema
        .collection("customers")
        .unwrap()
        .field("email")
        .unwrap();
    let ctx = ChangeContext {
        now: NOW,
        actor: "prn_1",
        gpc: false,
    };
    let grant = ConsentChange {
        state: ConsentState::Granted,
        source: ConsentSource::Portal,
        notice_version: "3".into(),
        expires_at: None,
    };
    let mut current = CurrentConsents::default();
    current.apply(grant.clone().into_event(&schema, EMAIL, ctx).unwrap());
    let read = ReadContext::new(&grants, p, &current, false, NOW);
    assert_eq!(read.decide("customers", email).outcome, Outcome::Plain);

    let later = ChangeContext {
        now: NOW + Duration::seconds(1),
        ..ctx
    };
    let withdraw = ConsentChange {
        state: ConsentState::Withdrawn,
        ..grant
    };
    current.apply(withdraw.into_event(&schema, EMAIL, later).unwrap());
    let read = ReadContext::new(&grants, p, &current, false, later.now);
    assert_eq!(
        read.decide("customers", email).outcome,
        Outcome::Withheld(WithholdReason::ConsentWithdrawn)
    );
}

#[test]
fn a_consent_with_an_expiry_releases_until_that_moment_only() {
    let schema = schema();
    let grants = Grants::from_roles([&mailer()]);
    let p = schema.purpose(EMAIL).unwrap();
    let name = schema
        .collection("customers")
        .unwrap()
        .field("name")
        .unwrap();
    let consents = BTreeMap::from([(
        EMAIL.to_string(),
        ConsentStatus {
            state: ConsentState::Granted,
            expires_at: Some(NOW),
        },
    )]);
    let at = |t| ReadContext::new(&grants, p, &consents, false, t).decide("customers", name);
    assert_eq!(at(NOW - Duration::microseconds(1)).outcome, Outcome::Masked);
    assert_eq!(
        at(NOW).outcome,
        Outcome::Withheld(WithholdReason::ConsentExpired)
    );
}

#[test]
fn special_category_data_never_goes_to_marketing_personalization_or_automated_decisions() {
    let uses = [
        purpose(EMAIL, LegalBasis::Consent, false),
        purpose("personalize.content", LegalBasis::Consent, false),
        purpose("marketing", LegalBasis::LegitimateInterest, false),
        purpose(
            "essential.fraud_detection",
            LegalBasis::LegitimateInterest,
            true,
        ),
    ];
    let names: Vec<&str> = uses.iter().map(|p| p.name.as_str()).collect();
    let field = special_field(&names, None);
    let grants = Grants::from_roles([&all_customers("everything", &names)]);
    let consents = granted(&names);
    for p in &uses {
        let ctx = ReadContext::new(&grants, p, &consents, false, NOW);
        assert_eq!(
            ctx.decide("customers", &field).outcome,
            Outcome::Withheld(WithholdReason::SpecialCategory),
            "{}",
            p.name
        );
        assert_eq!(
            check_lookup(&grants, p, "customers", &field),
            Err(WithholdReason::SpecialCategory)
        );
    }
    // The same field for fraud detection that is not an automated decision is released;
    // a purpose merely starting with the word (`marketingish`) is not marketing.
    for p in [
        purpose(
            "essential.fraud_detection",
            LegalBasis::LegitimateInterest,
            false,
        ),
        purpose("marketingish", LegalBasis::LegitimateInterest, false),
    ] {
        let field = special_field(&[&p.name], None);
        let grants = Grants::from_roles([&all_customers("r", &[&p.name])]);
        let ctx = ReadContext::new(&grants, &p, &NoConsents, false, NOW);
        assert_eq!(
            ctx.decide("customers", &field).outcome,
            Outcome::Plain,
            "{}",
            p.name
        );
    }
}

#[test]
fn a_restricted_subject_releases_only_for_legal_obligations() {
    let schema = schema();
    let compliance = role(json!({
        "name": "compliance",
        "purposes": ["essential.legal_obligation", "essential.service"],
        "collections": {"orders": {"total_cents": "plain"}}
    }));
    let grants = Grants::from_roles([&compliance]);
    let total = schema
        .collection("orders")
        .unwrap()
        .field("total_cents")
        .unwrap();
    let decide = |p: &str, restricted| {
        let p = schema.purpose(p).unwrap();
        ReadContext::new(&grants, p, &NoConsents, restricted, NOW)
            .decide("orders", total)
            .outcome
    };
    assert_eq!(decide("essential.legal_obligation", true), Outcome::Plain);
    assert_eq!(decide("essential.service", false), Outcome::Plain);
    assert_eq!(
        decide("essential.service", true),
        Outcome::Withheld(WithholdReason::Restricted)
    );
}

#[test]
fn an_erased_subjects_kept_records_release_only_for_legal_obligations_and_only_as_granted() {
    let schema = schema();
    let compliance = role(json!({
        "name": "compliance",
        "purposes": ["essential.legal_obligation", "essential.service"],
        "collections": {"orders": {"total_cents": "plain"}}
    }));
    let grants = Grants::from_roles([&compliance]);
    let orders = schema.collection("orders").unwrap();
    let decide = |grants: &Grants, p: &str, field: &str, erased| {
        let p = schema.purpose(p).unwrap();
        ReadContext::new(grants, p, &NoConsents, false, NOW)
            .erased(erased)
            .decide("orders", orders.field(field).unwrap())
            .outcome
    };
    assert_eq!(
        decide(&grants, "essential.legal_obligation", "total_cents", true),
        Outcome::Plain
    );
    assert_eq!(
        decide(&grants, "essential.service", "total_cents", false),
        Outcome::Plain
    );
    assert_eq!(
        decide(&grants, "essential.service", "total_cents", true),
        Outcome::Withheld(WithholdReason::ErasedRetained)
    );
    // The grants still come first: a caller without one learns nothing of the erasure.
    assert_eq!(
        decide(&grants, "essential.legal_obligation", "card_last4", true),
        Outcome::Withheld(WithholdReason::NotGranted)
    );
    assert_eq!(
        decide(&Grants::default(), "essential.service", "total_cents", true),
        Outcome::Withheld(WithholdReason::NotGranted)
    );
}

#[test]
fn reasons_are_reported_in_the_documented_order() {
    let p = purpose(EMAIL, LegalBasis::Consent, false);
    let no_grants = Grants::default();
    let grants = Grants::from_roles([&all_customers("m", &[EMAIL])]);
    let reason = |grants: &Grants, field: &Field, restricted| {
        ReadContext::new(grants, &p, &NoConsents, restricted, NOW)
            .decide("customers", field)
            .outcome
            .reason()
    };
    // Every rule fails: the undeclared purpose is reported.
    let undeclared = special_field(&["essential.service"], Some(LegalBasis::Consent));
    assert_eq!(
        reason(&no_grants, &undeclared, true),
        Some(WithholdReason::PurposeNotDeclared)
    );
    // Declared, but special, ungranted, restricted and without consent.
    let special = special_field(&[EMAIL], Some(LegalBasis::Consent));
    assert_eq!(
        reason(&no_grants, &special, true),
        Some(WithholdReason::SpecialCategory)
    );
    // Not special: ungranted comes before the subject's restriction and consent, so a
    // caller without the grant learns nothing of either.
    let mut plain = special.clone();
    plain.special_category = false;
    assert_eq!(
        reason(&no_grants, &plain, true),
        Some(WithholdReason::NotGranted)
    );
    assert_eq!(
        reason(&grants, &plain, true),
        Some(WithholdReason::Restricted)
    );
    assert_eq!(
        reason(&grants, &plain, false),
        Some(WithholdReason::NoConsent)
    );
    let mut sorted = WithholdReason::ALL.to_vec();
    sorted.sort();
    assert_eq!(sorted, WithholdReason::ALL);
}

#[test]
fn a_purpose_from_one_role_and_a_field_from_another_release_nothing() {
    let schema = schema();
    let support = role(json!({
        "name": "support",
        "purposes": ["essential.service"],
        "collections": {"customers": {"address": "plain"}}
    }));
    let marketing_no_fields = role(json!({"name": "m", "purposes": [EMAIL]}));
    let grants = Grants::from_roles([&support, &marketing_no_fields]);
    let email = schema
        .collection("customers")
        .unwrap()
        .field("email")
        .unwrap();
    let p = schema.purpose(EMAIL).unwrap();
    let consents = granted(&[EMAIL]);
    let ctx = ReadContext::new(&grants, p, &consents, false, NOW);
    assert_eq!(
        ctx.decide("customers", email).outcome,
        Outcome::Withheld(WithholdReason::NotGranted)
    );
    assert_eq!(
        check_lookup(&grants, p, "customers", email),
        Err(WithholdReason::NotGranted)
    );
}

#[test]
fn a_release_names_the_granting_role() {
    let schema = schema();
    let analyst = role(json!({
        "name": "analyst",
        "purposes": ["analytics.reporting"],
        "collections": {"customers": {"gender": "tokenized"}}
    }));
    let grants = Grants::from_roles([&mailer(), &analyst]);
    let p = schema.purpose("analytics.reporting").unwrap();
    let gender = schema
        .collection("customers")
        .unwrap()
        .field("gender")
        .unwrap();
    let d = ReadContext::new(&grants, p, &NoConsents, false, NOW).decide("customers", gender);
    assert_eq!(
        d,
        Decision {
            outcome: Outcome::Tokenized,
            role: Some("analyst")
        }
    );
}

#[test]
fn a_lookup_needs_the_purpose_declared_and_granted_for_the_search_field() {
    let schema = schema();
    let grants = Grants::from_roles([&mailer()]);
    let customers = schema.collection("customers").unwrap();
    let email = customers.field("email").unwrap();
    let phone = customers.field("phone").unwrap();
    let marketing = schema.purpose(EMAIL).unwrap();
    let security = schema.purpose("essential.service.security").unwrap();
    // Consent is the found subject's business, decided on the read that follows.
    assert_eq!(check_lookup(&grants, marketing, "customers", email), Ok(()));
    assert_eq!(
        check_lookup(&grants, marketing, "customers", phone),
        Err(WithholdReason::PurposeNotDeclared)
    );
    assert_eq!(
        check_lookup(&grants, security, "customers", email),
        Err(WithholdReason::NotGranted)
    );
}

fn write_schema() -> Schema {
    let toml = format!(
        "{EXAMPLE_SCHEMA}\n{}",
        r#"
[collections.preferences]
kind = "records"

[collections.preferences.fields.topics]
type = "string"
category = "user.behavior"
purposes = ["marketing.communications.email"]

[collections.preferences.fields.ad_profile]
type = "string"
category = "user.behavior"
purposes = ["marketing.communications.email", "marketing.advertising.third_party.targeted"]
"#
    );
    Schema::from_toml_str(&toml).unwrap()
}

#[test]
fn collecting_a_field_needs_a_purpose_with_a_valid_legal_basis() {
    let schema = write_schema();
    let customers = schema.collection("customers").unwrap();
    // Without any consent: every customers field rests on contract or legitimate interest,
    // except religion, which asks for consent of its own.
    let err = check_write(&schema, customers.fields(), &NoConsents, NOW).unwrap_err();
    assert_eq!(
        err.0,
        [WriteRefusal {
            field: "religion".into(),
            reason: WithholdReason::NoConsent,
            needs_consent_to: vec!["essential.service".into()],
        }]
    );
    assert_eq!(err.to_string(), "religion: no_consent");
    let consents = granted(&["essential.service"]);
    assert_eq!(
        check_write(&schema, customers.fields(), &consents, NOW),
        Ok(())
    );

    // A field kept only for consent-based purposes needs one of those consents.
    let prefs = schema.collection("preferences").unwrap();
    let ad_profile = prefs.field("ad_profile").unwrap();
    let withdrawn = BTreeMap::from([(
        EMAIL.to_string(),
        ConsentStatus::new(ConsentState::Withdrawn),
    )]);
    let err = check_write(&schema, [ad_profile], &withdrawn, NOW).unwrap_err();
    assert_eq!(err.0[0].reason, WithholdReason::ConsentWithdrawn);
    assert_eq!(
        err.0[0].needs_consent_to,
        [EMAIL, "marketing.advertising.third_party.targeted"]
    );
    let expired = BTreeMap::from([(
        EMAIL.to_string(),
        ConsentStatus {
            state: ConsentState::Granted,
            expires_at: Some(NOW),
        },
    )]);
    let err = check_write(&schema, prefs.fields(), &expired, NOW).unwrap_err();
    let refused: Vec<(&str, WithholdReason)> =
        err.0.iter().map(|r| (r.field.as_str(), r.reason)).collect();
    assert_eq!(
        refused,
        [
            ("topics", WithholdReason::ConsentExpired),
            ("ad_profile", WithholdReason::ConsentExpired)
        ]
    );
    let ads = granted(&["marketing.advertising.third_party.targeted"]);
    assert_eq!(check_write(&schema, [ad_profile], &ads, NOW), Ok(()));
    assert!(check_write(&schema, prefs.fields(), &ads, NOW).is_err());
}

#[test]
fn outcomes_and_reasons_have_stable_names() {
    let codes: Vec<&str> = WithholdReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        codes,
        [
            "purpose_not_declared",
            "special_category",
            "not_granted",
            "restricted",
            "erased_retained",
            "no_consent",
            "consent_withdrawn",
            "consent_expired"
        ]
    );
    for r in WithholdReason::ALL {
        assert_eq!(r.as_str().parse(), Ok(r));
        assert_eq!(serde_json::to_value(r).unwrap(), json!(r.as_str()));
        assert_eq!(r.to_string(), r.as_str());
    }
    assert!("forbidden".parse::<WithholdReason>().is_err());
    assert_eq!(
        serde_json::to_value(Outcome::Masked).unwrap(),
        json!({"outcome": "masked"})
    );
    assert_eq!(
        serde_json::to_value(Outcome::Withheld(WithholdReason::ConsentExpired)).unwrap(),
        json!({"outcome": "withheld", "reason": "consent_expired"})
    );
    assert_eq!(Outcome::Tokenized.access(), Some(Access::Tokenized));
    assert_eq!(Outcome::Plain.reason(), None);
}
