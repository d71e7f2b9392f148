//! API-key authentication: keys are stored only as a keyed hash (HMAC-SHA256 under a secret
//! derived from the master key) and compared in constant time. A key authenticates its
//! principal only while neither the key nor the principal is revoked or expired and the
//! principal is not suspended (a suspended principal is told so: 403, not 401), and the
//! principal's roles are read from the store on every request, so a revocation or a role
//! change takes effect on the next request on every server.

use std::sync::Arc;

use privet_core::{Grants, RequestId, Role};
use privet_crypto::{api_key_prefix, constant_time_eq};
use privet_store::RoleRow;
use time::OffsetDateTime;

use crate::{Vault, VaultError};

/// The principal holding the key made by `privet init`.
pub const ADMIN_PRINCIPAL: &str = "admin";

/// The role `privet init` gives the admin principal: administers the vault and, until an
/// operator narrows it (`privet role create --replace admin …`), reads every field for every
/// purpose (consent, special-category and restriction rules still apply).
pub const ADMIN_ROLE: &str = "admin";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Principal id (`admin` for the init key, `prn_…` for others).
    pub id: String,
    /// Its name.
    pub name: String,
    /// What its roles grant.
    pub grants: Arc<Grants>,
}

/// Who is acting, for the policy and the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    /// A principal id, or `cli` for the local operator.
    pub id: String,
    /// The request, if the act came over HTTP.
    pub request_id: Option<RequestId>,
    pub(crate) authority: Authority,
}

#[derive(Debug, Clone)]
pub(crate) enum Authority {
    /// Whoever runs `privet` with the vault's key files: administers, and reads every field
    /// for every purpose (the policy's data rules still apply).
    Operator,
    /// An API caller, with what its roles grant.
    Principal(Arc<Grants>),
}

impl Actor {
    /// The local command-line operator (whoever can read the key files).
    pub fn cli() -> Self {
        Self {
            id: "cli".into(),
            request_id: None,
            authority: Authority::Operator,
        }
    }

    /// An authenticated API caller.
    pub fn principal(p: &Principal, request_id: Option<RequestId>) -> Self {
        Self {
            id: p.id.clone(),
            request_id,
            authority: Authority::Principal(p.grants.clone()),
        }
    }
}

pub(crate) fn expired(at: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    at.is_some_and(|t| t <= now)
}

/// Decodes stored role definitions. A definition that does not decode is tampering or a
/// bug: it fails closed (the caller gets nothing from it) and is logged.
pub(crate) fn decode_roles(rows: &[RoleRow]) -> Result<Vec<Role>, VaultError> {
    rows.iter()
        .map(|r| {
            serde_json::from_slice::<Role>(&r.definition).map_err(|e| {
                tracing::error!(role = %r.name, error = %e, "stored role does not decode");
                VaultError::Integrity {
                    context: format!("role {}", r.name),
                }
            })
        })
        .collect()
}

impl Vault {
    /// Authenticates a presented API key. Every failure is the same `Unauthorized`, and the
    /// keyed hash is computed even when the prefix is unknown, so timing tells nothing.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, VaultError> {
        let hash = self.keys().api_key_hash(presented);
        let Some(prefix) = api_key_prefix(presented) else {
            return Err(VaultError::Unauthorized);
        };
        let now = self.now();
        let key = match self.inner.store.api_key(prefix).await? {
            Some(row)
                if constant_time_eq(&row.hash, &hash)
                    && row.revoked_at.is_none()
                    && !expired(row.expires_at, now) =>
            {
                row
            }
            _ => return Err(VaultError::Unauthorized),
        };
        let Some((principal, roles)) = self.inner.store.principal_grants(&key.principal).await?
        else {
            return Err(VaultError::Unauthorized);
        };
        if principal.revoked_at.is_some() || expired(principal.expires_at, now) {
            return Err(VaultError::Unauthorized);
        }
        if principal.suspended_at.is_some() {
            return Err(VaultError::Suspended(principal.id));
        }
        let roles = decode_roles(&roles)?;
        Ok(Principal {
            id: principal.id,
            name: principal.name,
            grants: Arc::new(Grants::from_roles(&roles)),
        })
    }

    /// What `actor` is granted.
    pub(crate) fn grants<'a>(&'a self, actor: &'a Actor) -> &'a Grants {
        match &actor.authority {
            Authority::Operator => &self.inner.operator,
            Authority::Principal(g) => g,
        }
    }

    /// Fails with `NotAdmin` unless `actor` may administer the vault. A refusal is a
    /// decision like any other: it is on the audit trail (decision `denied`, reason
    /// `not_admin`) before the caller hears of it, and access monitoring counts it.
    pub(crate) async fn require_admin(&self, actor: &Actor) -> Result<(), VaultError> {
        if self.grants(actor).is_admin() {
            return Ok(());
        }
        let mut e = self.entry(actor, privet_audit::Action::Admin);
        e.decision = privet_audit::Decision::Denied;
        e.reason = Some("not_admin".into());
        self.inner
            .store
            .apply(privet_store::WriteSet::new().audit(e))
            .await?;
        self.observe_refusal_detached(actor);
        Err(VaultError::NotAdmin)
    }
}
