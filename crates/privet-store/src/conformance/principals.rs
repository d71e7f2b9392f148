//! Conformance cases of principals, their API keys, and roles.

use std::sync::Arc;

use privet_audit::Action;
use time::{Duration, OffsetDateTime};

use super::{entry, now};
use crate::{ApiKeyRow, Op, PrincipalRow, RoleRow, Store, StoreError, WriteSet};

fn principal(id: &str, name: &str, roles: &[&str], created_at: OffsetDateTime) -> PrincipalRow {
    PrincipalRow {
        id: id.to_owned(),
        name: name.to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        created_at,
        expires_at: None,
        revoked_at: None,
        suspended_at: None,
        suspension_reason: None,
    }
}

fn role(name: &str, definition: &str) -> RoleRow {
    RoleRow {
        name: name.to_owned(),
        definition: definition.as_bytes().to_vec(),
        created_at: now(),
    }
}

fn key(prefix: &str, principal: &str) -> ApiKeyRow {
    ApiKeyRow {
        prefix: prefix.to_owned(),
        hash: vec![7; 32],
        principal: principal.to_owned(),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
    }
}

async fn apply_op(store: &dyn Store, op: Op) -> crate::Result<()> {
    store.apply(WriteSet::new().op(op)).await.map(|_| ())
}

pub async fn principals_round_trip_and_ids_and_names_are_unique(store: Arc<impl Store>) {
    let t = now();
    let mut mailer = principal("prn_b", "newsletter-service", &["mailer", "auditor"], t);
    mailer.expires_at = Some(t + Duration::days(90));
    // Listed by creation time, not by id or insertion order.
    let older = principal("prn_c", "support-desk", &[], t - Duration::hours(1));
    apply_op(&*store, Op::PutPrincipal(mailer.clone()))
        .await
        .unwrap();
    apply_op(&*store, Op::PutPrincipal(older.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.principal("prn_b").await.unwrap(),
        Some(mailer.clone())
    );
    assert_eq!(store.principal("prn_c").await.unwrap(), Some(older.clone()));
    assert_eq!(store.principal("prn_zz").await.unwrap(), None);
    assert_eq!(
        store.principals().await.unwrap(),
        vec![older.clone(), mailer.clone()]
    );

    let before = store.audit_len().await.unwrap();
    let same_id = principal("prn_b", "another-name", &["admin"], t);
    let same_name = principal("prn_d", "newsletter-service", &["admin"], t);
    for dup in [same_id, same_name] {
        let w = WriteSet::new()
            .op(Op::PutPrincipal(dup.clone()))
            .audit(entry(Action::Admin, None));
        let res = store.apply(w).await;
        assert!(
            matches!(res, Err(StoreError::AlreadyExists(_))),
            "{dup:?}: {res:?}"
        );
    }
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert_eq!(store.principal("prn_d").await.unwrap(), None);
    assert_eq!(store.principals().await.unwrap(), vec![older, mailer]);
}

pub async fn revoking_a_principal_revokes_its_keys_once(store: Arc<impl Store>) {
    let t0 = now() - Duration::hours(2);
    let (t1, t2) = (t0 + Duration::hours(1), t0 + Duration::hours(2));
    let p = principal("prn_p", "billing", &[], t0);
    let q = principal("prn_q", "crm", &[], t0);
    let mut k1 = key("key1aaaa", "prn_p");
    k1.expires_at = Some(t0 + Duration::days(30));
    let mut k2 = key("key2aaaa", "prn_p");
    k2.revoked_at = Some(t0);
    let k3 = key("key3aaaa", "prn_q");
    let w = WriteSet::new()
        .op(Op::PutPrincipal(p.clone()))
        .op(Op::PutPrincipal(q.clone()))
        .op(Op::PutApiKey(k1.clone()))
        .op(Op::PutApiKey(k2.clone()))
        .op(Op::PutApiKey(k3.clone()));
    store.apply(w).await.unwrap();
    assert_eq!(store.api_key("key1aaaa").await.unwrap(), Some(k1.clone()));

    apply_op(
        &*store,
        Op::RevokePrincipal {
            id: "prn_p".into(),
            at: t1,
        },
    )
    .await
    .unwrap();
    let revoked = PrincipalRow {
        revoked_at: Some(t1),
        ..p.clone()
    };
    assert_eq!(
        store.principal("prn_p").await.unwrap(),
        Some(revoked.clone())
    );
    let k1_revoked = ApiKeyRow {
        revoked_at: Some(t1),
        ..k1
    };
    assert_eq!(
        store.api_key("key1aaaa").await.unwrap(),
        Some(k1_revoked.clone())
    );
    // A key revoked before keeps its own time; another principal's key is untouched.
    assert_eq!(store.api_key("key2aaaa").await.unwrap(), Some(k2.clone()));
    assert_eq!(store.api_key("key3aaaa").await.unwrap(), Some(k3.clone()));
    assert_eq!(store.principal("prn_q").await.unwrap(), Some(q));

    // Revoking again keeps the first time.
    apply_op(
        &*store,
        Op::RevokePrincipal {
            id: "prn_p".into(),
            at: t2,
        },
    )
    .await
    .unwrap();
    assert_eq!(store.principal("prn_p").await.unwrap(), Some(revoked));
    assert_eq!(store.api_key("key1aaaa").await.unwrap(), Some(k1_revoked));
    assert_eq!(store.api_key("key2aaaa").await.unwrap(), Some(k2));

    let before = store.audit_len().await.unwrap();
    let w = WriteSet::new()
        .op(Op::RevokePrincipal {
            id: "prn_nobody".into(),
            at: t2,
        })
        .audit(entry(Action::Admin, None));
    match store.apply(w).await {
        Err(StoreError::PrincipalNotFound(id)) => assert_eq!(id, "prn_nobody"),
        other => panic!("expected PrincipalNotFound, got {other:?}"),
    }
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert_eq!(store.api_key("key3aaaa").await.unwrap(), Some(k3));
}

pub async fn principal_grants_hold_the_principal_and_its_existing_roles(store: Arc<impl Store>) {
    let (mailer, support) = (role("mailer", r#"{"v":1}"#), role("support", r#"{"v":2}"#));
    let p = principal("prn_g", "svc", &["support", "ghost", "mailer"], now());
    let bare = principal("prn_h", "bare", &[], now());
    let w = WriteSet::new()
        .op(Op::PutRole(mailer.clone()))
        .op(Op::PutRole(support.clone()))
        .op(Op::PutPrincipal(p.clone()))
        .op(Op::PutPrincipal(bare.clone()));
    store.apply(w).await.unwrap();

    // Roles that do not exist grant nothing; the others come in the principal's order.
    assert_eq!(
        store.principal_grants("prn_g").await.unwrap(),
        Some((p.clone(), vec![support.clone(), mailer.clone()]))
    );
    assert_eq!(
        store.principal_grants("prn_h").await.unwrap(),
        Some((bare, vec![]))
    );
    assert_eq!(store.principal_grants("prn_none").await.unwrap(), None);

    // Grants are read fresh every time: a replaced role and a revocation show at once.
    let new_support = RoleRow {
        definition: br#"{"v":3}"#.to_vec(),
        ..support.clone()
    };
    let at = now();
    let w = WriteSet::new()
        .op(Op::ReplaceRole(RoleRow {
            created_at: at,
            ..new_support.clone()
        }))
        .op(Op::RevokePrincipal {
            id: "prn_g".into(),
            at,
        });
    store.apply(w).await.unwrap();
    let (got, roles) = store.principal_grants("prn_g").await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(at));
    assert_eq!(got.roles, p.roles);
    assert_eq!(roles, vec![new_support, mailer]);
}

pub async fn roles_are_created_once_replaced_and_listed_by_name(store: Arc<impl Store>) {
    let zeta = role("zeta", r#"{"purposes":[]}"#);
    let alpha = role("alpha", r#"{"purposes":["analytics"]}"#);
    apply_op(&*store, Op::PutRole(zeta.clone())).await.unwrap();
    apply_op(&*store, Op::PutRole(alpha.clone())).await.unwrap();
    assert_eq!(store.role("zeta").await.unwrap(), Some(zeta.clone()));
    assert_eq!(store.role("beta").await.unwrap(), None);
    assert_eq!(
        store.roles().await.unwrap(),
        vec![alpha.clone(), zeta.clone()]
    );

    let before = store.audit_len().await.unwrap();
    let w = WriteSet::new()
        .op(Op::PutRole(role("zeta", r#"{"purposes":["marketing"]}"#)))
        .audit(entry(Action::Admin, None));
    assert!(matches!(
        store.apply(w).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert_eq!(store.role("zeta").await.unwrap(), Some(zeta.clone()));

    // Replacing changes the definition and keeps the creation time.
    let replacement = RoleRow {
        definition: br#"{"purposes":["support"]}"#.to_vec(),
        created_at: zeta.created_at + Duration::hours(1),
        ..zeta.clone()
    };
    apply_op(&*store, Op::ReplaceRole(replacement.clone()))
        .await
        .unwrap();
    let replaced = RoleRow {
        created_at: zeta.created_at,
        ..replacement
    };
    assert_eq!(store.role("zeta").await.unwrap(), Some(replaced.clone()));
    assert_eq!(store.roles().await.unwrap(), vec![alpha, replaced]);

    let w = WriteSet::new()
        .op(Op::ReplaceRole(role("beta", "{}")))
        .audit(entry(Action::Admin, None));
    match store.apply(w).await {
        Err(StoreError::RoleNotFound(name)) => assert_eq!(name, "beta"),
        other => panic!("expected RoleNotFound, got {other:?}"),
    }
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert_eq!(store.role("beta").await.unwrap(), None);
}

pub async fn suspension_is_stored_kept_first_and_lifted(store: Arc<impl Store>) {
    let t0 = now() - Duration::hours(2);
    let (t1, t2) = (t0 + Duration::hours(1), t0 + Duration::hours(2));
    let p = principal("prn_s", "exporter", &["mailer"], t0);
    let q = principal("prn_t", "bystander", &[], t0);
    let k = key("keysaaaa", "prn_s");
    let w = WriteSet::new()
        .op(Op::PutRole(role("mailer", "{}")))
        .op(Op::PutPrincipal(p.clone()))
        .op(Op::PutPrincipal(q.clone()))
        .op(Op::PutApiKey(k.clone()));
    store.apply(w).await.unwrap();

    let w = WriteSet::new()
        .op(Op::SuspendPrincipal {
            id: "prn_s".into(),
            at: t1,
            reason: "distinct_subjects".into(),
        })
        .audit(entry(Action::PrincipalSuspend, None));
    store.apply(w).await.unwrap();
    let suspended = PrincipalRow {
        suspended_at: Some(t1),
        suspension_reason: Some("distinct_subjects".into()),
        ..p.clone()
    };
    assert_eq!(
        store.principal("prn_s").await.unwrap(),
        Some(suspended.clone())
    );
    // Every read of the principal shows it: the one authentication uses, and the listing.
    let (got, roles) = store.principal_grants("prn_s").await.unwrap().unwrap();
    assert_eq!(got, suspended);
    assert_eq!(roles.len(), 1);
    assert_eq!(
        store.principals().await.unwrap(),
        vec![suspended.clone(), q.clone()]
    );
    // Its keys, other principals and revocation are untouched.
    assert_eq!(store.api_key("keysaaaa").await.unwrap(), Some(k.clone()));
    assert_eq!(store.principal("prn_t").await.unwrap(), Some(q.clone()));

    // Suspending again keeps the first time and reason.
    apply_op(
        &*store,
        Op::SuspendPrincipal {
            id: "prn_s".into(),
            at: t2,
            reason: "denials".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        store.principal("prn_s").await.unwrap(),
        Some(suspended.clone())
    );

    // Lifting clears both; lifting again is harmless; a new suspension starts afresh.
    apply_op(&*store, Op::LiftSuspension { id: "prn_s".into() })
        .await
        .unwrap();
    assert_eq!(store.principal("prn_s").await.unwrap(), Some(p.clone()));
    apply_op(&*store, Op::LiftSuspension { id: "prn_s".into() })
        .await
        .unwrap();
    assert_eq!(store.principal("prn_s").await.unwrap(), Some(p.clone()));
    apply_op(
        &*store,
        Op::SuspendPrincipal {
            id: "prn_s".into(),
            at: t2,
            reason: "denials".into(),
        },
    )
    .await
    .unwrap();
    let again = store.principal("prn_s").await.unwrap().unwrap();
    assert_eq!(again.suspended_at, Some(t2));
    assert_eq!(again.suspension_reason.as_deref(), Some("denials"));

    // An unknown principal fails the write set, which keeps nothing (not even its audit).
    let before = store.audit_len().await.unwrap();
    for op in [
        Op::SuspendPrincipal {
            id: "prn_nobody".into(),
            at: t2,
            reason: "denials".into(),
        },
        Op::LiftSuspension {
            id: "prn_nobody".into(),
        },
    ] {
        let w = WriteSet::new()
            .op(Op::LiftSuspension { id: "prn_s".into() })
            .op(op)
            .audit(entry(Action::PrincipalUnsuspend, None));
        match store.apply(w).await {
            Err(StoreError::PrincipalNotFound(id)) => assert_eq!(id, "prn_nobody"),
            other => panic!("expected PrincipalNotFound, got {other:?}"),
        }
    }
    assert_eq!(store.audit_len().await.unwrap(), before);
    assert_eq!(store.principal("prn_s").await.unwrap(), Some(again));
}
