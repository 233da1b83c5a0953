//! Whether SEQR can be reached, as this process's calls find it: a circuit breaker.
//!
//! A call that cannot reach SEQR (no connection: the request was never sent; or a gateway answering 502/503/504)
//! opens the breaker for a cooldown (1 s, doubling with each failed probe up to 15 s). While it is open, commands
//! that need SEQR are refused before anything is recorded ([`crate::EngineError::SeqrUnavailable`]: 503
//! `seqr_unavailable` with Retry-After), so a client may retry later with the same Idempotency-Key; reads keep
//! working. When the cooldown is over one command goes through as a probe; the status workers' polls, which keep
//! running, probe too. Any answer from SEQR (also a refusal) closes it.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use seqr_client::CallError;
use seqr_wire as wire;

const COOLDOWN_MIN: Duration = Duration::from_secs(1);
const COOLDOWN_MAX: Duration = Duration::from_secs(15);

#[derive(Default)]
pub(crate) struct Breaker {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Consecutive calls that could not reach SEQR.
    failures: u32,
    /// Closed when `None`; open until this instant.
    open_until: Option<Instant>,
}

impl Breaker {
    /// Whether a command may call SEQR now; `Err(retry_after)` while the breaker is open. After the cooldown one
    /// caller is let through (the others wait for another cooldown) to probe.
    pub(crate) fn admit(&self) -> Result<(), Duration> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match inner.open_until {
            None => Ok(()),
            Some(until) if now < until => Err(until - now),
            Some(_) => {
                let cooldown = cooldown(inner.failures);
                inner.open_until = Some(now + cooldown);
                Ok(())
            }
        }
    }

    /// Learns from a call's result.
    pub(crate) fn observe(&self, result: &Result<wire::Response, CallError>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if unreachable(result) {
            inner.failures = inner.failures.saturating_add(1);
            inner.open_until = Some(Instant::now() + cooldown(inner.failures));
        } else {
            inner.failures = 0;
            inner.open_until = None;
        }
    }

    /// Whether the last calls found SEQR unreachable.
    pub(crate) fn is_open(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).open_until.is_some()
    }
}

fn cooldown(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(4);
    (COOLDOWN_MIN * 2u32.pow(doublings)).min(COOLDOWN_MAX)
}

/// SEQR was not reached: no connection (the request was never sent), or a gateway that could not reach it.
fn unreachable(result: &Result<wire::Response, CallError>) -> bool {
    matches!(result, Err(CallError::TransportBeforeSend { .. }) | Err(CallError::HttpStatus { status: 502..=504, .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Result<wire::Response, CallError> {
        Err(CallError::TransportBeforeSend {
            operation: wire::Operation::SendInvoice,
            message: "connection refused".to_owned(),
        })
    }

    #[test]
    fn an_unreachable_seqr_opens_it_and_any_answer_closes_it() {
        let breaker = Breaker::default();
        assert_eq!(breaker.admit(), Ok(()));
        breaker.observe(&refused());
        assert!(breaker.is_open());
        let wait = breaker.admit().unwrap_err();
        assert!(wait <= COOLDOWN_MIN && wait > Duration::ZERO, "{wait:?}");
        // An in-band refusal is an answer: SEQR is there.
        breaker.observe(&Err(CallError::ResultCode {
            operation: wire::Operation::SendInvoice,
            code: wire::ResultCode::InvalidInvoiceData,
            description: None,
            response: Box::new(wire::Response::UpdateInvoice(wire::ErsResponse::new(
                wire::ResultCode::InvalidInvoiceData,
            ))),
        }));
        assert!(!breaker.is_open());
        assert_eq!(breaker.admit(), Ok(()));
    }

    #[test]
    fn the_cooldown_doubles_up_to_its_ceiling() {
        assert_eq!(cooldown(1), Duration::from_secs(1));
        assert_eq!(cooldown(2), Duration::from_secs(2));
        assert_eq!(cooldown(4), Duration::from_secs(8));
        assert_eq!(cooldown(50), COOLDOWN_MAX);
    }
}
