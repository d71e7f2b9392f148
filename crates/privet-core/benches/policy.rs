//! Policy decisions per field on the example schema (issue 4 target: ≤ 1 µs per decision).
//!
//! Run: `cargo bench -p privet-core --bench policy`. Each benchmark decides every field of
//! every collection (11 fields) for every purpose (7), i.e. 77 decisions per iteration, for
//! a principal holding four roles and a subject with a consent history; criterion reports
//! the time per iteration and the decisions per second.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use privet_core::{
    ConsentEvent, ConsentSource, ConsentState, CurrentConsents, EXAMPLE_SCHEMA, Grants,
    ReadContext, Role, Schema,
};
use time::macros::datetime;

fn roles() -> Vec<Role> {
    let json = serde_json::json!([
        {"name": "support", "purposes": ["essential.service"],
         "collections": {"customers": {"email": "plain", "name": "plain", "phone": "plain",
                                       "address": "plain", "religion": "plain"},
                         "orders": {"items": "plain", "total_cents": "plain"},
                         "support_tickets": {"message": "plain"}}},
        {"name": "mailer", "purposes": ["marketing.communications.email"],
         "collections": {"customers": {"email": "plain", "name": "masked"}}},
        {"name": "analyst", "purposes": ["analytics.reporting"],
         "collections": {"customers": {"birth_date": "masked", "gender": "tokenized"},
                         "orders": {"items": "tokenized", "total_cents": "plain"}}},
        {"name": "compliance", "purposes": ["essential.legal_obligation"],
         "collections": {"orders": {"items": "plain", "total_cents": "plain",
                                    "card_last4": "masked"}}}
    ]);
    serde_json::from_value(json).unwrap()
}

fn consents() -> CurrentConsents {
    let at = datetime!(2026-01-01 00:00 UTC);
    let event = |purpose: &str, state| ConsentEvent {
        purpose: purpose.into(),
        state,
        at,
        source: ConsentSource::WebForm,
        notice_version: "1".into(),
        expires_at: None,
        actor: "bench".into(),
    };
    CurrentConsents::from_history(&[
        event("marketing.communications.email", ConsentState::Granted),
        event(
            "marketing.advertising.third_party.targeted",
            ConsentState::Denied,
        ),
        event("essential.service", ConsentState::Granted),
    ])
}

fn bench(c: &mut Criterion) {
    let schema = Schema::from_toml_str(EXAMPLE_SCHEMA).unwrap();
    let roles = roles();
    let grants = Grants::from_roles(&roles);
    let consents = consents();
    let now = datetime!(2026-03-01 12:00 UTC);
    let fields: Vec<_> = schema
        .collections()
        .flat_map(|c| c.fields().map(move |f| (c.name.as_str(), f)))
        .collect();
    let purposes: Vec<_> = schema.purposes().collect();
    let decisions = (fields.len() * purposes.len()) as u64;

    let mut group = c.benchmark_group("policy");
    group.throughput(Throughput::Elements(decisions));

    // What a read does: one context per (subject, purpose), then one decision per field.
    group.bench_function("context + decide, per 77 field decisions", |b| {
        b.iter(|| {
            let mut released = 0u32;
            for purpose in &purposes {
                let ctx = ReadContext::new(&grants, purpose, &consents, false, now);
                for (collection, field) in &fields {
                    released += u32::from(
                        black_box(ctx.decide(collection, field))
                            .outcome
                            .is_released(),
                    );
                }
            }
            black_box(released)
        })
    });

    // The per-field step alone, contexts built beforehand.
    let contexts: Vec<_> = purposes
        .iter()
        .map(|p| ReadContext::new(&grants, p, &consents, false, now))
        .collect();
    group.bench_function("decide only, per 77 field decisions", |b| {
        b.iter(|| {
            let mut released = 0u32;
            for ctx in &contexts {
                for (collection, field) in &fields {
                    released += u32::from(
                        black_box(ctx.decide(collection, field))
                            .outcome
                            .is_released(),
                    );
                }
            }
            black_box(released)
        })
    });
    group.finish();

    // Building a principal's grant index from its four roles (once per request, unless cached).
    c.bench_function("policy/grants from 4 roles", |b| {
        b.iter(|| black_box(Grants::from_roles(black_box(&roles))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
