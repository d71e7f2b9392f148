//! The audit tree in SQLite: appends (leaves with their chain values and subjects, and the
//! subtree hashes they complete) inside the writer's transaction, reads of subtree hashes,
//! the frontier and checkpoints, and the one-time backfill of a log written before v3.
//!
//! `audit.idx` is the leaf's index plus one (it was the rowid before v3); `audit_tiles.idx`
//! is the subtree's index at its level, from 0.

use std::collections::{BTreeMap, HashMap};

use privet_audit::{AuditEntry, Frontier, Hash, Leaf, Subtree};
use privet_core::SubjectId;
use privet_store::{
    AuditHead, CheckpointRow, Result, StoreError, StoredLeaf, assemble_subtrees, frontier_from,
    frontier_subtrees, subtree_reads,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::read::{backend, from_micros, in_snapshot, micros};

const BACKFILL_FLAG: &str = "audit_backfill";

fn hash32(bytes: &[u8], what: &str) -> Result<Hash> {
    <[u8; 32]>::try_from(bytes).map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// The number of leaves (the largest index + 1).
pub(crate) fn size(c: &Connection) -> Result<u64> {
    c.prepare_cached("SELECT COALESCE(MAX(idx), 0) FROM audit")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .map(|n| n.max(0) as u64)
        .map_err(backend)
}

fn sql_index(i: u64) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

/// Reads what `subtrees` need, in the caller's transaction.
fn read_subtrees(c: &Connection, subtrees: &[Subtree], size: u64) -> Result<Vec<Hash>> {
    let reads = subtree_reads(subtrees, size)?;
    let mut tiles = HashMap::with_capacity(reads.tiles.len());
    let mut tile = c
        .prepare_cached("SELECT hash FROM audit_tiles WHERE level = ?1 AND idx = ?2")
        .map_err(backend)?;
    for t in reads.tiles {
        let hash: Option<Vec<u8>> = tile
            .query_row(params![t.level(), sql_index(t.index())], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        if let Some(h) = hash {
            tiles.insert(t, hash32(&h, "a stored subtree hash")?);
        }
    }
    let mut leaves = BTreeMap::new();
    let mut range = c
        .prepare_cached("SELECT idx, leaf_hash FROM audit WHERE idx > ?1 AND idx <= ?2")
        .map_err(backend)?;
    for r in reads.leaf_ranges {
        let rows = range
            .query_map(params![sql_index(r.start), sql_index(r.end)], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .map_err(backend)?;
        for row in rows {
            let (idx, hash) = row.map_err(backend)?;
            leaves.insert((idx - 1) as u64, hash32(&hash, "a stored leaf hash")?);
        }
    }
    assemble_subtrees(subtrees, &tiles, &leaves)
}

pub(crate) fn read_frontier(c: &Connection) -> Result<Frontier> {
    let size = size(c)?;
    let peaks = read_subtrees(c, &frontier_subtrees(size), size)?;
    frontier_from(size, peaks)
}

/// The appender's head as stored: the frontier and the last leaf's chain value.
pub(crate) fn load_head(c: &Connection) -> Result<AuditHead> {
    let frontier = read_frontier(c)?;
    let mut head = AuditHead::new();
    if frontier.size() > 0 {
        let chain: Option<Vec<u8>> = c
            .prepare_cached("SELECT chain FROM audit WHERE idx = ?1")
            .and_then(|mut s| s.query_row([sql_index(frontier.size())], |r| r.get(0)))
            .map_err(backend)?;
        let chain = chain.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "audit leaf {} has no chain value",
                frontier.size() - 1
            ))
        })?;
        head.chain = hash32(&chain, "a stored chain value")?;
    }
    head.frontier = frontier;
    Ok(head)
}

/// The writer's audit head between appends.
#[derive(Default)]
pub(crate) struct HeadSlot {
    /// The head (`None` until loaded, or after a failure made it unknown).
    pub(crate) head: Option<AuditHead>,
    /// Whether `head` was checked against the stored log in the current write transaction:
    /// nothing but this writer can append until it commits, so once is enough.
    pub(crate) verified: bool,
}

/// Appends `leaves` inside the writer's open transaction; returns the first index. The
/// slot's head advances only if every row was written.
pub(crate) fn append(c: &Connection, slot: &mut HeadSlot, leaves: &[Leaf]) -> Result<Option<u64>> {
    if leaves.is_empty() {
        return Ok(None);
    }
    // Another process (a `privet` command next to a running server) may have appended since
    // the head was cached: the log's size, read inside this write transaction (the rightmost
    // key of the audit table), says whether the cached head is still the log's.
    let mut head = match &slot.head {
        Some(h) if slot.verified => h.clone(),
        Some(h) if h.size() == size(c)? => h.clone(),
        _ => load_head(c)?,
    };
    let first = head.size();
    let rows = head.append(leaves);
    let mut leaf = c
        .prepare_cached(
            "INSERT INTO audit (idx, leaf, leaf_hash, chain, subject_id) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(backend)?;
    for r in &rows.leaves {
        let subject = r.leaf.subject.map(|s| s.as_bytes().to_vec());
        leaf.execute(params![
            sql_index(r.index + 1),
            r.leaf.bytes,
            &r.leaf.hash[..],
            &r.chain[..],
            subject
        ])
        .map_err(backend)?;
    }
    let mut tile = c
        .prepare_cached("INSERT INTO audit_tiles (level, idx, hash) VALUES (?1, ?2, ?3)")
        .map_err(backend)?;
    for (t, h) in &rows.tiles {
        tile.execute(params![t.level(), sql_index(t.index()), &h[..]])
            .map_err(backend)?;
    }
    slot.head = Some(head);
    slot.verified = true;
    Ok(Some(first))
}

/// Stores a checkpoint (inside the writer's savepoint), refusing one beyond the log.
pub(crate) fn put_checkpoint(c: &Connection, row: &CheckpointRow) -> Result<()> {
    let size = size(c)?;
    if row.size > size {
        return Err(StoreError::Invalid(format!(
            "a checkpoint of size {} for an audit log of {size} leaves",
            row.size
        )));
    }
    c.prepare_cached("INSERT INTO audit_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| {
            s.execute(params![
                sql_index(row.size),
                row.note,
                micros(row.created_at)
            ])
        })
        .map_err(backend)?;
    Ok(())
}

pub(crate) fn subtrees(c: &Connection, subtrees: &[Subtree]) -> Result<Vec<Hash>> {
    in_snapshot(c, |c| read_subtrees(c, subtrees, size(c)?))
}

pub(crate) fn frontier(c: &Connection) -> Result<Frontier> {
    in_snapshot(c, read_frontier)
}

pub(crate) fn stored_leaf(r: &Row<'_>) -> rusqlite::Result<StoredLeaf> {
    let idx: i64 = r.get(0)?;
    let chain: Option<Vec<u8>> = r.get(3)?;
    Ok(StoredLeaf {
        index: (idx - 1) as u64,
        leaf: r.get(1)?,
        // A hash of another length is tampering; it then matches nothing.
        leaf_hash: r.get::<_, Vec<u8>>(2)?.try_into().unwrap_or([0; 32]),
        chain: chain.and_then(|c| c.try_into().ok()),
    })
}

pub(crate) fn leaves_of_subject(
    c: &Connection,
    subject: SubjectId,
    from: u64,
    limit: u32,
) -> Result<Vec<StoredLeaf>> {
    let mut s = c
        .prepare_cached(
            "SELECT idx, leaf, leaf_hash, chain FROM audit \
             WHERE subject_id = ?1 AND idx > ?2 ORDER BY idx LIMIT ?3",
        )
        .map_err(backend)?;
    let rows = s
        .query_map(
            params![&subject.as_bytes()[..], sql_index(from), limit],
            stored_leaf,
        )
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

fn checkpoint_row(r: &Row<'_>) -> rusqlite::Result<CheckpointRow> {
    Ok(CheckpointRow {
        size: r.get::<_, i64>(0)?.max(0) as u64,
        note: r.get(1)?,
        created_at: from_micros(r.get(2)?)?,
    })
}

pub(crate) fn checkpoints(c: &Connection) -> Result<Vec<CheckpointRow>> {
    let mut s = c
        .prepare_cached("SELECT size, note, created_at FROM audit_checkpoints ORDER BY size, id")
        .map_err(backend)?;
    let rows = s.query_map([], checkpoint_row).map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

pub(crate) fn latest_checkpoint(c: &Connection) -> Result<Option<CheckpointRow>> {
    c.prepare_cached(
        "SELECT size, note, created_at FROM audit_checkpoints \
         ORDER BY size DESC, id DESC LIMIT 1",
    )
    .and_then(|mut s| s.query_row([], checkpoint_row).optional())
    .map_err(backend)
}

/// Computes chain values, subjects and subtree hashes for a log written before v3, once, in
/// one transaction (see the migration).
pub(crate) fn backfill(conn: &mut Connection) -> Result<()> {
    let flagged = crate::read::meta(conn, BACKFILL_FLAG)?.is_some();
    if !flagged {
        return Ok(());
    }
    let tx = conn.transaction().map_err(backend)?;
    let mut head = AuditHead::new();
    let mut tiles = Vec::new();
    let mut updates: Vec<(i64, Hash, Option<[u8; 16]>)> = Vec::new();
    {
        let mut rows = tx
            .prepare("SELECT idx, leaf, leaf_hash FROM audit ORDER BY idx")
            .map_err(backend)?;
        let mut rows = rows.query([]).map_err(backend)?;
        while let Some(r) = rows.next().map_err(backend)? {
            let idx: i64 = r.get(0).map_err(backend)?;
            let leaf: Vec<u8> = r.get(1).map_err(backend)?;
            let hash = hash32(&r.get::<_, Vec<u8>>(2).map_err(backend)?, "a leaf hash")?;
            if idx != head.size() as i64 + 1 {
                tracing::warn!(
                    idx,
                    "audit log has a gap; `privet audit verify` will name it"
                );
            }
            let (_, chain) = head.push(&hash, &mut tiles);
            let subject = AuditEntry::from_leaf_bytes(&leaf)
                .ok()
                .and_then(|e| e.subject)
                .map(|s| *s.as_bytes());
            updates.push((idx, chain, subject));
        }
    }
    {
        let mut up = tx
            .prepare("UPDATE audit SET chain = ?1, subject_id = ?2 WHERE idx = ?3")
            .map_err(backend)?;
        for (idx, chain, subject) in &updates {
            up.execute(params![&chain[..], subject.map(|s| s.to_vec()), idx])
                .map_err(backend)?;
        }
        let mut tile = tx
            .prepare("INSERT OR REPLACE INTO audit_tiles (level, idx, hash) VALUES (?1, ?2, ?3)")
            .map_err(backend)?;
        for (t, h) in &tiles {
            tile.execute(params![t.level(), sql_index(t.index()), &h[..]])
                .map_err(backend)?;
        }
    }
    tx.execute("DELETE FROM meta WHERE key = ?1", [BACKFILL_FLAG])
        .map_err(backend)?;
    tx.commit().map_err(backend)?;
    tracing::info!(
        leaves = updates.len(),
        subtrees = tiles.len(),
        "audit log upgraded: chain values, subjects and subtree hashes computed"
    );
    Ok(())
}
