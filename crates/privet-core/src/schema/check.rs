//! Cross-checks the raw declarations (names, taxonomy, purpose references, limits that only
//! make sense for some types) and builds the schema. Every problem is recorded; a
//! declaration with a problem is still checked as far as it can be, and the caller discards
//! the schema if anything was recorded.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::model::{
    Collection, CollectionKind, Field, FieldType, LegalBasis, Pattern, Purpose,
    excludes_special_categories,
};
use super::raw::{RawCollection, RawField, RawPurpose, RawSchema};
use super::reader::{Reader, join};
use super::retention::{Retention, RetentionAnchor};
use super::{SCHEMA_VERSION, Schema};
use crate::taxonomy;

pub(super) fn check(raw: RawSchema, r: &mut Reader) -> Schema {
    if let Some(v) = raw.version.filter(|v| *v != i64::from(SCHEMA_VERSION)) {
        r.problem(
            "version",
            format!("unsupported schema version {v} (this build reads version {SCHEMA_VERSION})"),
        );
    }
    collisions(
        r,
        raw.purposes
            .iter()
            .map(|p| (p.name.as_str(), p.path.as_str())),
    );
    collisions(
        r,
        raw.collections
            .iter()
            .map(|c| (c.name.as_str(), c.path.as_str())),
    );

    let mut purposes = Vec::new();
    for p in &raw.purposes {
        if !taxonomy::is_known_data_use(&p.name) {
            r.problem(&p.path, format!(
                "`{}` is not a fideslang data use (nor an extension of one, such as `marketing.communications.push`)",
                p.name
            ));
        }
        if let (Some(description), Some(legal_basis)) = (&p.description, p.legal_basis) {
            purposes.push(Purpose {
                name: p.name.clone(),
                description: description.clone(),
                legal_basis,
                sale_or_sharing: p.sale_or_sharing,
                automated_decision: p.automated_decision,
            });
        }
    }
    // Fields are checked against every declared purpose, even one with its own problems,
    // so that one mistake is not reported again at every field that uses it.
    let declared: BTreeMap<&str, &RawPurpose> =
        raw.purposes.iter().map(|p| (p.name.as_str(), p)).collect();

    let mut collections = Vec::new();
    let mut profile: Option<&str> = None;
    for c in &raw.collections {
        if c.kind == Some(CollectionKind::Profile) {
            match profile {
                Some(first) => r.problem(join(&c.path, "kind"), format!(
                    "more than one profile collection (`{first}` is already the profile; use kind = \"records\")"
                )),
                None => profile = Some(&c.name),
            }
        }
        if let Some(collection) = collection(c, &declared, r) {
            collections.push(collection);
        }
    }
    Schema {
        version: SCHEMA_VERSION,
        purposes,
        collections,
    }
}

fn collection(
    c: &RawCollection,
    declared: &BTreeMap<&str, &RawPurpose>,
    r: &mut Reader,
) -> Option<Collection> {
    check_name(r, &c.name, &c.path, "collection");
    collisions(
        r,
        c.fields.iter().map(|f| (f.name.as_str(), f.path.as_str())),
    );
    let fields: Vec<Field> = c
        .fields
        .iter()
        .filter_map(|f| field(f, declared, r))
        .collect();
    consent_anchors(c, declared, r);
    Some(Collection {
        name: c.name.clone(),
        kind: c.kind?,
        retention: c.retention,
        description: c.description.clone(),
        fields,
    })
}

fn field(f: &RawField, declared: &BTreeMap<&str, &RawPurpose>, r: &mut Reader) -> Option<Field> {
    let at = |key: &str| join(&f.path, key);
    check_name(r, &f.name, &f.path, "field");

    let category = f.category.as_deref().and_then(|name| {
        let found = taxonomy::category(name);
        if found.is_none() {
            r.problem(at("category"), format!("unknown data category `{name}` (expected a fideslang category such as `user.contact.email`)"));
        }
        found
    });
    let special = category.is_some_and(|c| c.special);

    if let Some(purposes) = &f.purposes {
        if purposes.is_empty() {
            r.problem(at("purposes"), "a field needs at least one purpose");
        }
        for (i, name) in purposes.iter().enumerate() {
            if purposes
                .get(..i)
                .is_some_and(|before| before.contains(name))
            {
                r.problem(at("purposes"), format!("purpose `{name}` is listed twice"));
                continue;
            }
            let Some(purpose) = declared.get(name.as_str()) else {
                r.problem(
                    at("purposes"),
                    format!("purpose `{name}` is not declared under [purposes]"),
                );
                continue;
            };
            let excluded = excludes_special_categories(&purpose.name, purpose.automated_decision);
            if special && excluded {
                r.problem(at("purposes"), format!(
                    "special category `{}` may not be used for `{name}`: marketing, personalization and automated decisions never receive special-category data",
                    f.category.as_deref().unwrap_or_default()
                ));
            }
        }
    }

    if f.unique && !f.searchable {
        r.problem(
            at("unique"),
            "`unique` needs `searchable = true` (uniqueness is checked through the blind index)",
        );
    }
    // `None` when the type is unknown or the pattern did not compile (both already reported).
    let pattern = f.ty.and_then(|ty| limits(f, ty, r));

    Some(Field {
        name: f.name.clone(),
        ty: f.ty?,
        category: f.category.clone()?,
        special_category: special,
        purposes: f.purposes.clone()?,
        searchable: f.searchable,
        unique: f.unique,
        required: f.required,
        legal_basis: f.legal_basis,
        retention: f.retention,
        description: f.description.clone(),
        max_len: f.max_len.and_then(|n| u32::try_from(n).ok()),
        pattern: pattern?,
        max_bytes: f.max_bytes.and_then(|n| u64::try_from(n).ok()),
        values: f.values.clone().unwrap_or_default(),
        min: f.min,
        max: f.max,
        default_region: f.default_region.clone(),
    })
}

/// Checks the type-dependent keys; returns the compiled pattern, if any.
fn limits(f: &RawField, ty: FieldType, r: &mut Reader) -> Option<Option<Pattern>> {
    let at = |key: &str| join(&f.path, key);
    let only = |key: &str, types: &str| format!("`{key}` only applies to {types} fields, not {ty}");
    if f.searchable && !ty.can_be_searchable() {
        r.problem(at("searchable"), format!("a {ty} field cannot be searchable (only string, email, phone, date, integer, decimal and enum fields can)"));
    }
    match (&f.values, ty) {
        (None, FieldType::Enum) => r.problem(
            at("values"),
            "an enum field needs a non-empty `values` list",
        ),
        (Some(values), FieldType::Enum) => {
            if values.is_empty() {
                r.problem(
                    at("values"),
                    "an enum field needs a non-empty `values` list",
                );
            }
            for (i, v) in values.iter().enumerate() {
                if values.get(..i).is_some_and(|before| before.contains(v)) {
                    r.problem(at("values"), format!("value `{v}` is listed twice"));
                }
            }
        }
        (Some(_), _) => r.problem(at("values"), only("values", "enum")),
        (None, _) => {}
    }
    if let Some(n) = f.max_len {
        if !ty.has_length() {
            r.problem(at("max_len"), only("max_len", "string and text"));
        } else if n < 1 || u32::try_from(n).is_err() {
            r.problem(at("max_len"), format!("must be between 1 and {}", u32::MAX));
        }
    }
    if let Some(n) = f.max_bytes {
        if !matches!(ty, FieldType::Json | FieldType::Text) {
            r.problem(at("max_bytes"), only("max_bytes", "json and text"));
        } else if n < 1 {
            r.problem(at("max_bytes"), "must be at least 1");
        }
    }
    for (key, value) in [("min", f.min), ("max", f.max)] {
        if value.is_some() && ty != FieldType::Integer {
            r.problem(at(key), only(key, "integer"));
        }
    }
    if let (Some(min), Some(max)) = (f.min, f.max)
        && min > max
    {
        r.problem(at("min"), format!("min {min} is greater than max {max}"));
    }
    if let Some(region) = &f.default_region {
        if ty != FieldType::Phone {
            r.problem(at("default_region"), only("default_region", "phone"));
        } else if phonenumber::country::Id::from_str(region).is_err() {
            r.problem(
                at("default_region"),
                format!(
                    "unknown region `{region}` (expected an ISO 3166 alpha-2 code such as `US`)"
                ),
            );
        }
    }
    let Some(pattern) = &f.pattern else {
        return Some(None);
    };
    if !matches!(ty, FieldType::String | FieldType::Text) {
        r.problem(at("pattern"), only("pattern", "string and text"));
        return None;
    }
    match regex::Regex::new(pattern) {
        Ok(re) => Some(Some(Pattern(re))),
        Err(err) => {
            // The regex error draws a caret diagram over several lines; the last says what is wrong.
            let detail = err.to_string();
            let detail = detail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid");
            let detail = detail.trim().trim_start_matches("error: ");
            r.problem(at("pattern"), format!("does not compile: {detail}"));
            None
        }
    }
}

fn check_name(r: &mut Reader, name: &str, path: &str, what: &str) {
    let mut bytes = name.bytes();
    let ok = name.len() <= 63
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        r.problem(path, format!(
            "invalid {what} name (expected a lower-case letter, then up to 62 lower-case letters, digits or underscores)"
        ));
    }
}

fn collisions<'a>(r: &mut Reader, items: impl Iterator<Item = (&'a str, &'a str)>) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (name, path) in items {
        match seen.get(&name.to_lowercase()) {
            Some(first) => r.problem(
                path,
                format!("`{name}` collides with `{first}` after case folding"),
            ),
            None => {
                seen.insert(name.to_lowercase(), name);
            }
        }
    }
}

/// A retention counted from consent withdrawal needs a consent to withdraw: a field (or, for
/// a collection, some field) whose purposes rest on consent. Otherwise its clock never runs.
fn consent_anchors(c: &RawCollection, declared: &BTreeMap<&str, &RawPurpose>, r: &mut Reader) {
    let rests_on_consent = |f: &RawField| {
        f.legal_basis == Some(LegalBasis::Consent)
            || f.purposes.iter().flatten().any(|p| {
                declared
                    .get(p.as_str())
                    .is_some_and(|p| p.legal_basis == Some(LegalBasis::Consent))
            })
    };
    let anchored = |ret: &Option<Retention>| {
        ret.is_some_and(|ret| ret.after == RetentionAnchor::ConsentWithdrawn)
    };
    if anchored(&c.retention) && !c.fields.iter().any(rests_on_consent) {
        r.problem(
            join(&join(&c.path, "retention"), "after"),
            "`consent_withdrawn` needs a field whose purposes rest on consent (legal_basis = \"consent\"); none of this collection's do",
        );
    }
    for f in &c.fields {
        if anchored(&f.retention) && !rests_on_consent(f) {
            r.problem(
                join(&join(&f.path, "retention"), "after"),
                "`consent_withdrawn` needs a purpose of this field whose legal basis is consent (or legal_basis = \"consent\" on the field)",
            );
        }
    }
}
