//! Data-subject rights requests: what a subject asks for (access, portability,
//! rectification, erasure, restriction, objection, opt-out of sale and sharing), under which
//! regime (GDPR or CCPA/CPRA), by when it must be answered, and the state machine every
//! request goes through, with an event history that never holds a personal value.
//!
//! Rules:
//! - a request starts `received`; one entered by staff moves to `verifying` at once and goes
//!   on only with `verify` (recording how the identity was checked); one from the privacy
//!   portal is verified by its signed link and starts `in_progress`;
//! - it ends `completed` (only once verified) or `rejected` (with a reason); a closed request
//!   takes no further step;
//! - it may be `extended` once, with a reason, while open; an extended request is still
//!   completed or rejected as usual (and still needs verification if it had none);
//! - due dates: GDPR (Art. 12(3)) one calendar month from receipt, extendable by two further
//!   months (three months from receipt in all); CCPA/CPRA (Cal. Civ. Code § 1798.130) 45
//!   days, extendable once by 45 more. Months clamp to the month's end (Jan 31 + 1 month =
//!   Feb 28, or 29 in a leap year); see [`due_at`].

mod deadline;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::SubjectId;

pub use deadline::{add_months, due_at};

/// Longest accepted reason or verification-method text.
pub const MAX_REASON_LEN: usize = 500;

macro_rules! names {
    ($(#[$m:meta])* $ty:ident, $what:literal { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $ty { $($(#[$vm])* $v),* }

        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$($ty::$v),*];

            /// The snake_case name used in the API and the store.
            pub fn as_str(&self) -> &'static str {
                match self { $($ty::$v => $s),* }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = RequestError;
            fn from_str(s: &str) -> Result<Self, RequestError> {
                match s {
                    $($s => Ok($ty::$v),)*
                    _ => Err(RequestError::UnknownName {
                        what: $what,
                        given: s.chars().take(64).collect(),
                        expected: [$($s),*].join(", "),
                    }),
                }
            }
        }
    };
}

names!(
    /// What the subject asks for.
    RequestKind, "kind" {
        /// A copy of everything held (GDPR Art. 15, CCPA right to know).
        Access = "access",
        /// The data in a machine-readable form (GDPR Art. 20).
        Portability = "portability",
        /// Correct inaccurate data (GDPR Art. 16, CPRA right to correct).
        Rectification = "rectification",
        /// Erase the data (GDPR Art. 17, CCPA right to delete).
        Erasure = "erasure",
        /// Restrict processing (GDPR Art. 18).
        Restriction = "restriction",
        /// Object to (opt out of) one purpose (GDPR Art. 21); names the purpose.
        Objection = "objection",
        /// Opt out of the sale and sharing of personal information (CCPA/CPRA).
        OptOutSaleSharing = "opt_out_sale_sharing",
    }
);

names!(
    /// The law whose clock applies.
    Regime, "regime" {
        /// GDPR: one month, extendable by two further months.
        Gdpr = "gdpr",
        /// CCPA/CPRA: 45 days, extendable once by 45 days.
        Ccpa = "ccpa",
    }
);

names!(
    /// Where a request stands.
    RequestStatus, "status" {
        /// Just received.
        Received = "received",
        /// Waiting for the requester's identity to be checked.
        Verifying = "verifying",
        /// Verified and being worked on.
        InProgress = "in_progress",
        /// Open, with the deadline extended.
        Extended = "extended",
        /// Answered (the right was fulfilled).
        Completed = "completed",
        /// Refused, with a reason.
        Rejected = "rejected",
    }
);

names!(
    /// Who entered a request.
    Origin, "origin" {
        /// Staff (API or CLI): the identity must be verified before anything is done.
        Staff = "staff",
        /// The privacy portal: the subject came through a signed, single-use link.
        Portal = "portal",
    }
);

impl RequestStatus {
    /// Whether the request is still open (not completed or rejected).
    pub fn is_open(&self) -> bool {
        !matches!(self, Self::Completed | Self::Rejected)
    }
}

/// Why a request or a step on it was refused. Carries names and codes, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A kind, regime, status or origin that does not exist.
    #[error("unknown {what} `{given}` (expected one of: {expected})")]
    UnknownName {
        /// What was named (`kind`, `regime`, …).
        what: &'static str,
        /// What was given (at most 64 characters of it).
        given: String,
        /// The names accepted.
        expected: String,
    },
    /// An objection must name the purpose objected to; other kinds take none.
    #[error("{0}")]
    Purpose(String),
    /// A reason or method that is empty, too long or has control characters.
    #[error("`{field}` must be 1 to {MAX_REASON_LEN} printable characters")]
    BadText {
        /// Which text (`reason`, `method`).
        field: &'static str,
    },
    /// The step is not possible from the request's status.
    #[error("cannot {step} a request that is {status}")]
    BadTransition {
        /// The step tried (`verify`, `complete`, …).
        step: &'static str,
        /// The request's status.
        status: RequestStatus,
    },
    /// The request is closed already (completed or rejected).
    #[error("the request is already {0}")]
    Closed(RequestStatus),
    /// A request that is not verified cannot be completed.
    #[error("the requester's identity is not verified yet: verify the request first")]
    NotVerified,
    /// A second extension: the law allows one, up to the maximum.
    #[error(
        "the deadline was already extended to {due} — the legal maximum under {regime}; it \
         cannot be extended again"
    )]
    ExtensionLimit {
        /// The regime.
        regime: Regime,
        /// The extended (maximum) due date, RFC 3339.
        due: String,
    },
}

impl RequestError {
    /// A stable code for the error, for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownName { .. } => "unknown_name",
            Self::Purpose(_) => "purpose",
            Self::BadText { .. } => "bad_text",
            Self::BadTransition { .. } => "bad_transition",
            Self::Closed(_) => "closed",
            Self::NotVerified => "not_verified",
            Self::ExtensionLimit { .. } => "extension_limit",
        }
    }
}

/// What happened to a request: one entry of its history. No personal values: a rectification
/// lists field names, an erasure what was destroyed and kept, by collection and count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEvent {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (a principal id, `cli`, or `portal`).
    pub actor: String,
    /// What (`received`, `verifying`, `verified`, `extended`, `rejected`, `completed`, or a
    /// fulfilment step such as `export_produced`, `rectified`, `erased`).
    pub event: String,
    /// The status after it.
    pub status: RequestStatus,
    /// Details (method, reason, field names, counts), never a personal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// A rights request with its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RightsRequest {
    /// Its id (`dsr_…`).
    pub id: crate::RightsRequestId,
    /// The subject it is about.
    pub subject: SubjectId,
    /// What is asked.
    pub kind: RequestKind,
    /// The purpose objected to (objections only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The regime whose clock applies.
    pub regime: Regime,
    /// Who entered it.
    pub origin: Origin,
    /// Where it stands.
    pub status: RequestStatus,
    /// When it was received.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// When it must be answered by.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// Whether the deadline was extended.
    pub extended: bool,
    /// When the identity was verified (at receipt for portal requests).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// When it was completed or rejected.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// What happened, oldest first.
    pub history: Vec<RequestEvent>,
}

/// What a new request needs.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// The subject.
    pub subject: SubjectId,
    /// What is asked.
    pub kind: RequestKind,
    /// The purpose objected to (objections only; must be a purpose of the schema, which the
    /// caller checks).
    pub purpose: Option<&'a str>,
    /// The regime.
    pub regime: Regime,
    /// Who enters it.
    pub origin: Origin,
    /// Now.
    pub now: OffsetDateTime,
    /// Who (a principal id, `cli`, `portal`).
    pub actor: &'a str,
}

fn check_text(field: &'static str, s: &str) -> Result<String, RequestError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > MAX_REASON_LEN || s.chars().any(char::is_control) {
        return Err(RequestError::BadText { field });
    }
    Ok(s.to_owned())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl RightsRequest {
    /// A new request: `received`, then at once `verifying` (staff) or `in_progress` (portal,
    /// verified by its signed link).
    pub fn new(new: NewRequest<'_>) -> Result<Self, RequestError> {
        let purpose = match (new.kind, new.purpose) {
            (RequestKind::Objection, Some(p)) if !p.trim().is_empty() => Some(p.trim().to_owned()),
            (RequestKind::Objection, _) => {
                return Err(RequestError::Purpose(
                    "an objection must name the purpose objected to (`purpose`)".into(),
                ));
            }
            (_, Some(_)) => {
                return Err(RequestError::Purpose(format!(
                    "only an objection names a purpose, not a request of kind `{}`",
                    new.kind
                )));
            }
            (_, None) => None,
        };
        let mut r = RightsRequest {
            id: crate::RightsRequestId::new(),
            subject: new.subject,
            kind: new.kind,
            purpose,
            regime: new.regime,
            origin: new.origin,
            status: RequestStatus::Received,
            received_at: new.now,
            due_at: due_at(new.regime, new.now, false),
            extended: false,
            verified_at: None,
            closed_at: None,
            history: Vec::new(),
        };
        r.record(new.now, new.actor, "received", None);
        match new.origin {
            Origin::Staff => {
                r.status = RequestStatus::Verifying;
                r.record(new.now, new.actor, "verifying", None);
            }
            Origin::Portal => {
                r.status = RequestStatus::InProgress;
                r.verified_at = Some(new.now);
                let detail = serde_json::json!({"method": "portal_link"});
                r.record(new.now, new.actor, "verified", Some(detail));
            }
        }
        Ok(r)
    }

    /// Appends an event (with the status after it) to the history.
    pub fn record(
        &mut self,
        at: OffsetDateTime,
        actor: &str,
        event: &str,
        detail: Option<serde_json::Value>,
    ) {
        self.history.push(RequestEvent {
            at,
            actor: actor.to_owned(),
            event: event.to_owned(),
            status: self.status,
            detail,
        });
    }

    fn open(&self) -> Result<(), RequestError> {
        if self.status.is_open() {
            Ok(())
        } else {
            Err(RequestError::Closed(self.status))
        }
    }

    /// Records that the requester's identity was checked, and how: the request moves on to
    /// `in_progress` (or stays `extended`).
    pub fn verify(
        &mut self,
        method: &str,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(), RequestError> {
        self.open()?;
        if self.verified_at.is_some() {
            return Err(RequestError::BadTransition {
                step: "verify",
                status: self.status,
            });
        }
        let method = check_text("method", method)?;
        self.verified_at = Some(now);
        if self.status != RequestStatus::Extended {
            self.status = RequestStatus::InProgress;
        }
        let detail = serde_json::json!({ "method": method });
        self.record(now, actor, "verified", Some(detail));
        Ok(())
    }

    /// Extends the deadline to the legal maximum, once, with a reason.
    pub fn extend(
        &mut self,
        reason: &str,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(), RequestError> {
        self.open()?;
        if self.extended {
            return Err(RequestError::ExtensionLimit {
                regime: self.regime,
                due: rfc3339(self.due_at),
            });
        }
        let reason = check_text("reason", reason)?;
        self.extended = true;
        self.due_at = due_at(self.regime, self.received_at, true);
        self.status = RequestStatus::Extended;
        let detail = serde_json::json!({ "reason": reason, "due_at": rfc3339(self.due_at) });
        self.record(now, actor, "extended", Some(detail));
        Ok(())
    }

    /// Refuses the request, with a reason.
    pub fn reject(
        &mut self,
        reason: &str,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(), RequestError> {
        self.open()?;
        let reason = check_text("reason", reason)?;
        self.status = RequestStatus::Rejected;
        self.closed_at = Some(now);
        self.record(
            now,
            actor,
            "rejected",
            Some(serde_json::json!({ "reason": reason })),
        );
        Ok(())
    }

    /// Checks that the request may be completed now (open and verified), without changing
    /// it: fulfilment runs between this check and [`RightsRequest::complete`].
    pub fn check_completable(&self) -> Result<(), RequestError> {
        self.open()?;
        if self.verified_at.is_none() {
            return Err(RequestError::NotVerified);
        }
        Ok(())
    }

    /// Marks the request completed.
    pub fn complete(&mut self, now: OffsetDateTime, actor: &str) -> Result<(), RequestError> {
        self.check_completable()?;
        self.status = RequestStatus::Completed;
        self.closed_at = Some(now);
        self.record(now, actor, "completed", None);
        Ok(())
    }

    /// Whether the request is open past its due date.
    pub fn is_overdue(&self, now: OffsetDateTime) -> bool {
        self.status.is_open() && now > self.due_at
    }
}
