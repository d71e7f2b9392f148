//! Keyring: wrapping subject keys, key-check values, blind indexes, API-key hashes.

use std::collections::BTreeMap;

use privet_core::SubjectId;
use privet_crypto::{CryptoError, KeyVersion, Keyring, MasterKey, SubjectKey, WrappedKey};
use proptest::prelude::*;

use crate::Ctx;

fn ring(bytes: &[(u32, u8)]) -> Keyring {
    let keys: BTreeMap<_, _> = bytes
        .iter()
        .map(|&(v, b)| (KeyVersion(v), MasterKey::from_bytes(&[b; 32])))
        .collect();
    Keyring::from_master_keys(keys).unwrap()
}

#[test]
fn a_generated_keyring_holds_one_version_v1() {
    let ring = Keyring::generate();
    assert_eq!(ring.current(), KeyVersion(1));
    assert_eq!(ring.versions(), [KeyVersion(1)]);
}

#[test]
fn an_empty_keyring_is_refused() {
    assert!(matches!(
        Keyring::from_master_keys(BTreeMap::new()),
        Err(CryptoError::NoMasterKey)
    ));
}

#[test]
fn wrapped_subject_keys_unwrap_to_a_key_that_decrypts() {
    let ring = Keyring::generate();
    let subject = SubjectId::new();
    let key = SubjectKey::generate();
    let ctx = Ctx {
        subject,
        ..Ctx::new()
    };
    let ct = key.encrypt_field(&ctx.aad(), b"value");
    let wrapped = ring.wrap_subject_key(&subject, &key).unwrap();
    assert_eq!(wrapped.version, KeyVersion(1));
    assert_eq!(wrapped.bytes.len(), 1 + 12 + 32 + 16);
    assert_eq!(wrapped.bytes[0], 0x01);
    let unwrapped = ring.unwrap_subject_key(&subject, &wrapped).unwrap();
    assert_eq!(
        unwrapped.decrypt_field(&ctx.aad(), &ct).unwrap().expose(),
        b"value"
    );
}

#[test]
fn unwrapping_under_a_different_subject_id_fails() {
    let ring = Keyring::generate();
    let wrapped = ring
        .wrap_subject_key(&SubjectId::new(), &SubjectKey::generate())
        .unwrap();
    assert!(matches!(
        ring.unwrap_subject_key(&SubjectId::new(), &wrapped),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn a_keyring_from_another_key_cannot_unwrap() {
    let subject = SubjectId::new();
    let wrapped = Keyring::generate()
        .wrap_subject_key(&subject, &SubjectKey::generate())
        .unwrap();
    assert!(matches!(
        Keyring::generate().unwrap_subject_key(&subject, &wrapped),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn a_wrapped_key_relabelled_with_another_version_fails() {
    let ring = ring(&[(1, 1), (2, 2)]);
    let subject = SubjectId::new();
    let mut wrapped = ring
        .wrap_subject_key(&subject, &SubjectKey::generate())
        .unwrap();
    assert_eq!(wrapped.version, KeyVersion(2));
    wrapped.version = KeyVersion(1);
    assert!(matches!(
        ring.unwrap_subject_key(&subject, &wrapped),
        Err(CryptoError::Decrypt)
    ));
    wrapped.version = KeyVersion(3);
    assert!(matches!(
        ring.unwrap_subject_key(&subject, &wrapped),
        Err(CryptoError::UnknownKeyVersion(KeyVersion(3)))
    ));
}

#[test]
fn keys_wrapped_before_a_rotation_still_unwrap_after_it() {
    let old = Keyring::generate();
    let subject = SubjectId::new();
    let wrapped = old
        .wrap_subject_key(&subject, &SubjectKey::generate())
        .unwrap();
    let new = old.rotated().unwrap();
    assert_eq!(new.current(), KeyVersion(2));
    assert_eq!(new.versions(), [KeyVersion(1), KeyVersion(2)]);
    let key = new.unwrap_subject_key(&subject, &wrapped).unwrap();
    let rewrapped = new.wrap_subject_key(&subject, &key).unwrap();
    assert_eq!(rewrapped.version, KeyVersion(2));
    assert!(matches!(
        old.unwrap_subject_key(&subject, &rewrapped),
        Err(CryptoError::UnknownKeyVersion(_))
    ));
    assert_eq!(
        new.api_key_hash("pk_x"),
        old.api_key_hash("pk_x"),
        "API keys survive rotation"
    );
}

#[test]
fn the_key_check_value_verifies_with_the_right_key_and_gives_wrong_key_with_another() {
    let ring = ring(&[(1, 1)]);
    let kcv = ring.key_check_value(KeyVersion(1)).unwrap();
    assert_eq!(
        kcv,
        ring.key_check_value(KeyVersion(1)).unwrap(),
        "deterministic"
    );
    ring.verify_key_check(KeyVersion(1), &kcv).unwrap();
    let same_key = crate::keyring::ring(&[(1, 1)]);
    same_key.verify_key_check(KeyVersion(1), &kcv).unwrap();
    let other = crate::keyring::ring(&[(1, 2)]);
    let err = other.verify_key_check(KeyVersion(1), &kcv).unwrap_err();
    assert!(matches!(
        err,
        CryptoError::WrongKey {
            version: KeyVersion(1)
        }
    ));
    assert_eq!(
        err.to_string(),
        "master key v1 does not match this vault's key-check value: wrong key file?"
    );
    assert!(matches!(
        ring.verify_key_check(KeyVersion(1), &kcv[..31]),
        Err(CryptoError::WrongKey { .. })
    ));
    assert!(matches!(
        ring.key_check_value(KeyVersion(9)),
        Err(CryptoError::UnknownKeyVersion(KeyVersion(9)))
    ));
}

#[test]
fn key_check_values_differ_per_version() {
    let ring = ring(&[(1, 1), (2, 2)]);
    assert_ne!(
        ring.key_check_value(KeyVersion(1)).unwrap(),
        ring.key_check_value(KeyVersion(2)).unwrap()
    );
}

#[test]
fn blind_indexes_are_deterministic_16_bytes() {
    let ring = Keyring::generate();
    let a = ring.blind_index("customers", "email", b"jane@example.com");
    assert_eq!(a.len(), 16);
    assert_eq!(
        a,
        ring.blind_index("customers", "email", b"jane@example.com")
    );
    assert_ne!(
        a,
        ring.blind_index("customers", "email", b"john@example.com")
    );
}

#[test]
fn blind_indexes_differ_per_field_collection_and_key() {
    let ring = ring(&[(1, 1)]);
    let a = ring.blind_index("customers", "email", b"x");
    assert_ne!(a, ring.blind_index("customers", "backup_email", b"x"));
    assert_ne!(a, ring.blind_index("leads", "email", b"x"));
    assert_ne!(
        a,
        crate::keyring::ring(&[(1, 2)]).blind_index("customers", "email", b"x")
    );
    assert_eq!(
        a,
        crate::keyring::ring(&[(1, 1)]).blind_index("customers", "email", b"x"),
        "same key, same index"
    );
    assert_ne!(
        ring.blind_index("ab", "c", b"x"),
        ring.blind_index("a", "bc", b"x")
    );
}

#[test]
fn blind_indexes_are_keyed_from_the_current_version() {
    let v1 = ring(&[(1, 1)]);
    let v1_v2 = ring(&[(1, 1), (2, 2)]);
    let v2_only = ring(&[(2, 2)]);
    assert_ne!(
        v1.blind_index("c", "f", b"x"),
        v1_v2.blind_index("c", "f", b"x")
    );
    assert_eq!(
        v2_only.blind_index("c", "f", b"x"),
        v1_v2.blind_index("c", "f", b"x")
    );
}

#[test]
fn blind_indexes_agree_across_threads() {
    let ring = std::sync::Arc::new(Keyring::generate());
    let want = ring.blind_index("c", "f", b"x");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| ring.blind_index("c", "f", b"x"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().iter().all(|got| *got == want));
    }
}

#[test]
fn api_key_hashes_are_deterministic_and_key_dependent() {
    let ring = ring(&[(1, 1)]);
    let h = ring.api_key_hash("pk_abcdefgh_secret");
    assert_eq!(h, ring.api_key_hash("pk_abcdefgh_secret"));
    assert_ne!(h, ring.api_key_hash("pk_abcdefgh_secreT"));
    assert_ne!(
        h,
        crate::keyring::ring(&[(1, 2)]).api_key_hash("pk_abcdefgh_secret")
    );
    assert!(ring.api_key_matches("pk_abcdefgh_secret", &h));
    assert!(!ring.api_key_matches("pk_abcdefgh_secreT", &h));
}

proptest! {
    #[test]
    fn unwrap_never_panics_on_random_wrapped_keys(
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
        version in 0u32..4,
    ) {
        let ring = Keyring::generate();
        let wrapped = WrappedKey { version: KeyVersion(version), bytes };
        prop_assert!(ring.unwrap_subject_key(&SubjectId::new(), &wrapped).is_err());
    }
}

#[test]
fn blind_indexes_under_an_old_version_match_what_that_version_wrote() {
    let old = ring(&[(1, 1)]);
    let new = ring(&[(1, 1), (2, 2)]);
    let term = b"jane@example.com";
    let written_before = old.blind_index("customers", "email", term);
    assert_eq!(
        new.blind_index_under(KeyVersion(1), "customers", "email", term)
            .unwrap(),
        written_before
    );
    assert_ne!(new.blind_index("customers", "email", term), written_before);
    assert_eq!(
        new.blind_index_under(KeyVersion(2), "customers", "email", term)
            .unwrap(),
        new.blind_index("customers", "email", term)
    );
    assert!(matches!(
        new.blind_index_under(KeyVersion(3), "customers", "email", term),
        Err(CryptoError::UnknownKeyVersion(KeyVersion(3)))
    ));
}

#[test]
fn a_keyring_without_a_version_keeps_the_others_and_never_empties() {
    let three = ring(&[(1, 1), (2, 2), (3, 3)]);
    let two = three.without(KeyVersion(2)).unwrap();
    assert_eq!(two.versions(), [KeyVersion(1), KeyVersion(3)]);
    assert_eq!(two.current(), KeyVersion(3));
    assert_eq!(two.lowest(), KeyVersion(1));
    // API-key hashes are keyed from the lowest version, which stayed.
    assert_eq!(three.api_key_hash("k"), two.api_key_hash("k"));
    assert!(three.without(KeyVersion(4)).is_none());
    assert!(ring(&[(1, 1)]).without(KeyVersion(1)).is_none());
    // Dropping the lowest changes the API-key secret: what `keys retire` refuses.
    let upper = three.without(KeyVersion(1)).unwrap();
    assert_ne!(three.api_key_hash("k"), upper.api_key_hash("k"));
}
