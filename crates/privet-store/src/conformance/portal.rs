//! Portal tokens: spent once, on every server sharing the store.

use std::sync::Arc;

use time::Duration;

use super::now;
use crate::{Op, Store, StoreError, WriteSet};

fn spend(id: &str, expires_in: Duration, at: time::OffsetDateTime) -> WriteSet {
    WriteSet::new().op(Op::SpendPortalToken {
        id: id.into(),
        expires_at: at + expires_in,
        at,
    })
}

pub async fn a_portal_token_is_spent_once_and_forgotten_after_it_expired(store: Arc<dyn Store>) {
    let t = now();
    assert!(!store.portal_token_spent("lnk_a").await.unwrap());
    store
        .apply(spend("lnk_a", Duration::minutes(15), t))
        .await
        .unwrap();
    assert!(store.portal_token_spent("lnk_a").await.unwrap());
    assert!(!store.portal_token_spent("lnk_b").await.unwrap());
    let again = store.apply(spend("lnk_a", Duration::minutes(15), t)).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(_))),
        "{again:?}"
    );
    // A failed spend keeps nothing of its write set.
    let before = store.audit_len().await.unwrap();
    let mut w = spend("lnk_a", Duration::minutes(15), t);
    w.push_audit(&privet_audit::AuditEntry::new(
        t,
        "portal:test",
        privet_audit::Action::Admin,
    ));
    assert!(store.apply(w).await.is_err());
    assert_eq!(store.audit_len().await.unwrap(), before);

    // Two hours on, a spend forgets ids that expired over an hour ago, and only those.
    let later = t + Duration::hours(2);
    store
        .apply(spend("lnk_long", Duration::hours(3), t))
        .await
        .unwrap();
    store
        .apply(spend("lnk_c", Duration::minutes(15), later))
        .await
        .unwrap();
    assert!(!store.portal_token_spent("lnk_a").await.unwrap());
    assert!(store.portal_token_spent("lnk_long").await.unwrap());
    assert!(store.portal_token_spent("lnk_c").await.unwrap());
}
