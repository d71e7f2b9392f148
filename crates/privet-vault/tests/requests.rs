//! Rights requests end to end in the vault: deadlines on a test clock, verification,
//! extension to the legal maximum, fulfilment of every kind on completion, bad input that
//! changes nothing, and the notifications outbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use privet_core::{
    ConsentChange, ConsentSource, ConsentState, Origin, Regime, RequestError, RequestKind,
    RequestStatus, RightsRequestId, SubjectId,
};
use privet_vault::{
    Clock, Keyring, OutboundMessage, RequestInput, Schema, SendError, Sender, Vault, VaultError,
};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

#[derive(Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

async fn vault_with_clock(place: &Place, start: OffsetDateTime) -> (Vault, TestClock) {
    let clock = TestClock(Arc::new(Mutex::new(start)));
    let (vault, _) = Vault::initialize(
        Schema::from_toml_str(SCHEMA).unwrap(),
        place.store().await,
        Keyring::generate(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    (vault, clock)
}

fn input(subject: SubjectId, kind: RequestKind) -> RequestInput {
    RequestInput {
        subject,
        kind,
        regime: None,
        purpose: None,
        origin: Origin::Staff,
    }
}

async fn subject(vault: &Vault) -> SubjectId {
    vault
        .create_subject_with_consents(
            &actor(),
            &obj(json!({"email": "kim@example.com", "name": "Kim"})),
            vec![(
                "marketing.communications.email".into(),
                ConsentChange {
                    state: ConsentState::Granted,
                    source: ConsentSource::WebForm,
                    notice_version: "v1".into(),
                    expires_at: None,
                },
            )],
            false,
        )
        .await
        .unwrap()
}

async fn deadlines_verification_and_extension_follow_the_regime(backend: Backend) {
    let place = Place::new(backend);
    let (vault, clock) = vault_with_clock(&place, datetime!(2026-01-31 10:00 UTC)).await;
    let vault = vault.with_default_regime(Regime::Ccpa);
    let a = actor();
    let id = subject(&vault).await;

    let gdpr = vault
        .create_request(
            &a,
            RequestInput {
                regime: Some(Regime::Gdpr),
                ..input(id, RequestKind::Access)
            },
        )
        .await
        .unwrap();
    assert_eq!(gdpr.status, RequestStatus::Verifying);
    assert_eq!(gdpr.due_at, datetime!(2026-02-28 10:00 UTC));
    let ccpa = vault
        .create_request(&a, input(id, RequestKind::Restriction))
        .await
        .unwrap();
    assert_eq!(ccpa.regime, Regime::Ccpa, "the configured default");
    assert_eq!(ccpa.due_at, datetime!(2026-03-17 10:00 UTC));
    assert!(ccpa.id.to_string().starts_with("dsr_"));

    // Staff requests are completed only once verified.
    let err = vault.complete_request(&a, gdpr.id, None).await.unwrap_err();
    assert!(
        matches!(err, VaultError::Request(RequestError::NotVerified)),
        "{err:?}"
    );

    // Extended once, to the legal maximum; a second extension is refused and changes nothing.
    let r = vault.extend_request(&a, gdpr.id, "complex").await.unwrap();
    assert_eq!(
        (r.status, r.due_at),
        (RequestStatus::Extended, datetime!(2026-04-30 10:00 UTC))
    );
    let err = vault.extend_request(&a, gdpr.id, "more").await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Request(RequestError::ExtensionLimit { .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        vault
            .rights_request(&a, gdpr.id)
            .await
            .unwrap()
            .history
            .len(),
        3
    );

    // Listing: by due date, overdue marked on the test clock.
    clock.advance(Duration::days(50));
    let list = vault
        .rights_requests(&a, None, None, None, None)
        .await
        .unwrap();
    let ids: Vec<_> = list.iter().map(|s| s.request.id).collect();
    assert_eq!(ids, [ccpa.id, gdpr.id]);
    assert!(list[0].overdue && !list[1].overdue);
    let extended = vault
        .rights_requests(&a, Some(RequestStatus::Extended), None, None, None)
        .await
        .unwrap();
    assert_eq!(extended.len(), 1);
    let due_soon = vault
        .rights_requests(&a, None, Some(datetime!(2026-04-01 00:00 UTC)), None, None)
        .await
        .unwrap();
    assert_eq!(due_soon.len(), 1);

    let r = vault
        .verify_request(&a, gdpr.id, "id_document")
        .await
        .unwrap();
    assert_eq!(r.status, RequestStatus::Extended);
    let done = vault.complete_request(&a, gdpr.id, None).await.unwrap();
    assert_eq!(done.request.status, RequestStatus::Completed);
    let export = done.export.unwrap();
    assert_eq!(export.subject, id);
    let err = vault.complete_request(&a, gdpr.id, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Request(RequestError::Closed(RequestStatus::Completed))
        ),
        "{err:?}"
    );
    let events: Vec<String> = vault
        .rights_request(&a, gdpr.id)
        .await
        .unwrap()
        .history
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [
            "received",
            "verifying",
            "extended",
            "verified",
            "export_produced",
            "completed"
        ]
    );

    // The export lists the subject's requests.
    let export = vault.export_subject(&a, id).await.unwrap();
    assert_eq!(export.requests.len(), 2);
}

async fn every_kind_is_fulfilled_on_completion(backend: Backend) {
    let t = vault(backend).await;
    let (v, a) = (&t.vault, actor());
    let id = subject(v).await;
    let portal = |kind| RequestInput {
        origin: Origin::Portal,
        ..input(id, kind)
    };

    // Rectification: validated; invalid values change nothing and leave the request open.
    let r = v
        .create_request(&a, portal(RequestKind::Rectification))
        .await
        .unwrap();
    assert_eq!(
        r.status,
        RequestStatus::InProgress,
        "portal requests start verified"
    );
    let bad = obj(json!({"email": "not an email", "name": "Kimberly"}));
    let err = v.complete_request(&a, r.id, Some(&bad)).await.unwrap_err();
    assert!(matches!(err, VaultError::Invalid(_)), "{err:?}");
    let read = v
        .read_subject(&a, id, Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(read.data["name"], json!("Kim"));
    assert_eq!(
        v.rights_request(&a, r.id).await.unwrap().status,
        RequestStatus::InProgress
    );
    let good = obj(json!({"name": "Kimberly"}));
    let done = v.complete_request(&a, r.id, Some(&good)).await.unwrap();
    let rectified = &done.request.history[done.request.history.len() - 2];
    assert_eq!(rectified.event, "rectified");
    assert_eq!(rectified.detail, Some(json!({"fields": ["name"]})));
    let read = v
        .read_subject(&a, id, Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(read.data["name"], json!("Kimberly"));
    let stored = format!("{:?}", v.rights_request(&a, r.id).await.unwrap());
    assert!(
        !stored.contains("Kimberly"),
        "no value in the request's history"
    );

    // Objection: the granted consent is withdrawn.
    let r = v
        .create_request(
            &a,
            RequestInput {
                purpose: Some("marketing.communications.email".into()),
                ..portal(RequestKind::Objection)
            },
        )
        .await
        .unwrap();
    v.complete_request(&a, r.id, None).await.unwrap();
    let c = v.consents(&a, id).await.unwrap();
    let email = c
        .consents
        .iter()
        .find(|c| c.purpose == "marketing.communications.email");
    assert_eq!(email.unwrap().state, "withdrawn");

    // Opt-out of sale and sharing: denied for every sale_or_sharing purpose.
    let r = v
        .create_request(&a, portal(RequestKind::OptOutSaleSharing))
        .await
        .unwrap();
    v.complete_request(&a, r.id, None).await.unwrap();
    let c = v.consents(&a, id).await.unwrap();
    let ads = c
        .consents
        .iter()
        .find(|c| c.purpose == "marketing.advertising.third_party.targeted")
        .unwrap();
    assert_eq!(ads.state, "denied");

    // Restriction.
    let r = v
        .create_request(&a, portal(RequestKind::Restriction))
        .await
        .unwrap();
    v.complete_request(&a, r.id, None).await.unwrap();
    let c = v.consents(&a, id).await.unwrap();
    assert_eq!(
        c.restriction.unwrap().reason,
        format!("rights request {}", r.id)
    );

    // Erasure: the subject is gone; the request and its history stay.
    let r = v
        .create_request(&a, portal(RequestKind::Erasure))
        .await
        .unwrap();
    let done = v.complete_request(&a, r.id, None).await.unwrap();
    assert_eq!(done.request.status, RequestStatus::Completed);
    assert!(matches!(
        v.read_subject(&a, id, Some("essential.service")).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    let kept = v.rights_request(&a, r.id).await.unwrap();
    assert!(kept.history.iter().any(|e| e.event == "erased"));

    // No new request for an erased (or unknown) subject.
    for s in [id, SubjectId::new()] {
        let err = v
            .create_request(&a, input(s, RequestKind::Access))
            .await
            .unwrap_err();
        assert!(matches!(err, VaultError::SubjectNotFound(_)), "{err:?}");
    }
}

async fn bad_requests_are_refused_and_change_nothing(backend: Backend) {
    let t = vault(backend).await;
    let (v, a) = (&t.vault, actor());
    let id = subject(v).await;
    let before = v.store().audit_len().await.unwrap();
    let err = v
        .create_request(&a, input(id, RequestKind::Objection))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Request(RequestError::Purpose(_))),
        "{err:?}"
    );
    let err = v
        .create_request(
            &a,
            RequestInput {
                purpose: Some("world.domination".into()),
                ..input(id, RequestKind::Objection)
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::UnknownPurpose(_)), "{err:?}");
    let err = v
        .rights_request(&a, RightsRequestId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::RequestNotFound(_)), "{err:?}");
    let r = v
        .create_request(&a, input(id, RequestKind::Access))
        .await
        .unwrap();
    let err = v.reject_request(&a, r.id, " ").await.unwrap_err();
    assert!(
        matches!(err, VaultError::Request(RequestError::BadText { .. })),
        "{err:?}"
    );
    let data = obj(json!({"name": "X"}));
    v.verify_request(&a, r.id, "email_link").await.unwrap();
    let err = v.complete_request(&a, r.id, Some(&data)).await.unwrap_err();
    assert!(matches!(err, VaultError::BadRequest(_)), "{err:?}");
    v.reject_request(&a, r.id, "duplicate of an earlier request")
        .await
        .unwrap();
    let err = v.verify_request(&a, r.id, "again").await.unwrap_err();
    assert!(
        matches!(err, VaultError::Request(RequestError::Closed(_))),
        "{err:?}"
    );
    // Audited: the creation, the verification and the rejection only.
    assert_eq!(v.store().audit_len().await.unwrap(), before + 3);
}

/// Records what it is given; fails the first `fail` sends.
struct Recorder {
    sent: Mutex<Vec<OutboundMessage>>,
    fail: Mutex<usize>,
}

impl Sender for Recorder {
    async fn send(&self, message: &OutboundMessage) -> Result<(), SendError> {
        {
            let mut fail = self.fail.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(SendError::Retry("http_503".into()));
            }
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}

async fn status_changes_are_announced_through_the_outbox_with_retries(backend: Backend) {
    let place = Place::new(backend);
    let (vault, clock) = vault_with_clock(&place, datetime!(2026-05-01 08:00 UTC)).await;
    let a = actor();
    let id = subject(&vault).await;
    let r = vault
        .create_request(&a, input(id, RequestKind::Access))
        .await
        .unwrap();
    vault.verify_request(&a, r.id, "id_document").await.unwrap();

    let sender = Recorder {
        sent: Mutex::new(Vec::new()),
        fail: Mutex::new(1),
    };
    // The first attempt at the first message fails: it waits for its retry, the next goes.
    assert_eq!(vault.deliver_outbox(&sender).await.unwrap(), 1);
    assert_eq!(vault.deliver_outbox(&sender).await.unwrap(), 0);
    clock.advance(Duration::seconds(5));
    assert_eq!(vault.deliver_outbox(&sender).await.unwrap(), 1);
    assert_eq!(
        vault.deliver_outbox(&sender).await.unwrap(),
        0,
        "delivered ones are gone"
    );
    let sent = sender.sent.lock().unwrap().clone();
    let templates: Vec<&str> = sent.iter().map(|m| m.template.as_str()).collect();
    assert_eq!(templates, ["request_in_progress", "request_verifying"]);
    assert!(
        sent.iter()
            .all(|m| m.subject_id == id && m.request_id == Some(r.id))
    );
    assert!(sent[0].text.contains(&r.id.to_string()));
    assert!(
        sent.iter()
            .all(|m| !m.text.contains("kim@example.com") && !m.text.contains("Kim "))
    );
    // A vault that does not notify by mail captures no address.
    assert!(sent.iter().all(|m| m.recipient.is_none()));
}

backend_tests!(
    deadlines_verification_and_extension_follow_the_regime,
    every_kind_is_fulfilled_on_completion,
    bad_requests_are_refused_and_change_nothing,
    status_changes_are_announced_through_the_outbox_with_retries,
);
