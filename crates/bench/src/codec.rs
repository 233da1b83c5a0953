//! `bench codec`: throughput of the seqr-wire SOAP codec on a realistic mix of documents.
//!
//! Each round parses and renders every document of the mix once (a server parsing sendInvoice and
//! getPaymentStatus requests and rendering their responses, a client doing the opposite). The summary line counts
//! every parse and every render as one document.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use seqr_wire::{Operation, Request, Response};

const SEND_INVOICE_PRETTY: &str = include_str!("../../seqr-wire/test_data/protocol/12_1_send_invoice_request.xml");
const SEND_INVOICE: &str = include_str!("../../seqr-wire/test_data/render/send_invoice_request.xml");
const GET_STATUS: &str = include_str!("../../seqr-wire/test_data/render/get_payment_status_request.xml");
const SEND_INVOICE_RESPONSE: &str = include_str!("../../seqr-wire/test_data/render/send_invoice_response.xml");
const ISSUED: &str = include_str!("../../seqr-wire/test_data/render/get_payment_status_issued_response.xml");
const PAID: &str = include_str!("../../seqr-wire/test_data/render/get_payment_status_paid_response.xml");
const UPDATE_INVOICE: &str = include_str!("../../seqr-wire/test_data/render/update_invoice_request.xml");

enum Doc {
    Request(&'static str, Request),
    Response(&'static str, Operation, Response),
}

fn mix() -> anyhow::Result<Vec<(&'static str, Doc)>> {
    let req = |name: &'static str, xml: &'static str| -> anyhow::Result<(&'static str, Doc)> {
        let r = seqr_wire::parse_request(xml.as_bytes()).with_context(|| format!("parsing {name}"))?;
        Ok((name, Doc::Request(xml, r)))
    };
    let resp = |name: &'static str, op: Operation, xml: &'static str| -> anyhow::Result<(&'static str, Doc)> {
        let r = seqr_wire::parse_response(op, xml.as_bytes()).with_context(|| format!("parsing {name}"))?;
        Ok((name, Doc::Response(xml, op, r)))
    };
    Ok(vec![
        req("sendInvoice request (12.1, pretty)", SEND_INVOICE_PRETTY)?,
        req("sendInvoice request (2 rows, token)", SEND_INVOICE)?,
        req("updateInvoice request", UPDATE_INVOICE)?,
        req("getPaymentStatus request", GET_STATUS)?,
        resp("sendInvoice response", Operation::SendInvoice, SEND_INVOICE_RESPONSE)?,
        resp("getPaymentStatus ISSUED response", Operation::GetPaymentStatus, ISSUED)?,
        resp("getPaymentStatus PAID response (receipt)", Operation::GetPaymentStatus, PAID)?,
    ])
}

/// Parses then renders `doc` once; returns the number of documents processed (2).
fn round(doc: &Doc) -> anyhow::Result<u64> {
    match doc {
        Doc::Request(xml, typed) => {
            let parsed = seqr_wire::parse_request(black_box(xml.as_bytes()))?;
            black_box(&parsed);
            black_box(seqr_wire::render_request(black_box(typed)));
        }
        Doc::Response(xml, op, typed) => {
            let parsed = seqr_wire::parse_response(*op, black_box(xml.as_bytes()))?;
            black_box(&parsed);
            black_box(seqr_wire::render_response(black_box(typed)));
        }
    }
    Ok(2)
}

pub(crate) fn run() -> anyhow::Result<()> {
    let docs = mix()?;
    let per_doc = Duration::from_millis(600);
    println!("seqr-wire codec benchmark: parse + render, {} documents, {:?} each", docs.len(), per_doc);

    // Warm-up, so that allocator and caches settle before measuring.
    for (_, d) in &docs {
        for _ in 0..200 {
            round(d)?;
        }
    }

    let mut total_docs = 0u64;
    let mut total_time = Duration::ZERO;
    for (name, d) in &docs {
        let bytes = match d {
            Doc::Request(xml, _) | Doc::Response(xml, _, _) => xml.len(),
        };
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < per_doc {
            for _ in 0..64 {
                n += round(d)?;
            }
        }
        let elapsed = start.elapsed();
        total_docs += n;
        total_time += elapsed;
        let rate = n as f64 / elapsed.as_secs_f64();
        println!(
            "  {name:<44} {bytes:>6} B  {rate:>10.0} docs/s  {:>7.2} µs/doc  {:>7.1} MB/s",
            1e6 / rate,
            rate * bytes as f64 / 1e6
        );
    }

    // The mix: every document once per round, interleaved, for the headline figure.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for (_, d) in &docs {
            n += round(d)?;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "  per-document phases: {} docs in {:.2} s; interleaved mix: {} docs in {:.2} s",
        total_docs,
        total_time.as_secs_f64(),
        n,
        elapsed.as_secs_f64()
    );
    println!("codec: {} docs/s", (n as f64 / elapsed.as_secs_f64()) as u64);
    Ok(())
}
