//! Start-up: connect (failing at once with a message that says what to fix), then run the parts of the service.
//! `seqrd serve` runs all parts in one process; `--only` picks some, so they scale separately.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use seqr_client::{ClientConfig, SeqrClient};
use sqlx::{postgres::PgConnectOptions, PgPool};
use store_pg::{EventStore, InvoiceProjection, Subscription, SubscriptionConfig};

use crate::{
    api::{self, AppState},
    config::Config,
    engine::Engine,
    poller::Poller,
    rate::RateLimiter,
    service::Service,
    shutdown::Shutdown,
};

/// A part of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The HTTP API.
    Api,
    /// Status workers (polling, unknown outcomes, reservation deadlines).
    Workers,
    /// Read-model projections.
    Projectors,
    /// The RabbitMQ event feed.
    Relay,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Api, Part::Workers, Part::Projectors, Part::Relay];
}

/// Connects to Postgres and checks that the schema is migrated.
pub async fn connect_db(config: &Config, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions =
        config.database_url.parse().with_context(|| "DATABASE_URL is not a valid Postgres URL".to_owned())?;
    let pool = store_pg::pool_options()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .with_context(|| {
            format!("cannot connect to Postgres ({}): is it running? `ops/up` starts it", redact(&config.database_url))
        })?;
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .ok()
        .flatten();
    let latest = store_pg::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if applied.unwrap_or(0) < latest {
        anyhow::bail!("the database schema is not up to date: run `seqrd migrate` (or `ops/up`)");
    }
    Ok(pool)
}

/// The service built from a configuration.
pub async fn build_service(config: Config, pool: PgPool) -> anyhow::Result<Service> {
    let mut client = ClientConfig::new(config.seqr_url.as_str());
    client.gen_b = config.seqr_gen_b;
    let seqr = SeqrClient::new(client).map_err(|e| anyhow::anyhow!("SEQR_URL: {e}"))?;
    let rate = RateLimiter::new(config.seqr_rate_limit);
    let http = config.merchant_urls.client().context("the HTTP client for merchant URLs")?;
    Ok(Service { engine: Engine::new(EventStore::new(pool.clone())), pool, seqr, config: Arc::new(config), rate, http })
}

/// The running HTTP API: its address, for tests and the demo that bind port 0.
pub async fn serve_api(
    service: Service,
    addr: SocketAddr,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    serve_on(service, listener, shutdown)
}

/// Serves the API on a bound listener.
pub fn serve_on(
    service: Service,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let local = listener.local_addr()?;
    let router = api::router(AppState { service });
    let handle = tokio::spawn(async move {
        let result = axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.wait().await }).await;
        if let Err(e) = result {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok((local, handle))
}

/// Runs the chosen parts until `shutdown`.
pub async fn run(config: Config, parts: &[Part], shutdown: Shutdown) -> anyhow::Result<()> {
    let pool = connect_db(&config, 32).await?;
    if parts.contains(&Part::Relay) {
        // Fail at start-up, not later, when RabbitMQ cannot be reached.
        crate::amqp::Publisher::connect(&config.amqp_url, &config.exchange).await.with_context(|| {
            format!("cannot connect to RabbitMQ ({}): is it running? `ops/up` starts it", redact(&config.amqp_url))
        })?;
    }
    let http_addr = config.http_addr;
    let service = build_service(config, pool.clone()).await?;
    let mut tasks = tokio::task::JoinSet::new();
    if parts.contains(&Part::Api) {
        let (addr, handle) = serve_api(service.clone(), http_addr, shutdown.clone()).await?;
        tracing::info!(%addr, "HTTP API listening");
        tasks.spawn(async move {
            handle.await?;
            anyhow::Ok(())
        });
    }
    if parts.contains(&Part::Workers) {
        let poller = Poller::new(service.clone(), service.config.instance_id.clone());
        let stop = shutdown.clone();
        tasks.spawn(async move { poller.run(stop).await });
    }
    if parts.contains(&Part::Projectors) {
        let subscription = Subscription::new(
            EventStore::new(pool.clone()),
            InvoiceProjection,
            SubscriptionConfig::new(1000, Duration::from_millis(500)),
        );
        let stop = shutdown.clone();
        tasks.spawn(async move {
            subscription.run(async move { stop.wait().await }).await?;
            anyhow::Ok(())
        });
    }
    if parts.contains(&Part::Relay) {
        let mut relay = crate::relay::Relay::new(
            EventStore::new(pool.clone()),
            &service.config.amqp_url,
            &service.config.exchange,
            "relay",
        );
        let stop = shutdown.clone();
        tasks.spawn(async move {
            relay.run(async move { stop.wait().await }).await?;
            anyhow::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.context("a part of the service panicked")??;
    }
    Ok(())
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
