//! The invariants, as figures: what the load was told against the log, seqrd's money against SEQR's ledger,
//! double money moves, the feed against the log, and the calls left unresolved.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::Duration,
};

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use lapin::{
    options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
    Connection, ConnectionProperties,
};
use rust_decimal::Decimal;
use serde_json::Value;
use store_pg::{Checkpoint, EventStore};
use uuid::Uuid;

use super::{load::LoadRecord, Figures};

/// One event of the log, as far as the invariants need it.
#[derive(Debug, Clone)]
pub struct LogEvent {
    pub id: Uuid,
    pub version: i64,
    pub event_type: String,
    pub call_id: Option<String>,
}

/// The whole log, per invoice (in version order), and its size.
pub async fn read_log(store: &EventStore) -> anyhow::Result<(BTreeMap<Uuid, Vec<LogEvent>>, usize)> {
    let mut after = Checkpoint::START;
    let mut streams: BTreeMap<Uuid, Vec<LogEvent>> = BTreeMap::new();
    let mut total = 0;
    loop {
        let batch = store.read_all_after(after, 5000).await.context("reading the log")?;
        let Some(last) = batch.last() else { break };
        after = Checkpoint { tx_id: last.tx_id, position: last.position };
        for e in batch {
            total += 1;
            let call_id = e.data.to_value().get("call_id").and_then(Value::as_str).map(str::to_owned);
            streams.entry(e.stream_id).or_default().push(LogEvent {
                id: e.event_id,
                version: e.version,
                event_type: e.event_type,
                call_id,
            });
        }
    }
    for events in streams.values_mut() {
        events.sort_by_key(|e| e.version);
    }
    Ok((streams, total))
}

/// The queue on the scenario's exchange that receives every event from the start (declared before the load).
pub struct FeedQueue {
    pub amqp_url: String,
    pub queue: String,
}

impl FeedQueue {
    /// Declares the exchange (as seqrd does) and a durable classic queue bound to all of it.
    pub async fn declare(amqp_url: &str, exchange: &str) -> anyhow::Result<FeedQueue> {
        let conn = Connection::connect(amqp_url, ConnectionProperties::default())
            .await
            .with_context(|| format!("connecting to RabbitMQ at {}", seqrd::app::redact(amqp_url)))?;
        let channel = conn.create_channel().await?;
        amqp::declare_exchange(&channel, exchange).await?;
        let queue = format!("{exchange}.check");
        channel
            .queue_declare(&queue, QueueDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
            .await?;
        channel.queue_bind(&queue, exchange, "#", QueueBindOptions::default(), FieldTable::default()).await?;
        let _ = conn.close(200, "declared").await;
        Ok(FeedQueue { amqp_url: amqp_url.to_owned(), queue })
    }

    /// Every message now in the queue (consumed without acks, until `expected` distinct ids arrived or nothing
    /// came for 3 s): (event id, invoice id, version) in delivery order.
    pub async fn drain(&self, expected: &HashSet<Uuid>) -> anyhow::Result<Vec<(Uuid, Uuid, i64)>> {
        let conn = Connection::connect(&self.amqp_url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        channel.basic_qos(1000, Default::default()).await?;
        let mut consumer = channel
            .basic_consume(
                &self.queue,
                "seqrd-faults",
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        while !expected.iter().all(|id| seen.contains(id)) {
            let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(3), consumer.next()).await else {
                break;
            };
            let delivery = delivery?;
            let body: Value = serde_json::from_slice(&delivery.data).unwrap_or(Value::Null);
            let id = body["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default();
            let invoice = body["invoice_id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default();
            seen.insert(id);
            out.push((id, invoice, body["version"].as_i64().unwrap_or(-1)));
        }
        let _ = conn.close(200, "drained").await;
        Ok(out)
    }

    pub async fn delete(&self) {
        if let Ok(conn) = Connection::connect(&self.amqp_url, ConnectionProperties::default()).await {
            if let Ok(channel) = conn.create_channel().await {
                let _ = channel.queue_delete(&self.queue, QueueDeleteOptions::default()).await;
            }
            let _ = conn.close(200, "done").await;
        }
    }
}

/// Where the invariants read from.
pub struct Sources<'a> {
    pub store: &'a EventStore,
    pub http: &'a reqwest::Client,
    /// A live seqrd's API and the tenant's key.
    pub api: String,
    pub key: &'a str,
    pub sim: &'a str,
}

/// One look at everything but the feed.
pub struct Snapshot {
    pub streams: BTreeMap<Uuid, Vec<LogEvent>>,
    pub events: usize,
    pub views: HashMap<Uuid, Value>,
    pub views_missing: u64,
    pub ledger: Vec<Value>,
    pub relay_behind: i64,
}

pub async fn snapshot(src: &Sources<'_>) -> anyhow::Result<Snapshot> {
    let (streams, events) = read_log(src.store).await?;
    let ids: Vec<Uuid> = streams.keys().copied().collect();
    let views: Vec<(Uuid, Option<Value>)> = futures::stream::iter(ids)
        .map(|id| async move {
            let url = format!("{}/v1/invoices/{id}", src.api);
            let view = match src.http.get(url).bearer_auth(src.key).send().await {
                Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
                _ => None,
            };
            Ok::<_, anyhow::Error>((id, view))
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let views_missing = views.iter().filter(|(_, v)| v.is_none()).count() as u64;
    let views = views.into_iter().filter_map(|(id, v)| v.map(|v| (id, v))).collect();
    let ledger: Vec<Value> = src
        .http
        .get(format!("{}/sim/ledger", src.sim))
        .send()
        .await
        .context("seqr-sim's ledger")?
        .json()
        .await
        .context("seqr-sim's ledger")?;
    let lags = store_pg::fleet::subscription_lags(src.store.pool(), 1_000_000).await?;
    let relay_behind = lags.iter().find(|l| l.name == "relay").map_or(events as i64, |l| l.events_behind);
    Ok(Snapshot { streams, events, views, views_missing, ledger, relay_behind })
}

fn amount(v: &Value) -> Decimal {
    v["amount"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

/// Whether some of `amounts` add up to exactly `target` (a few unknown refunds per invoice at most).
fn subset_sums_to(amounts: &[Decimal], target: Decimal) -> bool {
    let n = amounts.len().min(16);
    (0u32..(1 << n)).any(|mask| (0..n).filter(|i| mask & (1 << i) != 0).map(|i| amounts[i]).sum::<Decimal>() == target)
}

/// The invariants on a snapshot (the feed apart).
pub struct Money {
    pub unresolved: BTreeMap<String, u64>,
    /// A few unresolved calls (refunds apart), described for the notes.
    pub unresolved_detail: Vec<String>,
    pub diff_invoices: u64,
    pub diff_total: Decimal,
    pub diff_unknown_refund_invoices: u64,
    pub diff_unknown_refund_total: Decimal,
    pub double_payments: u64,
    pub refunds_above_paid: u64,
    pub refunds_executed_twice: u64,
    pub reversals: u64,
    pub seqrd_paid: Decimal,
    pub seqrd_refunded: Decimal,
    pub seqr_paid: Decimal,
    pub seqr_refunded: Decimal,
}

pub fn money(s: &Snapshot) -> Money {
    #[derive(Default)]
    struct AtSeqr {
        payments: u64,
        paid: Decimal,
        refunds: u64,
        refunded: Decimal,
        reversals: u64,
    }
    let mut at_seqr: HashMap<String, AtSeqr> = HashMap::new();
    for entry in &s.ledger {
        let Some(reference) = entry["invoice_reference"].as_str() else { continue };
        let value: Decimal = match &entry["amount"] {
            Value::String(s) => s.parse().unwrap_or_default(),
            Value::Number(n) => n.to_string().parse().unwrap_or_default(),
            _ => Decimal::ZERO,
        };
        let e = at_seqr.entry(reference.to_owned()).or_default();
        match entry["kind"].as_str() {
            Some("PAYMENT") => {
                e.payments += 1;
                e.paid += value;
            }
            Some("REFUND") => {
                e.refunds += 1;
                e.refunded -= value;
            }
            Some("REVERSAL") => {
                e.reversals += 1;
                e.paid += value;
            }
            _ => {}
        }
    }
    let mut m = Money {
        unresolved: BTreeMap::new(),
        unresolved_detail: Vec::new(),
        diff_invoices: 0,
        diff_total: Decimal::ZERO,
        diff_unknown_refund_invoices: 0,
        diff_unknown_refund_total: Decimal::ZERO,
        double_payments: 0,
        refunds_above_paid: 0,
        refunds_executed_twice: 0,
        reversals: 0,
        seqrd_paid: Decimal::ZERO,
        seqrd_refunded: Decimal::ZERO,
        seqr_paid: Decimal::ZERO,
        seqr_refunded: Decimal::ZERO,
    };
    let none = AtSeqr::default();
    let mut references = HashSet::new();
    for view in s.views.values() {
        let paid = amount(&view["paid"]);
        let refunded = amount(&view["refunded"]);
        let calls = view["calls"].as_array().cloned().unwrap_or_default();
        let mut unknown_refunds = Vec::new();
        let mut refund_calls = 0u64;
        for call in &calls {
            let kind = call["kind"].as_str().unwrap_or("?");
            let state = call["state"].as_str().unwrap_or("?");
            if kind == "refund_payment" {
                refund_calls += 1;
            }
            if state == "requested" || state == "unknown" {
                *m.unresolved.entry(kind.to_owned()).or_default() += 1;
                if kind != "refund_payment" && m.unresolved_detail.len() < 5 {
                    m.unresolved_detail.push(format!(
                        "unresolved {kind} ({state}) requested {} on invoice {} (status {}, SEQR status {})",
                        call["requested_at"].as_str().unwrap_or("?"),
                        view["id"].as_str().unwrap_or("?"),
                        view["status"].as_str().unwrap_or("?"),
                        view["seqr_status"].as_str().unwrap_or("-"),
                    ));
                }
                if kind == "refund_payment" {
                    unknown_refunds.push(amount(&call["amount"]));
                }
            }
        }
        let reference = view["invoice_reference"].as_str().unwrap_or("");
        references.insert(reference.to_owned());
        let q = at_seqr.get(reference).unwrap_or(&none);
        m.seqrd_paid += paid;
        m.seqrd_refunded += refunded;
        m.seqr_paid += q.paid;
        m.seqr_refunded += q.refunded;
        m.double_payments += u64::from(q.payments > 1);
        m.refunds_above_paid += u64::from(q.refunded > q.paid || refunded > paid);
        m.refunds_executed_twice += q.refunds.saturating_sub(refund_calls);
        m.reversals += q.reversals;
        let paid_diff = (paid - q.paid).abs();
        let refund_gap = q.refunded - refunded;
        if paid_diff.is_zero() && refund_gap.is_zero() {
            continue;
        }
        // SEQR executed refunds whose answer seqrd never got (unknown, not resolvable yet: issue 11 item 2).
        if paid_diff.is_zero() && refund_gap > Decimal::ZERO && subset_sums_to(&unknown_refunds, refund_gap) {
            m.diff_unknown_refund_invoices += 1;
            m.diff_unknown_refund_total += refund_gap;
        } else {
            m.diff_invoices += 1;
            m.diff_total += paid_diff + refund_gap.abs();
        }
    }
    // Money at SEQR for invoices seqrd does not show (e.g. a sendInvoice whose answer was lost, never recorded).
    for (reference, q) in &at_seqr {
        if !references.contains(reference) && (q.paid != Decimal::ZERO || q.refunded != Decimal::ZERO) {
            m.diff_invoices += 1;
            m.diff_total += q.paid.abs() + q.refunded.abs();
            m.double_payments += u64::from(q.payments > 1);
            m.reversals += q.reversals;
        }
    }
    m
}

/// Every 2xx the load got against the log: the stream holds the answer's version, every call the answer shows
/// was requested in the log, and every outcome it shows is there too.
pub fn accepted_without_events(load: &LoadRecord, s: &Snapshot) -> u64 {
    let mut missing = 0;
    for a in &load.accepted {
        let Some(id) = a.body["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) else {
            missing += 1;
            continue;
        };
        let events = s.streams.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let version = a.body["version"].as_i64().unwrap_or(i64::MAX);
        let mut ok = events.last().is_some_and(|e| e.version >= version);
        for call in a.body["calls"].as_array().into_iter().flatten() {
            let call_id = call["call_id"].as_str();
            let state = call["state"].as_str().unwrap_or("?");
            let of_call: Vec<&LogEvent> = events.iter().filter(|e| e.call_id.as_deref() == call_id).collect();
            let requested = of_call.iter().any(|e| e.event_type.ends_with("_requested"));
            let outcome = of_call.iter().any(|e| e.event_type.starts_with("call_"));
            ok &= requested && (state == "requested" || outcome);
        }
        if !ok {
            missing += 1;
        }
    }
    missing
}

/// The feed against the log.
pub fn feed(figures: &mut Figures, s: &Snapshot, delivered: &[(Uuid, Uuid, i64)]) {
    let in_log: HashSet<Uuid> = s.streams.values().flatten().map(|e| e.id).collect();
    let mut seen = HashSet::new();
    let mut duplicates = 0u64;
    let mut out_of_order = 0u64;
    let mut highest: HashMap<Uuid, i64> = HashMap::new();
    for (id, invoice, version) in delivered {
        if !seen.insert(*id) {
            duplicates += 1;
        }
        let top = highest.entry(*invoice).or_insert(0);
        // A re-published batch repeats versions already seen; a version past the next one skipped an event.
        if *version > *top + 1 {
            out_of_order += 1;
        }
        *top = (*top).max(*version);
    }
    let missing = in_log.iter().filter(|id| !seen.contains(id)).count() as u64;
    let unknown = seen.iter().filter(|id| !in_log.contains(id)).count() as u64;
    figures.info("feed_events_in_log", in_log.len());
    figures.info("feed_messages_received", delivered.len());
    figures.zero("feed_missing", missing);
    figures.allowed("feed_duplicates", duplicates);
    figures.zero("feed_out_of_order", out_of_order);
    figures.zero("feed_not_in_log", unknown);
}
