//! Principals, the roles granted to them, and roles: their ops (run by the writer) and reads.

use privet_store::{GrantRow, PrincipalRow, Result, RoleRow, StoreError, fold_grants};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::read::{backend, from_micros, micros};

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

pub(crate) fn put_principal(c: &Connection, p: &PrincipalRow) -> Result<()> {
    let res = c
        .prepare_cached(
            "INSERT INTO principals (id, name, created_at, expires_at, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                p.id,
                p.name,
                micros(p.created_at),
                p.expires_at.map(micros),
                p.revoked_at.map(micros)
            ])
        });
    match res {
        Ok(_) => {}
        Err(e) if is_constraint(&e) => {
            let id_taken = c
                .prepare_cached("SELECT 1 FROM principals WHERE id = ?1")
                .and_then(|mut s| s.query_row([&p.id], |_| Ok(())).optional())
                .map_err(backend)?;
            return Err(StoreError::AlreadyExists(match id_taken {
                Some(()) => format!("principal {}", p.id),
                None => format!("principal named {}", p.name),
            }));
        }
        Err(e) => return Err(backend(e)),
    }
    let mut s = c
        .prepare_cached(
            "INSERT INTO principal_roles (principal_id, position, role) VALUES (?1, ?2, ?3)",
        )
        .map_err(backend)?;
    for (i, role) in p.roles.iter().enumerate() {
        s.execute(params![p.id, i as i64, role]).map_err(backend)?;
    }
    Ok(())
}

pub(crate) fn revoke_principal(c: &Connection, id: &str, at: OffsetDateTime) -> Result<()> {
    // COALESCE keeps the first revocation time, of the principal and of each key.
    let changed = c
        .prepare_cached("UPDATE principals SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id, micros(at)]))
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::PrincipalNotFound(id.to_owned()));
    }
    c.prepare_cached(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE principal = ?1",
    )
    .and_then(|mut s| s.execute(params![id, micros(at)]))
    .map_err(backend)?;
    Ok(())
}

pub(crate) fn put_role(c: &Connection, r: &RoleRow) -> Result<()> {
    let res = c
        .prepare_cached("INSERT INTO roles (name, definition, created_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![r.name, r.definition, micros(r.created_at)]));
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(StoreError::AlreadyExists(format!("role {}", r.name))),
        Err(e) => Err(backend(e)),
    }
}

pub(crate) fn replace_role(c: &Connection, r: &RoleRow) -> Result<()> {
    let changed = c
        .prepare_cached("UPDATE roles SET definition = ?2 WHERE name = ?1")
        .and_then(|mut s| s.execute(params![r.name, r.definition]))
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::RoleNotFound(r.name.clone()));
    }
    Ok(())
}

pub(crate) fn suspend_principal(
    c: &Connection,
    id: &str,
    at: OffsetDateTime,
    reason: &str,
) -> Result<()> {
    // A principal suspended already keeps its first time and reason.
    let changed = c
        .prepare_cached(
            "UPDATE principals SET \
             suspension_reason = CASE WHEN suspended_at IS NULL THEN ?3 ELSE suspension_reason END, \
             suspended_at = COALESCE(suspended_at, ?2) WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![id, micros(at), reason]))
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::PrincipalNotFound(id.to_owned()));
    }
    Ok(())
}

pub(crate) fn lift_suspension(c: &Connection, id: &str) -> Result<()> {
    let changed = c
        .prepare_cached(
            "UPDATE principals SET suspended_at = NULL, suspension_reason = NULL WHERE id = ?1",
        )
        .and_then(|mut s| s.execute(params![id]))
        .map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::PrincipalNotFound(id.to_owned()));
    }
    Ok(())
}

/// One row of a principal joined with one of its role grants and that role (if it exists):
/// `id, name, created_at, expires_at, revoked_at, role, definition, role created_at,
/// suspended_at, suspension_reason`.
const GRANT_SELECT: &str = "SELECT p.id, p.name, p.created_at, p.expires_at, p.revoked_at, \
     g.role, r.definition, r.created_at, p.suspended_at, p.suspension_reason \
     FROM principals p \
     LEFT JOIN principal_roles g ON g.principal_id = p.id \
     LEFT JOIN roles r ON r.name = g.role";

fn grant_row(r: &Row<'_>) -> rusqlite::Result<GrantRow> {
    let principal = PrincipalRow {
        id: r.get(0)?,
        name: r.get(1)?,
        roles: Vec::new(),
        created_at: from_micros(r.get(2)?)?,
        expires_at: r.get::<_, Option<i64>>(3)?.map(from_micros).transpose()?,
        revoked_at: r.get::<_, Option<i64>>(4)?.map(from_micros).transpose()?,
        suspended_at: r.get::<_, Option<i64>>(8)?.map(from_micros).transpose()?,
        suspension_reason: r.get(9)?,
    };
    let granted: Option<String> = r.get(5)?;
    let role = match (&granted, r.get::<_, Option<Vec<u8>>>(6)?) {
        (Some(name), Some(definition)) => Some(RoleRow {
            name: name.clone(),
            definition,
            created_at: from_micros(r.get(7)?)?,
        }),
        _ => None,
    };
    Ok((principal, granted, role))
}

pub(crate) fn principal_grants(
    c: &Connection,
    id: &str,
) -> Result<Option<(PrincipalRow, Vec<RoleRow>)>> {
    let sql = format!("{GRANT_SELECT} WHERE p.id = ?1 ORDER BY g.position");
    let mut s = c.prepare_cached(&sql).map_err(backend)?;
    let rows = s
        .query_map([id], grant_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(backend)?;
    Ok(fold_grants(rows).pop())
}

pub(crate) fn principals(c: &Connection) -> Result<Vec<PrincipalRow>> {
    let sql = format!("{GRANT_SELECT} ORDER BY p.created_at, p.id, g.position");
    let mut s = c.prepare_cached(&sql).map_err(backend)?;
    let rows = s
        .query_map([], grant_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(backend)?;
    Ok(fold_grants(rows).into_iter().map(|(p, _)| p).collect())
}

fn role_row(r: &Row<'_>) -> rusqlite::Result<RoleRow> {
    Ok(RoleRow {
        name: r.get(0)?,
        definition: r.get(1)?,
        created_at: from_micros(r.get(2)?)?,
    })
}

pub(crate) fn role(c: &Connection, name: &str) -> Result<Option<RoleRow>> {
    c.prepare_cached("SELECT name, definition, created_at FROM roles WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], role_row).optional())
        .map_err(backend)
}

pub(crate) fn roles(c: &Connection) -> Result<Vec<RoleRow>> {
    let mut s = c
        .prepare_cached("SELECT name, definition, created_at FROM roles ORDER BY name")
        .map_err(backend)?;
    let rows = s.query_map([], role_row).map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}
