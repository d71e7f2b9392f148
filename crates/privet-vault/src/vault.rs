//! The [`Vault`] handle: schema, store, keys and clock, checked against each other at open.

use std::sync::Arc;

use privet_audit::{Action, AuditEntry};
use privet_core::{Collection, CollectionKind, Grants, RequestId, Role, Schema};
use privet_crypto::{ApiKey, Keyring};
use privet_store::{ApiKeyRow, Op, Store, WriteSet};
use time::OffsetDateTime;

use crate::auth::ADMIN_PRINCIPAL;
use crate::{Clock, VaultError};

const INITIALIZED: &str = "initialized";

fn kcv_key(v: privet_crypto::KeyVersion) -> String {
    format!("kcv:{v}")
}

fn full_access(schema: &Schema) -> Grants {
    Grants::from_roles([&Role::full_access("vault", schema)])
}

/// Who is acting, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    /// A principal id, `admin`, or `cli`.
    pub id: String,
    /// The request, if the act came over HTTP.
    pub request_id: Option<RequestId>,
}

impl Actor {
    /// A local command-line user (whoever can read the key file).
    pub fn cli() -> Self {
        Self {
            id: "cli".into(),
            request_id: None,
        }
    }
}

/// The vault: every use case of Privet as a method. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) schema: Schema,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Keyring,
    pub(crate) clock: Arc<dyn Clock>,
    /// What every caller may read until principals and roles are wired in: every declared
    /// field, plain, for every purpose (consent, special-category and restriction rules
    /// still apply).
    pub(crate) grants: Grants,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens an initialised vault: refuses a master key that does not match the key-check
    /// values stored at `init` (a wrong key is caught here, before any decryption fails).
    pub async fn open(
        schema: Schema,
        store: Arc<dyn Store>,
        keys: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, VaultError> {
        if store.meta(INITIALIZED).await?.is_none() {
            return Err(VaultError::NotInitialized);
        }
        for v in keys.versions() {
            if let Some(stored) = store.meta(&kcv_key(v)).await? {
                keys.verify_key_check(v, &stored)
                    .map_err(VaultError::WrongKey)?;
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                grants: full_access(&schema),
                schema,
                store,
                keys,
                clock,
            }),
        })
    }

    /// Initialises an empty store: records the key-check values of the master key and
    /// registers a new admin API key, which is returned (the only time it is ever shown).
    pub async fn initialize(
        schema: Schema,
        store: Arc<dyn Store>,
        keys: Keyring,
        clock: Arc<dyn Clock>,
    ) -> Result<(Self, ApiKey), VaultError> {
        if store.meta(INITIALIZED).await?.is_some() {
            return Err(VaultError::BadRequest(
                "this store is already initialised".into(),
            ));
        }
        let now = clock.now();
        let mut w = WriteSet::new();
        for v in keys.versions() {
            let kcv = keys.key_check_value(v).map_err(VaultError::WrongKey)?;
            w = w.op(Op::PutMeta {
                key: kcv_key(v),
                value: kcv.to_vec(),
            });
        }
        let api_key = privet_crypto::generate_api_key();
        w = w.op(Op::PutApiKey(ApiKeyRow {
            prefix: api_key.prefix().to_owned(),
            hash: keys.api_key_hash(api_key.expose()).to_vec(),
            principal: ADMIN_PRINCIPAL.to_owned(),
            created_at: now,
            expires_at: None,
            revoked_at: None,
        }));
        w = w.op(Op::PutMeta {
            key: INITIALIZED.into(),
            value: now.unix_timestamp().to_be_bytes().to_vec(),
        });
        let mut entry = AuditEntry::new(now, "cli", Action::Admin);
        entry.reason = Some("vault_initialized".into());
        store.apply(w.audit(entry)).await?;
        let vault = Self {
            inner: Arc::new(Inner {
                grants: full_access(&schema),
                schema,
                store,
                keys,
                clock,
            }),
        };
        Ok((vault, api_key))
    }

    /// The schema this vault enforces.
    pub fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    /// The store (for health checks and audit reads).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), VaultError> {
        Ok(self.inner.store.ping().await?)
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    pub(crate) fn entry(&self, actor: &Actor, action: Action) -> AuditEntry {
        let mut e = AuditEntry::new(self.now(), actor.id.clone(), action);
        e.request_id = actor.request_id;
        e
    }

    pub(crate) fn profile(&self) -> Result<&Collection, VaultError> {
        self.inner.schema.profile().ok_or(VaultError::NoProfile)
    }

    pub(crate) fn records_collection(&self, name: &str) -> Result<&Collection, VaultError> {
        let c = self.collection(name)?;
        match c.kind {
            CollectionKind::Records => Ok(c),
            CollectionKind::Profile => Err(VaultError::WrongCollectionKind {
                collection: name.to_owned(),
                kind: "profile",
            }),
        }
    }

    pub(crate) fn collection(&self, name: &str) -> Result<&Collection, VaultError> {
        self.inner
            .schema
            .collection(name)
            .ok_or_else(|| VaultError::UnknownCollection(name.to_owned()))
    }

    pub(crate) fn purpose(&self, name: Option<&str>) -> Result<&privet_core::Purpose, VaultError> {
        let name = name
            .filter(|p| !p.is_empty())
            .ok_or(VaultError::MissingPurpose)?;
        self.inner
            .schema
            .purpose(name)
            .ok_or_else(|| VaultError::UnknownPurpose(name.to_owned()))
    }
}
