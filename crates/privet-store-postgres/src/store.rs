//! The [`PgStore`]: connecting, the pool, and the [`Store`] implementation.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use privet_audit::{Frontier, Hash, Subtree};
use privet_core::{RecordId, SubjectId};
use privet_store::{
    ApiKeyRow, CheckpointRow, Committed, ConsentEventRow, PrincipalRow, Result, RoleRow, Store,
    StoreError, StoredLeaf, SubjectData, WriteSet,
};
use time::OffsetDateTime;
use tokio_postgres::NoTls;

use crate::error::{db, pool};
use crate::{apply, consent, migrate, principals, read};

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most pooled connections.
    pub pool_size: usize,
    /// A schema to use instead of `public` (tests give each case its own).
    pub schema: Option<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            schema: None,
        }
    }
}

/// The PostgreSQL backend.
pub struct PgStore {
    pool: Pool,
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
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
        if let Some(schema) = &options.schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Backend("schema names are [A-Za-z0-9_]".into()));
            }
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        let (mut client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
        let conn_task = tokio::spawn(connection);
        if let Some(schema) = &options.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(db)?;
        }
        let mut migrated = migrate::run(&mut client).await;
        if migrated.is_ok() {
            migrated = crate::audit::backfill(&mut client).await;
        }
        drop(client);
        let _ = conn_task.await;
        migrated?;
        Ok(Self { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool)
    }
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
        read::load_subject(&**self.client().await?, subject, collection, record).await
    }

    async fn lookup(
        &self,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<Vec<(SubjectId, RecordId)>> {
        read::lookup(&**self.client().await?, collection, field, term).await
    }

    async fn consent_history(&self, subject: SubjectId) -> Result<Vec<ConsentEventRow>> {
        consent::history(&**self.client().await?, subject).await
    }

    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
            .await
            .map_err(db)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn api_key(&self, prefix: &str) -> Result<Option<ApiKeyRow>> {
        read::api_key(&**self.client().await?, prefix).await
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
            .query_one("SELECT size FROM audit_head", &[])
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
        read::erasures(&**self.client().await?).await
    }

    async fn ping(&self) -> Result<()> {
        let client = self.client().await?;
        client.query_one("SELECT 1", &[]).await.map_err(db)?;
        Ok(())
    }
}
