//! A whole seqrd in one process, for the demo and the end-to-end tests: the HTTP API on a free port, a status
//! worker driven one round at a time, the relay, and seqr-sim in-process (unless an external SEQR is named).
//! Also the shopper's phone (seqr-sim's control API) and a few HTTP helpers.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use engine::{
    shutdown::{self, Trigger},
    Engine, Poller, Reseller, Round, Secret, TerminalSpec,
};
use seqrd::{app, config::Config};
use serde_json::{json, Value};
use store_pg::{PgConnectOptions, PgPool};
use uuid::Uuid;

/// A running stack.
pub struct Stack {
    pub api: String,
    pub key: String,
    pub tenant: String,
    pub sim_base: String,
    pub sim: Option<seqr_sim::SimHandle>,
    pub engine: Engine,
    /// The configuration the stack runs with (its SEQR URL and public URL filled in).
    pub config: Config,
    pub poller: Poller,
    pub http: reqwest::Client,
    pub pool: PgPool,
    stop: Trigger,
}

/// How to reach SEQR.
pub enum SeqrTarget {
    /// Start seqr-sim in this process with this configuration.
    InProcess(Box<seqr_sim::SimConfig>),
    /// An external seqr-sim (its SOAP endpoint URL; the control API is at the same host).
    External(String),
}

impl Stack {
    /// Starts everything on `pool` (migrated) for `tenant`, with one API key and the given registers.
    pub async fn start(
        mut config: Config,
        pool: PgPool,
        target: SeqrTarget,
        tenant: &str,
        registers: &[(&str, &str, &str)],
    ) -> anyhow::Result<Stack> {
        let (sim, soap_url, sim_base) = match target {
            SeqrTarget::InProcess(cfg) => {
                let handle = seqr_sim::Sim::start(*cfg, SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .context("starting seqr-sim")?;
                let soap = handle.soap_url();
                let base = handle.base_url();
                (Some(handle), soap, base)
            }
            SeqrTarget::External(url) => {
                let parsed = url::Url::parse(&url).context("SEQR_URL")?;
                let base = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or("127.0.0.1"))
                    + &parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
                (None, url, base)
            }
        };
        config.seqr_url = url::Url::parse(&soap_url)?;
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        config.public_url = url::Url::parse(&format!("http://{addr}/"))?;
        let instance = config.instance_id.clone();
        let engine = app::build_engine(&config, pool.clone())?;
        let (stop, signal) = shutdown::channel();
        app::serve_on(engine.clone(), &config, listener, signal)?;

        engine.ensure_tenant(tenant, tenant).await?;
        let key = engine.create_api_key(tenant, None).await?;

        let reseller = Reseller {
            id: seqr_sim::DEFAULT_RESELLER_ID.to_owned(),
            user_id: seqr_sim::DEFAULT_RESELLER_USER_ID.to_owned(),
            password: Secret::new(seqr_sim::DEFAULT_RESELLER_PASSWORD),
        };
        for (merchant, store, terminal) in registers {
            let spec = TerminalSpec {
                tenant_id: tenant.to_owned(),
                merchant_id: (*merchant).to_owned(),
                store_id: (*store).to_owned(),
                terminal_id: (*terminal).to_owned(),
            };
            engine.register_terminal(&reseller, &spec).await.with_context(|| format!("registering {terminal}"))?;
        }
        let poller = Poller::new(engine.clone(), instance);
        Ok(Stack {
            api: format!("http://{addr}"),
            key,
            tenant: tenant.to_owned(),
            sim_base,
            sim,
            engine,
            config,
            poller,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
            pool,
            stop,
        })
    }

    /// Calls the API with this stack's key; returns the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        self.call_as(&self.key, method, path, body, idempotency_key).await
    }

    /// Calls the API with another key.
    pub async fn call_as(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.api)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(k) = idempotency_key {
            request = request.header("Idempotency-Key", k);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Ok((status, value))
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, Some(body), None).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.call(reqwest::Method::GET, path, None, None).await?;
        anyhow::ensure!(status == 200, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// The shopper's phone: `POST /sim/phone/<action>`; returns the status and body.
    pub async fn phone(&self, action: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.sim_call(reqwest::Method::POST, &format!("/sim/phone/{action}"), Some(body)).await
    }

    /// Any seqr-sim control call.
    pub async fn sim_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.sim_base));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Makes the invoice due and runs worker rounds until one attended it (what a notification or the next tick
    /// would do). A round can miss the invoice when its row is locked at that instant (a concurrent wake-up from a
    /// SEQR notification: the lease uses SKIP LOCKED), so a few rounds are allowed.
    pub async fn poll(&self, invoice_id: Uuid) -> anyhow::Result<Round> {
        for _ in 0..20 {
            store_pg::jobs::due_now(&self.pool, invoice_id, self.config.poll.active_interval).await?;
            let round = self.poller.poll_once().await?;
            if round.invoices.contains(&invoice_id) {
                return Ok(round);
            }
            tokio::task::yield_now().await;
        }
        anyhow::bail!("invoice {invoice_id} was never leased in 20 worker rounds")
    }

    /// Issues an invoice at `terminal` and returns (status, body).
    pub async fn issue(&self, terminal: &str, invoice: Value, tokens: Value) -> anyhow::Result<(u16, Value)> {
        self.post("/v1/invoices", &json!({ "terminal_id": terminal, "invoice": invoice, "tokens": tokens })).await
    }

    /// Stops the API server and the sim.
    pub async fn shutdown(self) {
        self.stop.fire();
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

/// A fresh database next to DATABASE_URL's (named `name`), migrated; returns its URL and a pool.
pub async fn scratch_database(config: &Config, name: &str) -> anyhow::Result<(String, PgPool)> {
    let options: PgConnectOptions = config.database_url.parse().context("DATABASE_URL")?;
    store_pg::admin::create_database(&options, name).await.with_context(|| {
        format!("creating database {name} ({}): `ops/up` starts Postgres", app::redact(&config.database_url))
    })?;
    let pool = store_pg::pool_options().max_connections(16).connect_with(options.clone().database(name)).await?;
    store_pg::MIGRATOR.run(&pool).await.context("migrations")?;
    let mut url = url::Url::parse(&config.database_url).context("DATABASE_URL")?;
    url.set_path(&format!("/{name}"));
    Ok((url.to_string(), pool))
}

/// Drops a scratch database.
pub async fn drop_database(config: &Config, name: &str) -> anyhow::Result<()> {
    let options: PgConnectOptions = config.database_url.parse().context("DATABASE_URL")?;
    store_pg::admin::drop_database(&options, name).await?;
    Ok(())
}

/// A merchant's own notification endpoint for demos and tests: every POST it receives (its path and query) is
/// sent to the returned channel. Returns its base URL.
pub async fn merchant_endpoint() -> anyhow::Result<(String, tokio::sync::mpsc::UnboundedReceiver<String>)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(axum::routing::post(move |uri: axum::http::Uri| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(uri.to_string());
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}"), rx))
}
