//! Point reads share connections.
//!
//! A point read is one statement (a subject's load, a lookup, an API key): nothing needs the
//! connection to itself between statements. tokio-postgres lets several callers use one
//! connection at once and pipelines their statements (sent back to back, answered in order),
//! so point reads take a connection from a few *shared* ones, round robin, instead of each
//! checking one out of the pool exclusively. Under many concurrent readers that means fewer
//! busy backends and fewer wake-ups and system calls per read on both sides. Measured with
//! `privet bench read --store-url …` (BENCHMARKS.md, issue 3): the same 32 readers over
//! exclusive checkouts from a 16-connection pool cost PostgreSQL ≈ 70 µs of CPU per read.
//!
//! The shared connections are ordinary pooled ones, held in their slot until they close (the
//! database restarted, or dropped them), and then replaced by a fresh checkout on next use,
//! so the pool's recovery applies to them too. A transaction can never run on one: a shared
//! connection is handed out behind an `Arc`, and starting a transaction needs `&mut`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Pool};
use privet_store::{Result, StoreError};
use tokio::sync::Mutex;

use crate::error::pool as pool_error;

/// After a slot failed to get a connection, reads given that slot fail at once for this long
/// instead of each waiting for the pool in turn (the slot's lock queues them: with a database
/// that does not answer, the tenth reader in line would otherwise wait ten timeouts).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The shared connections' slots.
pub(crate) struct SharedReaders {
    slots: Vec<Mutex<Slot>>,
    next: AtomicUsize,
}

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Object>>,
    /// When and why the last attempt to fill the slot failed.
    failed: Option<(Instant, String)>,
}

impl SharedReaders {
    /// For a pool of `pool_size`: half of it may be held for point reads, and none when the
    /// pool has a single connection (writes must always be able to get one).
    pub(crate) fn for_pool(pool_size: usize) -> Self {
        Self {
            slots: (0..pool_size / 2)
                .map(|_| Mutex::new(Slot::default()))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A connection for one-statement reads.
    pub(crate) async fn get(&self, pool: &Pool) -> Result<Arc<Object>> {
        let Some(slot) = self
            .slots
            .get(self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len().max(1))
        else {
            return Ok(Arc::new(pool.get().await.map_err(pool_error)?));
        };
        // Held while an empty slot is filled, so that a burst of first reads checks out one
        // connection per slot rather than one each.
        let mut held = slot.lock().await;
        if let Some(open) = held.conn.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(open));
        }
        // A closed connection goes back to the pool (which discards it) before a new one is
        // asked for, so that it does not count against the pool's size meanwhile.
        held.conn = None;
        if let Some((at, why)) = &held.failed
            && at.elapsed() < RETRY_AFTER
        {
            return Err(StoreError::Unavailable(why.clone()));
        }
        match pool.get().await {
            Ok(conn) => {
                let fresh = Arc::new(conn);
                held.conn = Some(Arc::clone(&fresh));
                held.failed = None;
                Ok(fresh)
            }
            Err(e) => {
                let e = pool_error(e);
                if let StoreError::Unavailable(why) = &e {
                    held.failed = Some((Instant::now(), why.clone()));
                }
                Err(e)
            }
        }
    }
}
