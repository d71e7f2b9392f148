//! One module per command.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod bench_audit;
pub(crate) mod consent;
pub(crate) mod demo;
pub(crate) mod import;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod migrate;
pub(crate) mod principal;
pub(crate) mod schema;
pub(crate) mod serve;
pub(crate) mod subject;
pub(crate) mod synth;
