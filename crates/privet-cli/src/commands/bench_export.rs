//! `privet bench export`: the subject export of a subject with many records, against a
//! baseline in the same run — the same records read through the ordinary audited reads
//! (profile + every records collection), without export formatting.

use std::time::{Duration, Instant};

use anyhow::Result;
use privet_vault::{Actor, ExportFormat};
use serde_json::json;

use super::bench::scratch;
use crate::config::DEFAULT_SCHEMA;

fn ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn line(label: &str, d: &mut [Duration]) -> f64 {
    d.sort_unstable();
    let p50 = ms(d, 0.5);
    println!(
        "  {label:<46} p50 {p50:>8.2} ms   p99 {:>8.2} ms",
        ms(d, 0.99)
    );
    p50
}

pub(crate) async fn run(records: u64, rounds: usize) -> Result<()> {
    let s = scratch(None)?;
    let (config, _) = super::init::init_dir(&s.dir, DEFAULT_SCHEMA, None).await?;
    let vault = crate::open::open(&config).await?;
    let a = Actor::cli();
    let id = vault.create_subject(&a, &super::synth::customer(1)).await?;
    for n in 0..records {
        let data = json!({
            "items": [{"sku": format!("sku-{n}"), "qty": n % 7 + 1}],
            "total_cents": 1000 + n,
            "card_last4": format!("{:04}", n % 10_000),
        });
        let data = data.as_object().cloned().unwrap_or_default();
        vault.add_record(&a, id, "orders", &data).await?;
    }
    println!(
        "bench export: 1 subject with {records} orders (and {records}+ access-log entries), {rounds} rounds"
    );
    let (mut base, mut export, mut json_t, mut zip_t, mut html_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sizes = (0, 0, 0);
    for _ in 0..rounds {
        // Baseline: the same values through the ordinary audited reads.
        let t0 = Instant::now();
        vault
            .read_subject(&a, id, Some("essential.service"))
            .await?;
        let orders = vault
            .read_records(&a, id, "orders", None, Some("essential.legal_obligation"))
            .await?;
        vault
            .read_records(&a, id, "support_tickets", None, Some("essential.service"))
            .await?;
        base.push(t0.elapsed());
        anyhow::ensure!(
            orders.len() as u64 == records,
            "read {} orders",
            orders.len()
        );

        let t0 = Instant::now();
        let e = vault.export_subject(&a, id).await?;
        export.push(t0.elapsed());
        let t0 = Instant::now();
        let j = e.render(ExportFormat::Json)?;
        json_t.push(t0.elapsed() + export[export.len() - 1]);
        let t0 = Instant::now();
        let z = e.render(ExportFormat::CsvZip)?;
        zip_t.push(t0.elapsed() + export[export.len() - 1]);
        let t0 = Instant::now();
        let h = e.render(ExportFormat::Html)?;
        html_t.push(t0.elapsed() + export[export.len() - 1]);
        sizes = (j.len(), z.len(), h.len());
    }
    let b = line("baseline: audited reads of the same records", &mut base);
    let e = line("export (gather, decrypt, audit)", &mut export);
    let j = line("export + JSON", &mut json_t);
    let z = line("export + zip of CSV", &mut zip_t);
    let h = line("export + HTML", &mut html_t);
    println!(
        "  ratios to the baseline: export {:.2}, JSON {:.2}, zip {:.2}, HTML {:.2}",
        e / b,
        j / b,
        z / b,
        h / b
    );
    println!(
        "  sizes: JSON {} KiB, zip {} KiB, HTML {} KiB",
        sizes.0 / 1024,
        sizes.1 / 1024,
        sizes.2 / 1024
    );
    Ok(())
}
