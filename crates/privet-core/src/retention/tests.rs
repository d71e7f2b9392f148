use time::macros::datetime;

use super::*;

const SCHEMA: &str = r#"
version = 1
[purposes."essential.service"]
description = "run the account"
legal_basis = "contract"
[purposes."marketing.communications.email"]
description = "newsletters"
legal_basis = "consent"
[purposes."analytics.reporting"]
description = "reports"
legal_basis = "consent"

[collections.customers]
kind = "profile"
retention = { after = "last_activity", keep = "3y" }
[collections.customers.fields.email]
type = "email"
category = "user.contact.email"
purposes = ["essential.service", "marketing.communications.email"]
[collections.customers.fields.phone]
type = "phone"
category = "user.contact.phone_number"
purposes = ["essential.service"]
retention = "30d"
[collections.customers.fields.interests]
type = "string"
category = "user.behavior"
purposes = ["marketing.communications.email", "analytics.reporting"]
retention = { after = "consent_withdrawn", keep = "1m" }

[collections.orders]
kind = "records"
retention = "7y"
[collections.orders.fields.total]
type = "integer"
category = "user.financial"
purposes = ["essential.service"]
[collections.orders.fields.note]
type = "string"
category = "user.content"
purposes = ["essential.service"]
retention = "10y"
"#;

fn schema() -> Schema {
    Schema::from_toml_str(SCHEMA).unwrap()
}

fn fact(purpose: &str, state: ConsentState, at: OffsetDateTime) -> ConsentFact {
    ConsentFact {
        purpose: purpose.into(),
        state,
        at,
        expires_at: None,
    }
}

const T0: OffsetDateTime = datetime!(2024-01-31 10:00 UTC);

fn times(last_activity: OffsetDateTime, consents: &[ConsentFact]) -> SubjectTimes<'_> {
    SubjectTimes {
        last_activity,
        consents,
    }
}

#[test]
fn a_record_expires_exactly_at_its_boundary() {
    let s = schema();
    let orders = s.collection("orders").unwrap();
    let d = record_deadlines(&s, orders, T0, &["total"], times(T0, &[]));
    let end = datetime!(2031-01-31 10:00 UTC);
    assert_eq!(d.record, Some(end));
    assert_eq!(d.at(end - time::Duration::microseconds(1)), Expiry::Keep);
    assert_eq!(d.at(end - time::Duration::seconds(1)), Expiry::Keep);
    assert_eq!(d.at(end), Expiry::Record);
    assert_eq!(d.at(end + time::Duration::days(400)), Expiry::Record);
}

#[test]
fn a_field_retention_longer_than_its_records_is_moot() {
    let s = schema();
    let orders = s.collection("orders").unwrap();
    let d = record_deadlines(&s, orders, T0, &["total", "note"], times(T0, &[]));
    assert!(d.fields.is_empty());
    assert!(!d.all_fields_expire);
}

#[test]
fn months_and_years_are_calendar_periods() {
    let p = |s: &str| s.parse::<RetentionPeriod>().unwrap();
    assert_eq!(add_period(T0, p("1m")), datetime!(2024-02-29 10:00 UTC));
    assert_eq!(add_period(T0, p("13m")), datetime!(2025-02-28 10:00 UTC));
    assert_eq!(
        add_period(datetime!(2024-02-29 00:00 UTC), p("1y")),
        datetime!(2025-02-28 00:00 UTC)
    );
    assert_eq!(add_period(T0, p("2w")), datetime!(2024-02-14 10:00 UTC));
    assert_eq!(add_period(T0, p("30d")), datetime!(2024-03-01 10:00 UTC));
    // Beyond the calendar: kept for good rather than wrapping around.
    assert_eq!(add_period(T0, p("365000y")).date(), Date::MAX);
}

#[test]
fn a_short_field_retention_removes_only_that_field() {
    let s = schema();
    let customers = s.collection("customers").unwrap();
    let d = record_deadlines(&s, customers, T0, &["email", "phone"], times(T0, &[]));
    let phone_end = datetime!(2024-03-01 10:00 UTC);
    assert_eq!(d.fields, vec![("phone".to_owned(), phone_end)]);
    assert_eq!(d.at(phone_end - time::Duration::seconds(1)), Expiry::Keep);
    assert_eq!(d.at(phone_end), Expiry::Fields(vec!["phone".into()]));
}

#[test]
fn a_record_whose_every_field_expires_goes_whole() {
    let s = schema();
    let customers = s.collection("customers").unwrap();
    let d = record_deadlines(&s, customers, T0, &["phone"], times(T0, &[]));
    assert!(d.all_fields_expire);
    assert_eq!(d.at(datetime!(2024-03-01 10:00 UTC)), Expiry::Record);
    assert_eq!(d.record_deadline(), Some(datetime!(2024-03-01 10:00 UTC)));
}

#[test]
fn last_activity_moves_the_deadline() {
    let s = schema();
    let customers = s.collection("customers").unwrap();
    let later = datetime!(2025-06-01 00:00 UTC);
    let d = record_deadlines(&s, customers, T0, &["email"], times(later, &[]));
    assert_eq!(d.record, Some(datetime!(2028-06-01 00:00 UTC)));
    assert_eq!(d.at(datetime!(2027-01-31 10:00 UTC)), Expiry::Keep);
}

#[test]
fn consent_withdrawal_starts_the_clock_only_when_every_consent_stopped() {
    let s = schema();
    let customers = s.collection("customers").unwrap();
    let present = ["email", "interests"];
    let w1 = datetime!(2024-05-10 00:00 UTC);
    let w2 = datetime!(2024-06-10 00:00 UTC);
    let interests = |facts: &[ConsentFact]| {
        record_deadlines(&s, customers, T0, &present, times(T0, facts))
            .fields
            .into_iter()
            .find(|(n, _)| n == "interests")
            .map(|(_, d)| d)
    };
    // Never asked, or still granted: the clock does not run.
    assert_eq!(interests(&[]), None);
    let granted = [
        fact("marketing.communications.email", ConsentState::Granted, T0),
        fact("analytics.reporting", ConsentState::Withdrawn, w1),
    ];
    assert_eq!(interests(&granted), None);
    // Both stopped: one month after the later stop.
    let both = [
        fact(
            "marketing.communications.email",
            ConsentState::Withdrawn,
            w2,
        ),
        fact("analytics.reporting", ConsentState::Denied, w1),
    ];
    assert_eq!(interests(&both), Some(datetime!(2024-07-10 00:00 UTC)));
    // A grant that lapses stops at its expiry, known in advance.
    let mut lapsing = fact("marketing.communications.email", ConsentState::Granted, T0);
    lapsing.expires_at = Some(w2);
    let lapsing = [
        lapsing,
        fact("analytics.reporting", ConsentState::Withdrawn, w1),
    ];
    assert_eq!(interests(&lapsing), Some(datetime!(2024-07-10 00:00 UTC)));
}

#[test]
fn consent_purposes_are_those_with_a_consent_basis() {
    let s = schema();
    let customers = s.collection("customers").unwrap();
    let email = customers.field("email").unwrap();
    assert_eq!(
        consent_purposes(&s, email),
        vec!["marketing.communications.email"]
    );
    let phone = customers.field("phone").unwrap();
    assert!(consent_purposes(&s, phone).is_empty());
}
