//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by route template and
//! status, policy decisions and their reasons, alerts by kind, webhook deliveries, the audit
//! log's size and the age of its latest checkpoint. Labels hold route templates, codes and
//! kinds only — never an id, a query string or a personal value — so their number is bounded.

use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{Method, StatusCode};
use privet_audit::{AuditEntry, Decision};
use privet_core::policy::WithholdReason;
use privet_crypto::SharedSecret;
use privet_vault::AlertKind;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use time::OffsetDateTime;

/// The media type of the exposition.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub enum MetricsAccess {
    /// Nobody: the route answers 404 (the default, until a token is configured).
    #[default]
    Off,
    /// Whoever presents `Authorization: Bearer <token>`.
    Token(Arc<SharedSecret>),
    /// Anyone who can reach the server (for a scraper on a private network).
    Public,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    action: String,
    decision: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The time of the latest signed checkpoint, reported as an age at scrape time (and not at
/// all while none is known).
#[derive(Debug, Default)]
struct CheckpointAge(Mutex<Option<OffsetDateTime>>);

impl Collector for CheckpointAge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let at = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(at) = at else {
            return Ok(());
        };
        let age = (OffsetDateTime::now_utc() - at).whole_seconds().max(0);
        let gauge = ConstGauge::new(age);
        let m = encoder.encode_descriptor(
            "privet_checkpoint_age_seconds",
            "Seconds since the latest signed audit checkpoint",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(m)
    }
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    reasons: Family<ReasonLabels, Counter>,
    alerts: Family<KindLabels, Counter>,
    webhooks: Family<OutcomeLabels, Counter>,
    audit_entries: Gauge,
    checkpoint: Arc<CheckpointAge>,
}

/// The server's metrics. Cheap to clone; every clone updates the same counters.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label for a reason code: one of the policy's, or `other`.
fn reason_label(code: &str) -> &'static str {
    WithholdReason::ALL
        .iter()
        .map(WithholdReason::as_str)
        .find(|r| *r == code)
        .unwrap_or("other")
}

fn action_label(entry: &AuditEntry) -> String {
    match serde_json::to_value(entry.action) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "other".into(),
    }
}

fn decision_label(d: Decision) -> &'static str {
    match d {
        Decision::Allowed => "allowed",
        Decision::Partial => "partial",
        Decision::Denied => "denied",
        _ => "other",
    }
}

impl Metrics {
    /// A fresh set of metrics, every counter at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        let reasons = Family::<ReasonLabels, Counter>::default();
        let alerts = Family::<KindLabels, Counter>::default();
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        let audit_entries = Gauge::default();
        let checkpoint = Arc::new(CheckpointAge::default());
        registry.register(
            "privet_http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "privet_policy_decisions",
            "Audited reads and refusals by action and policy decision",
            decisions.clone(),
        );
        registry.register(
            "privet_policy_reasons",
            "Fields withheld from reads and requests refused, by the policy's reason code",
            reasons.clone(),
        );
        registry.register(
            "privet_alerts",
            "Access-monitoring alerts raised by this server, by kind",
            alerts.clone(),
        );
        registry.register(
            "privet_webhook_deliveries",
            "Alert webhook deliveries: delivered, or given up after the last attempt",
            webhooks.clone(),
        );
        registry.register(
            "privet_audit_entries",
            "Entries in the audit log (its Merkle tree size)",
            audit_entries.clone(),
        );
        registry.register_collector(Box::new(checkpoint.clone()));
        // Known label values start at zero, so rates work from the first scrape.
        for kind in AlertKind::ALL {
            let _ = alerts.get_or_create(&KindLabels {
                kind: kind.as_str(),
            });
        }
        for outcome in ["delivered", "given_up"] {
            let _ = webhooks.get_or_create(&OutcomeLabels { outcome });
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                decisions,
                reasons,
                alerts,
                webhooks,
                audit_entries,
                checkpoint,
            }),
        }
    }

    /// Counts a request; `route` is the matched route template (`None`: no route matched).
    pub(crate) fn request(&self, method: &Method, route: Option<&str>, status: StatusCode) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                method: method.as_str().to_owned(),
                route: route.unwrap_or("unmatched").to_owned(),
                status: status.as_u16(),
            })
            .inc();
    }

    /// Counts an audited read: its decision and the reason of each withheld field.
    pub(crate) fn access(&self, entry: &AuditEntry) {
        self.decision(entry);
        for w in &entry.withheld {
            self.reason(&w.reason);
        }
    }

    /// Counts an audited refusal: decision `denied`, and its reason.
    pub(crate) fn refusal(&self, entry: &AuditEntry) {
        self.decision(entry);
        if let Some(r) = &entry.reason {
            self.reason(r);
        }
    }

    fn decision(&self, entry: &AuditEntry) {
        self.inner
            .decisions
            .get_or_create(&DecisionLabels {
                action: action_label(entry),
                decision: decision_label(entry.decision),
            })
            .inc();
    }

    fn reason(&self, code: &str) {
        self.inner
            .reasons
            .get_or_create(&ReasonLabels {
                reason: reason_label(code),
            })
            .inc();
    }

    /// Counts an alert.
    pub(crate) fn alert(&self, kind: AlertKind) {
        self.inner
            .alerts
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .inc();
    }

    /// Counts a finished webhook delivery.
    pub(crate) fn webhook(&self, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "given_up" };
        self.inner
            .webhooks
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Sets the time of the latest signed audit checkpoint (its age is then exposed).
    pub fn set_last_checkpoint(&self, at: OffsetDateTime) {
        *self
            .inner
            .checkpoint
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    /// The exposition, with the audit log's current size.
    pub(crate) fn render(&self, audit_entries: u64) -> String {
        self.inner
            .audit_entries
            .set(i64::try_from(audit_entries).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use privet_audit::{Action, WithheldField};

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn the_exposition_holds_every_family_with_bounded_labels() {
        let m = Metrics::new();
        m.request(&Method::GET, Some("/v1/subjects/{id}"), StatusCode::OK);
        m.request(&Method::GET, Some("/v1/subjects/{id}"), StatusCode::OK);
        m.request(&Method::GET, None, StatusCode::NOT_FOUND);
        let mut e = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "prn_x", Action::SubjectRead);
        e.decision = Decision::Partial;
        e.withheld = vec![
            WithheldField {
                field: "email".into(),
                reason: "no_consent".into(),
            },
            WithheldField {
                field: "name".into(),
                reason: "something-new".into(),
            },
        ];
        m.access(&e);
        let mut r = AuditEntry::new(OffsetDateTime::UNIX_EPOCH, "prn_x", Action::SubjectLookup);
        r.decision = Decision::Denied;
        r.reason = Some("not_granted".into());
        m.refusal(&r);
        m.alert(AlertKind::Denials);
        m.webhook(true);
        let text = m.render(42);
        let v = |s: &str| value(&text, s);
        assert_eq!(
            v(r#"privet_http_requests_total{method="GET",route="/v1/subjects/{id}",status="200"}"#),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            v(r#"privet_http_requests_total{method="GET",route="unmatched",status="404"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"privet_policy_decisions_total{action="subject_read",decision="partial"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"privet_policy_decisions_total{action="subject_lookup",decision="denied"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"privet_policy_reasons_total{reason="no_consent"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"privet_policy_reasons_total{reason="not_granted"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"privet_policy_reasons_total{reason="other"}"#),
            Some(1.0)
        );
        assert_eq!(v(r#"privet_alerts_total{kind="denials"}"#), Some(1.0));
        assert_eq!(v(r#"privet_alerts_total{kind="exports"}"#), Some(0.0));
        assert_eq!(
            v(r#"privet_webhook_deliveries_total{outcome="delivered"}"#),
            Some(1.0)
        );
        assert_eq!(v("privet_audit_entries"), Some(42.0));
        assert!(!text.contains("privet_checkpoint_age_seconds"));
        assert!(text.ends_with("# EOF\n"));
        assert!(!text.contains("prn_x") && !text.contains("email"));

        m.set_last_checkpoint(OffsetDateTime::now_utc() - time::Duration::minutes(5));
        let text = m.render(42);
        let age = value(&text, "privet_checkpoint_age_seconds").unwrap();
        assert!(age >= 300.0, "{age}");
    }
}
