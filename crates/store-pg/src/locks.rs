//! Session advisory locks held on a dedicated connection: the lock lives exactly as long as its holder's session,
//! so Postgres itself tells whether the holder is alive (a killed process's connection closes, and its locks go
//! with it). Used for the relay's leader election and for the liveness of a process's in-flight requests.

use sqlx::{postgres::PgConnectOptions, ConnectOptions as _, PgConnection, PgPool};

use crate::StoreError;

/// Key space of the process locks (`pg_advisory_lock(PROCESS_LOCK_CLASS, id)`); the relay has its own class.
pub const PROCESS_LOCK_CLASS: i32 = 0x5e9d_0002;

/// The second half of a two-key advisory lock.
pub enum LockKey<'a> {
    /// A number.
    Id(i32),
    /// A name, hashed by Postgres (`hashtext`).
    Name(&'a str),
}

/// A session advisory lock, held for as long as this value lives (dropping it closes its connection).
pub struct Held {
    conn: PgConnection,
}

impl Held {
    /// Whether the lock's session is still there (the connection answers).
    pub async fn still_held(&mut self) -> bool {
        sqlx::query("SELECT 1").execute(&mut self.conn).await.is_ok()
    }
}

/// Key space of the relay's leader locks (`pg_try_advisory_lock(RELAY_LOCK_CLASS, hashtext(name))`). The
/// two-key form never collides with the one-key locks the projections take.
pub const RELAY_LOCK_CLASS: i32 = 0x5e9d_0001;

/// Takes the lock `(class, key)` on a new connection, or `None` when another session holds it.
pub async fn try_hold(options: &PgConnectOptions, class: i32, key: LockKey<'_>) -> Result<Option<Held>, StoreError> {
    let mut conn = options.connect().await?;
    let locked: bool = match key {
        LockKey::Id(id) => {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)").bind(class).bind(id).fetch_one(&mut conn).await?
        }
        LockKey::Name(name) => {
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(class)
                .bind(name)
                .fetch_one(&mut conn)
                .await?
        }
    };
    if locked {
        Ok(Some(Held { conn }))
    } else {
        // Closing the connection is enough; there is no lock to release.
        let _ = sqlx::Connection::close(conn).await;
        Ok(None)
    }
}

/// This process, as other processes can see it: it holds `(PROCESS_LOCK_CLASS, id)` for as long as it lives.
pub struct ProcessLock {
    id: i32,
    _session: Held,
}

impl ProcessLock {
    /// Takes a process lock under a random id (another id when a live process already has that one).
    pub async fn acquire(pool: &PgPool) -> Result<ProcessLock, StoreError> {
        let options = pool.connect_options();
        loop {
            let id: i32 = rand::random();
            if let Some(session) = try_hold(&options, PROCESS_LOCK_CLASS, LockKey::Id(id)).await? {
                return Ok(ProcessLock { id, _session: session });
            }
        }
    }

    /// The id other processes check with [`process_alive`].
    pub fn id(&self) -> i32 {
        self.id
    }
}

/// Whether the process holding the lock `id` is alive: a transaction-level try-lock on the same key succeeds only
/// when no session holds it (and is released at once, with its transaction).
pub async fn process_alive(conn: &mut PgConnection, id: i32) -> Result<bool, StoreError> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
        .bind(PROCESS_LOCK_CLASS)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(!free)
}

/// The `application_name` of the session that holds a relay's leader lock (of [`RELAY_LOCK_CLASS`]), if one does:
/// which process is the active relay, for operators and the fault suite.
pub async fn relay_leader(pool: &PgPool) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int8::oid AND l.objsubid = 2
         ORDER BY a.backend_start LIMIT 1",
    )
    .bind(i64::from(RELAY_LOCK_CLASS))
    .fetch_optional(pool)
    .await?
    .filter(|name: &String| !name.is_empty()))
}
