use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::schema::EXAMPLE_SCHEMA;

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);
const EMAIL: &str = "marketing.communications.email";
const ADS: &str = "marketing.advertising.third_party.targeted";

fn schema() -> Schema {
    Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap()
}

fn ctx(gpc: bool) -> ChangeContext<'static> {
    ChangeContext {
        now: NOW,
        actor: "prn_test",
        gpc,
    }
}

fn change(state: ConsentState) -> ConsentChange {
    ConsentChange {
        state,
        source: ConsentSource::WebForm,
        notice_version: "2026-01".into(),
        expires_at: None,
    }
}

fn event(purpose: &str, state: ConsentState, at: OffsetDateTime) -> ConsentEvent {
    ConsentEvent {
        purpose: purpose.into(),
        state,
        at,
        source: ConsentSource::Api,
        notice_version: "1".into(),
        expires_at: None,
        actor: "prn_test".into(),
    }
}

#[test]
fn a_valid_change_becomes_an_event_with_every_receipt_field() {
    let mut c = change(ConsentState::Granted);
    c.expires_at = Some(NOW + Duration::days(365));
    let e = c.into_event(&schema(), EMAIL, ctx(false)).unwrap();
    assert_eq!(
        e,
        ConsentEvent {
            purpose: EMAIL.into(),
            state: ConsentState::Granted,
            at: NOW,
            source: ConsentSource::WebForm,
            notice_version: "2026-01".into(),
            expires_at: Some(NOW + Duration::days(365)),
            actor: "prn_test".into(),
        }
    );
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({
            "purpose": EMAIL, "state": "granted", "at": "2026-03-01T12:00:00Z",
            "source": "web_form", "notice_version": "2026-01",
            "expires_at": "2027-03-01T12:00:00Z", "actor": "prn_test"
        })
    );
    let back: ConsentEvent = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn an_unknown_purpose_is_refused() {
    let err = change(ConsentState::Granted)
        .into_event(&schema(), "marketing.telepathy", ctx(false))
        .unwrap_err();
    assert_eq!(
        err,
        ConsentError::UnknownPurpose {
            purpose: "marketing.telepathy".into()
        }
    );
    assert_eq!(err.code(), "unknown_purpose");
    assert_eq!(err.to_string(), "unknown purpose `marketing.telepathy`");
}

#[test]
fn an_expiry_in_the_past_or_now_is_refused() {
    for expires_at in [NOW - Duration::days(1), NOW] {
        let mut c = change(ConsentState::Granted);
        c.expires_at = Some(expires_at);
        let err = c.into_event(&schema(), EMAIL, ctx(false)).unwrap_err();
        assert_eq!(err, ConsentError::ExpiryInPast { expires_at });
        assert_eq!(err.code(), "expiry_in_past");
    }
}

#[test]
fn an_expiry_only_goes_with_a_grant() {
    for state in [ConsentState::Denied, ConsentState::Withdrawn] {
        let mut c = change(state);
        c.expires_at = Some(NOW + Duration::days(1));
        assert_eq!(
            c.into_event(&schema(), EMAIL, ctx(false)).unwrap_err(),
            ConsentError::ExpiryWithoutGrant { state }
        );
    }
}

#[test]
fn a_gpc_request_cannot_grant_a_sale_or_sharing_purpose() {
    let err = change(ConsentState::Granted)
        .into_event(&schema(), ADS, ctx(true))
        .unwrap_err();
    assert_eq!(
        err,
        ConsentError::GpcForbidsGrant {
            purpose: ADS.into()
        }
    );
    assert_eq!(err.code(), "gpc_forbids_grant");
    // Without the signal, or for a purpose that is not a sale, the grant is recorded.
    assert!(
        change(ConsentState::Granted)
            .into_event(&schema(), ADS, ctx(false))
            .is_ok()
    );
    assert!(
        change(ConsentState::Granted)
            .into_event(&schema(), EMAIL, ctx(true))
            .is_ok()
    );
    // Denying or withdrawing under the signal is always fine.
    for state in [ConsentState::Denied, ConsentState::Withdrawn] {
        assert!(change(state).into_event(&schema(), ADS, ctx(true)).is_ok());
    }
}

#[test]
fn source_gpc_only_records_opt_outs() {
    let mut c = change(ConsentState::Granted);
    c.source = ConsentSource::Gpc;
    assert_eq!(
        c.into_event(&schema(), EMAIL, ctx(false)).unwrap_err(),
        ConsentError::GpcSourceGrants {
            state: ConsentState::Granted
        }
    );
    let mut c = change(ConsentState::Denied);
    c.source = ConsentSource::Gpc;
    assert!(c.into_event(&schema(), EMAIL, ctx(false)).is_ok());
}

#[test]
fn a_notice_version_must_be_a_sensible_label() {
    for bad in [
        "",
        " 1",
        "1 ",
        "v1\nv2",
        &"x".repeat(MAX_NOTICE_VERSION_LEN + 1),
    ] {
        let mut c = change(ConsentState::Granted);
        c.notice_version = bad.to_owned();
        assert_eq!(
            c.into_event(&schema(), EMAIL, ctx(false)).unwrap_err(),
            ConsentError::InvalidNoticeVersion,
            "{bad:?}"
        );
    }
}

#[test]
fn an_unknown_state_or_source_does_not_deserialize() {
    let body = |state: &str, source: &str| json!({"state": state, "source": source, "notice_version": "1"});
    assert!(serde_json::from_value::<ConsentChange>(body("granted", "api")).is_ok());
    let err = serde_json::from_value::<ConsentChange>(body("maybe", "api")).unwrap_err();
    assert!(err.to_string().contains("unknown variant `maybe`"), "{err}");
    assert!(serde_json::from_value::<ConsentChange>(body("Granted", "api")).is_err());
    assert!(serde_json::from_value::<ConsentChange>(body("granted", "email")).is_err());
    let extra = json!({"state": "granted", "source": "api", "notice_version": "1", "purpose": "x"});
    assert!(serde_json::from_value::<ConsentChange>(extra).is_err());
    let bad_time =
        json!({"state": "granted", "source": "api", "notice_version": "1", "expires_at": "soon"});
    assert!(serde_json::from_value::<ConsentChange>(bad_time).is_err());

    assert_eq!("withdrawn".parse(), Ok(ConsentState::Withdrawn));
    assert_eq!(
        "maybe".parse::<ConsentState>().unwrap_err().to_string(),
        "unknown consent state `maybe`"
    );
    for s in ConsentSource::ALL {
        assert_eq!(s.as_str().parse(), Ok(s));
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
    }
    assert!("fax".parse::<ConsentSource>().is_err());
}

#[test]
fn gpc_denies_exactly_the_sale_or_sharing_purposes() {
    let schema = schema();
    let names: Vec<&str> = gpc_denials(&schema).map(|p| p.name.as_str()).collect();
    assert_eq!(names, [ADS]);
    let events = gpc_denial_events(&schema, "2026-01", ctx(true));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].purpose, ADS);
    assert_eq!(events[0].state, ConsentState::Denied);
    assert_eq!(events[0].source, ConsentSource::Gpc);
    assert_eq!(events[0].at, NOW);
}

#[test]
fn the_latest_event_per_purpose_is_in_force() {
    let t = NOW;
    let history = [
        event(EMAIL, ConsentState::Granted, t),
        event(ADS, ConsentState::Denied, t),
        event(EMAIL, ConsentState::Withdrawn, t + Duration::minutes(1)),
    ];
    let current = CurrentConsents::from_history(&history);
    assert_eq!(
        current.consent(EMAIL),
        Some(ConsentStatus::new(ConsentState::Withdrawn))
    );
    assert_eq!(current.effective(ADS, t), EffectiveConsent::Denied);
    assert_eq!(
        current.effective("analytics.reporting", t),
        EffectiveConsent::None
    );
    assert_eq!(current.iter().count(), 2);
}

#[test]
fn an_old_receipt_imported_later_does_not_override_a_newer_decision() {
    let history = [
        event(EMAIL, ConsentState::Withdrawn, NOW),
        event(EMAIL, ConsentState::Granted, NOW - Duration::days(30)),
    ];
    let current = CurrentConsents::from_history(&history);
    assert_eq!(current.effective(EMAIL, NOW), EffectiveConsent::Withdrawn);
}

#[test]
fn of_two_events_at_the_same_time_the_later_appended_wins() {
    let history = [
        event(EMAIL, ConsentState::Granted, NOW),
        event(EMAIL, ConsentState::Denied, NOW),
    ];
    let current = CurrentConsents::from_history(&history);
    assert_eq!(current.effective(EMAIL, NOW), EffectiveConsent::Denied);
}

#[test]
fn a_grant_lapses_at_its_expiry() {
    let mut e = event(EMAIL, ConsentState::Granted, NOW);
    e.expires_at = Some(NOW + Duration::hours(1));
    let current = CurrentConsents::from_history([&e]);
    assert_eq!(current.effective(EMAIL, NOW), EffectiveConsent::Granted);
    assert_eq!(
        current.effective(EMAIL, NOW + Duration::minutes(59)),
        EffectiveConsent::Granted
    );
    assert_eq!(
        current.effective(EMAIL, NOW + Duration::hours(1)),
        EffectiveConsent::Expired
    );
    // A later grant without expiry renews it.
    let mut current = current;
    current.apply(event(
        EMAIL,
        ConsentState::Granted,
        NOW + Duration::hours(2),
    ));
    assert_eq!(
        current.effective(EMAIL, NOW + Duration::days(400)),
        EffectiveConsent::Granted
    );
}
