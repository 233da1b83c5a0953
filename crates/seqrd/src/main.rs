//! `seqrd`: serve, migrate, administer tenants, keys and terminals, and run the demo.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use seqrd::{
    api::auth,
    app::{self, Part},
    config::{Config, RawConfig},
    secret::Secret,
    shutdown, telemetry, terminals,
};

#[derive(Parser)]
#[command(name = "seqrd", version, about = "Event-sourced SEQR payment orchestration")]
struct Cli {
    /// Optional TOML configuration file; environment variables override it.
    #[arg(long, global = true, env = "SEQRD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service: HTTP API, workers, projectors and the RabbitMQ relay (or only some of them).
    Serve {
        /// Run only these parts (repeatable).
        #[arg(long, value_enum)]
        only: Vec<Part>,
    },
    /// Apply the database migrations.
    Migrate,
    /// Create a tenant.
    TenantAdd {
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Create an API key for a tenant (printed once).
    ApiKeyCreate {
        #[arg(long)]
        tenant: String,
        /// Limit the key to these stores (repeatable); all stores when absent.
        #[arg(long)]
        store: Vec<String>,
    },
    /// Store the SEQR credentials of a register. The password is read from the environment variable named by
    /// --password-env, so it never appears in shell history or process lists.
    TerminalAdd {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        store: String,
        #[arg(long)]
        terminal: String,
        /// SEQR's terminal id (32 hex characters, from registerTerminal).
        #[arg(long)]
        seqr_terminal_id: String,
        #[arg(long, default_value = "SEQR_TERMINAL_PASSWORD")]
        password_env: String,
    },
    /// Walk every SEQR flow through the HTTP API against seqr-sim (in-process unless SEQR_URL is set).
    Demo,
}

fn main() -> ExitCode {
    telemetry::init("info,sqlx=warn,lapin=warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seqrd: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(try_main()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("seqrd: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(RawConfig::load(cli.config.as_deref(), |k| std::env::var(k).ok())?.resolve()?)
}

async fn try_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Cmd::Serve { only } => {
            let config = config(&cli)?;
            let parts: Vec<Part> = if only.is_empty() { Part::ALL.to_vec() } else { only.clone() };
            let (trigger, signal) = shutdown::channel();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down: finishing the calls in flight (a second signal stops at once)");
                trigger.fire();
                wait_for_signal().await;
                tracing::warn!("second signal: stopping at once");
                std::process::exit(130);
            });
            app::run(config, &parts, signal).await?;
        }
        Cmd::Migrate => {
            let config = config(&cli)?;
            let pool = sqlx::PgPool::connect(&config.database_url)
                .await
                .with_context(|| format!("cannot connect to Postgres ({})", app::redact(&config.database_url)))?;
            store_pg::MIGRATOR.run(&pool).await.context("migrations failed")?;
        }
        Cmd::TenantAdd { id, name } => {
            let pool = app::connect_db(&config(&cli)?, 2).await?;
            domain::TenantId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
            auth::ensure_tenant(&pool, id, name.as_deref().unwrap_or(id)).await?;
        }
        Cmd::ApiKeyCreate { tenant, store } => {
            let pool = app::connect_db(&config(&cli)?, 2).await?;
            let stores = (!store.is_empty()).then_some(store.as_slice());
            let key = auth::create_api_key(&pool, tenant, stores).await.context("is the tenant created?")?;
            println!("{key}");
        }
        Cmd::TerminalAdd { tenant, merchant, store, terminal, seqr_terminal_id, password_env } => {
            let pool = app::connect_db(&config(&cli)?, 2).await?;
            let password = std::env::var(password_env)
                .with_context(|| format!("set {password_env} to the terminal's SEQR password"))?;
            let spec = terminals::TerminalSpec {
                tenant_id: tenant.clone(),
                merchant_id: merchant.clone(),
                store_id: store.clone(),
                terminal_id: terminal.clone(),
            };
            terminals::add(&pool, &spec, seqr_terminal_id, &Secret::new(password)).await?;
        }
        Cmd::Demo => {
            let ok = seqrd::demo::run(config(&cli)?).await?;
            return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
