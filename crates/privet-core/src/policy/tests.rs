use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;
use crate::schema::{EXAMPLE_SCHEMA, FieldType, Schema};

/// The example schema's purposes, in the column order of `EXPECTED`.
const PURPOSES: [&str; 7] = [
    "essential.service",
    "essential.service.payment_processing",
    "essential.service.security",
    "marketing.communications.email",
    "marketing.advertising.third_party.targeted",
    "analytics.reporting",
    "essential.legal_obligation",
];

/// Expected outcome per field and purpose (columns as in `PURPOSES`) under four consent
/// views: none recorded, granted, denied, withdrawn (see `views`). Written out by hand.
/// R release, P purpose not declared, N no consent, W consent withdrawn, S special category.
#[rustfmt::skip]
const EXPECTED: [(&str, [&str; 4]); 11] = [
    //                           none       granted    denied     withdrawn
    ("customers.email",         ["RPRNPPP", "RPRRPPP", "RPRNPPP", "RPRWPPP"]),
    ("customers.name",          ["RPPNPPP", "RPPRPPP", "RPPNPPP", "RPPWPPP"]),
    ("customers.phone",         ["RPRPPPP", "RPRPPPP", "RPRPPPP", "RPRPPPP"]),
    ("customers.address",       ["RPPPPPP", "RPPPPPP", "RPPPPPP", "RPPPPPP"]),
    ("customers.birth_date",    ["PPRPPRP", "PPRPPRP", "PPRPPRP", "PPRPPRP"]),
    ("customers.gender",        ["PPPPPRP", "PPPPPRP", "PPPPPRP", "PPPPPRP"]),
    ("customers.religion",      ["NPPPPPP", "RPPPPPP", "NPPPPPP", "WPPPPPP"]),
    ("orders.items",            ["RPPPPRR", "RPPPPRR", "RPPPPRR", "RPPPPRR"]),
    ("orders.total_cents",      ["RPPPPRR", "RPPPPRR", "RPPPPRR", "RPPPPRR"]),
    ("orders.card_last4",       ["PRPPPPR", "PRPPPPR", "PRPPPPR", "PRPPPPR"]),
    ("support_tickets.message", ["RPPPPPP", "RPPPPPP", "RPPPPPP", "RPPPPPP"]),
];

fn views() -> [Box<dyn ConsentView>; 4] {
    let all = |state: ConsentState| -> HashMap<String, ConsentState> {
        [PURPOSES[0], PURPOSES[3], PURPOSES[4]]
            .iter()
            .map(|p| (p.to_string(), state))
            .collect()
    };
    [
        Box::new(NoConsents),
        Box::new(all(ConsentState::Granted)),
        Box::new(
            all(ConsentState::Denied)
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        ),
        Box::new(all(ConsentState::Withdrawn)),
    ]
}

fn letter(decision: Decision) -> char {
    match decision {
        Decision::Release => 'R',
        Decision::Withhold(WithholdReason::PurposeNotDeclared) => 'P',
        Decision::Withhold(WithholdReason::NoConsent) => 'N',
        Decision::Withhold(WithholdReason::ConsentWithdrawn) => 'W',
        Decision::Withhold(WithholdReason::SpecialCategory) => 'S',
    }
}

#[test]
fn example_schema_decisions_match_the_table_for_every_field_purpose_and_consent() {
    let schema = Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap();
    let views = views();
    let mut covered = std::collections::BTreeSet::new();
    for (path, rows) in EXPECTED {
        let (collection, name) = path.split_once('.').unwrap();
        let field = schema.collection(collection).unwrap().field(name).unwrap();
        covered.insert(path);
        for (view, expected) in views.iter().zip(rows) {
            let got: String = PURPOSES
                .iter()
                .map(|p| letter(decide(field, schema.purpose(p).unwrap(), view.as_ref())))
                .collect();
            assert_eq!(got, expected, "{path}");
        }
    }
    let all_fields = schema
        .collections()
        .flat_map(|c| c.fields().map(move |f| format!("{}.{}", c.name, f.name)));
    for path in all_fields {
        assert!(covered.contains(path.as_str()), "{path} has no row");
    }
    assert_eq!(schema.purposes().count(), PURPOSES.len());
}

fn special_field(purposes: &[&str]) -> Field {
    let schema = Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap();
    let mut field = schema
        .collection("customers")
        .unwrap()
        .field("religion")
        .unwrap()
        .clone();
    field.purposes = purposes.iter().map(|p| p.to_string()).collect();
    field.legal_basis = None;
    field
}

fn purpose(name: &str, legal_basis: LegalBasis, automated_decision: bool) -> Purpose {
    Purpose {
        name: name.into(),
        description: String::new(),
        legal_basis,
        sale_or_sharing: false,
        automated_decision,
    }
}

#[test]
fn special_category_field_for_marketing_is_withheld_even_with_consent() {
    let field = special_field(&[
        "marketing.communications.email",
        "personalize.content",
        "essential.fraud_detection",
    ]);
    let granted: HashMap<String, ConsentState> = field
        .purposes
        .iter()
        .map(|p| (p.clone(), ConsentState::Granted))
        .collect();
    let special = Decision::Withhold(WithholdReason::SpecialCategory);
    assert_eq!(
        decide(
            &field,
            &purpose("marketing.communications.email", LegalBasis::Consent, false),
            &granted
        ),
        special
    );
    assert_eq!(
        decide(
            &field,
            &purpose("personalize.content", LegalBasis::Consent, false),
            &granted
        ),
        special
    );
    assert_eq!(
        decide(
            &field,
            &purpose(
                "essential.fraud_detection",
                LegalBasis::LegitimateInterest,
                true
            ),
            &granted
        ),
        special
    );
    assert_eq!(
        decide(
            &field,
            &purpose(
                "essential.fraud_detection",
                LegalBasis::LegitimateInterest,
                false
            ),
            &granted
        ),
        Decision::Release
    );
}

#[test]
fn an_undeclared_purpose_is_reported_before_anything_else() {
    let field = special_field(&["essential.service"]);
    let p = purpose("marketing.communications.email", LegalBasis::Consent, false);
    assert_eq!(
        decide(&field, &p, &NoConsents),
        Decision::Withhold(WithholdReason::PurposeNotDeclared)
    );
}

#[test]
fn decisions_and_reasons_have_stable_names() {
    assert_eq!(
        WithholdReason::ConsentWithdrawn.as_str(),
        "consent_withdrawn"
    );
    assert_eq!(
        WithholdReason::SpecialCategory.to_string(),
        "special_category"
    );
    assert_eq!(
        serde_json::to_value(Decision::Release).unwrap(),
        serde_json::json!({"decision": "release"})
    );
    assert_eq!(
        serde_json::to_value(Decision::Withhold(WithholdReason::NoConsent)).unwrap(),
        serde_json::json!({"decision": "withhold", "reason": "no_consent"})
    );
    assert!(Decision::Release.is_release());
    assert_eq!(
        serde_json::to_value(ConsentState::Withdrawn).unwrap(),
        serde_json::json!("withdrawn")
    );
}

fn legal_basis() -> impl Strategy<Value = LegalBasis> {
    prop::sample::select(LegalBasis::ALL.to_vec())
}

fn consent() -> impl Strategy<Value = Option<ConsentState>> {
    prop::option::of(prop::sample::select(vec![
        ConsentState::Granted,
        ConsentState::Denied,
        ConsentState::Withdrawn,
    ]))
}

proptest! {
    /// Oracle: a value is released exactly when the purpose is declared, special data is not
    /// headed for an excluded use, and any consent the use rests on is granted; a withheld
    /// value names the first rule that failed.
    #[test]
    fn decide_agrees_with_the_rules_written_as_a_truth_table(
        declared in prop::collection::vec(any::<bool>(), 4),
        which in 0usize..4,
        special in any::<bool>(),
        field_basis in prop::option::of(legal_basis()),
        purpose_basis in legal_basis(),
        automated in any::<bool>(),
        state in consent(),
    ) {
        let names = ["essential.service", "marketing.communications.email", "personalize.content", "analytics.reporting"];
        let mut field = special_field(&[]);
        field.ty = FieldType::String;
        field.special_category = special;
        field.legal_basis = field_basis;
        field.purposes = names.iter().zip(&declared).filter(|(_, d)| **d).map(|(n, _)| n.to_string()).collect();
        let p = purpose(names[which], purpose_basis, automated);
        let consents: BTreeMap<String, ConsentState> = state.map(|s| (p.name.clone(), s)).into_iter().collect();

        let is_declared = declared[which];
        let excluded_use = which == 1 || which == 2 || automated;
        let rests_on_consent = purpose_basis == LegalBasis::Consent || field_basis == Some(LegalBasis::Consent);
        let consent_ok = !rests_on_consent || state == Some(ConsentState::Granted);
        let release = is_declared && !(special && excluded_use) && consent_ok;

        let got = decide(&field, &p, &consents);
        prop_assert_eq!(got.is_release(), release);
        let expected_reason = if !is_declared {
            Some(WithholdReason::PurposeNotDeclared)
        } else if special && excluded_use {
            Some(WithholdReason::SpecialCategory)
        } else if !consent_ok && state == Some(ConsentState::Withdrawn) {
            Some(WithholdReason::ConsentWithdrawn)
        } else if !consent_ok {
            Some(WithholdReason::NoConsent)
        } else {
            None
        };
        prop_assert_eq!(got, expected_reason.map_or(Decision::Release, Decision::Withhold));
    }
}
