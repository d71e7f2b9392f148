//! Route handlers, one module per resource.

pub(crate) mod health;
pub(crate) mod records;
pub(crate) mod subjects;
