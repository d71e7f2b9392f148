//! Reads the TOML document into raw declarations, reporting every shape problem (unknown
//! key, wrong type, unknown enum name) with its path instead of stopping at the first, as a
//! serde derive would. Cross-references between declarations are checked in `check`.

use toml::de::{DeTable, DeValue};

use super::model::{CollectionKind, FieldType, LegalBasis};
use super::reader::{Reader, join, ordered};
use super::retention::{Retention, RetentionAnchor, RetentionPeriod};

pub(super) struct RawSchema {
    pub(super) version: Option<i64>,
    pub(super) purposes: Vec<RawPurpose>,
    pub(super) collections: Vec<RawCollection>,
}

pub(super) struct RawPurpose {
    pub(super) path: String,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) legal_basis: Option<LegalBasis>,
    pub(super) sale_or_sharing: bool,
    pub(super) automated_decision: bool,
}

pub(super) struct RawCollection {
    pub(super) path: String,
    pub(super) name: String,
    pub(super) kind: Option<CollectionKind>,
    pub(super) retention: Option<Retention>,
    pub(super) description: Option<String>,
    pub(super) fields: Vec<RawField>,
}

#[derive(Default)]
pub(super) struct RawField {
    pub(super) path: String,
    pub(super) name: String,
    pub(super) ty: Option<FieldType>,
    pub(super) category: Option<String>,
    pub(super) purposes: Option<Vec<String>>,
    pub(super) searchable: bool,
    pub(super) unique: bool,
    pub(super) required: bool,
    pub(super) legal_basis: Option<LegalBasis>,
    pub(super) retention: Option<Retention>,
    pub(super) description: Option<String>,
    pub(super) max_len: Option<i64>,
    pub(super) pattern: Option<String>,
    pub(super) max_bytes: Option<i64>,
    pub(super) values: Option<Vec<String>>,
    pub(super) min: Option<i64>,
    pub(super) max: Option<i64>,
    pub(super) default_region: Option<String>,
}

const TOP_KEYS: &[&str] = &["version", "purposes", "collections"];
const PURPOSE_KEYS: &[&str] = &[
    "description",
    "legal_basis",
    "sale_or_sharing",
    "automated_decision",
];
const COLLECTION_KEYS: &[&str] = &["kind", "retention", "description", "fields"];
const FIELD_KEYS: &[&str] = &[
    "type",
    "category",
    "purposes",
    "searchable",
    "unique",
    "required",
    "legal_basis",
    "retention",
    "description",
    "max_len",
    "pattern",
    "max_bytes",
    "values",
    "min",
    "max",
    "default_region",
];
const RETENTION_KEYS: &[&str] = &["keep", "after"];

impl Reader {
    pub(super) fn document(&mut self, doc: &DeTable<'_>) -> RawSchema {
        let mut raw = RawSchema {
            version: None,
            purposes: Vec::new(),
            collections: Vec::new(),
        };
        for (key, value) in self.entries(doc, "", TOP_KEYS) {
            match key {
                "version" => raw.version = self.integer(value, "version"),
                "purposes" => {
                    if let Some(table) = self.table(value, "purposes") {
                        for (name, value) in ordered(table) {
                            raw.purposes.push(self.purpose(name, value));
                        }
                    }
                }
                "collections" => {
                    if let Some(table) = self.table(value, "collections") {
                        for (name, value) in ordered(table) {
                            raw.collections.push(self.collection(name, value));
                        }
                    }
                }
                _ => {}
            }
        }
        if raw.version.is_none() && !doc.iter().any(|(k, _)| k.get_ref() == "version") {
            self.problem(
                "version",
                "missing required key `version` (expected `version = 1`)",
            );
        }
        raw
    }

    fn purpose(&mut self, name: &str, value: &DeValue<'_>) -> RawPurpose {
        let path = join("purposes", name);
        let mut raw = RawPurpose {
            path: path.clone(),
            name: name.to_owned(),
            description: None,
            legal_basis: None,
            sale_or_sharing: false,
            automated_decision: false,
        };
        let Some(table) = self.table(value, &path) else {
            return raw;
        };
        for (key, value) in self.entries(table, &path, PURPOSE_KEYS) {
            let at = join(&path, key);
            match key {
                "description" => raw.description = self.string(value, &at),
                "legal_basis" => raw.legal_basis = self.legal_basis(value, &at),
                "sale_or_sharing" => raw.sale_or_sharing = self.boolean(value, &at),
                "automated_decision" => raw.automated_decision = self.boolean(value, &at),
                _ => {}
            }
        }
        self.require(table, &path, &["description", "legal_basis"]);
        raw
    }

    fn collection(&mut self, name: &str, value: &DeValue<'_>) -> RawCollection {
        let path = join("collections", name);
        let mut raw = RawCollection {
            path: path.clone(),
            name: name.to_owned(),
            kind: None,
            retention: None,
            description: None,
            fields: Vec::new(),
        };
        let Some(table) = self.table(value, &path) else {
            return raw;
        };
        for (key, value) in self.entries(table, &path, COLLECTION_KEYS) {
            let at = join(&path, key);
            match key {
                "kind" => {
                    raw.kind = self.named(
                        value,
                        &at,
                        "collection kind",
                        &["profile", "records"],
                        |s| match s {
                            "profile" => Some(CollectionKind::Profile),
                            "records" => Some(CollectionKind::Records),
                            _ => None,
                        },
                    )
                }
                "retention" => raw.retention = self.retention(value, &at),
                "description" => raw.description = self.string(value, &at),
                "fields" => {
                    if let Some(fields) = self.table(value, &at) {
                        for (name, value) in ordered(fields) {
                            raw.fields.push(self.field(&at, name, value));
                        }
                    }
                }
                _ => {}
            }
        }
        self.require(table, &path, &["kind"]);
        raw
    }

    fn field(&mut self, fields_path: &str, name: &str, value: &DeValue<'_>) -> RawField {
        let path = join(fields_path, name);
        let mut raw = RawField {
            path: path.clone(),
            name: name.to_owned(),
            ..RawField::default()
        };
        let Some(table) = self.table(value, &path) else {
            return raw;
        };
        for (key, value) in self.entries(table, &path, FIELD_KEYS) {
            let at = join(&path, key);
            match key {
                "type" => {
                    let names: Vec<&str> = FieldType::ALL.iter().map(FieldType::as_str).collect();
                    raw.ty = self.named(value, &at, "field type", &names, FieldType::from_name);
                }
                "category" => raw.category = self.string(value, &at),
                "purposes" => raw.purposes = self.string_list(value, &at),
                "searchable" => raw.searchable = self.boolean(value, &at),
                "unique" => raw.unique = self.boolean(value, &at),
                "required" => raw.required = self.boolean(value, &at),
                "legal_basis" => raw.legal_basis = self.legal_basis(value, &at),
                "retention" => raw.retention = self.retention(value, &at),
                "description" => raw.description = self.string(value, &at),
                "max_len" => raw.max_len = self.integer(value, &at),
                "pattern" => raw.pattern = self.string(value, &at),
                "max_bytes" => raw.max_bytes = self.integer(value, &at),
                "values" => raw.values = self.string_list(value, &at),
                "min" => raw.min = self.integer(value, &at),
                "max" => raw.max = self.integer(value, &at),
                "default_region" => raw.default_region = self.string(value, &at),
                _ => {}
            }
        }
        self.require(table, &path, &["type", "category", "purposes"]);
        raw
    }

    fn retention(&mut self, value: &DeValue<'_>, path: &str) -> Option<Retention> {
        let period = |reader: &mut Self, value: &DeValue<'_>, path: &str| {
            let text = reader.string(value, path)?;
            match text.parse::<RetentionPeriod>() {
                Ok(keep) => Some(keep),
                Err(err) => {
                    reader.problem(path, err.to_string());
                    None
                }
            }
        };
        if let DeValue::Table(table) = value {
            let (mut keep, mut after) = (None, Some(RetentionAnchor::Created));
            for (key, value) in self.entries(table, path, RETENTION_KEYS) {
                let at = join(path, key);
                match key {
                    "keep" => keep = period(self, value, &at),
                    "after" => {
                        let names = ["created", "last_activity", "consent_withdrawn"];
                        after = self.named(
                            value,
                            &at,
                            "retention anchor",
                            &names,
                            RetentionAnchor::from_name,
                        );
                    }
                    _ => {}
                }
            }
            self.require(table, path, &["keep"]);
            return Some(Retention {
                keep: keep?,
                after: after?,
            });
        }
        if !matches!(value, DeValue::String(_)) {
            self.problem(path, "expected a period such as \"7y\" or a table { keep = \"3y\", after = \"last_activity\" }");
            return None;
        }
        let keep = period(self, value, path)?;
        Some(Retention {
            keep,
            after: RetentionAnchor::Created,
        })
    }

    fn legal_basis(&mut self, value: &DeValue<'_>, path: &str) -> Option<LegalBasis> {
        let names: Vec<&str> = LegalBasis::ALL.iter().map(LegalBasis::as_str).collect();
        self.named(value, path, "legal basis", &names, LegalBasis::from_name)
    }
}
