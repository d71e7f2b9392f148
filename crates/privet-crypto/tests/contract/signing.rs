//! The signing-key file: its own 0600 file, apart from the master key.

use std::fs;
use std::path::Path;

use privet_crypto::{CryptoError, NoteSigner, SigningKeyFile};

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

#[test]
fn a_created_signing_key_file_has_mode_0600_and_loads_back_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.key");
    let signer = NoteSigner::generate("privet.example/audit").unwrap();
    let file = SigningKeyFile::create(&path, &signer).unwrap();
    assert_eq!(file.path(), path);
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let loaded = file.load().unwrap();
    assert_eq!(loaded.name(), "privet.example/audit");
    assert_eq!(loaded.public_key(), signer.public_key());
    let sig = loaded.sign(b"checkpoint");
    signer.public_key().verify(b"checkpoint", &sig).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("privet-signing-key v1 privet.example/audit ")),
        "{text}"
    );
}

#[test]
fn creating_a_signing_key_file_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.key");
    fs::write(&path, "precious").unwrap();
    let err = SigningKeyFile::create(&path, &NoteSigner::generate("a").unwrap()).unwrap_err();
    assert!(matches!(&err, CryptoError::KeyFileExists { path: p } if *p == path));
    assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
}

#[cfg(unix)]
#[test]
fn a_group_or_world_accessible_signing_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.key");
    SigningKeyFile::create(&path, &NoteSigner::generate("a").unwrap()).unwrap();
    for bad in [0o640, 0o604, 0o644, 0o660, 0o602] {
        chmod(&path, bad);
        let err = SigningKeyFile::new(&path).load().unwrap_err();
        assert!(
            matches!(&err, CryptoError::KeyFilePermissions { path: p, mode } if *p == path && *mode == bad),
            "{bad:o}: {err:?}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
    chmod(&path, 0o400);
    SigningKeyFile::new(&path).load().unwrap();
}

#[test]
fn a_missing_or_malformed_signing_key_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.key");
    let err = SigningKeyFile::new(&path).load().unwrap_err();
    assert!(matches!(&err, CryptoError::KeyFileMissing { path: p } if *p == path));

    // A master-key file is not a signing-key file.
    fs::write(&path, "v1 AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n").unwrap();
    #[cfg(unix)]
    chmod(&path, 0o600);
    let err = SigningKeyFile::new(&path).load().unwrap_err();
    assert!(
        matches!(&err, CryptoError::KeyFileMalformed { line: 1, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("AQEBAQEB"), "{err}");
}
