//! Route handlers, one module per resource.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod consents;
pub(crate) mod exports;
pub(crate) mod health;
pub(crate) mod monitoring;
pub(crate) mod records;
pub(crate) mod requests;
pub(crate) mod subjects;
