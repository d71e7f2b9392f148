//! The privacy portal's tokens: single-use links an application asks for on behalf of a
//! customer, the sessions those links are exchanged for, and the CSRF tokens of a session.
//!
//! Every token is HMAC-SHA256 under the portal key (HKDF from the master key, see
//! [`privet_crypto::PortalKey`]) over a fixed-layout payload: a version byte, a random
//! 128-bit id, the subject id and the expiry. Tokens carry no personal data — the subject id is
//! a random pseudonymous id — and verify statelessly on any server. What must be shared
//! between servers lives in the store: the ids of links already used and of sessions ended
//! ([`privet_store::Op::SpendPortalToken`]), so a link works once however many servers serve
//! the portal, and a signed-out session stays out.
//!
//! Portal actions act as the customer: their audit entries name the actor `portal:sub_…`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use privet_audit::{Action, Decision};
use privet_core::{Grants, RequestId, SubjectId};
use privet_crypto::{PORTAL_TAG_LEN, PortalKey};
use privet_store::{Op, StoreError, WriteSet};
use time::{Duration, OffsetDateTime};

use crate::{Actor, Vault, VaultError};

/// How long a portal link is valid unless configured otherwise.
pub const DEFAULT_LINK_TTL: Duration = Duration::minutes(15);
/// The longest validity a link may be given.
pub const MAX_LINK_TTL: Duration = Duration::hours(24);
/// How long a portal session lasts unless configured otherwise (absolute, from sign-in).
pub const DEFAULT_SESSION_TTL: Duration = Duration::minutes(30);

const LINK_VERSION: u8 = 1;
const SESSION_VERSION: u8 = 2;
const PAYLOAD_LEN: usize = 1 + 16 + 16 + 8;

/// Why a portal link or session was refused. The customer is told which (so they know to
/// ask for a new link) but nothing else; no data is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortalRefusal {
    /// Malformed, or not signed by this vault's portal key.
    #[error("the link is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the link has expired")]
    Expired,
    /// Already used (links are single-use), or the session was ended.
    #[error("the link was already used")]
    Used,
}

/// A single-use portal link's token and its expiry.
#[derive(Clone)]
pub struct PortalLink {
    /// The token, URL-safe; put it in the link's path.
    pub token: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for PortalLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalLink")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A signed-in portal session: the customer it acts for, until when.
#[derive(Clone)]
pub struct PortalSession {
    id: [u8; 16],
    /// The customer.
    pub subject: SubjectId,
    /// When the session ends by itself.
    pub expires_at: OffsetDateTime,
    key: Arc<PortalKey>,
}

impl std::fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSession")
            .field("subject", &self.subject)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PortalSession {
    /// The session cookie's value.
    pub fn cookie_value(&self) -> String {
        encode(
            &self.key,
            "session",
            SESSION_VERSION,
            self.id,
            self.subject,
            self.expires_at,
        )
    }

    /// The CSRF token of this session (the same on every page of it): a MAC of the session
    /// id, so it cannot be made without the key nor reused in another session.
    pub fn csrf_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.tag("csrf", &self.id))
    }

    /// Whether `presented` is this session's CSRF token (constant-time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(presented.trim()) {
            Ok(tag) => self.key.verify("csrf", &self.id, &tag),
            Err(_) => false,
        }
    }

    /// The actor portal actions are recorded under: the customer themself (`portal:sub_…`),
    /// granted nothing through the API's roles.
    pub fn actor(&self, request_id: Option<RequestId>) -> Actor {
        Actor::portal(self.subject, request_id)
    }

    fn id_text(&self) -> String {
        format!("ses_{}", hex(&self.id))
    }
}

impl Actor {
    /// A customer acting through the privacy portal: recorded as `portal:sub_…`, holding no
    /// role (every portal use case checks the session itself).
    pub fn portal(subject: SubjectId, request_id: Option<RequestId>) -> Self {
        Self {
            id: format!("portal:{subject}"),
            request_id,
            authority: crate::auth::Authority::Principal(Arc::new(Grants::default())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn encode(
    key: &PortalKey,
    context: &str,
    version: u8,
    id: [u8; 16],
    subject: SubjectId,
    expires_at: OffsetDateTime,
) -> String {
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.push(version);
    payload.extend_from_slice(&id);
    payload.extend_from_slice(subject.as_bytes());
    payload.extend_from_slice(&expires_at.unix_timestamp().to_be_bytes());
    let tag = key.tag(context, &payload);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// A verified token: id, subject, expiry (not yet checked against the clock).
struct Decoded {
    id: [u8; 16],
    subject: SubjectId,
    expires_at: OffsetDateTime,
}

fn decode(
    key: &PortalKey,
    context: &str,
    version: u8,
    token: &str,
) -> Result<Decoded, PortalRefusal> {
    // A token is short; anything long is refused before any work.
    if token.len() > 200 {
        return Err(PortalRefusal::Invalid);
    }
    let (payload, tag) = token.split_once('.').ok_or(PortalRefusal::Invalid)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| PortalRefusal::Invalid)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| PortalRefusal::Invalid)?;
    if payload.len() != PAYLOAD_LEN || tag.len() != PORTAL_TAG_LEN {
        return Err(PortalRefusal::Invalid);
    }
    // The MAC first: nothing of an unsigned payload is interpreted.
    if !key.verify(context, &payload, &tag) || payload[0] != version {
        return Err(PortalRefusal::Invalid);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&payload[1..17]);
    let subject = SubjectId::from_slice(&payload[17..33]).ok_or(PortalRefusal::Invalid)?;
    let mut secs = [0u8; 8];
    secs.copy_from_slice(&payload[33..41]);
    let expires_at = OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(secs))
        .map_err(|_| PortalRefusal::Invalid)?;
    Ok(Decoded {
        id,
        subject,
        expires_at,
    })
}

impl Vault {
    fn portal_key(&self) -> Result<Arc<PortalKey>, VaultError> {
        self.keys()
            .portal_key()
            .map(Arc::new)
            .ok_or_else(|| VaultError::Integrity {
                context: "no master key for the portal".into(),
            })
    }

    fn portal_entry(
        &self,
        actor: &Actor,
        subject: SubjectId,
        reason: &str,
    ) -> privet_audit::AuditEntry {
        let mut e = self.entry(actor, Action::Admin);
        e.subject = Some(subject);
        e.decision = Decision::Allowed;
        e.reason = Some(reason.to_owned());
        e
    }

    /// Issues a single-use portal link for `subject`, valid for `ttl` (at most
    /// [`MAX_LINK_TTL`]). Needs an admin. Audited (`portal_link_issued`).
    pub async fn issue_portal_link(
        &self,
        actor: &Actor,
        subject: SubjectId,
        ttl: Duration,
    ) -> Result<PortalLink, VaultError> {
        self.require_admin(actor).await?;
        if ttl <= Duration::ZERO || ttl > MAX_LINK_TTL {
            return Err(VaultError::BadRequest(
                "a portal link's validity must be between 1 second and 24 hours".into(),
            ));
        }
        let key = self.portal_key()?;
        let expires_at = self.now() + ttl;
        let token = encode(
            &key,
            "link",
            LINK_VERSION,
            privet_crypto::random_portal_id(),
            subject,
            expires_at,
        );
        let w = WriteSet::new()
            .op(Op::RequireSubject(subject))
            .audit(self.portal_entry(actor, subject, "portal_link_issued"));
        self.inner.store.apply(w).await?;
        Ok(PortalLink { token, expires_at })
    }

    /// Exchanges a portal link for a session lasting `session_ttl`: verifies the signature
    /// and expiry, and spends the link in the store (so it works once, across servers), in
    /// one transaction with the audit entry (`portal_session_started`, actor `portal:sub_…`).
    /// With `gpc` (the browser sent `Sec-GPC: 1`), the opt-outs it asks for are recorded in
    /// the same transaction.
    pub async fn open_portal_link(
        &self,
        token: &str,
        session_ttl: Duration,
        gpc: bool,
        request_id: Option<RequestId>,
    ) -> Result<PortalSession, VaultError> {
        let key = self.portal_key()?;
        let link = decode(&key, "link", LINK_VERSION, token).map_err(VaultError::Portal)?;
        let now = self.now();
        if now >= link.expires_at {
            return Err(VaultError::Portal(PortalRefusal::Expired));
        }
        let actor = Actor::portal(link.subject, request_id);
        let mut w = WriteSet::new()
            .op(Op::RequireSubject(link.subject))
            .op(Op::SpendPortalToken {
                id: format!("lnk_{}", hex(&link.id)),
                expires_at: link.expires_at,
                at: now,
            })
            .audit(self.portal_entry(&actor, link.subject, "portal_session_started"));
        if gpc {
            let events = self.consent_events(&actor, Vec::new(), true)?;
            self.stage_consents(&mut w, &actor, link.subject, &events);
        }
        match self.inner.store.apply(w).await {
            Ok(_) => {}
            Err(StoreError::AlreadyExists(_)) => {
                return Err(VaultError::Portal(PortalRefusal::Used));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(PortalSession {
            id: privet_crypto::random_portal_id(),
            subject: link.subject,
            expires_at: now + session_ttl,
            key,
        })
    }

    /// The session a cookie value stands for, if it is signed, unexpired and not ended.
    pub async fn portal_session(&self, cookie: &str) -> Result<PortalSession, VaultError> {
        let key = self.portal_key()?;
        let s = decode(&key, "session", SESSION_VERSION, cookie).map_err(VaultError::Portal)?;
        if self.now() >= s.expires_at {
            return Err(VaultError::Portal(PortalRefusal::Expired));
        }
        let session = PortalSession {
            id: s.id,
            subject: s.subject,
            expires_at: s.expires_at,
            key,
        };
        if self
            .inner
            .store
            .portal_token_spent(&session.id_text())
            .await?
        {
            return Err(VaultError::Portal(PortalRefusal::Used));
        }
        Ok(session)
    }

    /// Ends a session on every server (its id is spent in the store). Audited
    /// (`portal_session_ended`).
    pub async fn end_portal_session(
        &self,
        session: &PortalSession,
        request_id: Option<RequestId>,
    ) -> Result<(), VaultError> {
        let actor = session.actor(request_id);
        let mut entry = self.portal_entry(&actor, session.subject, "portal_session_ended");
        entry.subject = Some(session.subject);
        let w = WriteSet::new()
            .op(Op::SpendPortalToken {
                id: session.id_text(),
                expires_at: session.expires_at,
                at: self.now(),
            })
            .audit(entry);
        match self.inner.store.apply(w).await {
            Ok(_) | Err(StoreError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> PortalKey {
        privet_crypto::Keyring::from_master_keys(
            [(
                privet_crypto::KeyVersion(1),
                privet_crypto::MasterKey::from_bytes(&[b; 32]),
            )]
            .into_iter()
            .collect(),
        )
        .unwrap()
        .portal_key()
        .unwrap()
    }

    #[test]
    fn a_token_verifies_only_under_its_key_context_and_version() {
        let (k, other) = (key(1), key(2));
        let subject = SubjectId::new();
        let at = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let t = encode(&k, "link", LINK_VERSION, [9; 16], subject, at);
        let d = decode(&k, "link", LINK_VERSION, &t).unwrap();
        assert_eq!((d.id, d.subject, d.expires_at), ([9; 16], subject, at));
        assert_eq!(
            decode(&other, "link", LINK_VERSION, &t).err(),
            Some(PortalRefusal::Invalid)
        );
        assert_eq!(
            decode(&k, "session", LINK_VERSION, &t).err(),
            Some(PortalRefusal::Invalid)
        );
        assert_eq!(
            decode(&k, "link", SESSION_VERSION, &t).err(),
            Some(PortalRefusal::Invalid)
        );
        // Any changed character of the payload or the tag is refused.
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            if b[i] == b'.' {
                continue;
            }
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(b).unwrap();
            if forged != t {
                assert!(
                    decode(&k, "link", LINK_VERSION, &forged).is_err(),
                    "byte {i}"
                );
            }
        }
        for junk in ["", ".", "abc", "a.b", &"x".repeat(500)] {
            assert_eq!(
                decode(&k, "link", LINK_VERSION, junk).err(),
                Some(PortalRefusal::Invalid)
            );
        }
    }
}
