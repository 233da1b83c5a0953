//! What SEQR's callbacks and an operator's probes ask of the engine: a notification for an invoice, and whether
//! this process can serve.

use crate::{Engine, EngineError};

/// How many events behind a subscription may be counted exactly (beyond, the answer says "at least").
pub(crate) const LAG_COUNT_LIMIT: i64 = 10_000;

/// One subscription's progress, for readiness.
#[derive(Debug, Clone)]
pub struct SubscriptionHealth {
    pub name: String,
    /// Events after its checkpoint, counted up to 10,000.
    pub lag_events: i64,
    /// Whether the count stopped at the limit.
    pub lag_at_least: bool,
    pub checkpoint_at: chrono::DateTime<chrono::Utc>,
}

/// Whether this process can serve, and how the parts of the fleet are doing.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub subscriptions: Vec<SubscriptionHealth>,
    /// Worker instances with a recent heartbeat.
    pub live_workers: i64,
    /// Whether this process's last SEQR calls could reach SEQR.
    pub seqr_reachable: bool,
}

impl Engine {
    /// SEQR says something happened to the invoice of `token`: poll it at once. The token is the only credential
    /// (SEQR cannot authenticate), so an unknown token changes nothing (`false`); a known one can only bring the
    /// invoice's next poll forward, at most once per `notification_min_interval` (a flood of a leaked token costs
    /// one indexed lookup per request and no SEQR call).
    pub async fn notified(&self, token: &str) -> Result<bool, EngineError> {
        if token.len() != 48 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let min = self.settings().notification_min_interval.as_secs_f64();
        let interval = self.settings().poll.active_interval;
        let Some((_, woken)) = store_pg::fleet::notified(self.pool(), token, min, interval).await? else {
            return Ok(false);
        };
        if woken {
            store_pg::fleet::notify_workers(self.pool()).await?;
        }
        Ok(true)
    }

    /// The readiness report (an error when Postgres cannot be reached).
    pub async fn readiness(&self) -> Result<Readiness, EngineError> {
        let lags = store_pg::fleet::subscription_lags(self.pool(), LAG_COUNT_LIMIT).await?;
        let live_workers = store_pg::fleet::live_instances(self.pool()).await?;
        let subscriptions = lags
            .into_iter()
            .map(|l| SubscriptionHealth {
                name: l.name,
                lag_events: l.events_behind,
                lag_at_least: l.events_behind >= LAG_COUNT_LIMIT,
                checkpoint_at: l.checkpoint_at,
            })
            .collect();
        Ok(Readiness { subscriptions, live_workers, seqr_reachable: !self.seqr_unreachable() })
    }
}
