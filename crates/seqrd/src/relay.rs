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

use sqlx::postgres::{PgConnection, PgListener};
use store_pg::{Checkpoint, EventStore, StoreError, NOTIFY_CHANNEL};

use crate::amqp::{FeedMessage, PublishError, Publisher, DEFAULT_CONFIRM_TIMEOUT};

/// Key space of the relay's advisory locks (`pg_try_advisory_lock(RELAY_LOCK_CLASS, hashtext(name))`). The
/// two-key form never collides with the one-key locks the projections take.
pub const RELAY_LOCK_CLASS: i32 = 0x5e9d_0001;

/// Default number of events per batch (also the publisher-confirm window).
pub const DEFAULT_BATCH_SIZE: i64 = 1000;

/// Safety-net polling period of [`Relay::run`] when no wake-up arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How often a standby process tries to become the active relay.
const STANDBY_RETRY: Duration = Duration::from_secs(3);

/// First and longest pause after a failed batch.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why a relay step failed. Each variant has a stable [`RelayError::code`].
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// RabbitMQ could not be reached (connect, channel, exchange declaration).
    #[error("cannot connect to RabbitMQ: {0}")]
    Connect(#[source] PublishError),
    /// Publishing a batch failed (connection lost, nack, no confirm in time); the checkpoint did not move.
    #[error("cannot publish to RabbitMQ: {0}")]
    Publish(#[source] PublishError),
    /// Postgres failed (reading events, reading or writing the checkpoint, the leader lock).
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// [`Relay::catch_up_to`] did not reach its target in time (a transaction somewhere in the Postgres cluster
    /// held the read horizon back all along).
    #[error("the relay did not reach position {0:?} in time: a long transaction holds the read horizon back")]
    Stalled(Checkpoint),
}

impl RelayError {
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

impl From<sqlx::Error> for RelayError {
    fn from(e: sqlx::Error) -> RelayError {
        RelayError::Store(StoreError::Db(e))
    }
}

/// Publishes the event store to the RabbitMQ feed exchange. See the module documentation.
pub struct Relay {
    store: EventStore,
    amqp_url: String,
    exchange: String,
    name: String,
    batch_size: i64,
    confirm_timeout: Duration,
    publisher: Option<Publisher>,
}

impl Relay {
    /// A relay of `store` to `exchange` at `amqp_url`, keeping its checkpoint under `name` in `subscriptions`.
    /// Nothing is connected until the first [`Relay::relay_once`].
    pub fn new(store: EventStore, amqp_url: &str, exchange: &str, name: &str) -> Relay {
        Relay {
            store,
            amqp_url: amqp_url.to_owned(),
            exchange: exchange.to_owned(),
            name: name.to_owned(),
            batch_size: DEFAULT_BATCH_SIZE,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            publisher: None,
        }
    }

    /// Sets the most events per batch (at least 1), which is also the publisher-confirm window.
    pub fn with_batch_size(mut self, batch_size: i64) -> Relay {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Sets how long a batch may wait for its confirms before it fails (default 30 s).
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> Relay {
        self.confirm_timeout = timeout;
        self
    }

    /// The checkpoint name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stored checkpoint ([`Checkpoint::START`] before the first confirmed batch).
    pub async fn checkpoint(&self) -> Result<Checkpoint, RelayError> {
        let mut conn = self.store.pool().acquire().await?;
        Ok(store_pg::load_checkpoint(&mut conn, &self.name).await?)
    }

    /// Drives [`Relay::relay_once`] until the checkpoint reaches `target` (e.g. [`EventStore::head`] when called);
    /// returns how many events were published. A round publishes nothing while a transaction elsewhere in the
    /// Postgres cluster holds the read horizon back; then this retries every millisecond, for at most `limit`.
    pub async fn catch_up_to(&mut self, target: Checkpoint, limit: Duration) -> Result<usize, RelayError> {
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
    pub async fn relay_once(&mut self) -> Result<usize, RelayError> {
        let publisher = match self.publisher.take() {
            Some(publisher) if publisher.is_connected() => publisher,
            _ => Publisher::connect(&self.amqp_url, &self.exchange)
                .await
                .map_err(RelayError::Connect)?
                .with_confirm_timeout(self.confirm_timeout),
        };
        let checkpoint = self.checkpoint().await?;
        let events = self.store.read_all_after(checkpoint, self.batch_size).await?;
        if let Some(last) = events.last() {
            let messages: Vec<FeedMessage<'_>> = events.iter().map(FeedMessage::from_stored).collect();
            publisher.publish_confirmed(&messages).await.map_err(RelayError::Publish)?;
            store_checkpoint(&self.store, &self.name, last.checkpoint()).await?;
        }
        self.publisher = Some(publisher);
        Ok(events.len())
    }

    /// Relays until `shutdown` completes.
    ///
    /// Only one process per checkpoint name is active: it holds `pg_try_advisory_lock(RELAY_LOCK_CLASS,
    /// hashtext(name))` on a dedicated connection; the others retry every few seconds. The active one relays
    /// batch after batch, waking on appends through this store handle, on `NOTIFY seqrd_events`, and every
    /// 500 ms as a safety net. While RabbitMQ or Postgres fails it backs off (up to 5 s), logging the outage once
    /// and the recovery once.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), RelayError> {
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
            tracing::info!(relay = %self.name, exchange = %self.exchange, "relay active");
            let stop = self.lead(lock, &mut shutdown, &mut outage).await;
            if let Some(publisher) = self.publisher.take() {
                publisher.close().await;
            }
            if stop {
                return Ok(());
            }
            tracing::warn!(relay = %self.name, "relay lost its leader lock; back on standby");
        }
    }

    /// Takes the leader lock on a new dedicated connection, or returns `None` if another process holds it.
    async fn try_lead(&self) -> Result<Option<PgConnection>, RelayError> {
        let options = self.store.pool().connect_options();
        Ok(crate::locks::try_hold(&options, RELAY_LOCK_CLASS, crate::locks::LockKey::Name(&self.name)).await?)
    }

    /// The active relay's loop. Returns true on shutdown, false when the leader lock was lost.
    async fn lead(
        &mut self,
        mut lock: PgConnection,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        outage: &mut Outage,
    ) -> bool {
        let mut wakeups = self.store.appended();
        let mut listener = None;
        let mut backoff = BACKOFF_MIN;
        loop {
            if listener.is_none() {
                listener = self.listen().await;
            }
            let pause = match self.relay_once().await {
                Ok(n) => {
                    outage.recovered(&self.name);
                    backoff = BACKOFF_MIN;
                    if n as i64 >= self.batch_size {
                        // More is waiting: go on at once (but still honour a shutdown).
                        Duration::ZERO
                    } else {
                        POLL_INTERVAL
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
                if sqlx::query("SELECT 1").execute(&mut lock).await.is_err() {
                    return false;
                }
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(self.store.pool()).await.ok()?;
        listener.listen(NOTIFY_CHANNEL).await.ok()?;
        Some(listener)
    }
}

/// Waits for a notification; pends forever without a listener.
async fn recv(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
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
    fn failed(&mut self, relay: &str, e: &RelayError) {
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

/// Upserts the checkpoint; it only ever moves forward, so a stale relay can never move it back.
async fn store_checkpoint(store: &EventStore, name: &str, next: Checkpoint) -> Result<(), RelayError> {
    sqlx::query(
        "INSERT INTO subscriptions (name, tx_id, position) VALUES ($1, $2::int8::text::xid8, $3) \
         ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, position = excluded.position, updated_at = now() \
         WHERE (subscriptions.tx_id, subscriptions.position) < (excluded.tx_id, excluded.position)",
    )
    .bind(name)
    .bind(next.tx_id)
    .bind(next.position)
    .execute(store.pool())
    .await?;
    Ok(())
}
