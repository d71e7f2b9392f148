//! One test per rejection rule: each adds one mistake to a valid schema and expects exactly
//! that problem, at its path.

use super::tests::BASE;
use super::*;

pub(super) fn rejected(text: &str) -> SchemaErrors {
    match Schema::from_toml_str(text) {
        Ok(_) => panic!("schema was accepted:\n{text}"),
        Err(errors) => errors,
    }
}

/// Asserts that the only problem sits at `path` and its message contains `needle`.
pub(super) fn only(text: &str, path: &str, needle: &str) {
    let errors = rejected(text);
    assert_eq!(errors.0.len(), 1, "expected one problem, got:\n{errors}");
    has(&errors, path, needle);
}

pub(super) fn has(errors: &SchemaErrors, path: &str, needle: &str) {
    assert!(
        errors
            .0
            .iter()
            .any(|p| p.path == path && p.message.contains(needle)),
        "no problem at `{path}` containing `{needle}`; got:\n{errors}"
    );
}

pub(super) fn with_field(name: &str, body: &str) -> String {
    format!("{BASE}\n[collections.customers.fields.{name}]\n{body}\n")
}

pub(super) const F: &str = "collections.customers.fields";

#[test]
fn toml_syntax_error_is_one_problem_with_line_and_column() {
    let errors = rejected("version = 1\n[purposes.\"essential.service\"\ndescription = \"x\"\n");
    assert_eq!(errors.0.len(), 1, "{errors}");
    let message = &errors.0[0].message;
    assert!(message.contains("line 2, column"), "{message}");
}

#[test]
fn duplicate_key_is_reported_with_its_path() {
    let text = BASE.replace("type = \"email\"", "type = \"email\"\ntype = \"string\"");
    let errors = rejected(&text);
    assert_eq!(errors.0.len(), 1, "{errors}");
    has(
        &errors,
        &format!("{F}.email.type"),
        "duplicate key at line 17",
    );
}

#[test]
fn duplicate_table_is_reported_with_its_path() {
    let text = format!("{BASE}\n[collections.customers.fields.email]\ntype = \"string\"\n");
    only(&text, &format!("{F}.email"), "duplicate key");
}

#[test]
fn duplicate_purpose_header_is_reported_with_its_quoted_path() {
    let text = format!(
        "{BASE}\n[purposes.\"essential.service\"]\ndescription = \"again\"\nlegal_basis = \"contract\"\n"
    );
    only(&text, "purposes.\"essential.service\"", "duplicate key");
}

#[test]
fn unknown_keys_are_refused_at_every_level() {
    only(
        &with_field(
            "name",
            "type = \"string\"\ncategory = \"user.name\"\npurposes = [\"essential.service\"]\ncolour = \"red\"",
        ),
        &format!("{F}.name.colour"),
        "unknown key",
    );
    only(
        &BASE.replace(
            "legal_basis = \"contract\"",
            "legal_basis = \"contract\"\nnotice = 2",
        ),
        "purposes.\"essential.service\".notice",
        "unknown key",
    );
    only(
        &BASE.replace("kind = \"profile\"", "kind = \"profile\"\nencrypted = true"),
        "collections.customers.encrypted",
        "unknown key",
    );
    only(&format!("owner = \"shop\"\n{BASE}"), "owner", "unknown key");
}

#[test]
fn purpose_that_is_not_a_fideslang_data_use_is_rejected() {
    let text = format!(
        "{BASE}\n[purposes.shipping]\ndescription = \"Ship parcels\"\nlegal_basis = \"contract\"\n"
    );
    only(&text, "purposes.shipping", "not a fideslang data use");
}

#[test]
fn purposes_that_collide_after_case_folding_are_rejected() {
    let text = format!(
        "{BASE}\n[purposes.\"Essential.Service\"]\ndescription = \"Again\"\nlegal_basis = \"contract\"\n"
    );
    let errors = rejected(&text);
    has(
        &errors,
        "purposes.\"Essential.Service\"",
        "collides with `essential.service` after case folding",
    );
    // fideslang names are lower-case, so the folded twin is never a data use either
    has(
        &errors,
        "purposes.\"Essential.Service\"",
        "not a fideslang data use",
    );
    assert_eq!(errors.0.len(), 2, "{errors}");
}

#[test]
fn fields_that_collide_after_case_folding_are_rejected() {
    let errors = rejected(&with_field(
        "Email",
        "type = \"email\"\ncategory = \"user.contact.email\"\npurposes = [\"essential.service\"]",
    ));
    has(&errors, &format!("{F}.Email"), "collides with `email`");
    has(&errors, &format!("{F}.Email"), "invalid field name");
}

#[test]
fn more_than_one_profile_collection_is_rejected() {
    let text = format!("{BASE}\n[collections.accounts]\nkind = \"profile\"\n");
    only(
        &text,
        "collections.accounts.kind",
        "more than one profile collection (`customers` is already the profile",
    );
}

#[test]
fn bad_retention_strings_are_rejected() {
    for bad in ["7", "seven years", "0y", "7x", "-1d"] {
        let text =
            format!("{BASE}\n[collections.orders]\nkind = \"records\"\nretention = \"{bad}\"\n");
        only(
            &text,
            "collections.orders.retention",
            "is not a retention period",
        );
    }
    let text = format!(
        "{BASE}\n[collections.orders]\nkind = \"records\"\nretention = {{ keep = \"3q\", after = \"birthday\" }}\n"
    );
    let errors = rejected(&text);
    has(
        &errors,
        "collections.orders.retention.keep",
        "is not a retention period",
    );
    has(
        &errors,
        "collections.orders.retention.after",
        "unknown retention anchor `birthday`",
    );
    let text = BASE.replace(
        "purposes = [\"essential.service\"]",
        "purposes = [\"essential.service\"]\nretention = 7",
    );
    only(&text, &format!("{F}.email.retention"), "expected a period");
}

#[test]
fn version_other_than_1_is_rejected() {
    only(
        &BASE.replace("version = 1", "version = 2"),
        "version",
        "unsupported schema version 2",
    );
    only(
        &BASE.replace("version = 1", ""),
        "version",
        "missing required key `version`",
    );
    only(
        &BASE.replace("version = 1", "version = \"1\""),
        "version",
        "expected an integer",
    );
}

#[test]
fn invalid_collection_and_field_names_are_rejected() {
    let long = "a".repeat(64);
    for name in ["2fa", "first-name", "_x", long.as_str()] {
        let body =
            "type = \"string\"\ncategory = \"user.name\"\npurposes = [\"essential.service\"]";
        only(
            &with_field(name, body),
            &format!("{F}.{name}"),
            "invalid field name",
        );
    }
    only(
        &format!("{BASE}\n[collections.Orders]\nkind = \"records\"\n"),
        "collections.Orders",
        "invalid collection name",
    );
    let ok = "a".repeat(63);
    let body = "type = \"string\"\ncategory = \"user.name\"\npurposes = [\"essential.service\"]";
    assert!(Schema::from_toml_str(&with_field(&ok, body)).is_ok());
}

#[test]
fn missing_required_keys_are_rejected() {
    let errors = rejected(&with_field("nick", "max_len = 10"));
    for key in ["type", "category", "purposes"] {
        has(
            &errors,
            &format!("{F}.nick.{key}"),
            &format!("missing required key `{key}`"),
        );
    }
    only(
        &BASE.replace("description = \"Newsletters\"\n", ""),
        "purposes.\"marketing.communications.email\".description",
        "missing required key",
    );
    only(
        &BASE.replace("kind = \"profile\"\n", ""),
        "collections.customers.kind",
        "missing required key",
    );
}

#[test]
fn a_schema_with_several_problems_lists_every_one_with_its_path() {
    let text = r#"
version = 3

[purposes."essential.service"]
description = "Run the service"
legal_basis = "contract"

[purposes.shipping]
description = "Ship parcels"
legal_basis = "contract"

[collections.customers]
kind = "profile"

[collections.customers.fields.email]
type = "email"
category = "user.contact.pigeon"
purposes = ["essential.service", "analytics.reporting"]
unique = true

[collections.customers.fields.notes]
type = "json"
category = "user.content.public"
purposes = []
searchable = true

[collections.customers.fields.gender]
type = "enum"
category = "user.demographic.gender"
purposes = ["essential.service"]

[collections.accounts]
kind = "profile"
retention = "forever"
"#;
    let errors = rejected(text);
    let expected = [
        ("version", "unsupported schema version 3"),
        ("purposes.shipping", "not a fideslang data use"),
        (
            "collections.customers.fields.email.category",
            "unknown data category",
        ),
        (
            "collections.customers.fields.email.purposes",
            "`analytics.reporting` is not declared",
        ),
        (
            "collections.customers.fields.email.unique",
            "needs `searchable = true`",
        ),
        (
            "collections.customers.fields.notes.purposes",
            "at least one purpose",
        ),
        (
            "collections.customers.fields.notes.searchable",
            "cannot be searchable",
        ),
        (
            "collections.customers.fields.gender.values",
            "non-empty `values`",
        ),
        (
            "collections.accounts.kind",
            "more than one profile collection",
        ),
        (
            "collections.accounts.retention",
            "is not a retention period",
        ),
    ];
    for (path, needle) in expected {
        has(&errors, path, needle);
    }
    assert_eq!(errors.0.len(), expected.len(), "{errors}");
    assert_eq!(errors.to_string().lines().count(), expected.len());
}

#[test]
fn consent_withdrawn_anchor_needs_a_consent_purpose() {
    let text = r#"
version = 1
[purposes."essential.service"]
description = "run the account"
legal_basis = "contract"
[collections.c]
kind = "records"
retention = { after = "consent_withdrawn", keep = "1y" }
[collections.c.fields.f]
type = "string"
category = "user.name"
purposes = ["essential.service"]
retention = { after = "consent_withdrawn", keep = "30d" }
"#;
    let errs = Schema::from_toml_str(text).unwrap_err();
    assert!(errs.has_path("collections.c.retention.after"), "{errs}");
    assert!(
        errs.has_path("collections.c.fields.f.retention.after"),
        "{errs}"
    );
}
