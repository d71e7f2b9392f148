//! One module per command.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod bench_audit;
pub(crate) mod bench_erase;
pub(crate) mod bench_export;
pub(crate) mod bench_rotate;
pub(crate) mod consent;
pub(crate) mod demo;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod migrate;
pub(crate) mod principal;
pub(crate) mod request;
pub(crate) mod retention;
pub(crate) mod rotate;
pub(crate) mod rotate_signing;
pub(crate) mod schema;
pub(crate) mod serve;
pub(crate) mod subject;
pub(crate) mod synth;

/// An RFC 3339 time for a table cell, or `-`.
pub(crate) fn time_or_dash(t: Option<time::OffsetDateTime>) -> String {
    use time::format_description::well_known::Rfc3339;
    t.and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

/// Parses an optional `--expires-at` RFC 3339 argument.
pub(crate) fn expires_at(arg: Option<String>) -> anyhow::Result<Option<time::OffsetDateTime>> {
    use anyhow::Context;
    use time::format_description::well_known::Rfc3339;
    arg.map(|s| {
        time::OffsetDateTime::parse(&s, &Rfc3339)
            .with_context(|| format!("--expires-at `{s}` is not an RFC 3339 time"))
    })
    .transpose()
}
