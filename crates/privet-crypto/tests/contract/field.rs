//! Field encryption under a subject key.

use privet_core::SubjectId;
use privet_crypto::{CryptoError, SubjectKey};
use proptest::prelude::*;

use crate::Ctx;

#[test]
fn field_ciphertext_round_trips() {
    let key = SubjectKey::generate();
    let ctx = Ctx::new();
    let ct = key.encrypt_field(&ctx.aad(), b"jane@example.com");
    assert_eq!(ct[0], 0x01, "format byte");
    assert_eq!(ct.len(), 1 + 12 + 16 + 16);
    assert_eq!(
        key.decrypt_field(&ctx.aad(), &ct).unwrap().expose(),
        b"jane@example.com"
    );
}

#[test]
fn a_prepared_cipher_and_the_one_shot_methods_interoperate() {
    let key = SubjectKey::generate();
    let cipher = key.cipher();
    let ctx = Ctx::new();
    let ct = cipher.encrypt_field(&ctx.aad(), b"value");
    assert_eq!(
        key.decrypt_field(&ctx.aad(), &ct).unwrap().expose(),
        b"value"
    );
    let ct = key.try_encrypt_field(&ctx.aad(), b"other").unwrap();
    assert_eq!(
        cipher.decrypt_field(&ctx.aad(), &ct).unwrap().expose(),
        b"other"
    );
}

#[test]
fn decrypting_with_the_aad_of_another_subject_record_field_or_collection_fails() {
    let key = SubjectKey::generate();
    let ctx = Ctx::new();
    let ct = key.encrypt_field(&ctx.aad(), b"secret");
    let variants = [
        Ctx {
            subject: SubjectId::new(),
            ..ctx.clone()
        },
        Ctx {
            record: privet_core::RecordId::new(),
            ..ctx.clone()
        },
        Ctx {
            field: "phone".to_owned(),
            ..ctx.clone()
        },
        Ctx {
            collection: "orders".to_owned(),
            ..ctx.clone()
        },
    ];
    for other in &variants {
        assert!(matches!(
            key.decrypt_field(&other.aad(), &ct),
            Err(CryptoError::Decrypt)
        ));
    }
}

#[test]
fn aad_parts_cannot_shift_across_their_boundary() {
    let key = SubjectKey::generate();
    let ab_c = Ctx {
        collection: "ab".to_owned(),
        field: "c".to_owned(),
        ..Ctx::new()
    };
    let a_bc = Ctx {
        collection: "a".to_owned(),
        field: "bc".to_owned(),
        ..ab_c.clone()
    };
    assert_ne!(ab_c.aad().encode().unwrap(), a_bc.aad().encode().unwrap());
    let ct = key.encrypt_field(&ab_c.aad(), b"x");
    assert!(matches!(
        key.decrypt_field(&a_bc.aad(), &ct),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn decrypting_under_another_subject_key_fails() {
    let ctx = Ctx::new();
    let ct = SubjectKey::generate().encrypt_field(&ctx.aad(), b"secret");
    assert!(matches!(
        SubjectKey::generate().decrypt_field(&ctx.aad(), &ct),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn flipping_any_bit_after_the_format_byte_fails() {
    let key = SubjectKey::generate();
    let ctx = Ctx::new();
    let ct = key.encrypt_field(&ctx.aad(), b"a value of some length");
    for i in 1..ct.len() {
        for bit in [0x01, 0x80] {
            let mut bad = ct.clone();
            bad[i] ^= bit;
            assert!(
                matches!(
                    key.decrypt_field(&ctx.aad(), &bad),
                    Err(CryptoError::Decrypt)
                ),
                "byte {i}"
            );
        }
    }
}

#[test]
fn an_unknown_format_byte_gives_unsupported_format() {
    let key = SubjectKey::generate();
    let ctx = Ctx::new();
    let mut ct = key.encrypt_field(&ctx.aad(), b"v");
    for format in [0x00, 0x02, 0xff] {
        ct[0] = format;
        assert!(
            matches!(key.decrypt_field(&ctx.aad(), &ct), Err(CryptoError::UnsupportedFormat(f)) if f == format)
        );
    }
}

#[test]
fn truncated_ciphertexts_are_errors_not_panics() {
    let key = SubjectKey::generate();
    let ctx = Ctx::new();
    let ct = key.encrypt_field(&ctx.aad(), b"value");
    for len in 0..ct.len() {
        assert!(
            key.decrypt_field(&ctx.aad(), &ct[..len]).is_err(),
            "len {len}"
        );
    }
    assert!(matches!(
        key.decrypt_field(&ctx.aad(), &[]),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn decryption_errors_carry_no_detail() {
    let key = SubjectKey::generate();
    let ctx = Ctx::new();
    let err = key.decrypt_field(&ctx.aad(), &[1; 40]).unwrap_err();
    assert_eq!(err.to_string(), "decryption failed");
}

proptest! {
    #[test]
    fn decrypt_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let key = SubjectKey::generate();
        let ctx = Ctx::new();
        prop_assert!(key.decrypt_field(&ctx.aad(), &bytes).is_err());
    }

    #[test]
    fn decrypt_never_accepts_a_mutated_ciphertext(
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let key = SubjectKey::generate();
        let ctx = Ctx::new();
        let mut ct = key.encrypt_field(&ctx.aad(), &plaintext);
        let round_trip = key.decrypt_field(&ctx.aad(), &ct).unwrap();
        prop_assert_eq!(round_trip.expose(), &plaintext);
        let i = index.index(ct.len());
        ct[i] ^= flip;
        prop_assert!(key.decrypt_field(&ctx.aad(), &ct).is_err());
    }
}
