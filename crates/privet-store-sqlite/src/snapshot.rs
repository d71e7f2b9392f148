//! Consistent online dumps of the whole database for backups, and loading one into a new
//! database file.
//!
//! A dump opens its own read-only connection and one read transaction: in WAL mode that is a
//! snapshot of one commit, while the writer keeps committing beside it. Everything is read
//! from that snapshot — the schema (`sqlite_master`), each table's row count, the audit
//! tree's frontier, then every row of every table — so the dump is one point in time and
//! carries every table there is, whatever migrations added it.
//!
//! The dump format (inside the backup's encryption, so it is never on disk in the clear):
//! - `S` type name sql: a schema object from `sqlite_master` (tables first, in creation
//!   order, then indexes and triggers, which the load creates after the rows);
//! - `T` name ncols col…: a table begins; `R` value…: one row; `E` count: the table ends;
//! - `Z` user_version: the end.
//!
//! Strings are a u32 BE length then UTF-8; values a tag (0 null, 1 integer i64 BE, 2 real
//! f64 BE, 3 text, 4 blob u32 BE length then bytes).

use std::io::{Read, Write};
use std::path::Path;

use privet_store::dump::{
    corrupt, get_bytes, get_exact, get_str, get_u8, get_u32, get_u64, io, put_bytes, put_str,
};
use privet_store::{DumpSummary, Result, SnapshotInfo, StoreError};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use crate::migrate;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A schema object from `sqlite_master`.
struct SchemaObject {
    kind: String,
    name: String,
    sql: String,
}

/// A read transaction on a database file, for dumping it.
pub struct SqliteSnapshot {
    conn: Connection,
    objects: Vec<SchemaObject>,
    info: SnapshotInfo,
}

impl std::fmt::Debug for SqliteSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSnapshot")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl SqliteSnapshot {
    /// Opens a snapshot of the database at `path` (which must exist and be migrated by this
    /// build or an older one). Writers may keep committing meanwhile.
    pub fn open(path: &Path) -> Result<SqliteSnapshot> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        // The transaction's first read fixes the snapshot; every read below is inside it.
        conn.execute_batch("BEGIN").map_err(backend)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if version == 0 {
            return Err(StoreError::Invalid(format!(
                "{} is not a Privet database (schema version 0)",
                path.display()
            )));
        }
        let objects = schema_objects(&conn)?;
        let mut tables = Vec::new();
        for o in objects.iter().filter(|o| o.kind == "table") {
            let n: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM {}", quote(&o.name)),
                    [],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            tables.push((o.name.clone(), n.max(0) as u64));
        }
        let frontier = crate::audit::read_frontier(&conn)?;
        let schema_version = u32::try_from(version).map_err(|_| corrupt("schema version"))?;
        let info = SnapshotInfo {
            backend: "sqlite".into(),
            schema_version,
            migrations: migrate::names(schema_version),
            tables,
            audit_size: frontier.size(),
            audit_root: frontier.root(),
        };
        Ok(SqliteSnapshot {
            conn,
            objects,
            info,
        })
    }

    /// What the snapshot holds.
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// Writes the whole dump to `out`, calling `progress` with the number of rows written
    /// so far every few thousand rows. Ends the read transaction.
    pub fn write_to(self, out: &mut dyn Write, progress: &mut dyn FnMut(u64)) -> Result<()> {
        for o in &self.objects {
            out.write_all(b"S").map_err(io)?;
            put_str(out, &o.kind)?;
            put_str(out, &o.name)?;
            put_str(out, &o.sql)?;
        }
        let mut done = 0u64;
        for (name, _) in &self.info.tables {
            dump_table(&self.conn, name, out, &mut done, progress)?;
        }
        out.write_all(b"Z").map_err(io)?;
        out.write_all(&self.info.schema_version.to_be_bytes())
            .map_err(io)?;
        progress(done);
        // Ending a read transaction cannot lose anything.
        self.conn.execute_batch("COMMIT").map_err(backend)?;
        Ok(())
    }
}

fn schema_objects(conn: &Connection) -> Result<Vec<SchemaObject>> {
    // Tables first (in creation order), then what depends on them. SQLite's own tables
    // (`sqlite_sequence`, `sqlite_stat*`) are maintained by SQLite and not dumped.
    let mut stmt = conn
        .prepare(
            "SELECT type, name, sql FROM sqlite_master \
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SchemaObject {
                kind: r.get(0)?,
                name: r.get(1)?,
                sql: r.get(2)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let stmt = conn
        .prepare(&format!("SELECT * FROM {} LIMIT 0", quote(table)))
        .map_err(backend)?;
    Ok(stmt.column_names().map(String::from).collect())
}

fn dump_table(
    conn: &Connection,
    table: &str,
    out: &mut dyn Write,
    done: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let cols = columns(conn, table)?;
    out.write_all(b"T").map_err(io)?;
    put_str(out, table)?;
    out.write_all(&(cols.len() as u32).to_be_bytes())
        .map_err(io)?;
    for c in &cols {
        put_str(out, c)?;
    }
    let list = cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let mut stmt = conn
        .prepare(&format!("SELECT {list} FROM {}", quote(table)))
        .map_err(backend)?;
    let mut rows = stmt.query([]).map_err(backend)?;
    let mut count = 0u64;
    while let Some(row) = rows.next().map_err(backend)? {
        out.write_all(b"R").map_err(io)?;
        for i in 0..cols.len() {
            put_value(out, row.get_ref(i).map_err(backend)?)?;
        }
        count += 1;
        *done += 1;
        if (*done).is_multiple_of(4096) {
            progress(*done);
        }
    }
    out.write_all(b"E").map_err(io)?;
    out.write_all(&count.to_be_bytes()).map_err(io)?;
    Ok(())
}

fn put_value(out: &mut dyn Write, v: ValueRef<'_>) -> Result<()> {
    match v {
        ValueRef::Null => out.write_all(&[0]).map_err(io),
        ValueRef::Integer(i) => {
            out.write_all(&[1]).map_err(io)?;
            out.write_all(&i.to_be_bytes()).map_err(io)
        }
        ValueRef::Real(f) => {
            out.write_all(&[2]).map_err(io)?;
            out.write_all(&f.to_bits().to_be_bytes()).map_err(io)
        }
        ValueRef::Text(t) => {
            out.write_all(&[3]).map_err(io)?;
            put_bytes(out, t)
        }
        ValueRef::Blob(b) => {
            out.write_all(&[4]).map_err(io)?;
            put_bytes(out, b)
        }
    }
}

/// Loads a dump into a new database file at `path` (which must not exist), calling
/// `progress` with the rows loaded so far. The file is complete, synced and in WAL mode when
/// this returns; on error it is left behind half-written and must be discarded.
pub fn load_dump(
    path: &Path,
    input: &mut dyn Read,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpSummary> {
    if path.exists() {
        return Err(StoreError::AlreadyExists(path.display().to_string()));
    }
    crate::store::create_private(path)?;
    let mut conn = Connection::open(path).map_err(backend)?;
    // No journal while loading: a failed load discards the whole file anyway.
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .map_err(backend)?;
    let tx = conn.transaction().map_err(backend)?;
    let summary = read_dump(input, Some(&tx), progress)?;
    tx.commit().map_err(backend)?;
    conn.execute_batch("PRAGMA journal_mode = WAL;")
        .map_err(backend)?;
    drop(conn);
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    Ok(summary)
}

/// Reads a whole dump, checking its structure and each table's row count, without writing
/// anything (what `privet backup verify` does).
pub fn check_dump(input: &mut dyn Read, progress: &mut dyn FnMut(u64)) -> Result<DumpSummary> {
    read_dump(input, None, progress)
}

fn read_dump(
    input: &mut dyn Read,
    tx: Option<&rusqlite::Transaction<'_>>,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpSummary> {
    let mut later = Vec::new();
    let mut tables = Vec::new();
    let mut done = 0u64;
    let version = loop {
        match get_u8(input)? {
            b'S' => {
                let kind = get_str(input)?;
                let _name = get_str(input)?;
                let sql = get_str(input)?;
                match tx {
                    Some(tx) if kind == "table" => tx.execute_batch(&sql).map_err(backend)?,
                    _ => later.push(sql),
                }
            }
            b'T' => tables.push(load_table(tx, input, &mut done, progress)?),
            b'Z' => break get_u32(input)?,
            _ => return Err(corrupt("unknown section")),
        }
    };
    if let Some(tx) = tx {
        for sql in &later {
            tx.execute_batch(sql).map_err(backend)?;
        }
        tx.pragma_update(None, "user_version", i64::from(version))
            .map_err(backend)?;
    }
    let mut trailing = [0u8; 1];
    if input.read(&mut trailing).map_err(io)? != 0 {
        return Err(corrupt("data after the end"));
    }
    progress(done);
    Ok(DumpSummary {
        tables,
        schema_version: version,
    })
}

fn load_table(
    tx: Option<&rusqlite::Transaction<'_>>,
    input: &mut dyn Read,
    done: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<(String, u64)> {
    let name = get_str(input)?;
    let ncols = get_u32(input)? as usize;
    if ncols == 0 || ncols > 2000 {
        return Err(corrupt("column count"));
    }
    let mut cols = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        cols.push(quote(&get_str(input)?));
    }
    let marks = vec!["?"; ncols].join(", ");
    let mut stmt = match tx {
        Some(tx) => Some(
            tx.prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                quote(&name),
                cols.join(", ")
            ))
            .map_err(backend)?,
        ),
        None => None,
    };
    let mut count = 0u64;
    let mut row = Vec::with_capacity(ncols);
    loop {
        match get_u8(input)? {
            b'R' => {
                row.clear();
                for _ in 0..ncols {
                    row.push(get_value(input)?);
                }
                if let Some(stmt) = stmt.as_mut() {
                    stmt.execute(rusqlite::params_from_iter(row.iter()))
                        .map_err(backend)?;
                }
                count += 1;
                *done += 1;
                if (*done).is_multiple_of(4096) {
                    progress(*done);
                }
            }
            b'E' => {
                if get_u64(input)? != count {
                    return Err(corrupt(&format!("row count of table {name}")));
                }
                return Ok((name, count));
            }
            _ => return Err(corrupt("unknown row marker")),
        }
    }
}

fn get_value(input: &mut dyn Read) -> Result<Value> {
    Ok(match get_u8(input)? {
        0 => Value::Null,
        1 => Value::Integer(i64::from_be_bytes(get_exact(input)?)),
        2 => Value::Real(f64::from_bits(get_u64(input)?)),
        3 => Value::Text(get_str(input)?),
        4 => Value::Blob(get_bytes(input)?),
        _ => return Err(corrupt("unknown value type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteOptions, SqliteStore};

    /// Every table in the database, read from `sqlite_master` (not from the dump code).
    fn tables_in(path: &Path) -> Vec<String> {
        let c = Connection::open(path).unwrap();
        let mut s = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[tokio::test]
    async fn a_dump_covers_every_table_and_loads_into_an_identical_database() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.db");
        let store = SqliteStore::open(&src, SqliteOptions::default()).unwrap();
        store
            .apply(privet_store::WriteSet::new().op(privet_store::Op::PutMeta {
                key: "k".into(),
                value: vec![0, 1, 2, 255],
            }))
            .await
            .unwrap();
        let snap = SqliteSnapshot::open(&src).unwrap();
        let info = snap.info().clone();
        let mut dumped: Vec<String> = info.tables.iter().map(|(n, _)| n.clone()).collect();
        dumped.sort();
        // A table added by any migration is in the backup without anyone listing it.
        assert_eq!(dumped, tables_in(&src));
        assert_eq!(info.migrations.len(), info.schema_version as usize);
        let mut buf = Vec::new();
        snap.write_to(&mut buf, &mut |_| {}).unwrap();
        let dst = dir.path().join("dst.db");
        let summary = load_dump(&dst, &mut buf.as_slice(), &mut |_| {}).unwrap();
        assert_eq!(summary.tables, info.tables);
        assert_eq!(tables_in(&dst), tables_in(&src));
        let restored = SqliteStore::open(&dst, SqliteOptions::default()).unwrap();
        use privet_store::Store;
        assert_eq!(restored.meta("k").await.unwrap(), Some(vec![0, 1, 2, 255]));
        // A cut dump is refused.
        let dst2 = dir.path().join("dst2.db");
        assert!(load_dump(&dst2, &mut &buf[..buf.len() - 3], &mut |_| {}).is_err());
    }

    #[tokio::test]
    async fn a_snapshot_is_one_point_in_time_while_writes_continue() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.db");
        let store = SqliteStore::open(&src, SqliteOptions::default()).unwrap();
        let put = |k: &str| {
            privet_store::WriteSet::new().op(privet_store::Op::PutMeta {
                key: k.into(),
                value: vec![1],
            })
        };
        store.apply(put("before")).await.unwrap();
        let snap = SqliteSnapshot::open(&src).unwrap();
        // Commits after the snapshot began succeed and are not in it.
        store.apply(put("after")).await.unwrap();
        let meta_rows =
            |tables: &[(String, u64)]| tables.iter().find(|(n, _)| n == "meta").map(|(_, c)| *c);
        let counted = meta_rows(&snap.info().tables);
        let mut buf = Vec::new();
        snap.write_to(&mut buf, &mut |_| {}).unwrap();
        let dst = dir.path().join("dst.db");
        let summary = load_dump(&dst, &mut buf.as_slice(), &mut |_| {}).unwrap();
        assert_eq!(meta_rows(&summary.tables), counted);
        let restored = SqliteStore::open(&dst, SqliteOptions::default()).unwrap();
        use privet_store::Store;
        assert!(restored.meta("before").await.unwrap().is_some());
        assert!(restored.meta("after").await.unwrap().is_none());
    }
}
