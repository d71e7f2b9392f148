//! The validated data inventory: purposes, collections and fields as the rest of Privet
//! sees them after a schema has passed every check.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::retention::Retention;

/// The GDPR Art. 6 legal basis for processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// The data subject consented (Art. 6(1)(a)).
    Consent,
    /// Needed to perform a contract with the subject (Art. 6(1)(b)).
    Contract,
    /// Needed to comply with a legal obligation (Art. 6(1)(c)).
    LegalObligation,
    /// Needed to protect someone's vital interests (Art. 6(1)(d)).
    VitalInterests,
    /// Needed for a task in the public interest (Art. 6(1)(e)).
    PublicTask,
    /// The controller's legitimate interests (Art. 6(1)(f)).
    LegitimateInterest,
}

impl LegalBasis {
    /// Every legal basis, in the order of Art. 6(1).
    pub const ALL: [LegalBasis; 6] = [
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::LegalObligation,
        LegalBasis::VitalInterests,
        LegalBasis::PublicTask,
        LegalBasis::LegitimateInterest,
    ];

    /// The snake_case name used in schemas and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::VitalInterests => "vital_interests",
            LegalBasis::PublicTask => "public_task",
            LegalBasis::LegitimateInterest => "legitimate_interest",
        }
    }

    /// Parses the snake_case name.
    pub fn from_name(name: &str) -> Option<LegalBasis> {
        LegalBasis::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

impl fmt::Display for LegalBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why personal data is used: a fideslang data use with its legal basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purpose {
    /// The fideslang data-use name, e.g. `marketing.communications.email`.
    pub name: String,
    /// What the purpose is, in words a customer understands (used in notices).
    pub description: String,
    /// The legal basis every use for this purpose rests on.
    pub legal_basis: LegalBasis,
    /// A CCPA/CPRA "sale or sharing": Global Privacy Control opts the subject out of it.
    pub sale_or_sharing: bool,
    /// Solely automated decision-making with legal or similar effects (GDPR Art. 22).
    pub automated_decision: bool,
}

impl Purpose {
    /// Whether special-category data must never be used for this purpose: marketing,
    /// personalization (profiling) and automated decisions, whatever the grants.
    pub fn excludes_special_categories(&self) -> bool {
        excludes_special_categories(&self.name, self.automated_decision)
    }
}

pub(crate) fn excludes_special_categories(purpose: &str, automated_decision: bool) -> bool {
    automated_decision
        || ["marketing", "personalize"].iter().any(|top| {
            purpose == *top
                || purpose
                    .strip_prefix(top)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
}

/// How many records of a collection a subject has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionKind {
    /// One record per subject (at most one such collection per schema).
    Profile,
    /// Any number of records per subject.
    Records,
}

impl CollectionKind {
    /// The snake_case name used in schemas.
    pub fn as_str(&self) -> &'static str {
        match self {
            CollectionKind::Profile => "profile",
            CollectionKind::Records => "records",
        }
    }
}

/// A named group of fields, stored together per record.
#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    /// The collection name (`^[a-z][a-z0-9_]{0,62}$`).
    pub name: String,
    /// Profile (one per subject) or records (many).
    pub kind: CollectionKind,
    /// How long records are kept; `None` means until erasure.
    pub retention: Option<Retention>,
    /// A free-text description, if the schema gives one.
    pub description: Option<String>,
    pub(crate) fields: Vec<Field>,
}

impl Collection {
    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Every field, in declaration order.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter()
    }
}

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A string, stored as given.
    String,
    /// A long string; never searchable.
    Text,
    /// An email address: trimmed, domain lower-cased.
    Email,
    /// A phone number, stored in E.164.
    Phone,
    /// An ISO 8601 calendar date `YYYY-MM-DD`.
    Date,
    /// A 64-bit signed integer.
    Integer,
    /// A decimal number, stored as a canonical decimal string.
    Decimal,
    /// `true` or `false`.
    Bool,
    /// One of a declared list of strings.
    Enum,
    /// Any JSON value; never searchable.
    Json,
}

impl FieldType {
    /// Every field type.
    pub const ALL: [FieldType; 10] = [
        FieldType::String,
        FieldType::Text,
        FieldType::Email,
        FieldType::Phone,
        FieldType::Date,
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Bool,
        FieldType::Enum,
        FieldType::Json,
    ];

    /// The snake_case name used in schemas.
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Text => "text",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Date => "date",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Bool => "bool",
            FieldType::Enum => "enum",
            FieldType::Json => "json",
        }
    }

    /// Parses the snake_case name.
    pub fn from_name(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether a blind index over this type makes sense. Free text, booleans and JSON
    /// documents are refused: an index over them leaks more than it helps.
    pub fn can_be_searchable(&self) -> bool {
        !matches!(self, FieldType::Text | FieldType::Bool | FieldType::Json)
    }

    /// Whether `max_len` applies.
    pub fn has_length(&self) -> bool {
        matches!(self, FieldType::String | FieldType::Text)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compiled `pattern` limit. It matches as written: anchor it with `^…$` to constrain
/// the whole value.
#[derive(Debug, Clone)]
pub struct Pattern(pub(crate) regex::Regex);

impl Pattern {
    /// The pattern as written in the schema.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the pattern matches somewhere in `value`.
    pub fn is_match(&self, value: &str) -> bool {
        self.0.is_match(value)
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One declared piece of personal data: its type, category, purposes and limits.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    /// The field name (`^[a-z][a-z0-9_]{0,62}$`).
    pub name: String,
    /// The value type.
    pub ty: FieldType,
    /// The fideslang data category.
    pub category: String,
    /// Whether the category is special (GDPR Art. 9 / CPRA sensitive), from the taxonomy.
    pub special_category: bool,
    /// The purposes this field may be used for, as declared.
    pub purposes: Vec<String>,
    /// Whether a blind index is kept so that subjects can be found by this field.
    pub searchable: bool,
    /// Whether two subjects may not share a value (requires `searchable`).
    pub unique: bool,
    /// Whether a create must supply the field (and a patch may not remove it).
    pub required: bool,
    /// A legal basis that applies to this field on top of each purpose's own, e.g.
    /// explicit consent for a special category even under an essential purpose.
    pub legal_basis: Option<LegalBasis>,
    /// A retention that overrides the collection's for this field.
    pub retention: Option<Retention>,
    /// A free-text description, if the schema gives one.
    pub description: Option<String>,
    /// Maximum length in characters (string, text).
    pub max_len: Option<u32>,
    /// A regular expression the value must match (string, text).
    pub pattern: Option<Pattern>,
    /// Maximum size in bytes: of the serialized value (json) or of the UTF-8 text (text).
    pub max_bytes: Option<u64>,
    /// The allowed values (enum).
    pub values: Vec<String>,
    /// The smallest allowed value (integer).
    pub min: Option<i64>,
    /// The largest allowed value (integer).
    pub max: Option<i64>,
    /// The region (ISO 3166 alpha-2, e.g. `US`) a phone number without `+` belongs to;
    /// `None` means numbers must start with `+` and a country code.
    pub default_region: Option<String>,
}

impl Field {
    /// Whether the schema declares `purpose` for this field. Only an exact declaration
    /// counts: allowing `essential` does not allow `essential.service`.
    pub fn allows_purpose(&self, purpose: &str) -> bool {
        self.purposes.iter().any(|p| p == purpose)
    }
}
