use serde_json::json;

use super::*;
use crate::schema::EXAMPLE_SCHEMA;

fn schema() -> Schema {
    Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap()
}

fn role(v: serde_json::Value) -> Role {
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_role_reads_from_the_api_shape() {
    let r = role(json!({
        "name": "mailer",
        "purposes": ["marketing.communications.email"],
        "collections": {"customers": {"email": "plain", "name": "masked"}}
    }));
    assert_eq!(r.name, "mailer");
    assert!(!r.admin);
    assert_eq!(r.collections["customers"]["name"], Access::Masked);
    assert_eq!(r.check(&schema()), Ok(()));
    let admin = role(json!({"name": "ops", "admin": true}));
    assert!(admin.admin && admin.purposes.is_empty() && admin.collections.is_empty());
}

#[test]
fn unknown_access_modes_and_keys_do_not_deserialize() {
    let bad_access = json!({"name": "r", "collections": {"customers": {"email": "visible"}}});
    let err = serde_json::from_value::<Role>(bad_access).unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `visible`"),
        "{err}"
    );
    let extra = json!({"name": "r", "fields": {}});
    assert!(serde_json::from_value::<Role>(extra).is_err());
    assert!(serde_json::from_value::<Role>(json!({"purposes": []})).is_err());
    assert_eq!("tokenized".parse(), Ok(Access::Tokenized));
    assert!("hidden".parse::<Access>().is_err());
}

#[test]
fn a_role_naming_unknown_things_lists_every_problem_by_path() {
    let r = role(json!({
        "name": "Bad Name",
        "purposes": ["essential.service", "marketing.telepathy"],
        "collections": {
            "customers": {"email": "plain", "shoe_size": "masked"},
            "invoices": {"total": "plain"}
        }
    }));
    let errs = r.check(&schema()).unwrap_err();
    let paths: Vec<&str> = errs.problems().iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "name",
            "purposes.marketing.telepathy",
            "collections.customers.shoe_size",
            "collections.invoices",
        ]
    );
    assert!(errs.has_path("collections.invoices"));
    assert!(
        errs.to_string().contains(
            "collections.customers.shoe_size: unknown field `shoe_size` in collection `customers`"
        ),
        "{errs}"
    );
}

#[test]
fn role_names_are_short_lowercase_slugs() {
    for ok in ["a", "mailer", "support-tier_2", &"x".repeat(64)] {
        assert!(is_valid_role_name(ok), "{ok}");
    }
    for bad in ["", "Mailer", "mail er", "mailer!", "é", &"x".repeat(65)] {
        assert!(!is_valid_role_name(bad), "{bad}");
    }
}

#[test]
fn a_purpose_from_one_role_never_combines_with_a_field_from_another() {
    let mailer = role(json!({
        "name": "mailer",
        "purposes": ["marketing.communications.email"],
        "collections": {"customers": {"email": "plain"}}
    }));
    let support = role(json!({
        "name": "support",
        "purposes": ["essential.service"],
        "collections": {"customers": {"address": "plain"}}
    }));
    let g = Grants::from_roles([&mailer, &support]);
    assert!(
        g.get("marketing.communications.email", "customers", "email")
            .is_some()
    );
    assert!(g.get("essential.service", "customers", "address").is_some());
    assert_eq!(
        g.get("marketing.communications.email", "customers", "address"),
        None
    );
    assert_eq!(g.get("essential.service", "customers", "email"), None);
    assert_eq!(g.roles(), ["mailer", "support"]);
}

#[test]
fn the_most_revealing_access_of_the_roles_granting_both_wins() {
    let masked = role(json!({
        "name": "b-masked", "purposes": ["analytics.reporting"],
        "collections": {"customers": {"birth_date": "masked"}}
    }));
    let tokenized = role(json!({
        "name": "c-tokens", "purposes": ["analytics.reporting"],
        "collections": {"customers": {"birth_date": "tokenized"}}
    }));
    let tokenized_too = role(json!({
        "name": "a-tokens", "purposes": ["analytics.reporting"],
        "collections": {"customers": {"birth_date": "tokenized"}}
    }));
    for roles in [
        vec![&masked, &tokenized, &tokenized_too],
        vec![&tokenized_too, &tokenized, &masked],
    ] {
        let g = Grants::from_roles(roles);
        let grant = g
            .get("analytics.reporting", "customers", "birth_date")
            .unwrap();
        assert_eq!(grant.access, Access::Tokenized);
        // Of equal grants the first role by name keys the token, whatever the order.
        assert_eq!(grant.role, "a-tokens");
    }
    assert!(Access::Plain > Access::Tokenized && Access::Tokenized > Access::Masked);
}

#[test]
fn admin_is_held_if_any_role_has_it() {
    let a = role(json!({"name": "a"}));
    let b = role(json!({"name": "b", "admin": true}));
    assert!(!Grants::from_roles([&a]).is_admin());
    assert!(Grants::from_roles([&a, &b]).is_admin());
    assert!(!Grants::default().grants_purpose("essential.service"));
}

#[test]
fn full_access_grants_every_declared_field_for_every_purpose() {
    let schema = schema();
    let r = Role::full_access("everything", &schema);
    assert_eq!(r.check(&schema), Ok(()));
    let g = Grants::from_roles([&r]);
    for p in schema.purposes() {
        for c in schema.collections() {
            for f in c.fields() {
                assert_eq!(
                    g.get(&p.name, &c.name, &f.name).unwrap().access,
                    Access::Plain
                );
            }
        }
    }
}
