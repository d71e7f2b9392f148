//! Typed identifiers. Ids are UUIDv7 (time-ordered, so inserts append to B-trees) and are
//! shown with a type prefix (`sub_…`, `rec_…`). They never derive from personal data.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// An id string that does not parse as the expected kind of id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a valid {kind} id (expected `{prefix}` followed by 32 hex digits)")]
pub struct IdParseError {
    kind: &'static str,
    prefix: &'static str,
    /// The offending input, cut short so an error never echoes a long string.
    shown: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix this id is shown with.
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The 16 raw bytes, as stored.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// Rebuilds an id from its 16 stored bytes.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// Rebuilds an id from a stored byte slice; `None` unless it is exactly 16 bytes.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; 16]>::try_from(bytes).ok().map(Self::from_bytes)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let err = || IdParseError {
                    kind: $kind,
                    prefix: $prefix,
                    shown: s.chars().take(48).collect(),
                };
                let hex = s.strip_prefix($prefix).ok_or_else(err)?;
                if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(err());
                }
                Uuid::try_parse(hex).map(Self).map_err(|_| err())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A data subject (a customer).
    SubjectId, "sub_", "subject"
);
typed_id!(
    /// One record of a collection (the profile or one of many records).
    RecordId, "rec_", "record"
);
typed_id!(
    /// One API request, for correlating logs and audit entries.
    RequestId, "req_", "request"
);
typed_id!(
    /// A principal (a service or a person holding an API key).
    PrincipalId, "prn_", "principal"
);
typed_id!(
    /// A signed consent receipt.
    ReceiptId, "rct_", "receipt"
);
typed_id!(
    /// A data-subject rights request. (`dsr_`, not `req_`: `req_` names an API request.)
    RightsRequestId, "dsr_", "rights request"
);
typed_id!(
    /// A queued notification (outbox message).
    MessageId, "msg_", "message"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = SubjectId::new();
        let text = id.to_string();
        assert!(text.starts_with("sub_"));
        assert_eq!(text.len(), 4 + 32);
        assert_eq!(text.parse::<SubjectId>(), Ok(id));
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        let rec = RecordId::new().to_string();
        assert!(rec.parse::<SubjectId>().is_err());
        assert!("sub_xyz".parse::<SubjectId>().is_err());
        assert!(
            "sub_0123456789abcdef0123456789abcdeg"
                .parse::<SubjectId>()
                .is_err()
        );
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = SubjectId::new();
        let b = SubjectId::new();
        assert!(a.as_bytes() < b.as_bytes());
    }

    #[test]
    fn bytes_round_trip() {
        let id = RecordId::new();
        assert_eq!(RecordId::from_slice(id.as_bytes()), Some(id));
        assert_eq!(RecordId::from_slice(&[1, 2, 3]), None);
    }
}
