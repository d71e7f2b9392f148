//! Roles and grants: which purposes a principal may state, and per collection which fields
//! it may see and how.
//!
//! A [`Role`] grants a set of purposes and, per collection, an [`Access`] per field. A
//! principal holds roles; its effective grant ([`Grants`]) releases a field for a purpose
//! only if **one** role grants both (a purpose from one role never combines with a field
//! from another), with the most revealing access among such roles:
//! `plain` > `tokenized` > `masked`. A token is ranked above a mask because it is a stable
//! identifier: it links every record holding the value (and re-identifies them for anyone
//! who learns one value–token pair), while a mask shows a fragment shared by many values.

mod index;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::consent::UnknownName;
use crate::schema::Schema;

pub(crate) use index::FieldGrants;
pub use index::{Grant, Grants};

/// How a granted field is shown. Ordered from least to most revealing, so the most
/// revealing of several is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// A fragment: `j***@example.com`, `•••• 4242`, a date's year (see [`crate::mask()`]).
    Masked,
    /// A deterministic per-role pseudonym (`tok_…`), equal for equal values.
    Tokenized,
    /// The value itself.
    Plain,
}

impl Access {
    /// Every access mode, least revealing first.
    pub const ALL: [Access; 3] = [Access::Masked, Access::Tokenized, Access::Plain];

    /// The snake_case name used in roles and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Access::Masked => "masked",
            Access::Tokenized => "tokenized",
            Access::Plain => "plain",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Access::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName::new("access", s))
    }
}

/// A named bundle of grants, as `POST /v1/roles` takes it:
/// `{"name": "mailer", "purposes": ["marketing.communications.email"],
///   "collections": {"customers": {"email": "plain", "name": "masked"}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// The role name (`[a-z0-9_-]{1,64}`).
    pub name: String,
    /// The purposes a holder may state.
    #[serde(default)]
    pub purposes: BTreeSet<String>,
    /// Per collection, the fields a holder may see and how.
    #[serde(default)]
    pub collections: BTreeMap<String, BTreeMap<String, Access>>,
    /// Whether a holder may administer the vault (principals, roles, schema). Reading
    /// personal data is a separate grant: an admin role releases only what it grants.
    #[serde(default)]
    pub admin: bool,
}

/// Longest role name.
pub const MAX_ROLE_NAME_LEN: usize = 64;

/// Whether `name` is a valid role name: 1 to 64 of `a-z`, `0-9`, `_`, `-`.
pub fn is_valid_role_name(name: &str) -> bool {
    (1..=MAX_ROLE_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Role {
    /// A role that grants every purpose of `schema` and every field of every collection in
    /// plain (consent, special-category and restriction rules still apply to it). Not
    /// `admin`.
    pub fn full_access(name: &str, schema: &Schema) -> Role {
        Role {
            name: name.to_owned(),
            purposes: schema.purposes().map(|p| p.name.clone()).collect(),
            collections: schema
                .collections()
                .map(|c| {
                    let fields = c.fields().map(|f| (f.name.clone(), Access::Plain));
                    (c.name.clone(), fields.collect())
                })
                .collect(),
            admin: false,
        }
    }

    /// Checks the role against `schema`, listing every problem with its path: an invalid
    /// name, unknown purposes, collections and fields.
    pub fn check(&self, schema: &Schema) -> Result<(), RoleErrors> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| {
            problems.push(RoleProblem { path, message });
        };
        if !is_valid_role_name(&self.name) {
            problem(
                "name".into(),
                format!("must be 1 to {MAX_ROLE_NAME_LEN} of a-z, 0-9, `_` and `-`"),
            );
        }
        for p in &self.purposes {
            if schema.purpose(p).is_none() {
                problem(format!("purposes.{p}"), format!("unknown purpose `{p}`"));
            }
        }
        for (c, fields) in &self.collections {
            let Some(collection) = schema.collection(c) else {
                problem(
                    format!("collections.{c}"),
                    format!("unknown collection `{c}`"),
                );
                continue;
            };
            for f in fields.keys() {
                if collection.field(f).is_none() {
                    problem(
                        format!("collections.{c}.{f}"),
                        format!("unknown field `{f}` in collection `{c}`"),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RoleErrors(problems))
        }
    }
}

/// One reason a role was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RoleProblem {
    /// Where: `name`, `purposes.<purpose>`, `collections.<collection>[.<field>]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Every reason a role was rejected (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct RoleErrors(pub Vec<RoleProblem>);

impl RoleErrors {
    /// The problems: name first, then purposes, then collections, each in name order.
    pub fn problems(&self) -> &[RoleProblem] {
        &self.0
    }

    /// Whether some problem sits at exactly `path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|p| p.path == path)
    }
}
