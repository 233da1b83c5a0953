use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgConnection;
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::event::Checkpoint;
use crate::store::{read_after, EventRow, EventStore, NOTIFY_CHANNEL};

/// A read model fed by a [`Subscription`]. A batch is first prepared (decoded and folded, reading nothing but the
/// event log, which never changes below the commit horizon: this runs ahead on another task while the previous
/// batch is applied), then applied inside the transaction that also moves the checkpoint, so a batch is applied
/// entirely or not at all.
pub trait Projection: Send + Sync + 'static {
    /// What the projection reads of each event (the columns it needs, decoded as it wants them).
    type Row: EventRow;

    /// A prepared batch.
    type Batch: Send + 'static;

    /// Stable name: the key of the projection's checkpoint in `subscriptions`.
    fn name(&self) -> &str;

    /// Turns rows (in `(tx_id, position)` order) into what [`Projection::apply`] needs. It may read earlier
    /// events from `conn` but never the read model: the previous batch may not be applied yet.
    fn prepare(
        &self,
        conn: &mut PgConnection,
        events: Vec<Self::Row>,
    ) -> impl Future<Output = Result<Self::Batch, StoreError>> + Send;

    /// Applies one prepared batch. Applying events again (after a rebuild) must give the same rows.
    fn apply(&self, conn: &mut PgConnection, batch: Self::Batch)
        -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Empties the read model (used by [`Subscription::rebuild`]).
    fn reset(&self, conn: &mut PgConnection) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Settings of a [`Subscription`].
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionConfig {
    /// Most events per batch (one transaction each).
    pub batch_size: i64,
    /// The safety-net polling period of [`Subscription::run`] when no notification arrives.
    pub poll_interval: Duration,
}

impl SubscriptionConfig {
    /// Batches of `batch_size` events, polling every `poll_interval`.
    pub fn new(batch_size: i64, poll_interval: Duration) -> SubscriptionConfig {
        SubscriptionConfig { batch_size, poll_interval }
    }
}

/// What one or more batches processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processed {
    /// Number of events applied.
    pub events: usize,
    /// The checkpoint afterwards.
    pub checkpoint: Checkpoint,
    /// Whether committed events remain after the checkpoint: the batch was full, or transactions still open
    /// hold the commit horizon below them (they become readable once those transactions end).
    pub more: bool,
}

/// A catch-up subscription with a durable checkpoint, feeding one projection.
pub struct Subscription<P> {
    store: EventStore,
    projection: Arc<P>,
    config: SubscriptionConfig,
}

/// A batch read and prepared: the events strictly after `after` up to `last`.
struct Fetched<B> {
    after: Checkpoint,
    last: Checkpoint,
    count: usize,
    batch: B,
}

type Prefetch<B> = (Checkpoint, JoinHandle<Result<Option<Fetched<B>>, StoreError>>);

impl<P: Projection> Subscription<P> {
    /// A subscription of `projection` to all events of `store`.
    pub fn new(store: EventStore, projection: P, config: SubscriptionConfig) -> Subscription<P> {
        Subscription { store, projection: Arc::new(projection), config }
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The stored checkpoint ([`Checkpoint::START`] before the first batch).
    pub async fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        let mut conn = self.store.pool().acquire().await?;
        load_checkpoint(&mut conn, self.projection.name()).await
    }

    /// Processes one batch: reads up to `batch_size` events after the checkpoint (below the commit horizon),
    /// applies them and stores the new checkpoint in one transaction. Returns how many events were applied.
    pub async fn run_once(&self) -> Result<Processed, StoreError> {
        Ok(self.step(None, false).await?.0)
    }

    /// One batch. Uses `prefetched` if it starts at the stored checkpoint; with `pipelined`, starts reading and
    /// preparing the following batch before applying this one and returns that prefetch.
    async fn step(
        &self,
        prefetched: Option<Prefetch<P::Batch>>,
        pipelined: bool,
    ) -> Result<(Processed, Option<Prefetch<P::Batch>>), StoreError> {
        let name = self.projection.name();
        let mut tx = self.store.pool().begin().await?;
        // Serialise runners of the same projection; an advisory lock takes no transaction id, so the horizon read
        // below is not held back by this transaction. The commit need not wait for its WAL flush: a crash can only
        // lose the newest batches together with their checkpoint, and they are projected again.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), set_config('synchronous_commit', 'off', true)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await?;
        let checkpoint = load_checkpoint(&mut tx, name).await?;
        let mut fetched = None;
        if let Some((after, handle)) = prefetched {
            if after == checkpoint {
                fetched = handle.await.map_err(|e| StoreError::Projection {
                    name: name.to_owned(),
                    message: format!("prefetch task failed: {e}"),
                })??;
            } else {
                handle.abort();
            }
        }
        if fetched.is_none() {
            fetched = fetch(&*self.projection, &mut tx, checkpoint, self.config.batch_size).await?;
        }
        let Some(Fetched { after, last, count, batch }) = fetched else {
            let more = events_after(&mut tx, checkpoint).await?;
            tx.rollback().await?;
            return Ok((Processed { events: 0, checkpoint, more }, None));
        };
        debug_assert_eq!(after, checkpoint);
        let full = count as i64 >= self.config.batch_size;
        // Events below the horizon never change, so the next batch can be read before this one commits.
        let next = (pipelined && full).then(|| {
            let store = self.store.clone();
            let projection = Arc::clone(&self.projection);
            let limit = self.config.batch_size;
            let handle = tokio::spawn(async move {
                let mut conn = store.pool().acquire().await?;
                fetch(&*projection, &mut conn, last, limit).await
            });
            (last, handle)
        });
        let applied = async {
            self.projection.apply(&mut tx, batch).await?;
            save_checkpoint(&mut tx, name, last).await?;
            let more = full || events_after(&mut tx, last).await?;
            tx.commit().await?;
            Ok::<bool, StoreError>(more)
        }
        .await;
        match applied {
            Ok(more) => Ok((Processed { events: count, checkpoint: last, more }, next)),
            Err(e) => {
                if let Some((_, handle)) = next {
                    handle.abort();
                }
                Err(e)
            }
        }
    }

    /// Runs batches until every event committed when called is applied (waiting for transactions that hold
    /// committed events behind the horizon). Events appended meanwhile may or may not be included.
    pub async fn catch_up(&self) -> Result<Processed, StoreError> {
        let head = self.store.head().await?;
        self.catch_up_to(head).await
    }

    /// Runs batches until the checkpoint reaches `target` (e.g. the checkpoint of an event just appended),
    /// waiting on appends of this store and polling while older transactions hold the horizon back.
    pub async fn catch_up_to(&self, target: Checkpoint) -> Result<Processed, StoreError> {
        let mut wakeups = self.store.appended();
        let mut total = 0;
        let mut prefetched = None;
        loop {
            let (p, next) = self.step(prefetched.take(), true).await?;
            prefetched = next;
            total += p.events;
            if p.checkpoint >= target {
                if let Some((_, handle)) = prefetched {
                    handle.abort();
                }
                return Ok(Processed { events: total, ..p });
            }
            if p.events == 0 {
                // Held back by open transactions, or waiting for the target's append to be seen.
                tokio::select! {
                    _ = wakeups.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                }
            }
        }
    }

    /// Rebuilds the read model from the first event: empties it and resets the checkpoint in one transaction,
    /// then catches up.
    pub async fn rebuild(&self) -> Result<Processed, StoreError> {
        let name = self.projection.name();
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(name).execute(&mut *tx).await?;
        self.projection.reset(&mut tx).await?;
        sqlx::query("DELETE FROM subscriptions WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        self.catch_up().await
    }

    /// Processes batches until `shutdown` completes. Between batches it waits for `NOTIFY seqrd_events`, an
    /// append through this store handle, or the polling period, whichever comes first. Errors are logged and
    /// retried after the polling period.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
        let mut listener = PgListener::connect_with(self.store.pool()).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        let mut wakeups = self.store.appended();
        tokio::pin!(shutdown);
        loop {
            let (full, held_back) = match self.run_once().await {
                Ok(p) => (p.events as i64 >= self.config.batch_size, p.more),
                Err(e) => {
                    tracing::error!(projection = self.projection.name(), error = %e, code = e.code(), "batch failed");
                    (false, false)
                }
            };
            if full {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return Ok(()),
                    _ = std::future::ready(()) => continue,
                }
            }
            if held_back {
                // Committed events wait behind open transactions: no notification will come when those end.
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(HELD_BACK_RETRY.min(self.config.poll_interval)) => continue,
                }
            }
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                r = listener.recv() => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "LISTEN connection failed; polling until it is back");
                        tokio::time::sleep(self.config.poll_interval).await;
                    }
                }
                _ = wakeups.changed() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }
}

/// Reads up to `limit` events after `after` and prepares them (`None` when there are none).
async fn fetch<P: Projection>(
    projection: &P,
    conn: &mut PgConnection,
    after: Checkpoint,
    limit: i64,
) -> Result<Option<Fetched<P::Batch>>, StoreError> {
    let events = read_after::<P::Row>(conn, after, limit).await?;
    let Some(last) = events.last().map(EventRow::checkpoint) else { return Ok(None) };
    let count = events.len();
    let batch = projection.prepare(conn, events).await?;
    Ok(Some(Fetched { after, last, count, batch }))
}

/// How soon [`Subscription::run`] looks again when open transactions hold committed events back.
const HELD_BACK_RETRY: Duration = Duration::from_millis(5);

/// Whether any event (committed, whatever the horizon) lies after `after` in `(tx_id, position)` order.
async fn events_after(conn: &mut PgConnection, after: Checkpoint) -> Result<bool, StoreError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE (tx_id, position) > ($1::int8::text::xid8, $2))")
            .bind(after.tx_id)
            .bind(after.position)
            .fetch_one(conn)
            .await?;
    Ok(exists)
}

/// Stores subscription `name`'s checkpoint. It only ever moves forward, so a stale writer (a relay that lost its
/// lead, a projection batch replayed after a crash) can never move it back. The one writer of `subscriptions`.
pub async fn save_checkpoint(conn: &mut PgConnection, name: &str, next: Checkpoint) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO subscriptions (name, tx_id, position) VALUES ($1, $2::int8::text::xid8, $3) \
         ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, position = excluded.position, updated_at = now() \
         WHERE (subscriptions.tx_id, subscriptions.position) < (excluded.tx_id, excluded.position)",
    )
    .bind(name)
    .bind(next.tx_id)
    .bind(next.position)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored checkpoint of subscription `name` in `subscriptions` ([`Checkpoint::START`] when it has none). Also
/// used by consumers that keep their own checkpoint there (the RabbitMQ relay).
pub async fn load_checkpoint(conn: &mut PgConnection, name: &str) -> Result<Checkpoint, StoreError> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT tx_id::text::int8, position FROM subscriptions WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    Ok(row.map_or(Checkpoint::START, |(tx_id, position)| Checkpoint { tx_id, position }))
}
