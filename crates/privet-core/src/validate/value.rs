//! One value against one field: type check, limits, normalization, canonical encoding,
//! blind-index term, and the way back from stored plaintext.
//!
//! The canonical plaintext is `serde_json::to_vec` of the normalized value, so that decoding
//! needs nothing but the field type, and the same value always encrypts from the same bytes.

use std::str::FromStr;

use email_address::{EmailAddress, Options};
use serde_json::Value;

use super::{FieldError, FieldErrorCode as Code, decimal};
use crate::schema::{Field, FieldType};
use crate::sensitive::Sensitive;

/// One value that passed validation.
#[derive(Debug, Clone)]
pub struct ValidatedValue {
    /// The canonical plaintext to encrypt.
    pub plaintext: Sensitive<Vec<u8>>,
    /// The blind-index term, when the field is searchable.
    pub index_term: Option<Sensitive<Vec<u8>>>,
}

/// Longest accepted email address (RFC 5321 path limit minus the angle brackets).
const MAX_EMAIL_LEN: usize = 254;
/// Longest accepted phone input, formatting included.
const MAX_PHONE_LEN: usize = 64;

impl Field {
    /// Validates and normalizes one value for this field.
    pub fn validate_value(&self, value: &Value) -> Result<ValidatedValue, FieldError> {
        let canonical = self.canonical(value)?;
        let plaintext = serde_json::to_vec(&canonical)
            .map_err(|_| self.error(Code::InvalidJson, "cannot be encoded"))?;
        if self.ty == FieldType::Json
            && let Some(max) = self.max_bytes
            && plaintext.len() as u64 > max
        {
            return Err(self.error(
                Code::TooLarge,
                format!("larger than {max} bytes when serialized"),
            ));
        }
        let index_term = self.searchable.then(|| {
            Sensitive::new(match (&self.ty, &canonical) {
                // Mailbox providers treat the local part case-insensitively in practice, so the
                // lookup does too, while the stored address keeps the case it was given in.
                (FieldType::Email, Value::String(s)) => s.to_lowercase().into_bytes(),
                (FieldType::Phone, Value::String(s)) => s.clone().into_bytes(),
                _ => plaintext.clone(),
            })
        });
        Ok(ValidatedValue {
            plaintext: Sensitive::new(plaintext),
            index_term,
        })
    }

    /// Turns a lookup value given as text (a query string) into the blind-index term a write
    /// of the same value produces, so `  Jane@Example.COM ` finds `jane@example.com`.
    pub fn normalize_query(&self, raw: &str) -> Result<Sensitive<Vec<u8>>, FieldError> {
        if !self.searchable {
            return Err(self.error(Code::NotSearchable, "is not searchable"));
        }
        let value = match self.ty {
            FieldType::Integer => {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| self.error(Code::WrongType, "expected an integer"))?;
                Value::from(n)
            }
            FieldType::Bool => match raw.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(self.error(Code::WrongType, "expected true or false")),
            },
            FieldType::Json => serde_json::from_str(raw)
                .map_err(|_| self.error(Code::InvalidJson, "is not valid JSON"))?,
            FieldType::Email | FieldType::Phone | FieldType::Date | FieldType::Decimal => {
                Value::String(raw.trim().to_owned())
            }
            FieldType::String | FieldType::Text | FieldType::Enum => Value::String(raw.to_owned()),
        };
        let validated = self.validate_value(&value)?;
        validated
            .index_term
            .ok_or_else(|| self.error(Code::NotSearchable, "is not searchable"))
    }

    /// Decodes stored canonical plaintext back into the JSON value that was validated.
    pub fn decode(&self, plaintext: &[u8]) -> Result<Value, FieldError> {
        let bad = || {
            self.error(
                Code::InvalidJson,
                format!("stored value does not decode as {}", self.ty),
            )
        };
        let value: Value = serde_json::from_slice(plaintext).map_err(|_| bad())?;
        let fits = match self.ty {
            FieldType::Integer => value.is_i64(),
            FieldType::Bool => value.is_boolean(),
            FieldType::Json => true,
            _ => value.is_string(),
        };
        if fits { Ok(value) } else { Err(bad()) }
    }

    fn canonical(&self, value: &Value) -> Result<Value, FieldError> {
        match self.ty {
            FieldType::String | FieldType::Text => {
                let s = self.expect_str(value)?;
                self.check_text(s)?;
                Ok(Value::String(s.to_owned()))
            }
            FieldType::Email => {
                let s = self.expect_str(value)?;
                normalize_email(s)
                    .map(Value::String)
                    .ok_or_else(|| self.error(Code::InvalidEmail, "is not a valid email address"))
            }
            FieldType::Phone => {
                let s = self.expect_str(value)?;
                normalize_phone(s, self.default_region.as_deref())
                    .map(Value::String)
                    .map_err(|why| self.error(Code::InvalidPhone, why))
            }
            FieldType::Date => {
                let s = self.expect_str(value)?;
                normalize_date(s).map(Value::String).ok_or_else(|| {
                    self.error(
                        Code::InvalidDate,
                        "is not a calendar date in the form YYYY-MM-DD",
                    )
                })
            }
            FieldType::Integer => self.integer(value).map(Value::from),
            FieldType::Decimal => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(self.error(
                            Code::WrongType,
                            "expected a decimal number or a decimal string",
                        ));
                    }
                };
                decimal::normalize(&text).map(Value::String).ok_or_else(|| {
                    let message = format!(
                        "is not a decimal number of at most {} digits",
                        decimal::MAX_DIGITS
                    );
                    self.error(Code::InvalidDecimal, message)
                })
            }
            FieldType::Bool => match value {
                Value::Bool(b) => Ok(Value::Bool(*b)),
                _ => Err(self.error(Code::WrongType, "expected true or false")),
            },
            FieldType::Enum => {
                let s = self.expect_str(value)?;
                if self.values.iter().any(|v| v == s) {
                    Ok(Value::String(s.to_owned()))
                } else {
                    let message = format!(
                        "is not one of the allowed values: {}",
                        self.values.join(", ")
                    );
                    Err(self.error(Code::NotInEnum, message))
                }
            }
            FieldType::Json => Ok(value.clone()),
        }
    }

    fn integer(&self, value: &Value) -> Result<i64, FieldError> {
        let Value::Number(n) = value else {
            return Err(self.error(Code::WrongType, "expected an integer"));
        };
        let n = match (n.as_i64(), n.as_u64()) {
            (Some(n), _) => n,
            (None, Some(_)) => {
                return Err(self.error(Code::OutOfRange, "is outside the 64-bit integer range"));
            }
            (None, None) => return Err(self.error(Code::WrongType, "expected an integer")),
        };
        if let Some(min) = self.min.filter(|min| n < *min) {
            return Err(self.error(Code::OutOfRange, format!("is less than the minimum {min}")));
        }
        if let Some(max) = self.max.filter(|max| n > *max) {
            return Err(self.error(
                Code::OutOfRange,
                format!("is greater than the maximum {max}"),
            ));
        }
        Ok(n)
    }

    fn check_text(&self, s: &str) -> Result<(), FieldError> {
        if s.contains('\0') {
            return Err(self.error(Code::WrongType, "must not contain NUL characters"));
        }
        if let Some(max) = self.max_len
            && s.chars().count() > max as usize
        {
            return Err(self.error(Code::TooLong, format!("is longer than {max} characters")));
        }
        if let Some(max) = self.max_bytes
            && s.len() as u64 > max
        {
            return Err(self.error(Code::TooLarge, format!("is larger than {max} bytes")));
        }
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(s)
        {
            let message = format!("does not match the pattern `{}`", pattern.as_str());
            return Err(self.error(Code::PatternMismatch, message));
        }
        Ok(())
    }

    fn expect_str<'v>(&self, value: &'v Value) -> Result<&'v str, FieldError> {
        value.as_str().ok_or_else(|| {
            self.error(
                Code::WrongType,
                format!("expected a string ({} field)", self.ty),
            )
        })
    }

    fn error(&self, code: Code, message: impl Into<String>) -> FieldError {
        FieldError::new(&self.name, code, message)
    }
}

/// Trims, checks and lower-cases the domain; the local part is kept as given because RFC 5321
/// lets a mail server treat it case-sensitively.
fn normalize_email(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.len() > MAX_EMAIL_LEN {
        return None;
    }
    let options = Options {
        minimum_sub_domains: 2,
        allow_domain_literal: false,
        allow_display_text: false,
    };
    let address = EmailAddress::parse_with_options(s, options).ok()?;
    Some(format!(
        "{}@{}",
        address.local_part(),
        address.domain().to_lowercase()
    ))
}

fn normalize_phone(raw: &str, region: Option<&str>) -> Result<String, &'static str> {
    const INVALID: &str = "is not a valid phone number";
    let s = raw.trim();
    // Only the characters people write numbers with; this also keeps exotic input (letters,
    // extensions, other scripts) away from the parser.
    let allowed = |c: char| c.is_ascii_digit() || " +()-./".contains(c);
    if s.is_empty() || s.len() > MAX_PHONE_LEN || !s.chars().all(allowed) {
        return Err(INVALID);
    }
    let region = region.and_then(|r| phonenumber::country::Id::from_str(r).ok());
    if region.is_none() && !s.starts_with('+') {
        return Err("must start with + and a country code");
    }
    let number = phonenumber::parse(region, s).map_err(|_| INVALID)?;
    if number.extension().is_some() || !super::phone::is_valid(&number) {
        return Err(INVALID);
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Accepts exactly `YYYY-MM-DD` naming a real day; nothing looser, so one date has one form.
fn normalize_date(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        let part = s.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then_some(part)
    };
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let year: i32 = digits(0..4)?.parse().ok()?;
    let month: u8 = digits(5..7)?.parse().ok()?;
    let day: u8 = digits(8..10)?.parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()?;
    Some(s.to_owned())
}
