use serde_json::{Value, json};

use super::*;
use crate::schema::{Field, Schema};

/// One field of every type, with limits.
pub(super) const TEST_SCHEMA: &str = include_str!("testdata/people.schema.toml");

pub(super) fn people() -> Collection {
    let schema = Schema::from_toml_str(TEST_SCHEMA).unwrap();
    schema.collection("people").unwrap().clone()
}

pub(super) fn field(name: &str) -> Field {
    people().field(name).unwrap().clone()
}

pub(super) fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

/// The stored plaintext of one value, decoded back to JSON.
pub(super) fn stored(name: &str, value: Value) -> Value {
    let f = field(name);
    let v = f
        .validate_value(&value)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    f.decode(v.plaintext.expose()).unwrap()
}

pub(super) fn refused(name: &str, value: Value) -> FieldError {
    match field(name).validate_value(&value) {
        Ok(_) => panic!("{name} accepted {value}"),
        Err(err) => err,
    }
}

pub(super) fn code(name: &str, value: Value) -> FieldErrorCode {
    refused(name, value).code
}

#[test]
fn every_field_type_accepts_a_valid_value() {
    let data = people()
        .validate(
            &obj(json!({
                "email": "jane@example.com", "nick": "jj", "code": "ABC", "bio": "hello\nworld",
                "memo": "m", "phone": "+14155552671", "us_phone": "(415) 555-2671",
                "birthday": "1990-04-01", "age": 34, "score": -5, "balance": "12.50", "vip": true,
                "tier": "gold", "prefs": {"theme": "dark", "n": [1, 2.5, null]}, "tiny": [1]
            })),
            WriteMode::Create,
        )
        .unwrap();
    let plain =
        |n: &str| String::from_utf8(data.field(n).unwrap().unwrap().expose().clone()).unwrap();
    assert_eq!(plain("email"), "\"jane@example.com\"");
    assert_eq!(plain("us_phone"), "\"+14155552671\"");
    assert_eq!(plain("age"), "34");
    assert_eq!(plain("balance"), "\"12.5\"");
    assert_eq!(plain("vip"), "true");
    assert_eq!(plain("prefs"), r#"{"n":[1,2.5,null],"theme":"dark"}"#);
    assert_eq!(data.fields.len(), 15);
    let names: Vec<&str> = data.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"email"), "declaration order");
    let indexed: Vec<&str> = data.index_terms.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        indexed,
        [
            "email", "code", "phone", "us_phone", "birthday", "age", "balance", "tier"
        ]
    );
    assert_eq!(data.index_term("age").unwrap().expose(), b"34");
    assert_eq!(
        data.index_term("birthday").unwrap().expose(),
        b"\"1990-04-01\""
    );
    assert!(data.index_term("vip").is_none());
}

#[test]
fn every_field_type_refuses_the_wrong_json_type() {
    for (name, value) in [
        ("email", json!(5)),
        ("nick", json!(true)),
        ("bio", json!(["x"])),
        ("phone", json!(14155552671_u64)),
        ("birthday", json!(19900401)),
        ("age", json!("34")),
        ("age", json!(3.5)),
        ("balance", json!(true)),
        ("vip", json!("true")),
        ("vip", json!(1)),
        ("tier", json!(1)),
        ("code", json!({"a": 1})),
    ] {
        assert_eq!(
            code(name, value.clone()),
            FieldErrorCode::WrongType,
            "{name} {value}"
        );
    }
}

#[test]
fn undeclared_fields_are_refused_naming_each() {
    let err = people()
        .validate(
            &obj(json!({"email": "a@b.co", "shoe_size": 44, "ssn": "078-05-1120"})),
            WriteMode::Create,
        )
        .unwrap_err();
    let undeclared: Vec<&str> = err
        .0
        .iter()
        .filter(|e| e.code == FieldErrorCode::UndeclaredField)
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(undeclared, ["shoe_size", "ssn"]);
    assert!(
        err.to_string()
            .contains("shoe_size: is not declared in collection `people`")
    );
    assert!(!err.to_string().contains("078-05-1120"));
}

#[test]
fn a_very_long_undeclared_name_is_cut_short() {
    let name = "x".repeat(500);
    let err = people()
        .validate(
            &obj(json!({ name.clone(): 1, "email": "a@b.co" })),
            WriteMode::Create,
        )
        .unwrap_err();
    assert_eq!(err.0[0].field.chars().count(), 65);
}

#[test]
fn required_fields_are_needed_on_create_but_not_on_patch() {
    let err = people()
        .validate(&obj(json!({"nick": "jj"})), WriteMode::Create)
        .unwrap_err();
    assert_eq!(
        err.0,
        vec![FieldError::new(
            "email",
            FieldErrorCode::Required,
            "is required"
        )]
    );
    let err = people()
        .validate(&obj(json!({"email": null})), WriteMode::Create)
        .unwrap_err();
    assert_eq!(err.0[0].code, FieldErrorCode::Required);
    let data = people()
        .validate(&obj(json!({"nick": "jj"})), WriteMode::Patch)
        .unwrap();
    assert_eq!(data.fields.len(), 1);
}

#[test]
fn patch_null_removes_an_optional_field_but_never_a_required_one() {
    let data = people()
        .validate(&obj(json!({"nick": null, "age": 3})), WriteMode::Patch)
        .unwrap();
    assert!(matches!(data.field("nick"), Some(None)));
    assert!(data.field("age").unwrap().is_some());
    assert!(data.index_term("nick").is_none());
    let err = people()
        .validate(&obj(json!({"email": null})), WriteMode::Patch)
        .unwrap_err();
    assert_eq!(err.0[0].code, FieldErrorCode::Required);
    assert!(err.0[0].message.contains("cannot be removed"));
}

#[test]
fn create_with_null_for_an_optional_field_stores_nothing() {
    let data = people()
        .validate(
            &obj(json!({"email": "a@b.co", "nick": null})),
            WriteMode::Create,
        )
        .unwrap();
    assert!(data.field("nick").is_none());
}

#[test]
fn every_problem_of_a_write_is_reported() {
    let err = people()
        .validate(
            &obj(json!({"nick": "toolongnick", "age": 200, "tier": "bronze", "extra": 1})),
            WriteMode::Create,
        )
        .unwrap_err();
    let codes: Vec<&str> = err.0.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "undeclared_field",
            "required",
            "too_long",
            "out_of_range",
            "not_in_enum"
        ]
    );
}

#[test]
fn codes_have_stable_snake_case_names() {
    assert_eq!(FieldErrorCode::UndeclaredField.as_str(), "undeclared_field");
    assert_eq!(
        serde_json::to_value(FieldErrorCode::InvalidPhone).unwrap(),
        json!("invalid_phone")
    );
    assert_eq!(
        serde_json::to_value(WriteMode::Patch).unwrap(),
        json!("patch")
    );
}
