//! The fideslang taxonomy: data categories (what a value is) and data uses (why it is kept).
//!
//! The taxonomy ships as data files beside the crate so that it can be reviewed and
//! updated without touching code; they are compiled in and parsed once on first use.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

const CATEGORIES_TSV: &str = include_str!("../taxonomy/data_categories.tsv");
const DATA_USES_TXT: &str = include_str!("../taxonomy/data_uses.txt");

/// A fideslang data category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Category {
    /// The dotted fideslang name, e.g. `user.contact.email`.
    pub name: &'static str,
    /// A special category (GDPR Art. 9) or sensitive personal information (CPRA): never
    /// released for marketing, personalization or automated decisions.
    pub special: bool,
}

static CATEGORIES: LazyLock<BTreeMap<&'static str, bool>> =
    LazyLock::new(|| parse_categories(CATEGORIES_TSV));

static DATA_USES: LazyLock<BTreeSet<&'static str>> =
    LazyLock::new(|| data_lines(DATA_USES_TXT).collect());

/// Looks up a data category by its exact name.
pub fn category(name: &str) -> Option<Category> {
    CATEGORIES
        .get_key_value(name)
        .map(|(name, special)| Category {
            name,
            special: *special,
        })
}

/// Every known data category, in name order.
pub fn categories() -> impl Iterator<Item = Category> {
    CATEGORIES.iter().map(|(name, special)| Category {
        name,
        special: *special,
    })
}

/// Whether `name` is a fideslang data use, or extends one: fideslang lets a taxonomy grow
/// downward, so `marketing.communications.push` is accepted because `marketing` is a
/// fideslang top-level data use.
pub fn is_known_data_use(name: &str) -> bool {
    if DATA_USES.contains(name) {
        return true;
    }
    let Some((top, rest)) = name.split_once('.') else {
        return false;
    };
    DATA_USES.contains(top) && rest.split('.').all(is_valid_segment)
}

/// Every fideslang data use shipped with Privet (without extensions), in name order.
pub fn data_uses() -> impl Iterator<Item = &'static str> {
    DATA_USES.iter().copied()
}

fn is_valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

fn parse_categories(text: &'static str) -> BTreeMap<&'static str, bool> {
    let mut map: BTreeMap<&'static str, bool> = data_lines(text)
        .map(|line| {
            let mut cols = line.split('\t');
            let name = cols.next().unwrap_or_default().trim();
            let special = cols.next().map(str::trim) == Some("special");
            (name, special)
        })
        .collect();
    // The data file marks roots; a child inherits so that a forgotten mark on a new child
    // can never make special data releasable for marketing.
    let special_roots: Vec<&str> = map
        .iter()
        .filter(|(_, special)| **special)
        .map(|(name, _)| *name)
        .collect();
    for (name, special) in map.iter_mut() {
        if special_roots.iter().any(|root| is_descendant(name, root)) {
            *special = true;
        }
    }
    map
}

fn is_descendant(name: &str, ancestor: &str) -> bool {
    name.strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_schema_categories_are_known() {
        for name in [
            "user.contact.email",
            "user.name",
            "user.contact.phone_number",
            "user.contact.address",
            "user.demographic.date_of_birth",
            "user.demographic.gender",
            "user.demographic.religious_belief",
            "user.behavior.purchase_history",
            "user.financial",
            "user.financial.credit_card",
            "user.content.private",
            "user.unique_id",
            "system.operations",
        ] {
            assert!(category(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn special_categories_are_marked() {
        for name in [
            "user.demographic.race_ethnicity",
            "user.demographic.religious_belief",
            "user.demographic.political_opinion",
            "user.demographic.sexual_orientation",
            "user.demographic.union_membership",
            "user.health",
            "user.health.genetic",
            "user.health_and_medical.record_id",
            "user.biometric.fingerprint",
            "user.biometrics",
            "user.criminal_history",
            "user.government_id.passport_number",
            "user.location.precise",
            "user.financial.bank_account",
            "user.financial.credit_card",
            "user.authorization.credentials",
            "user.content.private",
        ] {
            assert_eq!(category(name).map(|c| c.special), Some(true), "{name}");
        }
        for name in [
            "user.contact.email",
            "user.name",
            "user.financial",
            "user.location.coarse",
        ] {
            assert_eq!(category(name).map(|c| c.special), Some(false), "{name}");
        }
    }

    #[test]
    fn every_child_of_a_special_category_is_special() {
        let all: Vec<Category> = categories().collect();
        for parent in all.iter().filter(|c| c.special) {
            for child in all.iter().filter(|c| is_descendant(c.name, parent.name)) {
                assert!(child.special, "{} under {}", child.name, parent.name);
            }
        }
    }

    #[test]
    fn unknown_category_is_none() {
        assert_eq!(category("user.shoe_size"), None);
        assert_eq!(category("user.contact."), None);
        assert_eq!(category(""), None);
    }

    #[test]
    fn data_uses_accept_fideslang_names_and_downward_extensions() {
        assert!(is_known_data_use("essential.service"));
        assert!(is_known_data_use(
            "marketing.advertising.third_party.targeted"
        ));
        assert!(is_known_data_use("train_ai_system"));
        assert!(is_known_data_use("marketing.communications.push"));
        assert!(is_known_data_use("essential.service.shipping_labels"));
        assert!(!is_known_data_use("shipping"));
        assert!(!is_known_data_use("shipping.labels"));
        assert!(!is_known_data_use("marketing..email"));
        assert!(!is_known_data_use("marketing.Email"));
        assert!(!is_known_data_use(""));
    }
}
