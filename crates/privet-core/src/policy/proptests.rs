//! Property tests: random declarations, roles, consent histories and requests, checked
//! against an oracle written as plain nested conditions over the raw inputs. The oracle
//! shares no code with the engine: not its grant index, not its consent folding, not
//! `Purpose::excludes_special_categories`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::consent::{ConsentEvent, ConsentSource, ConsentState, CurrentConsents};
use crate::grant::Role;
use crate::schema::{FieldType, Schema};

const BASE: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

/// Valid fideslang data uses: two marketing, one personalization, four others.
const PURPOSES: [&str; 7] = [
    "essential.service",
    "essential.legal_obligation",
    "essential.fraud_detection",
    "marketing.communications.email",
    "marketing.advertising.third_party.targeted",
    "personalize.content",
    "analytics.reporting",
];
const COLLECTIONS: [&str; 2] = ["people", "orders"];
const FIELDS: [&str; 3] = ["f0", "f1", "f2"];

#[derive(Debug, Clone)]
struct PurposeSpec {
    basis: LegalBasis,
    sale: bool,
    automated: bool,
}

#[derive(Debug, Clone)]
struct FieldSpec {
    special: bool,
    /// The field's own legal basis.
    basis: Option<LegalBasis>,
    /// Indexes into `PURPOSES`.
    purposes: Vec<usize>,
}

#[derive(Debug, Clone)]
struct RoleSpec {
    purposes: Vec<usize>,
    /// (collection, field, access).
    fields: Vec<(usize, usize, Access)>,
}

#[derive(Debug, Clone)]
struct EventSpec {
    purpose: usize,
    state: ConsentState,
    at_min: i64,
    expires_min: Option<i64>,
}

#[derive(Debug, Clone)]
struct Case {
    purposes: Vec<PurposeSpec>,
    /// `fields[c][f]`.
    fields: Vec<Vec<FieldSpec>>,
    roles: Vec<RoleSpec>,
    history: Vec<EventSpec>,
    purpose: usize,
    collection: usize,
    field: usize,
    restricted: bool,
    now_min: i64,
}

fn basis() -> impl Strategy<Value = LegalBasis> {
    prop::sample::select(LegalBasis::ALL.to_vec())
}

fn access() -> impl Strategy<Value = Access> {
    prop::sample::select(Access::ALL.to_vec())
}

fn purpose_set(min: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::btree_set(0..PURPOSES.len(), min..4).prop_map(|s| s.into_iter().collect())
}

fn case() -> impl Strategy<Value = Case> {
    let purpose =
        (basis(), any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(basis, sale, automated)| {
            PurposeSpec {
                basis,
                sale,
                automated,
            }
        });
    let field_basis = prop_oneof![
        2 => Just(None),
        2 => Just(Some(LegalBasis::Consent)),
        1 => basis().prop_map(Some),
    ];
    let field =
        (any::<bool>(), field_basis, purpose_set(1)).prop_map(|(special, basis, purposes)| {
            FieldSpec {
                special,
                basis,
                purposes,
            }
        });
    // Each role may also be made to grant the requested purpose and field (below), so that
    // principals whose roles overlap on the requested field are common.
    let role = (
        purpose_set(0),
        prop::collection::vec((0..COLLECTIONS.len(), 0..FIELDS.len(), access()), 0..5),
        any::<bool>(),
        prop::option::of(access()),
    );
    let state = prop::sample::select(ConsentState::ALL.to_vec());
    let event = (
        0..PURPOSES.len(),
        state,
        0i64..10,
        prop::option::of(-5i64..20),
    )
        .prop_map(|(purpose, state, at_min, expires_min)| EventSpec {
            purpose,
            state,
            at_min,
            expires_min,
        });
    (
        prop::collection::vec(purpose, PURPOSES.len()),
        prop::collection::vec(
            prop::collection::vec(field, FIELDS.len()),
            COLLECTIONS.len(),
        ),
        prop::collection::vec(role, 0..4),
        prop::collection::vec(event, 0..8),
        (0..PURPOSES.len(), 0..COLLECTIONS.len(), 0..FIELDS.len()),
        any::<bool>(),
        0i64..15,
    )
        .prop_map(
            |(
                purposes,
                fields,
                roles,
                history,
                (purpose, collection, field),
                restricted,
                now_min,
            )| {
                let roles = roles
                    .into_iter()
                    .map(|(mut purposes, mut fields, grant_purpose, grant_field)| {
                        if grant_purpose {
                            purposes.push(purpose);
                        }
                        if let Some(a) = grant_field {
                            fields.push((collection, field, a));
                        }
                        RoleSpec { purposes, fields }
                    })
                    .collect();
                // Events with an expiry are grants (the ledger refuses expiry on others).
                let history = history
                    .into_iter()
                    .map(|mut e| {
                        if e.state != ConsentState::Granted {
                            e.expires_min = None;
                        }
                        e
                    })
                    .collect();
                Case {
                    purposes,
                    fields,
                    roles,
                    history,
                    purpose,
                    collection,
                    field,
                    restricted,
                    now_min,
                }
            },
        )
}

fn minutes(m: i64) -> OffsetDateTime {
    BASE + Duration::minutes(m)
}

// --- Building the engine's inputs from a case --------------------------------------------

fn purpose_decl(case: &Case, i: usize) -> Purpose {
    let spec = &case.purposes[i];
    Purpose {
        name: PURPOSES[i].into(),
        description: String::new(),
        legal_basis: spec.basis,
        sale_or_sharing: spec.sale,
        automated_decision: spec.automated,
    }
}

fn field_decl(case: &Case, c: usize, f: usize) -> Field {
    let spec = &case.fields[c][f];
    Field {
        name: FIELDS[f].into(),
        ty: FieldType::String,
        category: if spec.special {
            "user.demographic.religious_belief"
        } else {
            "user.name"
        }
        .into(),
        special_category: spec.special,
        purposes: spec
            .purposes
            .iter()
            .map(|&p| PURPOSES[p].to_owned())
            .collect(),
        searchable: false,
        unique: false,
        required: false,
        legal_basis: spec.basis,
        retention: None,
        description: None,
        max_len: None,
        pattern: None,
        max_bytes: None,
        values: Vec::new(),
        min: None,
        max: None,
        default_region: None,
    }
}

fn roles(case: &Case) -> Vec<Role> {
    case.roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut collections: BTreeMap<String, BTreeMap<String, Access>> = BTreeMap::new();
            for &(c, f, a) in &r.fields {
                // A later entry for the same field replaces an earlier one, as JSON would.
                collections
                    .entry(COLLECTIONS[c].into())
                    .or_default()
                    .insert(FIELDS[f].into(), a);
            }
            Role {
                name: format!("role{i}"),
                purposes: r.purposes.iter().map(|&p| PURPOSES[p].to_owned()).collect(),
                collections,
                admin: false,
            }
        })
        .collect()
}

fn history(case: &Case) -> Vec<ConsentEvent> {
    case.history
        .iter()
        .map(|e| ConsentEvent {
            purpose: PURPOSES[e.purpose].into(),
            state: e.state,
            at: minutes(e.at_min),
            source: ConsentSource::Api,
            notice_version: "1".into(),
            expires_at: e.expires_min.map(minutes),
            actor: "t".into(),
        })
        .collect()
}

// --- The oracle ----------------------------------------------------------------------------

/// The consent to purpose `p` at `now_min`, straight from the raw history: `None` if never
/// asked, else the state of the event with the greatest time (the last of equal ones) and
/// whether a grant has expired.
fn oracle_consent(case: &Case, p: usize) -> Option<(ConsentState, bool)> {
    let mut latest: Option<&EventSpec> = None;
    for e in &case.history {
        if e.purpose == p {
            match latest {
                Some(l) if l.at_min > e.at_min => {}
                _ => latest = Some(e),
            }
        }
    }
    latest.map(|e| {
        let expired = match e.expires_min {
            Some(x) => x <= case.now_min,
            None => false,
        };
        (e.state, expired)
    })
}

/// What the rules say about one field, written out rule by rule.
fn oracle(case: &Case) -> Outcome {
    let p = case.purpose;
    let name = PURPOSES[p];
    let purpose = &case.purposes[p];
    let field = &case.fields[case.collection][case.field];

    let declared = field.purposes.contains(&p);

    let marketing_like = name == "marketing"
        || name.starts_with("marketing.")
        || name == "personalize"
        || name.starts_with("personalize.");
    let special_forbidden = field.special && (marketing_like || purpose.automated);

    // Only a role granting both the purpose and the field counts; the last entry for a
    // field in a role is the one in force.
    let mut best: Option<Access> = None;
    for role in &case.roles {
        if !role.purposes.contains(&p) {
            continue;
        }
        let mut in_role = None;
        for &(c, f, a) in &role.fields {
            if c == case.collection && f == case.field {
                in_role = Some(a);
            }
        }
        if let Some(a) = in_role {
            let rank = |a: Access| match a {
                Access::Masked => 1,
                Access::Tokenized => 2,
                Access::Plain => 3,
            };
            if best.is_none_or(|b| rank(a) > rank(b)) {
                best = Some(a);
            }
        }
    }

    let restriction_blocks = case.restricted && purpose.basis != LegalBasis::LegalObligation;

    let needs_consent =
        purpose.basis == LegalBasis::Consent || field.basis == Some(LegalBasis::Consent);
    let consent_failure = if needs_consent {
        match oracle_consent(case, p) {
            None => Some(WithholdReason::NoConsent),
            Some((ConsentState::Denied, _)) => Some(WithholdReason::NoConsent),
            Some((ConsentState::Withdrawn, _)) => Some(WithholdReason::ConsentWithdrawn),
            Some((ConsentState::Granted, true)) => Some(WithholdReason::ConsentExpired),
            Some((ConsentState::Granted, false)) => None,
        }
    } else {
        None
    };

    if !declared {
        Outcome::Withheld(WithholdReason::PurposeNotDeclared)
    } else if special_forbidden {
        Outcome::Withheld(WithholdReason::SpecialCategory)
    } else if best.is_none() {
        Outcome::Withheld(WithholdReason::NotGranted)
    } else if restriction_blocks {
        Outcome::Withheld(WithholdReason::Restricted)
    } else if let Some(reason) = consent_failure {
        Outcome::Withheld(reason)
    } else {
        match best {
            Some(Access::Plain) => Outcome::Plain,
            Some(Access::Tokenized) => Outcome::Tokenized,
            Some(Access::Masked) => Outcome::Masked,
            None => Outcome::Withheld(WithholdReason::NotGranted),
        }
    }
}

/// Whether the write of one field is lawful, written out: some declared purpose has a
/// non-consent basis (and the field none of its own), or consent to some declared purpose
/// is granted and unexpired.
fn oracle_write_ok(case: &Case, c: usize, f: usize) -> bool {
    let field = &case.fields[c][f];
    let mut ok = false;
    for &p in &field.purposes {
        let consent_in_force = matches!(
            oracle_consent(case, p),
            Some((ConsentState::Granted, false))
        );
        let field_wants_consent = field.basis == Some(LegalBasis::Consent);
        let purpose_wants_consent = case.purposes[p].basis == LegalBasis::Consent;
        if field_wants_consent || purpose_wants_consent {
            if consent_in_force {
                ok = true;
            }
        } else {
            ok = true;
        }
    }
    ok
}

/// The case as a schema file (for the write check, which looks purposes up in a schema).
/// Special fields are left out of it: the schema checker refuses them for marketing, and
/// the write rules do not depend on them.
fn schema_toml(case: &Case) -> String {
    let mut s = String::from("version = 1\n");
    for (i, p) in case.purposes.iter().enumerate() {
        s += &format!(
            "[purposes.\"{}\"]\ndescription = \"d\"\nlegal_basis = \"{}\"\nsale_or_sharing = {}\nautomated_decision = {}\n",
            PURPOSES[i],
            p.basis.as_str(),
            p.sale,
            p.automated
        );
    }
    for (c, fields) in case.fields.iter().enumerate() {
        let kind = if c == 0 { "profile" } else { "records" };
        s += &format!("[collections.{}]\nkind = \"{kind}\"\n", COLLECTIONS[c]);
        for (f, spec) in fields.iter().enumerate() {
            let purposes: Vec<String> = spec
                .purposes
                .iter()
                .map(|&p| format!("\"{}\"", PURPOSES[p]))
                .collect();
            s += &format!(
                "[collections.{}.fields.{}]\ntype = \"string\"\ncategory = \"user.name\"\npurposes = [{}]\n",
                COLLECTIONS[c],
                FIELDS[f],
                purposes.join(", ")
            );
            if let Some(b) = spec.basis {
                s += &format!("legal_basis = \"{}\"\n", b.as_str());
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// No field is released when any rule says no, a released field is shown exactly as
    /// the most revealing single-role grant says, and a withheld one names the first rule
    /// that failed.
    #[test]
    fn read_decisions_agree_with_the_oracle(case in case()) {
        let purpose = purpose_decl(&case, case.purpose);
        let field = field_decl(&case, case.collection, case.field);
        let roles = roles(&case);
        let grants = Grants::from_roles(&roles);
        let current = CurrentConsents::from_history(&history(&case));
        let ctx = ReadContext::new(&grants, &purpose, &current, case.restricted, minutes(case.now_min));
        let decision = ctx.decide(COLLECTIONS[case.collection], &field);
        let expected = oracle(&case);

        // Safety first, stated on its own: nothing leaves when the oracle withholds.
        if !expected.is_released() {
            prop_assert!(!decision.outcome.is_released(), "released {:?}, oracle says {:?}", decision.outcome, expected);
        }
        prop_assert_eq!(decision.outcome, expected);
        // The granting role really grants the purpose and the field with that access.
        if let Some(role) = decision.role {
            let r = roles.iter().find(|r| r.name == role).unwrap();
            prop_assert!(r.purposes.contains(PURPOSES[case.purpose]));
            prop_assert_eq!(
                r.collections[COLLECTIONS[case.collection]][FIELDS[case.field]],
                decision.outcome.access().unwrap()
            );
        }
        prop_assert_eq!(decision.role.is_some(), decision.outcome.is_released());

        // A lookup by the field needs the subject-independent rules only.
        let lookup = check_lookup(&grants, &purpose, COLLECTIONS[case.collection], &field);
        let lookup_expected = match expected {
            Outcome::Withheld(r @ (WithholdReason::PurposeNotDeclared
                | WithholdReason::SpecialCategory
                | WithholdReason::NotGranted)) => Err(r),
            _ => Ok(()),
        };
        prop_assert_eq!(lookup, lookup_expected);
    }

    /// A write collects a field exactly when some declared purpose gives it a valid legal
    /// basis for this subject now.
    #[test]
    fn write_checks_agree_with_the_oracle(case in case()) {
        let schema = Schema::from_toml_str(&schema_toml(&case)).unwrap();
        let current = CurrentConsents::from_history(&history(&case));
        for (c, name) in COLLECTIONS.iter().enumerate() {
            let collection = schema.collection(name).unwrap();
            let result = check_write(&schema, collection.fields(), &current, minutes(case.now_min));
            let refused: Vec<&str> = match &result {
                Ok(()) => vec![],
                Err(e) => e.0.iter().map(|r| r.field.as_str()).collect(),
            };
            let expected: Vec<&str> = collection
                .fields()
                .filter(|f| {
                    let i = FIELDS.iter().position(|n| *n == f.name).unwrap();
                    !oracle_write_ok(&case, c, i)
                })
                .map(|f| f.name.as_str())
                .collect();
            prop_assert_eq!(refused, expected);
        }
    }
}
