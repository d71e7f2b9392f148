//! The hand-written baseline for benchmarks: the same customers stored the way a team without
//! Privet would in PostgreSQL — one row each in a plain table, every personal field its own
//! `pgp_sym_encrypt` column (pgcrypto, encrypted server-side), and an HMAC column per
//! searchable field (`hmac(lower(value), key, 'sha256')`) with an ordinary index for lookups.
//! It lives in its own schema of the database under test, next to the vault's tables, so both
//! are measured on the same server in the same run. Benchmarks only; nothing in the vault
//! calls this.
//!
//! Its keys are random per run and travel as bound parameters of every statement, as such an
//! application's would (which is one of its weaknesses: PostgreSQL sees them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use privet_store::{Result, StoreError};
use tokio::task::JoinSet;
use tokio_postgres::{Client, NoTls, Statement};

use crate::error::db;

/// The baseline table's name.
pub const TABLE: &str = "bench_pgcrypto";

/// `pgp_sym_encrypt` options: pgcrypto's defaults (AES-128, iterated-and-salted S2K with a
/// random count of 65,536–253,952 hashed bytes per value, i.e. per call).
pub const PGP_DEFAULTS: &str = "";
/// `pgp_sym_encrypt` options for a random (not human) key, where key stretching buys nothing:
/// AES-256 with a salted, non-iterated S2K. About 20× cheaper per value than the defaults.
pub const PGP_RANDOM_KEY: &str = "cipher-algo=aes256, s2k-mode=1";

/// Connections to one benchmark schema, with the baseline's keys.
pub struct Baseline {
    clients: Vec<Arc<Client>>,
    schema: String,
    columns: Vec<String>,
    searchable: Vec<String>,
    pgp_key: String,
    hmac_key: String,
}

impl std::fmt::Debug for Baseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baseline")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// 256 random bits, hex-encoded (pgcrypto takes keys as text).
fn random_key() -> String {
    use rand_core::RngCore;
    let mut k = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut k);
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn checked_name(name: &str) -> Result<&str> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(name)
    } else {
        Err(StoreError::Backend(format!(
            "benchmark names are [a-z0-9_], not {name:?}"
        )))
    }
}

impl Baseline {
    /// Opens `connections` connections to `url` with `schema` (created if missing) first on
    /// the search path, and makes sure pgcrypto is installed (into `schema` unless the database
    /// already has it). `columns` are the table's columns, the first the id; `searchable`
    /// (a subset) get an HMAC column each.
    pub async fn connect(
        url: &str,
        schema: &str,
        connections: usize,
        columns: &[&str],
        searchable: &[&str],
    ) -> Result<Self> {
        let schema = checked_name(schema)?.to_owned();
        for c in columns.iter().chain(searchable) {
            checked_name(c)?;
        }
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
        config.options(format!("-c search_path={schema},public"));
        let mut clients = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            let (client, conn) = config.connect(NoTls).await.map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to the database: {e}"))
            })?;
            tokio::spawn(conn);
            clients.push(Arc::new(client));
        }
        clients[0]
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}; CREATE EXTENSION IF NOT EXISTS pgcrypto;"
            ))
            .await
            .map_err(|e| {
                StoreError::Backend(format!(
                    "cannot install pgcrypto (Debian: apt-get install postgresql-contrib): {e}"
                ))
            })?;
        Ok(Self {
            clients,
            schema,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            searchable: searchable.iter().map(|c| (*c).to_owned()).collect(),
            pgp_key: random_key(),
            hmac_key: random_key(),
        })
    }

    /// (Re)creates the baseline table: `id bytea PRIMARY KEY` (16 bytes, like Privet's ids), one `bytea` per other column,
    /// one `bytea` `<col>_hmac` per searchable column with an index on it.
    pub async fn create_table(&self) -> Result<()> {
        let mut cols = vec!["id bytea PRIMARY KEY".to_owned()];
        cols.extend(self.columns[1..].iter().map(|c| format!("{c} bytea")));
        cols.extend(self.searchable.iter().map(|c| format!("{c}_hmac bytea")));
        let mut sql = format!(
            "DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} ({});",
            cols.join(", ")
        );
        for c in &self.searchable {
            sql += &format!("CREATE INDEX {TABLE}_{c}_hmac ON {TABLE} ({c}_hmac);");
        }
        self.clients[0].batch_execute(&sql).await.map_err(db)
    }

    fn insert_sql(&self) -> String {
        let n = self.columns.len();
        // $1 = pgp key, $2 = pgp options, $3 = hmac key, $4.. = one array per column.
        let arrays: Vec<String> = (0..n)
            .map(|i| {
                let ty = if i == 0 { "bytea" } else { "text" };
                format!("${}::{ty}[]", i + 4)
            })
            .collect();
        let mut targets = vec!["id".to_owned()];
        let mut values = vec!["u.id".to_owned()];
        for c in &self.columns[1..] {
            targets.push(c.clone());
            values.push(format!("pgp_sym_encrypt(u.{c}, $1, $2)"));
        }
        for c in &self.searchable {
            targets.push(format!("{c}_hmac"));
            values.push(format!("hmac(lower(u.{c}), $3, 'sha256')"));
        }
        format!(
            "INSERT INTO {TABLE} ({}) SELECT {} FROM UNNEST({}) AS u({})",
            targets.join(", "),
            values.join(", "),
            arrays.join(", "),
            self.columns.join(", ")
        )
    }

    /// Inserts `rows` (each: a 16-byte id, then one value per further column, `None` for a null),
    /// `batch` rows per transaction as one multi-row INSERT that encrypts server-side, with
    /// `in_flight` batches (at most one per connection) in flight. Returns the elapsed time.
    pub async fn import(
        &self,
        rows: &[([u8; 16], Vec<Option<String>>)],
        batch: usize,
        in_flight_max: usize,
        pgp_options: &str,
    ) -> Result<Duration> {
        let conns = in_flight_max.clamp(1, self.clients.len());
        let sql = Arc::new(self.insert_sql());
        let started = Instant::now();
        let mut in_flight = JoinSet::new();
        let mut free: Vec<usize> = (0..conns).collect();
        for chunk in rows.chunks(batch.max(1)) {
            let conn = match free.pop() {
                Some(c) => c,
                None => join_one(&mut in_flight).await?,
            };
            let client = Arc::clone(&self.clients[conn]);
            let ids: Vec<Vec<u8>> = chunk.iter().map(|(id, _)| id.to_vec()).collect();
            let cols: Vec<Vec<Option<String>>> = (0..self.columns.len() - 1)
                .map(|i| {
                    chunk
                        .iter()
                        .map(|(_, v)| v.get(i).cloned().flatten())
                        .collect()
                })
                .collect();
            let sql = Arc::clone(&sql);
            let keys = [
                self.pgp_key.clone(),
                pgp_options.to_owned(),
                self.hmac_key.clone(),
            ];
            // One statement, so one transaction per batch.
            in_flight.spawn(async move {
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    vec![&keys[0], &keys[1], &keys[2], &ids];
                for c in &cols {
                    params.push(c);
                }
                client.execute(sql.as_str(), &params).await.map(|_| conn)
            });
        }
        while !in_flight.is_empty() {
            join_one(&mut in_flight).await?;
        }
        Ok(started.elapsed())
    }

    /// Prepares the two reads on connection `conn`: by id, and by the HMAC of `lookup_field`,
    /// each decrypting `fields` server-side.
    pub async fn prepare_reads(
        &self,
        conn: usize,
        fields: &[&str],
        lookup_field: &str,
    ) -> Result<BaselineReads> {
        for f in fields.iter().chain([&lookup_field]) {
            checked_name(f)?;
        }
        let client = Arc::clone(&self.clients[conn % self.clients.len()]);
        let decrypted: Vec<String> = fields
            .iter()
            .map(|f| format!("pgp_sym_decrypt({f}, $2)"))
            .collect();
        let by_id = client
            .prepare(&format!(
                "SELECT {} FROM {TABLE} WHERE id = $1",
                decrypted.join(", ")
            ))
            .await
            .map_err(db)?;
        let by_hmac = client
            .prepare(&format!(
                "SELECT id, {} FROM {TABLE} WHERE {lookup_field}_hmac = hmac(lower($1), $3, 'sha256')",
                decrypted.join(", ")
            ))
            .await
            .map_err(db)?;
        Ok(BaselineReads {
            client,
            by_id,
            by_hmac,
            pgp_key: self.pgp_key.clone(),
            hmac_key: self.hmac_key.clone(),
        })
    }

    /// Bytes on disk of every table of the schema with its indexes and TOAST, by table.
    pub async fn relation_sizes(&self) -> Result<Vec<(String, i64)>> {
        let rows = self.clients[0]
            .query(
                "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 2 DESC",
                &[&self.schema],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Drops the benchmark schema and everything in it.
    pub async fn drop_schema(&self) -> Result<()> {
        self.clients[0]
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await
            .map_err(db)
    }
}

/// Waits for one batch; the connection it frees.
async fn join_one(
    set: &mut JoinSet<std::result::Result<usize, tokio_postgres::Error>>,
) -> Result<usize> {
    match set.join_next().await {
        Some(Ok(r)) => r.map_err(db),
        Some(Err(e)) => Err(StoreError::Backend(format!("baseline task failed: {e}"))),
        None => Err(StoreError::Backend("no batch in flight".into())),
    }
}

/// The baseline's two prepared reads on one connection.
pub struct BaselineReads {
    client: Arc<Client>,
    by_id: Statement,
    by_hmac: Statement,
    pgp_key: String,
    hmac_key: String,
}

impl std::fmt::Debug for BaselineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaselineReads").finish_non_exhaustive()
    }
}

impl BaselineReads {
    /// Reads one customer by id, decrypting the prepared fields; the number of decrypted
    /// values (0 if there is no such id).
    pub async fn by_id(&self, id: &[u8; 16]) -> Result<usize> {
        let rows = self
            .client
            .query(&self.by_id, &[&&id[..], &self.pgp_key])
            .await
            .map_err(db)?;
        Ok(count_values(&rows))
    }

    /// Looks customers up by the HMAC of a value, decrypting the prepared fields of each hit;
    /// the number of decrypted values.
    pub async fn by_hmac(&self, value: &str) -> Result<usize> {
        let rows = self
            .client
            .query(&self.by_hmac, &[&value, &self.pgp_key, &self.hmac_key])
            .await
            .map_err(db)?;
        Ok(count_values(&rows))
    }
}

fn count_values(rows: &[tokio_postgres::Row]) -> usize {
    rows.iter()
        .map(|r| {
            (0..r.len())
                .filter(|i| r.try_get::<_, Option<String>>(*i).ok().flatten().is_some())
                .count()
        })
        .sum()
}
