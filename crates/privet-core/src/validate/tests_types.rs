//! Normalization and limits, type by type.

use serde_json::{Value, json};

use super::tests::{code, field, refused, stored};
use super::*;

#[test]
fn email_is_trimmed_and_its_domain_lower_cased_but_the_local_part_kept() {
    assert_eq!(
        stored("email", json!("  Jane.Doe@Example.COM \n")),
        json!("Jane.Doe@example.com")
    );
    let v = field("email")
        .validate_value(&json!(" Jane.Doe@Example.COM"))
        .unwrap();
    assert_eq!(v.index_term.unwrap().expose(), b"jane.doe@example.com");
    for bad in [
        "",
        "jane",
        "jane@",
        "@example.com",
        "jane@localhost",
        "Jane <jane@example.com>",
        "jane@[127.0.0.1]",
        "ja ne@example.com",
        "a@b@example.com",
    ] {
        assert_eq!(
            code("email", json!(bad)),
            FieldErrorCode::InvalidEmail,
            "{bad:?}"
        );
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert_eq!(code("email", json!(long)), FieldErrorCode::InvalidEmail);
}

#[test]
fn phone_numbers_are_stored_in_e164() {
    assert_eq!(
        stored("phone", json!("+1 (415) 555-2671")),
        json!("+14155552671")
    );
    assert_eq!(
        stored("phone", json!(" +44 20 7946 0958 ")),
        json!("+442079460958")
    );
    assert_eq!(
        stored("phone", json!("+33 6 12 34 56 78")),
        json!("+33612345678")
    );
    assert_eq!(
        stored("us_phone", json!("(415) 555-2671")),
        json!("+14155552671")
    );
    assert_eq!(
        stored("us_phone", json!("415.555.2671")),
        json!("+14155552671")
    );
    assert_eq!(
        stored("us_phone", json!("+44 20 7946 0958")),
        json!("+442079460958")
    );
    let err = refused("phone", json!("(415) 555-2671"));
    assert_eq!(err.code, FieldErrorCode::InvalidPhone);
    assert!(err.message.contains("must start with +"));
    for bad in [
        "",
        "garbage",
        "+1",
        "+1 415 555",
        "+999 1234567",
        "+1 415 555 2671 ext. 7",
        "+1-800-FLOWERS",
        "+1 415 555 2671 1234 5678",
        "１２３",
    ] {
        assert_eq!(
            code("phone", json!(bad)),
            FieldErrorCode::InvalidPhone,
            "{bad:?}"
        );
    }
}

#[test]
fn dates_must_be_real_calendar_days_in_one_form() {
    assert_eq!(stored("birthday", json!("2024-02-29")), json!("2024-02-29"));
    assert_eq!(stored("birthday", json!("0001-01-01")), json!("0001-01-01"));
    for bad in [
        "2023-02-29",
        "2024-1-5",
        "2024-01-5",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "24-01-05",
        "2024/01/05",
        " 2024-01-05",
        "2024-01-05T00:00:00Z",
        "+2024-01-05",
        "２０２４-01-05",
        "",
    ] {
        assert_eq!(
            code("birthday", json!(bad)),
            FieldErrorCode::InvalidDate,
            "{bad:?}"
        );
    }
}

#[test]
fn enum_values_must_be_declared_exactly() {
    assert_eq!(stored("tier", json!("silver")), json!("silver"));
    let err = refused("tier", json!("Gold"));
    assert_eq!(err.code, FieldErrorCode::NotInEnum);
    assert_eq!(
        err.message,
        "is not one of the allowed values: gold, silver"
    );
}

#[test]
fn max_len_counts_characters_not_bytes() {
    assert_eq!(stored("nick", json!("ééééé")), json!("ééééé"));
    assert_eq!(stored("nick", json!("😀😀😀😀😀")), json!("😀😀😀😀😀"));
    let err = refused("nick", json!("éééééé"));
    assert_eq!(
        (err.code, err.message.as_str()),
        (FieldErrorCode::TooLong, "is longer than 5 characters")
    );
    assert_eq!(stored("nick", json!("")), json!(""));
}

#[test]
fn strings_are_stored_as_given_but_nul_is_refused() {
    assert_eq!(stored("nick", json!(" a b ")), json!(" a b "));
    assert_eq!(
        stored("bio", json!("tab\tand\nnewline")),
        json!("tab\tand\nnewline")
    );
    assert_eq!(code("nick", json!("a\u{0}b")), FieldErrorCode::WrongType);
}

#[test]
fn text_max_bytes_counts_utf8_bytes() {
    assert_eq!(stored("memo", json!("é".repeat(15))), json!("é".repeat(15)));
    let err = refused("memo", json!("é".repeat(16)));
    assert_eq!(
        (err.code, err.message.as_str()),
        (FieldErrorCode::TooLarge, "is larger than 30 bytes")
    );
}

#[test]
fn pattern_must_match() {
    assert_eq!(stored("code", json!("XYZ")), json!("XYZ"));
    let err = refused("code", json!("XYZW"));
    assert_eq!(err.code, FieldErrorCode::PatternMismatch);
    assert_eq!(err.message, "does not match the pattern `^[A-Z]{3}$`");
}

#[test]
fn json_max_bytes_applies_to_the_serialized_value() {
    assert_eq!(
        stored("tiny", json!({"a": "01234567"})),
        json!({"a": "01234567"})
    );
    let err = refused("tiny", json!({"a": "012345678"}));
    assert_eq!(err.code, FieldErrorCode::TooLarge);
    assert!(err.message.contains("16 bytes"));
    assert_eq!(stored("prefs", json!(null)), json!(null));
}

#[test]
fn integers_respect_min_and_max() {
    assert_eq!(stored("age", json!(0)), json!(0));
    assert_eq!(stored("age", json!(150)), json!(150));
    assert_eq!(
        refused("age", json!(-1)).message,
        "is less than the minimum 0"
    );
    assert_eq!(
        refused("age", json!(151)).message,
        "is greater than the maximum 150"
    );
    assert_eq!(code("age", json!(151)), FieldErrorCode::OutOfRange);
    assert_eq!(stored("score", json!(i64::MIN)), json!(i64::MIN));
    assert_eq!(code("score", json!(u64::MAX)), FieldErrorCode::OutOfRange);
    assert_eq!(code("score", json!(1.0)), FieldErrorCode::WrongType);
}

#[test]
fn decimals_accept_numbers_and_strings_in_canonical_form() {
    assert_eq!(stored("balance", json!("0012.500")), json!("12.5"));
    assert_eq!(stored("balance", json!(12.5)), json!("12.5"));
    assert_eq!(stored("balance", json!(0.1)), json!("0.1"));
    assert_eq!(stored("balance", json!(-7)), json!("-7"));
    assert_eq!(
        stored("balance", json!(1e21)),
        json!("1000000000000000000000")
    );
    for bad in ["12,5", "abc", "", "1.2.3", "1e999"] {
        assert_eq!(
            code("balance", json!(bad)),
            FieldErrorCode::InvalidDecimal,
            "{bad:?}"
        );
    }
}

#[test]
fn error_messages_never_contain_the_value() {
    let secret = "Zebra42Secret";
    for name in [
        "email", "nick", "code", "phone", "birthday", "balance", "tier", "age", "vip", "tiny",
    ] {
        let value = json!(format!("{secret}{secret}"));
        if let Err(err) = field(name).validate_value(&value) {
            assert!(!err.to_string().contains(secret), "{name}: {err}");
        }
    }
}

#[test]
fn decode_refuses_plaintext_of_another_type() {
    assert_eq!(
        field("age").decode(b"\"34\"").unwrap_err().code,
        FieldErrorCode::InvalidJson
    );
    assert_eq!(
        field("email").decode(b"34").unwrap_err().code,
        FieldErrorCode::InvalidJson
    );
    assert_eq!(
        field("vip").decode(b"not json").unwrap_err().code,
        FieldErrorCode::InvalidJson
    );
    assert_eq!(field("prefs").decode(b"[1,2]").unwrap(), json!([1, 2]));
}

#[test]
fn lookup_values_give_the_write_term() {
    let term = |name: &str, raw: &str| field(name).normalize_query(raw).unwrap().expose().clone();
    let write = |name: &str, value: Value| {
        field(name)
            .validate_value(&value)
            .unwrap()
            .index_term
            .unwrap()
            .expose()
            .clone()
    };
    assert_eq!(
        term("email", "  Jane@Example.COM "),
        write("email", json!("jane@example.com"))
    );
    assert_eq!(term("email", "JANE@EXAMPLE.COM"), b"jane@example.com");
    assert_eq!(term("phone", "+1 415-555-2671"), b"+14155552671");
    assert_eq!(
        term("us_phone", "4155552671"),
        write("us_phone", json!("+1 (415) 555 2671"))
    );
    assert_eq!(
        term("birthday", " 2024-02-29 "),
        write("birthday", json!("2024-02-29"))
    );
    assert_eq!(term("age", " 42"), write("age", json!(42)));
    assert_eq!(term("balance", "12.50"), write("balance", json!(12.5)));
    assert_eq!(term("tier", "gold"), write("tier", json!("gold")));
    assert_eq!(
        field("nick").normalize_query("jj").unwrap_err().code,
        FieldErrorCode::NotSearchable
    );
    assert_eq!(
        field("age").normalize_query("forty").unwrap_err().code,
        FieldErrorCode::WrongType
    );
    assert_eq!(
        field("email").normalize_query("nope").unwrap_err().code,
        FieldErrorCode::InvalidEmail
    );
}
