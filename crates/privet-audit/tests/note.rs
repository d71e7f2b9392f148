//! Signed notes, verifier keys and checkpoints, through the public API.
//!
//! The cross-checks use the example key and note of the reference implementation of
//! signed notes (golang.org/x/mod/sumdb/note) and the example checkpoint of the C2SP
//! tlog-checkpoint specification: Ed25519 is deterministic, so signing the same text with
//! the same seed must reproduce the published note byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use privet_audit::{
    Checkpoint, NoteError, VerifierKey, key_id, sign_note, verify_checkpoint, verify_note,
};
use privet_crypto::NoteSigner;
use proptest::prelude::*;

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// The reference signer key: `PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)`.
const PETER_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> NoteSigner {
    let bytes = STANDARD.decode(PETER_SKEY_B64).unwrap();
    assert_eq!(bytes[0], 0x01);
    NoteSigner::from_seed("PeterNeumann", &bytes[1..].try_into().unwrap()).unwrap()
}

fn peter_vkey() -> VerifierKey {
    VerifierKey::parse(PETER_VKEY).unwrap()
}

#[test]
fn the_reference_note_is_reproduced_byte_for_byte() {
    let signer = peter();
    let vk = VerifierKey::of(&signer);
    assert_eq!(vk.to_string(), PETER_VKEY);
    assert_eq!(vk.key_id(), 0xc74f20a3);
    assert_eq!(key_id("PeterNeumann", vk.public_key()), 0xc74f20a3);
    assert_eq!(vk, peter_vkey());
    let note = sign_note(TEXT, &signer).unwrap();
    assert_eq!(note, format!("{TEXT}\n{PETER_SIG}"));
}

#[test]
fn the_reference_note_verifies_and_other_keys_signatures_are_ignored() {
    let peter = peter_vkey();
    let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(verify_note(&both, &peter).unwrap(), TEXT);
    assert_eq!(verify_note(&both, &enoch).unwrap(), TEXT);
    let only_peter = format!("{TEXT}\n{PETER_SIG}");
    assert_eq!(
        verify_note(&only_peter, &enoch),
        Err(NoteError::NotSigned {
            key: "EnochRoot+af0cfe78".into()
        })
    );
    // Repeated signatures by the same key are fine when they verify.
    let twice = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}");
    assert_eq!(verify_note(&twice, &peter).unwrap(), TEXT);
}

#[test]
fn an_edited_text_or_a_damaged_signature_fails_verification() {
    let peter = peter_vkey();
    let edited = format!("{TEXT}\n{PETER_SIG}").replace("cryptography", "cryptographY");
    let bad = Err(NoteError::BadSignature {
        key: "PeterNeumann+c74f20a3".into(),
    });
    assert_eq!(verify_note(&edited, &peter), bad);
    let damaged = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(verify_note(&damaged, &peter), bad);
    // A valid signature from Peter next to a broken one from Peter: the note is refused.
    let mixed = format!(
        "{TEXT}\n{PETER_SIG}{}ABCD{}",
        &PETER_SIG[..60],
        &PETER_SIG[60..]
    );
    assert_eq!(verify_note(&mixed, &peter), bad);
}

#[test]
fn malformed_notes_are_refused() {
    let peter = peter_vkey();
    let cases = [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", PETER_SIG.trim_end_matches('\n')),
        format!("\u{1}{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{TEXT}\n{}", PETER_SIG.repeat(101)),
        format!("{TEXT}\n{}", PETER_SIG.replace('\u{2014}', "-")),
        format!("{TEXT}\n{}", PETER_SIG.replace("\u{2014} ", "\u{2014}  ")),
        format!("{TEXT}\n\u{2014} PeterNeumann\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann not-base64!\n"),
        format!("{TEXT}\n{PETER_SIG}").replace('\n', "\r\n"),
        "\n\n".to_owned(),
        String::new(),
    ];
    for note in cases {
        let got = verify_note(&note, &peter);
        assert!(
            matches!(got, Err(NoteError::Malformed(_))),
            "{note:?}: {got:?}"
        );
    }
    let huge = format!("{}\n{PETER_SIG}", "a\n".repeat(600_000));
    assert_eq!(
        verify_note(&huge, &peter),
        Err(NoteError::Malformed("the note is too large"))
    );
}

#[test]
fn sign_refuses_texts_that_are_not_note_texts() {
    let signer = NoteSigner::generate("a").unwrap();
    for text in ["", "abc", "a\tb\n", "a\r\n", "a\nb"] {
        assert!(
            matches!(sign_note(text, &signer), Err(NoteError::Malformed(_))),
            "{text:?}"
        );
    }
}

#[test]
fn texts_with_blank_lines_round_trip() {
    let signer = NoteSigner::generate("privet.example/receipts").unwrap();
    let vk = VerifierKey::of(&signer);
    for text in [
        "a\n",
        "a\n\nb\n",
        "a\n\n",
        "\n",
        "\u{2014} looks like a signature\n\nx\n",
    ] {
        let note = sign_note(text, &signer).unwrap();
        assert_eq!(verify_note(&note, &vk).unwrap(), text, "{text:?}");
    }
}

#[test]
fn a_key_with_the_same_name_but_another_secret_is_not_the_signer() {
    let real = NoteSigner::generate("privet.example/audit").unwrap();
    let forger = NoteSigner::generate("privet.example/audit").unwrap();
    let note = sign_note("hello\n", &forger).unwrap();
    let vk = VerifierKey::of(&real);
    assert!(matches!(
        verify_note(&note, &vk),
        Err(NoteError::NotSigned { .. })
    ));
    // Even with the real key id spliced in, the signature is the forger's.
    let forged = note.replace(
        &STANDARD.encode(VerifierKey::of(&forger).key_id().to_be_bytes())[..5],
        &STANDARD.encode(vk.key_id().to_be_bytes())[..5],
    );
    assert!(verify_note(&forged, &vk).is_err());
}

#[test]
fn every_mangling_of_a_verifier_key_is_refused() {
    assert!(VerifierKey::parse(PETER_VKEY).is_ok());
    let bytes = PETER_VKEY.as_bytes();
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if (i, j) != (0, bytes.len()) {
                let part = std::str::from_utf8(&bytes[i..j]).unwrap();
                assert!(VerifierKey::parse(part).is_err(), "{part:?}");
            }
        }
    }
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] += 1;
        let mangled = String::from_utf8(b).unwrap();
        assert!(VerifierKey::parse(&mangled).is_err(), "{mangled:?}");
    }
    for bad in [
        // A key of the wrong length, and an unknown algorithm, each with a matching id.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        " PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
    ] {
        assert!(VerifierKey::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn verifier_keys_round_trip_through_their_text() {
    for name in ["a", "privet.example/audit", "ünï"] {
        let vk = VerifierKey::of(&NoteSigner::generate(name).unwrap());
        let text = vk.to_string();
        assert!(text.starts_with(&format!("{name}+{:08x}+", vk.key_id())));
        assert_eq!(text.parse::<VerifierKey>().unwrap(), vk);
    }
}

// The example of c2sp.org/tlog-checkpoint.
const C2SP_BODY: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const C2SP_SIG: &str = "\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

#[test]
fn the_c2sp_example_checkpoint_parses_and_formats_back() {
    let c = Checkpoint::parse(C2SP_BODY).unwrap();
    assert_eq!(c.origin(), "example.com/behind-the-sofa");
    assert_eq!(c.size(), 20852163);
    assert_eq!(
        STANDARD.encode(c.root()),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    assert!(c.extensions().is_empty());
    assert_eq!(c.to_text(), C2SP_BODY);
    // Its signature is by a key we do not hold: well-formed, but not ours.
    let ours = VerifierKey::of(&NoteSigner::generate("example.com/behind-the-sofa").unwrap());
    assert!(matches!(
        verify_note(&format!("{C2SP_BODY}\n{C2SP_SIG}"), &ours),
        Err(NoteError::NotSigned { .. })
    ));
}

#[test]
fn checkpoints_with_extensions_round_trip() {
    let c = Checkpoint::new("privet.example/audit", 0, privet_audit::EMPTY_ROOT)
        .unwrap()
        .with_extension("time 2025-01-01T00:00:00Z")
        .unwrap();
    let text = c.to_text();
    assert_eq!(
        text,
        "privet.example/audit\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\ntime 2025-01-01T00:00:00Z\n"
    );
    assert_eq!(Checkpoint::parse(&text).unwrap(), c);
    assert!(c.clone().with_extension("").is_err());
    assert!(c.with_extension("a\nb").is_err());
    assert!(Checkpoint::new("", 1, [0; 32]).is_err());
    assert!(Checkpoint::new("a\rb", 1, [0; 32]).is_err());
}

#[test]
fn malformed_checkpoints_are_refused() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let cases = [
        String::new(),
        "o\n5\n".to_owned(),
        format!("o\n5\n{root}"),
        format!("\n5\n{root}\n"),
        format!("o\n05\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n+5\n{root}\n"),
        format!("o\n 5\n{root}\n"),
        format!("o\n5 \n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
        "o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2==\n".to_owned(),
        format!("o\n5\n{}\n", STANDARD.encode([1u8; 31])),
        format!("o\n5\n{root}\n\n"),
        format!("o\n5\n{root}\next\n\n"),
        format!("o\r\n5\n{root}\n"),
    ];
    for text in cases {
        let got = Checkpoint::parse(&text);
        assert!(
            matches!(got, Err(NoteError::MalformedCheckpoint(_))),
            "{text:?}: {got:?}"
        );
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
            .unwrap()
            .size(),
        u64::MAX
    );
}

#[test]
fn signed_checkpoints_verify_only_for_their_key_origin_and_text() {
    let signer = NoteSigner::generate("privet.example/audit").unwrap();
    let vk = VerifierKey::of(&signer);
    let c = Checkpoint::new("privet.example/audit", 42, [9; 32]).unwrap();
    let note = c.sign(&signer).unwrap();
    assert!(note.starts_with(&c.to_text()));
    assert_eq!(
        verify_checkpoint(&note, &vk, "privet.example/audit").unwrap(),
        c
    );
    assert_eq!(
        verify_checkpoint(&note, &vk, "privet.example/other"),
        Err(NoteError::WrongOrigin {
            expected: "privet.example/other".into(),
            found: "privet.example/audit".into()
        })
    );
    let grown = note.replacen("\n42\n", "\n43\n", 1);
    assert!(matches!(
        verify_checkpoint(&grown, &vk, "privet.example/audit"),
        Err(NoteError::BadSignature { .. })
    ));
    let other = NoteSigner::generate("privet.example/audit").unwrap();
    assert!(matches!(
        verify_checkpoint(&c.sign(&other).unwrap(), &vk, "privet.example/audit"),
        Err(NoteError::NotSigned { .. })
    ));
    // A signed note that is not a checkpoint.
    let not_a_checkpoint = sign_note("hello\n", &signer).unwrap();
    assert!(matches!(
        verify_checkpoint(&not_a_checkpoint, &vk, "privet.example/audit"),
        Err(NoteError::MalformedCheckpoint(_))
    ));
}

proptest! {
    #[test]
    fn parsers_never_panic(text in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let vk = peter_vkey();
        let _ = verify_note(&text, &vk);
        let _ = Checkpoint::parse(&text);
        let _ = VerifierKey::parse(&text);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = verify_note(&lossy, &vk);
        let _ = Checkpoint::parse(&lossy);
        let _ = VerifierKey::parse(&lossy);
    }

    #[test]
    fn near_miss_notes_never_panic(sig in "[A-Za-z0-9+/=]{0,100}", name in "[A-Za-z+ ]{0,14}") {
        let vk = peter_vkey();
        let _ = verify_note(&format!("{TEXT}\n\u{2014} {name} {sig}\n"), &vk);
        let _ = VerifierKey::parse(&format!("{name}+c74f20a3+{sig}"));
    }

    #[test]
    fn checkpoints_round_trip(origin in "[a-z./0-9-]{1,30}", size in any::<u64>(), root in any::<[u8; 32]>(), ext in proptest::collection::vec("[ -~]{1,20}", 0..3)) {
        let mut c = Checkpoint::new(&origin, size, root).unwrap();
        for e in &ext {
            c = c.with_extension(e).unwrap();
        }
        prop_assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
    }
}

/// A checkpoint of the 8 reference leaves signed with the seed `[0x11; 32]`. This exact note
/// and key were also verified outside Rust (Python `cryptography` for Ed25519, `hashlib` for
/// the key id and an MTH of the same leaves), so a change here breaks other verifiers.
#[test]
fn a_checkpoint_signs_to_the_independently_checked_golden_note() {
    let signer = NoteSigner::from_seed("privet.example/audit", &[0x11; 32]).unwrap();
    let vk = VerifierKey::of(&signer);
    assert_eq!(
        vk.to_string(),
        "privet.example/audit+28d18983+AdBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3"
    );
    let root: [u8; 32] = STANDARD
        .decode("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
        .unwrap()
        .try_into()
        .unwrap();
    let note = Checkpoint::new("privet.example/audit", 8, root)
        .unwrap()
        .sign(&signer)
        .unwrap();
    let golden = "privet.example/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\
                  \u{2014} privet.example/audit KNGJgzlxxvU8BAK0UdLr7zz/h/PDkS3iHCKmMnFBuxjz6j+c5EUXwjwwFRJp1j9pDtRVjBO+FgTitcr2WP3yikPc/AQ=\n";
    assert_eq!(note, golden);
    let c = verify_checkpoint(golden, &vk, "privet.example/audit").unwrap();
    assert_eq!(c.size(), 8);
}
