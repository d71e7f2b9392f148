//! API keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use privet_crypto::{Keyring, api_key_prefix, generate_api_key};
use proptest::prelude::*;

/// The random part of a key's text form.
fn secret(text: &str) -> &str {
    &text[3 + 8 + 1..]
}

#[test]
fn an_api_key_carries_256_random_bits_in_its_documented_shape() {
    let key = generate_api_key();
    let text = key.expose();
    assert!(text.starts_with("pk_"));
    assert_eq!(&text[11..12], "_");
    let raw = URL_SAFE_NO_PAD.decode(secret(text)).unwrap();
    assert_eq!(raw.len(), 32);
    assert_eq!(key.prefix().len(), 8);
    assert!(secret(text).starts_with(key.prefix()));
}

#[test]
fn the_prefix_parses_back_from_the_text_form() {
    let key = generate_api_key();
    assert_eq!(api_key_prefix(key.expose()), Some(key.prefix()));
    assert_eq!(api_key_prefix("pk_short"), None);
    assert_eq!(api_key_prefix(""), None);
}

#[test]
fn two_api_keys_differ() {
    let (a, b) = (generate_api_key(), generate_api_key());
    assert_ne!(a.expose(), b.expose());
    assert_ne!(secret(a.expose()), secret(b.expose()));
}

#[test]
fn api_key_hashes_are_deterministic_and_depend_on_the_master_key() {
    let key = generate_api_key();
    let ring = Keyring::generate();
    assert_eq!(
        ring.api_key_hash(key.expose()),
        ring.api_key_hash(key.expose())
    );
    assert_ne!(
        ring.api_key_hash(key.expose()),
        Keyring::generate().api_key_hash(key.expose())
    );
    assert_ne!(
        ring.api_key_hash(key.expose()),
        ring.api_key_hash(generate_api_key().expose())
    );
}

proptest! {
    #[test]
    fn api_key_prefix_never_panics(text in ".{0,80}") {
        let _ = api_key_prefix(&text);
    }

    #[test]
    fn api_key_prefix_never_panics_near_the_real_shape(text in "pk_[A-Za-z0-9_é-]{8}_[A-Za-z0-9_-]{40,44}") {
        let _ = api_key_prefix(&text);
    }
}
