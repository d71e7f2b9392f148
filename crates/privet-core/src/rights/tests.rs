use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;

/// (regime, received, extended, due)
const DEADLINES: &[(Regime, OffsetDateTime, bool, OffsetDateTime)] = &[
    // GDPR: one calendar month, same time of day.
    (
        Regime::Gdpr,
        datetime!(2026-03-10 09:30 UTC),
        false,
        datetime!(2026-04-10 09:30 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2026-12-15 23:59:59 UTC),
        false,
        datetime!(2027-01-15 23:59:59 UTC),
    ),
    // Month ends clamp: Jan 31 → Feb 28 (common year) / Feb 29 (leap year).
    (
        Regime::Gdpr,
        datetime!(2026-01-31 12:00 UTC),
        false,
        datetime!(2026-02-28 12:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2028-01-31 12:00 UTC),
        false,
        datetime!(2028-02-29 12:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2028-01-29 12:00 UTC),
        false,
        datetime!(2028-02-29 12:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2026-01-29 12:00 UTC),
        false,
        datetime!(2026-02-28 12:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2026-03-31 00:00 UTC),
        false,
        datetime!(2026-04-30 00:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2026-08-31 00:00 UTC),
        false,
        datetime!(2026-09-30 00:00 UTC),
    ),
    // 1900 was not a leap year, 2000 was.
    (
        Regime::Gdpr,
        datetime!(1900-01-31 00:00 UTC),
        false,
        datetime!(1900-02-28 00:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2000-01-31 00:00 UTC),
        false,
        datetime!(2000-02-29 00:00 UTC),
    ),
    // Feb 28/29 → Mar 28/29 (not the month's end).
    (
        Regime::Gdpr,
        datetime!(2028-02-29 08:00 UTC),
        false,
        datetime!(2028-03-29 08:00 UTC),
    ),
    // Extended: three months from receipt (not the clamped due date plus two).
    (
        Regime::Gdpr,
        datetime!(2026-01-31 12:00 UTC),
        true,
        datetime!(2026-04-30 12:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2026-03-10 09:30 UTC),
        true,
        datetime!(2026-06-10 09:30 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2026-11-30 10:00 UTC),
        true,
        datetime!(2027-02-28 10:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2027-11-30 10:00 UTC),
        true,
        datetime!(2028-02-29 10:00 UTC),
    ),
    (
        Regime::Gdpr,
        datetime!(2026-12-31 10:00 UTC),
        true,
        datetime!(2027-03-31 10:00 UTC),
    ),
    // CCPA/CPRA: 45 calendar days, 90 with the extension.
    (
        Regime::Ccpa,
        datetime!(2026-01-01 00:00 UTC),
        false,
        datetime!(2026-02-15 00:00 UTC),
    ),
    (
        Regime::Ccpa,
        datetime!(2026-02-01 10:00 UTC),
        false,
        datetime!(2026-03-18 10:00 UTC),
    ),
    (
        Regime::Ccpa,
        datetime!(2028-02-01 10:00 UTC),
        false,
        datetime!(2028-03-17 10:00 UTC),
    ),
    (
        Regime::Ccpa,
        datetime!(2026-12-20 18:00 UTC),
        false,
        datetime!(2027-02-03 18:00 UTC),
    ),
    (
        Regime::Ccpa,
        datetime!(2026-01-01 00:00 UTC),
        true,
        datetime!(2026-04-01 00:00 UTC),
    ),
    (
        Regime::Ccpa,
        datetime!(2028-01-01 00:00 UTC),
        true,
        datetime!(2028-03-31 00:00 UTC),
    ),
];

#[test]
fn deadlines_follow_each_regime_including_extensions_and_month_ends() {
    for &(regime, received, extended, due) in DEADLINES {
        assert_eq!(
            due_at(regime, received, extended),
            due,
            "{regime} received {received} extended {extended}"
        );
    }
}

fn new(origin: Origin, kind: RequestKind, regime: Regime) -> RightsRequest {
    RightsRequest::new(NewRequest {
        subject: SubjectId::new(),
        kind,
        purpose: (kind == RequestKind::Objection).then_some("marketing.communications.email"),
        regime,
        origin,
        now: datetime!(2026-01-31 12:00 UTC),
        actor: "staff",
    })
    .unwrap()
}

#[test]
fn staff_requests_wait_for_verification_and_portal_requests_start_verified() {
    let r = new(Origin::Staff, RequestKind::Access, Regime::Gdpr);
    assert_eq!(r.status, RequestStatus::Verifying);
    assert_eq!(r.due_at, datetime!(2026-02-28 12:00 UTC));
    let events: Vec<&str> = r.history.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["received", "verifying"]);
    assert_eq!(r.history[0].status, RequestStatus::Received);

    let p = new(Origin::Portal, RequestKind::Erasure, Regime::Ccpa);
    assert_eq!(p.status, RequestStatus::InProgress);
    assert!(p.verified_at.is_some());
    assert_eq!(p.due_at, datetime!(2026-03-17 12:00 UTC));
}

#[test]
fn a_request_is_completed_once_and_only_after_verification() {
    let now = datetime!(2026-02-01 09:00 UTC);
    let mut r = new(Origin::Staff, RequestKind::Access, Regime::Gdpr);
    assert_eq!(r.complete(now, "staff"), Err(RequestError::NotVerified));
    assert_eq!(r.status, RequestStatus::Verifying);
    r.verify("id_document", now, "staff").unwrap();
    assert_eq!(r.status, RequestStatus::InProgress);
    assert!(matches!(
        r.verify("again", now, "staff"),
        Err(RequestError::BadTransition { step: "verify", .. })
    ));
    r.complete(now, "staff").unwrap();
    assert_eq!(
        (r.status, r.closed_at),
        (RequestStatus::Completed, Some(now))
    );
    assert_eq!(
        r.complete(now, "staff"),
        Err(RequestError::Closed(RequestStatus::Completed))
    );
    assert!(r.reject("late", now, "staff").is_err());
    assert!(r.extend("late", now, "staff").is_err());
    let events: Vec<&str> = r.history.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["received", "verifying", "verified", "completed"]);
}

#[test]
fn a_deadline_is_extended_once_to_the_legal_maximum() {
    let now = datetime!(2026-02-10 09:00 UTC);
    for (regime, max) in [
        (Regime::Gdpr, datetime!(2026-04-30 12:00 UTC)),
        (Regime::Ccpa, datetime!(2026-05-01 12:00 UTC)),
    ] {
        let mut r = new(Origin::Staff, RequestKind::Access, regime);
        r.extend("complex request", now, "staff").unwrap();
        assert_eq!(
            (r.status, r.due_at, r.extended),
            (RequestStatus::Extended, max, true)
        );
        let err = r.extend("still busy", now, "staff").unwrap_err();
        assert_eq!(err.code(), "extension_limit");
        assert!(err.to_string().contains("legal maximum"), "{err}");
        assert_eq!(r.due_at, max, "a refused extension changes nothing");
        // Still needs verification, stays `extended` through it, then completes.
        assert_eq!(r.complete(now, "staff"), Err(RequestError::NotVerified));
        r.verify("email_link", now, "staff").unwrap();
        assert_eq!(r.status, RequestStatus::Extended);
        r.complete(now, "staff").unwrap();
    }
}

#[test]
fn rejection_needs_a_reason_and_closes_the_request() {
    let now = datetime!(2026-02-01 09:00 UTC);
    let mut r = new(Origin::Staff, RequestKind::Erasure, Regime::Gdpr);
    assert_eq!(
        r.reject("  ", now, "staff"),
        Err(RequestError::BadText { field: "reason" })
    );
    assert_eq!(
        r.reject("a\u{7}b", now, "staff"),
        Err(RequestError::BadText { field: "reason" })
    );
    r.reject("identity could not be verified", now, "staff")
        .unwrap();
    assert_eq!(r.status, RequestStatus::Rejected);
    assert_eq!(
        r.history.last().unwrap().detail,
        Some(serde_json::json!({"reason": "identity could not be verified"}))
    );
    assert_eq!(
        r.verify("late", now, "staff"),
        Err(RequestError::Closed(RequestStatus::Rejected))
    );
}

#[test]
fn objections_name_a_purpose_and_other_kinds_do_not() {
    let base = |kind, purpose| {
        RightsRequest::new(NewRequest {
            subject: SubjectId::new(),
            kind,
            purpose,
            regime: Regime::Gdpr,
            origin: Origin::Staff,
            now: datetime!(2026-01-01 00:00 UTC),
            actor: "staff",
        })
    };
    assert!(matches!(
        base(RequestKind::Objection, None),
        Err(RequestError::Purpose(_))
    ));
    assert!(matches!(
        base(RequestKind::Access, Some("analytics.reporting")),
        Err(RequestError::Purpose(_))
    ));
    let r = base(RequestKind::Objection, Some("analytics.reporting")).unwrap();
    assert_eq!(r.purpose.as_deref(), Some("analytics.reporting"));
}

#[test]
fn names_parse_and_unknown_ones_list_the_choices() {
    for k in RequestKind::ALL {
        assert_eq!(k.as_str().parse::<RequestKind>().unwrap(), *k);
    }
    for r in Regime::ALL {
        assert_eq!(r.as_str().parse::<Regime>().unwrap(), *r);
    }
    for s in RequestStatus::ALL {
        assert_eq!(s.as_str().parse::<RequestStatus>().unwrap(), *s);
    }
    let err = "gdpr2".parse::<Regime>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown regime `gdpr2` (expected one of: gdpr, ccpa)"
    );
    assert!("delete".parse::<RequestKind>().is_err());
}

#[test]
fn overdue_means_open_past_the_due_date() {
    let mut r = new(Origin::Portal, RequestKind::Access, Regime::Gdpr);
    assert!(!r.is_overdue(r.due_at));
    assert!(r.is_overdue(r.due_at + Duration::seconds(1)));
    r.complete(r.due_at + Duration::days(1), "staff").unwrap();
    assert!(!r.is_overdue(r.due_at + Duration::days(2)));
}

/// An independent oracle for month addition: step day by day through the calendar.
fn add_months_by_walking(date: time::Date, months: u32) -> time::Date {
    let (mut y, mut m) = (date.year(), u8::from(date.month()));
    for _ in 0..months {
        m += 1;
        if m == 13 {
            m = 1;
            y += 1;
        }
    }
    let mut d = date.day();
    loop {
        if let Ok(month) = time::Month::try_from(m)
            && let Ok(v) = time::Date::from_calendar_date(y, month, d)
        {
            return v;
        }
        d -= 1;
    }
}

proptest! {
    #[test]
    fn months_are_added_like_a_calendar_walk(days in 0i64..200_000, months in 0u32..40) {
        let date = time::Date::from_calendar_date(1900, time::Month::January, 1).unwrap()
            + Duration::days(days);
        prop_assert_eq!(add_months(date, months).unwrap(), add_months_by_walking(date, months));
    }

    #[test]
    fn deadlines_are_after_receipt_and_extensions_later_still(
        secs in 0i64..4_000_000_000, gdpr in any::<bool>()
    ) {
        let received = OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let regime = if gdpr { Regime::Gdpr } else { Regime::Ccpa };
        let due = due_at(regime, received, false);
        let extended = due_at(regime, received, true);
        prop_assert!(due > received);
        prop_assert!(extended > due);
        let (min, max) = if gdpr { (28, 31) } else { (45, 45) };
        let days = (due - received).whole_days();
        prop_assert!((min..=max).contains(&days), "{} days", days);
        prop_assert_eq!(due.time(), received.time());
    }
}
