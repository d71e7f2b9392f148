//! Master-key rotation as a use case: what each version still protects, re-wrapping every
//! wrapped key under the current version, re-computing blind-index entries keyed from an
//! older version, and retiring a version nothing uses any more.
//!
//! Everything runs online, in batches of one transaction each. Each batch carries an
//! optimistic check (a key is re-wrapped only if it is still under the version read; a record
//! is re-indexed only if it is still at the version decrypted), so a concurrent write or
//! erasure always wins and the batch never undoes it. Nothing is remembered between batches
//! but what the store shows (keys under old versions, entries keyed from old versions), so a
//! run that was killed is resumed by running it again.

use std::collections::BTreeMap;

use privet_audit::{Action, AuditEntry};
use privet_core::RecordId;
use privet_crypto::{KeyVersion, WrappedKey};
use privet_store::{IndexEntry, KeyTable, Op, SubjectData, WriteSet};

use crate::seal::index_entry;
use crate::vault::kcv_key;
use crate::{Vault, VaultError};

/// Passes over the keys before a re-wrap gives up: a pass only finds keys again if a server
/// still on an old keyring wrapped them meanwhile.
const MAX_PASSES: usize = 5;

/// Store metadata: the master-key version the latest rotation made current (u32 BE).
const CURRENT_VERSION: &str = "keys:current";

/// How many keys of one table a version wraps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTableCount {
    /// The table (`subject_keys`, …).
    pub table: &'static str,
    /// Keys it holds wrapped under the version.
    pub count: u64,
}

/// What one master-key version is used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStatus {
    /// The version.
    pub version: KeyVersion,
    /// Whether the key source holds it (a version the store uses but the source lacks makes
    /// data unreadable).
    pub held: bool,
    /// Whether it wraps new keys and keys new blind-index entries.
    pub current: bool,
    /// Whether API-key hashes and tokens are keyed from it (the lowest version held).
    pub keys_api_keys_and_tokens: bool,
    /// Wrapped keys under it, per table.
    pub wrapped: Vec<KeyTableCount>,
    /// Blind-index entries keyed from it.
    pub index_entries: u64,
}

impl VersionStatus {
    /// Wrapped keys under this version, all tables together.
    pub fn wrapped_total(&self) -> u64 {
        self.wrapped.iter().map(|c| c.count).sum()
    }

    /// Why this version may not be retired, if it may not.
    pub fn in_use(&self) -> Option<String> {
        let mut uses = Vec::new();
        if self.current {
            uses.push("it is the current version".to_owned());
        }
        if self.keys_api_keys_and_tokens {
            uses.push(
                "API-key hashes and tokens are keyed from it (the lowest version held)".to_owned(),
            );
        }
        for c in &self.wrapped {
            if c.count > 0 {
                uses.push(format!("{} {} are wrapped under it", c.count, c.table));
            }
        }
        if self.index_entries > 0 {
            uses.push(format!(
                "{} blind-index entries are keyed from it",
                self.index_entries
            ));
        }
        (!uses.is_empty()).then(|| uses.join("; "))
    }
}

/// Every master-key version the key source holds or the store uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// By ascending version.
    pub versions: Vec<VersionStatus>,
}

impl KeyStatus {
    /// Whether a rotation to the current version is unfinished: keys or index entries under
    /// an older version remain.
    pub fn pending(&self) -> bool {
        self.versions
            .iter()
            .any(|v| !v.current && (v.wrapped_total() > 0 || v.index_entries > 0))
    }
}

/// Progress of a rotation, reported after every batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationProgress {
    /// What is being done: `subject_keys` (re-wrap) or `blind_index` (re-index).
    pub phase: &'static str,
    /// Items done in this phase so far.
    pub done: u64,
    /// Items to do in this phase, as counted when it started.
    pub total: u64,
}

/// What a rotation run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationSummary {
    /// Keys re-wrapped, per table.
    pub rewrapped: BTreeMap<&'static str, u64>,
    /// Records re-indexed.
    pub reindexed: u64,
}

impl Vault {
    /// What every version is used for: wrapped keys per table, blind-index entries, and
    /// which keys API-key hashes and tokens.
    pub async fn key_status(&self) -> Result<KeyStatus, VaultError> {
        let keys = self.keys();
        let store = &self.inner.store;
        let mut versions: BTreeMap<u32, VersionStatus> = keys
            .versions()
            .into_iter()
            .map(|v| (v.0, blank(v, true)))
            .collect();
        for &table in KeyTable::ALL {
            for (v, count) in store.wrapped_key_counts(table).await? {
                let s = versions
                    .entry(v)
                    .or_insert_with(|| blank(KeyVersion(v), false));
                s.wrapped.push(KeyTableCount {
                    table: table.name(),
                    count,
                });
            }
        }
        for (v, count) in store.index_version_counts().await? {
            versions
                .entry(v)
                .or_insert_with(|| blank(KeyVersion(v), false))
                .index_entries = count;
        }
        for s in versions.values_mut() {
            s.current = s.version == keys.current();
            s.keys_api_keys_and_tokens = s.version == keys.lowest();
            // Every table, in `KeyTable::ALL` order for every version (`keys status` prints
            // them as columns).
            s.wrapped = KeyTable::ALL
                .iter()
                .map(|t| KeyTableCount {
                    table: t.name(),
                    count: s
                        .wrapped
                        .iter()
                        .find(|c| c.table == t.name())
                        .map_or(0, |c| c.count),
                })
                .collect();
        }
        Ok(KeyStatus {
            versions: versions.into_values().collect(),
        })
    }

    /// Whether the store holds the key-check value of `version` (a rotation to it began).
    pub async fn key_check_stored(&self, version: KeyVersion) -> Result<bool, VaultError> {
        Ok(self.inner.store.meta(&kcv_key(version)).await?.is_some())
    }

    /// Starts (or resumes) a rotation to the current version: stores its key-check value if
    /// the store does not hold it yet (a version just added to the key source), and records
    /// the start on the audit trail. Returns whether the version was new to the store.
    pub async fn begin_rotation(&self) -> Result<bool, VaultError> {
        let keys = self.keys();
        let current = keys.current();
        let key = kcv_key(current);
        let new = match self.inner.store.meta(&key).await? {
            Some(stored) => {
                keys.verify_key_check(current, &stored)
                    .map_err(VaultError::WrongKey)?;
                false
            }
            None => true,
        };
        let mut w = WriteSet::new();
        if new {
            let kcv = keys
                .key_check_value(current)
                .map_err(VaultError::WrongKey)?;
            w = w.op(Op::PutMeta {
                key,
                value: kcv.to_vec(),
            });
        }
        // Tells servers still on the old keyring, at their next lookup, to re-read it (see
        // `lookup_term`), before any index entry is re-keyed.
        w = w.op(Op::PutMeta {
            key: CURRENT_VERSION.into(),
            value: current.0.to_be_bytes().to_vec(),
        });
        let what = if new { "started" } else { "resumed" };
        w = w.audit(self.admin_entry(format!("key_rotation_{what}:{current}"), None));
        self.inner.store.apply(w).await?;
        Ok(new)
    }

    /// Re-wraps every key under an older version than the current one, then re-computes
    /// every blind-index entry keyed from an older version, in batches of `batch`, reporting
    /// progress after each; records the end on the audit trail. Safe to run while servers
    /// serve, and to run again after it was interrupted.
    pub async fn finish_rotation(
        &self,
        batch: u32,
        progress: &mut (dyn FnMut(RotationProgress) + Send),
    ) -> Result<RotationSummary, VaultError> {
        let batch = batch.max(1);
        let current = self.keys().current();
        let mut summary = RotationSummary::default();
        for &table in KeyTable::ALL {
            let n = self.rewrap_table(table, batch, progress).await?;
            summary.rewrapped.insert(table.name(), n);
        }
        summary.reindexed = self.reindex(batch, progress).await?;
        let status = self.key_status().await?;
        if status.pending() {
            return Err(VaultError::BadRequest(format!(
                "keys or index entries under versions older than {current} remain after \
                 {MAX_PASSES} passes: a server is probably still using an old key file; \
                 check that every server has the new key file, then run the rotation again"
            )));
        }
        let total = summary.rewrapped.values().sum::<u64>();
        let mut e = self.admin_entry(format!("key_rotation_finished:{current}"), Some(total));
        e.fields = vec![format!("reindexed_records={}", summary.reindexed)];
        self.inner.store.apply(WriteSet::new().audit(e)).await?;
        Ok(summary)
    }

    async fn rewrap_table(
        &self,
        table: KeyTable,
        batch: u32,
        progress: &mut (dyn FnMut(RotationProgress) + Send),
    ) -> Result<u64, VaultError> {
        let mut done = 0;
        for _ in 0..MAX_PASSES {
            let current = self.keys().current();
            let old: Vec<(u32, u64)> = self
                .inner
                .store
                .wrapped_key_counts(table)
                .await?
                .into_iter()
                .filter(|(v, _)| *v < current.0)
                .collect();
            if old.is_empty() {
                break;
            }
            let total = done + old.iter().map(|(_, n)| n).sum::<u64>();
            for (version, _) in old {
                let mut after = None;
                loop {
                    let page = self
                        .inner
                        .store
                        .wrapped_keys(table, version, after.clone(), batch)
                        .await?;
                    let Some(last) = page.last() else { break };
                    after = Some((last.subject, last.slot.clone()));
                    done += self.rewrap_page(table, page).await?;
                    progress(RotationProgress {
                        phase: table.name(),
                        done,
                        total,
                    });
                }
            }
        }
        Ok(done)
    }

    /// Re-wraps one page of keys in one transaction, with one audit entry.
    async fn rewrap_page(
        &self,
        table: KeyTable,
        page: Vec<privet_store::WrappedKeyRow>,
    ) -> Result<u64, VaultError> {
        let keys = self.keys();
        let to = keys.current();
        let mut w = WriteSet::new();
        let mut from_versions = Vec::new();
        for row in page {
            let wrapped = WrappedKey {
                version: KeyVersion(row.key_version),
                bytes: row.wrapped_key,
            };
            // Each table binds its keys to their own AAD: a retained key's names its class.
            let key = match table {
                KeyTable::Subjects => keys.unwrap_subject_key(&row.subject, &wrapped),
                KeyTable::Retained => keys.unwrap_class_key(&row.subject, &row.slot, &wrapped),
            }
            .map_err(|e| {
                tracing::error!(subject = %row.subject, slot = %row.slot, error = %e, "key failed to unwrap");
                VaultError::Integrity {
                    context: format!("{} of subject {}", table.name(), row.subject),
                }
            })?;
            let wrapped = match table {
                KeyTable::Subjects => keys.wrap_subject_key(&row.subject, &key),
                KeyTable::Retained => keys.wrap_class_key(&row.subject, &row.slot, &key),
            }
            .map_err(|e| VaultError::Integrity {
                context: format!("wrapping {} of {}: {e}", table.name(), row.subject),
            })?;
            if !from_versions.contains(&row.key_version) {
                from_versions.push(row.key_version);
            }
            w = w.op(Op::RewrapKey {
                table,
                subject: row.subject,
                slot: row.slot,
                from_version: row.key_version,
                to_version: to.0,
                wrapped_key: wrapped.bytes,
            });
        }
        let n = w.ops.len() as u64;
        let from: Vec<String> = from_versions.iter().map(|v| format!("v{v}")).collect();
        let reason = format!("key_rewrap_batch:{}:{}->{to}", table.name(), from.join("+"));
        self.inner
            .store
            .apply(w.audit(self.admin_entry(reason, Some(n))))
            .await?;
        Ok(n)
    }

    /// Re-computes, record by record, every blind-index entry keyed from an older version.
    async fn reindex(
        &self,
        batch: u32,
        progress: &mut (dyn FnMut(RotationProgress) + Send),
    ) -> Result<u64, VaultError> {
        let mut done = 0;
        for _ in 0..MAX_PASSES {
            let current = self.keys().current();
            let stale: u64 = self
                .inner
                .store
                .index_version_counts()
                .await?
                .into_iter()
                .filter(|(v, _)| *v < current.0)
                .map(|(_, n)| n)
                .sum();
            if stale == 0 {
                break;
            }
            // Entries, not records, are counted: the bar is an estimate of the work left.
            let total = done + stale;
            let mut after: Option<RecordId> = None;
            loop {
                let page = self
                    .inner
                    .store
                    .stale_index_records(current.0, after, batch)
                    .await?;
                let Some(last) = page.last() else { break };
                after = Some(last.record.id);
                done += self.reindex_page(page).await?;
                progress(RotationProgress {
                    phase: "blind_index",
                    done: done.min(total),
                    total,
                });
            }
        }
        Ok(done)
    }

    /// Re-indexes one page of records in one transaction, with one audit entry: decrypt
    /// each searchable field, normalize it as a write does, key it from the current version.
    async fn reindex_page(
        &self,
        page: Vec<privet_store::StaleIndexRecord>,
    ) -> Result<u64, VaultError> {
        let keys = self.keys();
        let mut w = WriteSet::new();
        for item in page {
            let record = item.record;
            let collection = self.collection(&record.collection)?;
            let subject = privet_store::SubjectRow {
                id: record.subject,
                key_version: item.key_version,
                wrapped_key: item.wrapped_key,
                created_at: record.created_at,
            };
            let cipher = self.subject_key(&subject).await?.cipher();
            let mut entries: Vec<IndexEntry> = Vec::new();
            for (name, ct) in &record.fields {
                let Some(field) = collection.field(name).filter(|f| f.searchable) else {
                    continue;
                };
                let aad = privet_crypto::FieldAad {
                    collection: &collection.name,
                    record: &record.id,
                    field: name,
                    subject: &record.subject,
                };
                let integrity = || VaultError::Integrity {
                    context: format!("{}.{name} of record {}", collection.name, record.id),
                };
                let plain = cipher.decrypt_field(&aad, ct).map_err(|_| integrity())?;
                let value = field.decode(plain.expose()).map_err(|_| integrity())?;
                let validated = field.validate_value(&value).map_err(|_| integrity())?;
                if let Some(term) = validated.index_term {
                    entries.push(index_entry(
                        &keys,
                        collection,
                        name,
                        term.expose(),
                        (record.subject, record.id),
                    ));
                }
            }
            w = w.op(Op::ReindexRecord {
                record: record.id,
                version: record.version,
                entries,
            });
        }
        let n = w.ops.len() as u64;
        let reason = format!("blind_index_rebuild_batch:{}", keys.current());
        self.inner
            .store
            .apply(w.audit(self.admin_entry(reason, Some(n))))
            .await?;
        Ok(n)
    }

    /// Refuses to retire `version` while anything uses it (see
    /// [`VersionStatus::in_use`]); otherwise records the retirement on the audit trail. The
    /// caller then removes the version from the key source.
    pub async fn retire_key_version(&self, version: KeyVersion) -> Result<(), VaultError> {
        let status = self.key_status().await?;
        let Some(s) = status.versions.iter().find(|s| s.version == version) else {
            return Err(VaultError::BadRequest(format!(
                "{version} is not held by the key source"
            )));
        };
        if !s.held {
            return Err(VaultError::BadRequest(format!(
                "{version} is not held by the key source"
            )));
        }
        if let Some(why) = s.in_use() {
            return Err(VaultError::BadRequest(format!(
                "{version} is still in use and cannot be retired: {why}"
            )));
        }
        if let Some(why) = self.outbox_uses(version).await? {
            return Err(VaultError::BadRequest(format!(
                "{version} is still in use and cannot be retired: {why}"
            )));
        }
        let e = self.admin_entry(format!("key_version_retired:{version}"), None);
        self.inner.store.apply(WriteSet::new().audit(e)).await?;
        Ok(())
    }

    /// What a blind-index lookup finds — each (subject, record) hit loaded as
    /// `load_subject` with that record loads it — querying the term under every master-key
    /// version held: during a re-index some entries are still keyed from the old version,
    /// some already from the new one.
    ///
    /// A server that has not re-read its key file since a rotation began does not hold the
    /// new version, and misses entries already re-keyed to it. So the lookup also reads the
    /// version the rotation recorded; if that is newer than the server's own, it re-reads its
    /// keys and looks up again. The terms of every held version, the loads of the hits and the
    /// recorded version are read in **one snapshot**
    /// ([`privet_store::Store::lookup_and_load`]: one statement on PostgreSQL), which makes
    /// this exact: the rotation commits the recorded version before it re-keys anything, so
    /// if the snapshot shows a version no newer than the server's, no entry in that snapshot
    /// is keyed from a version the server lacks, and every entry of the value is found under
    /// one of the terms asked for (a re-index moves an entry from one term to another in one
    /// transaction, so the snapshot holds it under exactly one). The earlier form — one query
    /// per version, then the recorded version, then a load per hit — needed an ordering
    /// argument across separate snapshots and cost a round trip each.
    pub(crate) async fn lookup_term(
        &self,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<Vec<SubjectData>, VaultError> {
        let held = self.keys();
        let found = self.lookup_with(&held, collection, field, term).await?;
        let recorded = found
            .meta
            .and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
            .map(|b| KeyVersion(u32::from_be_bytes(b)));
        match recorded {
            Some(v) if v > held.current() && self.reload_keys_on_miss(v).await => {
                let keys = self.keys();
                Ok(self
                    .lookup_with(&keys, collection, field, term)
                    .await?
                    .found)
            }
            _ => Ok(found.found),
        }
    }

    async fn lookup_with(
        &self,
        keys: &privet_crypto::Keyring,
        collection: &str,
        field: &str,
        term: &[u8],
    ) -> Result<privet_store::FoundSubjects, VaultError> {
        let terms = keys
            .versions()
            .into_iter()
            .map(|v| {
                keys.blind_index_under(v, collection, field, term)
                    .map(|h| h.to_vec())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(VaultError::WrongKey)?;
        Ok(self
            .inner
            .store
            .lookup_and_load(collection, field, &terms, CURRENT_VERSION)
            .await?)
    }

    fn admin_entry(&self, reason: String, count: Option<u64>) -> AuditEntry {
        let mut e = AuditEntry::new(self.now(), "cli", Action::Admin);
        e.reason = Some(reason);
        e.count = count;
        e
    }
}

fn blank(version: KeyVersion, held: bool) -> VersionStatus {
    VersionStatus {
        version,
        held,
        current: false,
        keys_api_keys_and_tokens: false,
        wrapped: Vec::new(),
        index_entries: 0,
    }
}
