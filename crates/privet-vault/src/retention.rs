//! Retention runs: purging what the schema's `retention` says has expired (what will expire
//! is in `retention_plan`; the legal holds that suspend purges are in `legal_hold`).
//!
//! A run scans every subject in id order (pages of [`PurgeOptions::page_size`]), lets
//! privet-core decide what of each has expired, and deletes it in bounded batches: each batch
//! is one write set — for each subject a guard (no hold, no activity or new record since the
//! scan), the deletions and their audit entries — so a batch lands whole or not at all. A run
//! killed half-way leaves only whole batches behind; the next run finds what is left and
//! finishes it. The run ends with the purge report (counts per collection and field, never a
//! value) written to the audit trail.

use std::collections::BTreeMap;

use privet_audit::{Action, AuditEntry};
use privet_core::retention::{ConsentFact, Expiry, SubjectTimes, record_deadlines};
use privet_core::{ConsentState, RequestId, SubjectId};
use privet_store::{Op, RecordRow, RetentionRow, StoreError, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// The prefix of the report and plan lines that count records an erasure kept
/// (`retained:<collection>`).
pub const RETAINED_PREFIX: &str = "retained:";

/// The actor id of the purge job inside `privet serve`.
pub const RETENTION_ACTOR: &str = "retention";

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
    /// Records an erasure kept whose retention ended, deleted (or, in a dry run, that would
    /// be); their class key goes with the last one of a subject.
    pub retained: u64,
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
    /// Records per collection, then fields per collection and field, in name order, then
    /// records an erasure kept as collection `retained:<collection>`.
    pub lines: Vec<PurgeLine>,
    /// Subjects with expired data left alone because of a legal hold.
    pub held_subjects: u64,
    /// Subjects left for the next run because they changed while this one ran.
    pub changed_subjects: u64,
    /// The audit index of the report's last entry (none in a dry run).
    pub report_audit_index: Option<u64>,
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
pub(crate) struct Tally {
    pub(crate) progress: PurgeProgress,
    records: BTreeMap<String, u64>,
    fields: BTreeMap<(String, String), u64>,
    /// Kept records of erased subjects deleted, per collection.
    pub(crate) retained: BTreeMap<String, u64>,
    held: u64,
    pub(crate) changed: u64,
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
        let retained = self.retained.iter().map(|(c, n)| PurgeLine {
            collection: format!("{RETAINED_PREFIX}{c}"),
            field: None,
            count: *n,
        });
        records.chain(fields).chain(retained).collect()
    }
}

pub(crate) fn facts(row: &RetentionRow) -> Vec<ConsentFact> {
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

pub(crate) fn field_names(r: &RecordRow) -> Vec<&str> {
    r.fields.iter().map(|(n, _)| n.as_str()).collect()
}

/// Whether a store error means "this subject changed under the run": skip it, the next run
/// decides again.
pub(crate) fn changed_meanwhile(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::ActivityConflict(_)
            | StoreError::LegalHold(_)
            | StoreError::SubjectNotFound(_)
            | StoreError::RecordNotFound(_)
            | StoreError::VersionConflict { .. }
    )
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
        self.purge_kept(actor, run_id, now, options, &mut tally)
            .await?;
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

    pub(crate) fn purge_entry(
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
}

pub(crate) fn report_progress(options: &PurgeOptions<'_>, tally: &Tally) {
    if let Some(f) = options.progress {
        f(&tally.progress);
    }
}
