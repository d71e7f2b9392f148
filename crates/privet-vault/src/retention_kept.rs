//! The part of a retention run that ends what an erasure kept: records of a retention class
//! (e.g. orders kept 7 years by legal obligation) whose `keep_until` has passed are deleted,
//! and an erased subject's class key is destroyed with the last record it sealed (both in the
//! store's [`Op::PurgeRetained`], one transaction).
//!
//! Kept records are found by the end of their retention (keyset pages of
//! [`PurgeOptions::page_size`]) and deleted in batches of [`PurgeOptions::batch_size`], each
//! one write set with one audit entry per record (reason `retained_expired`). Legal holds do
//! not apply here: a hold lives on the subject, an erasure of a held subject is refused, and
//! an erased subject cannot be held, so every kept record belongs to a subject that was not
//! held when it was erased.

use privet_audit::{Action, AuditEntry};
use privet_core::RequestId;
use privet_store::{Op, RetainedDueRow, StoreError, WriteSet};
use time::OffsetDateTime;

use crate::retention::{PurgeOptions, Tally, changed_meanwhile, report_progress};
use crate::{Actor, Vault, VaultError};

impl Vault {
    /// Deletes (or with `dry_run` counts) the kept records whose retention ended at `now`.
    pub(crate) async fn purge_kept(
        &self,
        actor: &Actor,
        run_id: RequestId,
        now: OffsetDateTime,
        options: &PurgeOptions<'_>,
        tally: &mut Tally,
    ) -> Result<(), VaultError> {
        let batch_size = options.batch_size.max(1);
        let mut pending: Vec<(RetainedDueRow, AuditEntry)> = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .inner
                .store
                .retained_due(now, after, options.page_size.max(1))
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((last.keep_until, last.record));
            for due in page {
                if options.dry_run {
                    count(tally, &due);
                    continue;
                }
                let mut e =
                    self.purge_entry(actor, run_id, Action::RetentionPurge, Some(due.subject));
                e.collection = Some(due.collection.clone());
                e.record = Some(due.record);
                e.reason = Some("retained_expired".into());
                pending.push((due, e));
                if pending.len() >= batch_size {
                    self.commit_kept(std::mem::take(&mut pending), now, tally)
                        .await?;
                    report_progress(options, tally);
                }
            }
        }
        if !pending.is_empty() {
            self.commit_kept(pending, now, tally).await?;
            report_progress(options, tally);
        }
        Ok(())
    }

    /// Commits one batch of kept-record deletions as one write set; if one of them was
    /// deleted meanwhile (a concurrent run), each is retried alone.
    async fn commit_kept(
        &self,
        batch: Vec<(RetainedDueRow, AuditEntry)>,
        now: OffsetDateTime,
        tally: &mut Tally,
    ) -> Result<(), VaultError> {
        let op = |d: &RetainedDueRow| Op::PurgeRetained {
            record: d.record,
            subject: d.subject,
            now,
        };
        let mut w = WriteSet::new();
        for (d, e) in &batch {
            w.ops.push(op(d));
            w.push_audit(e);
        }
        match self.inner.store.apply(w).await {
            Ok(_) => {
                batch.iter().for_each(|(d, _)| count(tally, d));
                tally.progress.batches += 1;
                return Ok(());
            }
            Err(e) if changed_meanwhile(&e) => {}
            Err(e) => return Err(e.into()),
        }
        for (d, e) in batch {
            let w = WriteSet::new().op(op(&d)).audit(e);
            match self.inner.store.apply(w).await {
                Ok(_) => {
                    count(tally, &d);
                    tally.progress.batches += 1;
                }
                Err(StoreError::RecordNotFound(_)) => tally.changed += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

fn count(tally: &mut Tally, due: &RetainedDueRow) {
    *tally.retained.entry(due.collection.clone()).or_default() += 1;
    tally.progress.retained += 1;
}
