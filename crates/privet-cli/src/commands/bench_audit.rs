//! `privet bench audit`: the audit log's cost, each measured against a baseline in the same
//! run. (1) Appends of the log alone, in entries/s. (2) Audited reads against the same read
//! path with its audit append removed, the switch living only here: a store wrapper that
//! drops audit leaves (production has no way to turn auditing off). (3) `audit verify` of a
//! log of a million entries.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use async_trait::async_trait;
use privet_audit::{Action, AuditEntry, Decision, Frontier, Hash, Subtree, WithheldField};
use privet_core::{RecordId, RequestId, SubjectId};
use privet_store::{
    ApiKeyRow, CheckpointRow, Committed, ConsentEventRow, Op, PrincipalRow, RoleRow, Store,
    StoredLeaf, SubjectData, WriteSet,
};
use privet_vault::{Actor, SystemClock, Vault};
use time::OffsetDateTime;

use crate::config::{Config, DEFAULT_SCHEMA};

/// A representative read entry (≈ 400 bytes of leaf): subject, record, released and
/// withheld fields, purpose, request id.
fn read_entry(n: u64) -> AuditEntry {
    let mut e = AuditEntry::new(
        OffsetDateTime::now_utc(),
        "prn_01a2b3c4d5e6f708",
        Action::SubjectRead,
    );
    e.subject = Some(SubjectId::new());
    e.collection = Some("customers".into());
    e.record = Some(RecordId::new());
    e.fields = vec!["email".into(), "name".into(), "phone".into()];
    e.withheld = ["address", "birth_date", "gender", "religion"]
        .map(|f| WithheldField {
            field: f.into(),
            reason: "purpose_not_declared".into(),
        })
        .to_vec();
    e.purpose = Some("essential.service".into());
    e.decision = Decision::Partial;
    e.count = Some(n);
    e.request_id = Some(RequestId::new());
    e
}

/// (1) Appends of the log alone: one entry per write set from 64 concurrent writers (what
/// audited requests do; group commit shares the fsync), and 1,000 per write set.
async fn appends(store: &Arc<dyn Store>, n: u64) -> Result<()> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..64u64 {
        let store = Arc::clone(store);
        tasks.spawn(async move {
            for i in (w..n).step_by(64) {
                store.apply(WriteSet::new().audit(read_entry(i))).await?;
            }
            Ok::<_, privet_store::StoreError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let single = n as f64 / started.elapsed().as_secs_f64();
    println!("  append, 1 entry per write set, 64 writers   {single:>10.0} entries/s");
    let started = Instant::now();
    for chunk in 0..(n / 1000).max(1) {
        let mut w = WriteSet::new();
        for i in 0..1000 {
            w.push_audit(&read_entry(chunk * 1000 + i));
        }
        store.apply(w).await?;
    }
    let batched = (n / 1000).max(1) as f64 * 1000.0 / started.elapsed().as_secs_f64();
    println!("  append, 1,000 entries per write set          {batched:>10.0} entries/s");
    Ok(())
}

/// The same store with every audit leaf dropped, and a write set left with nothing but
/// `RequireSubject` checks (a read's) not sent at all: the read path as it would be
/// without auditing. Benchmarks only.
struct Unaudited(Arc<dyn Store>);

#[async_trait]
impl Store for Unaudited {
    async fn apply(&self, mut writes: WriteSet) -> privet_store::Result<Committed> {
        writes.audit.clear();
        if writes
            .ops
            .iter()
            .all(|op| matches!(op, Op::RequireSubject(_)))
        {
            return Ok(Committed {
                first_audit_index: None,
            });
        }
        self.0.apply(writes).await
    }
    async fn load_subject(
        &self,
        s: SubjectId,
        c: &str,
        r: Option<RecordId>,
    ) -> privet_store::Result<Option<SubjectData>> {
        self.0.load_subject(s, c, r).await
    }
    async fn lookup(
        &self,
        c: &str,
        f: &str,
        t: &[u8],
    ) -> privet_store::Result<Vec<(SubjectId, RecordId)>> {
        self.0.lookup(c, f, t).await
    }
    async fn consent_history(&self, s: SubjectId) -> privet_store::Result<Vec<ConsentEventRow>> {
        self.0.consent_history(s).await
    }
    async fn meta(&self, k: &str) -> privet_store::Result<Option<Vec<u8>>> {
        self.0.meta(k).await
    }
    async fn api_key(&self, p: &str) -> privet_store::Result<Option<ApiKeyRow>> {
        self.0.api_key(p).await
    }
    async fn principal(&self, id: &str) -> privet_store::Result<Option<PrincipalRow>> {
        self.0.principal(id).await
    }
    async fn principals(&self) -> privet_store::Result<Vec<PrincipalRow>> {
        self.0.principals().await
    }
    async fn principal_grants(
        &self,
        id: &str,
    ) -> privet_store::Result<Option<(PrincipalRow, Vec<RoleRow>)>> {
        self.0.principal_grants(id).await
    }
    async fn role(&self, n: &str) -> privet_store::Result<Option<RoleRow>> {
        self.0.role(n).await
    }
    async fn roles(&self) -> privet_store::Result<Vec<RoleRow>> {
        self.0.roles().await
    }
    async fn audit_leaves(&self, f: u64, l: u32) -> privet_store::Result<Vec<StoredLeaf>> {
        self.0.audit_leaves(f, l).await
    }
    async fn audit_len(&self) -> privet_store::Result<u64> {
        self.0.audit_len().await
    }
    async fn audit_subtrees(&self, t: &[Subtree]) -> privet_store::Result<Vec<Hash>> {
        self.0.audit_subtrees(t).await
    }
    async fn audit_frontier(&self) -> privet_store::Result<Frontier> {
        self.0.audit_frontier().await
    }
    async fn audit_leaves_of_subject(
        &self,
        s: SubjectId,
        f: u64,
        l: u32,
    ) -> privet_store::Result<Vec<StoredLeaf>> {
        self.0.audit_leaves_of_subject(s, f, l).await
    }
    async fn checkpoints(&self) -> privet_store::Result<Vec<CheckpointRow>> {
        self.0.checkpoints().await
    }
    async fn latest_checkpoint(&self) -> privet_store::Result<Option<CheckpointRow>> {
        self.0.latest_checkpoint().await
    }
    async fn erasures(&self) -> privet_store::Result<Vec<(SubjectId, OffsetDateTime)>> {
        self.0.erasures().await
    }
    async fn load_subject_all(&self, s: SubjectId) -> privet_store::Result<Option<SubjectData>> {
        self.0.load_subject_all(s).await
    }
    async fn rights_request(
        &self,
        id: privet_core::RightsRequestId,
    ) -> privet_store::Result<
        Option<(
            privet_store::RightsRequestRow,
            Vec<privet_store::RequestEventRow>,
        )>,
    > {
        self.0.rights_request(id).await
    }
    async fn rights_requests(
        &self,
        f: &privet_store::RequestFilter,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::RightsRequestRow>> {
        self.0.rights_requests(f, limit).await
    }
    async fn outbox_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::OutboxRow>> {
        self.0.outbox_due(now, limit).await
    }
    async fn outbox_message(
        &self,
        id: privet_core::MessageId,
    ) -> privet_store::Result<Option<privet_store::OutboxRow>> {
        self.0.outbox_message(id).await
    }
    async fn ping(&self) -> privet_store::Result<()> {
        self.0.ping().await
    }
    async fn retained_keys(
        &self,
        subject: SubjectId,
    ) -> privet_store::Result<Vec<privet_store::RetainedKeyRow>> {
        self.0.retained_keys(subject).await
    }
    async fn load_retained(
        &self,
        subject: SubjectId,
        collection: &str,
        record: Option<RecordId>,
    ) -> privet_store::Result<Option<privet_store::RetainedData>> {
        self.0.load_retained(subject, collection, record).await
    }
    async fn retention_page(
        &self,
        after: Option<SubjectId>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::RetentionRow>> {
        self.0.retention_page(after, limit).await
    }
    async fn legal_hold(
        &self,
        s: SubjectId,
    ) -> privet_store::Result<Option<privet_store::LegalHoldRow>> {
        self.0.legal_hold(s).await
    }

    async fn portal_token_spent(&self, id: &str) -> privet_store::Result<bool> {
        self.0.portal_token_spent(id).await
    }
    async fn wrapped_key_counts(
        &self,
        table: privet_store::KeyTable,
    ) -> privet_store::Result<Vec<(u32, u64)>> {
        self.0.wrapped_key_counts(table).await
    }
    async fn wrapped_keys(
        &self,
        table: privet_store::KeyTable,
        version: u32,
        after: Option<(privet_core::SubjectId, String)>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::WrappedKeyRow>> {
        self.0.wrapped_keys(table, version, after, limit).await
    }
    async fn index_version_counts(&self) -> privet_store::Result<Vec<(u32, u64)>> {
        self.0.index_version_counts().await
    }
    async fn stale_index_records(
        &self,
        target: u32,
        after: Option<privet_core::RecordId>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::StaleIndexRecord>> {
        self.0.stale_index_records(target, after, limit).await
    }
    async fn retained_due(
        &self,
        until: time::OffsetDateTime,
        after: Option<(time::OffsetDateTime, RecordId)>,
        limit: u32,
    ) -> privet_store::Result<Vec<privet_store::RetainedDueRow>> {
        self.0.retained_due(until, after, limit).await
    }

    async fn lookup_terms(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> privet_store::Result<privet_store::TermHits> {
        self.0
            .lookup_terms(collection, field, terms, meta_key)
            .await
    }

    async fn lookup_and_load(
        &self,
        collection: &str,
        field: &str,
        terms: &[Vec<u8>],
        meta_key: &str,
    ) -> privet_store::Result<privet_store::FoundSubjects> {
        self.0
            .lookup_and_load(collection, field, terms, meta_key)
            .await
    }
}

/// `readers` concurrent tasks reading `ids` (each id once) through `vault`: reads/s.
async fn read_rate(vault: &Vault, ids: &Arc<Vec<SubjectId>>, readers: usize) -> Result<f64> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..readers {
        let (vault, ids) = (vault.clone(), Arc::clone(ids));
        tasks.spawn(async move {
            for id in ids.iter().skip(w).step_by(readers) {
                vault
                    .read_subject(&Actor::cli(), *id, Some("essential.service"))
                    .await?;
            }
            Ok::<_, privet_vault::VaultError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(ids.len() as f64 / started.elapsed().as_secs_f64())
}

/// (2) Audited reads vs the same reads with the audit append removed, alternating rounds.
async fn reads(config: &Config, vault: &Vault, subjects: u64, readers: usize) -> Result<()> {
    // Customers without the consent-based field (religion), so every import is lawful.
    let rows = (0..subjects).map(|i| (i + 1, Ok(super::synth::customer(i))));
    let imported = super::import::import_rows(
        vault,
        "customers",
        rows,
        1000,
        false,
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .imported;
    anyhow::ensure!(
        imported as u64 == subjects,
        "only {imported} of {subjects} imported"
    );
    // The ids, from the audit log's create entries (no read needed to find them).
    let mut ids = Vec::with_capacity(subjects as usize);
    let mut from = 0;
    while ids.len() < subjects as usize {
        let page = vault.store().audit_leaves(from, 10_000).await?;
        let Some(last) = page.last() else { break };
        from = last.index + 1;
        ids.extend(page.iter().filter_map(|l| {
            AuditEntry::from_leaf_bytes(&l.leaf)
                .ok()
                .filter(|e| e.action == Action::SubjectCreate)
                .and_then(|e| e.subject)
        }));
    }
    let ids = Arc::new(ids);
    let schema = crate::open::load_schema(&config.schema_path)?;
    let keys = crate::open::load_keys(config)?;
    let bare = Vault::open(
        schema,
        Arc::new(Unaudited(Arc::clone(vault.store()))),
        keys,
        Arc::new(SystemClock),
    )
    .await?;
    println!(
        "  reads: {} subjects, each read once per round, {readers} concurrent readers",
        ids.len()
    );
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        let a = read_rate(vault, &ids, readers).await?;
        let b = read_rate(&bare, &ids, readers).await?;
        println!(
            "    round {round}: audited {a:>9.0} reads/s   without the audit append {b:>9.0} reads/s   ratio {:.2}",
            a / b
        );
        with.push(a);
        without.push(b);
    }
    let (a, b): (f64, f64) = (with.iter().sum(), without.iter().sum());
    println!(
        "  audited / unaudited read throughput = {:.2} (3 rounds)",
        a / b
    );
    Ok(())
}

/// (3) Builds a log of `n` entries with a checkpoint every n/10, then verifies it as `privet
/// audit verify` does.
async fn verify(config: &Config, vault: &Vault, n: u64) -> Result<()> {
    let store = vault.store();
    let have = store.audit_len().await?;
    let started = Instant::now();
    let mut i = have;
    while i < n {
        let k = (n - i).min(1000);
        let mut w = WriteSet::new();
        for j in 0..k {
            w.push_audit(&read_entry(i + j));
        }
        store.apply(w).await?;
        i += k;
        if i % (n / 10).max(1000) < 1000 {
            vault.checkpoint(&Actor::cli()).await?;
        }
    }
    vault.checkpoint(&Actor::cli()).await?;
    println!(
        "  built a log of {i} entries in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let signer = crate::open::load_signers(config)?
        .audit
        .context("no audit signing key")?;
    let key = privet_audit::VerifierKey::of(&signer);
    let started = Instant::now();
    let report =
        privet_vault::verify_audit_log(store, &key, signer.name(), None, |_, _| {}).await?;
    println!(
        "  audit verify: {} entries, {} checkpoints in {:.2}s ({:.0} entries/s)",
        report.size,
        report.checkpoints,
        started.elapsed().as_secs_f64(),
        report.size as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The disk's fsync latency where the vault lives (median of 100 appends of 4 KiB, each
/// synced): what every group commit waits for, so what bounds audited reads.
fn fsync_probe(dir: &std::path::Path) -> Result<f64> {
    use std::io::Write;
    let path = dir.join("fsync-probe.tmp");
    let mut f = std::fs::File::create(&path)?;
    let mut times = Vec::with_capacity(100);
    for _ in 0..100 {
        f.write_all(&[0u8; 4096])?;
        let t = Instant::now();
        f.sync_data()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    std::fs::remove_file(&path)?;
    times.sort_by(f64::total_cmp);
    Ok(times[50])
}

/// What `privet bench audit` runs.
pub(crate) struct Plan {
    pub(crate) appends: u64,
    pub(crate) subjects: u64,
    pub(crate) readers: usize,
    pub(crate) verify_entries: u64,
    pub(crate) dir: Option<std::path::PathBuf>,
}

pub(crate) async fn run(plan: Plan) -> Result<()> {
    let s = super::bench::scratch(plan.dir)?;
    let (config, _) = super::init::init_dir(&s.dir, DEFAULT_SCHEMA, None).await?;
    let vault = crate::open::open(&config).await?;
    println!(
        "bench audit (SQLite WAL synchronous=FULL, vault in {})",
        s.dir.display()
    );
    println!(
        "  fsync of a 4 KiB append here: p50 {:.2} ms",
        fsync_probe(&s.dir)?
    );
    if plan.appends > 0 {
        appends(vault.store(), plan.appends).await?;
    }
    if plan.subjects > 0 {
        reads(&config, &vault, plan.subjects, plan.readers).await?;
    }
    if plan.verify_entries > 0 {
        verify(&config, &vault, plan.verify_entries).await?;
        println!(
            "  the same from the command line: privet audit verify --dir {}",
            s.dir.display()
        );
    }
    Ok(())
}
