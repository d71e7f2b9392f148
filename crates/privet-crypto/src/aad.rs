//! Associated data: what each ciphertext is bound to, so it cannot be moved elsewhere.
//!
//! Every encoding starts with a label naming the layout and its version, and every
//! variable-length part is prefixed with its length (u32, big-endian), so no two distinct
//! contexts encode to the same bytes: ("ab", "c") and ("a", "bc") differ.

use privet_core::{MessageId, RecordId, SubjectId};

use crate::error::CryptoError;
use crate::master::KeyVersion;

/// Label opening the AAD of a field value (layout v1).
const FIELD_AAD_LABEL: &[u8] = b"privet/field/v1";
/// Label opening the AAD of a wrapped subject key (layout v1).
const DEK_AAD_LABEL: &[u8] = b"privet/dek/v1";

/// The context a field value is encrypted in: decryption succeeds only with the very same
/// collection, record, field and subject.
#[derive(Clone, Copy, Debug)]
pub struct FieldAad<'a> {
    /// The collection (schema name) the record belongs to.
    pub collection: &'a str,
    /// The record holding the value.
    pub record: &'a RecordId,
    /// The field name within the collection.
    pub field: &'a str,
    /// The data subject whose key encrypts the value.
    pub subject: &'a SubjectId,
}

impl FieldAad<'_> {
    /// The unambiguous byte encoding: `"privet/field/v1"` then collection, record id,
    /// field and subject id, each prefixed with its length as a big-endian u32.
    ///
    /// Fails only when a name is longer than a u32 length prefix can state.
    pub fn encode(&self) -> Result<Vec<u8>, CryptoError> {
        let parts: [&[u8]; 4] = [
            self.collection.as_bytes(),
            self.record.as_bytes(),
            self.field.as_bytes(),
            self.subject.as_bytes(),
        ];
        let len = FIELD_AAD_LABEL.len() + parts.iter().map(|p| 4 + p.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(FIELD_AAD_LABEL);
        for part in parts {
            let n = u32::try_from(part.len()).map_err(|_| CryptoError::InputTooLarge)?;
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(part);
        }
        Ok(out)
    }
}

/// Length of the AAD of a wrapped subject key.
pub(crate) const DEK_AAD_LEN: usize = DEK_AAD_LABEL.len() + 16 + 4;

/// The AAD of a wrapped subject key: `"privet/dek/v1"` || subject id (16 bytes) || master-key
/// version (u32 BE). Every part after the label has a fixed length, so it is unambiguous.
pub(crate) fn dek_aad(subject: &SubjectId, version: KeyVersion) -> [u8; DEK_AAD_LEN] {
    let mut out = [0u8; DEK_AAD_LEN];
    let (label, rest) = out.split_at_mut(DEK_AAD_LABEL.len());
    let (id, ver) = rest.split_at_mut(16);
    label.copy_from_slice(DEK_AAD_LABEL);
    id.copy_from_slice(subject.as_bytes());
    ver.copy_from_slice(&version.to_be_bytes());
    out
}

/// Label opening the AAD of a wrapped retention-class subject key (layout v1).
const CLASS_DEK_AAD_LABEL: &[u8] = b"privet/class-dek/v1";

/// The AAD of a subject's key of a retention class (e.g. `legal_obligation`):
/// `"privet/class-dek/v1"` || subject id (16 bytes) || master-key version (u32 BE) ||
/// class length (u32 BE) || class. The label differs from the subject key's, so a class key
/// never unwraps as the subject key or as another class's key.
pub(crate) fn class_dek_aad(
    subject: &SubjectId,
    version: KeyVersion,
    class: &str,
) -> Result<Vec<u8>, CryptoError> {
    let n = u32::try_from(class.len()).map_err(|_| CryptoError::InputTooLarge)?;
    let mut out = Vec::with_capacity(CLASS_DEK_AAD_LABEL.len() + 16 + 4 + 4 + class.len());
    out.extend_from_slice(CLASS_DEK_AAD_LABEL);
    out.extend_from_slice(subject.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(class.as_bytes());
    Ok(out)
}

/// Label opening the AAD of a notification's sealed recipient address (layout v1).
const RECIPIENT_AAD_LABEL: &[u8] = b"privet/outbox-recipient/v1";

/// Length of the AAD of a sealed recipient.
pub(crate) const RECIPIENT_AAD_LEN: usize = RECIPIENT_AAD_LABEL.len() + 16 + 4;

/// The AAD of a notification's sealed recipient: `"privet/outbox-recipient/v1"` || message
/// id (16 bytes) || master-key version (u32 BE). Fixed lengths after the label, so it is
/// unambiguous; the message id makes a sealed address copied to another message fail.
pub(crate) fn recipient_aad(message: &MessageId, version: KeyVersion) -> [u8; RECIPIENT_AAD_LEN] {
    let mut out = [0u8; RECIPIENT_AAD_LEN];
    let (label, rest) = out.split_at_mut(RECIPIENT_AAD_LABEL.len());
    let (id, ver) = rest.split_at_mut(16);
    label.copy_from_slice(RECIPIENT_AAD_LABEL);
    id.copy_from_slice(message.as_bytes());
    ver.copy_from_slice(&version.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aad<'a>(
        collection: &'a str,
        field: &'a str,
        rec: &'a RecordId,
        sub: &'a SubjectId,
    ) -> FieldAad<'a> {
        FieldAad {
            collection,
            record: rec,
            field,
            subject: sub,
        }
    }

    #[test]
    fn aad_encoding_is_unambiguous_across_part_boundaries() {
        let (rec, sub) = (RecordId::new(), SubjectId::new());
        let a = aad("ab", "c", &rec, &sub).encode().unwrap();
        let b = aad("a", "bc", &rec, &sub).encode().unwrap();
        assert_ne!(a, b);
        assert_ne!(
            aad("", "abc", &rec, &sub).encode().unwrap(),
            aad("abc", "", &rec, &sub).encode().unwrap()
        );
    }

    #[test]
    fn aad_encoding_has_the_documented_layout() {
        let rec = RecordId::from_bytes([0x11; 16]);
        let sub = SubjectId::from_bytes([0x22; 16]);
        let got = aad("users", "email", &rec, &sub).encode().unwrap();
        let mut want = b"privet/field/v1".to_vec();
        want.extend_from_slice(&[0, 0, 0, 5]);
        want.extend_from_slice(b"users");
        want.extend_from_slice(&[0, 0, 0, 16]);
        want.extend_from_slice(&[0x11; 16]);
        want.extend_from_slice(&[0, 0, 0, 5]);
        want.extend_from_slice(b"email");
        want.extend_from_slice(&[0, 0, 0, 16]);
        want.extend_from_slice(&[0x22; 16]);
        assert_eq!(got, want);
        assert_eq!(got.capacity(), got.len(), "encoding allocates exactly once");
    }

    #[test]
    fn aad_binds_record_and_subject() {
        let (r1, r2, s1, s2) = (
            RecordId::new(),
            RecordId::new(),
            SubjectId::new(),
            SubjectId::new(),
        );
        let base = aad("c", "f", &r1, &s1).encode().unwrap();
        assert_ne!(base, aad("c", "f", &r2, &s1).encode().unwrap());
        assert_ne!(base, aad("c", "f", &r1, &s2).encode().unwrap());
    }

    #[test]
    fn dek_aad_binds_subject_and_version() {
        let sub = SubjectId::from_bytes([0x33; 16]);
        let got = dek_aad(&sub, KeyVersion(2));
        let mut want = b"privet/dek/v1".to_vec();
        want.extend_from_slice(&[0x33; 16]);
        want.extend_from_slice(&[0, 0, 0, 2]);
        assert_eq!(got.as_slice(), want.as_slice());
        assert_ne!(dek_aad(&sub, KeyVersion(1)), got);
        assert_ne!(dek_aad(&SubjectId::new(), KeyVersion(2)), got);
    }

    #[test]
    fn class_dek_aad_binds_subject_version_and_class() {
        let sub = SubjectId::from_bytes([0x44; 16]);
        let got = class_dek_aad(&sub, KeyVersion(3), "legal_obligation").unwrap();
        let mut want = b"privet/class-dek/v1".to_vec();
        want.extend_from_slice(&[0x44; 16]);
        want.extend_from_slice(&[0, 0, 0, 3]);
        want.extend_from_slice(&[0, 0, 0, 16]);
        want.extend_from_slice(b"legal_obligation");
        assert_eq!(got, want);
        assert_ne!(class_dek_aad(&sub, KeyVersion(3), "other").unwrap(), got);
        assert_ne!(
            class_dek_aad(&sub, KeyVersion(2), "legal_obligation").unwrap(),
            got
        );
        assert_ne!(
            class_dek_aad(&SubjectId::new(), KeyVersion(3), "legal_obligation").unwrap(),
            got
        );
    }
}
