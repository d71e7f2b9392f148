//! Purpose-bound access through the vault: principals and roles, masked and tokenized
//! access, consent expiry at the moment of the read (a test clock, no sleeping), write
//! checks, and every denial on the audit trail with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use privet_audit::{Action, AuditEntry, Decision};
use privet_core::policy::WithholdReason;
use privet_core::{ConsentChange, ConsentSource, ConsentState, Role};
use privet_vault::{Actor, Clock, Keyring, Schema, Vault, VaultError};
use serde_json::json;
use time::{Duration, OffsetDateTime};

const EMAIL: &str = "marketing.communications.email";

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

async fn vault_with_clock(place: &Place) -> (Vault, TestClock) {
    let clock = TestClock(Arc::new(Mutex::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    )));
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

fn role(v: serde_json::Value) -> Role {
    serde_json::from_value(v).unwrap()
}

/// A principal holding `role` (created first), as an authenticated actor.
async fn principal(vault: &Vault, r: serde_json::Value) -> Actor {
    let r = role(r);
    let name = r.name.clone();
    vault.put_role(&actor(), r, false).await.unwrap();
    let p = vault
        .create_principal(&actor(), &format!("{name}-svc"), &[name], None)
        .await
        .unwrap();
    let authed = vault.authenticate(p.api_key.expose()).await.unwrap();
    Actor::principal(&authed, None)
}

async fn last_entry(vault: &Vault) -> AuditEntry {
    let n = vault.store().audit_len().await.unwrap();
    let leaf = vault.store().audit_leaves(n - 1, 1).await.unwrap();
    AuditEntry::from_leaf_bytes(&leaf[0].leaf).unwrap()
}

fn change(state: ConsentState, expires_at: Option<OffsetDateTime>) -> ConsentChange {
    ConsentChange {
        state,
        source: ConsentSource::Api,
        notice_version: "v1".into(),
        expires_at,
    }
}

async fn a_purpose_not_granted_is_refused_and_the_denial_is_audited(backend: Backend) {
    let t = vault(backend).await;
    let mailer = principal(
        &t.vault,
        json!({"name": "mailer", "purposes": [EMAIL], "collections": {"customers": {"email": "plain"}}}),
    )
    .await;
    let id = t
        .vault
        .create_subject(&actor(), &obj(json!({"email": "a@example.com"})))
        .await
        .unwrap();
    let err = t
        .vault
        .read_subject(&mailer, id, Some("essential.service"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::Forbidden {
                reason: WithholdReason::NotGranted,
                ..
            }
        ),
        "{err:?}"
    );
    let e = last_entry(&t.vault).await;
    assert_eq!(e.action, Action::SubjectRead);
    assert_eq!(e.decision, Decision::Denied);
    assert_eq!(e.reason.as_deref(), Some("not_granted"));
    assert_eq!(e.subject, Some(id));
    assert_eq!(e.actor, mailer.id);
    assert!(e.fields.is_empty());

    // A lookup the role does not grant is refused and audited too.
    let err = t
        .vault
        .find_subjects(&mailer, "phone", "+16502530000", Some("essential.service"))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Forbidden { .. }), "{err:?}");
    assert_eq!(last_entry(&t.vault).await.decision, Decision::Denied);

    // A read the policy answers partially is audited with each withheld reason.
    t.vault
        .read_subject(&mailer, id, Some(EMAIL))
        .await
        .unwrap();
    let e = last_entry(&t.vault).await;
    assert_eq!(e.decision, Decision::Denied);
    assert!(
        e.withheld
            .iter()
            .any(|w| w.field == "email" && w.reason == "no_consent"),
        "{e:?}"
    );
}

async fn masked_and_tokenized_fields_show_only_what_the_role_grants(backend: Backend) {
    let t = vault(backend).await;
    let grant = |name: &str| {
        json!({"name": name, "purposes": ["essential.service.security"],
               "collections": {"customers": {"email": "tokenized", "phone": "masked", "birth_date": "masked"}}})
    };
    let analyst = principal(&t.vault, grant("analyst")).await;
    let other = principal(&t.vault, grant("fraud")).await;
    let a = t
        .vault
        .create_subject(
            &actor(),
            &obj(json!({"email": "Jane@Example.com", "phone": "+1 650 253 1234", "birth_date": "1980-05-17"})),
        )
        .await
        .unwrap();
    let b = t
        .vault
        .create_subject(&actor(), &obj(json!({"email": "jane@example.COM"})))
        .await
        .unwrap();
    let purpose = Some("essential.service.security");
    let va = t.vault.read_subject(&analyst, a, purpose).await.unwrap();
    let vb = t.vault.read_subject(&analyst, b, purpose).await.unwrap();
    let vo = t.vault.read_subject(&other, a, purpose).await.unwrap();
    assert_eq!(va.data["phone"], json!("•••• 1234"));
    assert_eq!(va.data["birth_date"], json!("1980"));
    let token = va.data["email"].as_str().unwrap();
    assert!(
        token.starts_with("tok_") && token.len() == 4 + 32,
        "{token}"
    );
    assert!(!token.contains("jane"));
    // Deterministic per role (equal values, equal tokens, so they can be joined) …
    assert_eq!(va.data["email"], vb.data["email"]);
    // … and unlinkable across roles.
    assert_ne!(va.data["email"], vo.data["email"]);
    // The support view (full-access operator) still sees the plain value.
    let plain = t
        .vault
        .read_subject(&actor(), a, Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(plain.data["email"], json!("Jane@example.com"));
}

async fn an_expired_consent_withholds_at_the_moment_of_the_read(backend: Backend) {
    let place = Place::new(backend);
    let (vault, clock) = vault_with_clock(&place).await;
    let id = vault
        .create_subject(&actor(), &obj(json!({"email": "e@example.com"})))
        .await
        .unwrap();
    let expires = clock.now() + Duration::hours(1);
    vault
        .set_consent(
            &actor(),
            id,
            EMAIL,
            change(ConsentState::Granted, Some(expires)),
            false,
        )
        .await
        .unwrap();
    let v = vault.read_subject(&actor(), id, Some(EMAIL)).await.unwrap();
    assert_eq!(v.data["email"], json!("e@example.com"));
    clock.advance(Duration::hours(1));
    let v = vault.read_subject(&actor(), id, Some(EMAIL)).await.unwrap();
    assert!(v.data.is_empty(), "{v:?}");
    assert!(
        v.withheld
            .iter()
            .any(|w| w.field == "email" && w.reason == "consent_expired")
    );
    // An expiry at or before now is refused outright.
    let err = vault
        .set_consent(
            &actor(),
            id,
            EMAIL,
            change(ConsentState::Granted, Some(clock.now())),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Consent(_)), "{err:?}");
}

async fn consent_based_fields_are_collected_only_with_consent_and_refusals_are_audited(
    backend: Backend,
) {
    let t = vault(backend).await;
    let data = obj(json!({"email": "r@example.com", "religion": "none"}));
    let before = t.vault.store().audit_len().await.unwrap();
    let err = t.vault.create_subject(&actor(), &data).await.unwrap_err();
    let VaultError::WriteRefused(refused) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(refused.0[0].field, "religion");
    assert_eq!(refused.0[0].needs_consent_to, ["essential.service"]);
    // Nothing was written but the denial.
    assert_eq!(t.vault.store().audit_len().await.unwrap(), before + 1);
    let e = last_entry(&t.vault).await;
    assert_eq!(
        (e.action, e.decision),
        (Action::SubjectCreate, Decision::Denied)
    );
    assert!(
        t.vault
            .find_subjects(
                &actor(),
                "email",
                "r@example.com",
                Some("essential.service")
            )
            .await
            .unwrap()
            .is_empty()
    );

    // With the consent given in the same request, the subject is created with its consent.
    let id = t
        .vault
        .create_subject_with_consents(
            &actor(),
            &data,
            vec![(
                "essential.service".into(),
                change(ConsentState::Granted, None),
            )],
            false,
        )
        .await
        .unwrap();
    let v = t
        .vault
        .read_subject(&actor(), id, Some("essential.service"))
        .await
        .unwrap();
    assert_eq!(v.data["religion"], json!("none"));
    // Withdrawn: the special-category value is withheld on the very next read, and a patch
    // re-collecting it is refused.
    t.vault
        .set_consent(
            &actor(),
            id,
            "essential.service",
            change(ConsentState::Withdrawn, None),
            false,
        )
        .await
        .unwrap();
    let v = t
        .vault
        .read_subject(&actor(), id, Some("essential.service"))
        .await
        .unwrap();
    assert!(!v.data.contains_key("religion"));
    assert!(v.data.contains_key("email"));
    let err = t
        .vault
        .update_subject(&actor(), id, &obj(json!({"religion": "other"})))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::WriteRefused(_)), "{err:?}");
}

async fn a_restricted_subject_reads_only_for_legal_obligations_and_erasure_clears_consents(
    backend: Backend,
) {
    let t = vault(backend).await;
    let id = t
        .vault
        .create_subject(&actor(), &obj(json!({"email": "x@example.com"})))
        .await
        .unwrap();
    t.vault
        .add_record(
            &actor(),
            id,
            "orders",
            &obj(json!({"items": [], "total_cents": 5, "card_last4": "4242"})),
        )
        .await
        .unwrap();
    t.vault
        .set_restriction(&actor(), id, Some("objection_pending"))
        .await
        .unwrap();
    let v = t
        .vault
        .read_subject(&actor(), id, Some("essential.service"))
        .await
        .unwrap();
    assert!(v.data.is_empty());
    let r = t
        .vault
        .read_records(
            &actor(),
            id,
            "orders",
            None,
            Some("essential.legal_obligation"),
        )
        .await
        .unwrap();
    assert_eq!(r[0].data["card_last4"], json!("4242"));
    let r = t
        .vault
        .read_records(&actor(), id, "orders", None, Some("essential.service"))
        .await
        .unwrap();
    assert!(r[0].data.is_empty());
    assert!(r[0].withheld.iter().any(|w| w.reason == "restricted"));
    assert!(
        r[0].withheld
            .iter()
            .all(|w| w.reason == "restricted" || w.reason == "purpose_not_declared")
    );

    t.vault
        .set_consent(
            &actor(),
            id,
            EMAIL,
            change(ConsentState::Granted, None),
            false,
        )
        .await
        .unwrap();
    t.vault.erase_subject(&actor(), id).await.unwrap();
    assert!(matches!(
        t.vault.consent_history(&actor(), id).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert!(
        t.vault
            .store()
            .consent_history(id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn revoked_and_expired_principals_do_not_authenticate(backend: Backend) {
    let place = Place::new(backend);
    let (vault, clock) = vault_with_clock(&place).await;
    vault
        .put_role(
            &actor(),
            role(json!({"name": "r", "purposes": [EMAIL]})),
            false,
        )
        .await
        .unwrap();
    let later = clock.now() + Duration::days(1);
    let p = vault
        .create_principal(&actor(), "temp", &["r".into()], Some(later))
        .await
        .unwrap();
    let q = vault
        .create_principal(&actor(), "other", &["r".into()], None)
        .await
        .unwrap();
    assert!(vault.authenticate(p.api_key.expose()).await.is_ok());
    clock.advance(Duration::days(1));
    assert!(matches!(
        vault.authenticate(p.api_key.expose()).await,
        Err(VaultError::Unauthorized)
    ));
    assert!(vault.authenticate(q.api_key.expose()).await.is_ok());
    vault.revoke_principal(&actor(), &q.id).await.unwrap();
    assert!(matches!(
        vault.authenticate(q.api_key.expose()).await,
        Err(VaultError::Unauthorized)
    ));
    // A principal without the admin role administers nothing.
    let r = vault
        .create_principal(&actor(), "third", &["r".into()], None)
        .await
        .unwrap();
    let third = Actor::principal(&vault.authenticate(r.api_key.expose()).await.unwrap(), None);
    assert!(matches!(
        vault.roles(&third).await,
        Err(VaultError::NotAdmin)
    ));
    let e = last_entry(&vault).await;
    assert_eq!((e.action, e.decision), (Action::Admin, Decision::Denied));
    assert_eq!(e.actor, third.id);
    assert_eq!(e.reason.as_deref(), Some("not_admin"));
    assert!(matches!(
        vault
            .erase_subject(&third, privet_core::SubjectId::new())
            .await,
        Err(VaultError::NotAdmin)
    ));
}

async fn receipts_verify_with_the_published_key_and_a_modified_one_fails(backend: Backend) {
    use privet_audit::VerifierKey;
    use privet_crypto::NoteSigner;
    use privet_vault::verify_receipt;

    let t = vault(backend).await;
    let signer = NoteSigner::generate("receipts.shop.example").unwrap();
    let published: VerifierKey = VerifierKey::of(&signer).to_string().parse().unwrap();
    let id = t
        .vault
        .create_subject(&actor(), &obj(json!({"email": "c@example.com"})))
        .await
        .unwrap();
    t.vault
        .set_consent(
            &actor(),
            id,
            EMAIL,
            change(ConsentState::Granted, None),
            false,
        )
        .await
        .unwrap();
    t.vault
        .set_consent(
            &actor(),
            id,
            "marketing.advertising.third_party.targeted",
            change(ConsentState::Denied, None),
            false,
        )
        .await
        .unwrap();
    let signed = t
        .vault
        .consent_receipt(&actor(), id, &signer)
        .await
        .unwrap();
    assert_eq!(signed.verifier_key, published.to_string());
    let receipt = verify_receipt(&signed.signed, &published).unwrap();
    assert_eq!(receipt, signed.receipt);
    assert_eq!(receipt.subject_id, id);
    let email = receipt
        .purposes
        .iter()
        .find(|p| p.purpose == EMAIL)
        .unwrap();
    assert_eq!(
        (email.state.as_str(), email.source.as_str()),
        ("granted", "api")
    );
    assert!(
        email
            .data_categories
            .contains(&"user.contact.email".to_owned())
    );
    let ads = receipt.purposes.iter().find(|p| p.sale_or_sharing).unwrap();
    assert_eq!(ads.effective, "denied");

    // A modified receipt fails: a changed state, or any single changed byte.
    let forged = signed.signed.replacen("\"denied\"", "\"granted\"", 2);
    assert_ne!(forged, signed.signed);
    assert!(verify_receipt(&forged, &published).is_err());
    let body_len = signed.signed.find("\n\n").unwrap();
    for i in (0..body_len).step_by(7) {
        let mut bytes = signed.signed.clone().into_bytes();
        bytes[i] ^= 0x01;
        if let Ok(text) = String::from_utf8(bytes) {
            assert!(verify_receipt(&text, &published).is_err(), "byte {i}");
        }
    }
    // Another key does not verify it.
    let other = VerifierKey::of(&NoteSigner::generate("receipts.shop.example").unwrap());
    assert!(verify_receipt(&signed.signed, &other).is_err());
}

backend_tests!(
    receipts_verify_with_the_published_key_and_a_modified_one_fails,
    a_purpose_not_granted_is_refused_and_the_denial_is_audited,
    masked_and_tokenized_fields_show_only_what_the_role_grants,
    an_expired_consent_withholds_at_the_moment_of_the_read,
    consent_based_fields_are_collected_only_with_consent_and_refusals_are_audited,
    a_restricted_subject_reads_only_for_legal_obligations_and_erasure_clears_consents,
    revoked_and_expired_principals_do_not_authenticate,
);
