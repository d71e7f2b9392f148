//! Validation and normalization of personal values against the schema.
//!
//! A write is checked as a whole (every problem reported, naming the field) and turned into
//! canonical plaintext per field plus blind-index terms for searchable fields, ready to be
//! encrypted. Error messages name fields and limits, never the values themselves.

mod decimal;
mod phone;
mod value;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_types;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::schema::Collection;
use crate::sensitive::Sensitive;

pub use value::ValidatedValue;

/// Whether a write creates a record or changes some fields of an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// A new record: every required field must be present.
    Create,
    /// A partial update: absent fields stay as they are, `null` removes a field.
    Patch,
}

/// A write that passed validation, in canonical form.
#[derive(Debug, Clone, Default)]
pub struct ValidatedData {
    /// Each present field with its canonical plaintext, in the collection's declaration
    /// order. On a patch, `None` means remove the field (it was given as JSON `null`).
    pub fields: Vec<(String, Option<Sensitive<Vec<u8>>>)>,
    /// For each searchable field written with a value: its normalized blind-index term.
    pub index_terms: Vec<(String, Sensitive<Vec<u8>>)>,
}

impl ValidatedData {
    /// The validated entry for `name`, if the write touched that field.
    pub fn field(&self, name: &str) -> Option<Option<&Sensitive<Vec<u8>>>> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The blind-index term for `name`, if the write gave that searchable field a value.
    pub fn index_term(&self, name: &str) -> Option<&Sensitive<Vec<u8>>> {
        self.index_terms
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }
}

/// What is wrong with one field of a write (or with a lookup value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field name as given (cut short if it is very long).
    pub field: String,
    /// A stable, machine-readable code.
    pub code: FieldErrorCode,
    /// What is wrong, naming the limit; never the value.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: &str, code: FieldErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: shown_name(field),
            code,
            message: message.into(),
        }
    }
}

/// The stable code of a [`FieldError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldErrorCode {
    /// The schema does not declare this field.
    UndeclaredField,
    /// A required field is missing, or a patch tries to remove it.
    Required,
    /// The JSON type does not fit the field type (or a string holds a NUL).
    WrongType,
    /// Longer than `max_len` characters.
    TooLong,
    /// Larger than `max_bytes` bytes.
    TooLarge,
    /// Does not match the field's `pattern`.
    PatternMismatch,
    /// Not an email address.
    InvalidEmail,
    /// Not a valid phone number.
    InvalidPhone,
    /// Not a real calendar date in the form `YYYY-MM-DD`.
    InvalidDate,
    /// Not one of the enum's values.
    NotInEnum,
    /// Outside the field's `min`/`max` (or the 64-bit range).
    OutOfRange,
    /// Not a decimal number.
    InvalidDecimal,
    /// Not valid JSON, or stored plaintext that does not decode for this field.
    InvalidJson,
    /// A lookup on a field that has no blind index.
    NotSearchable,
}

impl FieldErrorCode {
    /// The snake_case code used in API errors.
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldErrorCode::UndeclaredField => "undeclared_field",
            FieldErrorCode::Required => "required",
            FieldErrorCode::WrongType => "wrong_type",
            FieldErrorCode::TooLong => "too_long",
            FieldErrorCode::TooLarge => "too_large",
            FieldErrorCode::PatternMismatch => "pattern_mismatch",
            FieldErrorCode::InvalidEmail => "invalid_email",
            FieldErrorCode::InvalidPhone => "invalid_phone",
            FieldErrorCode::InvalidDate => "invalid_date",
            FieldErrorCode::NotInEnum => "not_in_enum",
            FieldErrorCode::OutOfRange => "out_of_range",
            FieldErrorCode::InvalidDecimal => "invalid_decimal",
            FieldErrorCode::InvalidJson => "invalid_json",
            FieldErrorCode::NotSearchable => "not_searchable",
        }
    }
}

impl fmt::Display for FieldErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every problem with a write (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", Lines(.0))]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The errors for `field`.
    pub fn for_field<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a FieldError> {
        self.0.iter().filter(move |e| e.field == field)
    }
}

struct Lines<'a>(&'a [FieldError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, err) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            fmt::Display::fmt(err, f)?;
        }
        Ok(())
    }
}

impl Collection {
    /// Validates a write against this collection: refuses undeclared fields, enforces
    /// `required` on create, checks every value and returns its canonical plaintext and
    /// blind-index term. Nothing is returned unless the whole write is valid.
    pub fn validate(
        &self,
        input: &Map<String, Value>,
        mode: WriteMode,
    ) -> Result<ValidatedData, ValidationErrors> {
        let mut errors: Vec<FieldError> = input
            .keys()
            .filter(|key| self.field(key).is_none())
            .map(|key| {
                let message = format!("is not declared in collection `{}`", self.name);
                FieldError::new(key, FieldErrorCode::UndeclaredField, message)
            })
            .collect();
        let mut data = ValidatedData::default();
        for field in self.fields() {
            let name = &field.name;
            match (input.get(name), mode) {
                (None | Some(Value::Null), WriteMode::Create) => {
                    if field.required {
                        errors.push(FieldError::new(
                            name,
                            FieldErrorCode::Required,
                            "is required",
                        ));
                    }
                }
                (None, WriteMode::Patch) => {}
                (Some(Value::Null), WriteMode::Patch) => {
                    if field.required {
                        errors.push(FieldError::new(
                            name,
                            FieldErrorCode::Required,
                            "is required and cannot be removed",
                        ));
                    } else {
                        data.fields.push((name.clone(), None));
                    }
                }
                (Some(value), _) => match field.validate_value(value) {
                    Ok(v) => {
                        data.fields.push((name.clone(), Some(v.plaintext)));
                        if let Some(term) = v.index_term {
                            data.index_terms.push((name.clone(), term));
                        }
                    }
                    Err(err) => errors.push(err),
                },
            }
        }
        if errors.is_empty() {
            Ok(data)
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

/// A field name fit for an error message: an undeclared name comes from the caller and could
/// be anything, so it is cut short and stripped of control characters.
fn shown_name(name: &str) -> String {
    const MAX: usize = 64;
    let mut shown: String = name
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if name.chars().nth(MAX).is_some() {
        shown.push('…');
    }
    shown
}
