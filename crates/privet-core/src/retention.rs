//! Retention decisions: given a record's and its subject's times and the schema's
//! `retention`, when does each piece of data expire, and what has expired at `now`.
//!
//! Anchors (the moment a period is counted from):
//! - `created` (the default): the record's creation. A field with its own retention and this
//!   anchor counts from its record's creation too; an update does not restart it.
//! - `last_activity`: the subject's last activity — its creation, a write of its data (profile
//!   update, new record) or a consent decision recorded for it, whichever is latest. Reads by
//!   services are not activity (a service reading daily must not keep data forever).
//! - `consent_withdrawn`: the moment the consent the data rests on stopped being in force. The
//!   purposes it rests on are the field's declared purposes whose legal basis is consent (all
//!   of its purposes if the field itself requires consent); for a collection, those of all its
//!   fields. A purpose's consent stops at its latest event if that is `withdrawn` or `denied`,
//!   or at the grant's `expires_at`. The period runs only once every such purpose that was
//!   ever recorded has stopped, counted from the latest stop; while one grant is in force (or
//!   if none was ever recorded) it does not run.
//!
//! Data expires at its deadline exactly: one microsecond before it is kept, at it purged.
//! Periods are calendar periods: `1m` after 31 January is the last day of February.

use time::{Date, Month, OffsetDateTime};

use crate::consent::ConsentState;
use crate::schema::{
    Collection, Field, LegalBasis, PeriodUnit, Retention, RetentionAnchor, RetentionPeriod, Schema,
};

/// The latest consent event of one purpose, as far as retention cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentFact {
    /// The purpose.
    pub purpose: String,
    /// Its latest state.
    pub state: ConsentState,
    /// When that state was recorded.
    pub at: OffsetDateTime,
    /// When a grant lapses, if it does.
    pub expires_at: Option<OffsetDateTime>,
}

/// What retention needs to know about a subject.
#[derive(Debug, Clone, Copy)]
pub struct SubjectTimes<'a> {
    /// The subject's last activity (at least its creation).
    pub last_activity: OffsetDateTime,
    /// The latest consent event per purpose.
    pub consents: &'a [ConsentFact],
}

/// When a record and its fields expire. `None` means "not while things stay as they are"
/// (no retention declared, or its anchor has not happened yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDeadlines {
    /// When the whole record expires.
    pub record: Option<OffsetDateTime>,
    /// Fields present in the record with a retention of their own that ends before the
    /// record's, with their deadlines, in the order given.
    pub fields: Vec<(String, OffsetDateTime)>,
    /// Whether every field present in the record has such a deadline (then the record goes
    /// when the last of them expires: a record is never kept empty).
    pub all_fields_expire: bool,
}

/// What happens to one record at a given moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Nothing has expired.
    Keep,
    /// The whole record goes (its own retention ended, or every field it holds expired).
    Record,
    /// These fields go; the record stays with the others.
    Fields(Vec<String>),
}

impl RecordDeadlines {
    /// What has expired at `now` (deadline ≤ now).
    pub fn at(&self, now: OffsetDateTime) -> Expiry {
        if self.record.is_some_and(|d| d <= now) {
            return Expiry::Record;
        }
        let due: Vec<String> = self
            .fields
            .iter()
            .filter(|(_, d)| *d <= now)
            .map(|(n, _)| n.clone())
            .collect();
        if due.is_empty() {
            Expiry::Keep
        } else if self.all_fields_expire && due.len() == self.fields.len() {
            Expiry::Record
        } else {
            Expiry::Fields(due)
        }
    }

    /// When the whole record goes: its own deadline, or the last of its fields' if every
    /// field it holds expires earlier.
    pub fn record_deadline(&self) -> Option<OffsetDateTime> {
        let by_fields = if self.all_fields_expire {
            self.fields.iter().map(|(_, d)| *d).max()
        } else {
            None
        };
        match (self.record, by_fields) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The deadlines of a record of `coll` created at `created_at` that holds `present` fields.
pub fn record_deadlines(
    schema: &Schema,
    coll: &Collection,
    created_at: OffsetDateTime,
    present: &[&str],
    subject: SubjectTimes<'_>,
) -> RecordDeadlines {
    let record = coll.retention.and_then(|r| {
        let purposes: Vec<&str> = coll
            .fields()
            .flat_map(|f| consent_purposes(schema, f))
            .collect();
        deadline(&r, created_at, &purposes, subject)
    });
    let mut fields = Vec::new();
    for name in present {
        let Some(field) = coll.field(name) else {
            continue;
        };
        let Some(r) = field.retention else { continue };
        let purposes = consent_purposes(schema, field);
        if let Some(d) = deadline(&r, created_at, &purposes, subject)
            && record.is_none_or(|rd| d < rd)
        {
            fields.push(((*name).to_owned(), d));
        }
    }
    let all_fields_expire = !present.is_empty() && fields.len() == present.len();
    RecordDeadlines {
        record,
        fields,
        all_fields_expire,
    }
}

/// The purposes whose consent `field` rests on (see the module doc).
pub fn consent_purposes<'a>(schema: &'a Schema, field: &'a Field) -> Vec<&'a str> {
    field
        .purposes
        .iter()
        .filter(|p| {
            field.legal_basis == Some(LegalBasis::Consent)
                || schema
                    .purpose(p)
                    .is_some_and(|p| p.legal_basis == LegalBasis::Consent)
        })
        .map(String::as_str)
        .collect()
}

/// When data under `retention` expires, or `None` if its anchor has not happened.
pub fn deadline(
    retention: &Retention,
    created_at: OffsetDateTime,
    consent_purposes: &[&str],
    subject: SubjectTimes<'_>,
) -> Option<OffsetDateTime> {
    let anchor = match retention.after {
        RetentionAnchor::Created => created_at,
        RetentionAnchor::LastActivity => subject.last_activity,
        RetentionAnchor::ConsentWithdrawn => consent_stopped(consent_purposes, subject.consents)?,
    };
    Some(add_period(anchor, retention.keep))
}

/// When the last of `purposes`' consents stopped being in force (see the module doc).
fn consent_stopped(purposes: &[&str], facts: &[ConsentFact]) -> Option<OffsetDateTime> {
    let mut latest: Option<OffsetDateTime> = None;
    for purpose in purposes {
        let Some(fact) = facts.iter().find(|f| f.purpose == *purpose) else {
            continue;
        };
        let stop = match fact.state {
            ConsentState::Granted => fact.expires_at?,
            ConsentState::Denied | ConsentState::Withdrawn => fact.at,
        };
        latest = Some(latest.map_or(stop, |l| l.max(stop)));
    }
    latest
}

/// `t` plus a calendar period. A period that would end past the representable range ends at
/// its end (the data is then kept for good).
pub fn add_period(t: OffsetDateTime, p: RetentionPeriod) -> OffsetDateTime {
    let n = i64::from(p.count);
    let end = match p.unit {
        PeriodUnit::Days => t.checked_add(time::Duration::days(n)),
        PeriodUnit::Weeks => t.checked_add(time::Duration::weeks(n)),
        PeriodUnit::Months => add_months(t, n),
        PeriodUnit::Years => add_months(t, n * 12),
    };
    end.unwrap_or(OffsetDateTime::new_utc(Date::MAX, time::Time::MIDNIGHT))
}

fn add_months(t: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    let total = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
    let day = t.day().min(month.length(year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some(t.replace_date(date))
}

#[cfg(test)]
mod tests;
