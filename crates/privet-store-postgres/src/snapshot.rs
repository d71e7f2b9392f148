//! Consistent online dumps of a PostgreSQL store for backups, and loading one into an empty
//! database.
//!
//! A dump takes one connection out of the pool and opens one `REPEATABLE READ, READ ONLY`
//! transaction on it: every statement in it sees the same snapshot while other sessions (other
//! servers included) keep committing. From that snapshot come the migrations applied, every
//! table of the store's schema (read from the catalog, so tables a later migration adds are
//! included without a list to keep up to date) with its row count, the audit tree's head, and
//! then each table's rows through `COPY … TO STDOUT`. Tables come after the tables their
//! foreign keys reference, so a load can copy them in dump order.
//!
//! The schema is not dumped: a load applies this build's migrations up to the dump's schema
//! version, replaces the rows those migrations seeded with the dump's, and resets the identity
//! sequences, all in one transaction on an empty database, so a failed or killed load leaves
//! it empty. Later migrations run when the store is next opened.
//!
//! The dump format (inside the backup's encryption, so it is never on disk in the clear):
//! - `V` u32: the schema version;
//! - `T` name ncols col…: a table begins; `C` bytes: COPY text-format data, whole rows;
//!   `E` u64: the table's row count;
//! - `Z`: the end.
//!
//! Strings and bytes are a u32 BE length then the bytes.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use bytes::Bytes;
use futures_util::{SinkExt, TryStreamExt};
use privet_store::dump::{corrupt, get_bytes, get_str, get_u8, get_u32, get_u64, io, put_bytes};
use privet_store::{DumpSummary, Result, SnapshotInfo, StoreError};
use tokio_postgres::{GenericClient, Transaction};

use crate::PgStore;
use crate::error::db;
use crate::migrate;

/// COPY data is written in frames of about this many bytes (whole rows each).
const FRAME: usize = 256 * 1024;
/// Progress is reported about every this many rows.
const PROGRESS_EVERY: u64 = 4096;

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Rows in COPY text-format data: every row ends with a newline, and newlines inside values
/// are escaped (`\n`), so this is exact for whole rows.
fn rows_in(data: &[u8]) -> u64 {
    data.iter().filter(|b| **b == b'\n').count() as u64
}

/// A table and the columns a dump carries (generated columns are computed again on load).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    name: String,
    columns: Vec<String>,
}

/// The store's tables (its schema: the first on the search path) in an order where each
/// comes after the tables its foreign keys reference, with their columns. The migrations
/// table is not among them: a load creates it by migrating.
async fn tables<C: GenericClient>(c: &C) -> Result<Vec<Table>> {
    let cols = c
        .query(
            "SELECT c.relname::text, a.attname::text FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' \
               AND c.relname <> $1 AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY c.relname, a.attnum",
            &[&migrate::TABLE],
        )
        .await
        .map_err(db)?;
    let mut found: Vec<Table> = Vec::new();
    for r in &cols {
        let (table, column): (String, String) = (r.get(0), r.get(1));
        match found.last_mut() {
            Some(t) if t.name == table => t.columns.push(column),
            _ => found.push(Table {
                name: table,
                columns: vec![column],
            }),
        }
    }
    let refs = c
        .query(
            "SELECT c.relname::text, r.relname::text FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid \
             WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace",
            &[],
        )
        .await
        .map_err(db)?;
    let refs: Vec<(String, String)> = refs.iter().map(|r| (r.get(0), r.get(1))).collect();
    // Place, in name order, every table whose referenced tables are all placed; repeat.
    let mut ordered: Vec<Table> = Vec::with_capacity(found.len());
    while !found.is_empty() {
        let placed: BTreeSet<String> = ordered.iter().map(|t| t.name.clone()).collect();
        let ready = |t: &Table| {
            refs.iter()
                .filter(|(from, to)| *from == t.name && *to != t.name)
                .all(|(_, to)| placed.contains(to))
        };
        let (now, later): (Vec<Table>, Vec<Table>) = found.into_iter().partition(|t| ready(t));
        if now.is_empty() {
            return Err(StoreError::Backend(
                "the store's tables reference each other in a cycle: cannot order a dump".into(),
            ));
        }
        ordered.extend(now);
        found = later;
    }
    Ok(ordered)
}

/// A read-only snapshot of a PostgreSQL store, for dumping it.
pub struct PgSnapshot {
    /// Taken out of the pool: it never goes back (dropping it closes the connection, which
    /// ends the transaction), so no pooled connection is ever left inside one.
    client: deadpool_postgres::ClientWrapper,
    tables: Vec<Table>,
    info: SnapshotInfo,
}

impl std::fmt::Debug for PgSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSnapshot")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Opens a snapshot of the whole store. Writers (this server and others) keep committing
    /// meanwhile; nothing they commit after this returns is in the dump.
    pub async fn snapshot(&self) -> Result<PgSnapshot> {
        let client = deadpool_postgres::Object::take(self.client().await?);
        // A dump of a large store runs long: no statement timeout inside it.
        client
            .batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
                 SET LOCAL statement_timeout = 0",
            )
            .await
            .map_err(db)?;
        let migrations: Vec<String> = client
            .query("SELECT name FROM privet_migrations ORDER BY version", &[])
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let tables = tables(&*client).await?;
        let mut counts = Vec::with_capacity(tables.len());
        for t in &tables {
            let n: i64 = client
                .query_one(&format!("SELECT count(*) FROM {}", quote(&t.name)), &[])
                .await
                .map_err(db)?
                .get(0);
            counts.push((t.name.clone(), n.max(0) as u64));
        }
        let frontier = crate::audit::frontier(&client).await?;
        let info = SnapshotInfo {
            backend: "postgres".into(),
            schema_version: migrations.len() as u32,
            migrations,
            tables: counts,
            audit_size: frontier.size(),
            audit_root: frontier.root(),
        };
        Ok(PgSnapshot {
            client,
            tables,
            info,
        })
    }

    /// Loads a dump into this store's database (its schema), which must hold no table yet:
    /// migrates it to the dump's schema version and copies every table, in one transaction,
    /// calling `progress` with the rows loaded so far. On error nothing is left behind.
    /// Connect with [`PgStore::connect_for_load`]; open the store again afterwards.
    pub async fn load_dump(
        &self,
        input: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<DumpSummary> {
        let mut client = deadpool_postgres::Object::take(self.client().await?);
        let existing: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_class \
                 WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'",
                &[],
            )
            .await
            .map_err(db)?
            .get(0);
        if existing > 0 {
            return Err(StoreError::AlreadyExists(
                "the target database already has tables: restore only into an empty database \
                 (create a new one, or drop and recreate this one)"
                    .into(),
            ));
        }
        let tx = client.transaction().await.map_err(db)?;
        tx.batch_execute("SET LOCAL statement_timeout = 0")
            .await
            .map_err(db)?;
        let summary = read_dump(input, Some(&tx), progress).await?;
        reset_sequences(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(summary)
    }
}

impl PgSnapshot {
    /// What the snapshot holds.
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// Writes the whole dump to `out`, calling `progress` with the number of rows written so
    /// far every few thousand rows. Ends the snapshot.
    pub async fn write_to(self, out: &mut dyn Write, progress: &mut dyn FnMut(u64)) -> Result<()> {
        out.write_all(b"V").map_err(io)?;
        out.write_all(&self.info.schema_version.to_be_bytes())
            .map_err(io)?;
        let mut done = 0u64;
        let mut reported = 0u64;
        for (t, (_, expected)) in self.tables.iter().zip(&self.info.tables) {
            out.write_all(b"T").map_err(io)?;
            put_bytes(out, t.name.as_bytes())?;
            out.write_all(&(t.columns.len() as u32).to_be_bytes())
                .map_err(io)?;
            for c in &t.columns {
                put_bytes(out, c.as_bytes())?;
            }
            let stream = self
                .client
                .copy_out(&copy_sql(t, "TO STDOUT"))
                .await
                .map_err(db)?;
            let mut stream = std::pin::pin!(stream);
            let mut frame = Vec::with_capacity(FRAME + 4096);
            let mut rows = 0u64;
            while let Some(data) = stream.try_next().await.map_err(db)? {
                let n = rows_in(&data);
                rows += n;
                done += n;
                frame.extend_from_slice(&data);
                if frame.len() >= FRAME {
                    out.write_all(b"C").map_err(io)?;
                    put_bytes(out, &frame)?;
                    frame.clear();
                }
                if done - reported >= PROGRESS_EVERY {
                    progress(done);
                    reported = done;
                }
            }
            if !frame.is_empty() {
                out.write_all(b"C").map_err(io)?;
                put_bytes(out, &frame)?;
            }
            if rows != *expected {
                return Err(StoreError::Backend(format!(
                    "table {} gave {rows} rows, its count in the same snapshot was {expected}",
                    t.name
                )));
            }
            out.write_all(b"E").map_err(io)?;
            out.write_all(&rows.to_be_bytes()).map_err(io)?;
        }
        out.write_all(b"Z").map_err(io)?;
        progress(done);
        // Ending a read-only transaction cannot lose anything.
        self.client.batch_execute("COMMIT").await.map_err(db)?;
        Ok(())
    }
}

/// Reads a whole dump, checking its structure and each table's row count, without writing
/// anything (what `privet backup verify` does).
pub async fn check_dump(
    input: &mut dyn Read,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpSummary> {
    read_dump(input, None, progress).await
}

fn copy_sql(t: &Table, direction: &str) -> String {
    let columns = t
        .columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    format!("COPY {} ({columns}) {direction}", quote(&t.name))
}

/// Parses a dump; with `tx`, migrates it to the dump's version first and copies each table
/// into it, checking that the dump has exactly the tables that version has.
async fn read_dump(
    input: &mut dyn Read,
    tx: Option<&Transaction<'_>>,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpSummary> {
    if get_u8(input)? != b'V' {
        return Err(corrupt("no schema version"));
    }
    let version = get_u32(input)?;
    let expected = match tx {
        Some(tx) => {
            migrate::apply_first(tx, version).await?;
            Some(tables(tx).await?)
        }
        None => None,
    };
    let mut loaded: Vec<(String, u64)> = Vec::new();
    let mut done = 0u64;
    let mut reported = 0u64;
    loop {
        match get_u8(input)? {
            b'T' => {
                let name = get_str(input)?;
                let ncols = get_u32(input)? as usize;
                if ncols == 0 || ncols > 1600 {
                    return Err(corrupt("column count"));
                }
                let mut columns = Vec::with_capacity(ncols);
                for _ in 0..ncols {
                    columns.push(get_str(input)?);
                }
                let table = Table { name, columns };
                let sink = match (tx, &expected) {
                    (Some(tx), Some(expected)) => {
                        // Only the tables (and columns) of the dump's schema version.
                        if !expected.contains(&table) {
                            return Err(corrupt(&format!(
                                "table {} is not one of schema version {version}'s",
                                table.name
                            )));
                        }
                        // Rows a migration seeded (the audit head, …) are in the dump
                        // as they were at the snapshot.
                        tx.batch_execute(&format!("DELETE FROM {}", quote(&table.name)))
                            .await
                            .map_err(db)?;
                        let sink = tx
                            .copy_in::<_, Bytes>(&copy_sql(&table, "FROM STDIN"))
                            .await
                            .map_err(db)?;
                        Some(Box::pin(sink))
                    }
                    _ => None,
                };
                let mut sink = sink;
                let mut rows = 0u64;
                loop {
                    match get_u8(input)? {
                        b'C' => {
                            let data = get_bytes(input)?;
                            let n = rows_in(&data);
                            if data.last() != Some(&b'\n') {
                                return Err(corrupt("a frame ends inside a row"));
                            }
                            if let Some(sink) = sink.as_mut() {
                                sink.send(Bytes::from(data)).await.map_err(db)?;
                            }
                            rows += n;
                            done += n;
                            if done - reported >= PROGRESS_EVERY {
                                progress(done);
                                reported = done;
                            }
                        }
                        b'E' => {
                            if get_u64(input)? != rows {
                                return Err(corrupt(&format!("row count of table {}", table.name)));
                            }
                            if let Some(sink) = sink.as_mut() {
                                let copied = sink.as_mut().finish().await.map_err(db)?;
                                if copied != rows {
                                    return Err(corrupt(&format!(
                                        "table {}: {copied} rows copied, {rows} in the dump",
                                        table.name
                                    )));
                                }
                            }
                            break;
                        }
                        _ => return Err(corrupt("unknown row marker")),
                    }
                }
                loaded.push((table.name, rows));
            }
            b'Z' => break,
            _ => return Err(corrupt("unknown section")),
        }
    }
    if let Some(expected) = expected {
        let want: BTreeSet<&str> = expected.iter().map(|t| t.name.as_str()).collect();
        let got: BTreeSet<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
        if want != got || got.len() != loaded.len() {
            return Err(corrupt(&format!(
                "its tables differ from schema version {version}'s"
            )));
        }
    }
    let mut trailing = [0u8; 1];
    if input.read(&mut trailing).map_err(io)? != 0 {
        return Err(corrupt("data after the end"));
    }
    progress(done);
    Ok(DumpSummary {
        tables: loaded,
        schema_version: version,
    })
}

/// Moves every identity (and serial) sequence past the largest value loaded into its column,
/// so new rows do not collide with restored ones.
async fn reset_sequences(tx: &Transaction<'_>) -> Result<()> {
    let rows = tx
        .query(
            "SELECT c.relname::text, a.attname::text, \
                    pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.oid = current_schema()::regnamespace AND c.relkind = 'r' \
               AND a.attnum > 0 AND NOT a.attisdropped",
            &[],
        )
        .await
        .map_err(db)?;
    for r in &rows {
        let (table, column, sequence): (String, String, Option<String>) =
            (r.get(0), r.get(1), r.get(2));
        let Some(sequence) = sequence else { continue };
        tx.execute(
            &format!(
                "SELECT setval($1::text::regclass, \
                 COALESCE((SELECT max({}) FROM {}), 0) + 1, false)",
                quote(&column),
                quote(&table)
            ),
            &[&sequence],
        )
        .await
        .map_err(db)?;
    }
    Ok(())
}
