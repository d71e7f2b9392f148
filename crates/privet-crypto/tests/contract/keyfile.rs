//! The key file provider.

use std::fs;
use std::path::Path;

use privet_core::SubjectId;
use privet_crypto::{CryptoError, KeyFile, KeyProvider, KeyVersion, Keyring, SubjectKey};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes `text` as a key file with mode 0600.
fn write_key_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    #[cfg(unix)]
    chmod(path, 0o600);
}

const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

#[test]
fn a_created_key_file_has_mode_0600_and_loads_back_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let ring = Keyring::generate();
    let file = KeyFile::create(&path, &ring).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    assert_eq!(file.path(), path);
    let loaded = file.load().unwrap();
    assert_eq!(loaded.versions(), ring.versions());
    let kcv = ring.key_check_value(KeyVersion(1)).unwrap();
    loaded.verify_key_check(KeyVersion(1), &kcv).unwrap();
    let subject = SubjectId::new();
    let wrapped = ring
        .wrap_subject_key(&subject, &SubjectKey::generate())
        .unwrap();
    loaded.unwrap_subject_key(&subject, &wrapped).unwrap();
}

#[test]
fn create_refuses_to_overwrite_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    fs::write(&path, "precious").unwrap();
    let err = KeyFile::create(&path, &Keyring::generate()).unwrap_err();
    assert!(matches!(&err, CryptoError::KeyFileExists { path: p } if *p == path));
    assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
}

#[cfg(unix)]
#[test]
fn a_group_or_world_readable_key_file_is_refused_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    KeyFile::create(&path, &Keyring::generate()).unwrap();
    for bad in [0o640, 0o604, 0o660, 0o606, 0o644, 0o610] {
        chmod(&path, bad);
        let err = KeyFile::new(&path).load().unwrap_err();
        assert!(
            matches!(&err, CryptoError::KeyFilePermissions { path: p, mode } if *p == path && *mode == bad),
            "{bad:o}: {err:?}"
        );
        let shown = err.to_string();
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        assert!(
            shown.contains(&format!("chmod 600 {}", path.display())),
            "{shown}"
        );
    }
    for good in [0o600, 0o400] {
        chmod(&path, good);
        KeyFile::new(&path).load().unwrap();
    }
}

#[test]
fn a_missing_key_file_is_reported_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.key");
    let err = KeyFile::new(&path).load().unwrap_err();
    assert!(matches!(&err, CryptoError::KeyFileMissing { path: p } if *p == path));
}

#[test]
fn a_malformed_line_is_reported_by_number_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let secretish = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    let cases = [
        (
            format!("# keys\n\nv1 {K1}\nv2 {secretish}\n"),
            4,
            "key is not 32 bytes (256 bits)",
        ),
        (
            format!("v1 {K1}\n{secretish}\n"),
            2,
            "expected `v<N> <base64 key>`",
        ),
        (
            format!("v1 {K1} {secretish}\n"),
            1,
            "expected `v<N> <base64 key>`",
        ),
        (
            format!("x1 {secretish}\n"),
            1,
            "version is not of the form v<N>",
        ),
        (
            format!("v1 {secretish}!!!!\n"),
            1,
            "key is not valid base64",
        ),
        (
            format!("v1 {K1}\nv1 {K2}\n"),
            2,
            "v1 appears more than once",
        ),
        ("# only a comment\n".to_owned(), 0, "the file holds no key"),
    ];
    for (text, line, reason) in cases {
        write_key_file(&path, &text);
        let err = KeyFile::new(&path).load().unwrap_err();
        let shown = err.to_string();
        assert!(
            !shown.contains(secretish) && !shown.contains(K1) && !shown.contains(K2),
            "{shown}"
        );
        match err {
            CryptoError::KeyFileMalformed {
                path: p,
                line: l,
                reason: r,
            } => {
                assert_eq!((p, l, r.as_str()), (path.clone(), line, reason), "{text:?}");
            }
            other => panic!("expected KeyFileMalformed, got {other:?}"),
        }
    }
}

#[test]
fn invalid_utf8_is_malformed_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    fs::write(&path, b"v1 \xff\xfe\n").unwrap();
    #[cfg(unix)]
    chmod(&path, 0o600);
    let err = KeyFile::new(&path).load().unwrap_err();
    assert!(matches!(err, CryptoError::KeyFileMalformed { line: 1, .. }));
}

#[test]
fn with_several_versions_the_highest_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    write_key_file(&path, &format!("# rotated\nv2 {K2}\r\n  v1 {K1}  \n\n"));
    let ring = KeyFile::new(&path).load().unwrap();
    assert_eq!(ring.current(), KeyVersion(2));
    assert_eq!(ring.versions(), [KeyVersion(1), KeyVersion(2)]);
    let subject = SubjectId::new();
    assert_eq!(
        ring.wrap_subject_key(&subject, &SubjectKey::generate())
            .unwrap()
            .version,
        KeyVersion(2)
    );
}

#[test]
fn replace_writes_a_rotated_keyring_and_refuses_to_lose_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let ring = Keyring::generate();
    let file = KeyFile::create(&path, &ring).unwrap();
    let rotated = ring.rotated().unwrap();
    file.replace(&rotated).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let loaded = file.load().unwrap();
    assert_eq!(loaded.current(), KeyVersion(2));
    loaded
        .verify_key_check(KeyVersion(1), &ring.key_check_value(KeyVersion(1)).unwrap())
        .unwrap();
    loaded
        .verify_key_check(
            KeyVersion(2),
            &rotated.key_check_value(KeyVersion(2)).unwrap(),
        )
        .unwrap();

    let err = file.replace(&Keyring::generate()).unwrap_err();
    assert!(matches!(
        err,
        CryptoError::KeyFileWouldLoseKey {
            version: KeyVersion(1),
            ..
        }
    ));
    assert_eq!(
        file.load().unwrap().current(),
        KeyVersion(2),
        "nothing written"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no staging file left behind"
    );
}

#[test]
fn describe_names_the_path() {
    assert_eq!(
        KeyFile::new("/etc/privet/master.key").describe(),
        "key file /etc/privet/master.key"
    );
}

#[test]
fn retire_drops_one_version_and_refuses_to_lose_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let ring = Keyring::generate().rotated().unwrap().rotated().unwrap();
    let file = KeyFile::create(&path, &ring).unwrap();
    // A staging file left behind by a crash does not block the next write.
    fs::write(dir.path().join("master.key.new"), "half").unwrap();
    let without_v2 = ring.without(KeyVersion(2)).unwrap();
    let err = file.retire(&without_v2, KeyVersion(1)).unwrap_err();
    assert!(matches!(
        err,
        CryptoError::KeyFileWouldLoseKey {
            version: KeyVersion(2),
            ..
        }
    ));
    file.retire(&without_v2, KeyVersion(2)).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        file.load().unwrap().versions(),
        [KeyVersion(1), KeyVersion(3)]
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}
