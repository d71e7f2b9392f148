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
//! commit behind, so past [`Checkpointer::HARD_LIMIT_PAGES`] the writer itself runs a PASSIVE
//! checkpoint between two groups (copying what the background thread has not, without
//! waiting for readers), and the next transaction restarts the WAL: the file stays bounded as
//! with SQLite's own automatic checkpoints.

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
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// WAL size (pages) at which the background thread is asked for a checkpoint: SQLite's
    /// own automatic-checkpoint threshold.
    pub(crate) const NUDGE_PAGES: i64 = 1_000;
    /// WAL size (pages, ≈ 64 MiB) at which the writer checkpoints itself so the WAL restarts.
    pub(crate) const HARD_LIMIT_PAGES: i64 = 16_000;

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
        let thread = std::thread::Builder::new()
            .name("privet-sqlite-ckpt".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    if let Err(e) = passive(&conn) {
                        tracing::warn!(error = %e, "background WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start checkpoint thread: {e}")))?;
        Ok(Self {
            frames,
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// Called by the writer after each commit, outside any transaction.
    pub(crate) fn after_commit(&self, writer: &Connection) {
        let pages = self.frames.load(Ordering::Relaxed);
        if pages >= Self::HARD_LIMIT_PAGES {
            // The background thread may be mid-checkpoint; PASSIVE then returns at once.
            if let Err(e) = passive(writer) {
                tracing::debug!(error = %e, pages, "writer's WAL checkpoint did not run");
            }
            self.frames.store(0, Ordering::Relaxed);
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

    #[test]
    fn the_background_thread_copies_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        crate::store::create_private(&path).unwrap();
        let mut w = crate::store::open_conn(&path, 8).unwrap();
        w.execute("CREATE TABLE t (v BLOB)", []).unwrap();
        let ck = Checkpointer::start(&mut w, &path).unwrap();
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
    fn the_wal_stays_bounded_under_sustained_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        crate::store::create_private(&path).unwrap();
        let mut w = crate::store::open_conn(&path, 8).unwrap();
        w.execute("CREATE TABLE t (v BLOB)", []).unwrap();
        let ck = Checkpointer::start(&mut w, &path).unwrap();
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
