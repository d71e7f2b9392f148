//! Turns a TOML parse error into one schema problem with a path and a line and column.
//! The parser only knows byte offsets, so the path is recovered from the text: the nearest
//! table header above the error, plus the key at the error if it sits on a `key = …` line.

use super::SchemaProblem;
use super::reader::join;

pub(super) fn problem(text: &str, err: &toml::de::Error) -> SchemaProblem {
    let at = err.span().map_or(0, |span| span.start).min(text.len());
    let (line, column) = line_column(text, at);
    let path = path_at(text, at, err.span().map(|span| span.end));
    let message = err
        .message()
        .lines()
        .next()
        .unwrap_or("invalid TOML")
        .trim();
    let message = if message.starts_with("duplicate key") {
        format!("{message} at line {line}, column {column} (each name may be declared once)")
    } else {
        format!("TOML syntax error at line {line}, column {column}: {message}")
    };
    SchemaProblem { path, message }
}

fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

fn path_at(text: &str, at: usize, end: Option<usize>) -> String {
    let line_start = text
        .get(..at)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line = text
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default();
    if let Some(header) = header_name(line) {
        return header;
    }
    let table = text
        .get(..line_start)
        .unwrap_or_default()
        .lines()
        .rev()
        .find_map(header_name)
        .unwrap_or_default();
    let key = end
        .and_then(|end| text.get(at..end))
        .filter(|key| line.trim_start().starts_with(key.trim()) && !key.trim().is_empty());
    match key {
        Some(key) => dotted(&table, key.trim()),
        None if table.is_empty() => "schema".to_owned(),
        None => table,
    }
}

/// The normalized dotted name of a `[table]` or `[[array]]` header line.
fn header_name(line: &str) -> Option<String> {
    let line = line.trim_start();
    let inner = line
        .strip_prefix("[[")
        .and_then(|s| s.split("]]").next())
        .or_else(|| line.strip_prefix('[').and_then(|s| s.split(']').next()))?;
    Some(dotted("", inner.trim()))
}

/// Re-renders a dotted TOML key (`a . "b.c"`) in the canonical form `join` produces.
fn dotted(prefix: &str, key: &str) -> String {
    let mut path = prefix.to_owned();
    let mut rest = key.trim();
    while !rest.is_empty() {
        let (segment, tail) = if let Some(quoted) = rest.strip_prefix('"') {
            let close = quoted.find('"').unwrap_or(quoted.len());
            (
                quoted.get(..close).unwrap_or(quoted),
                quoted.get(close + 1..).unwrap_or(""),
            )
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let close = quoted.find('\'').unwrap_or(quoted.len());
            (
                quoted.get(..close).unwrap_or(quoted),
                quoted.get(close + 1..).unwrap_or(""),
            )
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            (
                rest.get(..end).unwrap_or(rest).trim(),
                rest.get(end..).unwrap_or(""),
            )
        };
        path = join(&path, segment);
        rest = tail
            .trim_start()
            .strip_prefix('.')
            .unwrap_or(tail)
            .trim_start();
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_are_canonicalized() {
        assert_eq!(dotted("", "collections.customers"), "collections.customers");
        assert_eq!(
            dotted("", "purposes . \"essential.service\""),
            "purposes.\"essential.service\""
        );
        assert_eq!(dotted("a", "'b.c'.d"), "a.\"b.c\".d");
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
        assert_eq!(line_column("", 0), (1, 1));
    }
}
