//! Masking: the fragment of a value a `masked` grant shows, and the bytes a `tokenized`
//! grant's pseudonym is computed over.
//!
//! A mask shows what a person needs to recognise a value, never enough to use it, and never
//! the length of free text:
//!
//! | type | value | masked |
//! |---|---|---|
//! | email | `jane.doe@example.com` | `j***@example.com` |
//! | phone | `+14155552671` | `•••• 2671` |
//! | string of digits (spaces, `-` allowed), ≥ 4 digits | `4242` (card_last4) | `•••• 4242` |
//! | date | `1980-04-12` | `1980` |
//! | other string | `Jane Doe` | `J***` |
//! | text, integer, decimal, bool, enum, json, anything unexpected | any | `•••` |
//!
//! A digit string shows its last four digits, so a four-digit value (a card's last four,
//! which is itself a mask) is shown whole: grant `masked` only where that is acceptable.

use serde_json::Value;

use crate::schema::FieldType;

/// What a masked value shows when nothing of it may show.
pub const MASK: &str = "•••";

/// The masked form of `value`, a decoded value of a field of type `ty` (as
/// [`Field::decode`](crate::Field::decode) returns it). Always a JSON string.
pub fn mask(ty: FieldType, value: &Value) -> Value {
    let masked = match (ty, value) {
        (FieldType::Email, Value::String(s)) => mask_email(s),
        (FieldType::Phone, Value::String(s)) => last_four(s).unwrap_or_else(|| MASK.into()),
        (FieldType::Date, Value::String(s)) => year(s).unwrap_or_else(|| MASK.into()),
        (FieldType::String, Value::String(s)) => {
            if is_digit_string(s) {
                last_four(s).unwrap_or_else(|| MASK.into())
            } else {
                first_char(s)
            }
        }
        _ => MASK.into(),
    };
    Value::String(masked)
}

fn mask_email(s: &str) -> String {
    match s.rsplit_once('@') {
        Some((local, domain)) if !domain.is_empty() => {
            format!("{}@{domain}", first_char(local))
        }
        _ => MASK.into(),
    }
}

/// The first character and `***`; `•••` for an empty string.
fn first_char(s: &str) -> String {
    match s.chars().next() {
        Some(c) => format!("{c}***"),
        None => MASK.into(),
    }
}

/// `•••• ` and the last four digits, if the value has at least four.
fn last_four(s: &str) -> Option<String> {
    let digits: Vec<char> = s.chars().filter(char::is_ascii_digit).collect();
    let tail = digits.get(digits.len().checked_sub(4)?..)?;
    Some(format!("•••• {}", tail.iter().collect::<String>()))
}

fn is_digit_string(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
}

/// The year of an ISO 8601 `YYYY-MM-DD` date.
fn year(s: &str) -> Option<String> {
    let (y, _) = s.split_once('-')?;
    (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())).then(|| y.to_owned())
}

/// The bytes a pseudonym of `value` (a decoded value of type `ty`) is computed over: the
/// canonical JSON encoding, with emails lower-cased as for their blind index, so that values
/// a lookup treats as equal get equal tokens.
pub fn token_input(ty: FieldType, value: &Value) -> Vec<u8> {
    match (ty, value) {
        (FieldType::Email, Value::String(s)) => s.to_lowercase().into_bytes(),
        _ => serde_json::to_vec(value).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn m(ty: FieldType, v: Value) -> String {
        match mask(ty, &v) {
            Value::String(s) => s,
            other => panic!("mask returned {other}"),
        }
    }

    #[test]
    fn emails_keep_the_first_character_and_the_domain() {
        assert_eq!(
            m(FieldType::Email, json!("jane.doe@example.com")),
            "j***@example.com"
        );
        assert_eq!(
            m(FieldType::Email, json!("é@exämple.de")),
            "é***@exämple.de"
        );
        assert_eq!(m(FieldType::Email, json!("not-an-email")), "•••");
    }

    #[test]
    fn phones_and_digit_strings_keep_the_last_four_digits() {
        assert_eq!(m(FieldType::Phone, json!("+14155552671")), "•••• 2671");
        assert_eq!(m(FieldType::Phone, json!("+123")), "•••");
        assert_eq!(m(FieldType::String, json!("4242")), "•••• 4242");
        assert_eq!(
            m(FieldType::String, json!("4111 1111-1111 1234")),
            "•••• 1234"
        );
        assert_eq!(m(FieldType::String, json!("123")), "•••");
    }

    #[test]
    fn dates_keep_the_year_only() {
        assert_eq!(m(FieldType::Date, json!("1980-04-12")), "1980");
        assert_eq!(m(FieldType::Date, json!("yesterday")), "•••");
    }

    #[test]
    fn other_strings_keep_the_first_character_and_hide_the_length() {
        assert_eq!(m(FieldType::String, json!("Jane Doe")), "J***");
        assert_eq!(m(FieldType::String, json!("J")), "J***");
        assert_eq!(
            m(FieldType::String, json!("a much longer name indeed")),
            "a***"
        );
        assert_eq!(m(FieldType::String, json!("")), "•••");
    }

    #[test]
    fn free_text_and_non_strings_show_nothing() {
        for (ty, v) in [
            (FieldType::Text, json!("I was charged twice for order 42")),
            (FieldType::Text, json!("x")),
            (FieldType::Integer, json!(1999)),
            (FieldType::Decimal, json!("19.99")),
            (FieldType::Bool, json!(true)),
            (FieldType::Enum, json!("female")),
            (FieldType::Json, json!({"sku": "A1", "qty": 2})),
            (FieldType::Email, json!(12)),
        ] {
            assert_eq!(m(ty, v), MASK, "{ty}");
        }
    }

    #[test]
    fn token_input_treats_email_case_like_lookups() {
        assert_eq!(
            token_input(FieldType::Email, &json!("Jane@example.com")),
            token_input(FieldType::Email, &json!("jane@example.com"))
        );
        assert_eq!(token_input(FieldType::Integer, &json!(42)), b"42");
        assert_ne!(
            token_input(FieldType::String, &json!("Jane")),
            token_input(FieldType::String, &json!("jane"))
        );
    }
}
