//! Folding joined rows back into the shapes of the trait, shared by the backends so every
//! backend gives the same answer (order, duplicates) for the same rows.

use crate::{PrincipalRow, RoleRow};

/// One row of a principal left-joined with one of its role grants (the granted role name)
/// and that role, if it exists.
pub type GrantRow = (PrincipalRow, Option<String>, Option<RoleRow>);

/// Folds joined rows, ordered by principal and then by grant position, into each principal
/// (its `roles` filled with the granted names in order) with the granted roles that exist,
/// each once, in the order first granted. The principals in the rows are expected to have
/// empty `roles`.
pub fn fold_grants(rows: impl IntoIterator<Item = GrantRow>) -> Vec<(PrincipalRow, Vec<RoleRow>)> {
    let mut out: Vec<(PrincipalRow, Vec<RoleRow>)> = Vec::new();
    for (principal, granted, role) in rows {
        if out.last().is_none_or(|(p, _)| p.id != principal.id) {
            out.push((principal, Vec::new()));
        }
        if let Some((p, roles)) = out.last_mut() {
            p.roles.extend(granted);
            if let Some(role) = role
                && !roles.iter().any(|r| r.name == role.name)
            {
                roles.push(role);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn p(id: &str) -> PrincipalRow {
        PrincipalRow {
            id: id.into(),
            name: format!("name-{id}"),
            roles: vec![],
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
            suspended_at: None,
            suspension_reason: None,
        }
    }

    fn r(name: &str) -> RoleRow {
        RoleRow {
            name: name.into(),
            definition: b"{}".to_vec(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn rows_fold_into_principals_with_existing_roles_once() {
        let rows = vec![
            (p("a"), Some("x".into()), Some(r("x"))),
            (p("a"), Some("ghost".into()), None),
            (p("a"), Some("x".into()), Some(r("x"))),
            (p("b"), None, None),
            (p("c"), Some("y".into()), Some(r("y"))),
        ];
        let got = fold_grants(rows);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0.roles, vec!["x", "ghost", "x"]);
        assert_eq!(got[0].1, vec![r("x")]);
        assert_eq!(got[1], (p("b"), vec![]));
        assert_eq!(got[2].0.roles, vec!["y"]);
        assert_eq!(got[2].1, vec![r("y")]);
        assert!(fold_grants(vec![]).is_empty());
    }
}
