//! Round trips for every field type: a random valid value, written as a client might, is
//! validated and decoded; the result must be the normalized value computed independently
//! here, and validating the decoded value again must give identical bytes.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::tests::field;

/// A value as a client might send it, and the normalized value the vault must store.
type Case = (Value, Value);

fn assert_round_trip(name: &str, (input, expected): Case) -> Result<(), TestCaseError> {
    let f = field(name);
    let first = f
        .validate_value(&input)
        .map_err(|e| TestCaseError::fail(format!("{name}: {input} refused: {e}")))?;
    let decoded = f
        .decode(first.plaintext.expose())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, &expected, "{}: {}", name, input);
    let second = f
        .validate_value(&decoded)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(second.plaintext.expose(), first.plaintext.expose());
    prop_assert_eq!(
        second.index_term.as_ref().map(|t| t.expose().clone()),
        first.index_term.as_ref().map(|t| t.expose().clone())
    );
    Ok(())
}

fn padding() -> impl Strategy<Value = String> {
    "[ \t\n]{0,3}"
}

fn email() -> impl Strategy<Value = (String, String)> {
    let local = "[a-zA-Z0-9]{1,12}(\\.[a-zA-Z0-9_+-]{1,8})?";
    let domain = "[a-zA-Z0-9]{1,12}(\\.[a-zA-Z0-9]{1,10})?\\.[a-zA-Z]{2,6}";
    (local, domain).prop_map(|(l, d)| (format!("{l}@{d}"), format!("{l}@{}", d.to_lowercase())))
}

fn us_phone() -> impl Strategy<Value = (String, String)> {
    let area = prop::sample::select(vec![
        "201", "212", "213", "310", "312", "415", "503", "617", "646", "702", "808", "917",
    ]);
    (area, "[2-9][0-9]{2}", "[0-9]{4}", 0..4usize).prop_map(|(a, e, l, style)| {
        let written = match style {
            0 => format!("+1 ({a}) {e}-{l}"),
            1 => format!("+1{a}{e}{l}"),
            2 => format!("+1-{a}-{e}-{l}"),
            _ => format!("+1 {a}.{e}.{l}"),
        };
        (written, format!("+1{a}{e}{l}"))
    })
}

fn date() -> impl Strategy<Value = String> {
    let first = time::Date::MIN.to_julian_day().max(1_721_426); // 0001-01-01
    let last = time::macros::date!(9999 - 12 - 31).to_julian_day();
    (first..=last).prop_filter_map("in range", |jd| {
        let d = time::Date::from_julian_day(jd).ok()?;
        Some(format!(
            "{:04}-{:02}-{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        ))
    })
}

/// A decimal string with noise (sign, leading and trailing zeros) and its canonical form.
fn decimal() -> impl Strategy<Value = (String, String)> {
    let int = prop_oneof!["0", "[1-9][0-9]{0,25}"];
    let frac = prop::option::of("[0-9]{0,10}[1-9]");
    (any::<bool>(), int, frac, "0{0,3}", "0{0,3}").prop_map(|(neg, int, frac, lead, trail)| {
        let written_frac = match (&frac, trail.is_empty()) {
            (Some(f), _) => format!(".{f}{trail}"),
            (None, false) => format!(".{trail}"),
            (None, true) => String::new(),
        };
        let sign = if neg { "-" } else { "" };
        let written = format!("{sign}{lead}{int}{written_frac}");
        let canonical = match frac {
            Some(f) => format!("{sign}{int}.{f}"),
            None if int == "0" => "0".to_owned(),
            None => format!("{sign}{int}"),
        };
        (written, canonical)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn random_case(s: &str, flips: &[bool]) -> String {
    s.chars()
        .zip(flips.iter().cycle())
        .map(|(c, up)| {
            if *up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn string_round_trips(s in "[^\u{0}]{0,5}") {
        assert_round_trip("nick", (json!(s), json!(s)))?;
    }

    #[test]
    fn patterned_string_round_trips(s in "[A-Z]{3}") {
        assert_round_trip("code", (json!(s), json!(s)))?;
    }

    #[test]
    fn text_round_trips(s in "[^\u{0}]{0,20}") {
        assert_round_trip("bio", (json!(s), json!(s)))?;
    }

    #[test]
    fn email_round_trips((written, canonical) in email(), pre in padding(), post in padding()) {
        assert_round_trip("email", (json!(format!("{pre}{written}{post}")), json!(canonical)))?;
    }

    #[test]
    fn phone_round_trips((written, e164) in us_phone(), pre in padding()) {
        assert_round_trip("phone", (json!(format!("{pre}{written}")), json!(e164.clone())))?;
        let national = written.trim_start_matches("+1").trim_start_matches(['-', ' ']).to_owned();
        assert_round_trip("us_phone", (json!(national), json!(e164)))?;
    }

    #[test]
    fn date_round_trips(d in date()) {
        assert_round_trip("birthday", (json!(d), json!(d)))?;
    }

    #[test]
    fn integer_round_trips(age in 0i64..=150, score in any::<i64>()) {
        assert_round_trip("age", (json!(age), json!(age)))?;
        assert_round_trip("score", (json!(score), json!(score)))?;
    }

    #[test]
    fn decimal_round_trips((written, canonical) in decimal()) {
        assert_round_trip("balance", (json!(written), json!(canonical)))?;
    }

    #[test]
    fn bool_round_trips(b in any::<bool>()) {
        assert_round_trip("vip", (json!(b), json!(b)))?;
    }

    #[test]
    fn enum_round_trips(v in prop::sample::select(vec!["gold", "silver"])) {
        assert_round_trip("tier", (json!(v), json!(v)))?;
    }

    #[test]
    fn json_round_trips(v in json_value()) {
        assert_round_trip("prefs", (v.clone(), v))?;
    }

    #[test]
    fn email_lookup_finds_the_written_address_whatever_its_case_and_padding(
        (written, _) in email(),
        flips in prop::collection::vec(any::<bool>(), 1..8),
        pre in padding(),
        post in padding(),
    ) {
        let f = field("email");
        let query = format!("{pre}{}{post}", random_case(&written, &flips));
        let looked_up = f.normalize_query(&query).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let write_term = |v: &str| f.validate_value(&json!(v)).ok().and_then(|v| v.index_term).map(|t| t.expose().clone());
        prop_assert_eq!(Some(looked_up.expose().clone()), write_term(&written));
        prop_assert_eq!(Some(looked_up.expose().clone()), write_term(&query));
        prop_assert_eq!(looked_up.expose(), &written.to_lowercase().into_bytes());
    }

    #[test]
    fn lookups_give_the_write_term_for_every_searchable_type(
        (phone, _) in us_phone(),
        d in date(),
        age in 0i64..=150,
        (dec, _) in decimal(),
    ) {
        for (name, raw, value) in [
            ("phone", phone.clone(), json!(phone)),
            ("birthday", d.clone(), json!(d)),
            ("age", age.to_string(), json!(age)),
            ("balance", dec.clone(), json!(dec)),
        ] {
            let f = field(name);
            let query = f.normalize_query(&raw).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let write = f.validate_value(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Some(query.expose().clone()), write.index_term.map(|t| t.expose().clone()));
        }
    }

    #[test]
    fn arbitrary_input_never_panics_and_errors_never_echo_it(s in "\\PC{0,40}", n in any::<i64>()) {
        for name in ["email", "nick", "code", "bio", "phone", "us_phone", "birthday", "balance", "tier"] {
            let f = field(name);
            if let Err(err) = f.validate_value(&json!(s)) {
                prop_assert!(s.chars().count() < 8 || !err.message.contains(s.as_str()), "{}: {}", name, err);
            }
            let _ = f.normalize_query(&s);
            let _ = f.decode(s.as_bytes());
        }
        let _ = field("age").validate_value(&json!(n));
    }
}
