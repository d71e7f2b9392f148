//! Access monitoring through the vault's use cases, on a clock the test moves: a principal
//! shown more distinct subjects (or refused more often) than its threshold raises exactly one
//! alert per window, on the record and to the observer; with `auto_suspend` it is suspended
//! until an admin lifts it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use common::*;
use privet_audit::{Action, AuditEntry, Decision};
use privet_core::{Role, SubjectId};
use privet_store_sqlite::{SqliteOptions, SqliteStore};
use privet_vault::{
    Actor, Alert, AlertKind, Clock, Keyring, Monitor, MonitorConfig, MonitorObserver, Schema,
    Vault, VaultError,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use tokio::sync::mpsc;

/// A clock the test moves.
struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// Keeps what monitoring reports.
#[derive(Default)]
struct Seen {
    accesses: Mutex<Vec<AuditEntry>>,
    refusals: Mutex<Vec<AuditEntry>>,
    alerts: Mutex<Vec<Alert>>,
    tx: Mutex<Option<mpsc::UnboundedSender<Alert>>>,
}

impl MonitorObserver for Seen {
    fn access(&self, entry: &AuditEntry) {
        self.accesses.lock().unwrap().push(entry.clone());
    }
    fn refusal(&self, entry: &AuditEntry) {
        self.refusals.lock().unwrap().push(entry.clone());
    }
    fn alert(&self, alert: &Alert) {
        self.alerts.lock().unwrap().push(alert.clone());
        if let Some(tx) = &*self.tx.lock().unwrap() {
            let _ = tx.send(alert.clone());
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    vault: Vault,
    clock: Arc<TestClock>,
    seen: Arc<Seen>,
    alerts: mpsc::UnboundedReceiver<Alert>,
    admin_key: String,
    /// A principal allowed to read customers' emails for `essential.service`.
    reader: Actor,
    reader_id: String,
    reader_key: String,
}

async fn setup(config: MonitorConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_toml_str(SCHEMA).unwrap();
    let store = SqliteStore::open(dir.path().join("privet.db"), SqliteOptions::default()).unwrap();
    let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
    let (vault, key) =
        Vault::initialize(schema, Arc::new(store), Keyring::generate(), clock.clone())
            .await
            .unwrap();
    let seen = Arc::new(Seen::default());
    let (tx, rx) = mpsc::unbounded_channel();
    *seen.tx.lock().unwrap() = Some(tx);
    let vault = vault.with_monitor(Monitor::new(config, seen.clone()));
    let role: Role = serde_json::from_value(json!({
        "name": "reader", "purposes": ["essential.service"],
        "collections": {"customers": {"email": "plain"}}
    }))
    .unwrap();
    vault.put_role(&Actor::cli(), role, false).await.unwrap();
    let p = vault
        .create_principal(&Actor::cli(), "support-desk", &["reader".into()], None)
        .await
        .unwrap();
    let principal = vault.authenticate(p.api_key.expose()).await.unwrap();
    Setup {
        _dir: dir,
        vault,
        clock,
        seen,
        alerts: rx,
        admin_key: key.expose().to_owned(),
        reader: Actor::principal(&principal, None),
        reader_id: p.id,
        reader_key: p.api_key.expose().to_owned(),
    }
}

fn config(max_distinct_subjects: u32, max_denials: u32, auto_suspend: bool) -> MonitorConfig {
    MonitorConfig {
        window: StdDuration::from_secs(600),
        max_distinct_subjects: Some(max_distinct_subjects),
        max_denials: Some(max_denials),
        max_exports: None,
        auto_suspend,
    }
}

async fn subjects(v: &Vault, n: usize) -> Vec<SubjectId> {
    let mut out = Vec::new();
    for i in 0..n {
        let data = obj(json!({"email": format!("person{i}@example.com")}));
        out.push(v.create_subject(&Actor::cli(), &data).await.unwrap());
    }
    out
}

async fn alert_entries(v: &Vault) -> Vec<AuditEntry> {
    let n = v.store().audit_len().await.unwrap();
    let leaves = v.store().audit_leaves(0, n as u32).await.unwrap();
    leaves
        .iter()
        .map(|l| AuditEntry::from_leaf_bytes(&l.leaf).unwrap())
        .filter(|e| e.action == Action::Alert)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_distinct_subjects_than_the_threshold_raise_one_alert_per_window() {
    let mut t = setup(config(3, 50, false)).await;
    let ids = subjects(&t.vault, 10).await;
    for id in &ids[..8] {
        t.vault
            .read_subject(&t.reader, *id, Some("essential.service"))
            .await
            .unwrap();
    }
    let alerts = t.seen.alerts.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(
        (a.kind, a.count, a.threshold, a.principal.as_str()),
        (AlertKind::DistinctSubjects, 4, 3, t.reader_id.as_str())
    );
    assert_eq!(a.window, StdDuration::from_secs(600));
    assert!(!a.suspended);
    assert!(a.id.starts_with("alr_"), "{}", a.id);

    // On the record, once, by the monitor, with ids and counts only.
    let entries = alert_entries(&t.vault).await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.actor, "monitor");
    assert_eq!(
        e.reason.as_deref(),
        Some(format!("distinct_subjects:principal:{}", t.reader_id).as_str())
    );
    assert_eq!(e.count, Some(4));
    let leaf = String::from_utf8(e.leaf_bytes()).unwrap();
    assert!(!leaf.contains("example.com"), "{leaf}");
    assert_eq!(
        a.audit_index,
        Some(t.vault.store().audit_len().await.unwrap() - 5)
    );
    // Reading the subjects again within the window changes nothing; still allowed.
    t.vault
        .read_subject(&t.reader, ids[8], Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(t.seen.alerts.lock().unwrap().len(), 1);

    // A window later, crossing again raises the next alert.
    t.clock.advance(Duration::minutes(10));
    for id in &ids[..4] {
        t.vault
            .read_subject(&t.reader, *id, Some("essential.service"))
            .await
            .unwrap();
    }
    assert_eq!(t.seen.alerts.lock().unwrap().len(), 2);
    assert_eq!(alert_entries(&t.vault).await.len(), 2);
    assert!(t.alerts.try_recv().is_ok());

    // The observer saw every audited read, with its decision.
    let accesses = t.seen.accesses.lock().unwrap();
    assert_eq!(accesses.len(), 13);
    assert!(
        accesses
            .iter()
            .all(|e| e.action == Action::SubjectRead && e.decision == Decision::Partial)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_is_not_monitored_and_refusals_are_not_subject_reads() {
    let t = setup(config(2, 50, false)).await;
    let ids = subjects(&t.vault, 5).await;
    for id in &ids {
        t.vault
            .read_subject(&Actor::cli(), *id, Some("essential.service"))
            .await
            .unwrap();
        // Refused (its role does not grant the purpose): nothing shown, no subject counted.
        let v = t
            .vault
            .read_subject(&t.reader, *id, Some("analytics.reporting"))
            .await;
        assert!(
            matches!(v, Err(VaultError::Forbidden { .. })),
            "the reader's role does not grant analytics: {v:?}"
        );
    }
    assert!(t.seen.alerts.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_suspend_refuses_the_principal_until_an_admin_lifts_it() {
    let t = setup(config(2, 50, true)).await;
    let ids = subjects(&t.vault, 3).await;
    for id in &ids {
        t.vault
            .read_subject(&t.reader, *id, Some("essential.service"))
            .await
            .unwrap();
    }
    let alerts = t.seen.alerts.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].suspended);

    // Its key is refused, as suspended, on the next request; the suspension is stored.
    match t.vault.authenticate(&t.reader_key).await {
        Err(VaultError::Suspended(id)) => assert_eq!(id, t.reader_id),
        other => panic!("expected Suspended, got {other:?}"),
    }
    let listed = t.vault.principals(&Actor::cli()).await.unwrap();
    let me = listed.iter().find(|p| p.id == t.reader_id).unwrap();
    assert_eq!(me.status, "suspended");
    assert_eq!(me.suspension_reason.as_deref(), Some("distinct_subjects"));
    assert!(me.suspended_at.is_some());

    // Only an admin lifts it: not the principal itself.
    assert!(matches!(
        t.vault.unsuspend_principal(&t.reader, &t.reader_id).await,
        Err(VaultError::NotAdmin)
    ));
    let admin = t.vault.authenticate(&t.admin_key).await.unwrap();
    let admin = Actor::principal(&admin, None);
    t.vault
        .unsuspend_principal(&admin, &t.reader_id)
        .await
        .unwrap();
    let p = t.vault.authenticate(&t.reader_key).await.unwrap();
    assert_eq!(p.id, t.reader_id);
    assert!(matches!(
        t.vault.unsuspend_principal(&admin, "prn_nobody").await,
        Err(VaultError::PrincipalNotFound(_))
    ));

    // Suspension and lifting are on the record.
    let n = t.vault.store().audit_len().await.unwrap();
    let leaves = t.vault.store().audit_leaves(0, n as u32).await.unwrap();
    let actions: Vec<Action> = leaves
        .iter()
        .map(|l| AuditEntry::from_leaf_bytes(&l.leaf).unwrap().action)
        .filter(|a| {
            matches!(
                a,
                Action::Alert | Action::PrincipalSuspend | Action::PrincipalUnsuspend
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            Action::Alert,
            Action::PrincipalSuspend,
            Action::PrincipalUnsuspend
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_past_the_threshold_raise_a_denials_alert() {
    let mut t = setup(config(1000, 3, false)).await;
    let ids = subjects(&t.vault, 1).await;
    // Twice refused for a purpose its role does not grant, twice for administration.
    for _ in 0..2 {
        let r = t
            .vault
            .read_subject(&t.reader, ids[0], Some("analytics.reporting"))
            .await;
        assert!(matches!(r, Err(VaultError::Forbidden { .. })), "{r:?}");
        assert!(matches!(
            t.vault.principals(&t.reader).await,
            Err(VaultError::NotAdmin)
        ));
    }
    // The fourth refusal crossed; the alert is recorded on its own task.
    let a = tokio::time::timeout(StdDuration::from_secs(30), t.alerts.recv())
        .await
        .expect("an alert")
        .unwrap();
    assert_eq!((a.kind, a.count, a.threshold), (AlertKind::Denials, 4, 3));
    assert_eq!(a.principal, t.reader_id);
    let refusals = t.seen.refusals.lock().unwrap().clone();
    assert_eq!(refusals.len(), 2, "the audited refusals are reported");
    assert!(
        refusals
            .iter()
            .all(|e| e.reason.as_deref() == Some("not_granted"))
    );
    assert_eq!(alert_entries(&t.vault).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_subject_exports_than_the_threshold_raise_an_exports_alert() {
    let mut cfg = config(1000, 50, false);
    cfg.max_exports = Some(2);
    let mut t = setup(cfg).await;
    let ids = subjects(&t.vault, 3).await;
    let admin = Actor::principal(&t.vault.authenticate(&t.admin_key).await.unwrap(), None);
    for id in &ids[..2] {
        t.vault.export_subject(&admin, *id).await.unwrap();
    }
    assert!(
        t.seen.alerts.lock().unwrap().is_empty(),
        "two exports are within the threshold"
    );
    t.vault.export_subject(&admin, ids[2]).await.unwrap();
    let alert = tokio::time::timeout(std::time::Duration::from_secs(10), t.alerts.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alert.kind, privet_vault::AlertKind::Exports);
    let exports = t
        .seen
        .accesses
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.action == Action::SubjectExport)
        .count();
    assert_eq!(exports, 3, "every export is reported");
    // The operator's exports are not monitored.
    t.vault.export_subject(&Actor::cli(), ids[0]).await.unwrap();
    assert_eq!(t.seen.alerts.lock().unwrap().len(), 1);
}
