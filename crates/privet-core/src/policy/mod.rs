//! The policy engine: decides, per field and purpose, whether a value may leave the vault.
//!
//! It is a pure function of the schema, the purpose and the subject's consents as seen at
//! the moment of the read, so that every rule can be tested exhaustively. The caller's own
//! grants are checked before this (by the vault); this module holds what the data itself
//! permits.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::schema::{Field, LegalBasis, Purpose};

/// A subject's consent to one purpose, as in force at the moment of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Given and in force.
    Granted,
    /// Refused when asked.
    Denied,
    /// Given once, then withdrawn (or expired).
    Withdrawn,
}

/// The consents of one subject, looked up by purpose name.
pub trait ConsentView {
    /// The consent state for `purpose`; `None` if the subject was never asked.
    fn state(&self, purpose: &str) -> Option<ConsentState>;
}

/// A subject with no recorded consents.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConsents;

impl ConsentView for NoConsents {
    fn state(&self, _purpose: &str) -> Option<ConsentState> {
        None
    }
}

impl ConsentView for HashMap<String, ConsentState> {
    fn state(&self, purpose: &str) -> Option<ConsentState> {
        self.get(purpose).copied()
    }
}

impl ConsentView for BTreeMap<String, ConsentState> {
    fn state(&self, purpose: &str) -> Option<ConsentState> {
        self.get(purpose).copied()
    }
}

impl<T: ConsentView + ?Sized> ConsentView for &T {
    fn state(&self, purpose: &str) -> Option<ConsentState> {
        (**self).state(purpose)
    }
}

/// Why a value is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WithholdReason {
    /// The schema does not declare this purpose for the field.
    PurposeNotDeclared,
    /// The use needs consent and the subject has not given it (or refused).
    NoConsent,
    /// The use needs consent and the subject withdrew it.
    ConsentWithdrawn,
    /// Special-category data is never used for marketing, personalization or automated
    /// decisions.
    SpecialCategory,
}

impl WithholdReason {
    /// The snake_case code used in API responses and audit entries.
    pub fn as_str(&self) -> &'static str {
        match self {
            WithholdReason::PurposeNotDeclared => "purpose_not_declared",
            WithholdReason::NoConsent => "no_consent",
            WithholdReason::ConsentWithdrawn => "consent_withdrawn",
            WithholdReason::SpecialCategory => "special_category",
        }
    }
}

impl fmt::Display for WithholdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome for one field and purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision", content = "reason")]
pub enum Decision {
    /// The value may be released for this purpose.
    Release,
    /// The value stays in the vault.
    Withhold(WithholdReason),
}

impl Decision {
    /// Whether the value may be released.
    pub fn is_release(&self) -> bool {
        matches!(self, Decision::Release)
    }
}

/// Decides whether `field` may be released for `purpose` given the subject's consents.
///
/// Rules, in order: the purpose must be declared for the field; special-category data never
/// goes to marketing, personalization or automated decisions; if the purpose or the field
/// rests on consent, consent to this purpose must be granted now.
pub fn decide(field: &Field, purpose: &Purpose, consents: &dyn ConsentView) -> Decision {
    if !field.allows_purpose(&purpose.name) {
        return Decision::Withhold(WithholdReason::PurposeNotDeclared);
    }
    if field.special_category && purpose.excludes_special_categories() {
        return Decision::Withhold(WithholdReason::SpecialCategory);
    }
    let needs_consent = purpose.legal_basis == LegalBasis::Consent
        || field.legal_basis == Some(LegalBasis::Consent);
    if !needs_consent {
        return Decision::Release;
    }
    match consents.state(&purpose.name) {
        Some(ConsentState::Granted) => Decision::Release,
        Some(ConsentState::Withdrawn) => Decision::Withhold(WithholdReason::ConsentWithdrawn),
        Some(ConsentState::Denied) | None => Decision::Withhold(WithholdReason::NoConsent),
    }
}
