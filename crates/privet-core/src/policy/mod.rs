//! The policy engine: decides, per field, what a caller may see of a subject's data for the
//! purpose it states, and whether a write may collect a field.
//!
//! A pure function of the schema's declarations, the caller's [`Grants`], the subject's
//! consents and restriction, and the time, so every rule is tested exhaustively. Each action
//! has its own entry point and result type:
//! - a **read** (a profile, records, or the subjects a lookup found): [`ReadContext::decide`]
//!   → [`Decision`] (plain, masked, tokenized, or withheld with a [`WithholdReason`]);
//! - a **lookup** by a searchable field: [`check_lookup`] on the search key, before any
//!   subject is known;
//! - a **write**: [`check_write`].
//!
//! # Read rules
//! A value is released only when all hold:
//! 1. the schema declares the purpose for the field (`purpose_not_declared`);
//! 2. the field is not special-category data headed for `marketing.*`, `personalize.*` or
//!    an automated-decision purpose, whatever the grants (`special_category`);
//! 3. one role of the caller grants both the purpose and the field (`not_granted`);
//! 4. the subject is not under restriction, unless the purpose's legal basis is
//!    `legal_obligation` (`restricted`); likewise an erased subject's retained records
//!    (`erased_retained`, see [`ReadContext::erased`]);
//! 5. if the purpose's legal basis is `consent`, or the field's own legal basis is, the
//!    subject's consent to this purpose is `granted` and unexpired at `now` (`no_consent`
//!    for none or denied, `consent_withdrawn`, `consent_expired`).
//!
//! When several fail, the first in that order is reported (the order of [`WithholdReason`]).
//! Facts of the schema come first, then the caller's grants, then the subject's state: a
//! caller without the grant learns nothing about the subject's restriction or consents.

mod write;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_table;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::consent::{ConsentView, EffectiveConsent, UnknownName};
use crate::grant::{Access, FieldGrants, Grants};
use crate::schema::{Field, LegalBasis, Purpose};

pub use write::{WriteRefusal, WriteRefused, check_write};

/// Why a value is withheld. Declared in the order reasons are reported when several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WithholdReason {
    /// The schema does not declare this purpose for the field.
    PurposeNotDeclared,
    /// Special-category data is never used for marketing, personalization or automated
    /// decisions.
    SpecialCategory,
    /// No single role of the caller grants both the purpose and the field.
    NotGranted,
    /// The subject restricted processing; only legal obligations may still use the data.
    Restricted,
    /// The subject was erased; what is left is kept by legal obligation and may only be used
    /// for purposes whose legal basis is `legal_obligation`.
    ErasedRetained,
    /// The use rests on consent and the subject has not given it (never asked, or refused).
    NoConsent,
    /// The use rests on consent and the subject withdrew it.
    ConsentWithdrawn,
    /// The use rests on consent and the subject's consent has expired.
    ConsentExpired,
}

impl WithholdReason {
    /// Every reason, in report order.
    pub const ALL: [WithholdReason; 8] = [
        WithholdReason::PurposeNotDeclared,
        WithholdReason::SpecialCategory,
        WithholdReason::NotGranted,
        WithholdReason::Restricted,
        WithholdReason::ErasedRetained,
        WithholdReason::NoConsent,
        WithholdReason::ConsentWithdrawn,
        WithholdReason::ConsentExpired,
    ];

    /// The snake_case code used in API responses and audit entries.
    pub fn as_str(&self) -> &'static str {
        match self {
            WithholdReason::PurposeNotDeclared => "purpose_not_declared",
            WithholdReason::SpecialCategory => "special_category",
            WithholdReason::NotGranted => "not_granted",
            WithholdReason::Restricted => "restricted",
            WithholdReason::ErasedRetained => "erased_retained",
            WithholdReason::NoConsent => "no_consent",
            WithholdReason::ConsentWithdrawn => "consent_withdrawn",
            WithholdReason::ConsentExpired => "consent_expired",
        }
    }

    /// The reason a consent-based use fails with `consent` in effect; `None` if it is granted.
    pub fn for_consent(consent: EffectiveConsent) -> Option<WithholdReason> {
        match consent {
            EffectiveConsent::Granted => None,
            EffectiveConsent::None | EffectiveConsent::Denied => Some(WithholdReason::NoConsent),
            EffectiveConsent::Withdrawn => Some(WithholdReason::ConsentWithdrawn),
            EffectiveConsent::Expired => Some(WithholdReason::ConsentExpired),
        }
    }
}

impl fmt::Display for WithholdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WithholdReason {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WithholdReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName::new("withhold reason", s))
    }
}

/// What a read gets of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum Outcome {
    /// The value itself.
    Plain,
    /// A masked fragment of the value ([`crate::mask::mask`]).
    Masked,
    /// A per-role pseudonym of the value.
    Tokenized,
    /// Nothing, for this reason.
    Withheld(WithholdReason),
}

impl Outcome {
    /// Whether anything of the value leaves the vault.
    pub fn is_released(&self) -> bool {
        !matches!(self, Outcome::Withheld(_))
    }

    /// How the value is released, if it is.
    pub fn access(&self) -> Option<Access> {
        match self {
            Outcome::Plain => Some(Access::Plain),
            Outcome::Masked => Some(Access::Masked),
            Outcome::Tokenized => Some(Access::Tokenized),
            Outcome::Withheld(_) => None,
        }
    }

    /// Why the value is withheld, if it is.
    pub fn reason(&self) -> Option<WithholdReason> {
        match self {
            Outcome::Withheld(r) => Some(*r),
            _ => None,
        }
    }
}

impl From<Access> for Outcome {
    fn from(access: Access) -> Outcome {
        match access {
            Access::Plain => Outcome::Plain,
            Access::Masked => Outcome::Masked,
            Access::Tokenized => Outcome::Tokenized,
        }
    }
}

/// The decision for one field: the outcome and, when released, the role whose grant
/// released it (the role that keys a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision<'g> {
    /// What the read gets.
    pub outcome: Outcome,
    /// The granting role; `Some` exactly when the outcome is a release.
    pub role: Option<&'g str>,
}

impl Decision<'_> {
    fn withheld(reason: WithholdReason) -> Self {
        Decision {
            outcome: Outcome::Withheld(reason),
            role: None,
        }
    }
}

/// Everything a read's decisions share: the caller, the purpose, the subject's state and
/// the time. Build one per subject read; [`ReadContext::decide`] then costs a few hash
/// lookups per field.
#[derive(Debug, Clone, Copy)]
pub struct ReadContext<'a> {
    purpose: &'a Purpose,
    granted: Option<&'a FieldGrants>,
    excludes_special: bool,
    purpose_needs_consent: bool,
    restricted: bool,
    consent: EffectiveConsent,
    erased: bool,
}

impl<'a> ReadContext<'a> {
    /// The context of one read of one subject's data: `grants` of the caller, the stated
    /// `purpose`, the subject's `consents` and restriction, at `now`.
    pub fn new(
        grants: &'a Grants,
        purpose: &'a Purpose,
        consents: &dyn ConsentView,
        restricted: bool,
        now: OffsetDateTime,
    ) -> ReadContext<'a> {
        ReadContext {
            purpose,
            granted: grants.for_purpose(&purpose.name),
            excludes_special: purpose.excludes_special_categories(),
            purpose_needs_consent: purpose.legal_basis == LegalBasis::Consent,
            restricted: restricted && purpose.legal_basis != LegalBasis::LegalObligation,
            // Every consent rule concerns the stated purpose, so it is looked up once.
            consent: EffectiveConsent::of(consents.consent(&purpose.name), now),
            erased: false,
        }
    }

    /// Marks the subject as erased: only records kept by legal obligation remain, and they
    /// are released only for purposes whose legal basis is `legal_obligation` (any other
    /// purpose gets `erased_retained`, decided right after the caller's grants, as a
    /// restriction is).
    pub fn erased(mut self, erased: bool) -> ReadContext<'a> {
        self.erased = erased && self.purpose.legal_basis != LegalBasis::LegalObligation;
        self
    }

    /// The purpose stated.
    pub fn purpose(&self) -> &'a Purpose {
        self.purpose
    }

    /// What the read gets of `field` of `collection` (see the module docs for the rules).
    pub fn decide(&self, collection: &str, field: &Field) -> Decision<'a> {
        if !field.allows_purpose(&self.purpose.name) {
            return Decision::withheld(WithholdReason::PurposeNotDeclared);
        }
        if field.special_category && self.excludes_special {
            return Decision::withheld(WithholdReason::SpecialCategory);
        }
        let Some(grant) = self
            .granted
            .and_then(|by_collection| by_collection.get(collection))
            .and_then(|by_field| by_field.get(&field.name))
        else {
            return Decision::withheld(WithholdReason::NotGranted);
        };
        if self.restricted {
            return Decision::withheld(WithholdReason::Restricted);
        }
        if self.erased {
            return Decision::withheld(WithholdReason::ErasedRetained);
        }
        if (self.purpose_needs_consent || field.legal_basis == Some(LegalBasis::Consent))
            && let Some(reason) = WithholdReason::for_consent(self.consent)
        {
            return Decision::withheld(reason);
        }
        Decision {
            outcome: grant.access.into(),
            role: Some(&grant.role),
        }
    }
}

/// Whether a caller may look subjects up by `field` of `collection` for `purpose`: the
/// purpose must be declared for the field, the field must not be special-category data
/// headed for an excluded use, and one role must grant the purpose and the field (with any
/// access). Reported in the same order as a read's reasons.
///
/// Consent and restriction depend on the subject, unknown before the lookup: the vault
/// decides each found subject's fields with [`ReadContext::decide`] as for any read.
pub fn check_lookup(
    grants: &Grants,
    purpose: &Purpose,
    collection: &str,
    field: &Field,
) -> Result<(), WithholdReason> {
    if !field.allows_purpose(&purpose.name) {
        return Err(WithholdReason::PurposeNotDeclared);
    }
    if field.special_category && purpose.excludes_special_categories() {
        return Err(WithholdReason::SpecialCategory);
    }
    match grants.get(&purpose.name, collection, &field.name) {
        Some(_) => Ok(()),
        None => Err(WithholdReason::NotGranted),
    }
}
