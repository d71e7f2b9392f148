//! The [`Vault`] handle: schema, store, keys and clock, checked against each other at open.

use std::sync::Arc;

use privet_audit::{Action, AuditEntry};
use privet_core::{Collection, CollectionKind, Grants, Role, Schema};
use privet_crypto::{ApiKey, Keyring};
use privet_store::{ApiKeyRow, Op, PrincipalRow, RoleRow, Store, WriteSet};
use time::OffsetDateTime;

use crate::auth::{ADMIN_PRINCIPAL, ADMIN_ROLE};
use crate::{Actor, Clock, VaultError};

const INITIALIZED: &str = "initialized";

pub(crate) fn kcv_key(v: privet_crypto::KeyVersion) -> String {
    format!("kcv:{v}")
}

/// The operator's grant: full access to the schema, plus administration.
fn operator_grants(schema: &Schema) -> Grants {
    let mut role = Role::full_access("operator", schema);
    role.admin = true;
    Grants::from_roles([&role])
}

/// The ops creating the admin principal and its role (see [`ADMIN_ROLE`]).
fn admin_ops(schema: &Schema, now: OffsetDateTime) -> Result<Vec<Op>, VaultError> {
    let mut role = Role::full_access(ADMIN_ROLE, schema);
    role.admin = true;
    Ok(vec![
        Op::PutRole(RoleRow {
            name: ADMIN_ROLE.into(),
            definition: crate::admin::encode_role(&role)?,
            created_at: now,
        }),
        Op::PutPrincipal(PrincipalRow {
            id: ADMIN_PRINCIPAL.into(),
            name: ADMIN_PRINCIPAL.into(),
            roles: vec![ADMIN_ROLE.into()],
            created_at: now,
            expires_at: None,
            revoked_at: None,
            suspended_at: None,
            suspension_reason: None,
        }),
    ])
}

/// The vault: every use case of Privet as a method. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
    /// Access monitoring, if this vault serves principals ([`Vault::with_monitor`]).
    pub(crate) monitor: Option<Arc<crate::Monitor>>,
    /// The signing keys ([`Vault::with_signers`]); none until given.
    pub(crate) signers: Arc<crate::Signers>,
    /// The regime of rights requests that name none ([`Vault::with_default_regime`]).
    pub(crate) default_regime: privet_core::Regime,
    /// The profile field notifications are addressed from ([`Vault::with_notify_recipient`]).
    pub(crate) recipient_field: Option<Arc<str>>,
}

pub(crate) struct Inner {
    pub(crate) schema: Schema,
    pub(crate) store: Arc<dyn Store>,
    /// The keyring in use: replaced whole when the key source is re-read after a rotation
    /// (see `keys::Keys`), never mutated in place.
    pub(crate) keys: crate::keys::Keys,
    pub(crate) clock: Arc<dyn Clock>,
    /// What the local operator is granted: every purpose and field, and administration.
    pub(crate) operator: Grants,
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
        if store.principal(ADMIN_PRINCIPAL).await?.is_none() {
            // A vault made before principals existed: give its admin key the admin role.
            let mut w = WriteSet::new();
            w.ops = admin_ops(&schema, clock.now())?;
            let mut entry = AuditEntry::new(clock.now(), "cli", Action::RoleUpdate);
            entry.reason = Some("admin_principal_created".into());
            store.apply(w.audit(entry)).await?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                operator: operator_grants(&schema),
                schema,
                store,
                keys: crate::keys::Keys::new(keys),
                clock,
            }),
            monitor: None,
            signers: Arc::default(),
            default_regime: privet_core::Regime::Gdpr,
            recipient_field: None,
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
        w.ops.extend(admin_ops(&schema, now)?);
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
                operator: operator_grants(&schema),
                schema,
                store,
                keys: crate::keys::Keys::new(keys),
                clock,
            }),
            monitor: None,
            signers: Arc::default(),
            default_regime: privet_core::Regime::Gdpr,
            recipient_field: None,
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
