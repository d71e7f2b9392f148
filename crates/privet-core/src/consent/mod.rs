//! The consent model: a subject's consent per purpose as an append-only history of events,
//! and the current state folded from it.
//!
//! Each [`ConsentEvent`] carries the fields of an ISO/IEC TS 27560 / Kantara consent receipt:
//! which purpose, which state, when, how it was collected ([`ConsentSource`]), which version
//! of the privacy notice was shown, an optional expiry, and who recorded it. A requested
//! change ([`ConsentChange`]) is checked against the schema, the clock and the Global
//! Privacy Control signal before it becomes an event; [`CurrentConsents`] folds a history
//! into the state a read sees ([`ConsentView`]).
//!
//! Rules:
//! - the purpose must be declared in the schema;
//! - an expiry must lie in the future and only goes with `granted` (a refusal or a withdrawal
//!   does not lapse);
//! - a request carrying `Sec-GPC: 1` may not grant a purpose marked `sale_or_sharing`, and
//!   such a request records `denied` (source `gpc`) for each of them ([`gpc_denials`]);
//! - the latest event per purpose (by its time; on equal times, the later in the history)
//!   is the current state; a grant whose expiry is at or before `now` counts as expired.

mod current;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::schema::{Purpose, Schema};

pub use current::{ConsentStatus, ConsentView, CurrentConsents, EffectiveConsent, NoConsents};

/// Longest accepted privacy-notice version label.
pub const MAX_NOTICE_VERSION_LEN: usize = 128;

/// A consent decision of the subject for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Given (until withdrawn or, if it has one, until its expiry).
    Granted,
    /// Refused when asked (or opted out, e.g. by Global Privacy Control).
    Denied,
    /// Given once, then taken back.
    Withdrawn,
}

impl ConsentState {
    /// Every state.
    pub const ALL: [ConsentState; 3] = [
        ConsentState::Granted,
        ConsentState::Denied,
        ConsentState::Withdrawn,
    ];

    /// The snake_case name used in the API and the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConsentState::Granted => "granted",
            ConsentState::Denied => "denied",
            ConsentState::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for ConsentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConsentState {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsentState::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("consent state", s))
    }
}

/// How a consent was collected (the receipt's "method").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// A form on the business's website or app.
    WebForm,
    /// An API call by the business's systems.
    Api,
    /// The Privet privacy portal, by the subject.
    Portal,
    /// A Global Privacy Control signal (`Sec-GPC: 1`).
    Gpc,
    /// A bulk import of consents collected elsewhere.
    Import,
}

impl ConsentSource {
    /// Every source.
    pub const ALL: [ConsentSource; 5] = [
        ConsentSource::WebForm,
        ConsentSource::Api,
        ConsentSource::Portal,
        ConsentSource::Gpc,
        ConsentSource::Import,
    ];

    /// The snake_case name used in the API and the ledger.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConsentSource::WebForm => "web_form",
            ConsentSource::Api => "api",
            ConsentSource::Portal => "portal",
            ConsentSource::Gpc => "gpc",
            ConsentSource::Import => "import",
        }
    }
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConsentSource {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsentSource::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("consent source", s))
    }
}

/// A name that is not one of an enumeration's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    /// What was being parsed, e.g. `consent state`.
    pub kind: &'static str,
    /// The name given (at most 64 characters of it).
    pub name: String,
}

impl UnknownName {
    pub(crate) fn new(kind: &'static str, name: &str) -> UnknownName {
        UnknownName {
            kind,
            name: name.chars().take(64).collect(),
        }
    }
}

/// One entry of a subject's consent history: a consent receipt's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentEvent {
    /// The purpose (a schema purpose name).
    pub purpose: String,
    /// The decision recorded.
    pub state: ConsentState,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// How it was collected.
    pub source: ConsentSource,
    /// The version of the privacy notice shown when it was collected.
    pub notice_version: String,
    /// When a grant lapses, if it does.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Who recorded it (a principal id, `subject` for the portal, …); never personal data.
    pub actor: String,
}

/// A requested consent change for one purpose: the body of
/// `PUT /v1/subjects/{id}/consents/{purpose}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// The decision to record.
    pub state: ConsentState,
    /// How it was collected.
    pub source: ConsentSource,
    /// The version of the privacy notice shown.
    pub notice_version: String,
    /// When a grant lapses, if it does.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The circumstances of a consent-changing request.
#[derive(Debug, Clone, Copy)]
pub struct ChangeContext<'a> {
    /// The time the change is recorded at.
    pub now: OffsetDateTime,
    /// Who records it.
    pub actor: &'a str,
    /// Whether the request carried `Sec-GPC: 1`.
    pub gpc: bool,
}

/// Why a consent change was refused. Carries purpose names and times, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// The schema declares no such purpose.
    #[error("unknown purpose `{purpose}`")]
    UnknownPurpose {
        /// The purpose asked for (at most 128 characters of it).
        purpose: String,
    },
    /// The expiry is not after the time of the change.
    #[error("expires_at {expires_at} is not in the future")]
    ExpiryInPast {
        /// The expiry asked for.
        expires_at: OffsetDateTime,
    },
    /// An expiry was given for a state that does not lapse.
    #[error("expires_at applies only to `granted`, not to `{state}`")]
    ExpiryWithoutGrant {
        /// The state asked for.
        state: ConsentState,
    },
    /// A request carrying `Sec-GPC: 1` tried to grant a sale-or-sharing purpose.
    #[error("`{purpose}` is a sale or sharing of personal data and the request carries Sec-GPC: 1")]
    GpcForbidsGrant {
        /// The purpose.
        purpose: String,
    },
    /// Source `gpc` records opt-outs only.
    #[error("source `gpc` can only deny, not `{state}`")]
    GpcSourceGrants {
        /// The state asked for.
        state: ConsentState,
    },
    /// The notice version is empty, too long or not printable.
    #[error(
        "notice_version must be 1 to {MAX_NOTICE_VERSION_LEN} printable characters without spaces at either end"
    )]
    InvalidNoticeVersion,
}

impl ConsentError {
    /// A stable snake_case code for API problems and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            ConsentError::UnknownPurpose { .. } => "unknown_purpose",
            ConsentError::ExpiryInPast { .. } => "expiry_in_past",
            ConsentError::ExpiryWithoutGrant { .. } => "expiry_without_grant",
            ConsentError::GpcForbidsGrant { .. } => "gpc_forbids_grant",
            ConsentError::GpcSourceGrants { .. } => "gpc_source_grants",
            ConsentError::InvalidNoticeVersion => "invalid_notice_version",
        }
    }
}

impl ConsentChange {
    /// Checks the change for `purpose` and turns it into the event to append.
    ///
    /// Checks, in this order: the purpose is declared; the notice version is a sensible
    /// label; source `gpc` only denies; a GPC request does not grant a sale-or-sharing
    /// purpose; an expiry goes only with `granted` and lies after `ctx.now`.
    pub fn into_event(
        self,
        schema: &Schema,
        purpose: &str,
        ctx: ChangeContext<'_>,
    ) -> Result<ConsentEvent, ConsentError> {
        let declared = schema
            .purpose(purpose)
            .ok_or_else(|| ConsentError::UnknownPurpose {
                purpose: purpose.chars().take(128).collect(),
            })?;
        if !notice_version_ok(&self.notice_version) {
            return Err(ConsentError::InvalidNoticeVersion);
        }
        if self.source == ConsentSource::Gpc && self.state != ConsentState::Denied {
            return Err(ConsentError::GpcSourceGrants { state: self.state });
        }
        if ctx.gpc && self.state == ConsentState::Granted && declared.sale_or_sharing {
            return Err(ConsentError::GpcForbidsGrant {
                purpose: declared.name.clone(),
            });
        }
        if let Some(expires_at) = self.expires_at {
            if self.state != ConsentState::Granted {
                return Err(ConsentError::ExpiryWithoutGrant { state: self.state });
            }
            if expires_at <= ctx.now {
                return Err(ConsentError::ExpiryInPast { expires_at });
            }
        }
        Ok(ConsentEvent {
            purpose: declared.name.clone(),
            state: self.state,
            at: ctx.now,
            source: self.source,
            notice_version: self.notice_version,
            expires_at: self.expires_at,
            actor: ctx.actor.to_owned(),
        })
    }
}

fn notice_version_ok(v: &str) -> bool {
    (1..=MAX_NOTICE_VERSION_LEN).contains(&v.chars().count())
        && v.trim() == v
        && !v.chars().any(char::is_control)
}

/// The purposes a Global Privacy Control signal opts the subject out of: every purpose the
/// schema marks `sale_or_sharing`, in declaration order.
pub fn gpc_denials(schema: &Schema) -> impl Iterator<Item = &Purpose> {
    schema.purposes().filter(|p| p.sale_or_sharing)
}

/// The events a consent-changing request carrying `Sec-GPC: 1` records: `denied`, source
/// `gpc`, for every purpose of [`gpc_denials`], at `ctx.now`.
pub fn gpc_denial_events(
    schema: &Schema,
    notice_version: &str,
    ctx: ChangeContext<'_>,
) -> Vec<ConsentEvent> {
    gpc_denials(schema)
        .map(|p| ConsentEvent {
            purpose: p.name.clone(),
            state: ConsentState::Denied,
            at: ctx.now,
            source: ConsentSource::Gpc,
            notice_version: notice_version.to_owned(),
            expires_at: None,
            actor: ctx.actor.to_owned(),
        })
        .collect()
}
