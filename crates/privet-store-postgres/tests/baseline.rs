//! The benchmark baseline stores what it claims: pgcrypto ciphertexts that decrypt to the
//! values given, no plaintext in its table, lookups through the HMAC of the lower-cased value.
//! Needs `DATABASE_URL` like the conformance suite; runs in a schema of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use privet_store_postgres::baseline::{Baseline, PGP_DEFAULTS, PGP_RANDOM_KEY, TABLE};

fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: PostgreSQL tests need a database (./scripts/test sets it)")
    })
}

fn row(n: u8) -> ([u8; 16], Vec<Option<String>>) {
    (
        [n; 16],
        vec![
            Some(format!("Ann.{n}@Example.com")),
            Some(format!("Ann {n}")),
            if n.is_multiple_of(2) {
                Some(format!("+1650253{n:04}"))
            } else {
                None
            },
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_rows_decrypt_to_their_values_and_are_found_by_hmac() {
    let schema = format!("t_baseline_{}", uuid::Uuid::now_v7().simple());
    let b = Baseline::connect(
        &url(),
        &schema,
        3,
        &["id", "email", "name", "phone"],
        &["email"],
    )
    .await
    .unwrap();
    b.create_table().await.unwrap();
    let rows: Vec<_> = (0..20).map(row).collect();
    b.import(&rows[..10], 4, 3, PGP_RANDOM_KEY).await.unwrap();
    b.import(&rows[10..], 4, 3, PGP_DEFAULTS).await.unwrap();

    let reads = b
        .prepare_reads(1, &["email", "name", "phone"], "email")
        .await
        .unwrap();
    for (n, (id, values)) in rows.iter().enumerate() {
        let present = values.iter().filter(|v| v.is_some()).count();
        assert_eq!(reads.by_id(id).await.unwrap(), present, "row {n} by id");
        // The lookup normalizes like Privet's email blind index: the lower-cased address.
        let email = values[0].as_deref().unwrap().to_uppercase();
        assert_eq!(
            reads.by_hmac(&email).await.unwrap(),
            present,
            "row {n} by hmac"
        );
    }
    assert_eq!(reads.by_id(&[99; 16]).await.unwrap(), 0);
    assert_eq!(reads.by_hmac("nobody@example.com").await.unwrap(), 0);

    // Nothing readable in the table itself.
    let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let plain: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {schema}.{TABLE} WHERE \
                 position(convert_to('Ann', 'UTF8') IN email) > 0 OR \
                 position(convert_to('Ann', 'UTF8') IN name) > 0 OR \
                 position(convert_to('+1650', 'UTF8') IN coalesce(phone, ''::bytea)) > 0"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain, 0, "a plaintext value is in the table");
    let sizes = b.relation_sizes().await.unwrap();
    assert!(sizes.iter().any(|(t, bytes)| t == TABLE && *bytes > 0));
    b.drop_schema().await.unwrap();
}
