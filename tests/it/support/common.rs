//! Helpers every end-to-end test file shares: the configuration from the environment, and seqr-sim fault rules.

use seqr_sim::faults::{FaultAction, FaultRule};
use seqrd::config::{Config, RawConfig};
use uuid::Uuid;

/// The configuration from the environment (`ops/env.sh`), with an exchange of its own for the test.
pub(crate) fn config() -> Config {
    let mut config =
        RawConfig::load(None, |k| std::env::var(k).ok()).and_then(RawConfig::resolve).expect("config from env");
    config.exchange = format!("seqrd.test.{}", Uuid::now_v7().simple());
    config
}

/// A fault on the next call of `operation`.
pub(crate) fn fault(operation: &str, action: FaultAction) -> FaultRule {
    FaultRule { operation: Some(operation.to_owned()), action, count: Some(1), probability: None, latency_ms: None }
}

/// The next call of `operation` is held `ms` milliseconds by seqr-sim before it is even read.
pub(crate) fn held(operation: &str, ms: u64) -> FaultRule {
    FaultRule { latency_ms: Some(ms), ..fault(operation, FaultAction::Latency) }
}
