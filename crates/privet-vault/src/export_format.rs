//! The formats a [`SubjectExport`] is delivered in: JSON (machine-readable, everything), CSV
//! (one file per collection plus consents and the access log, for portability), a zip of
//! those CSV files, and one self-contained HTML page for people (no scripts, no external
//! assets, every value escaped).

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;

use crate::{ExportCollection, SubjectExport, VaultError};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON document (`application/json`).
    Json,
    /// A zip of CSV files, one per collection plus consents, consent history and access log
    /// (`application/zip`).
    CsvZip,
    /// One readable HTML page (`text/html`).
    Html,
}

impl ExportFormat {
    /// Parses `json`, `csv` (a zip of CSV files) or `html`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Self::Json),
            "csv" | "zip" => Some(Self::CsvZip),
            "html" => Some(Self::Html),
            _ => None,
        }
    }

    /// The media type of the rendered bytes.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::CsvZip => "application/zip",
            Self::Html => "text/html; charset=utf-8",
        }
    }

    /// The file extension for a download.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::CsvZip => "zip",
            Self::Html => "html",
        }
    }
}

fn render_failed(what: &str, e: impl std::fmt::Display) -> VaultError {
    VaultError::Integrity {
        context: format!("rendering the export as {what}: {e}"),
    }
}

impl SubjectExport {
    /// The export in `format`.
    pub fn render(&self, format: ExportFormat) -> Result<Vec<u8>, VaultError> {
        match format {
            ExportFormat::Json => self.to_json(),
            ExportFormat::CsvZip => self.to_csv_zip(),
            ExportFormat::Html => Ok(self.to_html().into_bytes()),
        }
    }

    /// Pretty-printed JSON of the whole export.
    pub fn to_json(&self) -> Result<Vec<u8>, VaultError> {
        serde_json::to_vec_pretty(self).map_err(|e| render_failed("JSON", e))
    }

    /// The CSV files of the export as `(file name, contents)`: `COLLECTION.csv` for every
    /// collection of the schema (a header row even when empty), then `consents.csv`,
    /// `consent_history.csv` and `access_log.csv`.
    pub fn to_csv_files(&self) -> Result<Vec<(String, Vec<u8>)>, VaultError> {
        let mut files = Vec::new();
        for c in &self.collections {
            files.push((format!("{}.csv", c.name), collection_csv(c)?));
        }
        let consents = self.consents.iter().map(|c| {
            vec![
                c.purpose.clone(),
                c.state.clone(),
                c.effective.to_owned(),
                rfc3339(c.at),
                c.source.clone(),
                c.notice_version.clone(),
                c.expires_at.map(rfc3339).unwrap_or_default(),
            ]
        });
        files.push((
            "consents.csv".into(),
            csv_of(
                &[
                    "purpose",
                    "state",
                    "effective",
                    "at",
                    "source",
                    "notice_version",
                    "expires_at",
                ],
                consents,
            )?,
        ));
        let history = self.consent_history.iter().map(|e| {
            vec![
                e.purpose.clone(),
                e.state.as_str().to_owned(),
                rfc3339(e.at),
                e.source.as_str().to_owned(),
                e.notice_version.clone(),
                e.expires_at.map(rfc3339).unwrap_or_default(),
                e.actor.clone(),
            ]
        });
        files.push((
            "consent_history.csv".into(),
            csv_of(
                &[
                    "purpose",
                    "state",
                    "at",
                    "source",
                    "notice_version",
                    "expires_at",
                    "actor",
                ],
                history,
            )?,
        ));
        let log = self.access_log.iter().map(|e| {
            vec![
                e.index.to_string(),
                rfc3339(e.time),
                e.actor_name.clone().unwrap_or_else(|| e.actor.clone()),
                json_text(&serde_json::to_value(e.action).unwrap_or(Value::Null)),
                e.purpose.clone().unwrap_or_default(),
                e.collection.clone().unwrap_or_default(),
                e.fields.join(" "),
                json_text(&serde_json::to_value(e.decision).unwrap_or(Value::Null)),
                e.reason.clone().unwrap_or_default(),
            ]
        });
        files.push((
            "access_log.csv".into(),
            csv_of(
                &[
                    "index",
                    "time",
                    "who",
                    "action",
                    "purpose",
                    "collection",
                    "fields",
                    "decision",
                    "reason",
                ],
                log,
            )?,
        ));
        Ok(files)
    }

    /// The CSV files of [`SubjectExport::to_csv_files`] in one zip (deflated), each dated
    /// with the export's time.
    pub fn to_csv_zip(&self) -> Result<Vec<u8>, VaultError> {
        let failed = |e: zip::result::ZipError| render_failed("zip", e);
        let t = self.generated_at;
        let time = zip::DateTime::from_date_and_time(
            u16::try_from(t.year()).unwrap_or(1980),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
        )
        .unwrap_or_default();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(time);
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in self.to_csv_files()? {
            zip.start_file(name, options).map_err(failed)?;
            zip.write_all(&bytes).map_err(|e| render_failed("zip", e))?;
        }
        Ok(zip.finish().map_err(failed)?.into_inner())
    }

    /// One self-contained HTML page: every collection as a table (value, category,
    /// purposes), the consents and their history, the restriction, and the access log.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(4096);
        let id = self.subject.to_string();
        h.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        let _ = write!(h, "<title>Your data held by us ({})</title>", esc(&id));
        h.push_str(
            "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}\
             table{border-collapse:collapse;margin:0 0 1.5rem}th,td{border:1px solid #999;\
             padding:.3rem .5rem;text-align:left;vertical-align:top}caption{text-align:left;\
             font-weight:bold}small{color:#444}</style></head><body><main>",
        );
        let _ = write!(
            h,
            "<h1>Your data</h1><p>Subject <code>{}</code>, held since {}. This copy was made \
             on {} for the purpose <code>{}</code>.</p>",
            esc(&id),
            esc(&rfc3339(self.subject_created_at)),
            esc(&rfc3339(self.generated_at)),
            esc(self.purpose),
        );
        for c in &self.collections {
            html_collection(&mut h, c);
        }
        h.push_str("<h2>Consents</h2>");
        if self.consents.is_empty() {
            h.push_str("<p>No consent was asked for.</p>");
        } else {
            h.push_str(
                "<table><thead><tr><th scope=\"col\">Purpose</th><th scope=\"col\">State\
                 </th><th scope=\"col\">Since</th><th scope=\"col\">How</th></tr></thead><tbody>",
            );
            for c in &self.consents {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&c.purpose),
                    esc(c.effective),
                    esc(&rfc3339(c.at)),
                    esc(&c.source)
                );
            }
            h.push_str("</tbody></table>");
        }
        h.push_str("<h2>Consent history</h2>");
        if self.consent_history.is_empty() {
            h.push_str("<p>No consent decision was recorded.</p>");
        } else {
            h.push_str(
                "<table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Purpose</th>\
                 <th scope=\"col\">Decision</th><th scope=\"col\">How</th><th scope=\"col\">\
                 Notice version</th></tr></thead><tbody>",
            );
            for e in &self.consent_history {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&rfc3339(e.at)),
                    esc(&e.purpose),
                    esc(e.state.as_str()),
                    esc(e.source.as_str()),
                    esc(&e.notice_version)
                );
            }
            h.push_str("</tbody></table>");
        }
        h.push_str("<h2>Restriction of processing</h2>");
        match &self.restriction {
            Some(r) => {
                let _ = write!(
                    h,
                    "<p>Restricted since {}: {}</p>",
                    esc(&rfc3339(r.at)),
                    esc(&r.reason)
                );
            }
            None => h.push_str("<p>None.</p>"),
        }
        h.push_str(
            "<h2>Who used your data</h2><table><thead><tr><th scope=\"col\">When</th>\
             <th scope=\"col\">Who</th><th scope=\"col\">What</th><th scope=\"col\">Purpose\
             </th><th scope=\"col\">Which data</th><th scope=\"col\">Outcome</th></tr></thead>\
             <tbody>",
        );
        for e in &self.access_log {
            let action = json_text(&serde_json::to_value(e.action).unwrap_or(Value::Null));
            let decision = json_text(&serde_json::to_value(e.decision).unwrap_or(Value::Null));
            let what = match &e.collection {
                Some(c) if e.fields.is_empty() => c.clone(),
                Some(c) => format!("{c}: {}", e.fields.join(", ")),
                None => e.fields.join(", "),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&rfc3339(e.time)),
                esc(e.actor_name.as_deref().unwrap_or(&e.actor)),
                esc(&action),
                esc(e.purpose.as_deref().unwrap_or("")),
                esc(&what),
                esc(&decision),
            );
        }
        h.push_str("</tbody></table></main></body></html>\n");
        h
    }
}

fn html_collection(h: &mut String, c: &ExportCollection) {
    let _ = write!(h, "<h2>{}</h2>", esc(&c.name));
    if let Some(d) = &c.description {
        let _ = write!(h, "<p>{}</p>", esc(d));
    }
    if c.records.is_empty() {
        h.push_str("<p>Nothing held.</p>");
        return;
    }
    for r in &c.records {
        let _ = write!(
            h,
            "<table><caption>Record <code>{}</code> <small>created {}, last changed {}\
             </small></caption><thead><tr><th scope=\"col\">Field</th><th scope=\"col\">Value\
             </th><th scope=\"col\">Kind of data</th><th scope=\"col\">Why we keep it</th>\
             </tr></thead><tbody>",
            esc(&r.id.to_string()),
            esc(&rfc3339(r.created_at)),
            esc(&rfc3339(r.updated_at)),
        );
        for v in &r.values {
            let purposes: Vec<String> = v
                .purposes
                .iter()
                .map(|p| format!("{} ({})", esc(&p.description), esc(p.legal_basis)))
                .collect();
            let _ = write!(
                h,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&v.field),
                esc(&json_text(&v.value)),
                esc(&v.category),
                purposes.join("<br>"),
            );
        }
        h.push_str("</tbody></table>");
    }
}

/// One collection as CSV: record id, times, then one column per field of the schema that
/// any record has a value for (in schema order: the values in the export are in that order).
fn collection_csv(c: &ExportCollection) -> Result<Vec<u8>, VaultError> {
    let mut columns: Vec<&str> = Vec::new();
    for r in &c.records {
        for v in &r.values {
            if !columns.contains(&v.field.as_str()) {
                columns.push(&v.field);
            }
        }
    }
    let mut header = vec!["record_id", "created_at", "updated_at"];
    header.extend(columns.iter().copied());
    let rows = c.records.iter().map(|r| {
        let mut row = vec![
            r.id.to_string(),
            rfc3339(r.created_at),
            rfc3339(r.updated_at),
        ];
        row.extend(columns.iter().map(|col| {
            r.values
                .iter()
                .find(|v| v.field == *col)
                .map(|v| json_text(&v.value))
                .unwrap_or_default()
        }));
        row
    });
    csv_of(&header, rows)
}

fn csv_of(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>, VaultError> {
    let failed = |e: csv::Error| render_failed("CSV", e);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(failed)?;
    for row in rows {
        w.write_record(&row).map_err(failed)?;
    }
    w.into_inner().map_err(|e| render_failed("CSV", e.error()))
}

/// A value as text: strings as they are, anything else as compact JSON.
pub(crate) fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!(ExportFormat::parse("json"), Some(ExportFormat::Json));
        assert_eq!(ExportFormat::parse("csv"), Some(ExportFormat::CsvZip));
        assert_eq!(ExportFormat::parse("html"), Some(ExportFormat::Html));
        assert_eq!(ExportFormat::parse("pdf"), None);
    }
}
