//! Creation write sets (subjects, their retention-class keys, new records, index entries: what
//! `import` and `POST /v1/subjects` produce), regrouped by table so a backend can write each
//! table's rows together (PostgreSQL: one array statement per table; SQLite: multi-row
//! inserts) with the same outcome as applying the ops in order.

use std::collections::HashSet;

use privet_core::SubjectId;

use crate::{IndexEntry, Op, RecordRow, RetainedKeyRow, SubjectRow};

/// A creation write set, regrouped by table.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    /// Subjects created, in op order.
    pub subjects: Vec<&'a SubjectRow>,
    /// Retention-class keys (the first order of a customer brings its `legal_obligation` key).
    pub class_keys: Vec<&'a RetainedKeyRow>,
    /// New records, in op order.
    pub records: Vec<&'a RecordRow>,
    /// Subjects that records or class keys belong to but that the set does not create, in op
    /// order.
    pub existing_owners: Vec<SubjectId>,
    /// In op order: a unique entry's check sees the entries before it.
    pub index: Vec<&'a IndexEntry>,
}

/// The plan for `ops` if it is a creation write set: only `CreateSubject`, `PutRetainedKey`,
/// new records (`PutRecord` without an expected version) and `PutIndex`, with no record or
/// class key placed before the creation of its own subject. Subjects are then inserted first,
/// class keys and records next and index entries last: keys and records only depend on their
/// subject existing (created earlier in the set, or already stored), and index entries on
/// nothing but earlier unique terms, whose order is kept.
/// `None` for anything else, which goes op by op.
pub fn plan(ops: &[Op]) -> Option<Plan<'_>> {
    let mut p = Plan::default();
    let mut created = HashSet::new();
    let mut owners = HashSet::new();
    for op in ops {
        match op {
            Op::CreateSubject(s) => {
                if owners.contains(&s.id) {
                    // A record of this subject came first: op by op it fails, keep that.
                    return None;
                }
                created.insert(s.id);
                p.subjects.push(s);
            }
            Op::PutRecord {
                record,
                expected_version: None,
            } => {
                if !created.contains(&record.subject) && owners.insert(record.subject) {
                    p.existing_owners.push(record.subject);
                }
                p.records.push(record);
            }
            Op::PutRetainedKey(k) => {
                if !created.contains(&k.subject) && owners.insert(k.subject) {
                    p.existing_owners.push(k.subject);
                }
                p.class_keys.push(k);
            }
            Op::PutIndex(e) => p.index.push(e),
            _ => return None,
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use privet_core::RecordId;
    use time::OffsetDateTime;

    fn subject() -> SubjectRow {
        SubjectRow {
            id: SubjectId::new(),
            key_version: 1,
            wrapped_key: vec![1; 60],
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn record(subject: SubjectId) -> Op {
        Op::PutRecord {
            record: RecordRow {
                id: RecordId::new(),
                subject,
                collection: "customers".into(),
                version: 1,
                created_at: OffsetDateTime::UNIX_EPOCH,
                updated_at: OffsetDateTime::UNIX_EPOCH,
                fields: vec![],
            },
            expected_version: None,
        }
    }

    #[test]
    fn creation_sets_are_planned_with_owners_created_elsewhere_listed_once() {
        let (a, b) = (subject(), SubjectId::new());
        let ops = vec![
            Op::CreateSubject(a.clone()),
            record(a.id),
            record(b),
            record(b),
        ];
        let p = plan(&ops).unwrap();
        assert_eq!(p.subjects.len(), 1);
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.existing_owners, vec![b]);
    }

    #[test]
    fn a_record_before_its_subjects_creation_is_not_regrouped() {
        let a = subject();
        let ops = vec![record(a.id), Op::CreateSubject(a)];
        assert!(plan(&ops).is_none());
    }

    #[test]
    fn updates_reads_and_erasures_go_op_by_op() {
        let a = subject();
        for op in [
            Op::RequireSubject(a.id),
            Op::EraseSubject {
                subject: a.id,
                at: OffsetDateTime::UNIX_EPOCH,
            },
            Op::PutMeta {
                key: "k".into(),
                value: vec![],
            },
        ] {
            assert!(plan(&[Op::CreateSubject(a.clone()), op]).is_none());
        }
        let Op::PutRecord { record, .. } = record(a.id) else {
            unreachable!()
        };
        let update = Op::PutRecord {
            record,
            expected_version: Some(1),
        };
        assert!(plan(&[update]).is_none());
    }
}
