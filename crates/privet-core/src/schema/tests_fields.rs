//! Rejection rules for field declarations, one test per rule.

use super::tests::BASE;
use super::tests_reject::{F, has, only, rejected, with_field};

#[test]
fn unknown_category_is_rejected() {
    only(
        &BASE.replace("user.contact.email", "user.contact.pigeon"),
        &format!("{F}.email.category"),
        "unknown data category `user.contact.pigeon`",
    );
}

#[test]
fn field_referencing_an_undeclared_purpose_is_rejected() {
    let text = BASE.replace(
        "purposes = [\"essential.service\"]",
        "purposes = [\"essential.service\", \"analytics.reporting\"]",
    );
    only(
        &text,
        &format!("{F}.email.purposes"),
        "purpose `analytics.reporting` is not declared",
    );
}

#[test]
fn field_with_no_purposes_is_rejected() {
    only(
        &BASE.replace("purposes = [\"essential.service\"]", "purposes = []"),
        &format!("{F}.email.purposes"),
        "at least one purpose",
    );
}

#[test]
fn searchable_json_text_and_bool_fields_are_rejected() {
    for ty in ["json", "text", "bool"] {
        let body = format!(
            "type = \"{ty}\"\ncategory = \"user.content.public\"\npurposes = [\"essential.service\"]\nsearchable = true"
        );
        only(
            &with_field("notes", &body),
            &format!("{F}.notes.searchable"),
            "cannot be searchable",
        );
    }
}

#[test]
fn special_category_field_for_marketing_is_rejected() {
    let body = "type = \"string\"\ncategory = \"user.demographic.religious_belief\"\npurposes = [\"essential.service\", \"marketing.communications.email\"]";
    only(
        &with_field("religion", body),
        &format!("{F}.religion.purposes"),
        "special category `user.demographic.religious_belief` may not be used for `marketing.communications.email`",
    );
}

#[test]
fn special_category_field_for_personalization_or_automated_decisions_is_rejected() {
    let purposes = "[purposes.\"personalize.content.profiling\"]\ndescription = \"Profile\"\nlegal_basis = \"consent\"\n\
                    [purposes.\"essential.fraud_detection\"]\ndescription = \"Score fraud\"\nlegal_basis = \"legitimate_interest\"\nautomated_decision = true\n";
    let body = "type = \"string\"\ncategory = \"user.health.condition\"\npurposes = [\"personalize.content.profiling\", \"essential.fraud_detection\"]";
    let errors = rejected(&format!("{}\n{purposes}", with_field("health", body)));
    assert_eq!(errors.0.len(), 2, "{errors}");
    has(
        &errors,
        &format!("{F}.health.purposes"),
        "`personalize.content.profiling`",
    );
    has(
        &errors,
        &format!("{F}.health.purposes"),
        "`essential.fraud_detection`",
    );
}

#[test]
fn enum_without_values_is_rejected() {
    let body = "type = \"enum\"\ncategory = \"user.demographic.gender\"\npurposes = [\"essential.service\"]";
    only(
        &with_field("gender", body),
        &format!("{F}.gender.values"),
        "needs a non-empty `values` list",
    );
    only(
        &with_field("gender", &format!("{body}\nvalues = []")),
        &format!("{F}.gender.values"),
        "needs a non-empty `values` list",
    );
}

#[test]
fn values_on_a_non_enum_field_are_rejected() {
    let body = "type = \"string\"\ncategory = \"user.demographic.gender\"\npurposes = [\"essential.service\"]\nvalues = [\"a\"]";
    only(
        &with_field("gender", body),
        &format!("{F}.gender.values"),
        "only applies to enum fields",
    );
}

#[test]
fn pattern_that_does_not_compile_is_rejected() {
    let body = "type = \"string\"\ncategory = \"user.name\"\npurposes = [\"essential.service\"]\npattern = \"^[0-9\"";
    only(
        &with_field("code", body),
        &format!("{F}.code.pattern"),
        "does not compile",
    );
}

#[test]
fn max_len_on_a_type_without_length_is_rejected() {
    let body = "type = \"integer\"\ncategory = \"user.financial\"\npurposes = [\"essential.service\"]\nmax_len = 3";
    only(
        &with_field("total", body),
        &format!("{F}.total.max_len"),
        "only applies to string and text fields, not integer",
    );
    let body = "type = \"string\"\ncategory = \"user.name\"\npurposes = [\"essential.service\"]\nmax_len = 0";
    only(
        &with_field("nick", body),
        &format!("{F}.nick.max_len"),
        "must be between 1",
    );
}

#[test]
fn unique_without_searchable_is_rejected() {
    only(
        &BASE.replace("type = \"email\"", "type = \"email\"\nunique = true"),
        &format!("{F}.email.unique"),
        "needs `searchable = true`",
    );
}

#[test]
fn wrong_value_types_and_unknown_names_are_rejected() {
    let body = "type = \"strng\"\ncategory = 7\npurposes = \"essential.service\"\nsearchable = \"yes\"\nlegal_basis = \"whim\"";
    let errors = rejected(&with_field("nick", body));
    assert_eq!(errors.0.len(), 5, "{errors}");
    has(
        &errors,
        &format!("{F}.nick.type"),
        "unknown field type `strng`",
    );
    has(&errors, &format!("{F}.nick.category"), "expected a string");
    has(
        &errors,
        &format!("{F}.nick.purposes"),
        "expected a list of strings",
    );
    has(
        &errors,
        &format!("{F}.nick.searchable"),
        "expected true or false",
    );
    has(
        &errors,
        &format!("{F}.nick.legal_basis"),
        "unknown legal basis `whim`",
    );
    only(
        &BASE.replace("kind = \"profile\"", "kind = \"many\""),
        "collections.customers.kind",
        "unknown collection kind `many`",
    );
}

#[test]
fn limits_on_the_wrong_type_are_rejected() {
    let base = "category = \"user.name\"\npurposes = [\"essential.service\"]";
    only(
        &with_field("a", &format!("type = \"string\"\n{base}\nmax_bytes = 10")),
        &format!("{F}.a.max_bytes"),
        "only applies to json and text",
    );
    only(
        &with_field("a", &format!("type = \"string\"\n{base}\nmin = 1")),
        &format!("{F}.a.min"),
        "only applies to integer",
    );
    only(
        &with_field(
            "a",
            &format!("type = \"integer\"\n{base}\nmin = 5\nmax = 1"),
        ),
        &format!("{F}.a.min"),
        "greater than max",
    );
    only(
        &with_field("a", &format!("type = \"email\"\n{base}\npattern = \"x\"")),
        &format!("{F}.a.pattern"),
        "only applies to string and text",
    );
    only(
        &with_field(
            "a",
            &format!("type = \"string\"\n{base}\ndefault_region = \"US\""),
        ),
        &format!("{F}.a.default_region"),
        "only applies to phone",
    );
    only(
        &with_field(
            "a",
            &format!("type = \"phone\"\n{base}\ndefault_region = \"XX\""),
        ),
        &format!("{F}.a.default_region"),
        "unknown region `XX`",
    );
}
