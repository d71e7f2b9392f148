//! Retention: purging what the schema's `retention` says has expired, planning what will, and
//! legal holds that suspend purges and erasures for a subject.
//!
//! A run scans every subject in id order (pages of [`PurgeOptions::page_size`]), lets
//! privet-core decide what of each has expired, and deletes it in bounded batches: each batch
//! is one write set — for each subject a guard (no hold, no activity or new record since the
//! scan), the deletions and their audit entries — so a batch lands whole or not at all. A run
//! killed half-way leaves only whole batches behind; the next run finds what is left and
//! finishes it. The run ends with the purge report (counts per collection and field, never a
//! value) written to the audit trail.

use std::collections::BTreeMap;

use privet_audit::{Action, AuditEntry, Decision};
use privet_core::retention::{ConsentFact, Expiry, SubjectTimes, record_deadlines};
use privet_core::{ConsentState, RequestId, SubjectId};
use privet_store::{LegalHoldRow, Op, RecordRow, RetentionRow, StoreError, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// The actor id of the purge job inside `privet serve`.
pub const RETENTION_ACTOR: &str = "retention";

/// The longest accepted legal-hold reason code.
pub const MAX_HOLD_REASON_LEN: usize = 64;

impl Actor {
    /// The purge job of `privet serve` (actor id [`RETENTION_ACTOR`]): the operator's
    /// authority, its own name on the audit trail.
    pub fn retention_job() -> Self {
        Self {
            id: RETENTION_ACTOR.into(),
            request_id: None,
            authority: crate::auth::Authority::Operator,
        }
    }
}

/// How a retention run proceeds.
pub struct PurgeOptions<'a> {
    /// Decide and count, but write nothing (not even the report).
    pub dry_run: bool,
    /// Deletions (records, fields, subjects) per batch, i.e. per transaction (at least 1).
    pub batch_size: usize,
    /// Subjects read per scan page.
    pub page_size: u32,
    /// Called after each scan page and each committed batch.
    pub progress: Option<&'a (dyn Fn(&PurgeProgress) + Send + Sync)>,
}

impl Default for PurgeOptions<'_> {
    fn default() -> Self {
        Self {
            dry_run: false,
            batch_size: 500,
            page_size: 500,
            progress: None,
        }
    }
}

impl std::fmt::Debug for PurgeOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurgeOptions")
            .field("dry_run", &self.dry_run)
            .field("batch_size", &self.batch_size)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// How far a run got.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeProgress {
    /// Subjects scanned.
    pub scanned: u64,
    /// Records deleted (or, in a dry run, that would be).
    pub records: u64,
    /// Fields deleted from records that stay.
    pub fields: u64,
    /// Subjects erased because nothing of them remained.
    pub subjects_erased: u64,
    /// Batches committed.
    pub batches: u64,
}

/// One line of a purge report or a plan: a collection, or one field of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeLine {
    /// The collection.
    pub collection: String,
    /// The field, for fields deleted from records that stay; `None` for whole records.
    pub field: Option<String>,
    /// How many records (or fields).
    pub count: u64,
}

/// What a retention run deleted (or would have, in a dry run). Counts only, never a value.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeReport {
    /// The run's id: the `request_id` of each of its audit entries.
    pub run_id: RequestId,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// The moment retention was decided against.
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// Totals.
    #[serde(flatten)]
    pub progress: PurgeProgress,
    /// Records per collection, then fields per collection and field, in name order.
    pub lines: Vec<PurgeLine>,
    /// Subjects with expired data left alone because of a legal hold.
    pub held_subjects: u64,
    /// Subjects left for the next run because they changed while this one ran.
    pub changed_subjects: u64,
    /// The audit index of the report's last entry (none in a dry run).
    pub report_audit_index: Option<u64>,
}

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
    /// Per collection (whole records) and per field, in name order.
    pub lines: Vec<PlanLine>,
    /// Subjects under a legal hold (their data is not counted: it is not purged while held).
    pub held_subjects: u64,
}

/// A subject's legal hold, as shown to an admin.
#[derive(Debug, Clone, Serialize)]
pub struct LegalHold {
    /// The reason code.
    pub reason: String,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who set it.
    pub actor: String,
}

/// The purge of one subject, decided from one scan row.
struct SubjectPurge {
    ops: Vec<Op>,
    entries: Vec<AuditEntry>,
    deleted_records: Vec<String>,
    deleted_fields: Vec<(String, String)>,
    erase: bool,
}

impl SubjectPurge {
    fn size(&self) -> usize {
        self.deleted_records.len() + self.deleted_fields.len() + usize::from(self.erase)
    }
}

#[derive(Default)]
struct Tally {
    progress: PurgeProgress,
    records: BTreeMap<String, u64>,
    fields: BTreeMap<(String, String), u64>,
    held: u64,
    changed: u64,
}

impl Tally {
    fn add(&mut self, p: &SubjectPurge) {
        for c in &p.deleted_records {
            *self.records.entry(c.clone()).or_default() += 1;
        }
        for f in &p.deleted_fields {
            *self.fields.entry(f.clone()).or_default() += 1;
        }
        self.progress.records += p.deleted_records.len() as u64;
        self.progress.fields += p.deleted_fields.len() as u64;
        self.progress.subjects_erased += u64::from(p.erase);
    }

    fn lines(&self) -> Vec<PurgeLine> {
        let records = self.records.iter().map(|(c, n)| PurgeLine {
            collection: c.clone(),
            field: None,
            count: *n,
        });
        let fields = self.fields.iter().map(|((c, f), n)| PurgeLine {
            collection: c.clone(),
            field: Some(f.clone()),
            count: *n,
        });
        records.chain(fields).collect()
    }
}

fn facts(row: &RetentionRow) -> Vec<ConsentFact> {
    row.consents
        .iter()
        .filter_map(|c| {
            Some(ConsentFact {
                purpose: c.purpose.clone(),
                state: c.state.parse::<ConsentState>().ok()?,
                at: c.at,
                expires_at: c.expires_at,
            })
        })
        .collect()
}

fn field_names(r: &RecordRow) -> Vec<&str> {
    r.fields.iter().map(|(n, _)| n.as_str()).collect()
}

/// Whether a store error means "this subject changed under the run": skip it, the next run
/// decides again.
fn changed_meanwhile(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::ActivityConflict(_)
            | StoreError::LegalHold(_)
            | StoreError::SubjectNotFound(_)
            | StoreError::RecordNotFound(_)
            | StoreError::VersionConflict { .. }
    )
}

/// A legal-hold reason code: 1 to 64 of `a-z 0-9 . _ : -`, starting with a letter or digit.
/// A code, not prose, because it is written to the audit trail, which never holds personal data.
fn check_reason(reason: &str) -> Result<(), VaultError> {
    let ok = !reason.is_empty()
        && reason.len() <= MAX_HOLD_REASON_LEN
        && reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_:".contains(&b))
        && reason
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(VaultError::BadRequest(format!(
            "a legal-hold reason is a code of 1 to {MAX_HOLD_REASON_LEN} characters a-z, 0-9, \
             `.`, `_`, `:` or `-` (e.g. `litigation-2026-17`): it is written to the audit \
             trail, which never holds personal data"
        )))
    }
}

impl Vault {
    /// Deletes what has expired at `now` (see the module doc), or with `dry_run` only counts
    /// it. Admin only.
    pub async fn run_retention(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        dry_run: bool,
    ) -> Result<PurgeReport, VaultError> {
        let options = PurgeOptions {
            dry_run,
            ..PurgeOptions::default()
        };
        self.run_retention_with(actor, now, &options).await
    }

    /// [`Vault::run_retention`] with batch and page sizes and a progress callback.
    pub async fn run_retention_with(
        &self,
        actor: &Actor,
        now: OffsetDateTime,
        options: &PurgeOptions<'_>,
    ) -> Result<PurgeReport, VaultError> {
        self.require_admin(actor).await?;
        let run_id = RequestId::new();
        let batch_size = options.batch_size.max(1);
        let mut tally = Tally::default();
        let mut pending: Vec<SubjectPurge> = Vec::new();
        let mut pending_size = 0;
        let mut after = None;
        loop {
            let page = self
                .inner
                .store
                .retention_page(after, options.page_size.max(1))
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.subject);
            for row in &page {
                tally.progress.scanned += 1;
                let Some(purge) = self.decide_purge(actor, run_id, row, now) else {
                    continue;
                };
                if row.legal_hold.is_some() {
                    tally.held += 1;
                    continue;
                }
                if options.dry_run {
                    tally.add(&purge);
                    continue;
                }
                pending_size += purge.size();
                pending.push(purge);
                if pending_size >= batch_size {
                    self.commit_batch(std::mem::take(&mut pending), &mut tally)
                        .await?;
                    pending_size = 0;
                    report_progress(options, &tally);
                }
            }
            report_progress(options, &tally);
        }
        if !pending.is_empty() {
            self.commit_batch(pending, &mut tally).await?;
            report_progress(options, &tally);
        }
        let report_audit_index = if options.dry_run {
            None
        } else {
            self.write_report(actor, run_id, &tally).await?
        };
        Ok(PurgeReport {
            run_id,
            dry_run: options.dry_run,
            now,
            lines: tally.lines(),
            progress: tally.progress,
            held_subjects: tally.held,
            changed_subjects: tally.changed,
            report_audit_index,
        })
    }

    fn purge_entry(
        &self,
        actor: &Actor,
        run_id: RequestId,
        action: Action,
        subject: Option<SubjectId>,
    ) -> AuditEntry {
        let mut e = self.entry(actor, action);
        e.subject = subject;
        e.request_id = Some(run_id);
        e
    }

    /// What to delete of one subject at `now`, or `None` if nothing has expired.
    fn decide_purge(
        &self,
        actor: &Actor,
        run_id: RequestId,
        row: &RetentionRow,
        now: OffsetDateTime,
    ) -> Option<SubjectPurge> {
        let schema = &self.inner.schema;
        let consents = facts(row);
        let times = SubjectTimes {
            last_activity: row.last_activity,
            consents: &consents,
        };
        let mut purge = SubjectPurge {
            ops: vec![Op::GuardRetention {
                subject: row.subject,
                last_activity: row.last_activity,
                records: row.records.len() as u64,
            }],
            entries: Vec::new(),
            deleted_records: Vec::new(),
            deleted_fields: Vec::new(),
            erase: false,
        };
        for rec in &row.records {
            // A collection the schema no longer declares is kept: nothing says when it ends.
            let Some(coll) = schema.collection(&rec.collection) else {
                continue;
            };
            let present = field_names(rec);
            let deadlines = record_deadlines(schema, coll, rec.created_at, &present, times);
            let mut e = self.purge_entry(actor, run_id, Action::RetentionPurge, Some(row.subject));
            e.collection = Some(coll.name.clone());
            e.record = Some(rec.id);
            match deadlines.at(now) {
                Expiry::Keep => continue,
                Expiry::Record => {
                    purge.ops.push(Op::DeleteRecord {
                        record: rec.id,
                        subject: row.subject,
                        expected_version: rec.version,
                    });
                    e.fields = present.iter().map(|n| (*n).to_owned()).collect();
                    e.reason = Some("record_expired".into());
                    purge.deleted_records.push(coll.name.clone());
                }
                Expiry::Fields(gone) => {
                    let kept = rec
                        .fields
                        .iter()
                        .filter(|(n, _)| !gone.contains(n))
                        .cloned()
                        .collect();
                    purge.ops.push(Op::PutRecord {
                        record: RecordRow {
                            version: rec.version + 1,
                            updated_at: now.max(rec.updated_at),
                            fields: kept,
                            ..rec.clone()
                        },
                        expected_version: Some(rec.version),
                    });
                    for name in &gone {
                        if coll.field(name).is_some_and(|f| f.searchable) {
                            purge.ops.push(Op::DeleteIndex {
                                record: rec.id,
                                field: name.clone(),
                            });
                        }
                        purge.deleted_fields.push((coll.name.clone(), name.clone()));
                    }
                    e.reason = Some("field_expired".into());
                    e.fields = gone;
                }
            }
            purge.entries.push(e);
        }
        if purge.entries.is_empty() {
            return None;
        }
        if purge.deleted_records.len() == row.records.len() {
            // Nothing of the subject remains: crypto-shred it through the erasure path (its
            // key, consent ledger and restriction go; the erasure ledger keeps id and time).
            purge.erase = true;
            purge.ops.push(Op::EraseSubject {
                subject: row.subject,
                at: self.now(),
            });
            let mut e = self.purge_entry(actor, run_id, Action::SubjectErase, Some(row.subject));
            e.reason = Some("retention_expired".into());
            purge.entries.push(e);
        }
        Some(purge)
    }

    /// Commits one batch as one write set. If it fails because a subject changed meanwhile,
    /// each subject is retried alone and those that changed are left for the next run.
    async fn commit_batch(
        &self,
        batch: Vec<SubjectPurge>,
        tally: &mut Tally,
    ) -> Result<(), VaultError> {
        let mut w = WriteSet::new();
        for p in &batch {
            w.ops.extend(p.ops.iter().cloned());
            for e in &p.entries {
                w.push_audit(e);
            }
        }
        match self.inner.store.apply(w).await {
            Ok(_) => {
                batch.iter().for_each(|p| tally.add(p));
                tally.progress.batches += 1;
                return Ok(());
            }
            Err(e) if changed_meanwhile(&e) => {}
            Err(e) => return Err(e.into()),
        }
        for p in batch {
            let mut w = WriteSet::new();
            w.ops = p.ops.clone();
            for e in &p.entries {
                w.push_audit(e);
            }
            match self.inner.store.apply(w).await {
                Ok(_) => {
                    tally.add(&p);
                    tally.progress.batches += 1;
                }
                Err(StoreError::LegalHold(_)) => tally.held += 1,
                Err(e) if changed_meanwhile(&e) => tally.changed += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Writes the purge report: one entry per collection (records) and per field, then the
    /// totals. Returns the index of the last entry.
    async fn write_report(
        &self,
        actor: &Actor,
        run_id: RequestId,
        tally: &Tally,
    ) -> Result<Option<u64>, VaultError> {
        let mut w = WriteSet::new();
        for line in tally.lines() {
            let mut e = self.purge_entry(actor, run_id, Action::RetentionPurge, None);
            e.reason = Some("purge_report".into());
            e.collection = Some(line.collection);
            e.fields = line.field.into_iter().collect();
            e.count = Some(line.count);
            w.push_audit(&e);
        }
        for (reason, count) in [
            (
                "purge_report_subjects_erased",
                tally.progress.subjects_erased,
            ),
            ("purge_report_subjects_held", tally.held),
            ("purge_report_subjects_changed", tally.changed),
            ("purge_report_subjects_scanned", tally.progress.scanned),
        ] {
            let mut e = self.purge_entry(actor, run_id, Action::RetentionPurge, None);
            e.reason = Some(reason.into());
            e.count = Some(count);
            w.push_audit(&e);
        }
        let n = w.audit.len() as u64;
        let committed = self.inner.store.apply(w).await?;
        Ok(committed.first_audit_index.map(|first| first + n - 1))
    }

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
        Ok(RetentionPlan {
            now,
            until,
            scanned,
            lines: lines.into_values().collect(),
            held_subjects: held,
        })
    }

    /// Puts a subject under a legal hold (`Some(reason code)`, replacing any earlier one) or
    /// lifts it (`None`). While held, purges skip the subject and erasures are refused.
    /// Audited with the reason code. Admin only.
    pub async fn set_legal_hold(
        &self,
        actor: &Actor,
        subject: SubjectId,
        reason: Option<&str>,
    ) -> Result<(), VaultError> {
        self.require_admin(actor).await?;
        let hold = match reason {
            Some(r) => {
                check_reason(r)?;
                Some(LegalHoldRow {
                    reason: r.to_owned(),
                    at: self.now(),
                    actor: actor.id.clone(),
                })
            }
            None => None,
        };
        let mut entry = self.entry(actor, Action::LegalHold);
        entry.subject = Some(subject);
        entry.reason = Some(match &hold {
            Some(h) => format!("hold:{}", h.reason),
            None => "released".into(),
        });
        let w = WriteSet::new()
            .op(Op::SetLegalHold { subject, hold })
            .audit(entry);
        self.inner.store.apply(w).await?;
        Ok(())
    }

    /// The legal hold on a subject, if one is in force. Admin only.
    pub async fn legal_hold(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<Option<LegalHold>, VaultError> {
        self.require_admin(actor).await?;
        Ok(self
            .inner
            .store
            .legal_hold(subject)
            .await?
            .map(|h| LegalHold {
                reason: h.reason,
                at: h.at,
                actor: h.actor,
            }))
    }

    /// Refuses an erasure of a held subject, on the record (decision `denied`, reason
    /// `legal_hold`). The store refuses it too, so a hold set meanwhile still wins.
    pub(crate) async fn refuse_if_held(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<(), VaultError> {
        if self.inner.store.legal_hold(subject).await?.is_none() {
            return Ok(());
        }
        let mut e = self.entry(actor, Action::SubjectErase);
        e.subject = Some(subject);
        e.decision = Decision::Denied;
        e.reason = Some("legal_hold".into());
        self.inner.store.apply(WriteSet::new().audit(e)).await?;
        Err(VaultError::LegalHold(subject))
    }
}

fn report_progress(options: &PurgeOptions<'_>, tally: &Tally) {
    if let Some(f) = options.progress {
        f(&tally.progress);
    }
}
