//! The subject export holds everything the vault keeps about a subject — every value of
//! every collection, consents, restriction and the access log — and is itself on the record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::io::Read as _;

use common::*;
use privet_audit::{Action, AuditEntry};
use privet_core::{ConsentChange, ConsentSource, ConsentState, SubjectId};
use privet_vault::{ExportFormat, SUBJECT_ACCESS, SubjectExport, Vault, VaultError};
use serde_json::{Map, Value, json};

fn granted() -> ConsentChange {
    ConsentChange {
        state: ConsentState::Granted,
        source: ConsentSource::Api,
        notice_version: "v1".into(),
        expires_at: None,
    }
}

/// A subject with data in every collection of the example schema (every field filled), a
/// consent history and a restriction.
async fn full_subject(vault: &Vault) -> SubjectId {
    let a = actor();
    let id = vault
        .create_subject_with_consents(
            &a,
            &obj(json!({
                "email": "ada@example.com", "name": "Ada <Lovelace>", "phone": "+44 20 7946 0958",
                "address": "12 St James's Square, London", "birth_date": "1815-12-10",
                "gender": "female", "religion": "anglican"
            })),
            vec![("essential.service".into(), granted())],
            false,
        )
        .await
        .unwrap();
    for (items, total, last4) in [
        (json!([{"sku": "engine", "qty": 1}]), 120_000, "1234"),
        (json!([{"sku": "cards, punched", "qty": 500}]), 990, "9876"),
    ] {
        vault
            .add_record(
                &a,
                id,
                "orders",
                &obj(json!({"items": items, "total_cents": total, "card_last4": last4})),
            )
            .await
            .unwrap();
    }
    vault
        .add_record(
            &a,
            id,
            "support_tickets",
            &obj(json!({"message": "My \"note\" <script>alert(1)</script>, with a comma\nand a line"})),
        )
        .await
        .unwrap();
    vault
        .set_consent(&a, id, "marketing.communications.email", granted(), false)
        .await
        .unwrap();
    vault
        .set_restriction(&a, id, Some("accuracy contested"))
        .await
        .unwrap();
    id
}

/// What the vault releases of `collection` for each purpose, merged: (record id or `profile`)
/// → field → value.
async fn read_back(vault: &Vault, id: SubjectId) -> BTreeMap<String, Map<String, Value>> {
    let a = actor();
    let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    // The restriction only lets legal-obligation purposes read: lift it while reading back.
    vault.set_restriction(&a, id, None).await.unwrap();
    for p in [
        "essential.service",
        "essential.service.security",
        "analytics.reporting",
    ] {
        let v = vault.read_subject(&a, id, Some(p)).await.unwrap();
        out.entry("customers".into()).or_default().extend(v.data);
    }
    for (coll, p) in [
        ("orders", "essential.legal_obligation"),
        ("support_tickets", "essential.service"),
    ] {
        for r in vault
            .read_records(&a, id, coll, None, Some(p))
            .await
            .unwrap()
        {
            out.entry(format!("{coll}/{}", r.id))
                .or_default()
                .extend(r.data);
        }
    }
    vault
        .set_restriction(&a, id, Some("accuracy contested"))
        .await
        .unwrap();
    out
}

fn exported_values(e: &SubjectExport) -> BTreeMap<String, Map<String, Value>> {
    let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for c in &e.collections {
        for r in &c.records {
            let key = match c.kind {
                "profile" => c.name.clone(),
                _ => format!("{}/{}", c.name, r.id),
            };
            let m = out.entry(key).or_default();
            for v in &r.values {
                m.insert(v.field.clone(), v.value.clone());
            }
        }
    }
    out
}

async fn the_export_holds_every_stored_value_and_the_access_log(backend: Backend) {
    let t = vault(backend).await;
    let id = full_subject(&t.vault).await;
    let expected = read_back(&t.vault, id).await;
    assert_eq!(
        expected["customers"].len(),
        7,
        "every profile field was read back"
    );
    assert_eq!(expected.len(), 4, "profile, two orders, one ticket");

    let before = t.vault.store().audit_len().await.unwrap();
    let export = t.vault.export_subject(&actor(), id).await.unwrap();
    assert_eq!(exported_values(&export), expected);
    assert_eq!(export.subject, id);
    assert_eq!(export.purpose, SUBJECT_ACCESS);
    let names: Vec<&str> = export.collections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["customers", "orders", "support_tickets"]);

    // Each value carries its category and purposes from the schema.
    let email = export.collections[0].records[0]
        .values
        .iter()
        .find(|v| v.field == "email")
        .unwrap();
    assert_eq!(email.category, "user.contact.email");
    let purposes: Vec<&str> = email.purposes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        purposes,
        [
            "essential.service",
            "essential.service.security",
            "marketing.communications.email"
        ]
    );
    let religion = export.collections[0].records[0]
        .values
        .iter()
        .find(|v| v.field == "religion")
        .unwrap();
    assert!(religion.special_category);
    assert_eq!(religion.purposes[0].legal_basis, "consent");

    // Consents, their history and the restriction.
    let consented: Vec<&str> = export.consents.iter().map(|c| c.purpose.as_str()).collect();
    assert_eq!(
        consented,
        ["essential.service", "marketing.communications.email"]
    );
    assert_eq!(export.consent_history.len(), 2);
    assert_eq!(
        export.restriction.as_ref().map(|r| r.reason.as_str()),
        Some("accuracy contested")
    );

    // The access log: every entry about the subject up to the export, then the export.
    let all = t
        .vault
        .store()
        .audit_leaves_of_subject(id, 0, 1000)
        .await
        .unwrap();
    assert_eq!(all.len(), export.access_log.len());
    let reads = export
        .access_log
        .iter()
        .filter(|e| matches!(e.action, Action::SubjectRead | Action::RecordRead))
        .count();
    assert_eq!(reads, 5, "three profile reads and two record reads");
    let last = export.access_log.last().unwrap();
    assert_eq!(last.action, Action::SubjectExport);
    assert_eq!(last.purpose.as_deref(), Some(SUBJECT_ACCESS));

    // Exactly one audit entry, for the export, naming no value.
    assert_eq!(t.vault.store().audit_len().await.unwrap(), before + 1);
    let leaf = t.vault.store().audit_leaves(before, 1).await.unwrap();
    let entry = AuditEntry::from_leaf_bytes(&leaf[0].leaf).unwrap();
    assert_eq!(entry.action, Action::SubjectExport);
    assert_eq!(entry.subject, Some(id));
    assert_eq!(entry.purpose.as_deref(), Some(SUBJECT_ACCESS));
    assert_eq!(entry.count, Some(4));
    assert_eq!(last.index, before);
    let leaf_text = String::from_utf8_lossy(&leaf[0].leaf);
    assert!(!leaf_text.contains("ada@example.com") && !leaf_text.contains("Lovelace"));
}

async fn every_format_carries_every_value(backend: Backend) {
    let t = vault(backend).await;
    let id = full_subject(&t.vault).await;
    let export = t.vault.export_subject(&actor(), id).await.unwrap();

    let json: Value = serde_json::from_slice(&export.render(ExportFormat::Json).unwrap()).unwrap();
    assert_eq!(json["subject"], json!(id.to_string()));
    assert_eq!(
        json["collections"][1]["records"].as_array().unwrap().len(),
        2
    );

    // CSV: one file per collection plus consents, their history and the access log; values
    // with commas, quotes and newlines survive a CSV reader.
    let zip_bytes = export.render(ExportFormat::CsvZip).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "access_log.csv",
            "consent_history.csv",
            "consents.csv",
            "customers.csv",
            "orders.csv",
            "support_tickets.csv"
        ]
    );
    let mut text = String::new();
    zip.by_name("support_tickets.csv")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let message = headers.iter().position(|h| h == "message").unwrap();
    assert_eq!(
        &row[message],
        "My \"note\" <script>alert(1)</script>, with a comma\nand a line"
    );
    let mut orders = String::new();
    zip.by_name("orders.csv")
        .unwrap()
        .read_to_string(&mut orders)
        .unwrap();
    let mut reader = csv::Reader::from_reader(orders.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().any(|r| {
        r.iter()
            .any(|v| v == r#"[{"qty":500,"sku":"cards, punched"}]"#)
    }));
    assert!(rows.iter().any(|r| r.iter().any(|v| v == "9876")));

    // HTML: self-contained, every value present and escaped.
    let html = String::from_utf8(export.render(ExportFormat::Html).unwrap()).unwrap();
    assert!(html.contains("Ada &lt;Lovelace&gt;"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains(" src="));
    assert!(html.contains("ada@example.com") && html.contains("anglican"));
}

async fn exporting_an_unknown_or_erased_subject_fails_and_exports_nothing(backend: Backend) {
    let t = vault(backend).await;
    let unknown = SubjectId::new();
    assert!(matches!(
        t.vault.export_subject(&actor(), unknown).await,
        Err(VaultError::SubjectNotFound(s)) if s == unknown
    ));
    let id = full_subject(&t.vault).await;
    t.vault.erase_subject(&actor(), id).await.unwrap();
    let before = t.vault.store().audit_len().await.unwrap();
    assert!(matches!(
        t.vault.export_subject(&actor(), id).await,
        Err(VaultError::SubjectNotFound(_))
    ));
    assert_eq!(t.vault.store().audit_len().await.unwrap(), before);
}

async fn a_subject_without_records_exports_every_collection_empty(backend: Backend) {
    let t = vault(backend).await;
    let id = t
        .vault
        .create_subject(&actor(), &obj(json!({"email": "e@example.com"})))
        .await
        .unwrap();
    let export = t.vault.export_subject(&actor(), id).await.unwrap();
    assert_eq!(export.collections.len(), 3);
    assert_eq!(export.collections[0].records.len(), 1);
    assert!(export.collections[1].records.is_empty() && export.collections[2].records.is_empty());
    let files = export.to_csv_files().unwrap();
    let orders = files.iter().find(|(n, _)| n == "orders.csv").unwrap();
    assert_eq!(orders.1, b"record_id,created_at,updated_at\n");
}

backend_tests!(
    the_export_holds_every_stored_value_and_the_access_log,
    every_format_carries_every_value,
    exporting_an_unknown_or_erased_subject_fails_and_exports_nothing,
    a_subject_without_records_exports_every_collection_empty,
);

/// An export whose audit entry cannot be written is refused: nothing leaves unrecorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_whose_audit_entry_fails_is_refused() {
    let t = vault(Backend::Sqlite).await;
    let id = full_subject(&t.vault).await;
    let db = rusqlite::Connection::open(t.place.dir.path().join("privet.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit down'); END;",
    )
    .unwrap();
    let err = t.vault.export_subject(&actor(), id).await.unwrap_err();
    assert!(matches!(err, VaultError::Store(_)), "{err:?}");
}
