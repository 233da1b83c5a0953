//! `seqrd-apitest`: a whole seqrd (the HTTP API against an in-process seqr-sim) on a scratch database with one
//! tenant, one API key and one registered terminal, for black-box API tests (`ops/test` runs schemathesis
//! against it). Prints `SEQRD_API=<base URL>`, `SEQRD_API_KEY=<key>` and `SEQRD_TERMINAL=<terminal id>`, one a
//! line, once the API answers; runs until its standard input closes or it gets SIGTERM / SIGINT, then drops the
//! database (kept with SEQRD_APITEST_KEEP=1).

use std::{io::Write as _, process::ExitCode};

use anyhow::Context as _;
use devstack::stack::{self, SeqrTarget, Stack};
use seqrd::config::RawConfig;
use tokio::io::AsyncReadExt as _;

/// The one register: (merchant, store, terminal).
const REGISTER: (&str, &str, &str) = ("acme", "stockholm", "till-1");

fn main() -> ExitCode {
    seqrd::telemetry::init("warn,sqlx=warn,lapin=warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seqrd-apitest: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run());
    // The stdin reader is a blocking thread that may still wait for input (after a signal): do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seqrd-apitest: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = RawConfig::load(None, |k| std::env::var(k).ok())?.resolve()?;
    let database = format!("seqrd_apitest_{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let (_, pool) = stack::scratch_database(&config, &database).await?;
    let admin_config = config.clone();
    let target = SeqrTarget::InProcess(Box::new(seqr_sim::SimConfig::seqr_defaults()));
    let started = Stack::start(config, pool.clone(), target, "apitest", &[REGISTER]).await;
    let result = match started {
        Ok(stack) => {
            let served = serve(&stack).await;
            stack.shutdown().await;
            served
        }
        Err(e) => Err(e),
    };
    if std::env::var("SEQRD_APITEST_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("seqrd-apitest: kept database {database}");
    } else {
        stack::drop_database(&admin_config, &database).await.context("dropping the scratch database")?;
    }
    result
}

/// Announces the stack once it answers, then waits for the end of standard input or a signal.
async fn serve(stack: &Stack) -> anyhow::Result<()> {
    let health =
        stack.http.get(format!("{}/health/ready", stack.api)).send().await.context("the API does not answer")?;
    anyhow::ensure!(health.status().is_success(), "the API is not ready: {}", health.status());
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "SEQRD_API={}", stack.api)?;
        writeln!(out, "SEQRD_API_KEY={}", stack.key)?;
        writeln!(out, "SEQRD_TERMINAL={}", REGISTER.2)?;
        out.flush()?;
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        // Anything written is ignored; the end of input (or an error reading it) ends the run.
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        () = stdin_closed => {}
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
