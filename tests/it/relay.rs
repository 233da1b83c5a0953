//! The relay against real Postgres and real RabbitMQ: every event arrives once, in order per invoice, with the
//! documented properties and routing key; store bindings filter; a RabbitMQ outage (a cut TCP proxy) leaves the
//! checkpoint in place and the relay catches up afterwards; a restarted relay resumes from its checkpoint.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use amqp::{AmqpFeed, PublishError};
use engine::{Relay, RelayError};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicConsumeOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use serde_json::Value;
use sqlx::PgPool;
use store_pg::{AppendRequest, Checkpoint, EventScope, EventStore, Metadata, NewEvent, StoredEvent};
use uuid::Uuid;

use crate::amqp_proxy::TcpProxy;
use crate::sample_events::{invoice_events, scope};

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How long a consumer waits for the next message before the test fails.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(15);

fn amqp_url() -> String {
    std::env::var("AMQP_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned())
}

/// The broker's address and the same URL pointed at `proxy` instead.
fn broker_addr_and_proxied_url(proxy: Option<SocketAddr>) -> anyhow::Result<(SocketAddr, String)> {
    let url = amqp_url();
    let uri: lapin::uri::AMQPUri = url.parse().map_err(|e| anyhow::anyhow!("bad AMQP_URL {url:?}: {e}"))?;
    let host = if uri.authority.host == "localhost" { "127.0.0.1".to_owned() } else { uri.authority.host.clone() };
    let broker: SocketAddr = format!("{host}:{}", uri.authority.port).parse()?;
    let Some(proxy) = proxy else { return Ok((broker, url)) };
    let vhost = uri.vhost.replace('%', "%25").replace('/', "%2f");
    let proxied =
        format!("amqp://{}:{}@{proxy}/{vhost}", uri.authority.userinfo.username, uri.authority.userinfo.password);
    Ok((broker, proxied))
}

/// A test's own feed exchange and a direct (unproxied) connection for its consumers.
struct Feed {
    connection: Connection,
    channel: Channel,
    exchange: String,
}

impl Feed {
    async fn new() -> anyhow::Result<Feed> {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        let exchange = format!("seqrd.test.relay.{}", Uuid::now_v7().simple());
        amqp::declare_exchange(&channel, &exchange).await?;
        Ok(Feed { connection, channel, exchange })
    }

    /// An exclusive, auto-deleted queue bound to the exchange with `binding`, consumed without acks.
    async fn consume(&self, binding: &str) -> anyhow::Result<Consumer> {
        let queue = self
            .channel
            .queue_declare(
                "",
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() },
                FieldTable::default(),
            )
            .await?;
        let name = queue.name().as_str().to_owned();
        self.channel
            .queue_bind(&name, &self.exchange, binding, QueueBindOptions::default(), FieldTable::default())
            .await?;
        let consumer = self
            .channel
            .basic_consume(
                &name,
                "",
                BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() },
                FieldTable::default(),
            )
            .await?;
        Ok(consumer)
    }

    /// Deletes the exchange now (the queues go with the connection); [`Drop`] does it too, also on failure.
    async fn delete(self) -> anyhow::Result<()> {
        self.channel.exchange_delete(&self.exchange, ExchangeDeleteOptions::default()).await?;
        self.connection.close(200, "done").await?;
        Ok(())
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // Runs while a failed test unwinds too, so no test exchange is left behind. It needs its own runtime:
        // the test's may be shutting down.
        let exchange = self.exchange.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
                let channel = connection.create_channel().await?;
                channel.exchange_delete(&exchange, ExchangeDeleteOptions::default()).await?;
                connection.close(200, "done").await?;
                anyhow::Ok(())
            })
        })
        .join();
    }
}

/// A received message, decoded.
struct Received {
    id: Uuid,
    routing_key: String,
    body: Value,
    delivery: Delivery,
}

async fn next(consumer: &mut Consumer, timeout: Duration) -> anyhow::Result<Option<Received>> {
    let delivery = match tokio::time::timeout(timeout, consumer.next()).await {
        Err(_) => return Ok(None),
        Ok(None) => anyhow::bail!("the consumer was cancelled"),
        Ok(Some(delivery)) => delivery?,
    };
    let id = delivery
        .properties
        .message_id()
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("message without message_id"))?
        .as_str()
        .parse()?;
    let body = serde_json::from_slice(&delivery.data)?;
    Ok(Some(Received { id, routing_key: delivery.routing_key.as_str().to_owned(), body, delivery }))
}

/// Exactly the next `n` messages (failing if one does not come within [`RECEIVE_TIMEOUT`]).
async fn take(consumer: &mut Consumer, n: usize) -> anyhow::Result<Vec<Received>> {
    let mut received = Vec::with_capacity(n);
    while received.len() < n {
        match next(consumer, RECEIVE_TIMEOUT).await? {
            Some(r) => received.push(r),
            None => anyhow::bail!("only {} of {n} messages arrived", received.len()),
        }
    }
    Ok(received)
}

/// Messages until every id in `expected` was seen at least once (duplicates included in the result).
async fn take_until_seen(consumer: &mut Consumer, expected: &HashSet<Uuid>) -> anyhow::Result<Vec<Received>> {
    let mut seen = HashSet::new();
    let mut received = Vec::new();
    while !expected.is_subset(&seen) {
        match next(consumer, RECEIVE_TIMEOUT).await? {
            Some(r) => {
                seen.insert(r.id);
                received.push(r);
            }
            None => anyhow::bail!("{} of {} events never arrived", expected.difference(&seen).count(), expected.len()),
        }
    }
    Ok(received)
}

/// Appends every sample event of each invoice, round robin over the invoices, `per_command` events per append,
/// so that the invoices interleave in the global order. Returns the stored events in append order.
async fn append_invoices(
    store: &EventStore,
    invoices: &[(Uuid, domain::Scope)],
    per_command: usize,
) -> anyhow::Result<Vec<StoredEvent>> {
    let mut queues = Vec::new();
    for (invoice, scope) in invoices {
        queues.push(invoice_events(*invoice, scope)?);
    }
    append_round_robin(store, invoices, queues, per_command).await
}

async fn append_round_robin(
    store: &EventStore,
    invoices: &[(Uuid, domain::Scope)],
    mut queues: Vec<Vec<domain::Event>>,
    per_command: usize,
) -> anyhow::Result<Vec<StoredEvent>> {
    let mut stored = Vec::new();
    while queues.iter().any(|q| !q.is_empty()) {
        for ((invoice, scope), queue) in invoices.iter().zip(queues.iter_mut()) {
            let take = per_command.min(queue.len());
            if take == 0 {
                continue;
            }
            let events: Vec<NewEvent> = queue
                .drain(..take)
                .map(|e| NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: e.event_type().to_owned(),
                    schema_version: i32::from(domain::Event::schema_version(e.event_type())),
                    data: e.to_data(),
                })
                .collect();
            let outcome = store
                .append(AppendRequest {
                    stream_id: *invoice,
                    expected_version: store.stream_version(*invoice).await?,
                    idempotency_key: None,
                    scope: EventScope {
                        tenant_id: scope.tenant.as_str().to_owned(),
                        merchant_id: scope.merchant.as_str().to_owned(),
                        store_id: Some(scope.store.as_str().to_owned()),
                        terminal_id: Some(scope.terminal.as_str().to_owned()),
                    },
                    metadata: Metadata {
                        correlation_id: Uuid::now_v7(),
                        causation_id: Some(Uuid::now_v7()),
                        actor: "relay-test".to_owned(),
                    },
                    events,
                })
                .await?;
            stored.extend(outcome.events().iter().cloned());
        }
    }
    Ok(stored)
}

fn last_checkpoint(events: &[StoredEvent]) -> Checkpoint {
    events.iter().map(StoredEvent::checkpoint).max().unwrap_or(Checkpoint::START)
}

/// Drives the relay until its checkpoint reaches `target`; returns how many events were published.
async fn relay_until(relay: &mut Relay<AmqpFeed>, target: Checkpoint) -> anyhow::Result<usize> {
    Ok(relay.catch_up_to(target, Duration::from_secs(30)).await?)
}

fn header<'a>(delivery: &'a Delivery, key: &str) -> Option<&'a AMQPValue> {
    delivery.properties.headers().as_ref()?.inner().get(key)
}

fn header_str(delivery: &Delivery, key: &str) -> String {
    match header(delivery, key) {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => format!("<missing or not a string: {other:?}>"),
    }
}

/// Checks one message against the stored event it must carry.
fn check_message(received: &Received, event: &StoredEvent) {
    let d = &received.delivery;
    let p = &d.properties;
    let store = event.scope.store_id.as_deref().unwrap_or("~");
    let what = format!("event {} ({})", event.event_id, event.event_type);
    assert_eq!(received.routing_key, format!("{}.{store}.{}", event.scope.tenant_id, event.event_type), "{what}");
    assert_eq!(received.id, event.event_id, "{what}: message_id");
    assert_eq!(p.kind().as_ref().map(|s| s.as_str()), Some(event.event_type.as_str()), "{what}: type");
    assert_eq!(*p.timestamp(), Some(event.recorded_at.timestamp() as u64), "{what}: timestamp");
    let correlation = event.metadata.correlation_id.to_string();
    assert_eq!(p.correlation_id().as_ref().map(|s| s.as_str()), Some(correlation.as_str()), "{what}");
    assert_eq!(p.content_type().as_ref().map(|s| s.as_str()), Some("application/json"), "{what}");
    assert_eq!(*p.delivery_mode(), Some(2), "{what}: persistent");
    assert_eq!(p.app_id().as_ref().map(|s| s.as_str()), Some("seqrd"), "{what}: app_id");

    assert_eq!(header_str(d, "cloudEvents:specversion"), "1.0", "{what}");
    assert_eq!(header_str(d, "cloudEvents:id"), event.event_id.to_string(), "{what}");
    assert_eq!(
        header_str(d, "cloudEvents:type"),
        format!("com.seqrd.invoice.{}.v{}", event.event_type, event.schema_version),
        "{what}"
    );
    assert_eq!(header_str(d, "cloudEvents:subject"), event.stream_id.to_string(), "{what}");
    assert_eq!(
        header_str(d, "cloudEvents:source"),
        format!(
            "/seqrd/{}/{}/{store}/{}",
            event.scope.tenant_id,
            event.scope.merchant_id,
            event.scope.terminal_id.as_deref().unwrap_or("~")
        ),
        "{what}"
    );
    assert_eq!(
        header_str(d, "cloudEvents:time"),
        event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "{what}"
    );
    assert_eq!(header_str(d, "cloudEvents:datacontenttype"), "application/json", "{what}");

    let b = &received.body;
    assert_eq!(b["id"], event.event_id.to_string(), "{what}: body id");
    assert_eq!(b["type"], event.event_type.as_str(), "{what}: body type");
    assert_eq!(b["schema_version"], event.schema_version, "{what}");
    assert_eq!(b["invoice_id"], event.stream_id.to_string(), "{what}");
    assert_eq!(b["version"], event.version, "{what}");
    assert_eq!(b["position"], event.position, "{what}");
    assert_eq!(b["tenant_id"], event.scope.tenant_id.as_str(), "{what}");
    assert_eq!(b["merchant_id"], event.scope.merchant_id.as_str(), "{what}");
    assert_eq!(b["store_id"], store, "{what}");
    assert_eq!(b["correlation_id"], correlation, "{what}");
    assert_eq!(b["causation_id"], serde_json::json!(event.metadata.causation_id), "{what}");
    assert_eq!(b["data"], event.data.to_value(), "{what}: data is the stored payload");
    let recorded: chrono::DateTime<chrono::Utc> = serde_json::from_value(b["recorded_at"].clone()).unwrap_or_default();
    assert_eq!(recorded, event.recorded_at, "{what}: recorded_at");
}

/// Applies the documented consumer rule (per invoice, ignore `version <= last seen`) and returns, per invoice,
/// the versions accepted, in arrival order.
fn accepted_versions(received: &[Received]) -> BTreeMap<String, Vec<i64>> {
    let mut accepted: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in received {
        let invoice = r.body["invoice_id"].as_str().unwrap_or_default().to_owned();
        let version = r.body["version"].as_i64().unwrap_or_default();
        let seen = accepted.entry(invoice).or_default();
        if seen.last().is_none_or(|last| version > *last) {
            seen.push(version);
        }
    }
    accepted
}

/// Per invoice, the versions 1..=n expected after `events`.
fn expected_versions(events: &[StoredEvent]) -> BTreeMap<String, Vec<i64>> {
    let mut expected: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in events {
        expected.entry(e.stream_id.to_string()).or_default().push(e.version);
    }
    for versions in expected.values_mut() {
        versions.sort_unstable();
    }
    expected
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn every_event_arrives_once_in_order_with_its_properties(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let feed = Feed::new().await?;
    let mut everything = feed.consume("#").await?;
    let mut store_9 = feed.consume("acme.store_9.#").await?;

    let invoices = [
        (Uuid::now_v7(), scope("acme", "store_7")?),
        (Uuid::now_v7(), scope("acme", "store_7")?),
        (Uuid::now_v7(), scope("acme", "store_9")?),
    ];
    let events = append_invoices(&store, &invoices, 2).await?;
    assert_eq!(events.len(), 3 * 14);

    let mut relay = Relay::new(store.clone(), AmqpFeed::new(&amqp_url(), &feed.exchange), "relay").with_batch_size(5);
    assert_eq!(relay.checkpoint().await?, Checkpoint::START);
    let published = relay_until(&mut relay, last_checkpoint(&events)).await?;
    assert_eq!(published, events.len(), "each event is published once");
    assert_eq!(relay.relay_once().await?, 0, "nothing is left");
    assert_eq!(relay.checkpoint().await?, last_checkpoint(&events));

    let received = take(&mut everything, events.len()).await?;
    let by_id: HashMap<Uuid, &StoredEvent> = events.iter().map(|e| (e.event_id, e)).collect();
    let mut ids = HashSet::new();
    for r in &received {
        let event = by_id.get(&r.id).ok_or_else(|| anyhow::anyhow!("unknown message {}", r.id))?;
        assert!(ids.insert(r.id), "event {} arrived twice", r.id);
        check_message(r, event);
    }
    // In order per invoice: the raw arrival order already has increasing versions per invoice.
    let mut arrival: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in &received {
        arrival
            .entry(r.body["invoice_id"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(r.body["version"].as_i64().unwrap_or_default());
    }
    assert_eq!(arrival, expected_versions(&events), "per invoice, versions 1..=n in order");

    let only_store_9 = take(&mut store_9, 14).await?;
    let store_9_ids: HashSet<Uuid> =
        events.iter().filter(|e| e.scope.store_id.as_deref() == Some("store_9")).map(|e| e.event_id).collect();
    assert_eq!(only_store_9.iter().map(|r| r.id).collect::<HashSet<_>>(), store_9_ids);
    assert!(
        next(&mut store_9, Duration::from_millis(300)).await?.is_none(),
        "the store_9 binding receives only store_9's events"
    );
    feed.delete().await
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn rabbitmq_outage_keeps_the_checkpoint_and_the_relay_catches_up(pool: PgPool) -> anyhow::Result<()> {
    let metrics = seqrd::admin::metrics_handle();
    let store = EventStore::new(pool);
    let feed = Feed::new().await?;
    let mut consumer = feed.consume("acme.#").await?;
    let (broker, _) = broker_addr_and_proxied_url(None)?;
    let proxy = TcpProxy::start(broker).await?;
    let (_, proxied_url) = broker_addr_and_proxied_url(Some(proxy.addr()))?;

    let invoices = [
        (Uuid::now_v7(), scope("acme", "store_7")?),
        (Uuid::now_v7(), scope("acme", "store_8")?),
        (Uuid::now_v7(), scope("acme", "store_9")?),
    ];
    let mut samples = Vec::new();
    for (invoice, scope) in &invoices {
        samples.push(invoice_events(*invoice, scope)?);
    }
    let later: Vec<Vec<domain::Event>> = samples.iter_mut().map(|s| s.split_off(6)).collect();

    // Before the outage: the first 6 events of each invoice go through the proxy.
    let before = append_round_robin(&store, &invoices, samples, 2).await?;
    let feed_out = AmqpFeed::new(&proxied_url, &feed.exchange).with_confirm_timeout(Duration::from_secs(1));
    // A checkpoint name of its own, so that its metrics are this test's alone.
    let mut relay = Relay::new(store.clone(), feed_out, "relay-outage").with_batch_size(4);
    relay_until(&mut relay, last_checkpoint(&before)).await?;
    let checkpoint = relay.checkpoint().await?;
    assert_eq!(checkpoint, last_checkpoint(&before));

    // A network partition: the connection stays open but nothing gets through, so the batch is never confirmed.
    proxy.stall();
    let during = append_round_robin(&store, &invoices, later, 3).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let error = loop {
        match relay.relay_once().await {
            Err(e) => break e,
            Ok(0) => {
                // Only while another test's transaction holds the read horizon back (see `relay_until`).
                anyhow::ensure!(tokio::time::Instant::now() < deadline, "relay_once never failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(n) => anyhow::bail!("{n} events were confirmed through a stalled connection"),
        }
    };
    assert!(matches!(error, RelayError::Publish(PublishError::Timeout(_))), "{error:?}");
    assert_eq!(error.code(), "relay.amqp_publish");
    assert_eq!(relay.checkpoint().await?, checkpoint, "an unconfirmed batch does not move the checkpoint");

    // RabbitMQ "goes down": connections are closed and new ones refused.
    proxy.cut();
    let again = relay.relay_once().await;
    assert!(matches!(again, Err(RelayError::Connect(_))), "while down, reconnecting fails: {again:?}");
    assert_eq!(again.as_ref().map_err(RelayError::code).err(), Some("relay.amqp_connect"));
    assert_eq!(relay.checkpoint().await?, checkpoint, "a failed batch does not move the checkpoint");

    // RabbitMQ is back: the relay reconnects and catches up.
    proxy.restore();
    let all: Vec<StoredEvent> = before.iter().chain(&during).cloned().collect();
    relay_until(&mut relay, last_checkpoint(&all)).await?;
    assert_eq!(relay.checkpoint().await?, last_checkpoint(&all));

    let expected: HashSet<Uuid> = all.iter().map(|e| e.event_id).collect();
    let received = take_until_seen(&mut consumer, &expected).await?;
    let by_id: HashMap<Uuid, &StoredEvent> = all.iter().map(|e| (e.event_id, e)).collect();
    for r in &received {
        let event = by_id.get(&r.id).ok_or_else(|| anyhow::anyhow!("unknown message {}", r.id))?;
        check_message(r, event);
    }
    let distinct: HashSet<Uuid> = received.iter().map(|r| r.id).collect();
    assert_eq!(distinct.len(), all.len(), "every event arrived (counted once per message_id)");
    assert_eq!(accepted_versions(&received), expected_versions(&all), "in order per invoice");
    // The batch sent into the stalled connection was sent again: counted as redelivered, and every event as
    // confirmed once it was.
    let text = metrics.render();
    let count = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(r#"relay="relay-outage""#))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(count("seqrd_relay_redelivered_events_total") >= 1.0, "{text}");
    assert!(count("seqrd_relay_confirmed_events_total") >= all.len() as f64, "{text}");
    feed.delete().await
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_new_relay_resumes_from_the_stored_checkpoint(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let feed = Feed::new().await?;
    let mut consumer = feed.consume("#").await?;
    let invoices = [(Uuid::now_v7(), scope("acme", "store_7")?), (Uuid::now_v7(), scope("other", "store_1")?)];
    let events = append_invoices(&store, &invoices, 3).await?;

    let mut first = Relay::new(store.clone(), AmqpFeed::new(&amqp_url(), &feed.exchange), "relay").with_batch_size(6);
    let mut published_first = 0;
    for _ in 0..2 {
        published_first += first.relay_once().await?;
    }
    let stopped_at = first.checkpoint().await?;
    drop(first);

    let mut second = Relay::new(store.clone(), AmqpFeed::new(&amqp_url(), &feed.exchange), "relay").with_batch_size(6);
    assert_eq!(second.checkpoint().await?, stopped_at, "the checkpoint is durable");
    let published_second = relay_until(&mut second, last_checkpoint(&events)).await?;
    assert_eq!(published_first + published_second, events.len(), "no confirmed event is published again");

    let received = take(&mut consumer, events.len()).await?;
    let distinct: HashSet<Uuid> = received.iter().map(|r| r.id).collect();
    assert_eq!(distinct, events.iter().map(|e| e.event_id).collect::<HashSet<_>>());
    assert!(next(&mut consumer, Duration::from_millis(300)).await?.is_none(), "no duplicates follow");
    assert_eq!(accepted_versions(&received), expected_versions(&events));

    // A relay under another name has its own checkpoint and starts from the beginning.
    let other = Relay::new(store, AmqpFeed::new(&amqp_url(), &feed.exchange), "relay-2");
    assert_eq!(other.checkpoint().await?, Checkpoint::START);
    feed.delete().await
}

/// Runs `relay.run` on a task until the returned sender fires (or is dropped).
fn spawn_run(
    mut relay: Relay<AmqpFeed>,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), RelayError<PublishError>>>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await
    });
    (stop, task)
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn in_a_fleet_one_relay_publishes_and_another_takes_over(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let feed = Feed::new().await?;
    let mut consumer = feed.consume("#").await?;
    let relay = || Relay::new(store.clone(), AmqpFeed::new(&amqp_url(), &feed.exchange), "relay").with_batch_size(5);
    let (stop_a, a) = spawn_run(relay());
    let (stop_b, b) = spawn_run(relay());

    // Appends wake the active relay; the standby must not publish the same events again.
    let invoices = [(Uuid::now_v7(), scope("acme", "store_7")?), (Uuid::now_v7(), scope("acme", "store_8")?)];
    let first = append_invoices(&store, &invoices, 2).await?;
    let received = take(&mut consumer, first.len()).await?;
    assert!(next(&mut consumer, Duration::from_millis(300)).await?.is_none(), "no event is published twice");
    let ids: HashSet<Uuid> = received.iter().map(|r| r.id).collect();
    assert_eq!(ids, first.iter().map(|e| e.event_id).collect::<HashSet<_>>());
    assert_eq!(accepted_versions(&received), expected_versions(&first));

    // One of them stops (releasing the lock if it held it); the other publishes what comes next.
    let _ = stop_a.send(());
    a.await??;
    let more = [(Uuid::now_v7(), scope("acme", "store_9")?)];
    let second = append_invoices(&store, &more, 3).await?;
    let received = take(&mut consumer, second.len()).await?;
    let ids: HashSet<Uuid> = received.iter().map(|r| r.id).collect();
    assert_eq!(ids, second.iter().map(|e| e.event_id).collect::<HashSet<_>>());

    let _ = stop_b.send(());
    b.await??;
    let all: Vec<StoredEvent> = first.iter().chain(&second).cloned().collect();
    let checkpoint =
        Relay::new(store.clone(), AmqpFeed::new(&amqp_url(), &feed.exchange), "relay").checkpoint().await?;
    assert_eq!(checkpoint, last_checkpoint(&all));
    feed.delete().await
}
