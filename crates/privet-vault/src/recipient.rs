//! Where a notification goes, when the vault's sender needs an address (mail): the
//! subject's address is read from the profile field named at open
//! ([`Vault::with_notify_recipient`]) when the message is queued, and kept in the outbox row
//! sealed under the outbox key, bound to that message (see `Keyring::seal_recipient`). So a
//! message about an erasure still reaches the customer after their own key is destroyed, the
//! outbox holds nothing readable, and the copy goes with the row once delivered.
//!
//! Reading the address is on the record like any read the vault makes for the subject's
//! own benefit (the portal's, the export's): an audit entry `subject_read` of that one field,
//! for the purpose `subject_access`, reason `notify:<message id>`, committed in the same
//! write set as the sealed copy — so no address is in the outbox unrecorded.

use privet_audit::{Action, AuditEntry, Decision};
use privet_core::{FieldType, MessageId, Sensitive, SubjectId};
use privet_crypto::{CryptoError, KeyVersion, Keyring};
use privet_store::OutboxRow;

use crate::seal::Released;
use crate::{Actor, Vault, VaultError};

/// Waiting messages a key-retirement check reads at most.
const OUTBOX_SCAN: u32 = 100_000;

/// A message about to be queued: its id, and the subject's address sealed for it (with the
/// audit entry of having read the address) when the vault notifies by mail.
#[derive(Debug)]
pub(crate) struct Notice {
    pub(crate) id: MessageId,
    pub(crate) recipient: Option<Vec<u8>>,
    pub(crate) audit: Option<AuditEntry>,
}

impl Vault {
    /// Makes every rights-request notification carry the subject's address, read from
    /// `field` of the profile collection (for a mail sender). Refused unless the schema's
    /// profile collection has `field` and its type is `email`.
    pub fn with_notify_recipient(mut self, field: &str) -> Result<Self, VaultError> {
        let profile = self.profile()?;
        match profile.field(field) {
            Some(f) if f.ty == FieldType::Email => {}
            Some(_) => {
                return Err(VaultError::BadRequest(format!(
                    "field `{field}` of the profile collection `{}` is not of type email",
                    profile.name
                )));
            }
            None => {
                return Err(VaultError::BadRequest(format!(
                    "the profile collection `{}` has no field `{field}`",
                    profile.name
                )));
            }
        }
        self.recipient_field = Some(field.into());
        Ok(self)
    }

    /// The profile field notifications are addressed from, if any.
    pub fn notify_recipient_field(&self) -> Option<&str> {
        self.recipient_field.as_deref()
    }

    /// A new message's id, with `subject`'s current address sealed for it if this vault
    /// notifies by mail and the subject has one (an unknown or erased subject, or one
    /// without an address, gets a message without a recipient, which a mail sender drops).
    pub(crate) async fn notice(
        &self,
        actor: &Actor,
        subject: SubjectId,
    ) -> Result<Notice, VaultError> {
        let id = MessageId::new();
        let mut notice = Notice {
            id,
            recipient: None,
            audit: None,
        };
        let Some(field_name) = self.recipient_field.as_deref() else {
            return Ok(notice);
        };
        let Some(address) = self.current_address(subject, field_name).await? else {
            return Ok(notice);
        };
        let sealed = self
            .keys()
            .seal_recipient(&id, address.expose())
            .map_err(|e| {
                tracing::error!(message = %id, error = %e, "recipient could not be sealed");
                VaultError::Integrity {
                    context: format!("recipient of message {id}"),
                }
            })?;
        let profile = self.profile()?;
        let mut e = self.entry(actor, Action::SubjectRead);
        e.subject = Some(subject);
        e.collection = Some(profile.name.clone());
        e.purpose = Some(crate::SUBJECT_ACCESS.into());
        e.fields = vec![field_name.to_owned()];
        e.decision = Decision::Allowed;
        e.reason = Some(format!("notify:{id}"));
        notice.recipient = Some(sealed);
        notice.audit = Some(e);
        Ok(notice)
    }

    /// The subject's address as stored now, decrypted with the subject's key.
    async fn current_address(
        &self,
        subject: SubjectId,
        field_name: &str,
    ) -> Result<Option<Sensitive<String>>, VaultError> {
        let profile = self.profile()?;
        let Some(field) = profile.field(field_name) else {
            return Ok(None);
        };
        let Some(data) = self
            .inner
            .store
            .load_subject(subject, &profile.name, None)
            .await?
        else {
            return Ok(None);
        };
        let Some(record) = data
            .records
            .iter()
            .find(|r| r.fields.iter().any(|(n, _)| *n == field.name))
        else {
            return Ok(None);
        };
        let ciphers = self.read_ciphers(&data.subject, profile).await?;
        let Some(cipher) = self.cipher_for(&ciphers, profile, record) else {
            return Ok(None);
        };
        let released = [Released {
            field,
            access: privet_core::Access::Plain,
            role: "notify",
        }];
        let mut opened = self.open_fields(cipher, profile, &released, record)?;
        Ok(match opened.remove(&field.name) {
            Some(serde_json::Value::String(s)) => Some(Sensitive::new(s)),
            _ => None,
        })
    }

    /// The address of an outbox message, opened with the outbox key; `None` when it has
    /// none or it does not open (moved from another message, altered: logged, no value).
    pub(crate) async fn open_recipient(&self, m: &OutboxRow) -> Option<Sensitive<String>> {
        let sealed = m.recipient.as_deref()?;
        let mut opened = self.keys().open_recipient(&m.id, sealed);
        if let Err(CryptoError::UnknownKeyVersion(v)) = opened
            && self.reload_keys_on_miss(v).await
        {
            opened = self.keys().open_recipient(&m.id, sealed);
        }
        match opened {
            Ok(address) => Some(address),
            Err(e) => {
                tracing::error!(message = %m.id, error = %e, "the message's recipient failed to open");
                None
            }
        }
    }

    /// Why `version` cannot be retired yet for the outbox's sake: waiting messages whose
    /// address is sealed under it (they would lose it). `None` when there are none.
    pub(crate) async fn outbox_uses(
        &self,
        version: KeyVersion,
    ) -> Result<Option<String>, VaultError> {
        let every = self.now() + time::Duration::days(36_500);
        let waiting = self.inner.store.outbox_due(every, OUTBOX_SCAN).await?;
        let sealed_under = waiting
            .iter()
            .filter_map(|m| m.recipient.as_deref())
            .filter(|r| Keyring::recipient_key_version(r) == Some(version))
            .count();
        Ok(match (sealed_under, waiting.len() as u64) {
            (0, n) if n < u64::from(OUTBOX_SCAN) => None,
            (0, _) => Some(format!(
                "the outbox holds {OUTBOX_SCAN} or more waiting notifications; deliver them first"
            )),
            (n, _) => Some(format!(
                "{n} waiting notifications have their address sealed under it; deliver them first"
            )),
        })
    }
}
