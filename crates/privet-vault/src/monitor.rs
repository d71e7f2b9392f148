//! Access monitoring: per-principal counts of distinct subjects read, of refusals and of
//! exports in a sliding window, with thresholds. Crossing one raises an [`Alert`]: it is put
//! on the audit record (with the principal's suspension when `auto_suspend` is on, in the
//! same transaction), logged as a structured event, and handed to the [`MonitorObserver`]
//! (the server sends it to a webhook and counts it in its metrics).
//!
//! Counting is in memory, per process: with several servers each counts the traffic it
//! serves (see the README). What it counts comes from the audit entries the vault has just
//! committed, so a request that failed is not counted as a read. Only API principals are
//! monitored; the local operator is not. No personal value is ever part of an alert.

use std::sync::{Arc, Mutex, PoisonError};

use privet_audit::{Action, AuditEntry, Decision};
use privet_core::RequestId;
use privet_store::{Op, WriteSet};
use time::OffsetDateTime;

use crate::auth::Authority;
use crate::window::{Counters, Crossing, Event};
use crate::{Actor, Vault};

/// The actor named in the audit entries monitoring writes.
pub const MONITOR_ACTOR: &str = "monitor";

/// Largest accepted threshold: a window holds up to threshold + 1 entries per principal.
pub const MAX_THRESHOLD: u32 = 1_000_000;

/// What to count and when to alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    /// The sliding window each count covers.
    pub window: std::time::Duration,
    /// Alert when a principal is shown more distinct subjects than this in one window.
    pub max_distinct_subjects: Option<u32>,
    /// Alert when a principal is refused more often than this in one window.
    pub max_denials: Option<u32>,
    /// Alert when a principal exports more often than this in one window.
    pub max_exports: Option<u32>,
    /// Suspend a principal that crosses a threshold, until an admin lifts it.
    pub auto_suspend: bool,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            window: std::time::Duration::from_secs(600),
            max_distinct_subjects: Some(1000),
            max_denials: Some(50),
            max_exports: Some(100),
            auto_suspend: false,
        }
    }
}

/// What a principal did too much of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertKind {
    /// Was shown data of more distinct subjects than allowed.
    DistinctSubjects,
    /// Was refused access too often.
    Denials,
    /// Exported too often.
    Exports,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 3] = [
        AlertKind::DistinctSubjects,
        AlertKind::Denials,
        AlertKind::Exports,
    ];

    /// The stable code used in alerts, logs, audit entries and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::DistinctSubjects => "distinct_subjects",
            AlertKind::Denials => "denials",
            AlertKind::Exports => "exports",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A principal crossed a threshold. Holds ids, codes and counts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// A unique id (`alr_…`), for receivers to drop duplicate deliveries.
    pub id: String,
    /// The principal.
    pub principal: String,
    /// What it did too much of.
    pub kind: AlertKind,
    /// How many it did within the window (the first count above the threshold).
    pub count: u64,
    /// The threshold it crossed.
    pub threshold: u64,
    /// The window the count covers.
    pub window: std::time::Duration,
    /// When it crossed.
    pub at: OffsetDateTime,
    /// The request that crossed it, if it came over HTTP.
    pub request_id: Option<RequestId>,
    /// Whether the principal is now suspended (only when the suspension was committed).
    pub suspended: bool,
    /// Index of the alert's audit entry in the log (`None` if it could not be written).
    pub audit_index: Option<u64>,
}

/// Receives what monitoring sees. Called on the request's task: implementations must not
/// block (hand slow work such as a webhook to a background task).
pub trait MonitorObserver: Send + Sync + 'static {
    /// A read, lookup or record read the vault committed to the audit log (with the
    /// policy's decision and the reasons of withheld fields).
    fn access(&self, entry: &AuditEntry) {
        let _ = entry;
    }

    /// A refused request the vault committed to the audit log (`entry.reason` is the
    /// policy's reason code).
    fn refusal(&self, entry: &AuditEntry) {
        let _ = entry;
    }

    /// An alert, after it was put on the record (and the principal suspended, if so
    /// configured).
    fn alert(&self, alert: &Alert) {
        let _ = alert;
    }
}

/// Counts principals' accesses and raises alerts. Given to a vault with
/// [`Vault::with_monitor`].
pub struct Monitor {
    config: MonitorConfig,
    counters: Mutex<Counters>,
    observer: Arc<dyn MonitorObserver>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn threshold(t: Option<u32>) -> Option<u64> {
    t.filter(|&t| t > 0)
        .map(|t| u64::from(t.min(MAX_THRESHOLD)))
}

impl Monitor {
    /// A monitor with these thresholds, reporting to `observer`. A zero threshold, like
    /// `None`, turns its kind off; thresholds above [`MAX_THRESHOLD`] are capped.
    pub fn new(config: MonitorConfig, observer: Arc<dyn MonitorObserver>) -> Self {
        let window = time::Duration::try_from(config.window).unwrap_or(time::Duration::MAX);
        let thresholds = [
            threshold(config.max_distinct_subjects),
            threshold(config.max_denials),
            threshold(config.max_exports),
        ];
        Self {
            counters: Mutex::new(Counters::new(window, thresholds)),
            config,
            observer,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    fn count(&self, principal: &str, events: &[Event], t: OffsetDateTime) -> Vec<Crossing> {
        // A panic elsewhere while holding the lock leaves counts that are still counts.
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        events
            .iter()
            .filter_map(|e| c.observe(principal, *e, t))
            .collect()
    }
}

/// The subjects whose data a committed read released (something was shown).
fn read_events(entries: &[AuditEntry]) -> Vec<Event> {
    entries
        .iter()
        .filter(|e| e.decision != Decision::Denied)
        .filter_map(|e| e.subject.map(Event::Subject))
        .collect()
}

impl Vault {
    /// This vault, monitoring its principals with `monitor`.
    pub fn with_monitor(mut self, monitor: Monitor) -> Self {
        self.monitor = Some(Arc::new(monitor));
        self
    }

    /// The principal `actor` acts as, if it is one that monitoring counts.
    fn monitored<'a>(&'a self, actor: &'a Actor) -> Option<(&'a Monitor, &'a str)> {
        let m = self.monitor.as_deref()?;
        match actor.authority {
            Authority::Principal(_) => Some((m, actor.id.as_str())),
            Authority::Operator => None,
        }
    }

    /// After a read's audit entries committed: reports them and counts the subjects shown.
    pub(crate) async fn observe_reads(&self, actor: &Actor, entries: &[AuditEntry]) {
        let Some(m) = self.monitor.as_deref() else {
            return;
        };
        for e in entries {
            m.observer.access(e);
        }
        self.count_and_alert(actor, &read_events(entries)).await;
    }

    /// After an export's audit entry committed: reports it and counts the export (and the
    /// subject it showed).
    pub(crate) async fn observe_export(&self, actor: &Actor, entry: &AuditEntry) {
        let Some(m) = self.monitor.as_deref() else {
            return;
        };
        m.observer.access(entry);
        let mut events = vec![Event::Export];
        events.extend(entry.subject.map(Event::Subject));
        self.count_and_alert(actor, &events).await;
    }

    /// After a refusal's audit entry committed: reports it and counts it.
    pub(crate) async fn observe_refusal(&self, actor: &Actor, entry: &AuditEntry) {
        let Some(m) = self.monitor.as_deref() else {
            return;
        };
        m.observer.refusal(entry);
        self.count_and_alert(actor, &[Event::Denial]).await;
    }

    /// After a refusal's audit entry committed: reports it without counting it.
    pub(crate) fn report_refusal(&self, entry: &AuditEntry) {
        if let Some(m) = self.monitor.as_deref() {
            m.observer.refusal(entry);
        }
    }

    /// Counts a refusal from code that cannot wait (no audit entry is written for it); an
    /// alert it raises is recorded on a task of its own.
    pub(crate) fn observe_refusal_detached(&self, actor: &Actor) {
        let Some((m, principal)) = self.monitored(actor) else {
            return;
        };
        let crossings = m.count(principal, &[Event::Denial], self.now());
        if crossings.is_empty() {
            return;
        }
        let (vault, actor) = (self.clone(), actor.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    for c in crossings {
                        vault.raise(&actor, c).await;
                    }
                });
            }
            Err(_) => tracing::error!(
                target: "privet::monitor",
                principal = %actor.id,
                "an alert was raised outside a runtime and could not be recorded"
            ),
        }
    }

    async fn count_and_alert(&self, actor: &Actor, events: &[Event]) {
        let Some((m, principal)) = self.monitored(actor) else {
            return;
        };
        if events.is_empty() {
            return;
        }
        for c in m.count(principal, events, self.now()) {
            self.raise(actor, c).await;
        }
    }

    /// Records an alert (and the suspension, if configured) in one write set, logs it and
    /// hands it to the observer. The request that crossed the threshold is not failed by
    /// it: what it read is already on the record.
    async fn raise(&self, actor: &Actor, c: Crossing) {
        let Some(m) = self.monitor.as_deref() else {
            return;
        };
        let now = self.now();
        let principal = actor.id.clone();
        let mut alert = Alert {
            id: RequestId::new().to_string().replacen("req_", "alr_", 1),
            principal: principal.clone(),
            kind: c.kind,
            count: c.count,
            threshold: c.threshold,
            window: m.config.window,
            at: now,
            request_id: actor.request_id,
            suspended: false,
            audit_index: None,
        };
        let reason = format!("{}:principal:{principal}", c.kind);
        let mut entry = AuditEntry::new(now, MONITOR_ACTOR, Action::Alert);
        entry.reason = Some(reason.clone());
        entry.count = Some(c.count);
        entry.request_id = actor.request_id;
        let mut w = WriteSet::new().audit(entry);
        if m.config.auto_suspend {
            w = w.op(Op::SuspendPrincipal {
                id: principal.clone(),
                at: now,
                reason: c.kind.as_str().to_owned(),
            });
            let mut s = AuditEntry::new(now, MONITOR_ACTOR, Action::PrincipalSuspend);
            s.reason = Some(reason);
            s.request_id = actor.request_id;
            w.push_audit(&s);
        }
        match self.inner.store.apply(w).await {
            Ok(committed) => {
                alert.audit_index = committed.first_audit_index;
                alert.suspended = m.config.auto_suspend;
            }
            Err(e) => tracing::error!(
                target: "privet::monitor",
                principal = %principal,
                kind = %c.kind,
                error = %e,
                "could not record an alert (or the suspension) in the audit log"
            ),
        }
        tracing::warn!(
            target: "privet::monitor",
            alert_id = %alert.id,
            principal = %alert.principal,
            kind = %alert.kind,
            count = alert.count,
            threshold = alert.threshold,
            window_seconds = alert.window.as_secs(),
            suspended = alert.suspended,
            audit_index = alert.audit_index,
            request_id = alert.request_id.as_ref().map(tracing::field::display),
            "access alert: a principal crossed a monitoring threshold"
        );
        m.observer.alert(&alert);
    }
}
