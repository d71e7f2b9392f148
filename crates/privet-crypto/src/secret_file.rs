//! Files that hold secrets (the master-key file, the signing-key file): created with mode
//! 0600 and never overwritten, read only when nobody but the owner can access them.
//!
//! Every error names the path in fixed words; the content of a file never reaches one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::CryptoError;

/// A key file is a few lines; anything bigger is not one, and is not read into memory.
const MAX_FILE_LEN: u64 = 64 * 1024;

pub(crate) fn io_error(path: &Path, source: io::Error) -> CryptoError {
    CryptoError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn malformed(path: &Path, line: usize, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFileMalformed {
        path: path.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// Opens the file, checks its kind and permissions on the open handle (no race with a
/// swap between check and read), then reads it into zeroizing memory.
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let file = File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => CryptoError::KeyFileMissing {
            path: path.to_owned(),
        },
        _ => io_error(path, source),
    })?;
    let meta = file.metadata().map_err(|source| io_error(path, source))?;
    if !meta.is_file() {
        return Err(malformed(path, 0, "not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CryptoError::KeyFilePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(malformed(path, 0, "file is too large to be a key file"));
    }
    // Sized up front so reading never reallocates and leaves unzeroized copies behind.
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut contents = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut contents)
        .map_err(|source| io_error(path, source))?;
    if contents.len() as u64 > MAX_FILE_LEN {
        return Err(malformed(path, 0, "file is too large to be a key file"));
    }
    Ok(contents)
}

/// Creates `path` (never overwriting: [`CryptoError::KeyFileExists`]), mode 0600, writes
/// `contents` and fsyncs the file. A partly written file is removed so a retry starts clean.
/// The caller fsyncs the directory ([`sync_parent`]) once the file is in its final place.
pub(crate) fn write_new(path: &Path, contents: &[u8]) -> Result<(), CryptoError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => CryptoError::KeyFileExists {
            path: path.to_owned(),
        },
        _ => io_error(path, source),
    })?;
    if let Err(source) = write_synced(file, contents) {
        // Best effort: the write error is the one worth reporting.
        let _ = fs::remove_file(path);
        return Err(io_error(path, source));
    }
    Ok(())
}

fn write_synced(mut file: File, contents: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        // The umask could only have removed bits; make the mode exactly 0600 regardless.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

/// Fsyncs the directory holding `path`, so the new directory entry survives a crash.
pub(crate) fn sync_parent(path: &Path) -> Result<(), CryptoError> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| io_error(dir, source))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
