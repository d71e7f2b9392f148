//! What an erasure must keep: records the law obliges the business to keep (collections
//! that declare a purpose whose legal basis is `legal_obligation`) until their retention
//! runs out. Everything else of an erased subject is destroyed.
//!
//! Pure: the caller gives the times (record creation, the erasure) and gets back whether a
//! record is kept and until when.

use time::{Date, Duration, Month, OffsetDateTime};

use crate::schema::{
    Collection, CollectionKind, LegalBasis, PeriodUnit, Purpose, Retention, RetentionAnchor,
    RetentionPeriod, Schema,
};

/// The retention class of records kept by legal obligation: the label of their own subject
/// key, and of the records an erasure keeps.
pub const LEGAL_OBLIGATION_CLASS: &str = "legal_obligation";

/// The retention class of `collection`, if it has one: a records collection with a field
/// declaring a purpose whose legal basis is `legal_obligation`. Its records are encrypted
/// under the subject's key of that class, so an erasure can keep them. A profile collection
/// never has one: it identifies the subject and goes with the subject's own key.
pub fn retention_class(schema: &Schema, collection: &Collection) -> Option<&'static str> {
    if collection.kind != CollectionKind::Records {
        return None;
    }
    (!legal_purposes(schema, collection).is_empty()).then_some(LEGAL_OBLIGATION_CLASS)
}

/// The purposes with legal basis `legal_obligation` that fields of `collection` declare, in
/// order of first declaration.
pub fn legal_purposes<'s>(schema: &'s Schema, collection: &Collection) -> Vec<&'s Purpose> {
    let mut out: Vec<&Purpose> = Vec::new();
    for field in collection.fields() {
        for name in &field.purposes {
            if let Some(p) = schema.purpose(name)
                && p.legal_basis == LegalBasis::LegalObligation
                && !out.iter().any(|o| o.name == p.name)
            {
                out.push(p);
            }
        }
    }
    out
}

/// The retention that governs keeping a record of `collection` by legal obligation: the
/// longest of the collection's retention and the overrides of its fields that declare a
/// `legal_obligation` purpose. `None` when nothing declares one (kept "until erasure", so an
/// erasure ends it).
pub fn legal_retention(schema: &Schema, collection: &Collection) -> Option<Retention> {
    let legal = legal_purposes(schema, collection);
    let mut all: Vec<Retention> = collection.retention.into_iter().collect();
    for field in collection.fields() {
        if field
            .purposes
            .iter()
            .any(|p| legal.iter().any(|l| l.name == *p))
            && let Some(r) = field.retention
        {
            all.push(r);
        }
    }
    // Compare by the end they give from one anchor time: units are not comparable directly.
    let probe = OffsetDateTime::UNIX_EPOCH;
    all.into_iter()
        .max_by_key(|r| add_period(probe, r.keep).unwrap_or(probe))
}

/// Until when a record created at `created` must be kept when its subject is erased at
/// `erased_at`, under `retention`; `None` when it need not be kept (the retention has run
/// out). The anchor `created` counts from the record's creation; `last_activity` and
/// `consent_withdrawn` count from the erasure, the subject's last act (the longest keep the
/// declaration allows, as the vault does not track activity per record).
pub fn keep_until(
    retention: Retention,
    created: OffsetDateTime,
    erased_at: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let anchor = match retention.after {
        RetentionAnchor::Created => created,
        RetentionAnchor::LastActivity | RetentionAnchor::ConsentWithdrawn => erased_at,
    };
    // A period beyond the calendar's range never runs out.
    let until = add_period(anchor, retention.keep)
        .unwrap_or(OffsetDateTime::new_utc(Date::MAX, time::Time::MIDNIGHT));
    (until > erased_at).then_some(until)
}

/// `t` plus a retention period, in the calendar: years and months keep the day of the month,
/// clamped to the month's last day (29 February plus one year is 28 February). `None` beyond
/// the calendar's range.
pub fn add_period(t: OffsetDateTime, p: RetentionPeriod) -> Option<OffsetDateTime> {
    let months = match p.unit {
        PeriodUnit::Days => return t.checked_add(Duration::days(i64::from(p.count))),
        PeriodUnit::Weeks => return t.checked_add(Duration::weeks(i64::from(p.count))),
        PeriodUnit::Months => i64::from(p.count),
        PeriodUnit::Years => i64::from(p.count) * 12,
    };
    let index = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let last = time::util::days_in_month(month, year);
    let date = Date::from_calendar_date(year, month, t.day().min(last)).ok()?;
    Some(t.replace_date(date))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::EXAMPLE_SCHEMA;

    fn period(s: &str) -> RetentionPeriod {
        s.parse().unwrap()
    }

    #[test]
    fn periods_add_in_the_calendar() {
        let t = datetime!(2024-02-29 10:00 UTC);
        assert_eq!(
            add_period(t, period("1y")),
            Some(datetime!(2025-02-28 10:00 UTC))
        );
        assert_eq!(
            add_period(t, period("4y")),
            Some(datetime!(2028-02-29 10:00 UTC))
        );
        assert_eq!(
            add_period(t, period("1m")),
            Some(datetime!(2024-03-29 10:00 UTC))
        );
        assert_eq!(
            add_period(datetime!(2024-01-31 0:00 UTC), period("1m")),
            Some(datetime!(2024-02-29 0:00 UTC))
        );
        assert_eq!(
            add_period(datetime!(2024-11-30 0:00 UTC), period("14m")),
            Some(datetime!(2026-01-30 0:00 UTC))
        );
        assert_eq!(
            add_period(t, period("2w")),
            Some(datetime!(2024-03-14 10:00 UTC))
        );
        assert_eq!(
            add_period(t, period("1d")),
            Some(datetime!(2024-03-01 10:00 UTC))
        );
    }

    #[test]
    fn orders_are_kept_seven_years_from_their_creation() {
        let schema = Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap();
        let orders = schema.collection("orders").unwrap();
        assert_eq!(
            retention_class(&schema, orders),
            Some(LEGAL_OBLIGATION_CLASS)
        );
        let names: Vec<&str> = legal_purposes(&schema, orders)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["essential.legal_obligation"]);
        let r = legal_retention(&schema, orders).unwrap();
        let created = datetime!(2026-01-15 12:00 UTC);
        assert_eq!(
            keep_until(r, created, datetime!(2026-11-24 0:00 UTC)),
            Some(datetime!(2033-01-15 12:00 UTC))
        );
        // One microsecond before the end it is still kept; at the end it is not.
        assert!(keep_until(r, created, datetime!(2033-01-15 11:59:59.999999 UTC)).is_some());
        assert_eq!(
            keep_until(r, created, datetime!(2033-01-15 12:00 UTC)),
            None
        );
    }

    #[test]
    fn other_collections_have_no_retention_class() {
        let schema = Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap();
        for name in ["customers", "support_tickets"] {
            let c = schema.collection(name).unwrap();
            assert_eq!(retention_class(&schema, c), None, "{name}");
        }
    }

    #[test]
    fn activity_anchors_count_from_the_erasure() {
        let r = Retention {
            keep: period("30d"),
            after: RetentionAnchor::LastActivity,
        };
        let erased = datetime!(2026-11-24 0:00 UTC);
        assert_eq!(
            keep_until(r, datetime!(2000-01-01 0:00 UTC), erased),
            Some(datetime!(2026-12-24 0:00 UTC))
        );
    }
}
