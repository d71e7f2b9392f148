//! Primitive readers over the parsed TOML tree: each reports a problem at its path instead
//! of failing, so that one walk finds every problem.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::SchemaProblem;

/// Collects problems while walking the document.
pub(super) struct Reader {
    pub(super) problems: Vec<SchemaProblem>,
}

impl Reader {
    pub(super) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(SchemaProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn named<T>(
        &mut self,
        value: &DeValue<'_>,
        path: &str,
        what: &str,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.string(value, path)?;
        let parsed = parse(&text);
        if parsed.is_none() {
            self.problem(
                path,
                format!(
                    "unknown {what} `{text}` (expected one of: {})",
                    names.join(", ")
                ),
            );
        }
        parsed
    }

    /// The table's entries with known keys, in declaration order; every other key is a problem.
    pub(super) fn entries<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        path: &str,
        known: &[&str],
    ) -> Vec<(&'t str, &'t DeValue<'i>)> {
        let mut entries = ordered(table);
        entries.retain(|(key, _)| {
            let ok = known.contains(key);
            if !ok {
                self.problem(
                    join(path, key),
                    format!("unknown key (expected one of: {})", known.join(", ")),
                );
            }
            ok
        });
        entries
    }

    pub(super) fn require(&mut self, table: &DeTable<'_>, path: &str, keys: &[&str]) {
        for key in keys {
            if !table.iter().any(|(k, _)| k.get_ref() == key) {
                self.problem(join(path, key), format!("missing required key `{key}`"));
            }
        }
    }

    pub(super) fn table<'t, 'i>(
        &mut self,
        value: &'t DeValue<'i>,
        path: &str,
    ) -> Option<&'t DeTable<'i>> {
        match value {
            DeValue::Table(table) => Some(table),
            _ => {
                self.problem(path, "expected a table");
                None
            }
        }
    }

    pub(super) fn string(&mut self, value: &DeValue<'_>, path: &str) -> Option<String> {
        match value {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.problem(path, "expected a string");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, value: &DeValue<'_>, path: &str) -> bool {
        match value {
            DeValue::Boolean(b) => *b,
            _ => {
                self.problem(path, "expected true or false");
                false
            }
        }
    }

    pub(super) fn integer(&mut self, value: &DeValue<'_>, path: &str) -> Option<i64> {
        let parsed = match value {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.problem(path, "expected an integer");
        }
        parsed
    }

    pub(super) fn string_list(&mut self, value: &DeValue<'_>, path: &str) -> Option<Vec<String>> {
        let DeValue::Array(items) = value else {
            self.problem(path, "expected a list of strings");
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            out.push(self.string(item.get_ref(), &format!("{path}[{i}]"))?);
        }
        Some(out)
    }
}

/// A table's entries in declaration order. The parsed map is sorted by key unless toml's
/// `preserve_order` feature happens to be on, so order is recovered from the key spans.
pub(super) fn ordered<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t str, &'t DeValue<'i>)> {
    let mut entries: Vec<(&Spanned<_>, &Spanned<DeValue<'i>>)> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
        .into_iter()
        .map(|(key, value)| (key.get_ref().as_ref(), value.get_ref()))
        .collect()
}

/// Appends a key to a dotted path, quoting it the way TOML would if it is not a bare key.
pub(super) fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}
