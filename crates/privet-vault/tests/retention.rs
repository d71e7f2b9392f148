//! Retention as a user relies on it, with a test clock moved by hand (never by sleeping), on
//! both backends: data expires exactly at its boundary, field-level retention, the
//! last-activity and consent-withdrawal anchors, legal holds, dry runs, and the purge report
//! on the audit trail matching what was deleted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use privet_audit::{Action, AuditEntry, VerifierKey};
use privet_core::{ConsentChange, ConsentSource, ConsentState, SubjectId};
use privet_crypto::NoteSigner;
use privet_vault::{Clock, Keyring, PurgeLine, Schema, Signers, Vault, VaultError};
use serde_json::json;
use time::{Duration, OffsetDateTime};

const MARKETING: &str = "marketing.communications.email";
const ORIGIN: &str = "privet.test/retention";

const RETENTION_SCHEMA: &str = r#"
version = 1
[purposes."essential.service"]
description = "Run the account"
legal_basis = "contract"
[purposes."marketing.communications.email"]
description = "Newsletters"
legal_basis = "consent"

[collections.customers]
kind = "profile"
retention = { after = "last_activity", keep = "3y" }
[collections.customers.fields.email]
type = "email"
category = "user.contact.email"
purposes = ["essential.service"]
searchable = true
required = true
[collections.customers.fields.phone]
type = "phone"
category = "user.contact.phone_number"
purposes = ["essential.service"]
searchable = true
retention = "30d"
[collections.customers.fields.interests]
type = "string"
category = "user.behavior"
purposes = ["marketing.communications.email"]
retention = { after = "consent_withdrawn", keep = "1m" }

[collections.orders]
kind = "records"
retention = "10d"
[collections.orders.fields.total_cents]
type = "integer"
category = "user.financial"
purposes = ["essential.service"]
"#;

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap() = t;
    }
}

/// 2027-01-15T08:00:00Z: mid-month, so month arithmetic is unambiguous.
fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

struct Env {
    _place: Place,
    vault: Vault,
    clock: TestClock,
    key: VerifierKey,
}

async fn env(backend: Backend) -> Env {
    let place = Place::new(backend);
    let clock = TestClock(Arc::new(Mutex::new(t0())));
    let (vault, _) = Vault::initialize(
        Schema::from_toml_str(RETENTION_SCHEMA).unwrap(),
        place.store().await,
        Keyring::generate(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let key = VerifierKey::of(&signer);
    let vault = vault.with_signers(Signers {
        audit: Some(signer),
        receipts: Some(NoteSigner::generate("privet.test/receipts").unwrap()),
    });
    Env {
        _place: place,
        vault,
        clock,
        key,
    }
}

impl Env {
    async fn customer(&self, data: serde_json::Value) -> SubjectId {
        self.vault
            .create_subject(&actor(), &obj(data))
            .await
            .unwrap()
    }

    async fn order(&self, s: SubjectId) -> privet_core::RecordId {
        self.vault
            .add_record(&actor(), s, "orders", &obj(json!({"total_cents": 1299})))
            .await
            .unwrap()
    }

    async fn orders(&self, s: SubjectId) -> usize {
        self.vault
            .read_records(&actor(), s, "orders", None, Some("essential.service"))
            .await
            .unwrap()
            .len()
    }

    async fn profile(
        &self,
        s: SubjectId,
    ) -> Result<serde_json::Map<String, serde_json::Value>, VaultError> {
        self.vault
            .read_subject(&actor(), s, Some("essential.service"))
            .await
            .map(|v| v.data)
    }

    async fn entries(&self) -> Vec<AuditEntry> {
        let store = self.vault.store();
        let n = store.audit_len().await.unwrap();
        store
            .audit_leaves(0, n as u32)
            .await
            .unwrap()
            .iter()
            .map(|l| AuditEntry::from_leaf_bytes(&l.leaf).unwrap())
            .collect()
    }

    async fn verify(&self) {
        self.vault.checkpoint(&actor()).await.unwrap();
        self.vault
            .verify_audit(&actor(), &self.key, ORIGIN, None, |_, _| {})
            .await
            .unwrap();
    }
}

/// A purge-report entry: collection, fields, reason, count.
type ReportLine = (Option<String>, Vec<String>, Option<String>, Option<u64>);

fn line(collection: &str, field: Option<&str>, count: u64) -> PurgeLine {
    PurgeLine {
        collection: collection.into(),
        field: field.map(Into::into),
        count,
    }
}

fn consent(state: ConsentState) -> ConsentChange {
    ConsentChange {
        state,
        source: ConsentSource::Api,
        notice_version: "2027-01".into(),
        expires_at: None,
    }
}

backend_tests!(
    records_expire_exactly_at_their_boundary,
    field_retention_removes_only_that_field_and_its_index,
    last_activity_counts_from_the_latest_write_and_erases_an_empty_subject,
    consent_withdrawal_starts_the_clock,
    legal_hold_blocks_purge_and_erasure_until_lifted,
    dry_run_changes_nothing_and_counts_what_a_run_deletes,
    the_purge_report_on_the_audit_trail_matches_what_was_deleted,
    a_plan_shows_what_expires_within_the_horizon,
    subjects_that_change_during_a_run_are_left_for_the_next,
);

async fn records_expire_exactly_at_their_boundary(backend: Backend) {
    let e = env(backend).await;
    let s = e.customer(json!({"email": "a@example.com"})).await;
    e.order(s).await;
    e.clock.set(t0() + Duration::days(1));
    e.order(s).await;
    let boundary = t0() + Duration::days(10);

    let r = e
        .vault
        .run_retention(&actor(), boundary - Duration::seconds(1), false)
        .await
        .unwrap();
    assert_eq!(r.progress.records, 0);
    assert_eq!(e.orders(s).await, 2);

    let r = e
        .vault
        .run_retention(&actor(), boundary, false)
        .await
        .unwrap();
    assert_eq!(r.lines, vec![line("orders", None, 1)]);
    assert_eq!(e.orders(s).await, 1, "the order created a day later stays");
    // The profile (3 years after last activity) is untouched.
    assert_eq!(e.profile(s).await.unwrap()["email"], "a@example.com");

    // Running again at the same moment finds nothing more.
    let again = e
        .vault
        .run_retention(&actor(), boundary, false)
        .await
        .unwrap();
    assert!(again.lines.is_empty());
    let r = e
        .vault
        .run_retention(&actor(), boundary + Duration::days(1), false)
        .await
        .unwrap();
    assert_eq!(r.lines, vec![line("orders", None, 1)]);
    assert_eq!(e.orders(s).await, 0);
    e.verify().await;
}

async fn field_retention_removes_only_that_field_and_its_index(backend: Backend) {
    let e = env(backend).await;
    let s = e
        .customer(json!({"email": "b@example.com", "phone": "+16502530000"}))
        .await;
    let found = |field: &'static str, value: &'static str| {
        let vault = e.vault.clone();
        async move {
            vault
                .find_subjects(&actor(), field, value, Some("essential.service"))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(found("phone", "+16502530000").await, 1);
    let end = t0() + Duration::days(30);
    let r = e
        .vault
        .run_retention(&actor(), end - Duration::seconds(1), false)
        .await
        .unwrap();
    assert!(r.lines.is_empty());
    let r = e.vault.run_retention(&actor(), end, false).await.unwrap();
    assert_eq!(r.lines, vec![line("customers", Some("phone"), 1)]);
    assert_eq!(r.progress.fields, 1);
    let data = e.profile(s).await.unwrap();
    assert_eq!(data["email"], "b@example.com");
    assert!(!data.contains_key("phone"));
    assert_eq!(
        found("phone", "+16502530000").await,
        0,
        "its blind-index entry is gone"
    );
    assert_eq!(found("email", "b@example.com").await, 1);
    // The profile can still be changed: the purge bumped its version like any write.
    e.vault
        .update_subject(&actor(), s, &obj(json!({"phone": "+16502530001"})))
        .await
        .unwrap();
    e.verify().await;
}

async fn last_activity_counts_from_the_latest_write_and_erases_an_empty_subject(backend: Backend) {
    let e = env(backend).await;
    let idle = e.customer(json!({"email": "idle@example.com"})).await;
    let active = e.customer(json!({"email": "active@example.com"})).await;
    // Two years on, one of them changes their profile: their three years start again.
    e.clock.set(t0() + Duration::days(730));
    e.vault
        .update_subject(
            &actor(),
            active,
            &obj(json!({"email": "active2@example.com"})),
        )
        .await
        .unwrap();
    // A read by a service is not activity.
    e.profile(idle).await.unwrap();
    let idle_end = privet_core::retention::add_period(t0(), "3y".parse().unwrap());
    let r = e
        .vault
        .run_retention(&actor(), idle_end - Duration::seconds(1), false)
        .await
        .unwrap();
    assert!(r.lines.is_empty());
    let r = e
        .vault
        .run_retention(&actor(), idle_end, false)
        .await
        .unwrap();
    assert_eq!(r.lines, vec![line("customers", None, 1)]);
    assert_eq!(r.progress.subjects_erased, 1, "nothing else of it remained");
    assert!(matches!(
        e.profile(idle).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    let store = e.vault.store();
    assert!(
        store
            .erasures()
            .await
            .unwrap()
            .iter()
            .any(|(id, _)| *id == idle)
    );
    assert_eq!(
        e.profile(active).await.unwrap()["email"],
        "active2@example.com"
    );
    let active_end =
        privet_core::retention::add_period(t0() + Duration::days(730), "3y".parse().unwrap());
    let r = e
        .vault
        .run_retention(&actor(), active_end, false)
        .await
        .unwrap();
    assert_eq!(r.progress.subjects_erased, 1);
    assert!(matches!(
        e.profile(active).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    e.verify().await;
}

async fn consent_withdrawal_starts_the_clock(backend: Backend) {
    let e = env(backend).await;
    let s = e.customer(json!({"email": "c@example.com"})).await;
    e.vault
        .set_consent(
            &actor(),
            s,
            MARKETING,
            consent(ConsentState::Granted),
            false,
        )
        .await
        .unwrap();
    e.vault
        .update_subject(&actor(), s, &obj(json!({"interests": "birds"})))
        .await
        .unwrap();
    let interests = || async {
        e.vault
            .read_subject(&actor(), s, Some(MARKETING))
            .await
            .unwrap()
            .data
            .contains_key("interests")
    };
    // Granted: the clock does not run, however long.
    let r = e
        .vault
        .run_retention(&actor(), t0() + Duration::days(700), false)
        .await
        .unwrap();
    assert!(r.lines.is_empty());
    let withdrawn_at = t0() + Duration::days(5);
    e.clock.set(withdrawn_at);
    e.vault
        .set_consent(
            &actor(),
            s,
            MARKETING,
            consent(ConsentState::Withdrawn),
            false,
        )
        .await
        .unwrap();
    let end = privet_core::retention::add_period(withdrawn_at, "1m".parse().unwrap());
    let r = e
        .vault
        .run_retention(&actor(), end - Duration::seconds(1), false)
        .await
        .unwrap();
    assert!(r.lines.is_empty());
    e.vault
        .set_consent(
            &actor(),
            s,
            MARKETING,
            consent(ConsentState::Granted),
            false,
        )
        .await
        .unwrap();
    assert!(interests().await);
    e.vault
        .set_consent(
            &actor(),
            s,
            MARKETING,
            consent(ConsentState::Withdrawn),
            false,
        )
        .await
        .unwrap();
    let r = e.vault.run_retention(&actor(), end, false).await.unwrap();
    assert_eq!(r.lines, vec![line("customers", Some("interests"), 1)]);
    e.vault
        .set_consent(
            &actor(),
            s,
            MARKETING,
            consent(ConsentState::Granted),
            false,
        )
        .await
        .unwrap();
    assert!(
        !interests().await,
        "the withdrawn field's value is gone for good"
    );
    assert_eq!(e.profile(s).await.unwrap()["email"], "c@example.com");
}

async fn legal_hold_blocks_purge_and_erasure_until_lifted(backend: Backend) {
    let e = env(backend).await;
    let held = e.customer(json!({"email": "held@example.com"})).await;
    let free = e.customer(json!({"email": "free@example.com"})).await;
    e.order(held).await;
    e.order(free).await;
    e.vault
        .set_legal_hold(&actor(), held, Some("litigation-2027-4"))
        .await
        .unwrap();
    let hold = e.vault.legal_hold(&actor(), held).await.unwrap().unwrap();
    assert_eq!(hold.reason, "litigation-2027-4");
    // A reason is a code, never prose that could hold personal data.
    assert!(matches!(
        e.vault
            .set_legal_hold(&actor(), free, Some("Jane Doe's lawsuit"))
            .await,
        Err(VaultError::BadRequest(_))
    ));

    let later = t0() + Duration::days(20);
    let r = e.vault.run_retention(&actor(), later, false).await.unwrap();
    assert_eq!(r.lines, vec![line("orders", None, 1)]);
    assert_eq!(r.held_subjects, 1);
    assert_eq!(e.orders(held).await, 1);
    assert_eq!(e.orders(free).await, 0);

    let before = e.entries().await.len();
    let refused = e.vault.erase_subject(&actor(), held).await;
    assert!(
        matches!(refused, Err(VaultError::LegalHold(id)) if id == held),
        "{refused:?}"
    );
    assert_eq!(e.profile(held).await.unwrap()["email"], "held@example.com");
    let entries = e.entries().await;
    let denial = &entries[before];
    assert_eq!(denial.action, Action::SubjectErase);
    assert_eq!(denial.reason.as_deref(), Some("legal_hold"));

    e.vault.set_legal_hold(&actor(), held, None).await.unwrap();
    assert!(e.vault.legal_hold(&actor(), held).await.unwrap().is_none());
    let r = e.vault.run_retention(&actor(), later, false).await.unwrap();
    assert_eq!(r.lines, vec![line("orders", None, 1)]);
    assert_eq!(r.held_subjects, 0);
    assert_eq!(e.orders(held).await, 0);
    e.vault.erase_subject(&actor(), held).await.unwrap();

    let holds: Vec<String> = e
        .entries()
        .await
        .into_iter()
        .filter(|x| x.action == Action::LegalHold)
        .map(|x| x.reason.unwrap())
        .collect();
    assert_eq!(holds, vec!["hold:litigation-2027-4", "released"]);
    e.verify().await;
}

async fn dry_run_changes_nothing_and_counts_what_a_run_deletes(backend: Backend) {
    let e = env(backend).await;
    let s = e
        .customer(json!({"email": "d@example.com", "phone": "+16502530002"}))
        .await;
    e.order(s).await;
    e.order(s).await;
    let later = t0() + Duration::days(40);
    let store = e.vault.store();
    let before = store.audit_len().await.unwrap();
    let dry = e.vault.run_retention(&actor(), later, true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.report_audit_index, None);
    assert_eq!(
        store.audit_len().await.unwrap(),
        before,
        "not even an audit entry"
    );
    assert_eq!(e.orders(s).await, 2);
    assert!(e.profile(s).await.unwrap().contains_key("phone"));
    let real = e.vault.run_retention(&actor(), later, false).await.unwrap();
    assert_eq!(dry.lines, real.lines);
    assert_eq!(
        real.lines,
        vec![line("orders", None, 2), line("customers", Some("phone"), 1)]
    );
    assert_eq!(e.orders(s).await, 0);
}

async fn the_purge_report_on_the_audit_trail_matches_what_was_deleted(backend: Backend) {
    let e = env(backend).await;
    let mut subjects = Vec::new();
    for i in 0..7 {
        let s = e
            .customer(json!({"email": format!("r{i}@example.com"), "phone": "+16502530003"}))
            .await;
        for _ in 0..=i % 3 {
            e.order(s).await;
        }
        subjects.push(s);
    }
    let expected_orders: u64 = (0..7).map(|i| (i % 3 + 1) as u64).sum();
    let later = t0() + Duration::days(31);
    let before = e.entries().await.len();
    let options = privet_vault::PurgeOptions {
        batch_size: 3,
        page_size: 2,
        ..Default::default()
    };
    let r = e
        .vault
        .run_retention_with(&actor(), later, &options)
        .await
        .unwrap();
    assert_eq!(r.progress.records, expected_orders);
    assert_eq!(r.progress.fields, 7);
    assert_eq!(r.progress.scanned, 7);
    assert!(
        r.progress.batches >= 3,
        "bounded batches: {}",
        r.progress.batches
    );
    let new = &e.entries().await[before..];
    // One entry per deleted record or field, each naming its subject, then the report.
    let deleted_orders = new
        .iter()
        .filter(|x| {
            x.action == Action::RetentionPurge && x.reason.as_deref() == Some("record_expired")
        })
        .count() as u64;
    let deleted_fields = new
        .iter()
        .filter(|x| {
            x.action == Action::RetentionPurge && x.reason.as_deref() == Some("field_expired")
        })
        .count() as u64;
    assert_eq!(deleted_orders, expected_orders);
    assert_eq!(deleted_fields, 7);
    assert!(new.iter().all(|x| x.request_id == Some(r.run_id)));
    let report: Vec<ReportLine> = new
        .iter()
        .filter(|x| {
            x.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("purge_report"))
        })
        .map(|x| {
            (
                x.collection.clone(),
                x.fields.clone(),
                x.reason.clone(),
                x.count,
            )
        })
        .collect();
    let rep = |c: Option<&str>, f: &[&str], reason: &str, n: u64| {
        (
            c.map(Into::into),
            f.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            Some(reason.to_owned()),
            Some(n),
        )
    };
    assert_eq!(
        report,
        vec![
            rep(Some("orders"), &[], "purge_report", expected_orders),
            rep(Some("customers"), &["phone"], "purge_report", 7),
            rep(None, &[], "purge_report_subjects_erased", 0),
            rep(None, &[], "purge_report_subjects_held", 0),
            rep(None, &[], "purge_report_subjects_changed", 0),
            rep(None, &[], "purge_report_subjects_scanned", 7),
        ]
    );
    assert_eq!(
        r.report_audit_index,
        Some(e.entries().await.len() as u64 - 1)
    );
    for s in subjects {
        assert_eq!(e.orders(s).await, 0);
    }
    e.verify().await;
}

async fn a_plan_shows_what_expires_within_the_horizon(backend: Backend) {
    let e = env(backend).await;
    let s = e
        .customer(json!({"email": "p@example.com", "phone": "+16502530004"}))
        .await;
    e.order(s).await;
    let held = e.customer(json!({"email": "q@example.com"})).await;
    e.order(held).await;
    e.vault
        .set_legal_hold(&actor(), held, Some("audit"))
        .await
        .unwrap();
    let before = e.entries().await.len();
    let now = t0() + Duration::days(10);
    let plan = e.vault.retention_plan(&actor(), now, 30).await.unwrap();
    assert_eq!(plan.held_subjects, 1);
    assert_eq!(plan.scanned, 2);
    let lines: Vec<_> = plan
        .lines
        .iter()
        .map(|l| {
            (
                l.collection.as_str(),
                l.field.as_deref(),
                l.due_now,
                l.upcoming,
                l.earliest,
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (
                "customers",
                Some("phone"),
                0,
                1,
                Some(t0() + Duration::days(30))
            ),
            ("orders", None, 1, 0, Some(t0() + Duration::days(10))),
        ]
    );
    let short = e.vault.retention_plan(&actor(), now, 1).await.unwrap();
    assert_eq!(short.lines.len(), 1);
    assert_eq!(e.entries().await.len(), before, "a plan writes nothing");
}

async fn subjects_that_change_during_a_run_are_left_for_the_next(backend: Backend) {
    let e = env(backend).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let s = e
            .customer(json!({"email": format!("x{i}@example.com")}))
            .await;
        e.order(s).await;
        ids.push(s);
    }
    ids.sort();
    let (touched, held, untouched) = (ids[0], ids[1], ids[2]);
    let later = t0() + Duration::days(11);
    e.clock.set(later);
    // After the scan read the first subject (pages of one, one batch at the end), the first
    // subject gets a new order and the second a legal hold: the batch fails on them, and the
    // run commits the third alone.
    let vault = e.vault.clone();
    let progress = move |p: &privet_vault::PurgeProgress| {
        if p.scanned == 2 && p.batches == 0 {
            let vault = vault.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    vault
                        .add_record(&actor(), touched, "orders", &obj(json!({"total_cents": 1})))
                        .await
                        .unwrap();
                    vault
                        .set_legal_hold(&actor(), held, Some("late-hold"))
                        .await
                        .unwrap();
                })
            });
        }
    };
    let options = privet_vault::PurgeOptions {
        batch_size: 100,
        page_size: 1,
        progress: Some(&progress),
        ..Default::default()
    };
    let r = e
        .vault
        .run_retention_with(&actor(), later, &options)
        .await
        .unwrap();
    assert_eq!(r.lines, vec![line("orders", None, 1)]);
    assert_eq!((r.changed_subjects, r.held_subjects), (1, 1));
    assert_eq!(e.orders(untouched).await, 0);
    assert_eq!(
        e.orders(touched).await,
        2,
        "nothing of a changed subject was deleted"
    );
    assert_eq!(e.orders(held).await, 1);
    // The next run decides again: the old order of the touched subject goes, the new stays.
    let r = e.vault.run_retention(&actor(), later, false).await.unwrap();
    assert_eq!(r.lines, vec![line("orders", None, 1)]);
    assert_eq!(r.held_subjects, 1);
    assert_eq!(e.orders(touched).await, 1);
    e.verify().await;
}
