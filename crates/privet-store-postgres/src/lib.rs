//! Privet's scale-out backend: PostgreSQL (and PostgreSQL-wire engines) through tokio-postgres
//! with a deadpool connection pool.
//!
//! Many `privet serve` processes may share one database: every write set is one transaction;
//! audit appends are numbered under a row lock on `audit_head`, which also holds the audit
//! tree's frontier and chain value, so the log stays one gap-free sequence in commit order and
//! one Merkle tree whichever server appends; unique blind-index terms are checked under a
//! transaction-scoped advisory lock; consent and restriction writes lock their subject's row,
//! so an erasure cannot interleave; migrations run under a session advisory lock so
//! concurrent starts do not race. Nothing is cached in process but prepared statements (per
//! pooled connection), so a revocation holds for the next request on every server. TLS goes
//! through rustls, chosen by the URL's `sslmode` (see `tls`); connection failures are
//! `StoreError::Unavailable`, and the pool replaces broken connections by itself. This crate
//! is the only place that writes SQL for PostgreSQL.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod apply;
mod audit;
pub mod baseline;
mod bulk;
mod consent;
mod error;
mod load;
mod migrate;
mod principals;
mod read;
mod retained;
mod retention;
mod rights;
mod rotation;
mod shared;
mod snapshot;
mod store;
mod tls;

pub use snapshot::{PgSnapshot, check_dump};
pub use store::{PgOptions, PgStore};
