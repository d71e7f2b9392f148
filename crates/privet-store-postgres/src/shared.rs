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

use deadpool_postgres::{Object, Pool};
use privet_store::Result;
use tokio::sync::Mutex;

use crate::error::pool as pool_error;

/// The shared connections' slots.
pub(crate) struct SharedReaders {
    slots: Vec<Mutex<Option<Arc<Object>>>>,
    next: AtomicUsize,
}

impl SharedReaders {
    /// For a pool of `pool_size`: half of it may be held for point reads, and none when the
    /// pool has a single connection (writes must always be able to get one).
    pub(crate) fn for_pool(pool_size: usize) -> Self {
        let n = if pool_size >= 2 { pool_size / 2 } else { 0 };
        Self {
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
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
        if let Some(open) = held.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(open));
        }
        let fresh = Arc::new(pool.get().await.map_err(pool_error)?);
        *held = Some(Arc::clone(&fresh));
        Ok(fresh)
    }
}
