//! Start-up: connect (failing at once with a message that says what to fix), then run the parts of the service.
//! `seqrd serve` runs all parts in one process; `--only` picks some, so they scale separately.

use std::{net::SocketAddr, time::Duration};

use amqp::AmqpFeed;
use anyhow::Context as _;
use engine::{shutdown::Shutdown, Engine, EngineParts, Poller, RateLimiter, Relay};
use seqr_client::{ClientConfig, SeqrClient};
use store_pg::{EventStore, InvoiceProjection, PgPool, Subscription, SubscriptionConfig};

use crate::config::Config;

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

/// Connects to Postgres (a pool of at most `max_connections`) and checks that the schema is migrated.
pub async fn connect_db(config: &Config, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: store_pg::PgConnectOptions =
        config.database_url.parse().with_context(|| "DATABASE_URL is not a valid Postgres URL".to_owned())?;
    // One direct connection first: if Postgres cannot be reached, the message says why at once.
    store_pg::admin::probe(&options).await.with_context(|| {
        format!("cannot connect to Postgres ({}): is it running? `ops/up` starts it", redact(&config.database_url))
    })?;
    let pool = store_pg::pool_options()
        .max_connections(max_connections)
        // A request waits at most about a second for a connection; then it is answered 503 database_unavailable.
        .acquire_timeout(Duration::from_secs(1))
        .connect_with(options)
        .await
        .with_context(|| {
            format!("cannot connect to Postgres ({}): is it running? `ops/up` starts it", redact(&config.database_url))
        })?;
    if !store_pg::admin::schema_is_current(&pool).await {
        anyhow::bail!("the database schema is not up to date: run `seqrd migrate` (or `ops/up`)");
    }
    Ok(pool)
}

/// The engine built from a configuration, on `pool`.
pub fn build_engine(config: &Config, pool: PgPool) -> anyhow::Result<Engine> {
    let mut client = ClientConfig::new(config.seqr_url.as_str());
    client.gen_b = config.seqr_gen_b;
    let seqr = SeqrClient::new(client).map_err(|e| anyhow::anyhow!("SEQR_URL: {e}"))?;
    let rate = RateLimiter::new(config.seqr_rate_limit);
    let http = config.merchant_urls.client().context("the HTTP client for merchant URLs")?;
    Ok(Engine::new(EngineParts { pool, seqr, settings: config.engine_settings(), rate, http }))
}

/// Serves the HTTP API of `engine` on a bound listener, within the limits of `config.http`, and keeps the
/// engine's register and API key caches in step with changes made by other processes. The task ends after `shutdown`, once
/// every connection has closed and every handler has finished.
pub fn serve_on(
    engine: Engine,
    config: &Config,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let watcher = {
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.watch_access().await {
                    tracing::warn!(
                        error = %engine::error_chain(&e),
                        "listening for register changes and API key revocations failed (API keys are looked up on \
                         every request meanwhile); retrying"
                    );
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let (addr, server) = http_api::serve_on(engine, listener, config.http.clone(), shutdown)?;
    let handle = tokio::spawn(async move {
        let _ = server.await;
        watcher.abort();
    });
    Ok((addr, handle))
}

/// Applies the database migrations.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let options: store_pg::PgConnectOptions =
        config.database_url.parse().with_context(|| "DATABASE_URL is not a valid Postgres URL".to_owned())?;
    let pool = store_pg::pool_options()
        .max_connections(2)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect to Postgres ({})", redact(&config.database_url)))?;
    store_pg::MIGRATOR.run(&pool).await.context("migrations failed")?;
    Ok(())
}

/// Connects the pool of one part, as [`run`] does: at most [`Config::db_pool_size`] connections (the part's
/// queries and its LISTEN connection), with [`connect_db`]'s one-second acquire timeout.
pub async fn connect_part(config: &Config, part: Part) -> anyhow::Result<PgPool> {
    connect_db(config, config.db_pool_size(part)).await
}

/// Compares the connections this process needs with what Postgres allows. A process that can never fit (it alone
/// needs more than `max_connections` minus the slots reserved for superusers) is refused; one that does not fit
/// *now*, next to the connections already open, is only warned about: other clients and seqrd processes come and
/// go (during a rolling restart the old process still holds its connections), and the pools open connections only
/// as they are needed. Run on a pool holding one connection (excluded from the count: it is this process's).
pub async fn check_connection_budget(pool: &PgPool, need: u32) -> anyhow::Result<()> {
    let (max, reserved, in_use) = match store_pg::admin::connection_usage(pool).await {
        Ok(u) => (u.max_connections, u.reserved, u.in_use),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read max_connections from Postgres: the connection budget is not checked");
            return Ok(());
        }
    };
    let usable = (max - reserved).max(0);
    let need = i64::from(need);
    if need > usable {
        anyhow::bail!(
            "this process needs {need} Postgres connections, but Postgres allows at most {usable} \
             (max_connections {max} minus {reserved} reserved for superusers): lower SEQRD_DB_POOL_API, \
             SEQRD_DB_POOL_WORKERS, SEQRD_DB_POOL_PROJECTORS or SEQRD_DB_POOL_RELAY, run fewer parts per process \
             (--only), or raise max_connections; see docs/deployment.md"
        );
    }
    let free = (usable - in_use).max(0);
    if need > free {
        tracing::warn!(
            need,
            free,
            max_connections = max,
            reserved,
            in_use,
            "Postgres has fewer free connections than this process may need: under load, requests will wait and fail \
             with 503 database_unavailable; lower the SEQRD_DB_POOL_* settings or raise max_connections \
             (docs/deployment.md)"
        );
    }
    Ok(())
}

/// Runs the chosen parts until `shutdown`. Each part has a pool of its own, sized by its setting
/// ([`Config::db_pool_size`]), so the process never holds more than [`Config::db_connections`] connections.
pub async fn run(config: Config, parts: &[Part], shutdown: Shutdown) -> anyhow::Result<()> {
    // Before anything records a metric.
    let handle = crate::admin::metrics_handle();
    let chosen: Vec<Part> = Part::ALL.into_iter().filter(|part| parts.contains(part)).collect();
    let need = config.db_connections(&chosen);
    let of = |part: Part| config.db_connections(&[part]) * u32::from(chosen.contains(&part));
    tracing::info!(
        total = need,
        api = of(Part::Api),
        workers = of(Part::Workers),
        projectors = of(Part::Projectors),
        relay = of(Part::Relay),
        "Postgres connections this process needs at most (pools, LISTEN and lock connections; docs/deployment.md)"
    );
    // The first pool checks the budget before the others open their first connection.
    let mut pools: Vec<(Part, PgPool)> = Vec::with_capacity(chosen.len());
    for &part in &chosen {
        let pool = connect_part(&config, part).await?;
        if pools.is_empty() {
            check_connection_budget(&pool, need).await?;
        }
        pools.push((part, pool));
    }
    let pool_of = |part: Part| pools.iter().find(|(p, _)| *p == part).map(|(_, pool)| pool);
    if chosen.is_empty() {
        connect_db(&config, 1).await?.close().await;
    }
    if parts.contains(&Part::Relay) {
        // Fail at start-up, not later, when RabbitMQ cannot be reached.
        if let Err(e) = amqp::Publisher::connect(&config.amqp_url, &config.exchange).await {
            let url = redact(&config.amqp_url);
            let text = engine::error_chain(&e);
            // A broker that answers but refuses the login is running: say so, not "is it running?".
            let hint = if text.contains("ACCESS_REFUSED") || text.to_lowercase().contains("auth") {
                "RabbitMQ refused the user or password in AMQP_URL"
            } else {
                "is it running? `ops/up` starts it"
            };
            return Err(anyhow::Error::new(e).context(format!("cannot connect to RabbitMQ ({url}): {hint}")));
        }
    }
    let http_addr = config.http_addr;
    // The API and the workers share one engine (its SEQR rate budget and register cache), each with its own pool.
    let engine = match pool_of(Part::Api).or_else(|| pool_of(Part::Workers)) {
        Some(pool) => Some(build_engine(&config, pool.clone())?),
        None => None,
    };
    if let Some(addr) = config.admin_addr {
        let state = crate::admin::AdminState { handle, pools: pools.clone(), engine: engine.clone() };
        let addr = crate::admin::serve(addr, state).await?;
        tracing::info!(%addr, "admin listener (/metrics, /health/live)");
    }
    let mut tasks = tokio::task::JoinSet::new();
    if let (Some(pool), Some(engine)) = (pool_of(Part::Api), &engine) {
        let listener =
            tokio::net::TcpListener::bind(http_addr).await.with_context(|| format!("cannot listen on {http_addr}"))?;
        let (addr, handle) = serve_on(engine.with_pool(pool.clone()), &config, listener, shutdown.clone())?;
        tracing::info!(%addr, "HTTP API listening");
        tasks.spawn(async move {
            handle.await?;
            anyhow::Ok(())
        });
    }
    if let (Some(pool), Some(engine)) = (pool_of(Part::Workers), &engine) {
        let poller = Poller::new(engine.with_pool(pool.clone()), config.instance_id.clone());
        let stop = shutdown.clone();
        tasks.spawn(async move {
            poller.run(stop).await?;
            anyhow::Ok(())
        });
    }
    if let Some(pool) = pool_of(Part::Projectors) {
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
    if let Some(pool) = pool_of(Part::Relay) {
        let feed = AmqpFeed::new(&config.amqp_url, &config.exchange);
        let mut relay = Relay::new(EventStore::new(pool.clone()), feed, "relay");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            relay.run(async move { stop.wait().await }).await?;
            anyhow::Ok(())
        });
    }
    // After shutdown, the parts finish what is in flight, for at most the drain time.
    let drained = async {
        while let Some(result) = tasks.join_next().await {
            result.context("a part of the service panicked")??;
        }
        anyhow::Ok(())
    };
    let drain = config.shutdown_drain;
    let overdue = async {
        shutdown.wait().await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = drained => result,
        () = overdue => {
            tracing::warn!(drain_ms = drain.as_millis() as u64, "shutdown: the drain time is over; stopping with work in flight");
            // Calls cut off here stay recorded as requested: a worker resolves them as unknown.
            if let (Some(pool), Some(engine)) = (pool_of(Part::Workers), &engine) {
                // Another process takes this one's invoices at once instead of waiting for the leases.
                let poller = Poller::new(engine.with_pool(pool.clone()), config.instance_id.clone());
                let released = poller.reclaim().await?;
                tracing::info!(released, "released this process's leases");
            }
            Ok(())
        }
    }
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
