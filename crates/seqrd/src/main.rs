//! `seqrd`: serve, migrate, administer tenants, keys and terminals, and run the demo.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use engine::{shutdown, Secret, TerminalSpec};
use seqrd::{
    app::{self, Part},
    config::{Config, RawConfig},
    telemetry,
};

#[derive(Parser)]
#[command(
    name = "seqrd",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SEQRD_GIT_REV"), ")"),
    about = "Event-sourced SEQR payment orchestration"
)]
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
    /// List the tenants (id, name, created).
    TenantList,
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
    /// Revoke an API key of a tenant: every process refuses it from the moment this returns.
    ApiKeyRevoke {
        #[arg(long)]
        tenant: String,
        /// The key's id (printed by api-key-create, listed by api-key-list).
        key_id: uuid::Uuid,
    },
    /// List a tenant's API keys (ids, stores, created and revoked times; never a secret).
    ApiKeyList {
        #[arg(long)]
        tenant: String,
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
    /// Walk every SEQR flow through the HTTP API against seqr-sim (in-process unless SEQR_URL is set). Runs
    /// `seqrd-demo` (the `devstack` crate's binary, installed beside this one; the production build leaves the
    /// simulator out).
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
    use clap::{CommandFactory as _, FromArgMatches as _};
    // `seqrd serve --help` lists every setting with its variable and default.
    let matches = Cli::command()
        .mut_subcommand("serve", |serve| serve.after_long_help(seqrd::config::settings_help()))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
            app::migrate(&config).await?;
        }
        Cmd::TenantList => {
            let engine = admin_engine(&cli).await?;
            println!("tenant_id\tname\tcreated_at");
            for (id, name, created_at) in engine.tenants().await? {
                println!("{id}\t{name}\t{}", created_at.to_rfc3339());
            }
        }
        Cmd::TenantAdd { id, name } => {
            let engine = admin_engine(&cli).await?;
            domain::TenantId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
            engine.ensure_tenant(id, name.as_deref().unwrap_or(id)).await?;
        }
        Cmd::ApiKeyCreate { tenant, store } => {
            let engine = admin_engine(&cli).await?;
            let stores = (!store.is_empty()).then_some(store.as_slice());
            let key = engine.create_api_key_with_id(tenant, stores).await.context("is the tenant created?")?;
            // The secret alone on stdout (for scripts); its id, to list or revoke it, on stderr.
            eprintln!("key id: {} (seqrd api-key-revoke --tenant {tenant} {})", key.key_id, key.key_id);
            println!("{}", key.secret);
        }
        Cmd::ApiKeyRevoke { tenant, key_id } => {
            let engine = admin_engine(&cli).await?;
            match engine.revoke_api_key(tenant, *key_id).await {
                Ok(()) => eprintln!("revoked {key_id}"),
                Err(engine::EngineError::NotFound) => {
                    anyhow::bail!(
                        "tenant {tenant} has no live API key {key_id} (see seqrd api-key-list --tenant {tenant})"
                    )
                }
                Err(e) => return Err(e.into()),
            }
        }
        Cmd::ApiKeyList { tenant } => {
            let engine = admin_engine(&cli).await?;
            println!("key_id\tstores\tcreated_at\trevoked_at");
            for key in engine.api_keys(tenant).await? {
                let stores = key.stores.map_or_else(|| "*".to_owned(), |s| s.join(","));
                let revoked = key.revoked_at.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
                println!("{}\t{stores}\t{}\t{revoked}", key.key_id, key.created_at.to_rfc3339());
            }
        }
        Cmd::TerminalAdd { tenant, merchant, store, terminal, seqr_terminal_id, password_env } => {
            let engine = admin_engine(&cli).await?;
            let password = std::env::var(password_env)
                .with_context(|| format!("set {password_env} to the terminal's SEQR password"))?;
            let spec = TerminalSpec {
                tenant_id: tenant.clone(),
                merchant_id: merchant.clone(),
                store_id: store.clone(),
                terminal_id: terminal.clone(),
            };
            engine.add_terminal(&spec, seqr_terminal_id, &Secret::new(password)).await?;
        }
        Cmd::Demo => return run_demo(),
    }
    Ok(ExitCode::SUCCESS)
}

/// An engine on a small pool, for the administrative commands.
async fn admin_engine(cli: &Cli) -> anyhow::Result<engine::Engine> {
    let config = config(cli)?;
    let pool = app::connect_db(&config, 2).await?;
    app::build_engine(&config, pool)
}

/// Runs `seqrd-demo` from this binary's directory, with the same arguments and environment.
fn run_demo() -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let demo = exe.with_file_name(format!("seqrd-demo{}", std::env::consts::EXE_SUFFIX));
    if !demo.exists() {
        anyhow::bail!(
            "the demo is not part of this build: {} is missing (`cargo build -p devstack`, or run `ops/demo`)",
            demo.display()
        );
    }
    let args: Vec<_> = std::env::args_os().skip(1).filter(|a| a != "demo").collect();
    let status =
        std::process::Command::new(&demo).args(args).status().with_context(|| format!("running {}", demo.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
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
