//! The relay: publishes every stored event, in the store's global `(tx_id, position)` order, to the RabbitMQ feed
//! exchange, and moves its checkpoint only after RabbitMQ confirmed the whole batch.
//!
//! Delivery is at least once: a batch that fails (RabbitMQ down, a nack, a lost connection, a crash between the
//! last confirm and the checkpoint write) is published again from the old checkpoint. Order per invoice holds
//! because the global order keeps every stream's order and one channel keeps the publish order.
//!
//! **Invariant:** the checkpoint in `subscriptions` never points past an event that RabbitMQ has not confirmed.
//!
//! In a fleet, only one process relays at a time: [`Relay::run`] holds a session advisory lock on a dedicated
//! connection while it is active; the others wait on standby and take over when that connection goes away.

use std::future::Future;
use std::time::{Duration, Instant};

use store_pg::{
    locks::{Held, LockKey, RELAY_LOCK_CLASS},
    Checkpoint, EventStore, Listener, StoreError, StoredEvent, NOTIFY_CHANNEL,
};

/// Where the relay publishes: the RabbitMQ feed (the `amqp` crate), or any transport with publisher confirms.
/// A feed keeps its own connection: it connects on [`Feed::connect`] when it has none (or lost it) and drops it on
/// any error, so the next call connects again.
pub trait Feed: Send {
    /// Why connecting or publishing failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Makes sure the feed is connected.
    fn connect(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Publishes a batch in order and returns once every message is confirmed; any refusal fails the batch.
    fn publish(&mut self, batch: &[FeedEvent<'_>]) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Closes the connection politely (best effort).
    fn close(&mut self) -> impl Future<Output = ()> + Send;

    /// Where it publishes, for logs.
    fn destination(&self) -> String;
}

/// One stored event, as the feed publishes it.
#[derive(Debug, Clone, Copy)]
pub struct FeedEvent<'a> {
    /// Event id: consumers deduplicate on it.
    pub id: uuid::Uuid,
    /// Event type, e.g. `status_observed`.
    pub event_type: &'a str,
    /// Schema version of `data` for this event type (see schemas/events/).
    pub schema_version: i32,
    /// The invoice (stream) the event belongs to.
    pub invoice_id: uuid::Uuid,
    /// Position of the event in its invoice's stream, from 1.
    pub version: i64,
    /// Position in the global log.
    pub position: i64,
    pub tenant_id: &'a str,
    pub merchant_id: &'a str,
    pub store_id: Option<&'a str>,
    pub terminal_id: Option<&'a str>,
    /// When the event was stored (database clock).
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub correlation_id: Option<uuid::Uuid>,
    pub causation_id: Option<uuid::Uuid>,
    /// The event payload, as stored (JSON).
    pub data: &'a serde_json::value::RawValue,
}

impl<'a> FeedEvent<'a> {
    /// The feed's view of a stored event.
    pub fn of(event: &'a StoredEvent) -> FeedEvent<'a> {
        FeedEvent {
            id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            invoice_id: event.stream_id,
            version: event.version,
            position: event.position,
            tenant_id: &event.scope.tenant_id,
            merchant_id: &event.scope.merchant_id,
            store_id: event.scope.store_id.as_deref(),
            terminal_id: event.scope.terminal_id.as_deref(),
            recorded_at: event.recorded_at,
            correlation_id: Some(event.metadata.correlation_id),
            causation_id: event.metadata.causation_id,
            data: event.data.as_raw(),
        }
    }
}

/// Default number of events per batch (also the publisher-confirm window).
pub const DEFAULT_BATCH_SIZE: i64 = 1000;

/// Safety-net polling period of [`Relay::run`] when no wake-up arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Pauses before reading again when events exist above the checkpoint but none could be read yet (an older
/// transaction holds the read horizon back): from 1 ms, doubling up to 25 ms while the horizon stays held, so
/// delivery waits for that transaction, never for the idle poll, and a long transaction costs a few reads a
/// second.
const HORIZON_RETRY_MIN: Duration = Duration::from_millis(1);
const HORIZON_RETRY_MAX: Duration = Duration::from_millis(25);

/// How often a standby process tries to become the active relay.
const STANDBY_RETRY: Duration = Duration::from_secs(3);

/// First and longest pause after a failed batch.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why a relay step failed. Each variant has a stable [`RelayError::code`].
#[derive(Debug, thiserror::Error)]
pub enum RelayError<E: std::error::Error + 'static> {
    /// The feed could not be reached (connect, channel, exchange declaration).
    #[error("cannot connect to the feed: {0}")]
    Connect(#[source] E),
    /// Publishing a batch failed (connection lost, nack, no confirm in time); the checkpoint did not move.
    #[error("cannot publish to the feed: {0}")]
    Publish(#[source] E),
    /// Postgres failed (reading events, reading or writing the checkpoint, the leader lock).
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// [`Relay::catch_up_to`] did not reach its target in time (a transaction somewhere in the Postgres cluster
    /// held the read horizon back all along).
    #[error("the relay did not reach position {0:?} in time: a long transaction holds the read horizon back")]
    Stalled(Checkpoint),
}

impl<E: std::error::Error + 'static> RelayError<E> {
    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            RelayError::Connect(_) => "relay.amqp_connect",
            RelayError::Publish(_) => "relay.amqp_publish",
            RelayError::Store(_) => "relay.store",
            RelayError::Stalled(_) => "relay.stalled",
        }
    }

    /// Whether the error is RabbitMQ's (as opposed to Postgres').
    pub fn is_amqp(&self) -> bool {
        matches!(self, RelayError::Connect(_) | RelayError::Publish(_))
    }
}

/// Publishes the event store to the RabbitMQ feed exchange. See the module documentation.
pub struct Relay<F: Feed> {
    store: EventStore,
    feed: F,
    name: String,
    batch_size: i64,
    /// The furthest event this relay sent whose confirmation it did not get (a failed batch): events up to it that
    /// it publishes again are redeliveries (consumers deduplicate them).
    unconfirmed_up_to: Option<Checkpoint>,
}

/// What one relay step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    /// Events published and confirmed.
    pub events: usize,
    /// Whether events are known to wait after the new checkpoint (a full batch, or events above the read horizon).
    pub more: bool,
}

impl<F: Feed> Relay<F> {
    /// A relay of `store` to `feed`, keeping its checkpoint under `name` in `subscriptions`.
    /// Nothing is connected until the first [`Relay::relay_once`].
    pub fn new(store: EventStore, feed: F, name: &str) -> Relay<F> {
        Relay { store, feed, name: name.to_owned(), batch_size: DEFAULT_BATCH_SIZE, unconfirmed_up_to: None }
    }

    /// Sets the most events per batch (at least 1), which is also the publisher-confirm window.
    pub fn with_batch_size(mut self, batch_size: i64) -> Relay<F> {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The checkpoint name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stored checkpoint ([`Checkpoint::START`] before the first confirmed batch).
    pub async fn checkpoint(&self) -> Result<Checkpoint, RelayError<F::Error>> {
        let mut conn = self.store.pool().acquire().await.map_err(StoreError::from)?;
        Ok(store_pg::load_checkpoint(&mut conn, &self.name).await?)
    }

    /// Drives [`Relay::relay_once`] until the checkpoint reaches `target` (e.g. [`EventStore::head`] when called);
    /// returns how many events were published. A round publishes nothing while a transaction elsewhere in the
    /// Postgres cluster holds the read horizon back; then this retries every millisecond, for at most `limit`.
    pub async fn catch_up_to(&mut self, target: Checkpoint, limit: Duration) -> Result<usize, RelayError<F::Error>> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut total = 0;
        loop {
            let n = self.relay_once().await?;
            total += n;
            if self.checkpoint().await? >= target {
                return Ok(total);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RelayError::Stalled(target));
            }
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Publishes the next batch after the checkpoint and, once every message is confirmed, stores the new
    /// checkpoint. Returns the number of events published (0 when there was nothing to do).
    ///
    /// It (re)connects to RabbitMQ first, so a broker outage shows even when there is nothing to publish. On any
    /// error the publisher is dropped (the next call reconnects) and the checkpoint stays where it was.
    pub async fn relay_once(&mut self) -> Result<usize, RelayError<F::Error>> {
        Ok(self.step().await?.events)
    }

    /// [`Relay::relay_once`], also telling whether more events are known to wait.
    pub async fn step(&mut self) -> Result<Relayed, RelayError<F::Error>> {
        self.feed.connect().await.map_err(RelayError::Connect)?;
        let checkpoint = self.checkpoint().await?;
        let events = self.store.read_all_after(checkpoint, self.batch_size).await?;
        let Some(last) = events.last() else {
            // Nothing readable: either nothing new, or an older transaction holds the horizon below new events.
            let more = self.store.head().await? > checkpoint;
            return Ok(Relayed { events: 0, more });
        };
        let batch: Vec<FeedEvent<'_>> = events.iter().map(FeedEvent::of).collect();
        let again = self.unconfirmed_up_to.map_or(0, |up_to| events.iter().filter(|e| e.checkpoint() <= up_to).count());
        if let Err(e) = self.feed.publish(&batch).await {
            self.unconfirmed_up_to = self.unconfirmed_up_to.max(Some(last.checkpoint()));
            return Err(RelayError::Publish(e));
        }
        crate::metrics::relay_batch(&self.name, events.len(), again);
        let mut conn = self.store.pool().acquire().await.map_err(StoreError::from)?;
        store_pg::save_checkpoint(&mut conn, &self.name, last.checkpoint()).await?;
        Ok(Relayed { events: events.len(), more: events.len() as i64 >= self.batch_size })
    }

    /// Relays until `shutdown` completes.
    ///
    /// Only one process per checkpoint name is active: it holds `pg_try_advisory_lock(RELAY_LOCK_CLASS,
    /// hashtext(name))` on a dedicated connection; the others retry every few seconds. The active one relays
    /// batch after batch, waking on appends through this store handle, on `NOTIFY seqrd_events`, and every
    /// 500 ms as a safety net. While RabbitMQ or Postgres fails it backs off (up to 5 s), logging the outage once
    /// and the recovery once.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), RelayError<F::Error>> {
        tokio::pin!(shutdown);
        let mut outage = Outage::default();
        loop {
            let lock = match self.try_lead().await {
                Ok(lock) => {
                    outage.recovered(&self.name);
                    lock
                }
                Err(e) => {
                    outage.failed(&self.name, &e);
                    None
                }
            };
            let Some(lock) = lock else {
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(STANDBY_RETRY) => continue,
                }
            };
            tracing::info!(relay = %self.name, feed = %self.feed.destination(), "relay active");
            let stop = self.lead(lock, &mut shutdown, &mut outage).await;
            self.feed.close().await;
            if stop {
                return Ok(());
            }
            tracing::warn!(relay = %self.name, "relay lost its leader lock; back on standby");
        }
    }

    /// Takes the leader lock on a new dedicated connection, or returns `None` if another process holds it.
    async fn try_lead(&self) -> Result<Option<Held>, RelayError<F::Error>> {
        let options = self.store.pool().connect_options();
        Ok(store_pg::locks::try_hold(&options, RELAY_LOCK_CLASS, LockKey::Name(&self.name)).await?)
    }

    /// The active relay's loop. Returns true on shutdown, false when the leader lock was lost.
    async fn lead(
        &mut self,
        mut lock: Held,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        outage: &mut Outage,
    ) -> bool {
        let mut wakeups = self.store.appended();
        let mut listener = None;
        let mut backoff = BACKOFF_MIN;
        let mut horizon = HORIZON_RETRY_MIN;
        loop {
            if listener.is_none() {
                listener = self.listen().await;
            }
            let pause = match self.step().await {
                Ok(step) => {
                    outage.recovered(&self.name);
                    backoff = BACKOFF_MIN;
                    match step {
                        // A full batch: more is waiting, go on at once (but still honour a shutdown).
                        Relayed { more: true, events } if events > 0 => Duration::ZERO,
                        // Events exist that could not be read yet: look again soon, never after the idle poll.
                        Relayed { more: true, .. } => {
                            let pause = horizon;
                            horizon = (horizon * 2).min(HORIZON_RETRY_MAX);
                            pause
                        }
                        Relayed { more: false, .. } => {
                            horizon = HORIZON_RETRY_MIN;
                            POLL_INTERVAL
                        }
                    }
                }
                Err(e) => {
                    outage.failed(&self.name, &e);
                    let pause = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    pause
                }
            };
            // While healthy and idle, any wake-up ends the pause; while failing, only the backoff does.
            let failing = outage.since.is_some();
            tokio::select! {
                biased;
                _ = shutdown.as_mut() => return true,
                r = recv(&mut listener), if !failing && !pause.is_zero() => {
                    if let Err(e) = r {
                        tracing::warn!(relay = %self.name, error = %e, "LISTEN connection failed; polling");
                        listener = None;
                    }
                }
                _ = wakeups.changed(), if !failing && !pause.is_zero() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            if pause >= POLL_INTERVAL || failing {
                // Check once in a while that the leader lock's connection is still there.
                if !lock.still_held().await {
                    return false;
                }
            }
        }
    }

    async fn listen(&self) -> Option<Listener> {
        Listener::connect(self.store.pool(), &[NOTIFY_CHANNEL]).await.ok()
    }
}

/// Waits for a notification; pends forever without a listener.
async fn recv(listener: &mut Option<Listener>) -> Result<(), StoreError> {
    match listener {
        Some(l) => l.recv().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

/// Logs an outage once when it starts and once when it ends.
#[derive(Default)]
struct Outage {
    since: Option<Instant>,
}

impl Outage {
    fn failed<E: std::error::Error + 'static>(&mut self, relay: &str, e: &RelayError<E>) {
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::error!(relay, error = %e, code = e.code(), "relay outage: publishing paused, retrying");
        } else {
            tracing::debug!(relay, error = %e, code = e.code(), "relay still failing");
        }
    }

    fn recovered(&mut self, relay: &str) {
        if let Some(since) = self.since.take() {
            tracing::info!(relay, down_for = ?since.elapsed(), "relay recovered");
        }
    }
}
