//! Notifications addressed by mail: the subject's address is captured when a message is
//! queued, kept in the outbox sealed for that message alone (never plaintext at rest), read
//! on the record, handed to the sender opened, and still there for an erasure's confirmation
//! after the subject's own key is gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::Mutex;

use common::*;
use privet_audit::Action;
use privet_core::{Origin, RequestKind, SubjectId};
use privet_store::{Op, OutboxRow, WriteSet};
use privet_vault::{OutboundMessage, RequestInput, SendError, Sender, Vault, VaultError};
use serde_json::json;

const ADDRESS: &str = "kim.canary.7f3a@example.com";

/// Answers each send with the next scripted result (then `Ok`), recording what it was given.
struct Script {
    answers: Mutex<Vec<Result<(), SendError>>>,
    seen: Mutex<Vec<OutboundMessage>>,
}

impl Script {
    fn new(answers: Vec<Result<(), SendError>>) -> Self {
        Self {
            answers: Mutex::new(answers),
            seen: Mutex::new(Vec::new()),
        }
    }

    fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m.template.clone(),
                    m.recipient.as_ref().map(|r| r.expose().clone()),
                )
            })
            .collect()
    }
}

impl Sender for Script {
    async fn send(&self, message: &OutboundMessage) -> Result<(), SendError> {
        self.seen.lock().unwrap().push(message.clone());
        let mut answers = self.answers.lock().unwrap();
        match answers.is_empty() {
            true => Ok(()),
            false => answers.remove(0),
        }
    }
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

async fn mail_vault(backend: Backend, schema: &str) -> (TestVault, Vault) {
    let t = vault_with_schema(backend, schema).await;
    let v = t.vault.clone().with_notify_recipient("email").unwrap();
    (t, v)
}

async fn customer(v: &Vault, email: Option<&str>) -> SubjectId {
    let mut data = json!({"name": "Kim"});
    if let Some(e) = email {
        data["email"] = json!(e);
    }
    v.create_subject(&actor(), &obj(data)).await.unwrap()
}

async fn queued(v: &Vault) -> Vec<OutboxRow> {
    v.store()
        .outbox_due(
            time::OffsetDateTime::now_utc() + time::Duration::days(1),
            100,
        )
        .await
        .unwrap()
}

async fn the_address_is_sealed_in_the_outbox_audited_and_opened_for_the_sender(backend: Backend) {
    let (t, v) = mail_vault(backend, SCHEMA).await;
    let id = customer(&v, Some(ADDRESS)).await;
    let r = v
        .create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();

    // At rest: sealed bytes, not the address, in the row, in any SQLite file, in any
    // PostgreSQL row.
    let rows = queued(&v).await;
    assert_eq!(rows.len(), 1);
    let sealed = rows[0].recipient.clone().expect("a sealed recipient");
    assert!(
        !sealed
            .windows(ADDRESS.len())
            .any(|w| w == ADDRESS.as_bytes())
    );
    match backend {
        Backend::Sqlite => assert!(t.place.files_containing(ADDRESS.as_bytes()).is_empty()),
        Backend::Postgres => {
            let dump = t.place.dump();
            assert!(
                dump.contains(&hex(&sealed)),
                "the sealed copy is in the dump"
            );
            assert!(!dump.contains(ADDRESS) && !dump.contains(&hex(ADDRESS.as_bytes())));
        }
    }

    // On the record: one read of the email field, for the subject's access, naming the
    // message.
    let log = v.access_log(&actor(), id, None, None).await.unwrap();
    let reads: Vec<_> = log
        .iter()
        .filter(|e| e.reason.as_deref() == Some(&format!("notify:{}", rows[0].id)))
        .collect();
    assert_eq!(reads.len(), 1, "{log:#?}");
    assert_eq!(reads[0].action, Action::SubjectRead);
    assert_eq!(reads[0].fields, ["email"]);
    assert_eq!(reads[0].purpose.as_deref(), Some("subject_access"));

    let sender = Script::new(vec![]);
    assert_eq!(v.deliver_outbox(&sender).await.unwrap(), 1);
    assert_eq!(
        sender.seen(),
        [("request_verifying".to_owned(), Some(ADDRESS.to_owned()))]
    );
    assert!(
        sender.seen.lock().unwrap()[0]
            .text
            .contains(&r.id.to_string())
    );
    assert!(
        queued(&v).await.is_empty(),
        "delivered: row and address gone"
    );
}

async fn a_retry_keeps_the_message_and_an_undeliverable_one_is_dropped(backend: Backend) {
    let (_t, v) = mail_vault(backend, SCHEMA).await;
    let id = customer(&v, Some(ADDRESS)).await;
    v.create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    let sender = Script::new(vec![
        Err(SendError::Retry("smtp_451".into())),
        Err(SendError::Undeliverable("smtp_550".into())),
    ]);
    assert_eq!(v.deliver_outbox(&sender).await.unwrap(), 0);
    let rows = queued(&v).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].attempts, rows[0].last_error.as_deref()),
        (1, Some("smtp_451"))
    );
    assert!(rows[0].recipient.is_some(), "kept for the retry");

    // Not due yet; once due, the 550 drops it for good.
    assert_eq!(v.deliver_outbox(&sender).await.unwrap(), 0);
    assert_eq!(sender.seen().len(), 1);
    let mut row = rows[0].clone();
    row.next_attempt_at = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    v.store()
        .apply(
            WriteSet::new()
                .op(Op::DeleteMessage(row.id))
                .op(Op::QueueMessage(row)),
        )
        .await
        .unwrap();
    assert_eq!(v.deliver_outbox(&sender).await.unwrap(), 0);
    assert_eq!(sender.seen().len(), 2);
    assert!(queued(&v).await.is_empty(), "undeliverable: dropped");
    // The drop is on the subject's trail, with the message, its request and the code.
    let log = v.access_log(&actor(), id, None, None).await.unwrap();
    let dropped: Vec<_> = log
        .iter()
        .filter(|e| {
            e.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("notification_undeliverable:"))
        })
        .collect();
    assert_eq!(dropped.len(), 1, "{log:#?}");
    assert_eq!(dropped[0].action, Action::RightsRequest);
    assert_eq!(
        dropped[0].reason.as_deref(),
        Some(
            format!(
                "notification_undeliverable:{}:{}:smtp_550",
                rows[0].id,
                rows[0].request.unwrap()
            )
            .as_str()
        )
    );
}

async fn an_erasure_confirmation_still_carries_the_erased_address(backend: Backend) {
    let (t, v) = mail_vault(backend, SCHEMA).await;
    let id = customer(&v, Some(ADDRESS)).await;
    let r = v
        .create_request(&actor(), input(id, RequestKind::Erasure))
        .await
        .unwrap();
    v.verify_request(&actor(), r.id, "id_document")
        .await
        .unwrap();
    v.complete_request(&actor(), r.id, None).await.unwrap();
    assert!(matches!(
        v.read_subject(&actor(), id, Some("essential.service"))
            .await,
        Err(VaultError::SubjectNotFound(_))
    ));
    if backend == Backend::Sqlite {
        assert!(t.place.files_containing(ADDRESS.as_bytes()).is_empty());
    }

    let sender = Script::new(vec![]);
    assert_eq!(v.deliver_outbox(&sender).await.unwrap(), 3);
    let seen = sender.seen();
    assert_eq!(
        seen.last().unwrap(),
        &("request_completed".to_owned(), Some(ADDRESS.to_owned()))
    );
    assert!(seen.iter().all(|(_, to)| to.as_deref() == Some(ADDRESS)));
    assert!(queued(&v).await.is_empty());
}

async fn a_sealed_address_moved_to_another_message_does_not_open(backend: Backend) {
    let (_t, v) = mail_vault(backend, SCHEMA).await;
    let id = customer(&v, Some(ADDRESS)).await;
    v.create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    let other = customer(&v, Some("other@example.com")).await;
    v.create_request(&actor(), input(other, RequestKind::Access))
        .await
        .unwrap();
    let rows = queued(&v).await;
    assert_eq!(rows.len(), 2);
    let (mine, theirs) = match rows[0].subject == id {
        true => (&rows[0], &rows[1]),
        false => (&rows[1], &rows[0]),
    };
    // Someone with write access to the database copies Kim's sealed address into the other
    // customer's message, to have that message mailed to Kim.
    let mut forged = theirs.clone();
    forged.recipient = mine.recipient.clone();
    v.store()
        .apply(
            WriteSet::new()
                .op(Op::DeleteMessage(mine.id))
                .op(Op::DeleteMessage(theirs.id))
                .op(Op::QueueMessage(forged)),
        )
        .await
        .unwrap();
    let sender = Script::new(vec![Err(SendError::Undeliverable("no_recipient".into()))]);
    v.deliver_outbox(&sender).await.unwrap();
    assert_eq!(
        sender.seen(),
        [("request_verifying".to_owned(), None)],
        "the moved address must not open"
    );
}

async fn a_subject_without_an_address_gets_a_message_without_recipient(backend: Backend) {
    let schema = SCHEMA.replacen("searchable = true\nrequired = true", "searchable = true", 1);
    assert_ne!(schema, SCHEMA);
    let (_t, v) = mail_vault(backend, &schema).await;
    let id = customer(&v, None).await;
    v.create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    let rows = queued(&v).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].recipient, None);
    // Nothing was read, so nothing is on the record as read.
    let log = v.access_log(&actor(), id, None, None).await.unwrap();
    assert!(
        log.iter().all(|e| e.action != Action::SubjectRead),
        "{log:#?}"
    );
    let sender = Script::new(vec![Err(SendError::Undeliverable("no_recipient".into()))]);
    assert_eq!(v.deliver_outbox(&sender).await.unwrap(), 0);
    assert!(queued(&v).await.is_empty(), "dropped, not retried forever");
}

async fn the_address_field_must_be_an_email_field_of_the_profile(backend: Backend) {
    let t = vault(backend).await;
    let err = |field: &str| {
        t.vault
            .clone()
            .with_notify_recipient(field)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("mail"),
        "the profile collection `customers` has no field `mail`"
    );
    assert_eq!(
        err("phone"),
        "field `phone` of the profile collection `customers` is not of type email"
    );
    assert_eq!(
        err("items"),
        "the profile collection `customers` has no field `items`"
    );
    let v = t.vault.clone().with_notify_recipient("email").unwrap();
    assert_eq!(v.notify_recipient_field(), Some("email"));
    assert_eq!(t.vault.notify_recipient_field(), None);
}

async fn a_key_version_sealing_a_waiting_address_is_not_retired(backend: Backend) {
    let (t, file) = served_vault(backend).await;
    let id = customer(&t.vault, Some(ADDRESS)).await;
    let v2 = rotate_key_file(&t, &file).await;
    v2.begin_rotation().await.unwrap();
    v2.finish_rotation(10, &mut |_| {}).await.unwrap();
    // Queued while v2 is current: the address is sealed under v2.
    let v2 = v2.with_notify_recipient("email").unwrap();
    v2.create_request(&actor(), input(id, RequestKind::Access))
        .await
        .unwrap();
    let v3 = rotate_key_file(&t, &file).await;
    v3.begin_rotation().await.unwrap();
    v3.finish_rotation(10, &mut |_| {}).await.unwrap();
    let err = v3
        .retire_key_version(privet_crypto::KeyVersion(2))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 waiting notifications have their address sealed under it"),
        "{err}"
    );
    let sender = Script::new(vec![]);
    assert_eq!(v3.deliver_outbox(&sender).await.unwrap(), 1);
    assert_eq!(
        sender.seen(),
        [("request_verifying".to_owned(), Some(ADDRESS.to_owned()))]
    );
    v3.retire_key_version(privet_crypto::KeyVersion(2))
        .await
        .unwrap();
}

backend_tests!(
    the_address_is_sealed_in_the_outbox_audited_and_opened_for_the_sender,
    a_retry_keeps_the_message_and_an_undeliverable_one_is_dropped,
    an_erasure_confirmation_still_carries_the_erased_address,
    a_sealed_address_moved_to_another_message_does_not_open,
    a_subject_without_an_address_gets_a_message_without_recipient,
    the_address_field_must_be_an_email_field_of_the_profile,
    a_key_version_sealing_a_waiting_address_is_not_retired,
);
