//! The [`SqliteStore`]: opening, pragmas, and the [`Store`] implementation.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use privet_audit::{Frontier, Hash, Subtree};
use privet_core::{MessageId, RecordId, RightsRequestId, SubjectId};
use privet_store::{
    ApiKeyRow, CheckpointRow, Committed, ConsentEventRow, KeyTable, OutboxRow, PrincipalRow,
    RequestEventRow, RequestFilter, Result, RetainedData, RetainedKeyRow, RightsRequestRow,
    RoleRow, StaleIndexRecord, Store, StoreError, StoredLeaf, SubjectData, WrappedKeyRow, WriteSet,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use time::OffsetDateTime;

use crate::writer::Writer;
use crate::{consent, migrate, principals, read};

/// How much of the database file each reader maps (SQLite clamps it to its compile-time
/// limit, 2 GiB by default).
const READER_MMAP: i64 = 1 << 31;

/// Tuning knobs. The defaults are what `privet serve` uses.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Page cache of the writer connection, in MiB (bulk imports insert random blind-index
    /// keys, which stay fast only while the index's pages fit in the cache).
    pub writer_cache_mib: u32,
    /// Page cache of each reader connection, in MiB.
    pub reader_cache_mib: u32,
    /// Most write sets committed in one transaction.
    pub max_group: usize,
    /// Entries the recent level of the blind index holds before it is merged into the main
    /// level (small enough that random inserts into it dirty few pages per commit).
    pub index_merge_at: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            writer_cache_mib: 256,
            reader_cache_mib: 32,
            max_group: 512,
            index_merge_at: 32_768,
        }
    }
}

/// The embedded SQLite backend.
pub struct SqliteStore {
    path: PathBuf,
    options: SqliteOptions,
    writer: Writer,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed, mode 0600) the database at `path`, runs pending
    /// migrations, and starts the writer thread.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        create_private(&path)?;
        let mut conn = open_conn(&path, options.writer_cache_mib)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(backend)?;
        migrate::run(&mut conn)?;
        let writer = Writer::start(conn, &path, options.max_group, options.index_merge_at)?;
        Ok(Self {
            path,
            options,
            writer,
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled reader connection on a blocking thread: for scans whose length
    /// depends on the caller (audit leaves, the erasure ledger).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let pool = Arc::clone(&self.readers);
        let path = self.path.clone();
        let cache = self.options.reader_cache_mib;
        tokio::task::spawn_blocking(move || with_reader(&pool, &path, cache, f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }

    /// Runs `f` on a pooled reader connection right here. Only for point queries by key
    /// (a few microseconds in SQLite): a hop to a blocking thread and back costs more than
    /// the query itself, and the query never waits on the writer (WAL readers do not block).
    fn point_read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        with_reader(&self.readers, &self.path, self.options.reader_cache_mib, f)
    }
}

fn with_reader<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    cache_mib: u32,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let pooled = pool.lock().ok().and_then(|mut p| p.pop());
    let conn = match pooled {
        Some(c) => c,
        None => {
            let c = open_conn(path, cache_mib)?;
            c.pragma_update(None, "query_only", "ON").map_err(backend)?;
            // Readers map the database file instead of reading it a page per `pread`: long
            // scans (audit verification reads every leaf) were bound by one system call per
            // 4 KiB page. The writer keeps ordinary I/O.
            c.pragma_update(None, "mmap_size", READER_MMAP)
                .map_err(backend)?;
            c
        }
    };
    let out = f(&conn);
    // A connection left inside a transaction (its end failed) is dropped, not reused.
    if conn.is_autocommit()
        && let Ok(mut p) = pool.lock()
    {
        p.push(conn);
    }
    out
}

pub(crate) fn create_private(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

pub(crate) fn open_conn(path: &Path, cache_mib: u32) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    // WAL lets readers run beside the writer; FULL makes each (group) commit durable, so an
    // acknowledged write survives a crash or a power loss.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(backend)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(backend)?;
    conn.pragma_update(None, "cache_size", -(i64::from(cache_mib) * 1024))
        .map_err(backend)?;
    // The bundled SQLite is built with STAT4, so the planner may look at bound values; rusqlite
    // clears bindings whenever a cached statement is returned, and SQLite then expires such a
    // statement, re-preparing it from SQL text on every use (measured: 15 µs instead of 4.6 µs
    // per point query). The query-planner stability guarantee keeps plans independent of
    // bound values, so cached statements stay prepared.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(backend)?;
    // The writer runs some forty distinct statements (multi-row inserts among them), readers
    // a few dozen: rusqlite's default cache of 16 would re-prepare them over and over.
    conn.set_prepared_statement_cache_capacity(128);
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(backend)?;
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply(&self, writes: WriteSet) -> Result<Committed> {
        self.writer.submit(writes).await
    }

    async fn load_subject(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> Result<Option<SubjectData>> {
        self.point_read(|c| read::load_subject(c, subject, collection, record))
    }

    async fn lookup(
        &self,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<Vec<(SubjectId, RecordId)>> {
        self.point_read(|c| crate::index::lookup(c, collection, field, term))
    }

    async fn consent_history(&self, subject: SubjectId) -> Result<Vec<ConsentEventRow>> {
        self.point_read(|c| consent::history(c, subject))
    }

    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.point_read(|c| read::meta(c, key))
    }

    async fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRow>> {
        self.point_read(|c| read::api_key(c, prefix))
    }

    async fn principal(&self, id: &str) -> Result<Option<PrincipalRow>> {
        self.point_read(|c| principals::principal_grants(c, id))
            .map(|g| g.map(|(p, _)| p))
    }

    async fn principals(&self) -> Result<Vec<PrincipalRow>> {
        self.read(principals::principals).await
    }

    async fn principal_grants(&self, id: &str) -> Result<Option<(PrincipalRow, Vec<RoleRow>)>> {
        self.point_read(|c| principals::principal_grants(c, id))
    }

    async fn role(&self, name: &str) -> Result<Option<RoleRow>> {
        self.point_read(|c| principals::role(c, name))
    }

    async fn roles(&self) -> Result<Vec<RoleRow>> {
        self.read(principals::roles).await
    }

    async fn audit_leaves(&self, from: u64, limit: u32) -> Result<Vec<StoredLeaf>> {
        self.read(move |c| read::audit_leaves(c, from, limit)).await
    }

    async fn audit_len(&self) -> Result<u64> {
        self.point_read(read::audit_len)
    }

    async fn audit_subtrees(&self, subtrees: &[Subtree]) -> Result<Vec<Hash>> {
        let subtrees = subtrees.to_vec();
        self.read(move |c| crate::audit::subtrees(c, &subtrees))
            .await
    }

    async fn audit_frontier(&self) -> Result<Frontier> {
        self.read(crate::audit::frontier).await
    }

    async fn audit_leaves_of_subject(
        &self,
        subject: SubjectId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StoredLeaf>> {
        self.read(move |c| crate::audit::leaves_of_subject(c, subject, from, limit))
            .await
    }

    async fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        self.read(crate::audit::checkpoints).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        self.point_read(crate::audit::latest_checkpoint)
    }

    async fn erasures(&self) -> Result<Vec<(SubjectId, OffsetDateTime)>> {
        self.read(read::erasures).await
    }

    async fn load_subject_all(&self, subject: SubjectId) -> Result<Option<SubjectData>> {
        self.read(move |c| read::load_subject_all(c, subject)).await
    }

    async fn ping(&self) -> Result<()> {
        self.point_read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
    }

    async fn rights_request(
        &self,
        id: RightsRequestId,
    ) -> Result<Option<(RightsRequestRow, Vec<RequestEventRow>)>> {
        self.point_read(|c| crate::rights::request(c, id))
    }

    async fn rights_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
    ) -> Result<Vec<RightsRequestRow>> {
        let filter = filter.clone();
        self.read(move |c| crate::rights::requests(c, &filter, limit))
            .await
    }

    async fn outbox_due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<OutboxRow>> {
        self.read(move |c| crate::rights::outbox_due(c, now, limit))
            .await
    }

    async fn outbox_message(&self, id: MessageId) -> Result<Option<OutboxRow>> {
        self.point_read(|c| crate::rights::outbox_message(c, id))
    }

    async fn retained_keys(&self, subject: SubjectId) -> Result<Vec<RetainedKeyRow>> {
        self.point_read(|c| crate::retained::keys(c, subject))
    }

    async fn load_retained(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> Result<Option<RetainedData>> {
        self.point_read(|c| crate::retained::load(c, subject, collection, record))
    }

    async fn retention_page(
        &self,
        after: Option<SubjectId>,
        limit: u32,
    ) -> Result<Vec<privet_store::RetentionRow>> {
        self.read(move |c| crate::retention::page(c, after, limit))
            .await
    }

    async fn legal_hold(&self, subject: SubjectId) -> Result<Option<privet_store::LegalHoldRow>> {
        self.point_read(|c| crate::retention::legal_hold(c, subject))
    }

    async fn portal_token_spent(&self, id: &str) -> Result<bool> {
        self.point_read(|c| {
            c.query_row("SELECT 1 FROM portal_spent WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
                .map_err(backend)
        })
    }

    async fn wrapped_key_counts(&self, table: KeyTable) -> Result<Vec<(u32, u64)>> {
        self.read(move |c| crate::rotation::wrapped_key_counts(c, table))
            .await
    }

    async fn wrapped_keys(
        &self,
        table: KeyTable,
        version: u32,
        after: Option<(SubjectId, String)>,
        limit: u32,
    ) -> Result<Vec<WrappedKeyRow>> {
        self.read(move |c| crate::rotation::wrapped_keys(c, table, version, after, limit))
            .await
    }

    async fn index_version_counts(&self) -> Result<Vec<(u32, u64)>> {
        self.read(|c| read::in_snapshot(c, crate::rotation::index_version_counts))
            .await
    }

    async fn stale_index_records(
        &self,
        target: u32,
        after: Option<RecordId>,
        limit: u32,
    ) -> Result<Vec<StaleIndexRecord>> {
        self.read(move |c| {
            read::in_snapshot(c, |c| {
                crate::rotation::stale_index_records(c, target, after, limit)
            })
        })
        .await
    }
    async fn retained_due(
        &self,
        until: OffsetDateTime,
        after: Option<(OffsetDateTime, RecordId)>,
        limit: u32,
    ) -> Result<Vec<privet_store::RetainedDueRow>> {
        self.read(move |c| crate::retained::due(c, until, after, limit))
            .await
    }

    async fn lookup_terms(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> Result<privet_store::TermHits> {
        self.point_read(|c| read::lookup_terms(c, collection, field, terms, meta_key))
    }

    async fn lookup_and_load(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> Result<privet_store::FoundSubjects> {
        self.point_read(|c| read::lookup_and_load(c, collection, field, terms, meta_key))
    }
}
