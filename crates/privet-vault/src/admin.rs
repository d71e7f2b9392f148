//! Administration: roles (what a holder may see, for which purposes, and how) and principals
//! (services or people holding API keys). Every change is audited; keys are shown once.

use privet_audit::Action;
use privet_core::{PrincipalId, Role};
use privet_crypto::ApiKey;
use privet_store::{ApiKeyRow, Op, PrincipalRow, RoleRow, StoreError, WriteSet};
use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::{decode_roles, expired};
use crate::{Actor, Vault, VaultError};

/// Longest principal name.
pub const MAX_PRINCIPAL_NAME_LEN: usize = 128;

pub(crate) fn encode_role(role: &Role) -> Result<Vec<u8>, VaultError> {
    serde_json::to_vec(role).map_err(|e| VaultError::Integrity {
        context: format!("encoding role {}: {e}", role.name),
    })
}

/// A principal as `GET /v1/principals` lists it: its roles and what they grant.
#[derive(Debug, Clone, Serialize)]
pub struct PrincipalInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its roles (as stored; a role that no longer exists grants nothing).
    pub roles: Vec<String>,
    /// Whether one of its roles may administer the vault.
    pub admin: bool,
    /// The purposes its roles grant (with some field), sorted.
    pub purposes: Vec<String>,
    /// `active`, `suspended`, `expired` or `revoked`.
    pub status: &'static str,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Expiry, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Revocation time, if revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Suspension time, if suspended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub suspended_at: Option<OffsetDateTime>,
    /// Why it was suspended (e.g. `distinct_subjects`), if it is.
    pub suspension_reason: Option<String>,
}

/// A principal just created, with its API key (shown only this once).
#[derive(Debug)]
pub struct NewPrincipal {
    /// Its id.
    pub id: String,
    /// The API key.
    pub api_key: ApiKey,
}

fn check_name(name: &str) -> Result<(), VaultError> {
    let n = name.chars().count();
    if n == 0
        || n > MAX_PRINCIPAL_NAME_LEN
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        return Err(VaultError::BadRequest(format!(
            "a principal name must be 1 to {MAX_PRINCIPAL_NAME_LEN} printable characters without spaces at either end"
        )));
    }
    Ok(())
}

impl Vault {
    /// Creates a role, or with `replace` replaces an existing one (effective on the next
    /// request of every holder). The role is checked against the schema first.
    pub async fn put_role(
        &self,
        actor: &Actor,
        role: Role,
        replace: bool,
    ) -> Result<(), VaultError> {
        self.require_admin(actor).await?;
        role.check(&self.inner.schema)
            .map_err(VaultError::InvalidRole)?;
        let row = RoleRow {
            name: role.name.clone(),
            definition: encode_role(&role)?,
            created_at: self.now(),
        };
        let mut entry = self.entry(actor, Action::RoleUpdate);
        entry.reason = Some(format!(
            "{}:{}",
            if replace { "replaced" } else { "created" },
            role.name
        ));
        entry.purpose = None;
        let op = if replace {
            Op::ReplaceRole(row)
        } else {
            Op::PutRole(row)
        };
        match self
            .inner
            .store
            .apply(WriteSet::new().op(op).audit(entry))
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::AlreadyExists(_)) => {
                Err(VaultError::AlreadyExists(format!("role `{}`", role.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One role.
    pub async fn role(&self, actor: &Actor, name: &str) -> Result<Role, VaultError> {
        self.require_admin(actor).await?;
        let row = self
            .inner
            .store
            .role(name)
            .await?
            .ok_or_else(|| VaultError::RoleNotFound(name.to_owned()))?;
        Ok(decode_roles(std::slice::from_ref(&row))?.remove(0))
    }

    /// Every role, by name.
    pub async fn roles(&self, actor: &Actor) -> Result<Vec<Role>, VaultError> {
        self.require_admin(actor).await?;
        decode_roles(&self.inner.store.roles().await?)
    }

    /// Creates a principal holding `roles` (which must exist) with a fresh API key, shown
    /// only in the return value; stored only as its keyed hash.
    pub async fn create_principal(
        &self,
        actor: &Actor,
        name: &str,
        roles: &[String],
        expires_at: Option<OffsetDateTime>,
    ) -> Result<NewPrincipal, VaultError> {
        self.require_admin(actor).await?;
        check_name(name)?;
        let now = self.now();
        if let Some(at) = expires_at
            && at <= now
        {
            return Err(VaultError::BadRequest(
                "expires_at is not in the future".into(),
            ));
        }
        if roles.is_empty() {
            return Err(VaultError::BadRequest(
                "a principal needs at least one role".into(),
            ));
        }
        for r in roles {
            if self.inner.store.role(r).await?.is_none() {
                return Err(VaultError::RoleNotFound(r.clone()));
            }
        }
        let id = PrincipalId::new().to_string();
        let api_key = privet_crypto::generate_api_key();
        let mut entry = self.entry(actor, Action::PrincipalCreate);
        entry.reason = Some(format!("principal:{id}"));
        let w = WriteSet::new()
            .op(Op::PutPrincipal(PrincipalRow {
                id: id.clone(),
                name: name.to_owned(),
                roles: roles.to_vec(),
                created_at: now,
                expires_at,
                revoked_at: None,
                suspended_at: None,
                suspension_reason: None,
            }))
            .op(Op::PutApiKey(ApiKeyRow {
                prefix: api_key.prefix().to_owned(),
                hash: self.keys().api_key_hash(api_key.expose()).to_vec(),
                principal: id.clone(),
                created_at: now,
                expires_at,
                revoked_at: None,
            }))
            .audit(entry);
        match self.inner.store.apply(w).await {
            Ok(_) => Ok(NewPrincipal { id, api_key }),
            Err(StoreError::AlreadyExists(_)) => Err(VaultError::AlreadyExists(format!(
                "principal named `{name}`"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every principal, oldest first, with what its roles grant.
    pub async fn principals(&self, actor: &Actor) -> Result<Vec<PrincipalInfo>, VaultError> {
        self.require_admin(actor).await?;
        let now = self.now();
        let rows = self.inner.store.principals().await?;
        let mut out = Vec::with_capacity(rows.len());
        for p in rows {
            let roles = match self.inner.store.principal_grants(&p.id).await? {
                Some((_, roles)) => decode_roles(&roles)?,
                None => Vec::new(),
            };
            let mut purposes: Vec<String> = roles
                .iter()
                .flat_map(|r| r.purposes.iter().cloned())
                .collect();
            purposes.sort();
            purposes.dedup();
            let status = if p.revoked_at.is_some() {
                "revoked"
            } else if expired(p.expires_at, now) {
                "expired"
            } else if p.suspended_at.is_some() {
                "suspended"
            } else {
                "active"
            };
            out.push(PrincipalInfo {
                admin: roles.iter().any(|r| r.admin),
                purposes,
                status,
                id: p.id,
                name: p.name,
                roles: p.roles,
                created_at: p.created_at,
                expires_at: p.expires_at,
                revoked_at: p.revoked_at,
                suspended_at: p.suspended_at,
                suspension_reason: p.suspension_reason,
            });
        }
        Ok(out)
    }

    /// Revokes a principal and every key of it, effective on the next request everywhere.
    pub async fn revoke_principal(&self, actor: &Actor, id: &str) -> Result<(), VaultError> {
        self.require_admin(actor).await?;
        let mut entry = self.entry(actor, Action::PrincipalRevoke);
        entry.reason = Some(format!("principal:{id}"));
        let w = WriteSet::new()
            .op(Op::RevokePrincipal {
                id: id.to_owned(),
                at: self.now(),
            })
            .audit(entry);
        self.inner.store.apply(w).await?;
        Ok(())
    }

    /// Lifts a principal's suspension, effective on its next request everywhere (nothing to
    /// do, but still on the record, if it is not suspended).
    pub async fn unsuspend_principal(&self, actor: &Actor, id: &str) -> Result<(), VaultError> {
        self.require_admin(actor).await?;
        let mut entry = self.entry(actor, Action::PrincipalUnsuspend);
        entry.reason = Some(format!("principal:{id}"));
        let w = WriteSet::new()
            .op(Op::LiftSuspension { id: id.to_owned() })
            .audit(entry);
        self.inner.store.apply(w).await?;
        Ok(())
    }
}
