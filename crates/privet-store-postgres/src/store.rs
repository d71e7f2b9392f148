//! The [`PgStore`]: connecting, the pool, and the [`Store`] implementation.

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use privet_audit::{Frontier, Hash, Subtree};
use privet_core::{MessageId, RecordId, RightsRequestId, SubjectId};
use privet_store::{
    ApiKeyRow, CheckpointRow, Committed, ConsentEventRow, KeyTable, OutboxRow, PrincipalRow,
    RequestEventRow, RequestFilter, Result, RetainedData, RetainedKeyRow, RightsRequestRow,
    RoleRow, StaleIndexRecord, Store, StoreError, StoredLeaf, SubjectData, TermHits, WrappedKeyRow,
    WriteSet,
};
use time::OffsetDateTime;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{NoTls, Socket};

use crate::error::{db, pool};
use crate::shared::SharedReaders;
use crate::{apply, consent, migrate, principals, read, tls};

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most pooled connections.
    pub pool_size: usize,
    /// A schema to use instead of `public` (tests give each case its own).
    pub schema: Option<String>,
    /// A PEM file of CA certificates trusted for the server's TLS certificate, besides the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            schema: None,
            ca_file: None,
        }
    }
}

/// Bounds on waiting for the database, so a request fails (503) instead of hanging when it is
/// down or stuck. Each applies unless the URL sets its own (`connect_timeout`,
/// `tcp_user_timeout`, `options=-c statement_timeout=…`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long sent data may stay unacknowledged before the kernel drops a TCP connection (a
/// database host that vanished without closing its connections).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one statement may run (e.g. waiting for a lock that a stuck session holds) before
/// the server cancels it and the request gets a 503. Privet's statements are short.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request waits for a free pooled connection.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The PostgreSQL backend.
pub struct PgStore {
    pool: Pool,
    /// Connections point reads share (see `shared`).
    readers: SharedReaders,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL or a `key=value` connection string), runs
    /// pending migrations, and returns the store. An unreachable database is `Unavailable`.
    /// The URL's `sslmode` decides TLS (see the README): plaintext only for Unix sockets,
    /// loopback addresses and `sslmode=disable`; otherwise rustls, verifying the server's
    /// certificate against the system's roots, `options.ca_file` and the URL's `sslrootcert`.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        Self::connect_with(url, options, true).await
    }

    /// Connects like [`PgStore::connect`] but runs no migration: for loading a backup's dump
    /// into an empty database ([`PgStore::load_dump`] applies the dump's own migrations).
    /// Reads and writes through it are for that load only; open the store again with
    /// [`PgStore::connect`] afterwards.
    pub async fn connect_for_load(url: &str, options: PgOptions) -> Result<Self> {
        Self::connect_with(url, options, false).await
    }

    async fn connect_with(url: &str, options: PgOptions, migrate: bool) -> Result<Self> {
        let tls::Parsed {
            mut config,
            security,
            root_cert,
        } = tls::parse(url)?;
        if let Some(schema) = &options.schema
            && !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Backend("schema names are [A-Za-z0-9_]".into()));
        }
        // Server-side settings travel in the startup `options`, after any the URL gives.
        let mut startup = config.get_options().unwrap_or_default().to_owned();
        if let Some(schema) = &options.schema {
            startup.push_str(&format!(" -c search_path={schema}"));
        }
        if !startup.contains("statement_timeout") {
            startup.push_str(&format!(
                " -c statement_timeout={}",
                STATEMENT_TIMEOUT.as_millis()
            ));
        }
        config.options(startup.trim());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        let connector = match security {
            tls::Security::None => None,
            s => {
                let ca_files: Vec<&Path> = options
                    .ca_file
                    .iter()
                    .chain(root_cert.iter())
                    .map(PathBuf::as_path)
                    .collect();
                Some(tls::connector(s, &ca_files)?)
            }
        };
        // Fast recycling checks that the connection is not closed; a connection that broke
        // (database restarted) is closed by its connection task and replaced on the next
        // checkout, so the pool recovers by itself.
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &connector {
            None => Manager::from_config(config.clone(), NoTls, manager_config),
            Some(c) => Manager::from_config(config.clone(), c.clone(), manager_config),
        };
        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(connect_timeout + Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        let (mut client, conn_task) = match connector {
            None => first_connection(&config, NoTls).await?,
            Some(c) => first_connection(&config, c).await?,
        };
        // Migrations may run long on a big database, and a server starting beside a migrating
        // one waits for its advisory lock: no statement timeout on this connection.
        client
            .batch_execute("SET statement_timeout = 0")
            .await
            .map_err(db)?;
        if let Some(schema) = &options.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(db)?;
        }
        let mut migrated = if migrate {
            migrate::run(&mut client).await
        } else {
            Ok(())
        };
        if migrate && migrated.is_ok() {
            migrated = crate::audit::backfill(&mut client).await;
        }
        drop(client);
        let _ = conn_task.await;
        migrated?;
        Ok(Self {
            pool,
            readers: SharedReaders::for_pool(options.pool_size.max(1)),
        })
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool)
    }

    /// A connection for a one-statement read, possibly shared with other such reads.
    async fn reader(&self) -> Result<std::sync::Arc<deadpool_postgres::Object>> {
        self.readers.get(&self.pool).await
    }
}

/// One connection outside the pool (migrations hold a session lock on it).
async fn first_connection<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await.map_err(|e| {
        let e = crate::error::with_causes(&e);
        let hint = if e.contains("TLS") {
            " (the URL's sslmode and store.ca_file decide how the server's certificate is verified)"
        } else {
            ""
        };
        StoreError::Unavailable(format!("cannot connect to the database: {e}{hint}"))
    })?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, task))
}

#[async_trait]
impl Store for PgStore {
    async fn apply(&self, writes: WriteSet) -> Result<Committed> {
        let mut client = self.client().await?;
        apply::write_set(&mut client, &writes).await
    }

    async fn load_subject(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> Result<Option<SubjectData>> {
        crate::load::load_subject(&*self.reader().await?, subject, Some(collection), record).await
    }

    async fn lookup(
        &self,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<Vec<(SubjectId, RecordId)>> {
        read::lookup(&*self.reader().await?, collection, field, term).await
    }

    async fn consent_history(&self, subject: SubjectId) -> Result<Vec<ConsentEventRow>> {
        consent::history(&**self.client().await?, subject).await
    }

    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &client
                    .prepare_cached("SELECT value FROM meta WHERE key = $1")
                    .await
                    .map_err(db)?,
                &[&key],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRow>> {
        read::api_key(&*self.reader().await?, prefix).await
    }

    async fn principal(&self, id: &str) -> Result<Option<PrincipalRow>> {
        let grants = principals::principal_grants(&**self.client().await?, id).await?;
        Ok(grants.map(|(p, _)| p))
    }

    async fn principals(&self) -> Result<Vec<PrincipalRow>> {
        principals::principals(&**self.client().await?).await
    }

    async fn principal_grants(&self, id: &str) -> Result<Option<(PrincipalRow, Vec<RoleRow>)>> {
        principals::principal_grants(&**self.client().await?, id).await
    }

    async fn role(&self, name: &str) -> Result<Option<RoleRow>> {
        principals::role(&**self.client().await?, name).await
    }

    async fn roles(&self) -> Result<Vec<RoleRow>> {
        principals::roles(&**self.client().await?).await
    }

    async fn audit_leaves(&self, from: u64, limit: u32) -> Result<Vec<StoredLeaf>> {
        crate::audit::leaves(&**self.client().await?, from, limit).await
    }

    async fn audit_len(&self) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &client
                    .prepare_cached("SELECT size FROM audit_head")
                    .await
                    .map_err(db)?,
                &[],
            )
            .await
            .map_err(db)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn audit_subtrees(&self, subtrees: &[Subtree]) -> Result<Vec<Hash>> {
        crate::audit::subtrees(&**self.client().await?, subtrees).await
    }

    async fn audit_frontier(&self) -> Result<Frontier> {
        crate::audit::frontier(&**self.client().await?).await
    }

    async fn audit_leaves_of_subject(
        &self,
        subject: SubjectId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StoredLeaf>> {
        crate::audit::leaves_of_subject(&**self.client().await?, subject, from, limit).await
    }

    async fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        crate::audit::checkpoints(&**self.client().await?).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        crate::audit::latest_checkpoint(&**self.client().await?).await
    }

    async fn erasures(&self) -> Result<Vec<(SubjectId, OffsetDateTime)>> {
        read::erasures(&*self.client().await?).await
    }

    async fn load_subject_all(&self, subject: SubjectId) -> Result<Option<SubjectData>> {
        crate::load::load_subject(&*self.reader().await?, subject, None, None).await
    }

    async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db)?;
        Ok(())
    }

    async fn rights_request(
        &self,
        id: RightsRequestId,
    ) -> Result<Option<(RightsRequestRow, Vec<RequestEventRow>)>> {
        crate::rights::request(&*self.client().await?, id).await
    }

    async fn rights_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
    ) -> Result<Vec<RightsRequestRow>> {
        crate::rights::requests(&*self.client().await?, filter, limit).await
    }

    async fn outbox_due(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<OutboxRow>> {
        crate::rights::outbox_due(&*self.client().await?, now, limit).await
    }

    async fn outbox_message(&self, id: MessageId) -> Result<Option<OutboxRow>> {
        crate::rights::outbox_message(&*self.client().await?, id).await
    }

    async fn retained_keys(&self, subject: SubjectId) -> Result<Vec<RetainedKeyRow>> {
        crate::retained::keys(&*self.client().await?, subject).await
    }

    async fn load_retained(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> Result<Option<RetainedData>> {
        crate::retained::load(&*self.client().await?, subject, collection, record).await
    }

    async fn retention_page(
        &self,
        after: Option<SubjectId>,
        limit: u32,
    ) -> Result<Vec<privet_store::RetentionRow>> {
        let mut client = self.client().await?;
        crate::retention::page(&mut client, after, limit).await
    }

    async fn legal_hold(&self, subject: SubjectId) -> Result<Option<privet_store::LegalHoldRow>> {
        crate::retention::legal_hold(&*self.client().await?, subject).await
    }

    async fn portal_token_spent(&self, id: &str) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &client
                    .prepare_cached("SELECT 1 FROM portal_spent WHERE id = $1")
                    .await
                    .map_err(db)?,
                &[&id],
            )
            .await
            .map_err(db)?;
        Ok(row.is_some())
    }

    async fn wrapped_key_counts(&self, table: KeyTable) -> Result<Vec<(u32, u64)>> {
        crate::rotation::wrapped_key_counts(&*self.client().await?, table).await
    }

    async fn wrapped_keys(
        &self,
        table: KeyTable,
        version: u32,
        after: Option<(SubjectId, String)>,
        limit: u32,
    ) -> Result<Vec<WrappedKeyRow>> {
        crate::rotation::wrapped_keys(&*self.client().await?, table, version, after, limit).await
    }

    async fn index_version_counts(&self) -> Result<Vec<(u32, u64)>> {
        crate::rotation::index_version_counts(&*self.client().await?).await
    }

    async fn stale_index_records(
        &self,
        target: u32,
        after: Option<RecordId>,
        limit: u32,
    ) -> Result<Vec<StaleIndexRecord>> {
        crate::rotation::stale_index_records(&*self.client().await?, target, after, limit).await
    }

    async fn retained_due(
        &self,
        until: OffsetDateTime,
        after: Option<(OffsetDateTime, RecordId)>,
        limit: u32,
    ) -> Result<Vec<privet_store::RetainedDueRow>> {
        crate::retained::due(&*self.client().await?, until, after, limit).await
    }

    async fn lookup_terms(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> Result<TermHits> {
        read::lookup_terms(&*self.reader().await?, collection, field, terms, meta_key).await
    }

    async fn lookup_and_load(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> Result<privet_store::FoundSubjects> {
        let client = self.reader().await?;
        crate::load::lookup_and_load(&client, collection, field, terms, meta_key).await
    }
}
