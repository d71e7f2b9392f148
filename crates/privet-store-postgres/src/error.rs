//! Mapping PostgreSQL and pool errors to the store's error type.

use privet_store::StoreError;
use tokio_postgres::error::SqlState;

/// Any database error, classified: connection trouble is `Unavailable` (retryable, 503).
pub(crate) fn db(e: tokio_postgres::Error) -> StoreError {
    if e.as_db_error().is_none() || e.is_closed() {
        return StoreError::Unavailable(e.to_string());
    }
    match e.code() {
        Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CANNOT_CONNECT_NOW => {
            StoreError::Unavailable(e.to_string())
        }
        Some(c) if *c == SqlState::QUERY_CANCELED || *c == SqlState::LOCK_NOT_AVAILABLE => {
            StoreError::Unavailable(format!("the database did not answer in time, retry: {e}"))
        }
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Unavailable(format!("concurrent transaction conflict, retry: {e}"))
        }
        // The message (which constraint, which column) is in the cause, not in the error.
        _ => StoreError::Backend(with_causes(&e)),
    }
}

/// Whether the error is a violation of the given constraint class.
pub(crate) fn is(e: &tokio_postgres::Error, state: &SqlState) -> bool {
    e.code() == Some(state)
}

pub(crate) fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {e}"))
}

/// An error and its chain of causes on one line (tokio-postgres keeps the interesting part,
/// such as why a certificate was refused, in the causes).
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}
