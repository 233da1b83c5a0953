//! Operating the database: whether the schema is current, how many connections the server allows, scratch
//! databases for the demo and tests.

use sqlx::{postgres::PgConnectOptions, ConnectOptions as _, PgPool};

use crate::StoreError;

/// Whether every migration this build knows has been applied.
/// Opens one connection and closes it: the real cause when Postgres cannot be reached (refused, unknown host,
/// wrong password), where a pool would only report that it timed out.
pub async fn probe(options: &PgConnectOptions) -> Result<(), StoreError> {
    let conn = options.connect().await?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(())
}

pub async fn schema_is_current(pool: &PgPool) -> bool {
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .ok()
        .flatten();
    let latest = crate::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    applied.unwrap_or(0) >= latest
}

/// The server's connection figures, as seen from a session of `pool`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionUsage {
    pub max_connections: i64,
    /// Slots this role may not use (reserved for superusers).
    pub reserved: i64,
    /// Client connections open now, other than the one asking.
    pub in_use: i64,
}

/// Reads [`ConnectionUsage`].
pub async fn connection_usage(pool: &PgPool) -> Result<ConnectionUsage, StoreError> {
    const SQL: &str = "SELECT current_setting('max_connections')::int8,
               CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN 0
                    ELSE current_setting('superuser_reserved_connections')::int8
                         + coalesce(current_setting('reserved_connections', true)::int8, 0) END,
               (SELECT count(*) FROM pg_stat_activity
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())";
    let (max_connections, reserved, in_use): (i64, i64, i64) = sqlx::query_as(SQL).fetch_one(pool).await?;
    Ok(ConnectionUsage { max_connections, reserved, in_use })
}

/// Creates database `name` through `admin` (a connection to another database of the server).
pub async fn create_database(admin: &PgConnectOptions, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let mut conn = admin.connect().await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
    Ok(())
}

/// Drops database `name` (closing its sessions) if it exists.
pub async fn drop_database(admin: &PgConnectOptions, name: &str) -> Result<(), StoreError> {
    check_name(name)?;
    let mut conn = admin.connect().await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
    Ok(())
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > 63 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::InvalidAppend("a database name is 1 to 63 of A-Z a-z 0-9 _"));
    }
    Ok(())
}

/// Events stored for a tenant.
pub async fn count_events_of_tenant(pool: &PgPool, tenant_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events WHERE tenant_id = $1").bind(tenant_id).fetch_one(pool).await?)
}

/// One line of a tenant's ledger summary.
#[derive(Debug, Clone)]
pub struct LedgerTotal {
    pub store_id: String,
    pub business_date: String,
    pub kind: String,
    pub currency: String,
    pub amount: rust_decimal::Decimal,
    pub movements: i64,
}

/// A tenant's ledger, summed by store, business date, kind and currency.
pub async fn ledger_totals(pool: &PgPool, tenant_id: &str) -> Result<Vec<LedgerTotal>, StoreError> {
    let rows: Vec<(String, String, String, String, rust_decimal::Decimal, i64)> = sqlx::query_as(
        "SELECT store_id, business_date::text, kind, currency, sum(amount), count(*) FROM ledger
         WHERE tenant_id = $1 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(store_id, business_date, kind, currency, amount, movements)| LedgerTotal {
            store_id,
            business_date,
            kind,
            currency,
            amount,
            movements,
        })
        .collect())
}
