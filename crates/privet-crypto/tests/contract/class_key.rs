//! Retention-class keys: a second key per subject, wrapped with its class in the AAD.

use privet_core::SubjectId;
use privet_crypto::{CryptoError, Keyring, SubjectKey};

use crate::Ctx;

const CLASS: &str = "legal_obligation";

#[test]
fn a_class_key_unwraps_to_a_key_that_decrypts() {
    let ring = Keyring::generate();
    let subject = SubjectId::new();
    let key = SubjectKey::generate();
    let ctx = Ctx {
        subject,
        ..Ctx::new()
    };
    let ct = key.encrypt_field(&ctx.aad(), b"order");
    let wrapped = ring.wrap_class_key(&subject, CLASS, &key).unwrap();
    assert_eq!(wrapped.bytes.len(), 1 + 12 + 32 + 16);
    let back = ring.unwrap_class_key(&subject, CLASS, &wrapped).unwrap();
    assert_eq!(
        back.decrypt_field(&ctx.aad(), &ct).unwrap().expose(),
        b"order"
    );
}

#[test]
fn a_class_key_is_bound_to_its_subject_and_class() {
    let ring = Keyring::generate();
    let subject = SubjectId::new();
    let wrapped = ring
        .wrap_class_key(&subject, CLASS, &SubjectKey::generate())
        .unwrap();
    for res in [
        ring.unwrap_class_key(&SubjectId::new(), CLASS, &wrapped),
        ring.unwrap_class_key(&subject, "contract", &wrapped),
        // Neither is it the subject's own key, nor the other way round.
        ring.unwrap_subject_key(&subject, &wrapped),
        Keyring::generate().unwrap_class_key(&subject, CLASS, &wrapped),
    ] {
        assert!(matches!(res, Err(CryptoError::Decrypt)));
    }
    let own = ring
        .wrap_subject_key(&subject, &SubjectKey::generate())
        .unwrap();
    assert!(matches!(
        ring.unwrap_class_key(&subject, CLASS, &own),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn a_class_key_survives_rotation_until_rewrapped() {
    let old = Keyring::generate();
    let subject = SubjectId::new();
    let wrapped = old
        .wrap_class_key(&subject, CLASS, &SubjectKey::generate())
        .unwrap();
    let new = old.rotated().unwrap();
    let key = new.unwrap_class_key(&subject, CLASS, &wrapped).unwrap();
    let rewrapped = new.wrap_class_key(&subject, CLASS, &key).unwrap();
    assert_eq!(rewrapped.version, new.current());
    assert!(new.unwrap_class_key(&subject, CLASS, &rewrapped).is_ok());
}
