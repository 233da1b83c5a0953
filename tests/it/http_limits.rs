//! The HTTP server's limits against slow, idle and numerous clients, over real TCP on loopback against a real seqrd
//! API: a slow request head, a slow body, an idle kept-alive connection, the connection limit, the total request
//! timeout (the handler still records its outcome), and ordinary requests. Each test shortens only the limit it
//! tests (the others stay long, so they cannot be what closes the connection). The server closing the connection
//! (or answering) is the assertion; an outer timeout far above every limit only keeps a broken limit from hanging
//! the test.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use devstack::{
    demo::invoice,
    stack::{SeqrTarget, Stack},
};
use http_api::HttpLimits;
use reqwest::Method;
use seqr_sim::SimConfig;
use seqrd::config::Config;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const REGISTERS: &[(&str, &str, &str)] = &[("acme", "north", "till-1")];

/// A limit under test.
const SHORT: Duration = Duration::from_millis(300);
/// Every other limit.
const LONG: Duration = Duration::from_secs(120);
/// Fails a test whose limit does not act (far above `SHORT`, far below `LONG`).
const PATIENCE: Duration = Duration::from_secs(20);

/// The configuration from the environment with every HTTP limit long, then `short` applied.
fn config(short: impl FnOnce(&mut HttpLimits)) -> Config {
    let mut config = crate::common::config();
    config.http = HttpLimits {
        header_timeout: LONG,
        body_timeout: LONG,
        idle_timeout: LONG,
        request_timeout: LONG,
        max_connections: 1024,
    };
    short(&mut config.http);
    config
}

async fn stack(pool: PgPool, config: Config) -> Stack {
    Stack::start(config, pool, SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults())), "t1", REGISTERS)
        .await
        .expect("stack starts")
}

async fn connect(stack: &Stack) -> TcpStream {
    TcpStream::connect(stack.api.trim_start_matches("http://")).await.expect("connect to the API")
}

/// Reads until the server closes the connection (EOF or a reset); returns what it sent. Fails after `PATIENCE`.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server kept the connection open; it sent {:?}", String::from_utf8_lossy(&all)));
    all
}

/// Reads one response on a kept-alive connection: (status line, body). Fails after `PATIENCE`.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    tokio::time::timeout(PATIENCE, async {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).await.expect("read a response");
            assert!(n > 0, "the connection closed before a response: {:?}", String::from_utf8_lossy(&data));
            data.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .expect("a content-length")
            .parse()
            .unwrap();
        while data.len() < head_end + length {
            let n = stream.read(&mut buf).await.expect("read a response body");
            assert!(n > 0, "the connection closed in a response body");
            data.extend_from_slice(&buf[..n]);
        }
        assert_eq!(data.len(), head_end + length, "nothing beyond the response");
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, String::from_utf8_lossy(&data[head_end..]).into_owned())
    })
    .await
    .expect("a response in time")
}

/// Writes `chunk` every 50 ms until the connection fails or `stop` is set: a slowloris.
fn trickle(mut writer: tokio::net::tcp::OwnedWriteHalf, chunk: &'static [u8], stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            if writer.write_all(chunk).await.is_err() {
                break;
            }
        }
    });
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: seqrd\r\n\r\n";

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_request_head_sent_slowly_is_cut_off(pool: PgPool) {
    let stack = stack(pool, config(|l| l.header_timeout = SHORT)).await;
    let stream = connect(&stack).await;
    let (mut reader, mut writer) = stream.into_split();
    // One header whose value never ends: bytes keep arriving, well within any per-read timeout, but the head is
    // never complete (and never more headers than hyper allows, which would end it another way).
    writer.write_all(b"GET /health HTTP/1.1\r\nHost: seqrd\r\nX-Slow: ").await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    trickle(writer, b"a", stop.clone());
    let mut all = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            all.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the server closes a connection whose request head is late");
    stop.store(true, Ordering::Relaxed);
    assert!(!String::from_utf8_lossy(&all).contains(" 200 "), "the slow request was not served");

    // A fresh connection that sends nothing at all is closed too.
    let mut silent = connect(&stack).await;
    assert!(read_until_closed(&mut silent).await.is_empty());
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_request_body_sent_slowly_is_answered_408(pool: PgPool) {
    let stack = stack(pool, config(|l| l.body_timeout = SHORT)).await;
    let stream = connect(&stack).await;
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/invoices HTTP/1.1\r\nHost: seqrd\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n{{",
        stack.key
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    // Two bytes every 50 ms: each read is quick, the whole body would take 40 minutes.
    let stop = Arc::new(AtomicBool::new(false));
    trickle(writer, b"  ", stop.clone());
    let mut all = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            stop.store(true, Ordering::Relaxed);
            all.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the server answers and closes a connection whose request body is late");
    stop.store(true, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&all).into_owned();
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    let body: Value = serde_json::from_str(&text[text.find("\r\n\r\n").unwrap() + 4..]).expect("a JSON body");
    assert_eq!(body["error"]["code"], "body_timeout", "{body}");
    let invoices: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&stack.pool).await.unwrap();
    assert_eq!(invoices, 0, "nothing was issued");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn an_idle_keep_alive_connection_is_closed(pool: PgPool) {
    let stack = stack(pool, config(|l| l.idle_timeout = SHORT)).await;
    let mut stream = connect(&stack).await;
    for _ in 0..2 {
        stream.write_all(HEALTH).await.unwrap();
        let (status, body) = read_response(&mut stream).await;
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "ok"), "kept alive between requests");
    }
    assert!(read_until_closed(&mut stream).await.is_empty(), "closed without another word");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn connections_beyond_the_limit_wait_until_one_closes(pool: PgPool) {
    let stack = stack(pool, config(|l| l.max_connections = 2)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&stack).await;
        stream.write_all(HEALTH).await.unwrap();
        assert_eq!(read_response(&mut stream).await.0, "HTTP/1.1 200 OK");
        held.push(stream);
    }
    // The third connection is made (the kernel's backlog) but not served while the two are open.
    let mut third = connect(&stack).await;
    third.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(early.is_err(), "a third connection was served beyond the limit of 2: {early:?}");
    // One closes: the third is served.
    drop(held.remove(0));
    let (status, body) = read_response(&mut third).await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "ok"));
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_slow_handler_is_answered_503_and_still_records_its_outcome(pool: PgPool) {
    let stack = stack(pool, config(|l| l.request_timeout = SHORT)).await;
    // A second server on the same service, so the test can wait for its shutdown, which waits for the handler.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (trigger, signal) = engine::shutdown::channel();
    let (addr, server) = seqrd::app::serve_on(stack.engine.clone(), &stack.config, listener, signal).unwrap();
    // sendInvoice is held up inside SEQR far beyond the request timeout (and well within the SEQR client's).
    let sim = stack.sim.as_ref().unwrap();
    sim.add_fault(crate::common::held("sendInvoice", 1500));
    let body = json!({
        "terminal_id": "till-1",
        "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "10.00", json!({})),
        "tokens": [],
    });
    let response = stack
        .http
        .post(format!("http://{addr}/v1/invoices"))
        .bearer_auth(&stack.key)
        .header("Idempotency-Key", "slow-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap();
    assert_eq!((status, answer["error"]["code"].as_str()), (503, Some("request_timeout")), "{answer}");

    // Shutdown waits for the handler, which was not cancelled: the SEQR call's outcome is in the log.
    trigger.fire();
    tokio::time::timeout(PATIENCE, server).await.expect("the server stops once the handler is done").unwrap();
    let types: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM events ORDER BY position").fetch_all(&stack.pool).await.unwrap();
    assert_eq!(types, ["invoice_issued", "send_invoice_requested", "call_succeeded"]);
    // The same key now answers the stored outcome.
    let (status, view) = stack.call(Method::POST, "/v1/invoices", Some(&body), Some("slow-1")).await.unwrap();
    assert_eq!(status, 201, "{view}");
    stack.shutdown().await;
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn ordinary_requests_are_served_within_short_limits(pool: PgPool) {
    let stack = stack(
        pool,
        config(|l| {
            l.header_timeout = SHORT;
            l.body_timeout = SHORT;
            l.idle_timeout = SHORT;
            l.max_connections = 4;
        }),
    )
    .await;
    let (status, view) = stack
        .issue("till-1", invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", "12.50", json!({})), json!([]))
        .await
        .unwrap();
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().unwrap();
    assert_eq!(stack.get(&format!("/v1/invoices/{id}")).await.unwrap()["id"], id);
    // The body limit still answers 413.
    let big = json!({ "terminal_id": "till-1", "padding": "x".repeat(300 * 1024) });
    let (status, _) = stack.post("/v1/invoices", &big).await.unwrap();
    assert_eq!(status, 413);
    // Many requests over few connections.
    for _ in 0..20 {
        assert_eq!(stack.get("/health").await.unwrap(), "ok");
    }
    stack.shutdown().await;
}
