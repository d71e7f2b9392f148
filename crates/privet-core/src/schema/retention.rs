//! Retention periods as declared in a schema. This module only describes them (number,
//! unit, anchor); the clock that applies them lives with the caller.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The unit of a retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodUnit {
    /// Calendar days (`d`).
    Days,
    /// Weeks of seven days (`w`).
    Weeks,
    /// Calendar months (`m`).
    Months,
    /// Calendar years (`y`).
    Years,
}

impl PeriodUnit {
    /// The one-letter suffix used in schemas.
    pub fn suffix(&self) -> char {
        match self {
            PeriodUnit::Days => 'd',
            PeriodUnit::Weeks => 'w',
            PeriodUnit::Months => 'm',
            PeriodUnit::Years => 'y',
        }
    }
}

/// A length of time such as `7y` or `30d`. The number and unit are kept as written because
/// "one month" only becomes a number of days against a calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetentionPeriod {
    /// How many units (at least 1).
    pub count: u32,
    /// The unit.
    pub unit: PeriodUnit,
}

/// The largest accepted count: 1000 years is already longer than any statute asks.
const MAX_COUNT: u32 = 365_000;

/// A retention string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{shown}` is not a retention period (expected a whole number from 1 to {MAX_COUNT} followed by d, w, m or y, e.g. `7y`)"
)]
pub struct RetentionParseError {
    shown: String,
}

impl FromStr for RetentionPeriod {
    type Err = RetentionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || RetentionParseError {
            shown: s.chars().take(32).collect(),
        };
        let mut chars = s.chars();
        let unit = match chars.next_back() {
            Some('d') => PeriodUnit::Days,
            Some('w') => PeriodUnit::Weeks,
            Some('m') => PeriodUnit::Months,
            Some('y') => PeriodUnit::Years,
            _ => return Err(err()),
        };
        let digits = chars.as_str();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let count: u32 = digits.parse().map_err(|_| err())?;
        if count == 0 || count > MAX_COUNT {
            return Err(err());
        }
        Ok(RetentionPeriod { count, unit })
    }
}

impl fmt::Display for RetentionPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.suffix())
    }
}

impl Serialize for RetentionPeriod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RetentionPeriod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The moment a retention period is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAnchor {
    /// The record's creation (the default).
    Created,
    /// The subject's last activity.
    LastActivity,
    /// The withdrawal of the consent the data rests on.
    ConsentWithdrawn,
}

impl RetentionAnchor {
    /// The snake_case name used in schemas.
    pub fn as_str(&self) -> &'static str {
        match self {
            RetentionAnchor::Created => "created",
            RetentionAnchor::LastActivity => "last_activity",
            RetentionAnchor::ConsentWithdrawn => "consent_withdrawn",
        }
    }

    /// Parses the snake_case name.
    pub fn from_name(name: &str) -> Option<RetentionAnchor> {
        [
            RetentionAnchor::Created,
            RetentionAnchor::LastActivity,
            RetentionAnchor::ConsentWithdrawn,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

/// How long data is kept, and from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Retention {
    /// How long.
    pub keep: RetentionPeriod,
    /// Counted from when.
    pub after: RetentionAnchor,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_in_every_unit() {
        for (text, count, unit) in [
            ("7y", 7, PeriodUnit::Years),
            ("18m", 18, PeriodUnit::Months),
            ("6w", 6, PeriodUnit::Weeks),
            ("30d", 30, PeriodUnit::Days),
        ] {
            let p: RetentionPeriod = text.parse().unwrap();
            assert_eq!(p, RetentionPeriod { count, unit });
            assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn malformed_periods_are_refused() {
        for text in [
            "",
            "y",
            "7",
            "0y",
            "-1y",
            "7 y",
            "7Y",
            "7years",
            "1.5y",
            "+7y",
            "99999999999y",
            "7é",
        ] {
            assert!(text.parse::<RetentionPeriod>().is_err(), "{text:?}");
        }
    }
}
