//! Writes are purpose-checked too: collecting a field needs a lawful reason to hold it.

use serde::Serialize;
use time::OffsetDateTime;

use super::WithholdReason;
use crate::consent::{ConsentView, EffectiveConsent};
use crate::schema::{Field, LegalBasis, Schema};

/// A field a write may not collect, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteRefusal {
    /// The field.
    pub field: String,
    /// `purpose_not_declared` when the field has no declared purpose at all; otherwise the
    /// consent reason (`no_consent`, `consent_withdrawn`, `consent_expired`) of the first
    /// purpose in `needs_consent_to`.
    pub reason: WithholdReason,
    /// The purposes (in the field's declaration order) a granted consent to any one of
    /// which would make the write lawful.
    pub needs_consent_to: Vec<String>,
}

/// The fields a write may not collect (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", .0.iter().map(|r| format!("{}: {}", r.field, r.reason)).collect::<Vec<_>>().join(", "))]
pub struct WriteRefused(pub Vec<WriteRefusal>);

/// Whether a subject's data may collect `fields`, given its consents at `now`.
///
/// A field may be collected when at least one of its declared purposes has a valid legal
/// basis for this subject: any basis other than consent is valid; a consent-based purpose
/// counts only while the subject's consent to it is granted and unexpired. A field with its
/// own `legal_basis = "consent"` needs such a consent to at least one of its purposes.
///
/// Grants and restriction are not checked here: which callers may write is the caller's
/// authorization, and a restriction (GDPR Art. 18) still permits storage.
pub fn check_write<'f>(
    schema: &Schema,
    fields: impl IntoIterator<Item = &'f Field>,
    consents: &dyn ConsentView,
    now: OffsetDateTime,
) -> Result<(), WriteRefused> {
    let refused: Vec<WriteRefusal> = fields
        .into_iter()
        .filter_map(|f| refusal(schema, f, consents, now))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(WriteRefused(refused))
    }
}

fn refusal(
    schema: &Schema,
    field: &Field,
    consents: &dyn ConsentView,
    now: OffsetDateTime,
) -> Option<WriteRefusal> {
    let field_needs_consent = field.legal_basis == Some(LegalBasis::Consent);
    let mut needs_consent_to = Vec::new();
    let mut first_reason = None;
    for purpose in field.purposes.iter().filter_map(|p| schema.purpose(p)) {
        let needs_consent = field_needs_consent || purpose.legal_basis == LegalBasis::Consent;
        if !needs_consent {
            return None;
        }
        let consent = EffectiveConsent::of(consents.consent(&purpose.name), now);
        match WithholdReason::for_consent(consent) {
            None => return None,
            Some(reason) => {
                first_reason.get_or_insert(reason);
                needs_consent_to.push(purpose.name.clone());
            }
        }
    }
    Some(WriteRefusal {
        field: field.name.clone(),
        reason: first_reason.unwrap_or(WithholdReason::PurposeNotDeclared),
        needs_consent_to,
    })
}
