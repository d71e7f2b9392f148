//! Consent receipts: what a subject agreed to, per purpose, as a machine-readable document
//! (the fields of ISO/IEC TS 27560 / Kantara consent receipts) signed with the vault's
//! receipt key (Ed25519, its own 0600 file, apart from the master and audit keys).
//!
//! The signed form is a C2SP signed note whose text is the line `privet consent receipt v1`
//! followed by the receipt as one line of compact JSON. Anyone holding the published
//! verifier key (`name+keyid+base64`) can check it with any signed-note implementation; a
//! changed byte fails.

use privet_audit::{NoteError, VerifierKey, sign_note, verify_note};
use privet_core::{ReceiptId, SubjectId};
use privet_crypto::NoteSigner;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Actor, Vault, VaultError};

/// The first line of a receipt note.
pub const RECEIPT_HEADER: &str = "privet consent receipt v1";

/// A consent receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentReceipt {
    /// Format version.
    pub version: String,
    /// This receipt.
    pub receipt_id: String,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// The controller (the name of the signing key).
    pub controller: String,
    /// The data subject (the PII principal).
    pub subject_id: SubjectId,
    /// The consent in force per purpose asked about.
    pub purposes: Vec<ReceiptPurpose>,
}

/// One purpose of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptPurpose {
    /// The purpose (fideslang data use).
    pub purpose: String,
    /// Its description from the schema.
    pub description: String,
    /// Its legal basis.
    pub legal_basis: String,
    /// Whether it is a sale or sharing of personal data (CCPA/CPRA).
    pub sale_or_sharing: bool,
    /// The state recorded last (`granted`, `denied`, `withdrawn`).
    pub state: String,
    /// What it means at issue time (`granted`, `denied`, `withdrawn`, `expired`).
    pub effective: String,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// How it was collected (`web_form`, `api`, `portal`, `gpc`, `import`).
    pub source: String,
    /// The privacy-notice version shown.
    pub notice_version: String,
    /// When a grant lapses.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The data categories of the fields declared for this purpose.
    pub data_categories: Vec<String>,
    /// Whether any of them is a special category (GDPR Art. 9 / CPRA sensitive).
    pub special_categories: bool,
}

/// A receipt with its signed form.
#[derive(Debug, Clone, Serialize)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: ConsentReceipt,
    /// The signed note (what to hand over and verify).
    pub signed: String,
    /// The verifier key that checks it.
    pub verifier_key: String,
}

/// Why a receipt did not verify.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The signature or note format is wrong.
    #[error("receipt signature: {0}")]
    Note(#[from] NoteError),
    /// The signed text is not a receipt.
    #[error("not a consent receipt: {0}")]
    Format(String),
}

/// Signs a receipt with the receipt key.
pub fn sign_receipt(
    receipt: ConsentReceipt,
    signer: &NoteSigner,
) -> Result<SignedReceipt, VaultError> {
    let json = serde_json::to_string(&receipt).map_err(|e| VaultError::Integrity {
        context: format!("encoding receipt: {e}"),
    })?;
    let text = format!("{RECEIPT_HEADER}\n{json}\n");
    let signed = sign_note(&text, signer).map_err(|e| VaultError::Integrity {
        context: format!("signing receipt: {e}"),
    })?;
    Ok(SignedReceipt {
        receipt,
        signed,
        verifier_key: VerifierKey::of(signer).to_string(),
    })
}

/// Verifies a signed receipt note with a published verifier key and returns the receipt.
pub fn verify_receipt(signed: &str, key: &VerifierKey) -> Result<ConsentReceipt, ReceiptError> {
    let body = verify_note(signed, key)?;
    let json = body
        .strip_prefix(RECEIPT_HEADER)
        .and_then(|rest| rest.strip_prefix('\n'))
        .and_then(|rest| rest.strip_suffix('\n'))
        .ok_or_else(|| ReceiptError::Format("missing header line".into()))?;
    serde_json::from_str(json).map_err(|e| ReceiptError::Format(e.to_string()))
}

impl Vault {
    /// The published key that verifies this vault's consent receipts.
    pub fn receipt_key(&self) -> Result<VerifierKey, VaultError> {
        self.receipt_signer()
            .map(VerifierKey::of)
            .ok_or_else(|| crate::AuditError::NoSigningKey.into())
    }

    /// A subject's consent receipt, signed with this vault's receipt key.
    pub async fn signed_consent_receipt(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<SignedReceipt, VaultError> {
        let signer = self
            .receipt_signer()
            .ok_or(crate::AuditError::NoSigningKey)?;
        self.consent_receipt(actor, subject, signer).await
    }

    /// A subject's consent receipt: the consent in force for every purpose it was asked
    /// about, signed with `signer`. Audited as a consent read.
    pub async fn consent_receipt(
        &self,
        actor: &Actor,
        subject: SubjectId,
        signer: &NoteSigner,
    ) -> Result<SignedReceipt, VaultError> {
        let overview = self.consents(actor, subject).await?;
        let schema = &self.inner.schema;
        let purposes = overview
            .consents
            .into_iter()
            .filter_map(|c| {
                let p = schema.purpose(&c.purpose)?;
                let fields: Vec<_> = schema
                    .collections()
                    .flat_map(|coll| coll.fields())
                    .filter(|f| f.allows_purpose(&p.name))
                    .collect();
                let mut data_categories: Vec<String> =
                    fields.iter().map(|f| f.category.clone()).collect();
                data_categories.sort();
                data_categories.dedup();
                Some(ReceiptPurpose {
                    description: p.description.clone(),
                    legal_basis: p.legal_basis.as_str().to_owned(),
                    sale_or_sharing: p.sale_or_sharing,
                    special_categories: fields.iter().any(|f| f.special_category),
                    data_categories,
                    purpose: c.purpose,
                    state: c.state,
                    effective: c.effective.to_owned(),
                    recorded_at: c.at,
                    source: c.source,
                    notice_version: c.notice_version,
                    expires_at: c.expires_at,
                })
            })
            .collect();
        let receipt = ConsentReceipt {
            version: "1".into(),
            receipt_id: ReceiptId::new().to_string(),
            issued_at: self.now(),
            controller: signer.name().to_owned(),
            subject_id: subject,
            purposes,
        };
        sign_receipt(receipt, signer)
    }
}
