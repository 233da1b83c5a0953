//! The connection budget (docs/deployment.md): pool sizes per part are settings, a process's total is what its
//! parts' pools, LISTEN and lock connections add up to, and the pools `app::run` builds never open more.

use std::collections::HashSet;

use seqrd::{
    app::{self, Part},
    config::{Config, RawConfig},
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

const DB: &str = "postgres://seqrd@127.0.0.1:5432/seqrd";

/// Resolves a configuration from exactly these variables.
fn resolve(pairs: &[(&str, &str)]) -> Result<Config, String> {
    let env = |k: &str| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned());
    RawConfig::load(None, env).and_then(RawConfig::resolve).map_err(|e| e.to_string())
}

/// The configuration from the test environment, with these pool sizes and this test's database.
fn config_for(database: &str, pools: &[(&str, &str)]) -> Config {
    let env = |k: &str| match pools.iter().find(|(name, _)| *name == k) {
        Some((_, v)) => Some((*v).to_owned()),
        None => std::env::var(k).ok(),
    };
    let mut config = RawConfig::load(None, env).and_then(RawConfig::resolve).expect("config from env");
    let mut url = url::Url::parse(&config.database_url).unwrap();
    url.set_path(&format!("/{database}"));
    config.database_url = url.to_string();
    config
}

const SETTINGS: [&str; 4] =
    ["SEQRD_DB_POOL_API", "SEQRD_DB_POOL_WORKERS", "SEQRD_DB_POOL_PROJECTORS", "SEQRD_DB_POOL_RELAY"];

#[test]
fn pool_sizes_have_defaults_and_follow_the_environment_and_the_file() {
    let defaults = resolve(&[("DATABASE_URL", DB)]).unwrap();
    let p = defaults.db_pools;
    assert_eq!((p.api, p.workers, p.projectors, p.relay), (16, 16, 1, 1), "the documented defaults");

    let set = resolve(&[
        ("DATABASE_URL", DB),
        ("SEQRD_DB_POOL_API", "40"),
        ("SEQRD_DB_POOL_WORKERS", "7"),
        ("SEQRD_DB_POOL_PROJECTORS", "3"),
        ("SEQRD_DB_POOL_RELAY", "2"),
    ])
    .unwrap();
    let p = set.db_pools;
    assert_eq!((p.api, p.workers, p.projectors, p.relay), (40, 7, 3, 2));

    // The file form (`--config`), overridden by the environment.
    let path = std::env::temp_dir().join(format!("seqrd-budget-{}.toml", uuid::Uuid::now_v7().simple()));
    std::fs::write(&path, "db_pool_api = 5\ndb_pool_relay = 4\n").unwrap();
    let env = |k: &str| match k {
        "DATABASE_URL" => Some(DB.to_owned()),
        "SEQRD_DB_POOL_RELAY" => Some("9".to_owned()),
        _ => None,
    };
    let from_file = RawConfig::load(Some(&path), env).and_then(RawConfig::resolve);
    std::fs::remove_file(&path).unwrap();
    let p = from_file.unwrap().db_pools;
    assert_eq!((p.api, p.workers, p.projectors, p.relay), (5, 16, 1, 9));
}

#[test]
fn a_zero_or_non_numeric_pool_size_is_refused_naming_the_variable() {
    for setting in SETTINGS {
        for bad in ["0", "many", "-1", "2.5"] {
            let message = resolve(&[("DATABASE_URL", DB), (setting, bad)]).unwrap_err();
            assert!(message.contains(setting), "{setting}={bad}: {message}");
            for other in SETTINGS.iter().filter(|s| **s != setting) {
                assert!(!message.contains(other), "{setting}={bad} blames {other}: {message}");
            }
        }
        assert!(resolve(&[("DATABASE_URL", DB), (setting, "1")]).is_ok(), "{setting}=1 is allowed");
    }
}

#[test]
fn db_connections_add_up_for_every_combination_of_parts() {
    // Sizes that cannot add up to one another by accident.
    let config = resolve(&[
        ("DATABASE_URL", DB),
        ("SEQRD_DB_POOL_API", "3"),
        ("SEQRD_DB_POOL_WORKERS", "5"),
        ("SEQRD_DB_POOL_PROJECTORS", "7"),
        ("SEQRD_DB_POOL_RELAY", "11"),
    ])
    .unwrap();
    // docs/deployment.md: api = API + 2 (LISTEN for register changes, process lock), workers = WORKERS + 1
    // (LISTEN), projectors = PROJECTORS + 1 (LISTEN), relay = RELAY + 2 (LISTEN, leader lock).
    let documented = |part: Part| match part {
        Part::Api => 3 + 2,
        Part::Workers => 5 + 1,
        Part::Projectors => 7 + 1,
        Part::Relay => 11 + 2,
    };
    // The pool of a part holds its queries and its LISTEN connection; the locks are outside it.
    assert_eq!(config.db_pool_size(Part::Api), 4);
    assert_eq!(config.db_pool_size(Part::Workers), 6);
    assert_eq!(config.db_pool_size(Part::Projectors), 8);
    assert_eq!(config.db_pool_size(Part::Relay), 12);
    for mask in 0..16u32 {
        let parts: Vec<Part> =
            Part::ALL.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, p)| p).collect();
        let expected: u32 = parts.iter().map(|&p| documented(p)).sum();
        assert_eq!(config.db_connections(&parts), expected, "{parts:?}");
        // A part named twice (`--only api --only api`) runs once.
        let twice: Vec<Part> = parts.iter().chain(parts.iter()).copied().collect();
        assert_eq!(config.db_connections(&twice), expected, "{twice:?}");
    }
    // The documented default total of `seqrd serve`.
    let defaults = resolve(&[("DATABASE_URL", DB)]).unwrap();
    assert_eq!(defaults.db_connections(&Part::ALL), 40);
}

/// With every part's pool built as `app::run` builds it, its LISTEN connections open as the parts open them and
/// its locks taken as the API and the relay take them: concurrent work beyond the pool sizes waits rather than
/// opening more, a part can hold all its query connections next to its LISTEN connection, one more is refused
/// (the API answers that 503 `database_unavailable`), and the whole process holds exactly `db_connections`.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn the_pools_run_builds_never_open_more_than_the_budget(_: PgPoolOptions, options: PgConnectOptions) {
    let config = config_for(
        options.get_database().expect("a test database"),
        &[
            ("SEQRD_DB_POOL_API", "3"),
            ("SEQRD_DB_POOL_WORKERS", "2"),
            ("SEQRD_DB_POOL_PROJECTORS", "1"),
            ("SEQRD_DB_POOL_RELAY", "1"),
        ],
    );
    let mut pools = Vec::new();
    let mut listeners = Vec::new();
    for part in Part::ALL {
        let pool = app::connect_part(&config, part).await.unwrap();
        // What `Engine::watch_access`, `Poller::run`, `Subscription::run` and `Relay::lead` do: a listener from
        // the part's pool.
        let mut listener = PgListener::connect_with(&pool).await.unwrap();
        listener.listen("seqrd_budget_test").await.unwrap();
        listeners.push(listener);
        pools.push((part, pool));
    }
    // The API's process lock and the relay's leader lock, on connections of their own.
    let api_pool = &pools[0].1;
    let _process = store_pg::locks::ProcessLock::acquire(api_pool).await.unwrap();
    let relay_pool = &pools[3].1;
    let _leader = store_pg::locks::try_hold(
        &relay_pool.connect_options(),
        store_pg::locks::RELAY_LOCK_CLASS,
        store_pg::locks::LockKey::Name("relay"),
    )
    .await
    .unwrap()
    .expect("no other relay in this database");

    // Ten times more concurrent statements than connections: they wait for one, never open another.
    for (part, pool) in &pools {
        let queries = config.db_pools.queries(*part);
        let work = (0..10 * queries).map(|_| sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()").fetch_one(pool));
        let pids: HashSet<i32> = futures::future::try_join_all(work).await.unwrap().into_iter().collect();
        assert!(pids.len() as u32 <= queries, "{part:?}: {} connections ran queries, {queries} allowed", pids.len());
        assert!(pool.size() <= config.db_pool_size(*part), "{part:?}: {} open", pool.size());
    }

    // Each part holds all its query connections at once (next to its listener), and no more.
    let mut held = Vec::new();
    for (part, pool) in &pools {
        for _ in 0..config.db_pools.queries(*part) {
            held.push(pool.acquire().await.unwrap());
        }
        assert_eq!(pool.size(), config.db_pool_size(*part), "{part:?}");
        assert_eq!(pool.num_idle(), 0, "{part:?}");
    }
    let beyond = futures::future::join_all(pools.iter().map(|(_, pool)| pool.acquire())).await;
    for ((part, pool), result) in pools.iter().zip(beyond) {
        assert!(matches!(result, Err(sqlx::Error::PoolTimedOut)), "{part:?}: {:?}", result.map(|_| ()));
        assert_eq!(pool.size(), config.db_pool_size(*part), "{part:?}: the refused acquire opened nothing");
    }
    // Postgres's view: the connections to this database are this process's, and they are its budget.
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        .fetch_one(&mut *held[0])
        .await
        .unwrap();
    assert_eq!(open, i64::from(config.db_connections(&Part::ALL)), "open connections against the budget");
}

/// A process that alone needs more connections than Postgres allows is refused at start-up, naming the settings.
#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn start_up_refuses_a_budget_postgres_can_never_hold(_: PgPoolOptions, options: PgConnectOptions) {
    let database = options.get_database().expect("a test database");
    let mut config = config_for(database, &[("SEQRD_DB_POOL_API", "1000000")]);
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    // Shut down already: without the check, `run` would serve and return at once, not fail.
    let (trigger, signal) = engine::shutdown::channel();
    trigger.fire();
    let e = app::run(config, &[Part::Api], signal).await.unwrap_err();
    let message = format!("{e:#}");
    assert!(message.contains("1000002 Postgres connections"), "{message}");
    assert!(message.contains("max_connections") && message.contains("SEQRD_DB_POOL_API"), "{message}");

    // Within what Postgres allows, start-up goes on (here: to the API's listener, which stops at once).
    let mut config = config_for(database, &[]);
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    let (trigger, signal) = engine::shutdown::channel();
    trigger.fire();
    app::run(config, &[Part::Api], signal).await.unwrap();
}
