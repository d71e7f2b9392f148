//! The key file: the default master-key source, created by `privet init`.
//!
//! Format (UTF-8 text): `#` comment lines and blank lines are ignored; every other line is
//! `v<N> <standard base64 of 32 bytes>`. The highest version is current. On Unix the file
//! must not be accessible to group or others (`mode & 0o077 == 0`), or loading is refused.

use std::fs;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{KeyProvider, decode_key, encode_key};
use crate::error::CryptoError;
use crate::keyring::Keyring;
use crate::master::{KeyVersion, MasterKey};
use crate::secret_file::{self, io_error, malformed, read_private, sync_parent};

const HEADER: &str = "\
# Privet master keys. Keep this file secret: mode 0600, owned by the user running privet,
# and never stored beside backups of the data. One line per version: `v<N> <base64 key>`;
# the highest version is current. Losing a version makes data wrapped under it unreadable.
";

/// Master keys read from a file (see the module docs for the format).
#[derive(Clone, Debug)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    /// A provider reading `path`; nothing is touched until [`KeyProvider::load`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KeyFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new key file holding every version of `keyring`, with mode 0600, and
    /// fsyncs it and its directory. Refuses with [`CryptoError::KeyFileExists`] if anything
    /// is already at `path`.
    pub fn create(path: impl Into<PathBuf>, keyring: &Keyring) -> Result<KeyFile, CryptoError> {
        let path = path.into();
        write_new(&path, keyring)?;
        sync_parent(&path)?;
        Ok(KeyFile { path })
    }

    /// Atomically replaces the file with `keyring` (after a rotation), refusing with
    /// [`CryptoError::KeyFileWouldLoseKey`] unless `keyring` holds every version the file
    /// holds, with the same key bytes. Writes `<path>.new`, fsyncs it, renames it over.
    pub fn replace(&self, keyring: &Keyring) -> Result<(), CryptoError> {
        self.replace_except(keyring, None)
    }

    /// Atomically replaces the file with `keyring`, which must hold every version the file
    /// holds except `retired` (with the same key bytes): how a version is retired, after
    /// the caller made sure nothing still uses it.
    pub fn retire(&self, keyring: &Keyring, retired: KeyVersion) -> Result<(), CryptoError> {
        self.replace_except(keyring, Some(retired))
    }

    fn replace_except(
        &self,
        keyring: &Keyring,
        retired: Option<KeyVersion>,
    ) -> Result<(), CryptoError> {
        let existing = self.load()?;
        for version in existing.versions() {
            if Some(version) == retired {
                continue;
            }
            let check = existing.key_check_value(version)?;
            if keyring.verify_key_check(version, &check).is_err() {
                return Err(CryptoError::KeyFileWouldLoseKey {
                    path: self.path.clone(),
                    version,
                });
            }
        }
        let mut staged = self.path.clone().into_os_string();
        staged.push(".new");
        let staged = PathBuf::from(staged);
        // A staging file left by a crash mid-write holds at most what is written below (the
        // file itself was never replaced by it), so it is dropped rather than refused.
        match fs::remove_file(&staged) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&staged, e)),
        }
        write_new(&staged, keyring)?;
        fs::rename(&staged, &self.path).map_err(|source| io_error(&self.path, source))?;
        sync_parent(&self.path)
    }
}

impl KeyProvider for KeyFile {
    fn load(&self) -> Result<Keyring, CryptoError> {
        let contents = read_private(&self.path)?;
        Keyring::from_master_keys(parse(&self.path, &contents)?)
    }

    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }
}

/// Parses the key lines. Reasons are fixed words: a line's text never reaches an error.
fn parse(
    path: &Path,
    contents: &[u8],
) -> Result<std::collections::BTreeMap<KeyVersion, MasterKey>, CryptoError> {
    let mut keys = std::collections::BTreeMap::new();
    for (index, raw) in contents.split(|b| *b == b'\n').enumerate() {
        let line_no = index + 1;
        let line =
            std::str::from_utf8(raw).map_err(|_| malformed(path, line_no, "not valid UTF-8"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_ascii_whitespace();
        let (Some(version), Some(key), None) = (words.next(), words.next(), words.next()) else {
            return Err(malformed(path, line_no, "expected `v<N> <base64 key>`"));
        };
        let version: KeyVersion = version
            .parse()
            .map_err(|_| malformed(path, line_no, "version is not of the form v<N>"))?;
        let key = decode_key(key).map_err(|reason| malformed(path, line_no, reason))?;
        if keys.insert(version, key).is_some() {
            return Err(malformed(
                path,
                line_no,
                format!("{version} appears more than once"),
            ));
        }
    }
    if keys.is_empty() {
        return Err(malformed(path, 0, "the file holds no key"));
    }
    Ok(keys)
}

/// The file's text: the header, then one line per version, ascending.
fn render(keyring: &Keyring) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(
        HEADER.len() + 64 * keyring.versions().len(),
    ));
    out.push_str(HEADER);
    for (version, key) in keyring.master_keys() {
        out.push_str(&version.to_string());
        out.push(' ');
        out.push_str(&encode_key(key));
        out.push('\n');
    }
    out
}

/// Creates `path` (never overwriting), mode 0600, with the keyring's text, fsynced.
fn write_new(path: &Path, keyring: &Keyring) -> Result<(), CryptoError> {
    let contents = render(keyring);
    secret_file::write_new(path, contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn parsing_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(Path::new("k"), &bytes);
        }

        #[test]
        fn parsing_never_panics_on_near_miss_lines(text in "(#.*|v[0-9]{0,11} [A-Za-z0-9+/=]{0,50}|\\s*)(\n(#.*|v[0-9]{0,3}\t[A-Za-z0-9+/=]{40,46}))*") {
            let _ = parse(Path::new("k"), text.as_bytes());
        }
    }

    #[test]
    fn rendered_files_parse_back() {
        let ring = Keyring::generate().rotated().unwrap();
        let text = render(&ring);
        assert!(text.starts_with("# Privet master keys."));
        let keys = parse(Path::new("k"), text.as_bytes()).unwrap();
        assert_eq!(keys.keys().copied().collect::<Vec<_>>(), ring.versions());
    }
}
