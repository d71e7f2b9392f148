//! The retention plan: what will expire up to a horizon, counted per collection and field,
//! with the earliest dates. Reads no value and writes nothing.

use std::collections::BTreeMap;

use privet_core::retention::{SubjectTimes, record_deadlines};
use serde::Serialize;
use time::OffsetDateTime;

use crate::retention::{facts, field_names};
use crate::{Actor, Vault, VaultError};

/// One line of a retention plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    /// The collection.
    pub collection: String,
    /// The field, for fields that expire before their record; `None` for whole records.
    pub field: Option<String>,
    /// Already expired: the next run deletes them.
    pub due_now: u64,
    /// Expiring after now and within the horizon.
    pub upcoming: u64,
    /// The earliest deadline among them.
    #[serde(with = "time::serde::rfc3339::option")]
    pub earliest: Option<OffsetDateTime>,
}

/// What will expire up to a horizon.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionPlan {
    /// From.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// Up to (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Subjects scanned.
    pub scanned: u64,
    /// Per collection (whole records) and per field, in name order; records an erasure kept
    /// count as collection `retained:<collection>`.
    pub lines: Vec<PlanLine>,
    /// Subjects under a legal hold (their data is not counted: it is not purged while held).
    pub held_subjects: u64,
}

impl Vault {
    /// What will expire from `now` up to `days` days later (counts and earliest dates per
    /// collection and field; held subjects counted apart). Writes nothing. Admin only.
    pub async fn retention_plan(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        days: u32,
    ) -> Result<RetentionPlan, VaultError> {
        self.require_admin(actor).await?;
        let until = now
            .checked_add(time::Duration::days(i64::from(days)))
            .ok_or_else(|| VaultError::BadRequest("the horizon is too far".into()))?;
        let schema = &self.inner.schema;
        let mut lines: BTreeMap<(String, Option<String>), PlanLine> = BTreeMap::new();
        let mut count = |coll: &str, field: Option<&str>, at: OffsetDateTime| {
            let line = lines
                .entry((coll.to_owned(), field.map(str::to_owned)))
                .or_insert_with(|| PlanLine {
                    collection: coll.to_owned(),
                    field: field.map(str::to_owned),
                    due_now: 0,
                    upcoming: 0,
                    earliest: None,
                });
            if at <= now {
                line.due_now += 1;
            } else {
                line.upcoming += 1;
            }
            line.earliest = Some(line.earliest.map_or(at, |e| e.min(at)));
        };
        let (mut scanned, mut held) = (0u64, 0u64);
        let mut after = None;
        loop {
            let page = self.inner.store.retention_page(after, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.subject);
            for row in &page {
                scanned += 1;
                if row.legal_hold.is_some() {
                    held += 1;
                    continue;
                }
                let consents = facts(row);
                let times = SubjectTimes {
                    last_activity: row.last_activity,
                    consents: &consents,
                };
                for rec in &row.records {
                    let Some(coll) = schema.collection(&rec.collection) else {
                        continue;
                    };
                    let d =
                        record_deadlines(schema, coll, rec.created_at, &field_names(rec), times);
                    let record_at = d.record_deadline();
                    if let Some(at) = record_at.filter(|at| *at <= until) {
                        count(&coll.name, None, at);
                        continue;
                    }
                    for (field, at) in &d.fields {
                        if *at <= until && record_at.is_none_or(|r| *at < r) {
                            count(&coll.name, Some(field), *at);
                        }
                    }
                }
            }
        }
        // What erasures kept, ending within the horizon (never held: see `retention_kept`).
        let mut after = None;
        loop {
            let page = self.inner.store.retained_due(until, after, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.keep_until, last.record));
            for due in &page {
                let name = format!("{}{}", crate::RETAINED_PREFIX, due.collection);
                count(&name, None, due.keep_until);
            }
        }
        Ok(RetentionPlan {
            now,
            until,
            scanned,
            lines: lines.into_values().collect(),
            held_subjects: held,
        })
    }
}
