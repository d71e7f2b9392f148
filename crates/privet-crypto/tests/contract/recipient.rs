//! Sealed notification recipients: an address in the outbox opens only for its own message,
//! under a key of the keyring that sealed it.

use privet_core::MessageId;
use privet_crypto::{CryptoError, Keyring};

const ADDRESS: &str = "jane.doe@example.com";

#[test]
fn a_sealed_recipient_opens_for_its_message_and_hides_the_address() {
    let ring = Keyring::generate();
    let message = MessageId::new();
    let sealed = ring.seal_recipient(&message, ADDRESS).unwrap();
    assert!(
        !sealed
            .windows(ADDRESS.len())
            .any(|w| w == ADDRESS.as_bytes())
    );
    // version (4) || format (1) || nonce (12) || ciphertext || tag (16)
    assert_eq!(sealed.len(), 4 + 1 + 12 + ADDRESS.len() + 16);
    assert_eq!(
        ring.open_recipient(&message, &sealed).unwrap().expose(),
        ADDRESS
    );
    // Random nonces: sealing twice gives two ciphertexts.
    assert_ne!(sealed, ring.seal_recipient(&message, ADDRESS).unwrap());
}

#[test]
fn a_sealed_recipient_moved_to_another_message_or_keyring_fails_to_open() {
    let ring = Keyring::generate();
    let message = MessageId::new();
    let sealed = ring.seal_recipient(&message, ADDRESS).unwrap();
    for res in [
        ring.open_recipient(&MessageId::new(), &sealed),
        Keyring::generate().open_recipient(&message, &sealed),
    ] {
        assert!(matches!(res, Err(CryptoError::Decrypt)));
    }
    for i in 4..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 1;
        assert!(ring.open_recipient(&message, &bad).is_err(), "byte {i}");
    }
    for n in 0..sealed.len() {
        assert!(ring.open_recipient(&message, &sealed[..n]).is_err());
    }
}

#[test]
fn a_sealed_recipient_names_its_key_version_and_survives_rotation() {
    let old = Keyring::generate();
    let message = MessageId::new();
    let sealed = old.seal_recipient(&message, ADDRESS).unwrap();
    let new = old.rotated().unwrap();
    assert_eq!(
        new.open_recipient(&message, &sealed).unwrap().expose(),
        ADDRESS
    );
    let under_new = new.seal_recipient(&message, ADDRESS).unwrap();
    assert_eq!(under_new[..4], new.current().0.to_be_bytes());
    assert_eq!(Keyring::recipient_key_version(&sealed), Some(old.current()));
    assert_eq!(
        Keyring::recipient_key_version(&under_new),
        Some(new.current())
    );
    assert_eq!(Keyring::recipient_key_version(&sealed[..3]), None);
    assert!(matches!(
        old.open_recipient(&message, &under_new),
        Err(CryptoError::UnknownKeyVersion(v)) if v == new.current()
    ));
}
