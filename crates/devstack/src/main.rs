//! `seqrd-demo` (what `seqrd demo` and `ops/demo` run): every SEQR flow of the merchant documentation against
//! seqr-sim, through the public HTTP API. Exits 0 only if every flow reached its expected end state.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use seqrd::config::RawConfig;

#[derive(Parser)]
#[command(name = "seqrd-demo", version, about = "Walk every SEQR flow through seqrd's HTTP API against seqr-sim")]
struct Cli {
    /// Optional TOML configuration file; environment variables override it.
    #[arg(long, env = "SEQRD_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    seqrd::telemetry::init("info,sqlx=warn,lapin=warn");
    let cli = Cli::parse();
    let run = async {
        let config = RawConfig::load(cli.config.as_deref(), |k| std::env::var(k).ok())?.resolve()?;
        devstack::demo::run(config).await
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seqrd-demo: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("seqrd-demo: {e:#}");
            ExitCode::from(2)
        }
    }
}
