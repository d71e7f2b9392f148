//! Router tests of the portal (see the module docs).
