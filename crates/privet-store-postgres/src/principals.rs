//! Principals, the roles granted to them, and roles: their ops and reads. Each op is one
//! statement (one round trip); a principal's grants are read with one statement too, since
//! every authenticated request needs them.

use privet_store::{GrantRow, PrincipalRow, Result, RoleRow, StoreError, fold_grants};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row, Transaction};

use crate::error::{db, is};
use crate::read::{from_micros, micros};

pub(crate) async fn put_principal(tx: &Transaction<'_>, p: &PrincipalRow) -> Result<()> {
    let res = tx
        .execute(
            "WITH p AS (INSERT INTO principals (id, name, created_at, expires_at, revoked_at) \
                        VALUES ($1, $2, $3, $4, $5) RETURNING id) \
             INSERT INTO principal_roles (principal_id, position, role) \
             SELECT p.id, (g.ord - 1)::integer, g.role \
             FROM p, UNNEST($6::text[]) WITH ORDINALITY AS g (role, ord)",
            &[
                &p.id,
                &p.name,
                &micros(p.created_at),
                &p.expires_at.map(micros),
                &p.revoked_at.map(micros),
                &p.roles,
            ],
        )
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
            let on_name = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .is_some_and(|c| c == "principals_name_key");
            Err(StoreError::AlreadyExists(if on_name {
                format!("principal named {}", p.name)
            } else {
                format!("principal {}", p.id)
            }))
        }
        Err(e) => Err(db(e)),
    }
}

pub(crate) async fn revoke_principal(
    tx: &Transaction<'_>,
    id: &str,
    at: OffsetDateTime,
) -> Result<()> {
    // COALESCE keeps the first revocation time, of the principal and of each key. If the
    // principal does not exist the error rolls the key update back with the write set.
    let n = tx
        .execute(
            "WITH k AS (UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) \
                        WHERE principal = $1) \
             UPDATE principals SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id, &micros(at)],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::PrincipalNotFound(id.to_owned()));
    }
    Ok(())
}

pub(crate) async fn put_role(tx: &Transaction<'_>, r: &RoleRow) -> Result<()> {
    let res = tx
        .execute(
            "INSERT INTO roles (name, definition, created_at) VALUES ($1, $2, $3)",
            &[&r.name, &r.definition, &micros(r.created_at)],
        )
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
            Err(StoreError::AlreadyExists(format!("role {}", r.name)))
        }
        Err(e) => Err(db(e)),
    }
}

pub(crate) async fn replace_role(tx: &Transaction<'_>, r: &RoleRow) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE roles SET definition = $2 WHERE name = $1",
            &[&r.name, &r.definition],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::RoleNotFound(r.name.clone()));
    }
    Ok(())
}

pub(crate) async fn suspend_principal(
    tx: &Transaction<'_>,
    id: &str,
    at: OffsetDateTime,
    reason: &str,
) -> Result<()> {
    // A principal suspended already keeps its first time and reason.
    let n = tx
        .execute(
            "UPDATE principals SET \
             suspension_reason = CASE WHEN suspended_at IS NULL THEN $3 ELSE suspension_reason END, \
             suspended_at = COALESCE(suspended_at, $2) WHERE id = $1",
            &[&id, &micros(at), &reason],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::PrincipalNotFound(id.to_owned()));
    }
    Ok(())
}

pub(crate) async fn lift_suspension(tx: &Transaction<'_>, id: &str) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE principals SET suspended_at = NULL, suspension_reason = NULL WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::PrincipalNotFound(id.to_owned()));
    }
    Ok(())
}

/// A principal left-joined with its grants and the granted roles that exist.
const GRANT_SELECT: &str = "SELECT p.id, p.name, p.created_at, p.expires_at, p.revoked_at, \
     g.role, r.definition, r.created_at, p.suspended_at, p.suspension_reason \
     FROM principals p \
     LEFT JOIN principal_roles g ON g.principal_id = p.id \
     LEFT JOIN roles r ON r.name = g.role";

fn grant_row(r: &Row) -> Result<GrantRow> {
    let principal = PrincipalRow {
        id: r.get(0),
        name: r.get(1),
        roles: Vec::new(),
        created_at: from_micros(r.get(2))?,
        expires_at: r.get::<_, Option<i64>>(3).map(from_micros).transpose()?,
        revoked_at: r.get::<_, Option<i64>>(4).map(from_micros).transpose()?,
        suspended_at: r.get::<_, Option<i64>>(8).map(from_micros).transpose()?,
        suspension_reason: r.get(9),
    };
    let granted: Option<String> = r.get(5);
    let role = match (&granted, r.get::<_, Option<Vec<u8>>>(6)) {
        (Some(name), Some(definition)) => Some(RoleRow {
            name: name.clone(),
            definition,
            created_at: from_micros(r.get(7))?,
        }),
        _ => None,
    };
    Ok((principal, granted, role))
}

pub(crate) async fn principal_grants(
    c: &Client,
    id: &str,
) -> Result<Option<(PrincipalRow, Vec<RoleRow>)>> {
    let sql = format!("{GRANT_SELECT} WHERE p.id = $1 ORDER BY g.position");
    let rows = c.query(&sql, &[&id]).await.map_err(db)?;
    let rows = rows.iter().map(grant_row).collect::<Result<Vec<_>>>()?;
    Ok(fold_grants(rows).pop())
}

pub(crate) async fn principals(c: &Client) -> Result<Vec<PrincipalRow>> {
    // Ids compare bytewise (COLLATE "C"), as in SQLite, so both backends list alike.
    let sql = format!("{GRANT_SELECT} ORDER BY p.created_at, p.id COLLATE \"C\", g.position");
    let rows = c.query(&sql, &[]).await.map_err(db)?;
    let rows = rows.iter().map(grant_row).collect::<Result<Vec<_>>>()?;
    Ok(fold_grants(rows).into_iter().map(|(p, _)| p).collect())
}

fn role_row(r: &Row) -> Result<RoleRow> {
    Ok(RoleRow {
        name: r.get(0),
        definition: r.get(1),
        created_at: from_micros(r.get(2))?,
    })
}

pub(crate) async fn role(c: &Client, name: &str) -> Result<Option<RoleRow>> {
    let row = c
        .query_opt(
            "SELECT name, definition, created_at FROM roles WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(db)?;
    row.as_ref().map(role_row).transpose()
}

pub(crate) async fn roles(c: &Client) -> Result<Vec<RoleRow>> {
    let rows = c
        .query(
            "SELECT name, definition, created_at FROM roles ORDER BY name COLLATE \"C\"",
            &[],
        )
        .await
        .map_err(db)?;
    rows.iter().map(role_row).collect()
}
