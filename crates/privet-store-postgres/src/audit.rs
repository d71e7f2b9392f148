//! The audit tree in PostgreSQL: appends under the `audit_head` row lock (the head holds the
//! size, the frontier and the chain's last value, so every server continues the same tree),
//! reads of subtree hashes, the frontier and checkpoints, and the one-time backfill of a log
//! written before v3.

use std::collections::{BTreeMap, HashMap};

use privet_audit::{AuditEntry, Frontier, Hash, Leaf, Subtree};
use privet_core::SubjectId;
use privet_store::{
    AuditHead, CheckpointRow, Result, StoreError, StoredLeaf, assemble_subtrees, frontier_from,
    subtree_reads,
};
use tokio_postgres::{Client, GenericClient, Row, Transaction};

use crate::error::db;
use crate::read::{from_micros, micros};

const BACKFILL_FLAG: &str = "audit_backfill";

/// Leaves read per query by the backfill.
const BACKFILL_CHUNK: i64 = 10_000;

fn hash32(bytes: &[u8], what: &str) -> Result<Hash> {
    <[u8; 32]>::try_from(bytes).map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

fn sql_index(i: u64) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

fn encode_peaks(f: &Frontier) -> Vec<u8> {
    f.peaks().concat()
}

fn head_from(size: i64, frontier: &[u8], chain: &[u8]) -> Result<AuditHead> {
    let peaks = frontier
        .chunks(32)
        .map(|p| hash32(p, "a frontier hash"))
        .collect::<Result<Vec<_>>>()?;
    Ok(AuditHead {
        frontier: frontier_from(size.max(0) as u64, peaks)?,
        chain: hash32(chain, "the head's chain value")?,
    })
}

/// Appends `leaves` in the write set's transaction: locks the head (held until commit, so
/// appends from every server are numbered in commit order without gaps), computes the rows,
/// and writes leaves, completed subtree hashes and the new head in one statement.
pub(crate) async fn append(tx: &Transaction<'_>, leaves: &[Leaf]) -> Result<Option<u64>> {
    if leaves.is_empty() {
        return Ok(None);
    }
    let row = tx
        .query_one(
            "SELECT size, frontier, chain FROM audit_head FOR UPDATE",
            &[],
        )
        .await
        .map_err(db)?;
    let mut head = head_from(row.get(0), row.get(1), row.get(2))?;
    let first = head.size();
    let rows = head.append(leaves);
    let idx: Vec<i64> = rows.leaves.iter().map(|r| sql_index(r.index)).collect();
    let bytes: Vec<&[u8]> = rows.leaves.iter().map(|r| &r.leaf.bytes[..]).collect();
    let hashes: Vec<&[u8]> = rows.leaves.iter().map(|r| &r.leaf.hash[..]).collect();
    let chains: Vec<&[u8]> = rows.leaves.iter().map(|r| &r.chain[..]).collect();
    let subjects: Vec<Option<&[u8]>> = rows
        .leaves
        .iter()
        .map(|r| r.leaf.subject.as_ref().map(|s| &s.as_bytes()[..]))
        .collect();
    let levels: Vec<i16> = rows
        .tiles
        .iter()
        .map(|(t, _)| i16::from(t.level()))
        .collect();
    let tile_idx: Vec<i64> = rows
        .tiles
        .iter()
        .map(|(t, _)| sql_index(t.index()))
        .collect();
    let tile_hashes: Vec<&[u8]> = rows.tiles.iter().map(|(_, h)| &h[..]).collect();
    let size = sql_index(head.size());
    let frontier = encode_peaks(&head.frontier);
    tx.execute(
        "WITH leaves AS ( \
           INSERT INTO audit (idx, leaf, leaf_hash, chain, subject_id) \
           SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[])), \
         tiles AS ( \
           INSERT INTO audit_tiles (level, idx, hash) \
           SELECT * FROM UNNEST($6::smallint[], $7::bigint[], $8::bytea[])) \
         UPDATE audit_head SET size = $9, frontier = $10, chain = $11",
        &[
            &idx,
            &bytes,
            &hashes,
            &chains,
            &subjects,
            &levels,
            &tile_idx,
            &tile_hashes,
            &size,
            &frontier,
            &&head.chain[..],
        ],
    )
    .await
    .map_err(db)?;
    Ok(Some(first))
}

/// Stores a checkpoint, refusing one beyond the log.
pub(crate) async fn put_checkpoint(tx: &Transaction<'_>, row: &CheckpointRow) -> Result<()> {
    let size: i64 = tx
        .query_one("SELECT size FROM audit_head", &[])
        .await
        .map_err(db)?
        .get(0);
    if sql_index(row.size) > size {
        return Err(StoreError::Invalid(format!(
            "a checkpoint of size {} for an audit log of {size} leaves",
            row.size
        )));
    }
    tx.execute(
        "INSERT INTO audit_checkpoints (size, note, created_at) VALUES ($1, $2, $3)",
        &[&sql_index(row.size), &row.note, &micros(row.created_at)],
    )
    .await
    .map_err(db)?;
    Ok(())
}

async fn read_subtrees(c: &Client, subtrees: &[Subtree], size: u64) -> Result<Vec<Hash>> {
    let reads = subtree_reads(subtrees, size)?;
    let mut tiles = HashMap::with_capacity(reads.tiles.len());
    if !reads.tiles.is_empty() {
        let levels: Vec<i16> = reads.tiles.iter().map(|t| i16::from(t.level())).collect();
        let idx: Vec<i64> = reads.tiles.iter().map(|t| sql_index(t.index())).collect();
        let rows = c
            .query(
                "SELECT t.level, t.idx, t.hash FROM UNNEST($1::smallint[], $2::bigint[]) AS w(level, idx) \
                 JOIN audit_tiles t ON t.level = w.level AND t.idx = w.idx",
                &[&levels, &idx],
            )
            .await
            .map_err(db)?;
        for r in rows {
            let level = u8::try_from(r.get::<_, i16>(0)).unwrap_or(u8::MAX);
            let index = r.get::<_, i64>(1).max(0) as u64;
            if let Some(t) = Subtree::new(level, index) {
                tiles.insert(t, hash32(r.get(2), "a stored subtree hash")?);
            }
        }
    }
    let mut leaves = BTreeMap::new();
    if !reads.leaf_ranges.is_empty() {
        let lo: Vec<i64> = reads
            .leaf_ranges
            .iter()
            .map(|r| sql_index(r.start))
            .collect();
        let hi: Vec<i64> = reads.leaf_ranges.iter().map(|r| sql_index(r.end)).collect();
        let rows = c
            .query(
                "SELECT a.idx, a.leaf_hash FROM UNNEST($1::bigint[], $2::bigint[]) AS r(lo, hi) \
                 JOIN audit a ON a.idx >= r.lo AND a.idx < r.hi",
                &[&lo, &hi],
            )
            .await
            .map_err(db)?;
        for r in rows {
            leaves.insert(
                r.get::<_, i64>(0).max(0) as u64,
                hash32(r.get(1), "a stored leaf hash")?,
            );
        }
    }
    assemble_subtrees(subtrees, &tiles, &leaves)
}

pub(crate) async fn subtrees(c: &Client, subtrees: &[Subtree]) -> Result<Vec<Hash>> {
    // Every subtree inside the size read here was completed in a transaction that committed
    // no later than the head this reads, so its rows are visible to the next statements.
    let size: i64 = c
        .query_one("SELECT size FROM audit_head", &[])
        .await
        .map_err(db)?
        .get(0);
    read_subtrees(c, subtrees, size.max(0) as u64).await
}

pub(crate) async fn frontier(c: &Client) -> Result<Frontier> {
    let row = c
        .query_one("SELECT size, frontier, chain FROM audit_head", &[])
        .await
        .map_err(db)?;
    Ok(head_from(row.get(0), row.get(1), row.get(2))?.frontier)
}

pub(crate) fn stored_leaf(r: &Row) -> StoredLeaf {
    let chain: Option<&[u8]> = r.get(3);
    StoredLeaf {
        index: r.get::<_, i64>(0).max(0) as u64,
        leaf: r.get(1),
        // A hash of another length is tampering; it then matches nothing.
        leaf_hash: <[u8; 32]>::try_from(r.get::<_, &[u8]>(2)).unwrap_or([0; 32]),
        chain: chain.and_then(|c| <[u8; 32]>::try_from(c).ok()),
    }
}

pub(crate) async fn leaves(c: &Client, from: u64, limit: u32) -> Result<Vec<StoredLeaf>> {
    let rows = c
        .query(
            "SELECT idx, leaf, leaf_hash, chain FROM audit WHERE idx >= $1 ORDER BY idx LIMIT $2",
            &[&sql_index(from), &i64::from(limit)],
        )
        .await
        .map_err(db)?;
    Ok(rows.iter().map(stored_leaf).collect())
}

pub(crate) async fn leaves_of_subject(
    c: &Client,
    subject: SubjectId,
    from: u64,
    limit: u32,
) -> Result<Vec<StoredLeaf>> {
    let rows = c
        .query(
            "SELECT idx, leaf, leaf_hash, chain FROM audit \
             WHERE subject_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3",
            &[
                &&subject.as_bytes()[..],
                &sql_index(from),
                &i64::from(limit),
            ],
        )
        .await
        .map_err(db)?;
    Ok(rows.iter().map(stored_leaf).collect())
}

fn checkpoint_row(r: &Row) -> Result<CheckpointRow> {
    Ok(CheckpointRow {
        size: r.get::<_, i64>(0).max(0) as u64,
        note: r.get(1),
        created_at: from_micros(r.get(2))?,
    })
}

pub(crate) async fn checkpoints(c: &Client) -> Result<Vec<CheckpointRow>> {
    let rows = c
        .query(
            "SELECT size, note, created_at FROM audit_checkpoints ORDER BY size, id",
            &[],
        )
        .await
        .map_err(db)?;
    rows.iter().map(checkpoint_row).collect()
}

pub(crate) async fn latest_checkpoint(c: &Client) -> Result<Option<CheckpointRow>> {
    let row = c
        .query_opt(
            "SELECT size, note, created_at FROM audit_checkpoints \
             ORDER BY size DESC, id DESC LIMIT 1",
            &[],
        )
        .await
        .map_err(db)?;
    row.as_ref().map(checkpoint_row).transpose()
}

async fn flagged<C: GenericClient>(c: &C) -> Result<bool> {
    Ok(
        c.query_opt("SELECT 1 FROM meta WHERE key = $1", &[&BACKFILL_FLAG])
            .await
            .map_err(db)?
            .is_some(),
    )
}

/// Computes chain values, subjects, subtree hashes and the head for a log written before
/// v3, once, in one transaction under the head's row lock (servers starting together wait
/// for the first one, then find nothing to do).
pub(crate) async fn backfill(client: &mut Client) -> Result<()> {
    if !flagged(&*client).await? {
        return Ok(());
    }
    let tx = client.transaction().await.map_err(db)?;
    tx.query_one("SELECT size FROM audit_head FOR UPDATE", &[])
        .await
        .map_err(db)?;
    if !flagged(&tx).await? {
        return Ok(());
    }
    let mut head = AuditHead::new();
    let mut next = 0i64;
    loop {
        let rows = tx
            .query(
                "SELECT idx, leaf, leaf_hash FROM audit WHERE idx >= $1 ORDER BY idx LIMIT $2",
                &[&next, &BACKFILL_CHUNK],
            )
            .await
            .map_err(db)?;
        let Some(last) = rows.last() else { break };
        next = last.get::<_, i64>(0) + 1;
        let mut tiles = Vec::new();
        let (mut idx, mut chains, mut subjects) = (Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            let i: i64 = r.get(0);
            if i != sql_index(head.size()) {
                tracing::warn!(
                    idx = i,
                    "audit log has a gap; `privet audit verify` will name it"
                );
            }
            let (_, chain) = head.push(&hash32(r.get(2), "a leaf hash")?, &mut tiles);
            let subject = AuditEntry::from_leaf_bytes(r.get(1))
                .ok()
                .and_then(|e| e.subject)
                .map(|s| s.as_bytes().to_vec());
            idx.push(i);
            chains.push(chain.to_vec());
            subjects.push(subject);
        }
        tx.execute(
            "UPDATE audit a SET chain = u.chain, subject_id = u.subject \
             FROM UNNEST($1::bigint[], $2::bytea[], $3::bytea[]) AS u(idx, chain, subject) \
             WHERE a.idx = u.idx",
            &[&idx, &chains, &subjects],
        )
        .await
        .map_err(db)?;
        let levels: Vec<i16> = tiles.iter().map(|(t, _)| i16::from(t.level())).collect();
        let tile_idx: Vec<i64> = tiles.iter().map(|(t, _)| sql_index(t.index())).collect();
        let hashes: Vec<&[u8]> = tiles.iter().map(|(_, h)| &h[..]).collect();
        tx.execute(
            "INSERT INTO audit_tiles (level, idx, hash) \
             SELECT * FROM UNNEST($1::smallint[], $2::bigint[], $3::bytea[]) \
             ON CONFLICT (level, idx) DO UPDATE SET hash = EXCLUDED.hash",
            &[&levels, &tile_idx, &hashes],
        )
        .await
        .map_err(db)?;
    }
    tx.execute(
        "UPDATE audit_head SET size = $1, frontier = $2, chain = $3",
        &[
            &sql_index(head.size()),
            &encode_peaks(&head.frontier),
            &&head.chain[..],
        ],
    )
    .await
    .map_err(db)?;
    tx.execute("DELETE FROM meta WHERE key = $1", &[&BACKFILL_FLAG])
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    tracing::info!(
        leaves = head.size(),
        "audit log upgraded: chain values, subjects, subtree hashes and head computed"
    );
    Ok(())
}
