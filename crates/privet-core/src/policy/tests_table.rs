//! Every purpose × role × consent state × restriction of the example schema, against a
//! table of expected outcomes written out by hand.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::consent::{ConsentState, ConsentStatus};
use crate::grant::Role;
use crate::schema::{EXAMPLE_SCHEMA, Schema};

const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

/// The example schema's purposes, in the column order of the tables.
const PURPOSES: [&str; 7] = [
    "essential.service",                          // contract
    "essential.service.payment_processing",       // contract
    "essential.service.security",                 // legitimate interest
    "marketing.communications.email",             // consent
    "marketing.advertising.third_party.targeted", // consent, sale or sharing
    "analytics.reporting",                        // legitimate interest
    "essential.legal_obligation",                 // legal obligation
];

fn roles() -> [(&'static str, Role); 4] {
    let role = |v| serde_json::from_value::<Role>(v).unwrap();
    [
        (
            "support",
            role(json!({
                "name": "support",
                "purposes": ["essential.service"],
                "collections": {
                    "customers": {"email": "plain", "name": "plain", "phone": "plain",
                                  "address": "plain", "religion": "plain"},
                    "orders": {"items": "plain", "total_cents": "plain"},
                    "support_tickets": {"message": "plain"}
                }
            })),
        ),
        (
            "mailer",
            role(json!({
                "name": "mailer",
                "purposes": ["marketing.communications.email"],
                "collections": {"customers": {"email": "plain", "name": "masked"}}
            })),
        ),
        (
            "analyst",
            role(json!({
                "name": "analyst",
                "purposes": ["analytics.reporting"],
                "collections": {
                    "customers": {"birth_date": "masked", "gender": "tokenized", "email": "tokenized"},
                    "orders": {"items": "tokenized", "total_cents": "plain"}
                }
            })),
        ),
        (
            "compliance",
            role(json!({
                "name": "compliance",
                "purposes": ["essential.legal_obligation"],
                "collections": {
                    "orders": {"items": "plain", "total_cents": "plain", "card_last4": "masked"},
                    "customers": {"email": "plain"}
                }
            })),
        ),
    ]
}

/// Consent states, in the order of a cell's letters: never asked, granted, denied,
/// withdrawn, granted with an expiry that has passed. Each applies to every purpose.
fn consent_views() -> [BTreeMap<String, ConsentStatus>; 5] {
    let all = |status: ConsentStatus| PURPOSES.iter().map(|p| (p.to_string(), status)).collect();
    [
        BTreeMap::new(),
        all(ConsentStatus::new(ConsentState::Granted)),
        all(ConsentStatus::new(ConsentState::Denied)),
        all(ConsentStatus::new(ConsentState::Withdrawn)),
        all(ConsentStatus {
            state: ConsentState::Granted,
            expires_at: Some(NOW - Duration::days(1)),
        }),
    ]
}

/// One cell per purpose (columns as in `PURPOSES`). A cell is one letter when the outcome
/// is the same under every consent state and restriction; otherwise five letters for the
/// consent states of `consent_views` when not restricted, `/`, and five when restricted.
/// p plain, m masked, t tokenized; withheld: P purpose_not_declared, S special_category,
/// G not_granted, R restricted, N no_consent, W consent_withdrawn, E consent_expired.
type Table = [(&'static str, [&'static str; 7]); 11];

#[rustfmt::skip]
const SUPPORT: Table = [
    //                          service        payment security marketing ads  analytics legal
    ("customers.email",         ["ppppp/RRRRR", "P",    "G",     "G",      "P", "P",      "P"]),
    ("customers.name",          ["ppppp/RRRRR", "P",    "P",     "G",      "P", "P",      "P"]),
    ("customers.phone",         ["ppppp/RRRRR", "P",    "G",     "P",      "P", "P",      "P"]),
    ("customers.address",       ["ppppp/RRRRR", "P",    "P",     "P",      "P", "P",      "P"]),
    ("customers.birth_date",    ["P",           "P",    "G",     "P",      "P", "G",      "P"]),
    ("customers.gender",        ["P",           "P",    "P",     "P",      "P", "G",      "P"]),
    // Religion has its own consent basis: explicit consent even for the essential service.
    ("customers.religion",      ["NpNWE/RRRRR", "P",    "P",     "P",      "P", "P",      "P"]),
    ("orders.items",            ["ppppp/RRRRR", "P",    "P",     "P",      "P", "G",      "G"]),
    ("orders.total_cents",      ["ppppp/RRRRR", "P",    "P",     "P",      "P", "G",      "G"]),
    ("orders.card_last4",       ["P",           "G",    "P",     "P",      "P", "P",      "G"]),
    ("support_tickets.message", ["ppppp/RRRRR", "P",    "P",     "P",      "P", "P",      "P"]),
];

#[rustfmt::skip]
const MAILER: Table = [
    //                          service payment security marketing       ads  analytics legal
    ("customers.email",         ["G",   "P",    "G",     "NpNWE/RRRRR", "P", "P",      "P"]),
    ("customers.name",          ["G",   "P",    "P",     "NmNWE/RRRRR", "P", "P",      "P"]),
    ("customers.phone",         ["G",   "P",    "G",     "P",           "P", "P",      "P"]),
    ("customers.address",       ["G",   "P",    "P",     "P",           "P", "P",      "P"]),
    ("customers.birth_date",    ["P",   "P",    "G",     "P",           "P", "G",      "P"]),
    ("customers.gender",        ["P",   "P",    "P",     "P",           "P", "G",      "P"]),
    ("customers.religion",      ["G",   "P",    "P",     "P",           "P", "P",      "P"]),
    ("orders.items",            ["G",   "P",    "P",     "P",           "P", "G",      "G"]),
    ("orders.total_cents",      ["G",   "P",    "P",     "P",           "P", "G",      "G"]),
    ("orders.card_last4",       ["P",   "G",    "P",     "P",           "P", "P",      "G"]),
    ("support_tickets.message", ["G",   "P",    "P",     "P",           "P", "P",      "P"]),
];

#[rustfmt::skip]
const ANALYST: Table = [
    //                          service payment security marketing ads  analytics      legal
    // Email is granted tokenized, but analytics is not a declared purpose of email.
    ("customers.email",         ["G",   "P",    "G",     "G",      "P", "P",           "P"]),
    ("customers.name",          ["G",   "P",    "P",     "G",      "P", "P",           "P"]),
    ("customers.phone",         ["G",   "P",    "G",     "P",      "P", "P",           "P"]),
    ("customers.address",       ["G",   "P",    "P",     "P",      "P", "P",           "P"]),
    ("customers.birth_date",    ["P",   "P",    "G",     "P",      "P", "mmmmm/RRRRR", "P"]),
    ("customers.gender",        ["P",   "P",    "P",     "P",      "P", "ttttt/RRRRR", "P"]),
    ("customers.religion",      ["G",   "P",    "P",     "P",      "P", "P",           "P"]),
    ("orders.items",            ["G",   "P",    "P",     "P",      "P", "ttttt/RRRRR", "G"]),
    ("orders.total_cents",      ["G",   "P",    "P",     "P",      "P", "ppppp/RRRRR", "G"]),
    ("orders.card_last4",       ["P",   "G",    "P",     "P",      "P", "P",           "G"]),
    ("support_tickets.message", ["G",   "P",    "P",     "P",      "P", "P",           "P"]),
];

#[rustfmt::skip]
const COMPLIANCE: Table = [
    //                          service payment security marketing ads  analytics legal
    // A legal obligation releases even under restriction, and needs no consent.
    ("customers.email",         ["G",   "P",    "G",     "G",      "P", "P",      "P"]),
    ("customers.name",          ["G",   "P",    "P",     "G",      "P", "P",      "P"]),
    ("customers.phone",         ["G",   "P",    "G",     "P",      "P", "P",      "P"]),
    ("customers.address",       ["G",   "P",    "P",     "P",      "P", "P",      "P"]),
    ("customers.birth_date",    ["P",   "P",    "G",     "P",      "P", "G",      "P"]),
    ("customers.gender",        ["P",   "P",    "P",     "P",      "P", "G",      "P"]),
    ("customers.religion",      ["G",   "P",    "P",     "P",      "P", "P",      "P"]),
    ("orders.items",            ["G",   "P",    "P",     "P",      "P", "G",      "p"]),
    ("orders.total_cents",      ["G",   "P",    "P",     "P",      "P", "G",      "p"]),
    ("orders.card_last4",       ["P",   "G",    "P",     "P",      "P", "P",      "m"]),
    ("support_tickets.message", ["G",   "P",    "P",     "P",      "P", "P",      "P"]),
];

fn letter(outcome: Outcome) -> char {
    match outcome {
        Outcome::Plain => 'p',
        Outcome::Masked => 'm',
        Outcome::Tokenized => 't',
        Outcome::Withheld(reason) => match reason {
            WithholdReason::PurposeNotDeclared => 'P',
            WithholdReason::SpecialCategory => 'S',
            WithholdReason::NotGranted => 'G',
            WithholdReason::Restricted => 'R',
            WithholdReason::ErasedRetained => 'X',
            WithholdReason::NoConsent => 'N',
            WithholdReason::ConsentWithdrawn => 'W',
            WithholdReason::ConsentExpired => 'E',
        },
    }
}

/// The cell as the engine decides it, in the table's notation.
fn cell(grants: &Grants, purpose: &Purpose, collection: &str, field: &Field) -> String {
    let views = consent_views();
    let mut letters = String::new();
    for restricted in [false, true] {
        if restricted {
            letters.push('/');
        }
        for view in &views {
            let ctx = ReadContext::new(grants, purpose, view, restricted, NOW);
            let decision = ctx.decide(collection, field);
            assert_eq!(decision.role.is_some(), decision.outcome.is_released());
            letters.push(letter(decision.outcome));
        }
    }
    let first = letters.chars().next().unwrap_or('?');
    if letters.chars().all(|c| c == first || c == '/') {
        first.to_string()
    } else {
        letters
    }
}

#[test]
fn example_schema_outcomes_match_the_table_for_every_purpose_role_and_consent_state() {
    let schema = Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap();
    assert_eq!(
        schema
            .purposes()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        PURPOSES
    );
    let all_fields: BTreeSet<String> = schema
        .collections()
        .flat_map(|c| c.fields().map(move |f| format!("{}.{}", c.name, f.name)))
        .collect();
    let tables = [SUPPORT, MAILER, ANALYST, COMPLIANCE];
    let mut mismatches = Vec::new();
    for ((name, role), table) in roles().iter().zip(tables) {
        assert_eq!(role.check(&schema), Ok(()));
        let grants = Grants::from_roles([role]);
        let covered: BTreeSet<String> = table.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(covered, all_fields, "{name}: one row per field");
        for (path, cells) in table {
            let (collection, field) = path.split_once('.').unwrap();
            let field = schema.collection(collection).unwrap().field(field).unwrap();
            for (purpose, expected) in PURPOSES.iter().zip(cells) {
                let purpose = schema.purpose(purpose).unwrap();
                let got = cell(&grants, purpose, collection, field);
                if got != expected {
                    mismatches.push(format!(
                        "{name} {path} {}: expected {expected}, got {got}",
                        purpose.name
                    ));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
