//! The single writer: a thread that owns the read-write connection and commits whatever write
//! sets are waiting as one transaction (group commit), each inside its own savepoint.

use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;

use privet_store::{Committed, Result, StoreError, WriteSet};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use crate::apply;
use crate::audit::HeadSlot;
use crate::checkpoint::Checkpointer;
use crate::index::{self, IndexState};

struct Job {
    writes: WriteSet,
    /// The result, and the write set back: freeing a batch's thousands of rows is the
    /// caller's work, not the single writer's.
    reply: oneshot::Sender<(Result<Committed>, WriteSet)>,
}

pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(
        mut conn: Connection,
        path: &std::path::Path,
        max_group: usize,
        merge_at: u64,
    ) -> Result<Self> {
        let state = IndexState::load(&conn)?;
        crate::audit::backfill(&mut conn)?;
        // A log whose head cannot be read (tampered rows) must not stop the store from opening,
        // or nothing could verify it: audit appends fail until the head reads again.
        let head = match crate::audit::load_head(&conn) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, "the audit log's head cannot be read; appends will fail");
                None
            }
        };
        let checkpointer = Checkpointer::start(&mut conn, path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("privet-sqlite-writer".into())
            .spawn(move || {
                let mut states = States {
                    index: state,
                    head: HeadSlot {
                        head,
                        verified: false,
                    },
                };
                run(
                    &mut conn,
                    &checkpointer,
                    &mut states,
                    rx,
                    max_group.max(1),
                    merge_at.max(1),
                );
                // The checkpoint thread stops before the writer's connection closes, so that
                // closing (the last connection) checkpoints and removes the WAL.
                drop(checkpointer);
                drop(conn);
            })
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) async fn submit(&self, writes: WriteSet) -> Result<Committed> {
        let (reply, rx) = oneshot::channel();
        let sender = self.tx.lock().ok().and_then(|g| g.clone());
        let sender = sender.ok_or_else(closed)?;
        sender.send(Job { writes, reply }).map_err(|_| closed())?;
        let (result, writes) = rx.await.map_err(|_| closed())?;
        drop(writes);
        result
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel lets the thread finish the jobs it has and exit; joining makes
        // "the store is dropped" mean "every acknowledged write is on disk and the file closed".
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(handle) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = handle.join();
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is shutting down".into())
}

/// What the writer keeps between groups.
struct States {
    index: IndexState,
    /// The audit tree's head.
    head: HeadSlot,
}

fn run(
    conn: &mut Connection,
    checkpointer: &Checkpointer,
    states: &mut States,
    rx: mpsc::Receiver<Job>,
    max_group: usize,
    merge_at: u64,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let erased = group
            .iter()
            .any(|j| j.writes.ops.iter().any(apply::is_erasure));
        let results = commit_group(conn, states, &group);
        // An erasure is acknowledged only once the erased pages are out of the WAL.
        if erased {
            truncate_wal(conn);
        }
        checkpointer.after_commit(conn);
        for (job, result) in group.into_iter().zip(results) {
            // A caller that gave up waiting is no reason to stop committing for the others.
            let _ = job.reply.send((result, job.writes));
        }
        if states.index.recent >= merge_at
            && let Err(e) = index::merge(conn, &mut states.index)
        {
            // Harmless for correctness (both levels are always read); retried next time.
            tracing::warn!(error = %e, "blind-index merge failed");
        }
    }
}

/// Commits the group; returns one result per job. If the transaction itself fails, every
/// job fails and nothing of the group is kept.
fn commit_group(
    conn: &mut Connection,
    states: &mut States,
    group: &[Job],
) -> Vec<Result<Committed>> {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return group.iter().map(|_| Err(unavailable(&e))).collect(),
    };
    states.head.verified = false;
    let mut results = Vec::with_capacity(group.len());
    let mut tx = tx;
    for job in group {
        let result = if apply::only_checks(&job.writes) {
            // An audited read: its checks write nothing and its append is the last thing it
            // does, so it needs no savepoint; an append that fails part-way fails the group.
            match apply::checks_and_append(&tx, &mut states.head, &job.writes) {
                Ok(result) => result,
                Err(e) => {
                    drop(tx);
                    return fail_group(states, group, &e.to_string());
                }
            }
        } else {
            apply_in_savepoint(&mut tx, states, &job.writes)
        };
        if result.is_err() {
            states.index.forget_ids();
        }
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => fail_group(states, group, &e.to_string()),
    }
}

/// Every job of a group whose transaction was rolled back fails.
fn fail_group(states: &mut States, group: &[Job], why: &str) -> Vec<Result<Committed>> {
    states.index.forget_ids();
    // The group's appends are gone: the in-memory head is ahead of the log.
    states.head.head = None;
    tracing::error!(error = why, "group commit failed");
    group
        .iter()
        .map(|_| Err(StoreError::Unavailable(why.to_owned())))
        .collect()
}

/// Applies one write set inside its own savepoint, so a failure undoes it alone. The
/// savepoint statements are prepared once (rusqlite's `savepoint()` re-parses them on every
/// call, which shows up when every audited read is a write set).
fn apply_in_savepoint(
    tx: &mut rusqlite::Transaction<'_>,
    states: &mut States,
    writes: &WriteSet,
) -> Result<Committed> {
    let run = |sql: &str| {
        tx.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(|e| unavailable(&e))
    };
    run("SAVEPOINT privet_write_set")?;
    match apply::write_set(tx, &mut states.index, &mut states.head, writes) {
        Ok(committed) => {
            if let Err(e) = run("RELEASE privet_write_set") {
                states.head.head = None;
                return Err(e);
            }
            Ok(committed)
        }
        Err(e) => {
            run("ROLLBACK TO privet_write_set")?;
            run("RELEASE privet_write_set")?;
            Err(e)
        }
    }
}

fn unavailable(e: &rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// After an erasure, copy the WAL into the database (where `secure_delete` has zeroed the
/// freed content) and truncate it, so the erased subject's old pages do not survive in it.
fn truncate_wal(conn: &Connection) {
    let res: rusqlite::Result<(i64, i64, i64)> =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        });
    match res {
        Ok((0, _, _)) => {}
        Ok((busy, log, done)) => {
            tracing::warn!(
                busy,
                log,
                done,
                "WAL checkpoint after erasure was incomplete"
            );
        }
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint after erasure failed"),
    }
}
