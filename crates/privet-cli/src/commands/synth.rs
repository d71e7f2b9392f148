//! Synthetic customers and orders for the demo and the benchmarks: deterministic, obviously
//! fake, and covering every profile field of the example schema.

use serde_json::{Map, Value, json};

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim",
    "Margaret", "Dennis",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Hamilton",
    "Ritchie",
];
const STREETS: &[&str] = &[
    "Elm Street",
    "Oak Avenue",
    "Maple Road",
    "Cedar Lane",
    "Birch Way",
];
const GENDERS: &[&str] = &["female", "male", "non_binary", "undisclosed"];
const ITEMS: &[&str] = &["notebook", "pen", "stapler", "lamp", "mug", "chair"];

/// A small, fast, deterministic generator (splitmix64): synthetic data needs no secrecy.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Customer `n`: every profile field of the example schema except `religion`.
pub(crate) fn customer(n: u64) -> Map<String, Value> {
    let mut r = Mix(n);
    let (first, last) = (r.pick(FIRST), r.pick(LAST));
    let v = json!({
        "email": format!("{}.{}.{n}@example.com", first.to_lowercase(), last.to_lowercase().replace('-', "")),
        "name": format!("{first} {last}"),
        "phone": format!("+1 650 253 {:04}", n % 10_000),
        "address": format!("{} {}, Springfield", 1 + r.next() % 999, r.pick(STREETS)),
        "birth_date": format!("{}-{:02}-{:02}", 1940 + r.next() % 65, 1 + r.next() % 12, 1 + r.next() % 28),
        "gender": r.pick(GENDERS),
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Order `k` of customer `n`, owned by `subject_id`.
pub(crate) fn order(n: u64, k: u64, subject_id: &str) -> Map<String, Value> {
    let mut r = Mix(n.wrapping_mul(31).wrapping_add(k));
    let qty = 1 + r.next() % 3;
    let v = json!({
        "subject_id": subject_id,
        "items": [{"sku": r.pick(ITEMS), "qty": qty}],
        "total_cents": (500 + r.next() % 20_000) as i64,
        "card_last4": format!("{:04}", r.next() % 10_000),
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
