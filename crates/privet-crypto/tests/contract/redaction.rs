//! Nothing that holds key material prints it.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use privet_crypto::{KeyVersion, Keyring, MasterKey, SubjectKey, generate_api_key};

use crate::hex;

const KEY: [u8; 32] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
];

fn assert_absent(shown: &str, key: &[u8]) {
    let shown_lower = shown.to_lowercase();
    assert!(!shown_lower.contains(&hex(&key[..8])), "hex in {shown}");
    assert!(
        !shown.contains(&STANDARD.encode(key)[..12]),
        "base64 in {shown}"
    );
    assert!(
        !shown.contains(&URL_SAFE_NO_PAD.encode(key)[..12]),
        "base64url in {shown}"
    );
    let decimal = format!("{:?}", &key[..4]).trim_end_matches(']').to_owned();
    assert!(!shown.contains(&decimal), "byte list in {shown}");
}

#[test]
fn keyring_debug_prints_versions_but_no_key_bytes() {
    let ring = Keyring::from_master_keys(BTreeMap::from([(
        KeyVersion(1),
        MasterKey::from_bytes(&KEY),
    )]))
    .unwrap();
    let shown = format!("{ring:?} {ring:#?}");
    assert_absent(&shown, &KEY);
    assert_eq!(
        format!("{ring:?}"),
        "Keyring { current: v1, versions: [v1], keys: [redacted] }"
    );
    assert_absent(&format!("{:?}", MasterKey::from_bytes(&KEY)), &KEY);
}

#[test]
fn subject_key_debug_prints_no_key_bytes() {
    let key = SubjectKey::generate();
    assert_eq!(format!("{key:?}"), "SubjectKey([redacted])");
    assert_eq!(format!("{:?}", key.cipher()), "FieldCipher([redacted])");
}

#[test]
fn api_key_debug_prints_the_public_prefix_only() {
    let key = generate_api_key();
    let shown = format!("{key:?} {key:#?}");
    let secret = &key.expose()[12..];
    assert!(!shown.contains(secret));
    assert!(
        !shown.contains(&secret[8..20]),
        "no part beyond the public prefix"
    );
    assert!(shown.contains(key.prefix()));
    assert!(shown.contains("[redacted]"));
}
