//! SEQR unreachable: commands that need it are answered 503 `seqr_unavailable` (with Retry-After) before anything
//! is recorded, once this process has found SEQR unreachable; reads keep working; readiness says so.

use devstack::{
    demo::invoice,
    stack::{SeqrTarget, Stack},
};
use reqwest::Method;
use seqr_sim::SimConfig;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::common::config;

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await.unwrap()
}

fn issue_body(total: &str) -> Value {
    json!({"terminal_id": "till-1", "invoice": invoice("IMMEDIATE_DEBIT", "NO_ACKNOWLEDGMENT", total, json!({}))})
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn while_seqr_is_unreachable_commands_answer_503_and_record_nothing(pool: PgPool) {
    let registers = [("acme", "stockholm", "till-1")];
    let sim = SeqrTarget::InProcess(Box::new(SimConfig::seqr_defaults()));
    let mut stack = Stack::start(config(), pool.clone(), sim, "t1", &registers).await.unwrap();
    let (status, paid) = stack.post("/v1/invoices", &issue_body("10.00")).await.unwrap();
    assert_eq!(status, 201, "{paid}");
    let id = paid["id"].as_str().unwrap().to_owned();

    // SEQR goes away: nothing listens on its port any more.
    stack.sim.take().unwrap().shutdown().await;

    // The request that finds out: it was recorded before the call and its call was never sent (not done).
    let (status, first) = stack.post("/v1/invoices", &issue_body("11.00")).await.unwrap();
    assert_eq!((status, first["error"]["seqr_result_code"].as_i64()), (422, Some(-1)), "{first}");

    // From now on nothing is recorded: 503 seqr_unavailable with Retry-After, so the same Idempotency-Key can be
    // used again once SEQR is back.
    let before = event_count(&pool).await;
    for (path, body) in [
        ("/v1/invoices".to_owned(), issue_body("12.00")),
        (format!("/v1/invoices/{id}/cancel"), json!({})),
        (format!("/v1/invoices/{id}/loyalty"), json!({"rows": [], "total": {"amount": "10.00", "currency": "SEK"}})),
    ] {
        let response = stack
            .http
            .post(format!("{}{path}", stack.api))
            .bearer_auth(&stack.key)
            .header("Idempotency-Key", format!("k-{path}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503, "{path}");
        assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "seqr_unavailable", "{path}: {answer}");
    }
    assert_eq!(event_count(&pool).await, before, "nothing recorded while SEQR is unreachable");

    // Reads keep working, and readiness tells.
    let view = stack.get(&format!("/v1/invoices/{id}")).await.unwrap();
    assert_eq!(view["status"], "issued");
    let (status, ready) = stack.call(Method::GET, "/health/ready", None, None).await.unwrap();
    assert_eq!((status, ready["seqr"].as_str()), (200, Some("unreachable")), "{ready}");
    stack.shutdown().await;
}
