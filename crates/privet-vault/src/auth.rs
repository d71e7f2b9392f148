//! API-key authentication: keys are stored only as a keyed hash (HMAC-SHA256 under a secret
//! derived from the master key) and compared in constant time.

use privet_crypto::{api_key_prefix, constant_time_eq};

use crate::{Vault, VaultError};

/// The principal holding the key made by `privet init`.
pub const ADMIN_PRINCIPAL: &str = "admin";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Principal id (`admin` for the init key).
    pub id: String,
}

impl Vault {
    /// Authenticates a presented API key. Every failure is the same `Unauthorized`, and the
    /// keyed hash is computed even when the prefix is unknown, so timing tells nothing.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, VaultError> {
        let hash = self.inner.keys.api_key_hash(presented);
        let Some(prefix) = api_key_prefix(presented) else {
            return Err(VaultError::Unauthorized);
        };
        let row = self.inner.store.api_key(prefix).await?;
        match row {
            Some(row) if constant_time_eq(&row.hash, &hash) && row.revoked_at.is_none() => {
                Ok(Principal { id: row.principal })
            }
            _ => Err(VaultError::Unauthorized),
        }
    }
}
