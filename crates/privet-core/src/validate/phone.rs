//! Whether a parsed phone number is valid, decided exactly as `phonenumber::is_valid` decides
//! it, from the same metadata, without that crate's shared regex cache.
//!
//! `phonenumber` keeps its compiled patterns in one LRU cache behind a mutex, keyed by the
//! pattern's source text: every pattern match hashes the whole pattern (North America's
//! fixed-line pattern is about a kilobyte) and takes the lock. Validating one `+1` number
//! matches about twenty patterns, which made phone validation half of a bulk import's
//! encryption-worker CPU (see BENCHMARKS.md, issue 2). Here each metadata entry's patterns are
//! compiled once, on first use, and matched without a lock.
//!
//! The decision procedure is the crate's `validator::is_valid_with` (0.3.10): find the region
//! the number belongs to among those sharing its country code (by leading digits, else by a
//! known number type), then the number is valid if that region knows its type. A pattern
//! "matches" when the length is one of the descriptor's possible lengths (if it lists any) and
//! the pattern matches at the start of the national number; an anchored regex is the same test.
//! The differential test below checks this against the crate over every region's example
//! numbers and their one-digit mutations, so a `phonenumber` upgrade that changes the rules
//! fails it.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::PhoneNumber;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

/// `phonenumber::is_valid(number)`, faster.
pub(crate) fn is_valid(number: &PhoneNumber) -> bool {
    let index = Index::get();
    let national = number.national().to_string();
    let entry = match index.by_code.get(&number.country().code()) {
        Some(Candidates::One(entry)) => Some(*entry),
        Some(Candidates::Many(entries)) => entries.iter().copied().find(|&i| {
            let Some(compiled) = index.compiled(i) else {
                return false;
            };
            match &compiled.leading_digits {
                Some(leading) => leading.is_match(&national),
                None => compiled.known_type(&national),
            }
        }),
        None => None,
    };
    entry
        .and_then(|i| index.compiled(i))
        .is_some_and(|compiled| compiled.known_type(&national))
}

/// Every metadata entry, with its patterns compiled on first use, and which entries a country
/// code may resolve to.
struct Index {
    entries: Vec<Entry>,
    by_code: HashMap<u16, Candidates>,
}

enum Candidates {
    /// The code's only region (or its non-geographic entry).
    One(usize),
    /// Several regions share the code; tried in the metadata's order.
    Many(Vec<usize>),
}

struct Entry {
    meta: &'static Metadata,
    /// `None` inside once compiling failed: such an entry validates nothing, as the crate's
    /// own matcher finds nothing with a pattern it cannot compile.
    compiled: OnceLock<Option<Compiled>>,
}

struct Compiled {
    leading_digits: Option<Regex>,
    general: Pattern,
    /// The number types `number_type` tries after the general descriptor. Which one matches
    /// decides the type; that any one does is all validity needs.
    types: Vec<Pattern>,
}

struct Pattern {
    lengths: &'static [u16],
    regex: Regex,
}

impl Index {
    fn get() -> &'static Index {
        static INDEX: OnceLock<Index> = OnceLock::new();
        INDEX.get_or_init(Index::build)
    }

    fn build() -> Index {
        let database: &'static phonenumber::metadata::Database = &DATABASE;
        let entries: Vec<Entry> = database
            .iter()
            .map(|meta| Entry {
                meta,
                compiled: OnceLock::new(),
            })
            .collect();
        let position = |meta: &Metadata| entries.iter().position(|e| std::ptr::eq(e.meta, meta));
        let mut by_code = HashMap::new();
        for code in entries.iter().map(|e| e.meta.country_code()) {
            if by_code.contains_key(&code) {
                continue;
            }
            let Some(regions) = database.region(&code) else {
                continue;
            };
            let candidates = match regions.as_slice() {
                ["001"] => database
                    .by_code(&code)
                    .and_then(|metas| metas.into_iter().next())
                    .and_then(position)
                    .map(Candidates::One),
                [region] if region.parse::<phonenumber::country::Id>().is_ok() => database
                    .by_id(*region)
                    .and_then(position)
                    .map(Candidates::One),
                [_] => None,
                many => {
                    let found: Option<Vec<usize>> = many
                        .iter()
                        .map(|r| {
                            r.parse::<phonenumber::country::Id>().ok()?;
                            database.by_id(*r).and_then(position)
                        })
                        .collect();
                    found.map(Candidates::Many)
                }
            };
            if let Some(candidates) = candidates {
                by_code.insert(code, candidates);
            }
        }
        Index { entries, by_code }
    }

    fn compiled(&self, entry: usize) -> Option<&Compiled> {
        let entry = self.entries.get(entry)?;
        entry
            .compiled
            .get_or_init(|| Compiled::new(entry.meta))
            .as_ref()
    }
}

impl Compiled {
    fn new(meta: &'static Metadata) -> Option<Compiled> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Some(Compiled {
            leading_digits: match meta.leading_digits() {
                Some(pattern) => Some(anchored(pattern.as_str())?),
                None => None,
            },
            general: Pattern::new(d.general())?,
            types: types
                .into_iter()
                .flatten()
                .map(Pattern::new)
                .collect::<Option<_>>()?,
        })
    }

    /// `number_type(meta, national) != Type::Unknown`.
    fn known_type(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }
}

impl Pattern {
    fn new(descriptor: &'static Descriptor) -> Option<Pattern> {
        Some(Pattern {
            lengths: descriptor.possible_length(),
            regex: anchored(descriptor.national_number().as_str())?,
        })
    }

    /// `Descriptor::is_match`.
    fn matches(&self, national: &str) -> bool {
        let length_ok = u16::try_from(national.len()).is_ok_and(|n| self.lengths.contains(&n));
        (self.lengths.is_empty() || length_ok) && self.regex.is_match(national)
    }
}

/// The pattern as the crate compiles it (whitespace ignored), matching only at the start.
fn anchored(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region's example numbers, and each with one digit changed, one dropped and one
    /// added, judged by this module and by `phonenumber` itself: they must agree every time.
    #[test]
    fn agrees_with_phonenumber_on_every_regions_examples_and_their_mutations() {
        let mut checked = 0usize;
        let mut valid = 0usize;
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let examples = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ];
            for example in examples.into_iter().flatten().filter_map(|d| d.example()) {
                for national in mutations(example) {
                    let text = format!("+{}{national}", meta.country_code());
                    let Ok(number) = phonenumber::parse(None, &text) else {
                        continue;
                    };
                    let expected = phonenumber::is_valid(&number);
                    assert_eq!(is_valid(&number), expected, "{text} (region {})", meta.id());
                    checked += 1;
                    valid += usize::from(expected);
                }
            }
        }
        // The comparison covered both answers many times over, so it can fail either way.
        assert!(checked > 10_000, "only {checked} numbers compared");
        assert!(
            valid > 1_000 && checked - valid > 1_000,
            "{valid} of {checked} valid"
        );
    }

    fn mutations(example: &str) -> Vec<String> {
        let mut out = vec![example.to_owned()];
        for (i, c) in example.char_indices() {
            if let Some(digit) = c.to_digit(10) {
                let mut changed = example.to_owned();
                let next = char::from_digit((digit + 1) % 10, 10).unwrap_or('0');
                changed.replace_range(i..i + 1, next.encode_utf8(&mut [0; 4]));
                out.push(changed);
            }
        }
        if example.len() > 1 {
            out.push(example[..example.len() - 1].to_owned());
        }
        out.push(format!("{example}7"));
        out
    }

    #[test]
    fn north_american_numbers_resolve_to_their_region() {
        let us = phonenumber::parse(None, "+1 650 253 0000").unwrap();
        let antigua = phonenumber::parse(None, "+1 268 464 1234").unwrap();
        let unassigned = phonenumber::parse(None, "+1 253 0000").unwrap();
        assert!(is_valid(&us) && is_valid(&antigua));
        assert!(!is_valid(&unassigned));
    }
}
