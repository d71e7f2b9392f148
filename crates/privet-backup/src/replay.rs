//! Replaying the ledger into a restored store, and re-syncing the ledger from a store.

use std::collections::HashSet;

use privet_audit::{Action, AuditEntry};
use privet_core::SubjectId;
use privet_store::{LegalHoldRow, Op, RestrictionRow, Store, StoreError, WriteSet};
use privet_vault::{Vault, VaultError};
use time::OffsetDateTime;

use crate::{BackupError, Ledger, LedgerEvent, LedgerKind};

/// The actor named in the audit entries of a replay.
const ACTOR: &str = "restore";
/// The reason code of replayed events (in the audit entry, the restriction and the hold).
const REASON: &str = "erasure_ledger_replay";

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Subjects erased because the ledger erased them after the backup.
    pub erased: u64,
    /// Ledger erasures of subjects the backup does not hold (created after it): nothing to
    /// erase.
    pub absent: u64,
    /// Ledger erasures the backup already had.
    pub already_erased: u64,
    /// Restrictions set or lifted again.
    pub restrictions: u64,
    /// Legal holds set or lifted again.
    pub holds: u64,
}

/// Replays `events` into `store` (a restored backup taken at `since`, opened as `vault`):
/// every erasure the store does not already record, then every restriction and legal-hold
/// event at or after `since`, in ledger order. Each replayed event is audited (actor
/// `restore`). Safe to run twice.
///
/// An erasure is planned by the vault as of the original erasure's time
/// ([`Vault::erasure_write_set`]), so records kept by legal obligation whose retention had
/// not run out then are kept again, under their class key, and the rest is destroyed.
/// `vault` is only read (its schema, keys and the subject's data); the writes go to `store`.
pub async fn replay_ledger(
    vault: &Vault,
    store: &dyn Store,
    events: &[LedgerEvent],
    since: OffsetDateTime,
) -> Result<ReplayReport, BackupError> {
    let done: HashSet<SubjectId> = store
        .erasures()
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let mut report = ReplayReport::default();
    for ev in events {
        let now = OffsetDateTime::now_utc();
        let (op, action, reason) = match ev.kind {
            LedgerKind::Erase if done.contains(&ev.subject) => {
                report.already_erased += 1;
                continue;
            }
            LedgerKind::Erase => {
                match vault
                    .erasure_write_set(ACTOR, ev.subject, ev.at, Some(REASON))
                    .await
                {
                    // The subject's notifications in the backup went out (or were due)
                    // before the erasure: not again, and their sealed addresses go with it.
                    Ok(w) => match store
                        .apply(w.op(Op::DeleteMessagesOf {
                            subject: ev.subject,
                            before: ev.at,
                        }))
                        .await
                    {
                        Ok(_) => report.erased += 1,
                        Err(StoreError::SubjectNotFound(_)) => report.absent += 1,
                        Err(e) => return Err(e.into()),
                    },
                    Err(VaultError::SubjectNotFound(_)) => report.absent += 1,
                    Err(VaultError::AlreadyErased { .. }) => report.already_erased += 1,
                    Err(VaultError::Store(e)) => return Err(e.into()),
                    Err(e) => {
                        return Err(BackupError::Replay {
                            subject: ev.subject,
                            reason: e.to_string(),
                        });
                    }
                }
                continue;
            }
            _ if ev.at < since => continue,
            LedgerKind::Restrict | LedgerKind::Unrestrict => (
                Op::SetRestriction {
                    subject: ev.subject,
                    restriction: (ev.kind == LedgerKind::Restrict).then(|| RestrictionRow {
                        subject: ev.subject,
                        reason: REASON.into(),
                        at: ev.at,
                        actor: ACTOR.into(),
                    }),
                },
                Action::RestrictionUpdate,
                REASON.to_owned(),
            ),
            LedgerKind::Hold | LedgerKind::Release => {
                let hold = (ev.kind == LedgerKind::Hold).then(|| LegalHoldRow {
                    reason: REASON.into(),
                    at: ev.at,
                    actor: ACTOR.into(),
                });
                let reason = match &hold {
                    Some(h) => format!("hold:{}", h.reason),
                    None => "released".into(),
                };
                (
                    Op::SetLegalHold {
                        subject: ev.subject,
                        hold,
                    },
                    Action::LegalHold,
                    reason,
                )
            }
        };
        let mut entry = AuditEntry::new(now, ACTOR, action);
        entry.subject = Some(ev.subject);
        entry.reason = Some(reason);
        match store.apply(WriteSet::new().op(op).audit(entry)).await {
            Ok(_) if action == Action::LegalHold => report.holds += 1,
            Ok(_) => report.restrictions += 1,
            // A restriction or hold of a subject the backup lacks or that is erased: nothing
            // to do.
            Err(StoreError::SubjectNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

/// Appends to `ledger` every erasure `store` records that the ledger lacks (those that
/// committed just before a crash, before their append), creating the ledger if needed;
/// returns how many.
pub async fn resync_erasures(store: &dyn Store, ledger: &Ledger) -> Result<u64, BackupError> {
    ledger.ensure()?;
    let known: HashSet<SubjectId> = ledger
        .read()?
        .into_iter()
        .filter(|e| e.kind == LedgerKind::Erase)
        .map(|e| e.subject)
        .collect();
    let missing: Vec<LedgerEvent> = store
        .erasures()
        .await?
        .into_iter()
        .filter(|(s, _)| !known.contains(s))
        .map(|(subject, at)| LedgerEvent {
            at,
            kind: LedgerKind::Erase,
            subject,
        })
        .collect();
    ledger.append(&missing)?;
    Ok(missing.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use privet_store::SubjectRow;
    use privet_store_sqlite::{SqliteOptions, SqliteStore};

    use super::*;
    use crate::LedgerStore;

    async fn create(store: &dyn Store) -> SubjectId {
        let id = SubjectId::new();
        store
            .apply(WriteSet::new().op(Op::CreateSubject(SubjectRow {
                id,
                key_version: 1,
                wrapped_key: vec![1, 2, 3],
                created_at: OffsetDateTime::now_utc(),
            })))
            .await
            .unwrap();
        id
    }

    fn erase(id: SubjectId) -> WriteSet {
        WriteSet::new().op(Op::EraseSubject {
            subject: id,
            at: OffsetDateTime::now_utc(),
        })
    }

    #[tokio::test]
    async fn committed_erasures_and_restrictions_are_in_the_ledger_and_failed_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("db"), SqliteOptions::default()).unwrap());
        let ledger = Arc::new(Ledger::new(dir.path().join("ledger")));
        let store = LedgerStore::new(sqlite, Arc::clone(&ledger));
        let a = create(&store).await;
        let b = create(&store).await;
        store.apply(erase(a)).await.unwrap();
        // Refused (no such subject): not in the ledger.
        assert!(store.apply(erase(SubjectId::new())).await.is_err());
        store
            .apply(WriteSet::new().op(Op::SetRestriction {
                subject: b,
                restriction: Some(RestrictionRow {
                    subject: b,
                    reason: "r".into(),
                    at: OffsetDateTime::now_utc(),
                    actor: "admin".into(),
                }),
            }))
            .await
            .unwrap();
        for hold in [
            Some(LegalHoldRow {
                reason: "litigation-1".into(),
                at: OffsetDateTime::now_utc(),
                actor: "admin".into(),
            }),
            None,
        ] {
            store
                .apply(WriteSet::new().op(Op::SetLegalHold { subject: b, hold }))
                .await
                .unwrap();
        }
        // Refused (no such subject): not in the ledger.
        assert!(
            store
                .apply(WriteSet::new().op(Op::SetLegalHold {
                    subject: SubjectId::new(),
                    hold: None
                }))
                .await
                .is_err()
        );
        let events = ledger.read().unwrap();
        let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.subject)).collect();
        assert_eq!(
            kinds,
            vec![
                (LedgerKind::Erase, a),
                (LedgerKind::Restrict, b),
                (LedgerKind::Hold, b),
                (LedgerKind::Release, b)
            ]
        );
        let text = std::fs::read_to_string(ledger.path()).unwrap();
        assert!(!text.contains("litigation"), "{text}");
        assert!(
            !std::fs::read_to_string(ledger.path())
                .unwrap()
                .contains(" r\n")
        );
    }

    #[tokio::test]
    async fn replay_erases_what_the_backup_still_holds_once_and_resync_fills_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("db"), SqliteOptions::default()).unwrap());
        let schema = privet_vault::Schema::from_toml_str(include_str!(
            "../../privet-core/examples/shop.schema.toml"
        ))
        .unwrap();
        let (vault, _) = Vault::initialize(
            schema,
            Arc::clone(&sqlite),
            privet_crypto::Keyring::generate(),
            Arc::new(privet_vault::SystemClock),
        )
        .await
        .unwrap();
        let store = sqlite.as_ref();
        let kept = create(store).await;
        let gone = create(store).await;
        let old = create(store).await;
        store.apply(erase(old)).await.unwrap();
        let since = OffsetDateTime::now_utc();
        let at = since + time::Duration::seconds(1);
        let events = vec![
            LedgerEvent {
                at,
                kind: LedgerKind::Erase,
                subject: old,
            },
            LedgerEvent {
                at,
                kind: LedgerKind::Erase,
                subject: gone,
            },
            LedgerEvent {
                at,
                kind: LedgerKind::Erase,
                subject: SubjectId::new(),
            },
            LedgerEvent {
                at,
                kind: LedgerKind::Restrict,
                subject: kept,
            },
            LedgerEvent {
                at,
                kind: LedgerKind::Hold,
                subject: kept,
            },
            // Before the backup: already in it, not replayed.
            LedgerEvent {
                at: since - time::Duration::seconds(5),
                kind: LedgerKind::Release,
                subject: kept,
            },
        ];
        let report = replay_ledger(&vault, store, &events, since).await.unwrap();
        assert_eq!(
            report,
            ReplayReport {
                erased: 1,
                absent: 1,
                already_erased: 1,
                restrictions: 1,
                holds: 1,
            }
        );
        assert!(
            store
                .load_subject(gone, "customers", None)
                .await
                .unwrap()
                .is_none()
        );
        let k = store
            .load_subject(kept, "customers", None)
            .await
            .unwrap()
            .unwrap();
        assert!(k.restriction.is_some());
        assert!(store.legal_hold(kept).await.unwrap().is_some());
        // Idempotent.
        let again = replay_ledger(&vault, store, &events, since).await.unwrap();
        assert_eq!(again.erased, 0);
        // The store's erasures missing from a ledger are appended to it.
        let ledger = Ledger::new(dir.path().join("ledger"));
        assert_eq!(resync_erasures(store, &ledger).await.unwrap(), 2);
        assert_eq!(resync_erasures(store, &ledger).await.unwrap(), 0);
    }
}
