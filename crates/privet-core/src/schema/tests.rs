use super::*;

const SHARED_EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/examples/schema.toml"
);

/// A small valid schema that the rejection tests extend with one mistake each.
pub(super) const BASE: &str = r#"
version = 1

[purposes."essential.service"]
description = "Run the service"
legal_basis = "contract"

[purposes."marketing.communications.email"]
description = "Newsletters"
legal_basis = "consent"

[collections.customers]
kind = "profile"

[collections.customers.fields.email]
type = "email"
category = "user.contact.email"
purposes = ["essential.service"]
"#;

fn example() -> Schema {
    Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap()
}

#[test]
fn example_schema_loads_with_its_purposes_in_order() {
    let schema = example();
    assert_eq!(schema.version(), 1);
    let names: Vec<&str> = schema.purposes().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "essential.service",
            "essential.service.payment_processing",
            "essential.service.security",
            "marketing.communications.email",
            "marketing.advertising.third_party.targeted",
            "analytics.reporting",
            "essential.legal_obligation",
        ]
    );
    let targeted = schema
        .purpose("marketing.advertising.third_party.targeted")
        .unwrap();
    assert_eq!(targeted.legal_basis, LegalBasis::Consent);
    assert!(targeted.sale_or_sharing);
    assert!(!targeted.automated_decision);
    assert_eq!(
        schema
            .purpose("essential.service.security")
            .unwrap()
            .legal_basis,
        LegalBasis::LegitimateInterest
    );
    assert_eq!(
        schema
            .purpose("essential.legal_obligation")
            .unwrap()
            .legal_basis,
        LegalBasis::LegalObligation
    );
    assert!(!schema.purpose("essential.service").unwrap().sale_or_sharing);
    assert_eq!(
        schema.purpose("essential.service").unwrap().description,
        "Run the customer's account and deliver what they ordered"
    );
    assert!(schema.purpose("marketing").is_none());
}

#[test]
fn example_schema_has_its_collections_and_fields_in_declaration_order() {
    let schema = example();
    let collections: Vec<(&str, CollectionKind)> = schema
        .collections()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        collections,
        [
            ("customers", CollectionKind::Profile),
            ("orders", CollectionKind::Records),
            ("support_tickets", CollectionKind::Records),
        ]
    );
    assert_eq!(schema.profile().map(|c| c.name.as_str()), Some("customers"));

    let fields = |c: &str| -> Vec<String> {
        schema
            .collection(c)
            .unwrap()
            .fields()
            .map(|f| f.name.clone())
            .collect()
    };
    assert_eq!(
        fields("customers"),
        [
            "email",
            "name",
            "phone",
            "address",
            "birth_date",
            "gender",
            "religion"
        ]
    );
    assert_eq!(fields("orders"), ["items", "total_cents", "card_last4"]);
    assert_eq!(fields("support_tickets"), ["message"]);

    let customers = schema.collection("customers").unwrap();
    let email = customers.field("email").unwrap();
    assert_eq!(
        (email.ty, email.searchable, email.required, email.unique),
        (FieldType::Email, true, true, false)
    );
    assert_eq!(email.category, "user.contact.email");
    assert_eq!(
        email.purposes,
        [
            "essential.service",
            "essential.service.security",
            "marketing.communications.email"
        ]
    );
    assert_eq!(customers.field("name").unwrap().max_len, Some(200));
    assert_eq!(
        customers.field("gender").unwrap().values,
        ["female", "male", "non_binary", "undisclosed"]
    );
    let religion = customers.field("religion").unwrap();
    assert!(religion.special_category);
    assert_eq!(religion.legal_basis, Some(LegalBasis::Consent));
    assert!(!email.special_category);

    let orders = schema.collection("orders").unwrap();
    assert_eq!(
        orders.retention,
        Some(Retention {
            keep: RetentionPeriod {
                count: 7,
                unit: PeriodUnit::Years
            },
            after: RetentionAnchor::Created,
        })
    );
    assert_eq!(orders.field("items").unwrap().max_bytes, Some(16384));
    assert_eq!(orders.field("total_cents").unwrap().ty, FieldType::Integer);
    let card = orders.field("card_last4").unwrap();
    assert_eq!(
        card.pattern.as_ref().map(Pattern::as_str),
        Some("^[0-9]{4}$")
    );
    assert!(card.special_category);
    let tickets = schema.collection("support_tickets").unwrap();
    assert_eq!(
        tickets.retention.map(|r| r.keep.to_string()),
        Some("2y".to_owned())
    );
    assert!(tickets.field("message").unwrap().special_category);
    assert_eq!(customers.retention, None);
    assert!(schema.collection("invoices").is_none());
}

#[test]
fn shipped_example_is_a_byte_for_byte_copy_of_the_shared_one() {
    let Ok(shared) = std::fs::read(SHARED_EXAMPLE) else {
        return; // outside the monorepo checkout the shared directory is not there
    };
    assert!(
        shared == EXAMPLE_SCHEMA.as_bytes(),
        "examples/shop.schema.toml differs from {SHARED_EXAMPLE}"
    );
    let text = String::from_utf8(shared).unwrap();
    assert!(Schema::from_toml_str(&text).is_ok());
}

#[test]
fn retention_accepts_a_table_with_an_anchor() {
    let text = format!(
        "{BASE}\n[collections.visits]\nkind = \"records\"\nretention = {{ after = \"last_activity\", keep = \"3y\" }}\n\
         [collections.visits.fields.page]\ntype = \"string\"\ncategory = \"user.behavior.browsing_history\"\n\
         purposes = [\"essential.service\"]\nretention = {{ keep = \"90d\" }}\n"
    );
    let schema = Schema::from_toml_str(&text).unwrap();
    let visits = schema.collection("visits").unwrap();
    assert_eq!(
        visits.retention.map(|r| (r.keep.to_string(), r.after)),
        Some(("3y".into(), RetentionAnchor::LastActivity))
    );
    let page = visits.field("page").unwrap();
    assert_eq!(
        page.retention.map(|r| (r.keep.to_string(), r.after)),
        Some(("90d".into(), RetentionAnchor::Created))
    );
}

#[test]
fn optional_keys_and_taxonomy_extensions_are_accepted() {
    let text = format!(
        "{BASE}\n[purposes.\"marketing.communications.push\"]\ndescription = \"Push offers\"\nlegal_basis = \"consent\"\n\
         automated_decision = false\n\
         [collections.customers.fields.phone]\ntype = \"phone\"\ncategory = \"user.contact.phone_number\"\n\
         purposes = [\"marketing.communications.push\"]\ndefault_region = \"US\"\nsearchable = true\nunique = true\n\
         description = \"Mobile number\"\n\
         [collections.customers.fields.age]\ntype = \"integer\"\nmin = 0\nmax = 150\ncategory = \"user.demographic.age_range\"\n\
         purposes = [\"essential.service\"]\n"
    );
    let schema = Schema::from_toml_str(&text).unwrap();
    let customers = schema.profile().unwrap();
    let phone = customers.field("phone").unwrap();
    assert_eq!(phone.default_region.as_deref(), Some("US"));
    assert!(phone.unique && phone.searchable);
    assert_eq!(phone.description.as_deref(), Some("Mobile number"));
    let age = customers.field("age").unwrap();
    assert_eq!((age.min, age.max), (Some(0), Some(150)));
}

#[test]
fn a_schema_without_a_profile_has_none() {
    let text = BASE.replace("kind = \"profile\"", "kind = \"records\"");
    assert!(Schema::from_toml_str(&text).unwrap().profile().is_none());
}

#[test]
fn problems_display_one_per_line_as_path_and_message() {
    let errors = SchemaErrors(vec![
        SchemaProblem {
            path: "a.b".into(),
            message: "first".into(),
        },
        SchemaProblem {
            path: "c".into(),
            message: "second".into(),
        },
    ]);
    assert_eq!(errors.to_string(), "a.b: first\nc: second");
    let boxed: Box<dyn std::error::Error> = Box::new(errors);
    assert!(boxed.to_string().contains("second"));
}

#[test]
fn special_category_marks_follow_the_taxonomy_and_exclusions_follow_the_purpose() {
    let schema = example();
    for purpose in schema.purposes() {
        assert!(
            !purpose.excludes_special_categories() || purpose.name.starts_with("marketing."),
            "{}",
            purpose.name
        );
    }
    let mut p = schema.purpose("essential.service").unwrap().clone();
    assert!(!p.excludes_special_categories());
    p.automated_decision = true;
    assert!(p.excludes_special_categories());
    p.automated_decision = false;
    p.name = "personalize".into();
    assert!(p.excludes_special_categories());
    p.name = "marketingish".into();
    assert!(!p.excludes_special_categories());
}
