//! WAL checkpoints off the writer's path.
//!
//! By default SQLite checkpoints inside the commit that grows the WAL past 1,000 pages: the
//! committing connection copies the WAL into the database file and syncs it before returning.
//! Here the writer's commit only appends to the WAL (and syncs it: that is what makes a write
//! durable); a second thread with its own connection copies the WAL into the database in
//! PASSIVE checkpoints, on the other core, while the writer goes on. Crash safety is
//! SQLite's either way: a checkpoint syncs the database before it marks WAL frames as copied.
//!
//! A WAL only starts over from its beginning when a write transaction begins after a
//! checkpoint copied all of it. Under sustained writes the background checkpoint is always a
//! commit behind, so the writer finishes it itself, between two groups, with a PASSIVE
//! checkpoint of what the background thread has not copied (without waiting for readers);
//! the next transaction then restarts the WAL. It does so as soon as the remainder is small
//! ([`Checkpointer::CATCH_UP_PAGES`]: many small commits, as audited reads make — a WAL left to
//! grow measurably slowed their commits, whose syncs then extend the file), and in any case
//! past [`Checkpointer::HARD_LIMIT_PAGES`] (a bulk import, whose commits are each larger than
//! the catch-up), so the file stays bounded as with SQLite's own automatic checkpoints.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

use privet_store::{Result, StoreError};
use rusqlite::Connection;

/// Runs WAL checkpoints for one writer connection on a thread of its own.
pub(crate) struct Checkpointer {
    /// Frames in the WAL after the writer's last commit (set by its WAL hook).
    frames: Arc<AtomicI64>,
    /// Up to which frame the background thread's last checkpoint copied the WAL (0: none
    /// since the writer's own; more than the WAL holds: from before the WAL started over).
    copied: Arc<AtomicI64>,
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// WAL size (pages) at which the background thread is asked for a checkpoint: SQLite's
    /// own automatic-checkpoint threshold.
    pub(crate) const NUDGE_PAGES: i64 = 1_000;
    /// WAL size (pages, ≈ 64 MiB) at which the writer checkpoints itself so the WAL restarts.
    pub(crate) const HARD_LIMIT_PAGES: i64 = 16_000;
    /// What the writer copies itself to finish a background checkpoint (pages, 1 MiB).
    pub(crate) const CATCH_UP_PAGES: i64 = 256;

    /// Takes over checkpointing from `writer` (whose automatic checkpoints stop: a WAL hook
    /// replaces them) and starts the background thread on a connection to `path`.
    pub(crate) fn start(writer: &mut Connection, path: &Path) -> Result<Self> {
        // A checkpoint reads WAL frames and writes database pages: it needs no page cache.
        let conn = crate::store::open_conn(path, 2)?;
        let frames = Arc::new(AtomicI64::new(0));
        let seen = Arc::clone(&frames);
        writer
            .wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages| {
                seen.store(i64::from(pages), Ordering::Relaxed);
                Ok(())
            }))
            .map_err(|e| StoreError::Backend(format!("cannot set the WAL hook: {e}")))?;
        // One pending nudge is enough: the checkpoint it triggers copies everything committed.
        let (nudge, rx) = mpsc::sync_channel::<()>(1);
        let copied = Arc::new(AtomicI64::new(0));
        let reported = Arc::clone(&copied);
        let thread = std::thread::Builder::new()
            .name("privet-sqlite-ckpt".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    match passive(&conn) {
                        Ok((_, _, done)) => reported.store(done, Ordering::Relaxed),
                        Err(e) => tracing::warn!(error = %e, "background WAL checkpoint failed"),
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start checkpoint thread: {e}")))?;
        Ok(Self {
            frames,
            copied,
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// Called by the writer after each commit, outside any transaction.
    pub(crate) fn after_commit(&self, writer: &Connection) {
        let pages = self.frames.load(Ordering::Relaxed);
        if writer_checkpoints(pages, self.copied.load(Ordering::Relaxed)) {
            // The background thread may be mid-checkpoint; PASSIVE then returns at once.
            if let Err(e) = passive(writer) {
                tracing::debug!(error = %e, pages, "writer's WAL checkpoint did not run");
            }
            self.frames.store(0, Ordering::Relaxed);
            self.copied.store(0, Ordering::Relaxed);
        } else if pages >= Self::NUDGE_PAGES
            && let Some(nudge) = &self.nudge
        {
            match nudge.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => {
                    tracing::warn!("the WAL checkpoint thread has stopped");
                }
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.nudge.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether the writer checkpoints itself after a commit that left `pages` frames in the WAL,
/// `copied` of them already copied by the background thread (0: none known).
fn writer_checkpoints(pages: i64, copied: i64) -> bool {
    let small_rest =
        copied > 0 && copied <= pages && pages - copied <= Checkpointer::CATCH_UP_PAGES;
    pages >= Checkpointer::HARD_LIMIT_PAGES || (pages >= Checkpointer::NUDGE_PAGES && small_rest)
}

/// One PASSIVE checkpoint: copies what it can without waiting for readers or the writer.
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_pages(path: &Path) -> u64 {
        let wal = path.with_extension("db-wal");
        std::fs::metadata(wal).map(|m| m.len() / 4096).unwrap_or(0)
    }

    fn fill(c: &Connection, rows: usize) {
        let tx = c.unchecked_transaction().unwrap();
        for _ in 0..rows {
            tx.execute("INSERT INTO t (v) VALUES (randomblob(3000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
    }

    /// A database with one table, its writer connection and that writer's checkpointer.
    fn writer_with_checkpointer() -> (tempfile::TempDir, Connection, Checkpointer) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        crate::store::create_private(&path).unwrap();
        let mut w = crate::store::open_conn(&path, 8).unwrap();
        w.execute("CREATE TABLE t (v BLOB)", []).unwrap();
        let ck = Checkpointer::start(&mut w, &path).unwrap();
        (dir, w, ck)
    }

    #[test]
    fn the_background_thread_copies_the_wal_into_the_database() {
        let (dir, w, ck) = writer_with_checkpointer();
        let path = dir.path().join("c.db");
        // 1,500 pages: past the nudge, below the hard limit.
        fill(&w, 1_500);
        let db_before = std::fs::metadata(&path).unwrap().len();
        ck.after_commit(&w);
        // The copy happens on the other thread; wait for the database file to grow.
        let mut grown = false;
        for _ in 0..500 {
            if std::fs::metadata(&path).unwrap().len() > db_before + 1_000 * 4096 {
                grown = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(grown, "the WAL was not checkpointed in the background");
        // No automatic checkpoint ran in the commit itself: the writer's WAL hook replaced it,
        // so the file was still the schema page before the nudge.
        assert!(db_before < 100 * 4096, "database was {db_before} bytes");
    }

    #[test]
    fn the_writer_finishes_a_checkpoint_when_little_is_left_or_the_wal_is_too_big() {
        let w = writer_checkpoints;
        // The background thread copied 1,000 of 1,040 frames: the writer copies the rest.
        assert!(w(1_040, 1_000));
        // A bulk commit added more than the catch-up since: left to the background.
        assert!(!w(2_200, 1_000));
        // Nothing copied yet, or a count from before the WAL started over.
        assert!(!w(1_040, 0));
        assert!(!w(1_040, 3_000));
        // Below the nudge size, nothing to do.
        assert!(!w(500, 480));
        // Past the hard limit, whatever was copied.
        assert!(w(Checkpointer::HARD_LIMIT_PAGES, 0));
    }

    #[test]
    fn the_wal_stays_bounded_under_sustained_writes() {
        let (dir, w, ck) = writer_with_checkpointer();
        let path = dir.path().join("c.db");
        // ≈ 60,000 pages written in 120 commits, four times the hard limit.
        for _ in 0..120 {
            fill(&w, 500);
            ck.after_commit(&w);
        }
        let pages = wal_pages(&path);
        assert!(
            pages < (Checkpointer::HARD_LIMIT_PAGES + 1_000) as u64,
            "WAL grew to {pages} pages"
        );
        let count: i64 = w
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 60_000);
    }
}
