//! Fault injection: rules that add latency, drop the connection, answer HTTP 500, a SOAP fault or a busy/error
//! result code, either for the next N calls of an operation or with a probability (seeded RNG).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What a rule does to a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Delay the answer by `latency_ms` (combines with a later non-latency rule).
    Latency,
    /// Close the connection without an answer, before the request is processed (nothing changed).
    DropBefore,
    /// Close the connection without an answer, after the request was processed (the change happened).
    DropAfter,
    /// Answer HTTP 500 with a plain-text body (not SOAP).
    Http500,
    /// Answer a `soap:Server` fault (HTTP 500), without processing.
    SoapFault,
    /// Answer resultCode 90 SYSTEM_ERROR, without processing.
    SystemError,
    /// Answer resultCode 93 SYSTEM_BUSY, without processing.
    SystemBusy,
}

/// One fault rule, as posted to `POST /sim/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// SOAP operation name (e.g. `sendInvoice`); absent matches every operation.
    #[serde(default)]
    pub operation: Option<String>,
    /// The action.
    pub action: FaultAction,
    /// Apply to the next `count` matching calls, then retire.
    #[serde(default)]
    pub count: Option<u32>,
    /// Apply to each matching call with this probability (0..=1). Ignored when `count` is set.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Delay for [`FaultAction::Latency`], in milliseconds.
    #[serde(default)]
    pub latency_ms: Option<u64>,
}

/// The decision for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDecision {
    /// Total injected delay.
    pub latency: Duration,
    /// The terminal action, if any.
    pub action: Option<FaultAction>,
}

/// The active rules and the seeded RNG.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<FaultRule>,
    rng: StdRng,
}

impl Faults {
    /// No rules, RNG seeded with `seed`.
    pub fn new(seed: u64) -> Faults {
        Faults { rules: Vec::new(), rng: StdRng::seed_from_u64(seed) }
    }

    /// Adds a rule. A probability outside 0..=1 is clamped.
    pub fn add(&mut self, mut rule: FaultRule) {
        if let Some(p) = rule.probability.as_mut() {
            *p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        }
        self.rules.push(rule);
    }

    /// Removes every rule and reseeds the RNG.
    pub fn reset(&mut self, seed: u64) {
        self.rules.clear();
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// The active rules.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Decides what happens to one call of `operation`; consumes counted rules.
    pub fn decide(&mut self, operation: &str) -> FaultDecision {
        let mut d = FaultDecision::default();
        for rule in self.rules.iter_mut() {
            if d.action.is_some() {
                break;
            }
            if rule.operation.as_deref().is_some_and(|o| o != operation) {
                continue;
            }
            let fire = match (rule.count.as_mut(), rule.probability) {
                (Some(0), _) => false,
                (Some(n), _) => {
                    *n -= 1;
                    true
                }
                (None, Some(p)) => self.rng.gen_bool(p),
                (None, None) => true,
            };
            if !fire {
                continue;
            }
            match rule.action {
                FaultAction::Latency => d.latency += Duration::from_millis(rule.latency_ms.unwrap_or(0)),
                a => d.action = Some(a),
            }
        }
        self.rules.retain(|r| r.count != Some(0));
        d
    }
}

#[cfg(test)]
mod tests;
