//! The bounded load: a few clients, each on its own register, issuing invoices at a fixed rate; the shopper pays
//! each through seqr-sim's phone; some are reservations committed by the register; some paid ones are refunded in
//! part. Every answer is counted, and every 2xx is kept with its body for the invariants.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use uuid::Uuid;

use crate::demo::invoice;

/// What the load generator saw.
#[derive(Debug, Default)]
pub struct LoadRecord {
    /// Answers by operation and HTTP status (`error` when there was no answer).
    pub answers: BTreeMap<(String, String), u64>,
    /// Every 2xx answer of a command: operation, status, body.
    pub accepted: Vec<Accepted>,
    /// Flows started (invoices attempted).
    pub flows: u64,
    /// Flows still running when the drain time ran out (aborted).
    pub flows_cut: u64,
    /// How long the load ran, and the drain after it.
    pub elapsed: Duration,
}

impl LoadRecord {
    pub fn requests(&self) -> u64 {
        self.answers.values().sum()
    }
}

#[derive(Debug, Clone)]
pub struct Accepted {
    pub op: &'static str,
    pub status: u16,
    pub body: Value,
}

/// One register's client: its API key, the seqrd processes it may talk to (it moves to the next one when a
/// process does not answer), and seqr-sim's control API for the phone.
pub struct Client {
    pub http: reqwest::Client,
    pub key: String,
    pub terminal: String,
    pub urls: Vec<String>,
    pub sim: String,
    current: AtomicUsize,
    record: Arc<Mutex<LoadRecord>>,
}

fn lock(r: &Mutex<LoadRecord>) -> std::sync::MutexGuard<'_, LoadRecord> {
    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        key: String,
        terminal: String,
        urls: Vec<String>,
        sim: String,
        first: usize,
        record: Arc<Mutex<LoadRecord>>,
    ) -> Client {
        Client { http, key, terminal, urls, sim, current: AtomicUsize::new(first), record }
    }

    fn count(&self, op: &str, status: &str) {
        *lock(&self.record).answers.entry((op.to_owned(), status.to_owned())).or_default() += 1;
    }

    /// One API call, tried up to 3 times (same Idempotency-Key) when no answer came or seqrd answered 503.
    async fn call(
        &self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Option<(u16, Value)> {
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let n = self.current.load(Ordering::Relaxed);
            let base = &self.urls[n % self.urls.len()];
            let mut request = self.http.request(method.clone(), format!("{base}{path}")).bearer_auth(&self.key);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            let answer = match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    r.text().await.ok().map(|t| (status, serde_json::from_str(&t).unwrap_or(Value::String(t))))
                }
                Err(_) => None,
            };
            match answer {
                Some((status, value)) => {
                    self.count(op, &status.to_string());
                    if (200..300).contains(&status) && op != "get" {
                        lock(&self.record).accepted.push(Accepted { op, status, body: value.clone() });
                    }
                    if status != 503 {
                        return Some((status, value));
                    }
                }
                None => {
                    self.count(op, "error");
                    // This process does not answer: the next one (if there are several).
                    let _ = self.current.compare_exchange(n, n + 1, Ordering::Relaxed, Ordering::Relaxed);
                }
            }
        }
        None
    }

    async fn view(&self, id: &str) -> Option<Value> {
        match self.call("get", reqwest::Method::GET, &format!("/v1/invoices/{id}"), None, None).await {
            Some((200, v)) => Some(v),
            _ => None,
        }
    }

    /// Reads the invoice every 100 ms until its status is one of `statuses` (at most `within`).
    async fn until_status(&self, id: &str, statuses: &[&str], within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(v) = self.view(id).await {
                if statuses.iter().any(|s| v["status"] == *s) {
                    return Some(v);
                }
                if v["status"].as_str().is_some_and(|s| ["send_failed", "canceled", "failed", "expired"].contains(&s)) {
                    return None;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    async fn phone_pay(&self, reference: &str, shopper: &str) -> bool {
        let url = format!("{}/sim/phone/pay", self.sim);
        let answer = self.http.post(url).json(&json!({"code": reference, "shopper": shopper})).send().await;
        let status = answer.map(|r| r.status().as_u16().to_string()).unwrap_or_else(|_| "error".to_owned());
        self.count("phone_pay", &status);
        status == "200"
    }

    /// One invoice's story; `n` picks its kind (reservation, refunds) and amount.
    pub async fn flow(&self, n: u64) {
        let reservation = n % 4 == 3;
        let total = format!("{}.{:02}", 10 + n % 90, (n * 7) % 100);
        let body = if reservation {
            invoice(
                "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
                "NO_ACKNOWLEDGMENT",
                &total,
                // Short, so that a commit whose outcome is unknown while SEQR still shows the reservation is resolved
                // (as not done) when the reservation ends: nothing else can tell.
                json!({"commit_reservation_timeout": 20}),
            )
        } else {
            invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", &total, json!({}))
        };
        let request = json!({"terminal_id": self.terminal, "invoice": body, "tokens": []});
        let key = Uuid::now_v7().to_string();
        let Some((status, view)) =
            self.call("issue", reqwest::Method::POST, "/v1/invoices", Some(&request), Some(&key)).await
        else {
            return;
        };
        if !(200..300).contains(&status) {
            return;
        }
        let Some(id) = view["id"].as_str().map(str::to_owned) else { return };
        // 202: sendInvoice's outcome is unknown; a worker settles it from SEQR's status.
        let view = if view["status"] == "issued" {
            view
        } else {
            match self.until_status(&id, &["issued"], Duration::from_secs(20)).await {
                Some(v) => v,
                None => return,
            }
        };
        let Some(reference) = view["invoice_reference"].as_str() else { return };
        if !self.phone_pay(reference, &format!("shopper-{}", n % 50)).await {
            return;
        }
        let want = if reservation { "reserved" } else { "paid" };
        let Some(view) = self.until_status(&id, &[want, "paid"], Duration::from_secs(30)).await else { return };
        if reservation && view["status"] == "reserved" {
            let commit = json!({"amount": {"amount": total, "currency": "SEK"}});
            let key = Uuid::now_v7().to_string();
            let path = format!("/v1/invoices/{id}/commit");
            let Some((200..=299, _)) =
                self.call("commit", reqwest::Method::POST, &path, Some(&commit), Some(&key)).await
            else {
                return;
            };
            if self.until_status(&id, &["paid"], Duration::from_secs(30)).await.is_none() {
                return;
            }
        }
        let refunds: &[&str] = match n % 6 {
            1 => &["5.00"],
            2 => &["3.00", "2.50"],
            _ => &[],
        };
        for amount in refunds {
            let refund = json!({"amount": {"amount": amount, "currency": "SEK"}, "title": "Returned item"});
            let key = Uuid::now_v7().to_string();
            let path = format!("/v1/invoices/{id}/refunds");
            if self.call("refund", reqwest::Method::POST, &path, Some(&refund), Some(&key)).await.is_none() {
                return;
            }
        }
    }
}

/// Runs `clients` at `rate` invoices per second in all for `duration`, then lets the flows in flight finish
/// (at most `drain`). `during` runs alongside (the scenario's faults) and is awaited before the load returns.
pub async fn run<F>(clients: Vec<Arc<Client>>, rate: f64, duration: Duration, drain: Duration, during: F) -> F::Output
where
    F: std::future::Future,
{
    let started = Instant::now();
    let record = clients[0].record.clone();
    let counter = Arc::new(AtomicUsize::new(0));
    let issuers = clients.iter().cloned().map(|client| {
        let counter = counter.clone();
        let every = Duration::from_secs_f64(clients.len() as f64 / rate);
        async move {
            let mut flows = Vec::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let end = Instant::now() + duration;
            loop {
                tick.tick().await;
                if Instant::now() >= end {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed) as u64;
                let client = client.clone();
                flows.push(tokio::spawn(async move { client.flow(n).await }));
            }
            flows
        }
    });
    let (flows, out) = tokio::join!(futures::future::join_all(issuers), during);
    let mut flows: Vec<_> = flows.into_iter().flatten().collect();
    let started_flows = counter.load(Ordering::Relaxed) as u64;
    let deadline = tokio::time::Instant::now() + drain;
    for handle in &mut flows {
        if tokio::time::timeout_at(deadline, &mut *handle).await.is_err() {
            break;
        }
    }
    let cut = flows.iter().filter(|h| !h.is_finished()).count() as u64;
    for handle in &flows {
        handle.abort();
    }
    let mut r = lock(&record);
    r.flows = started_flows;
    r.flows_cut = cut;
    r.elapsed = started.elapsed();
    out
}

/// A new shared record for a run's clients.
pub fn record() -> Arc<Mutex<LoadRecord>> {
    Arc::new(Mutex::new(LoadRecord::default()))
}

/// Takes the record out once the load has finished.
pub fn take(record: &Arc<Mutex<LoadRecord>>) -> LoadRecord {
    std::mem::take(&mut *lock(record))
}
