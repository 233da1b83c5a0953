use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::PgConnection;
use sqlx::Row as _;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::StoreError;
use crate::event::{AppendOutcome, AppendRequest, Checkpoint, EventScope, Metadata, Payload, StoredEvent};

/// The channel on which the store announces new events (`LISTEN seqrd_events`).
pub const NOTIFY_CHANNEL: &str = "seqrd_events";

/// A connection taken from the pool for the statements of one step of a use case (e.g. a command's stream read
/// and its append). sqlx pings every connection it gets back (a round trip, and a Postgres wake-up): a step that
/// runs its statements on one connection pays that once. Never held across a call to SEQR.
pub type Connection = sqlx::pool::PoolConnection<sqlx::Postgres>;

/// Pool settings for the write path: no ping on acquire (it would double the round trips of an append).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false)
}

/// Handle to the event store. Cheap to clone; all clones share the pool and the notifier.
#[derive(Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Bumped after every successful append; wakes in-process subscribers and the `NOTIFY` task.
    appended: watch::Sender<u64>,
}

const APPEND_SQL: &str = "\
INSERT INTO events (event_id, stream_id, version, command_index, event_type, schema_version, data, \
                    tenant_id, merchant_id, store_id, terminal_id, correlation_id, causation_id, actor, \
                    idempotency_key) \
SELECT e.event_id, $1, $2 + e.ord, (e.ord - 1)::int4, e.event_type, e.schema_version, e.data::json, \
       $7, $8, $9, $10, $11, $12, $13, $14 \
FROM unnest($3::uuid[], $4::text[], $5::int4[], $6::text[]) WITH ORDINALITY \
         AS e(event_id, event_type, schema_version, data, ord) \
WHERE (SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1) = $2 \
RETURNING version, position, tx_id::text::int8, recorded_at";

/// Writes made with an append, in its statement, only when its events are stored.
#[derive(Debug, Default, Clone)]
pub struct AlsoWrite {
    /// Puts the stream's invoice on the poll queue ([`crate::jobs`]), due within `.0` (an earlier due time
    /// stays), polled every `.1`.
    pub schedule: Option<(Duration, Duration)>,
    /// Stores the answer of the Idempotency-Key `(api key id, key)`: status and body.
    pub answer: Option<(Uuid, String, i32, Vec<u8>)>,
    /// Gives the stream's invoice this notification token (the one SEQR calls back with), unless it has one.
    pub notification_token: Option<String>,
}

impl AlsoWrite {
    fn sql(&self) -> String {
        if self.schedule.is_none() && self.answer.is_none() && self.notification_token.is_none() {
            return APPEND_SQL.to_owned();
        }
        let mut sql = format!("WITH ins AS ({APPEND_SQL})");
        let mut n = 14;
        if self.schedule.is_some() {
            sql.push_str(&format!(
                ", job AS (INSERT INTO poll_jobs (invoice_id, due_at, interval_ms) \
                 SELECT $1, now() + make_interval(secs => ${}), ${} WHERE EXISTS (SELECT 1 FROM ins) \
                 ON CONFLICT (invoice_id) DO UPDATE \
                 SET due_at = LEAST(poll_jobs.due_at, EXCLUDED.due_at), updated_at = now())",
                n + 1,
                n + 2
            ));
            n += 2;
        }
        if self.answer.is_some() {
            sql.push_str(&format!(
                ", answer AS (UPDATE idempotency_keys SET state = 'done', response_status = ${}, response_body = ${} \
                 WHERE api_key_id = ${} AND idempotency_key = ${} AND EXISTS (SELECT 1 FROM ins))",
                n + 1,
                n + 2,
                n + 3,
                n + 4
            ));
            n += 4;
        }
        if self.notification_token.is_some() {
            sql.push_str(&format!(
                ", token AS (INSERT INTO notification_tokens (token, invoice_id) SELECT ${}, $1 \
                 WHERE EXISTS (SELECT 1 FROM ins) ON CONFLICT DO NOTHING)",
                n + 1
            ));
        }
        sql.push_str(" SELECT * FROM ins");
        sql
    }

    fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        if let Some((within, interval)) = self.schedule {
            query = query.bind(within.as_secs_f64()).bind(i32::try_from(interval.as_millis()).unwrap_or(i32::MAX));
        }
        if let Some((api_key_id, key, status, body)) = &self.answer {
            query = query.bind(*status).bind(body.as_slice()).bind(*api_key_id).bind(key.as_str());
        }
        if let Some(token) = &self.notification_token {
            query = query.bind(token.as_str());
        }
        query
    }
}

const SELECT_COLUMNS: &str = "position, tx_id, event_id, stream_id, version, event_type, \
    schema_version, data, tenant_id, merchant_id, store_id, terminal_id, correlation_id, causation_id, actor, \
    idempotency_key, recorded_at";

impl EventStore {
    /// Connects a pool to `url` (use `sslmode=disable` on loopback) with [`pool_options`] and `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<EventStore, StoreError> {
        let pool = pool_options().max_connections(max_connections).connect(url).await?;
        Ok(EventStore::new(pool))
    }

    /// Wraps an existing pool and starts the background `NOTIFY` task (needs a Tokio runtime).
    pub fn new(pool: PgPool) -> EventStore {
        let (appended, wakeups) = watch::channel(0u64);
        tokio::spawn(notifier(pool.clone(), wakeups));
        EventStore { inner: Arc::new(Inner { pool, appended }) }
    }

    /// The pool the store uses.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// A receiver that changes after every successful append through this handle (or its clones).
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.inner.appended.subscribe()
    }

    /// Appends a command's events in one statement (one round trip).
    ///
    /// The stream must hold exactly `expected_version` events, else [`StoreError::Conflict`]. If the command's
    /// idempotency key was already appended to the stream, nothing is written and the original events come back
    /// as [`AppendOutcome::Duplicate`].
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let mut conn = self.connection().await?;
        self.append_with(&mut conn, request, &AlsoWrite::default()).await
    }

    /// A connection of the store's pool, to run the statements of one step of a use case on (see [`Connection`]).
    pub async fn connection(&self) -> Result<Connection, StoreError> {
        Ok(self.inner.pool.acquire().await?)
    }

    /// [`EventStore::append`] on `conn`, and in the same statement (so all or nothing, one round trip, one commit)
    /// the writes of `also`, made only when the events are appended.
    pub async fn append_with(
        &self,
        conn: &mut PgConnection,
        request: AppendRequest,
        also: &AlsoWrite,
    ) -> Result<AppendOutcome, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::InvalidAppend("an append needs at least one event"));
        }
        if request.expected_version < 0 {
            return Err(StoreError::InvalidAppend("expected version must not be negative"));
        }
        let n = request.events.len();
        let mut ids = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut schemas = Vec::with_capacity(n);
        let mut datas = Vec::with_capacity(n);
        for e in request.events {
            ids.push(e.event_id);
            types.push(e.event_type);
            schemas.push(e.schema_version);
            // Serialized once: the text is stored as is (`json`) and comes back as the stored event's payload.
            datas.push(Payload::from_value(&e.data));
        }
        let texts: Vec<&str> = datas.iter().map(Payload::as_str).collect();
        let sql = also.sql();
        let query = sqlx::query(&sql)
            .bind(request.stream_id)
            .bind(request.expected_version)
            .bind(&ids)
            .bind(&types)
            .bind(&schemas)
            .bind(&texts)
            .bind(&request.scope.tenant_id)
            .bind(&request.scope.merchant_id)
            .bind(&request.scope.store_id)
            .bind(&request.scope.terminal_id)
            .bind(request.metadata.correlation_id)
            .bind(request.metadata.causation_id)
            .bind(&request.metadata.actor)
            .bind(&request.idempotency_key);
        let result = also.bind(query).fetch_all(&mut *conn).await;
        let rows = match result {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                let constraint = db.constraint().map(str::to_owned);
                return resolve_rejected(
                    conn,
                    request.stream_id,
                    request.expected_version,
                    request.idempotency_key,
                    constraint,
                )
                .await;
            }
            Err(e) => return Err(e.into()),
        };
        if rows.is_empty() {
            // The version check in the statement failed: the stream is elsewhere, or this is a retry.
            return resolve_rejected(conn, request.stream_id, request.expected_version, request.idempotency_key, None)
                .await;
        }
        let mut written: Vec<(i64, i64, i64, chrono::DateTime<chrono::Utc>)> = Vec::with_capacity(rows.len());
        for row in &rows {
            written.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?));
        }
        written.sort_unstable_by_key(|w| w.0);
        let mut events = Vec::with_capacity(n);
        for (i, (((event_id, event_type), schema_version), data)) in
            ids.into_iter().zip(types).zip(schemas).zip(datas).enumerate()
        {
            let (version, position, tx_id, recorded_at) = written[i];
            events.push(StoredEvent {
                position,
                tx_id,
                event_id,
                stream_id: request.stream_id,
                version,
                event_type,
                schema_version,
                data,
                scope: request.scope.clone(),
                metadata: request.metadata.clone(),
                idempotency_key: request.idempotency_key.clone(),
                recorded_at,
            });
        }
        self.inner.appended.send_modify(|n| *n = n.wrapping_add(1));
        Ok(AppendOutcome::Appended(events))
    }

    /// The number of events in a stream (0 if it does not exist).
    pub async fn stream_version(&self, stream_id: Uuid) -> Result<i64, StoreError> {
        stream_version(&mut *self.connection().await?, stream_id).await
    }

    /// All events of a stream in version order (empty if the stream does not exist).
    pub async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<StoredEvent>, StoreError> {
        read_stream(&mut *self.connection().await?, stream_id).await
    }

    /// The events of every stream of `stream_ids`, each stream's in version order, in one statement.
    pub async fn read_streams(&self, stream_ids: &[Uuid]) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!("SELECT {SELECT_COLUMNS} FROM events WHERE stream_id = ANY($1) ORDER BY stream_id, version");
        let rows = sqlx::query(&sql).bind(stream_ids).fetch_all(&self.inner.pool).await?;
        rows.iter().map(stored_event).collect()
    }

    /// The checkpoint of the last committed event in `(tx_id, position)` order ([`Checkpoint::START`] if none);
    /// a subscription that reaches it has seen every event committed before this call.
    pub async fn head(&self) -> Result<Checkpoint, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT tx_id::text::int8, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1")
                .fetch_optional(&self.inner.pool)
                .await?;
        Ok(row.map_or(Checkpoint::START, |(tx_id, position)| Checkpoint { tx_id, position }))
    }

    /// Up to `limit` events strictly after `after` in `(tx_id, position)` order, only from transactions older
    /// than every transaction still running, so that no later commit can ever land behind the returned events.
    pub async fn read_all_after(&self, after: Checkpoint, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_rows_after(after, limit).await
    }

    /// [`EventStore::read_all_after`] in the row shape `R` (only the columns it selects).
    pub async fn read_rows_after<R: EventRow>(&self, after: Checkpoint, limit: i64) -> Result<Vec<R>, StoreError> {
        let mut conn = self.inner.pool.acquire().await?;
        read_after(&mut conn, after, limit).await
    }
}

/// Explains an append that wrote nothing: a retried command, a reused event id, or a version conflict.
async fn resolve_rejected(
    conn: &mut PgConnection,
    stream_id: Uuid,
    expected: i64,
    idempotency_key: Option<String>,
    constraint: Option<String>,
) -> Result<AppendOutcome, StoreError> {
    if let Some(key) = idempotency_key {
        let sql = format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE stream_id = $1 AND idempotency_key = $2 ORDER BY version"
        );
        let rows = sqlx::query(&sql).bind(stream_id).bind(key).fetch_all(&mut *conn).await?;
        if !rows.is_empty() {
            let events = rows.iter().map(stored_event).collect::<Result<Vec<_>, _>>()?;
            return Ok(AppendOutcome::Duplicate(events));
        }
    }
    if constraint.as_deref() == Some("events_event_id_key") {
        return Err(StoreError::DuplicateEventId { stream_id });
    }
    let actual = stream_version(conn, stream_id).await?;
    Err(StoreError::Conflict { stream_id, expected, actual })
}

async fn stream_version(conn: &mut PgConnection, stream_id: Uuid) -> Result<i64, StoreError> {
    let version: i64 = sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1")
        .bind(stream_id)
        .fetch_one(conn)
        .await?;
    Ok(version)
}

/// All events of a stream in version order, on `conn`.
pub(crate) async fn read_stream(conn: &mut PgConnection, stream_id: Uuid) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!("SELECT {SELECT_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version");
    let rows = sqlx::query(&sql).bind(stream_id).fetch_all(conn).await?;
    rows.iter().map(stored_event).collect()
}

/// Which events of the log a tenant's reader wants ([`EventStore::read_tenant_after`]).
#[derive(Debug, Clone, Default)]
pub struct TenantFilter {
    pub tenant_id: String,
    /// Only these stores' events (`None`: every store).
    pub stores: Option<Vec<String>>,
    /// Only these event types (`None`: every type).
    pub types: Option<Vec<String>>,
}

impl EventStore {
    /// Up to `limit` events of `filter` strictly after `after`, in the gap-safe order of
    /// [`EventStore::read_all_after`] (`(tx_id, position)`, below the commit horizon), so a reader that follows the
    /// returned checkpoints sees each of its events exactly once.
    pub async fn read_tenant_after(
        &self,
        filter: &TenantFilter,
        after: Checkpoint,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {SELECT_COLUMNS} FROM events \
             WHERE (events.tx_id, events.position) > ($1::int8::text::xid8, $2) \
               AND events.tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
               AND tenant_id = $4 AND ($5::text[] IS NULL OR store_id = ANY($5)) \
               AND ($6::text[] IS NULL OR event_type = ANY($6)) \
             ORDER BY events.tx_id, events.position LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(after.tx_id)
            .bind(after.position)
            .bind(limit)
            .bind(&filter.tenant_id)
            .bind(filter.stores.as_deref())
            .bind(filter.types.as_deref())
            .fetch_all(&self.inner.pool)
            .await?;
        rows.iter().map(stored_event).collect()
    }
}

/// A row of the event log as one reader wants it: the columns it selects and how it decodes them. Projections
/// that need only part of an event read only that part ([`crate::Projection::Row`]); [`StoredEvent`] is the
/// whole row.
pub trait EventRow: Sized + Send + 'static {
    /// The columns of `events` to select, in the order [`EventRow::from_row`] reads them.
    const COLUMNS: &'static str;

    /// Decodes one selected row.
    fn from_row(row: &PgRow) -> Result<Self, StoreError>;

    /// The subscription checkpoint just after this event.
    fn checkpoint(&self) -> Checkpoint;
}

impl EventRow for StoredEvent {
    const COLUMNS: &'static str = SELECT_COLUMNS;

    fn from_row(row: &PgRow) -> Result<StoredEvent, StoreError> {
        stored_event(row)
    }

    fn checkpoint(&self) -> Checkpoint {
        StoredEvent::checkpoint(self)
    }
}

/// Up to `limit` rows after `after` in `(tx_id, position)` order, below the commit horizon. Rows are decoded as
/// they arrive, while the server is still sending the rest.
pub(crate) async fn read_after<R: EventRow>(
    conn: &mut sqlx::PgConnection,
    after: Checkpoint,
    limit: i64,
) -> Result<Vec<R>, StoreError> {
    let sql = format!(
        "SELECT {} FROM events \
         WHERE (events.tx_id, events.position) > ($1::int8::text::xid8, $2) \
           AND events.tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id, events.position LIMIT $3",
        R::COLUMNS
    );
    let mut rows = sqlx::query(&sql).bind(after.tx_id).bind(after.position).bind(limit).fetch(conn);
    let mut out = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(MAX_PREALLOCATED_ROWS));
    while let Some(row) = rows.try_next().await? {
        out.push(R::from_row(&row)?);
    }
    Ok(out)
}

/// Rows preallocated by [`read_after`], whatever the limit.
const MAX_PREALLOCATED_ROWS: usize = 16_384;

fn stored_event(row: &PgRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        position: row.try_get("position")?,
        // xid8 travels as a binary int8 (values stay far below 2^63); skipping the text cast saves server time.
        tx_id: row.try_get_unchecked("tx_id")?,
        event_id: row.try_get("event_id")?,
        stream_id: row.try_get("stream_id")?,
        version: row.try_get("version")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        data: Payload::from_raw(row.try_get::<sqlx::types::Json<Box<serde_json::value::RawValue>>, _>("data")?.0),
        scope: EventScope {
            tenant_id: row.try_get("tenant_id")?,
            merchant_id: row.try_get("merchant_id")?,
            store_id: row.try_get("store_id")?,
            terminal_id: row.try_get("terminal_id")?,
        },
        metadata: Metadata {
            correlation_id: row.try_get("correlation_id")?,
            causation_id: row.try_get("causation_id")?,
            actor: row.try_get("actor")?,
        },
        idempotency_key: row.try_get("idempotency_key")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

/// Sends `NOTIFY seqrd_events` after appends, at most about once per millisecond, outside any append transaction.
/// Exits when the last [`EventStore`] handle is dropped.
async fn notifier(pool: PgPool, mut wakeups: watch::Receiver<u64>) {
    // A notification needs no durability: commit it asynchronously so it costs no WAL flush.
    const SQL: &str = "SELECT set_config('synchronous_commit', 'off', true), pg_notify('seqrd_events', '')";
    while wakeups.changed().await.is_ok() {
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query(SQL).execute(&pool).await {
            tracing::warn!(error = %e, "cannot send NOTIFY {NOTIFY_CHANNEL}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
