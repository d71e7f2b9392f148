//! The schema: Privet's data inventory. It declares every piece of personal data a
//! deployment keeps (collections and fields), what it is (a fideslang data category), why it
//! is kept (purposes with a legal basis) and for how long (retention). Anything not declared
//! is refused at the door.
//!
//! A schema is read from TOML and checked as a whole; a rejected schema lists every problem
//! with its path, so an operator fixes them in one pass.

mod check;
mod model;
mod raw;
mod reader;
mod retention;
mod toml_error;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fields;
#[cfg(test)]
mod tests_reject;

use std::fmt;

use serde::Serialize;

pub use model::{Collection, CollectionKind, Field, FieldType, LegalBasis, Pattern, Purpose};
pub use retention::{PeriodUnit, Retention, RetentionAnchor, RetentionParseError, RetentionPeriod};

/// The example schema of a small online shop, as shipped in `examples/shop.schema.toml`.
pub const EXAMPLE_SCHEMA: &str = include_str!("../../examples/shop.schema.toml");

/// The only schema format version this build understands.
pub const SCHEMA_VERSION: u32 = 1;

/// A checked schema. Cheap to share behind an `Arc`; it never changes once built.
#[derive(Debug, Clone, Serialize)]
pub struct Schema {
    version: u32,
    purposes: Vec<Purpose>,
    collections: Vec<Collection>,
}

impl Schema {
    /// Parses and checks a schema, reporting every problem found.
    pub fn from_toml_str(text: &str) -> Result<Schema, SchemaErrors> {
        let doc = toml::de::DeTable::parse(text)
            .map_err(|err| SchemaErrors(vec![toml_error::problem(text, &err)]))?;
        let mut reader = reader::Reader {
            problems: Vec::new(),
        };
        let raw = reader.document(doc.get_ref());
        let schema = check::check(raw, &mut reader);
        if reader.problems.is_empty() {
            Ok(schema)
        } else {
            Err(SchemaErrors(reader.problems))
        }
    }

    /// The schema format version (always [`SCHEMA_VERSION`] for a loaded schema).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// A purpose by its exact name.
    pub fn purpose(&self, name: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.name == name)
    }

    /// Every purpose, in declaration order.
    pub fn purposes(&self) -> impl Iterator<Item = &Purpose> {
        self.purposes.iter()
    }

    /// A collection by name.
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.name == name)
    }

    /// Every collection, in declaration order.
    pub fn collections(&self) -> impl Iterator<Item = &Collection> {
        self.collections.iter()
    }

    /// The profile collection (one record per subject), if the schema declares one.
    pub fn profile(&self) -> Option<&Collection> {
        self.collections
            .iter()
            .find(|c| c.kind == CollectionKind::Profile)
    }
}

/// One reason a schema was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaProblem {
    /// Where: a dotted TOML path such as `collections.customers.fields.email.category`.
    pub path: String,
    /// What is wrong, naming the limit or the expected form.
    pub message: String,
}

/// Every reason a schema was rejected (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct SchemaErrors(pub Vec<SchemaProblem>);

impl SchemaErrors {
    /// The problems, in document order of discovery.
    pub fn problems(&self) -> &[SchemaProblem] {
        &self.0
    }

    /// Whether some problem sits at exactly `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|p| p.path == path)
    }
}

fn lines(problems: &[SchemaProblem]) -> Lines<'_> {
    Lines(problems)
}

struct Lines<'a>(&'a [SchemaProblem]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            fmt::Display::fmt(problem, f)?;
        }
        Ok(())
    }
}
