//! Configuration: environment variables over an optional TOML file, parsed once and validated at start-up.
//!
//! Two steps, as ripgrep does with its arguments: [`RawConfig`] is what was written (strings, optional), and
//! [`Config`] is what was resolved (URLs parsed, durations typed, secrets wrapped). A bad value fails start-up with
//! a message naming the variable and what to do.

use std::{net::SocketAddr, path::Path, time::Duration};

use serde::Deserialize;
use url::Url;

use engine::PollConfig;
use http_api::HttpLimits;

use crate::app::Part;

/// Where a setting comes from, for error messages.
const ENV_PREFIX: &str = "SEQRD_";

/// The resolved configuration of one seqrd process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Postgres connection URL (the event log, read models and work tables).
    pub database_url: String,
    /// RabbitMQ URL for the event feed.
    pub amqp_url: String,
    /// Address the HTTP API listens on.
    pub http_addr: SocketAddr,
    /// Address of the admin listener (`/metrics`, `/health/live`) every process serves whatever its parts;
    /// `None` (SEQRD_ADMIN_ADDR=off): none.
    pub admin_addr: Option<SocketAddr>,
    /// The base URL under which SEQR reaches this process (for notificationUrl).
    pub public_url: Url,
    /// SEQR's SOAP endpoint.
    pub seqr_url: Url,
    /// Whether SEQR speaks schema Gen B (commitReservation carries the final amount).
    pub seqr_gen_b: bool,
    /// Name of this process in leases and logs.
    pub instance_id: String,
    /// Status polling.
    pub poll: PollConfig,
    /// Most SEQR calls per second from all seqrd processes together.
    pub seqr_rate_limit: u32,
    /// RabbitMQ exchange that receives every event.
    pub exchange: String,
    /// Which merchant URLs (an invoice's own notificationUrl) seqrd may send requests to.
    pub merchant_urls: engine::MerchantUrlPolicy,
    /// Shortest time between two SEQR notifications that bring an invoice's poll forward.
    pub notification_min_interval: Duration,
    /// SEQR reverses a PAID payment whose status is not fetched within this time (PROTOCOL.md §7: 20 s). Leases and
    /// the active poll interval are sized and validated against it, so a crash never costs a sale.
    pub seqr_reversal_window: Duration,
    /// After SIGTERM, how long the parts may take to finish the work in flight before the process stops anyway.
    pub shutdown_drain: Duration,
    /// Limits of the HTTP server against slow, idle and too many clients.
    pub http: HttpLimits,
    /// Postgres connections each part's queries may hold at once (see [`Config::db_connections`]).
    pub db_pools: DbPools,
}

/// Postgres connections each part's queries may hold at once: the size of the part's own pool, not counting
/// the connections a part holds for LISTEN or a session lock ([`Config::db_connections`] adds those). Every part
/// has a pool of its own, so a burst of API requests never takes the connections the workers need to fetch a PAID
/// status within SEQR's reversal window. seqrd holds a pooled connection for one statement at a time (no
/// transaction spans a SEQR call), so a part needs as many as it runs statements at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbPools {
    /// The HTTP API (`SEQRD_DB_POOL_API`, default 16): one per request in a statement at that moment; more wait up
    /// to about a second for one, then are answered 503 `database_unavailable`.
    pub api: u32,
    /// The status workers (`SEQRD_DB_POOL_WORKERS`, default 16): one per invoice attended at once (a round attends
    /// up to 16 concurrently); the lease renewer and the NOTIFY task share them, a statement each.
    pub workers: u32,
    /// The projectors (`SEQRD_DB_POOL_PROJECTORS`, default 1): a batch is one transaction on one connection.
    pub projectors: u32,
    /// The relay (`SEQRD_DB_POOL_RELAY`, default 1): its statements run one after another.
    pub relay: u32,
}

impl DbPools {
    /// The setting for `part`.
    pub fn queries(&self, part: Part) -> u32 {
        match part {
            Part::Api => self.api,
            Part::Workers => self.workers,
            Part::Projectors => self.projectors,
            Part::Relay => self.relay,
        }
    }
}

/// Connections a part holds for `LISTEN` (a listener takes one from the part's pool and keeps it): the API
/// (`seqrd_terminals` and `seqrd_api_keys`, dropping cached register credentials and revoked keys, `Engine::watch_access`), the workers
/// (`seqrd_poll` and `seqrd_terminals`, `Poller::run`), the projectors and the active relay (`seqrd_events`,
/// `Subscription::run`, `Relay::lead`).
pub fn db_listen_connections(part: Part) -> u32 {
    match part {
        Part::Api | Part::Workers | Part::Projectors | Part::Relay => 1,
    }
}

/// Connections a part opens outside its pool, each holding a session advisory lock (`locks::try_hold`): the
/// API's process lock (the liveness of its in-flight Idempotency-Keys, `locks::ProcessLock`) and the relay's
/// leader lock (held by the active relay; a standby opens it every few seconds to try, and closes it).
pub fn db_lock_connections(part: Part) -> u32 {
    match part {
        Part::Api | Part::Relay => 1,
        Part::Workers | Part::Projectors => 0,
    }
}

impl Config {
    /// What the engine needs of the configuration.
    pub fn engine_settings(&self) -> engine::Settings {
        engine::Settings {
            public_url: self.public_url.clone(),
            seqr_gen_b: self.seqr_gen_b,
            poll: self.poll.clone(),
            merchant_urls: self.merchant_urls,
            notification_min_interval: self.notification_min_interval,
        }
    }

    /// The most connections the pool of `part` opens: its queries plus its LISTEN connection, which sqlx takes
    /// from the same pool.
    pub fn db_pool_size(&self, part: Part) -> u32 {
        self.db_pools.queries(part) + db_listen_connections(part)
    }

    /// The most Postgres connections a process running `parts` holds at once: for each part (a part named twice
    /// counts once), its pool ([`Config::db_pool_size`]: queries plus LISTEN) plus its session-lock connections.
    pub fn db_connections(&self, parts: &[Part]) -> u32 {
        Part::ALL
            .into_iter()
            .filter(|part| parts.contains(part))
            .map(|part| self.db_pool_size(part) + db_lock_connections(part))
            .sum()
    }
}

/// A configuration error: which setting, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {setting}: {problem}")]
pub struct ConfigError {
    setting: String,
    problem: String,
}

impl ConfigError {
    fn new(setting: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError { setting: setting.to_owned(), problem: problem.into() }
    }
}

/// The file form of the configuration: every key optional; environment variables win.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    database_url: Option<String>,
    amqp_url: Option<String>,
    http_addr: Option<String>,
    admin_addr: Option<String>,
    public_url: Option<String>,
    seqr_url: Option<String>,
    seqr_gen_b: Option<bool>,
    instance_id: Option<String>,
    poll_active_ms: Option<u64>,
    poll_reserved_ms: Option<u64>,
    poll_max_ms: Option<u64>,
    lease_ms: Option<u64>,
    poll_batch: Option<u32>,
    seqr_rate_limit: Option<u32>,
    exchange: Option<String>,
    merchant_url_allow_http: Option<bool>,
    merchant_url_allow_private: Option<bool>,
    notification_min_interval_ms: Option<u64>,
    seqr_reversal_window_ms: Option<u64>,
    shutdown_drain_ms: Option<u64>,
    http_header_timeout_ms: Option<u64>,
    http_body_timeout_ms: Option<u64>,
    http_idle_timeout_ms: Option<u64>,
    http_request_timeout_ms: Option<u64>,
    http_max_connections: Option<u32>,
    db_pool_api: Option<u32>,
    db_pool_workers: Option<u32>,
    db_pool_projectors: Option<u32>,
    db_pool_relay: Option<u32>,
}

impl RawConfig {
    /// Reads the optional file, then overlays the environment.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<RawConfig, ConfigError> {
        let mut raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::new("--config", format!("cannot read {}: {e}", path.display())))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::new("--config", format!("{} is not valid: {e}", path.display())))?
            }
            None => RawConfig::default(),
        };
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let prefixed = |name: &str| var(&format!("{ENV_PREFIX}{name}"));
        macro_rules! overlay {
            ($field:ident, $value:expr) => {
                if let Some(v) = $value {
                    raw.$field = Some(v);
                }
            };
        }
        macro_rules! overlay_parsed {
            ($field:ident, $name:expr) => {
                if let Some(v) = prefixed($name) {
                    raw.$field = Some(v.parse().map_err(|_| {
                        ConfigError::new(&format!("{ENV_PREFIX}{}", $name), format!("{v:?} is not a valid value"))
                    })?);
                }
            };
        }
        overlay!(database_url, var("DATABASE_URL"));
        overlay!(amqp_url, var("AMQP_URL"));
        overlay!(seqr_url, var("SEQR_URL"));
        overlay!(http_addr, prefixed("HTTP_ADDR"));
        overlay!(admin_addr, prefixed("ADMIN_ADDR"));
        overlay!(public_url, prefixed("PUBLIC_URL"));
        overlay!(instance_id, prefixed("INSTANCE_ID"));
        overlay!(exchange, prefixed("EXCHANGE"));
        overlay_parsed!(seqr_gen_b, "SEQR_GEN_B");
        overlay_parsed!(poll_active_ms, "POLL_ACTIVE_MS");
        overlay_parsed!(poll_reserved_ms, "POLL_RESERVED_MS");
        overlay_parsed!(poll_max_ms, "POLL_MAX_MS");
        overlay_parsed!(lease_ms, "LEASE_MS");
        overlay_parsed!(poll_batch, "POLL_BATCH");
        overlay_parsed!(seqr_rate_limit, "SEQR_RATE_LIMIT");
        overlay_parsed!(merchant_url_allow_http, "MERCHANT_URL_ALLOW_HTTP");
        overlay_parsed!(merchant_url_allow_private, "MERCHANT_URL_ALLOW_PRIVATE");
        overlay_parsed!(notification_min_interval_ms, "NOTIFICATION_MIN_INTERVAL_MS");
        overlay_parsed!(seqr_reversal_window_ms, "SEQR_REVERSAL_WINDOW_MS");
        overlay_parsed!(shutdown_drain_ms, "SHUTDOWN_DRAIN_MS");
        overlay_parsed!(http_header_timeout_ms, "HTTP_HEADER_TIMEOUT_MS");
        overlay_parsed!(http_body_timeout_ms, "HTTP_BODY_TIMEOUT_MS");
        overlay_parsed!(http_idle_timeout_ms, "HTTP_IDLE_TIMEOUT_MS");
        overlay_parsed!(http_request_timeout_ms, "HTTP_REQUEST_TIMEOUT_MS");
        overlay_parsed!(http_max_connections, "HTTP_MAX_CONNECTIONS");
        overlay_parsed!(db_pool_api, "DB_POOL_API");
        overlay_parsed!(db_pool_workers, "DB_POOL_WORKERS");
        overlay_parsed!(db_pool_projectors, "DB_POOL_PROJECTORS");
        overlay_parsed!(db_pool_relay, "DB_POOL_RELAY");
        Ok(raw)
    }

    /// Validates every value; nothing is connected to yet.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let database_url = self.database_url.ok_or_else(|| {
            ConfigError::new(
                "DATABASE_URL",
                "not set; e.g. postgres://seqrd:seqrd@127.0.0.1:5432/seqrd?sslmode=disable",
            )
        })?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError::new("DATABASE_URL", "must start with postgres://"));
        }
        let amqp_url = self.amqp_url.unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        if !(amqp_url.starts_with("amqp://") || amqp_url.starts_with("amqps://")) {
            return Err(ConfigError::new("AMQP_URL", "must start with amqp:// or amqps://"));
        }
        let http_addr: SocketAddr = self
            .http_addr
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse()
            .map_err(|_| ConfigError::new("SEQRD_HTTP_ADDR", "must be host:port, e.g. 127.0.0.1:8080"))?;
        let admin_addr = match self.admin_addr.as_deref().unwrap_or("127.0.0.1:9464") {
            "off" => None,
            addr => Some(addr.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new("SEQRD_ADMIN_ADDR", "must be host:port (e.g. 127.0.0.1:9464), or off")
            })?),
        };
        let public_url =
            parse_http_url("SEQRD_PUBLIC_URL", self.public_url.as_deref().unwrap_or(&format!("http://{http_addr}/")))?;
        let seqr_url = parse_http_url(
            "SEQR_URL",
            self.seqr_url.as_deref().unwrap_or("http://127.0.0.1:8913/extclientproxy/service/v2"),
        )?;
        let ms = |v: Option<u64>, default: u64, name: &str| -> Result<Duration, ConfigError> {
            let v = v.unwrap_or(default);
            if v == 0 {
                return Err(ConfigError::new(name, "must be greater than 0"));
            }
            Ok(Duration::from_millis(v))
        };
        let seqr_reversal_window = ms(self.seqr_reversal_window_ms, 20_000, "SEQRD_SEQR_REVERSAL_WINDOW_MS")?;
        let window_ms = seqr_reversal_window.as_millis() as u64;
        let poll = PollConfig {
            active_interval: ms(self.poll_active_ms, 1000, "SEQRD_POLL_ACTIVE_MS")?,
            reserved_interval: ms(self.poll_reserved_ms, 5000, "SEQRD_POLL_RESERVED_MS")?,
            max_interval: ms(self.poll_max_ms, 60_000, "SEQRD_POLL_MAX_MS")?,
            // A quarter of the reversal window: a dead worker's invoices are taken over well inside it.
            lease: ms(self.lease_ms, (window_ms / 4).max(1), "SEQRD_LEASE_MS")?,
            batch: self.poll_batch.unwrap_or(64).max(1),
        };
        // After a shopper pays, the PAID status is fetched within one active interval, or, if the worker holding
        // the invoice died, within its lease plus one interval: keep that within half of SEQR's window.
        if (poll.lease + poll.active_interval) * 2 > seqr_reversal_window {
            return Err(ConfigError::new(
                "SEQRD_LEASE_MS",
                format!(
                    "a lease of {} ms plus the active poll interval of {} ms (SEQRD_POLL_ACTIVE_MS) must be at most \
                     half of SEQR's reversal window of {window_ms} ms (SEQRD_SEQR_REVERSAL_WINDOW_MS): otherwise a \
                     payment whose worker crashed can be fetched too late and SEQR reverses it",
                    poll.lease.as_millis(),
                    poll.active_interval.as_millis()
                ),
            ));
        }
        let instance_id = self.instance_id.unwrap_or_else(default_instance_id);
        if instance_id.is_empty() || instance_id.len() > 64 {
            return Err(ConfigError::new("SEQRD_INSTANCE_ID", "must be 1 to 64 characters"));
        }
        let seqr_rate_limit = self.seqr_rate_limit.unwrap_or(200);
        if seqr_rate_limit == 0 {
            return Err(ConfigError::new("SEQRD_SEQR_RATE_LIMIT", "must be greater than 0"));
        }
        let http_max_connections = self.http_max_connections.unwrap_or(1024);
        if http_max_connections == 0 {
            return Err(ConfigError::new("SEQRD_HTTP_MAX_CONNECTIONS", "must be greater than 0"));
        }
        let http = HttpLimits {
            header_timeout: ms(self.http_header_timeout_ms, 10_000, "SEQRD_HTTP_HEADER_TIMEOUT_MS")?,
            body_timeout: ms(self.http_body_timeout_ms, 30_000, "SEQRD_HTTP_BODY_TIMEOUT_MS")?,
            idle_timeout: ms(self.http_idle_timeout_ms, 60_000, "SEQRD_HTTP_IDLE_TIMEOUT_MS")?,
            request_timeout: ms(self.http_request_timeout_ms, 60_000, "SEQRD_HTTP_REQUEST_TIMEOUT_MS")?,
            max_connections: http_max_connections as usize,
        };
        let pool = |v: Option<u32>, default: u32, name: &str| -> Result<u32, ConfigError> {
            match v.unwrap_or(default) {
                0 => Err(ConfigError::new(name, "must be greater than 0 (see docs/deployment.md)")),
                v => Ok(v),
            }
        };
        let db_pools = DbPools {
            api: pool(self.db_pool_api, 16, "SEQRD_DB_POOL_API")?,
            workers: pool(self.db_pool_workers, 16, "SEQRD_DB_POOL_WORKERS")?,
            projectors: pool(self.db_pool_projectors, 1, "SEQRD_DB_POOL_PROJECTORS")?,
            relay: pool(self.db_pool_relay, 1, "SEQRD_DB_POOL_RELAY")?,
        };
        Ok(Config {
            database_url,
            amqp_url,
            http_addr,
            admin_addr,
            public_url,
            seqr_url,
            seqr_gen_b: self.seqr_gen_b.unwrap_or(true),
            instance_id,
            poll,
            seqr_rate_limit,
            exchange: self.exchange.unwrap_or_else(|| "seqrd.events".to_owned()),
            merchant_urls: engine::MerchantUrlPolicy {
                allow_http: self.merchant_url_allow_http.unwrap_or(false),
                allow_private: self.merchant_url_allow_private.unwrap_or(false),
            },
            notification_min_interval: ms(
                self.notification_min_interval_ms,
                2000,
                "SEQRD_NOTIFICATION_MIN_INTERVAL_MS",
            )?,
            seqr_reversal_window,
            shutdown_drain: ms(self.shutdown_drain_ms, 20_000, "SEQRD_SHUTDOWN_DRAIN_MS")?,
            http,
            db_pools,
        })
    }
}

fn parse_http_url(setting: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(setting, format!("{value:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(setting, "must be an http:// or https:// URL"));
    }
    Ok(url)
}

fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    let host = if host.is_empty() { "seqrd".to_owned() } else { host };
    format!("{host}-{}", std::process::id())
}

/// Every setting: its environment variable, its default and what it does (`seqrd serve --help` prints this; a
/// test holds it to what [`RawConfig::load`] reads). The TOML file's keys are the variables' names in lower case
/// without the `SEQRD_` prefix.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("DATABASE_URL", "(required)", "Postgres URL (use sslmode=disable on loopback)"),
    ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f", "RabbitMQ URL of the event feed"),
    ("SEQR_URL", "http://127.0.0.1:8913/extclientproxy/service/v2", "SEQR's SOAP endpoint"),
    ("SEQRD_HTTP_ADDR", "127.0.0.1:8080", "address of the HTTP API"),
    ("SEQRD_ADMIN_ADDR", "127.0.0.1:9464", "admin listener (/metrics, /health/live) of every process; off: none"),
    ("SEQRD_PUBLIC_URL", "http://<SEQRD_HTTP_ADDR>/", "where SEQR reaches this process (its notificationUrl)"),
    ("SEQRD_INSTANCE_ID", "<hostname>-<pid>", "this process's name in leases, heartbeats and logs"),
    ("SEQRD_EXCHANGE", "seqrd.events", "RabbitMQ exchange that receives every event"),
    ("SEQRD_SEQR_GEN_B", "true", "SEQR schema Gen B (commitReservation carries the final amount); false: Gen A"),
    ("SEQRD_POLL_ACTIVE_MS", "1000", "poll interval while the shopper is at the register"),
    ("SEQRD_POLL_RESERVED_MS", "5000", "poll interval of a reservation"),
    ("SEQRD_POLL_MAX_MS", "60000", "longest poll interval (backing off)"),
    ("SEQRD_LEASE_MS", "a quarter of the reversal window", "how long a worker holds an invoice it polls"),
    ("SEQRD_POLL_BATCH", "64", "invoices a worker leases per round"),
    ("SEQRD_SEQR_RATE_LIMIT", "200", "SEQR calls per second of all seqrd processes together"),
    ("SEQRD_MERCHANT_URL_ALLOW_HTTP", "false", "development only: allow http merchant notification URLs"),
    ("SEQRD_MERCHANT_URL_ALLOW_PRIVATE", "false", "development only: allow merchant URLs on private addresses"),
    (
        "SEQRD_NOTIFICATION_MIN_INTERVAL_MS",
        "2000",
        "a SEQR notification brings an invoice's poll forward at most this often",
    ),
    (
        "SEQRD_SEQR_REVERSAL_WINDOW_MS",
        "20000",
        "SEQR reverses a PAID not fetched within this; leases are sized from it",
    ),
    ("SEQRD_SHUTDOWN_DRAIN_MS", "20000", "after SIGTERM, how long the parts may finish the work in flight"),
    ("SEQRD_HTTP_HEADER_TIMEOUT_MS", "10000", "the whole request head must arrive within this"),
    ("SEQRD_HTTP_BODY_TIMEOUT_MS", "30000", "the whole request body must arrive within this (else 408)"),
    ("SEQRD_HTTP_IDLE_TIMEOUT_MS", "60000", "an idle kept-alive connection is closed after this"),
    ("SEQRD_HTTP_REQUEST_TIMEOUT_MS", "60000", "a handler still running after this is answered 503 request_timeout"),
    ("SEQRD_HTTP_MAX_CONNECTIONS", "1024", "most connections served at once"),
    ("SEQRD_DB_POOL_API", "16", "Postgres connections of the API's pool"),
    ("SEQRD_DB_POOL_WORKERS", "16", "Postgres connections of the workers' pool"),
    ("SEQRD_DB_POOL_PROJECTORS", "1", "Postgres connections of the projectors' pool"),
    ("SEQRD_DB_POOL_RELAY", "1", "Postgres connections of the relay's pool"),
];

/// [`SETTINGS`] as a help text.
pub fn settings_help() -> String {
    let mut out = String::from("Settings (environment variables over the --config TOML file; default in brackets):\n");
    for (name, default, what) in SETTINGS {
        out.push_str(&format!("  {name} [{default}]\n      {what}\n"));
    }
    out
}

#[cfg(test)]
mod settings_tests {
    /// Every variable the configuration reads is listed in SETTINGS, and every listed one is read.
    #[test]
    fn the_settings_help_lists_exactly_what_the_configuration_reads() {
        let source = include_str!("config.rs");
        let mut read = std::collections::BTreeSet::new();
        for line in source.lines().map(str::trim).filter(|l| l.starts_with("overlay")) {
            let quoted = line.split('"').nth(1).unwrap_or_default();
            let name = if line.contains("var(\"") { quoted.to_owned() } else { format!("SEQRD_{quoted}") };
            read.insert(name);
        }
        let listed: std::collections::BTreeSet<String> = super::SETTINGS.iter().map(|s| s.0.to_owned()).collect();
        assert!(read.len() >= 29, "{read:?}");
        assert_eq!(read, listed);
    }
}
