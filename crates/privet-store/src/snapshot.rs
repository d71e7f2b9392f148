//! What a backend reports about a consistent snapshot it dumps for a backup: enough for a
//! manifest that lets an operator (and `privet backup verify`) check a backup without
//! restoring it. The dump itself is backend-specific bytes (see each backend's `snapshot`
//! module); every table of the database is in it, not a hand-written list.

/// The facts of one snapshot, all read inside the snapshot's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// `sqlite` or `postgres`: a dump restores only into the same kind of backend.
    pub backend: String,
    /// The schema version (number of migrations applied).
    pub schema_version: u32,
    /// The migrations applied, by name, in order.
    pub migrations: Vec<String>,
    /// Every table of the database with its row count, in dump order.
    pub tables: Vec<(String, u64)>,
    /// The audit tree's size.
    pub audit_size: u64,
    /// The audit tree's root hash (RFC 9162) at that size.
    pub audit_root: [u8; 32],
}

/// What loading (or checking) a dump found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    /// Every table with its rows, in dump order.
    pub tables: Vec<(String, u64)>,
    /// The schema version of the dump.
    pub schema_version: u32,
}
