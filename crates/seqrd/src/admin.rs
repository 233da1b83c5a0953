//! The admin listener every process serves, whatever parts it runs (`SEQRD_ADMIN_ADDR`, default
//! 127.0.0.1:9464): `GET /metrics` in the Prometheus text format, `GET /health/live`. The engine and the HTTP API
//! record their counters and histograms through the `metrics` facade (`engine::metrics`, `http_api::observe`);
//! the figures that live in Postgres (the poll queue, the subscriptions' lag, the live instances) and the pools'
//! occupancy are read at each scrape. docs/operations.md lists every metric, with example alerts.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use store_pg::PgPool;

use crate::app::Part;

/// Histogram buckets of every `_seconds` metric: 1 ms to 30 s.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A due poll job that waited longer than this counts as overdue (SEQR reverses a PAID that is not fetched within
/// its reversal window, 20 s by default).
const OVERDUE_AFTER: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use (later calls share it).
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS) {
                Ok(b) => b,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed already (e.g. by a test); then this one stays private.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// What a scrape reads besides the recorder.
#[derive(Clone)]
pub struct AdminState {
    pub handle: PrometheusHandle,
    /// The process's pools, by part (the first one also runs the scrape's queries).
    pub pools: Vec<(Part, PgPool)>,
    /// This process's share of the fleet's SEQR rate budget, when it runs the API or the workers.
    pub engine: Option<engine::Engine>,
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new().route("/metrics", get(scrape)).route("/health/live", get(|| async { "ok" })).with_state(state)
}

/// Binds `addr` and serves the admin routes until the process ends; returns the bound address.
pub async fn serve(addr: SocketAddr, state: AdminState) -> anyhow::Result<SocketAddr> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on SEQRD_ADMIN_ADDR {addr} (in use? set another address, or off)"))?;
    let bound = listener.local_addr()?;
    let app = router(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the admin listener failed");
        }
    });
    Ok(bound)
}

async fn scrape(State(state): State<AdminState>) -> impl IntoResponse {
    for (part, pool) in &state.pools {
        let part = part_label(*part);
        metrics::gauge!("seqrd_db_pool_connections", "part" => part).set(f64::from(pool.size()));
        metrics::gauge!("seqrd_db_pool_idle_connections", "part" => part).set(pool.num_idle() as f64);
    }
    if let Some(engine) = &state.engine {
        metrics::gauge!("seqrd_seqr_rate_budget_per_second").set(f64::from(engine.seqr_rate_per_second()));
    }
    if let Some((_, pool)) = state.pools.first() {
        let up = database_figures(pool).await;
        metrics::gauge!("seqrd_database_up").set(if up { 1.0 } else { 0.0 });
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.handle.render())
}

/// Reads the figures kept in Postgres into gauges; false when Postgres did not answer (the gauges keep their
/// last values, and `seqrd_database_up` says so).
async fn database_figures(pool: &PgPool) -> bool {
    let Ok(queue) = store_pg::jobs::queue_figures(pool, OVERDUE_AFTER).await else { return false };
    metrics::gauge!("seqrd_poll_jobs").set(queue.jobs as f64);
    metrics::gauge!("seqrd_poll_jobs_due").set(queue.due as f64);
    metrics::gauge!("seqrd_poll_jobs_overdue").set(queue.overdue as f64);
    metrics::gauge!("seqrd_poll_jobs_leased").set(queue.leased as f64);
    metrics::gauge!("seqrd_poll_oldest_due_seconds").set(queue.oldest_due_seconds);
    let Ok(lags) = store_pg::fleet::subscription_lags(pool, 100_000).await else { return false };
    let now = chrono::Utc::now();
    for lag in lags {
        let seconds = if lag.events_behind == 0 {
            0.0
        } else {
            (now - lag.checkpoint_at).to_std().map_or(0.0, |d| d.as_secs_f64())
        };
        metrics::gauge!("seqrd_subscription_lag_events", "subscription" => lag.name.clone())
            .set(lag.events_behind as f64);
        metrics::gauge!("seqrd_subscription_lag_seconds", "subscription" => lag.name).set(seconds);
    }
    let Ok(live) = store_pg::fleet::live_instances(pool).await else { return false };
    metrics::gauge!("seqrd_instances_live").set(live as f64);
    true
}

fn part_label(part: Part) -> &'static str {
    match part {
        Part::Api => "api",
        Part::Workers => "workers",
        Part::Projectors => "projectors",
        Part::Relay => "relay",
    }
}
