//! The erasure ledger: a text file outside the database, one line per erasure or
//! restriction event, appended and fsynced before the caller hears of the event.
//!
//! A line is `<RFC 3339 time> <kind> <subject id>`, e.g.
//! `2026-11-24T01:02:03.456789Z erase sub_0193…`. Kinds: `erase`, `restrict` (processing
//! restricted: only `legal_obligation` purposes read), `unrestrict`, `hold` (a legal hold
//! set) and `release` (lifted). Lines starting with `#`
//! are comments. Nothing else is written: no reason text, no personal value.
//!
//! A crash can leave a last line without its newline (the append was never acknowledged);
//! opening the ledger for appending cuts such a tail off, and reading ignores it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use privet_core::SubjectId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::BackupError;

const FIRST_LINE: &str =
    "# privet erasure ledger v1: <time> <erase|restrict|unrestrict|hold|release> <subject id>\n";

/// What happened to a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerKind {
    /// The subject was erased (crypto-shredded).
    Erase,
    /// Processing of the subject was restricted.
    Restrict,
    /// The restriction was lifted.
    Unrestrict,
    /// A legal hold was put on the subject (its reason code is not recorded here).
    Hold,
    /// The legal hold was lifted.
    Release,
}

impl LedgerKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Erase => "erase",
            Self::Restrict => "restrict",
            Self::Unrestrict => "unrestrict",
            Self::Hold => "hold",
            Self::Release => "release",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "erase" => Self::Erase,
            "restrict" => Self::Restrict,
            "unrestrict" => Self::Unrestrict,
            "hold" => Self::Hold,
            "release" => Self::Release,
            _ => return None,
        })
    }
}

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEvent {
    /// When it happened.
    pub at: OffsetDateTime,
    /// What.
    pub kind: LedgerKind,
    /// To whom.
    pub subject: SubjectId,
}

impl LedgerEvent {
    fn line(&self) -> Result<String, BackupError> {
        let at = self
            .at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| BackupError::Mismatch(format!("time not representable: {e}")))?;
        Ok(format!("{at} {} {}\n", self.kind.as_str(), self.subject))
    }
}

/// The ledger file. Appends are serialized within the process and each is fsynced.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Ledger {
    /// The ledger at `path` (created, mode 0600, on the first append).
    pub fn new(path: impl Into<PathBuf>) -> Ledger {
        Ledger {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `events` and fsyncs them (and, when the file is new, its directory) before
    /// returning.
    pub fn append(&self, events: &[LedgerEvent]) -> Result<(), BackupError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for e in events {
            text.push_str(&e.line()?);
        }
        self.write(text)
    }

    /// Creates the ledger (with its first, comment line) if it does not exist yet, so a
    /// vault that never erased anyone still has one for restores to find.
    pub fn ensure(&self) -> Result<(), BackupError> {
        if self.path.exists() {
            return Ok(());
        }
        self.write(String::new())
    }

    fn write(&self, mut text: String) -> Result<(), BackupError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let io = |e| BackupError::io("cannot append to the erasure ledger", &self.path, e);
        let fresh = !self.path.exists();
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(&self.path).map_err(io)?;
        cut_torn_tail(&file).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            text.insert_str(0, FIRST_LINE);
        }
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        if fresh && let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// Every event, in file order; an empty list if the file does not exist. A last line
    /// without its newline (a torn append) is ignored; any other malformed line is an error.
    pub fn read(&self) -> Result<Vec<LedgerEvent>, BackupError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(BackupError::io(
                    "cannot read the erasure ledger",
                    &self.path,
                    e,
                ));
            }
        };
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        let mut out = Vec::new();
        for (i, line) in complete.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(
                parse_line(line).map_err(|reason| BackupError::LedgerMalformed {
                    path: self.path.clone(),
                    line: i + 1,
                    reason: reason.into(),
                })?,
            );
        }
        Ok(out)
    }
}

fn parse_line(line: &str) -> Result<LedgerEvent, &'static str> {
    let mut parts = line.split(' ');
    let (Some(at), Some(kind), Some(subject), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected `<time> <kind> <subject id>`");
    };
    Ok(LedgerEvent {
        at: OffsetDateTime::parse(at, &Rfc3339).map_err(|_| "the time is not RFC 3339")?,
        kind: LedgerKind::parse(kind).ok_or("unknown event kind")?,
        subject: SubjectId::from_str(subject).map_err(|_| "not a subject id")?,
    })
}

/// Cuts a last line that lacks its newline (an append torn by a crash, never acknowledged).
fn cut_torn_tail(file: &std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut f = file;
    let back = len.min(64 * 1024);
    f.seek(SeekFrom::Start(len - back))?;
    let mut tail = Vec::with_capacity(back as usize);
    f.take(back).read_to_end(&mut tail)?;
    if tail.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => len - back + i as u64 + 1,
        None if back == len => 0,
        None => return Ok(()),
    };
    file.set_len(keep)?;
    file.sync_all()
}

/// The events of several ledgers (one per server sharing a database) as one: in time order
/// (ties keep the order given), each subject's erasure once (the first: an erasure is final,
/// and every server's ledger may list it after a re-sync), other repeated events once.
pub fn merge_ledgers(ledgers: Vec<Vec<LedgerEvent>>) -> Vec<LedgerEvent> {
    let mut events: Vec<LedgerEvent> = ledgers.into_iter().flatten().collect();
    events.sort_by_key(|e| e.at);
    let mut erased = std::collections::HashSet::new();
    let mut seen = std::collections::HashSet::new();
    events.retain(|e| match e.kind {
        LedgerKind::Erase => erased.insert(e.subject),
        _ => seen.insert((e.at, e.kind.as_str(), e.subject)),
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_ledgers_are_in_time_order_with_each_erasure_once() {
        let t = |s: i64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s);
        let (a, b) = (SubjectId::new(), SubjectId::new());
        let ev = |at, kind, subject| LedgerEvent { at, kind, subject };
        let one = vec![
            ev(t(1), LedgerKind::Hold, a),
            ev(t(5), LedgerKind::Erase, b),
            ev(t(9), LedgerKind::Release, a),
        ];
        // The other server erased b first; its ledger also lists a's hold (a re-sync).
        let two = vec![
            ev(t(1), LedgerKind::Hold, a),
            ev(t(3), LedgerKind::Erase, b),
            ev(t(4), LedgerKind::Restrict, a),
        ];
        assert_eq!(
            merge_ledgers(vec![one, two]),
            vec![
                ev(t(1), LedgerKind::Hold, a),
                ev(t(3), LedgerKind::Erase, b),
                ev(t(4), LedgerKind::Restrict, a),
                ev(t(9), LedgerKind::Release, a),
            ]
        );
    }

    fn ev(kind: LedgerKind) -> LedgerEvent {
        LedgerEvent {
            at: OffsetDateTime::from_unix_timestamp_nanos(1_790_000_000_123_456_000).unwrap(),
            kind,
            subject: SubjectId::new(),
        }
    }

    #[test]
    fn events_round_trip_and_a_torn_last_line_is_dropped_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path().join("l"));
        assert!(ledger.read().unwrap().is_empty());
        let a = ev(LedgerKind::Erase);
        let b = ev(LedgerKind::Restrict);
        ledger.append(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(ledger.read().unwrap(), vec![a.clone(), b.clone()]);
        // A crash mid-append leaves half a line: ignored by readers, cut by the next append.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ledger.path())
            .unwrap();
        f.write_all(b"2026-11-24T00:00:00Z era").unwrap();
        assert_eq!(ledger.read().unwrap().len(), 2);
        let c = ev(LedgerKind::Unrestrict);
        let d = ev(LedgerKind::Hold);
        let e = ev(LedgerKind::Release);
        ledger.append(&[c.clone(), d.clone(), e.clone()]).unwrap();
        assert_eq!(ledger.read().unwrap(), vec![a, b, c, d, e]);
        let text = std::fs::read_to_string(ledger.path()).unwrap();
        assert!(text.starts_with("# privet erasure ledger v1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(ledger.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
    }

    #[test]
    fn a_malformed_line_in_the_middle_is_an_error_naming_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        std::fs::write(&path, "# c\n2026-11-24T00:00:00Z erase nope\n").unwrap();
        let e = Ledger::new(&path).read().unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
