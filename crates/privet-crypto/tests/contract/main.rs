//! The crypto API contract (`notes/crypto-api.md`), tested through the public API only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apikey;
mod class_key;
mod field;
mod keyfile;
mod keyring;
mod recipient;
mod redaction;
mod signing;

use privet_core::{RecordId, SubjectId};
use privet_crypto::FieldAad;

/// One field's context, owning its ids so tests can vary each part.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) collection: String,
    pub(crate) record: RecordId,
    pub(crate) field: String,
    pub(crate) subject: SubjectId,
}

impl Ctx {
    pub(crate) fn new() -> Ctx {
        Ctx {
            collection: "customers".to_owned(),
            record: RecordId::new(),
            field: "email".to_owned(),
            subject: SubjectId::new(),
        }
    }

    pub(crate) fn aad(&self) -> FieldAad<'_> {
        FieldAad {
            collection: &self.collection,
            record: &self.record,
            field: &self.field,
            subject: &self.subject,
        }
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
