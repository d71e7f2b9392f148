//! A principal's effective grant, indexed for the per-field decision.

use std::collections::HashMap;

use super::{Access, Role};

/// How one field is released for one purpose, and by which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The most revealing access any single role grants.
    pub access: Access,
    /// The role that grants it (the one keying a token); of several granting the same
    /// access, the first by name.
    pub role: String,
}

/// Fields by collection and name.
pub(crate) type FieldGrants = HashMap<String, HashMap<String, Grant>>;

/// The effective grant of a principal: what its roles release, indexed by purpose,
/// collection and field. Build it once per principal (or per request) and share it.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    roles: Vec<String>,
    admin: bool,
    by_purpose: HashMap<String, FieldGrants>,
}

impl Grants {
    /// The effective grant of a principal holding `roles`.
    ///
    /// A field is granted for a purpose only when one role grants both; its access is the
    /// most revealing among such roles.
    pub fn from_roles<'a>(roles: impl IntoIterator<Item = &'a Role>) -> Grants {
        let mut grants = Grants::default();
        for role in roles {
            grants.roles.push(role.name.clone());
            grants.admin |= role.admin;
            for purpose in &role.purposes {
                let by_collection = grants.by_purpose.entry(purpose.clone()).or_default();
                for (collection, fields) in &role.collections {
                    let by_field = by_collection.entry(collection.clone()).or_default();
                    for (field, &access) in fields {
                        let candidate = Grant {
                            access,
                            role: role.name.clone(),
                        };
                        match by_field.get_mut(field) {
                            Some(held) if !reveals_more(&candidate, held) => {}
                            Some(held) => *held = candidate,
                            None => {
                                by_field.insert(field.clone(), candidate);
                            }
                        }
                    }
                }
            }
        }
        grants.roles.sort();
        grants.roles.dedup();
        grants
    }

    /// How `field` of `collection` is released for `purpose`, if it is.
    pub fn get(&self, purpose: &str, collection: &str, field: &str) -> Option<&Grant> {
        self.by_purpose.get(purpose)?.get(collection)?.get(field)
    }

    /// What is granted for one purpose (`None` if no role grants the purpose).
    pub(crate) fn for_purpose(&self, purpose: &str) -> Option<&FieldGrants> {
        self.by_purpose.get(purpose)
    }

    /// Whether some role grants `purpose` (whatever fields it grants with it).
    pub fn grants_purpose(&self, purpose: &str) -> bool {
        self.by_purpose.contains_key(purpose)
    }

    /// Whether some role may administer the vault.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// The names of the roles held, sorted.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
}

/// Whether `candidate` should replace `held`: more revealing, or as revealing from a role
/// that sorts first (so the choice does not depend on the order roles are listed in).
fn reveals_more(candidate: &Grant, held: &Grant) -> bool {
    candidate.access > held.access
        || (candidate.access == held.access && candidate.role < held.role)
}
