//! The metrics the engine records, in one place, through the `metrics` facade (the process installs the
//! Prometheus recorder; without one, recording costs nothing). Names follow Prometheus conventions: `_total` for
//! counters, `_seconds` in base units, and bounded label sets only (an operation name, an outcome class, a SEQR
//! result code's name): never an invoice, tenant or terminal id.

use std::time::Duration;

use seqr_client::CallError;

use crate::Round;

/// `seqr_calls_total{operation, outcome}`.
pub const SEQR_CALLS: &str = "seqrd_seqr_calls_total";
/// `seqr_call_duration_seconds{operation}`.
pub const SEQR_CALL_DURATION: &str = "seqrd_seqr_call_duration_seconds";
/// `poll_rounds_total`.
pub const POLL_ROUNDS: &str = "seqrd_poll_rounds_total";
/// `polls_total`: getPaymentStatus calls made by the status workers.
pub const POLLS: &str = "seqrd_polls_total";
/// `poll_failures_total`: invoices a round failed to attend (retried after their lease).
pub const POLL_FAILURES: &str = "seqrd_poll_failures_total";
/// `relay_confirmed_events_total{relay}`: events RabbitMQ confirmed.
pub const RELAY_CONFIRMED: &str = "seqrd_relay_confirmed_events_total";
/// `relay_redelivered_events_total{relay}`: of those, events published again after a batch that failed before
/// its confirms (consumers deduplicate them by id).
pub const RELAY_REDELIVERED: &str = "seqrd_relay_redelivered_events_total";
/// `relay_batches_total{relay}`: confirmed batches.
pub const RELAY_BATCHES: &str = "seqrd_relay_batches_total";

/// The outcome class of a SEQR call: `succeeded`; SEQR's result code by name (e.g. `INVOICE_ALREADY_CANCELED`,
/// `SYSTEM_ERROR`; `result_code_unknown` for a code seqrd does not know); `unknown` (sent, no usable answer: its
/// outcome is resolved later); `transport` (not sent); `fault` (a SOAP fault or an HTTP error answer).
pub fn outcome_of(result: &Result<seqr_wire::Response, CallError>) -> &'static str {
    match result {
        Ok(_) => "succeeded",
        Err(CallError::ResultCode { code, .. }) => code.name().unwrap_or("result_code_unknown"),
        Err(CallError::TransportAfterSend { .. } | CallError::Decode { .. }) => "unknown",
        Err(CallError::TransportBeforeSend { .. }) => "transport",
        Err(CallError::HttpStatus { .. } | CallError::SoapFault { .. }) => "fault",
    }
}

pub(crate) fn seqr_call(operation: &'static str, result: &Result<seqr_wire::Response, CallError>, took: Duration) {
    metrics::counter!(SEQR_CALLS, "operation" => operation, "outcome" => outcome_of(result)).increment(1);
    metrics::histogram!(SEQR_CALL_DURATION, "operation" => operation).record(took.as_secs_f64());
}

pub(crate) fn poll_round(round: &Round) {
    metrics::counter!(POLL_ROUNDS).increment(1);
    metrics::counter!(POLLS).increment(round.polls as u64);
    metrics::counter!(POLL_FAILURES).increment(round.failed as u64);
}

pub(crate) fn relay_batch(relay: &str, confirmed: usize, redelivered: usize) {
    let relay = relay.to_owned();
    metrics::counter!(RELAY_BATCHES, "relay" => relay.clone()).increment(1);
    metrics::counter!(RELAY_CONFIRMED, "relay" => relay.clone()).increment(confirmed as u64);
    metrics::counter!(RELAY_REDELIVERED, "relay" => relay).increment(redelivered as u64);
}
