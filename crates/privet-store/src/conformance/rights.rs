//! Rights requests (optimistic versions, history in order, filters by status and due date)
//! and the notifications outbox.

use std::sync::Arc;

use privet_core::{MessageId, RightsRequestId, SubjectId};
use time::Duration;

use super::now;
use crate::{
    Op, OutboxRow, RequestEventRow, RequestFilter, RightsRequestRow, Store, StoreError, WriteSet,
};

fn request(subject: SubjectId, status: &str, due_in_days: i64) -> RightsRequestRow {
    let t = now();
    RightsRequestRow {
        id: RightsRequestId::new(),
        subject,
        kind: "access".into(),
        purpose: None,
        regime: "gdpr".into(),
        origin: "staff".into(),
        status: status.into(),
        received_at: t,
        due_at: t + Duration::days(due_in_days),
        extended: false,
        verified_at: None,
        closed_at: None,
        version: 1,
    }
}

fn event(r: &RightsRequestRow, seq: i64, name: &str) -> RequestEventRow {
    RequestEventRow {
        request: r.id,
        seq,
        at: now(),
        actor: "test".into(),
        event: name.into(),
        status: r.status.clone(),
        detail: Some(r#"{"method":"id_document"}"#.into()),
    }
}

async fn put(
    store: &dyn Store,
    r: &RightsRequestRow,
    events: Vec<RequestEventRow>,
    expected: Option<i64>,
) -> crate::Result<()> {
    store
        .apply(WriteSet::new().op(Op::PutRightsRequest {
            request: r.clone(),
            events,
            expected_version: expected,
        }))
        .await
        .map(|_| ())
}

pub async fn rights_requests_keep_their_history_versions_and_order_by_due_date(
    store: Arc<impl Store>,
) {
    let s = SubjectId::new();
    let mut a = request(s, "verifying", 30);
    let b = request(s, "in_progress", 10);
    let c = request(SubjectId::new(), "verifying", 20);
    put(&*store, &a, vec![event(&a, 0, "received")], None)
        .await
        .unwrap();
    put(&*store, &b, vec![event(&b, 0, "received")], None)
        .await
        .unwrap();
    put(&*store, &c, vec![event(&c, 0, "received")], None)
        .await
        .unwrap();
    assert!(matches!(
        put(&*store, &a, vec![], None).await,
        Err(StoreError::AlreadyExists(_))
    ));

    // An update based on the stored version appends; one based on a stale version is a
    // conflict and keeps nothing.
    a.status = "in_progress".into();
    a.verified_at = Some(now());
    a.version = 2;
    put(&*store, &a, vec![event(&a, 1, "verified")], Some(1))
        .await
        .unwrap();
    let mut stale = a.clone();
    stale.status = "rejected".into();
    stale.version = 2;
    assert!(matches!(
        put(&*store, &stale, vec![event(&stale, 1, "rejected")], Some(1)).await,
        Err(StoreError::Conflict(_))
    ));
    let (got, events) = store.rights_request(a.id).await.unwrap().unwrap();
    assert_eq!(got, a);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["received", "verified"]);
    assert_eq!(
        events[1].detail.as_deref(),
        Some(r#"{"method":"id_document"}"#)
    );
    assert!(
        store
            .rights_request(RightsRequestId::new())
            .await
            .unwrap()
            .is_none()
    );

    let all = store
        .rights_requests(&RequestFilter::default(), 100)
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids, [b.id, c.id, a.id], "by due date");
    let verifying = RequestFilter {
        status: Some("verifying".into()),
        ..RequestFilter::default()
    };
    let ids: Vec<_> = store
        .rights_requests(&verifying, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [c.id]);
    let soon = RequestFilter {
        due_before: Some(now() + Duration::days(25)),
        subject: Some(s),
        ..RequestFilter::default()
    };
    let ids: Vec<_> = store
        .rights_requests(&soon, 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [b.id]);
    assert_eq!(
        store
            .rights_requests(&RequestFilter::default(), 2)
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn a_subjects_messages_queued_before_a_time_are_deleted(store: Arc<impl Store>) {
    let t = now();
    let (s, other) = (SubjectId::new(), SubjectId::new());
    let m = |subject: SubjectId, minutes: i64| OutboxRow {
        id: MessageId::new(),
        subject,
        request: None,
        template: "request_received".into(),
        body: "Your request was received.".into(),
        created_at: t + Duration::minutes(minutes),
        attempts: 0,
        next_attempt_at: t,
        last_error: None,
        recipient: Some(vec![7; 40]),
    };
    let (old, new, others) = (m(s, -2), m(s, 1), m(other, -2));
    for msg in [&old, &new, &others] {
        store
            .apply(WriteSet::new().op(Op::QueueMessage(msg.clone())))
            .await
            .unwrap();
    }
    store
        .apply(WriteSet::new().op(Op::DeleteMessagesOf {
            subject: s,
            before: t,
        }))
        .await
        .unwrap();
    assert!(store.outbox_message(old.id).await.unwrap().is_none());
    assert_eq!(store.outbox_message(new.id).await.unwrap(), Some(new));
    assert_eq!(store.outbox_message(others.id).await.unwrap(), Some(others));
}

pub async fn outbox_messages_are_due_deferred_and_deleted(store: Arc<impl Store>) {
    let t = now();
    let m = |minutes: i64| OutboxRow {
        id: MessageId::new(),
        subject: SubjectId::new(),
        request: Some(RightsRequestId::new()),
        template: "request_completed".into(),
        body: "Your request is completed.".into(),
        created_at: t,
        attempts: 0,
        next_attempt_at: t + Duration::minutes(minutes),
        last_error: None,
        recipient: None,
    };
    let (a, b, later) = (m(-2), m(-1), m(60));
    for msg in [&later, &b, &a] {
        store
            .apply(WriteSet::new().op(Op::QueueMessage(msg.clone())))
            .await
            .unwrap();
    }
    let due = store.outbox_due(t, 10).await.unwrap();
    assert_eq!(due, vec![a.clone(), b.clone()]);
    assert_eq!(store.outbox_due(t, 1).await.unwrap(), vec![a.clone()]);

    let next = t + Duration::minutes(5);
    store
        .apply(WriteSet::new().op(Op::DeferMessage {
            id: a.id,
            attempts: 1,
            next_attempt_at: next,
            last_error: "http_500".into(),
        }))
        .await
        .unwrap();
    let got = store.outbox_message(a.id).await.unwrap().unwrap();
    assert_eq!(
        (got.attempts, got.next_attempt_at, got.last_error.as_deref()),
        (1, next, Some("http_500"))
    );
    assert_eq!(store.outbox_due(t, 10).await.unwrap(), vec![b.clone()]);

    store
        .apply(WriteSet::new().op(Op::DeleteMessage(b.id)))
        .await
        .unwrap();
    assert!(store.outbox_message(b.id).await.unwrap().is_none());
    assert!(store.outbox_due(t, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .outbox_due(t + Duration::hours(2), 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// A message's sealed recipient (opaque bytes to the store) is kept exactly as given, through
/// a deferral, and goes with the row when it is deleted.
pub async fn an_outbox_recipient_is_kept_with_its_message_and_deleted_with_it(
    store: Arc<impl Store>,
) {
    let t = now();
    let sealed: Vec<u8> = (0..=255u8).chain([0, 0, 1]).collect();
    let with = OutboxRow {
        id: MessageId::new(),
        subject: SubjectId::new(),
        request: Some(RightsRequestId::new()),
        template: "request_completed".into(),
        body: "Your request is completed.".into(),
        created_at: t,
        attempts: 0,
        next_attempt_at: t,
        last_error: None,
        recipient: Some(sealed.clone()),
    };
    let without = OutboxRow {
        id: MessageId::new(),
        recipient: None,
        ..with.clone()
    };
    store
        .apply(
            WriteSet::new()
                .op(Op::QueueMessage(with.clone()))
                .op(Op::QueueMessage(without.clone())),
        )
        .await
        .unwrap();
    assert_eq!(
        store.outbox_message(with.id).await.unwrap(),
        Some(with.clone())
    );
    assert_eq!(
        store.outbox_message(without.id).await.unwrap(),
        Some(without.clone())
    );
    let due = store.outbox_due(t, 10).await.unwrap();
    let got = due.iter().find(|m| m.id == with.id).unwrap();
    assert_eq!(got.recipient.as_deref(), Some(&sealed[..]));

    store
        .apply(WriteSet::new().op(Op::DeferMessage {
            id: with.id,
            attempts: 1,
            next_attempt_at: t + Duration::minutes(1),
            last_error: "smtp_451".into(),
        }))
        .await
        .unwrap();
    let deferred = store.outbox_message(with.id).await.unwrap().unwrap();
    assert_eq!(deferred.recipient, Some(sealed));

    store
        .apply(WriteSet::new().op(Op::DeleteMessage(with.id)))
        .await
        .unwrap();
    assert!(store.outbox_message(with.id).await.unwrap().is_none());
    assert!(store.outbox_message(without.id).await.unwrap().is_some());
}
