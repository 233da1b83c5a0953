//! `seqr-sim`: runs the SEQR simulator until SIGINT/SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use seqr_sim::engine::{ResellerSeed, TerminalSeed};
use seqr_sim::{NotificationBody, Sim, SimConfig};
use seqr_wire::AcknowledgmentMode;

/// A faithful SEQR merchant API simulator: SOAP at /extclientproxy/service/v2 (WSDL at ?wsdl), control API at /sim/.
#[derive(Debug, Parser)]
#[command(name = "seqr-sim", version)]
struct Args {
    /// Address to bind.
    #[arg(long, env = "SEQR_SIM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0 picks a free one).
    #[arg(long, env = "SEQR_SIM_PORT", default_value_t = 8913)]
    port: u16,
    /// Seconds after which an unfetched PAID invoice is reversed.
    #[arg(long, default_value_t = 20.0)]
    reversal_window_secs: f64,
    /// Seconds during which executeReport answers REPORT_NOT_READY after markTransactionPeriod.
    #[arg(long, default_value_t = 3.0)]
    report_delay_secs: f64,
    /// Render Gen B responses (EXPIRED status, commitReservationTimeout).
    #[arg(long)]
    gen_b: bool,
    /// Notification POST body.
    #[arg(long, value_enum, default_value_t = BodyMode::Empty)]
    notification_body: BodyMode,
    /// Acknowledgment mode when sendInvoice carries none.
    #[arg(long, value_enum, default_value_t = AckMode::Require)]
    default_ack_mode: AckMode,
    /// Strict SOAP parsing (unknown elements and missing required primitives give a SOAP fault).
    #[arg(long)]
    strict: bool,
    /// Reseller credentials as id:userId:password (repeatable; replaces the default reseller).
    #[arg(long = "reseller")]
    resellers: Vec<String>,
    /// Pre-registered terminal as id:password[:resellerId] (repeatable; replaces the default terminal).
    #[arg(long = "terminal")]
    terminals: Vec<String>,
    /// PIN of shoppers not created through the control API.
    #[arg(long, default_value = "1234")]
    default_pin: String,
    /// Seed of the fault-injection RNG.
    #[arg(long, default_value_t = 42)]
    fault_seed: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BodyMode {
    Empty,
    InvoiceReference,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AckMode {
    No,
    Optional,
    Require,
}

fn secs(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("{what} must be a non-negative number of seconds"))
}

fn config(a: &Args) -> anyhow::Result<SimConfig> {
    let mut c = SimConfig::seqr_defaults();
    c.reversal_window = secs(a.reversal_window_secs, "--reversal-window-secs")?;
    c.report_delay = secs(a.report_delay_secs, "--report-delay-secs")?;
    c.gen_b = a.gen_b;
    c.notification_body = match a.notification_body {
        BodyMode::Empty => NotificationBody::Empty,
        BodyMode::InvoiceReference => NotificationBody::InvoiceReferenceForm,
    };
    c.default_ack_mode = match a.default_ack_mode {
        AckMode::No => AcknowledgmentMode::NoAcknowledgment,
        AckMode::Optional => AcknowledgmentMode::OptionalAcknowledgment,
        AckMode::Require => AcknowledgmentMode::RequireAcknowledgment,
    };
    c.strict = a.strict;
    c.default_pin = a.default_pin.clone();
    c.fault_seed = a.fault_seed;
    if !a.resellers.is_empty() {
        c.resellers = a
            .resellers
            .iter()
            .map(|r| {
                let p: Vec<&str> = r.splitn(3, ':').collect();
                match p.as_slice() {
                    [id, user, pw] => Ok(ResellerSeed {
                        id: (*id).to_owned(),
                        user_id: (*user).to_owned(),
                        password: (*pw).to_owned(),
                        currency: "SEK".to_owned(),
                    }),
                    _ => anyhow::bail!("--reseller must be id:userId:password"),
                }
            })
            .collect::<anyhow::Result<_>>()?;
    }
    let first_reseller = c.resellers.first().map(|r| r.id.clone()).unwrap_or_default();
    if !a.terminals.is_empty() {
        c.terminals = a
            .terminals
            .iter()
            .map(|t| {
                let p: Vec<&str> = t.splitn(3, ':').collect();
                let (id, pw, reseller) = match p.as_slice() {
                    [id, pw] => (*id, *pw, first_reseller.as_str()),
                    [id, pw, r] => (*id, *pw, *r),
                    _ => anyhow::bail!("--terminal must be id:password[:resellerId]"),
                };
                Ok(TerminalSeed {
                    id: id.to_owned(),
                    password: pw.to_owned(),
                    reseller_id: reseller.to_owned(),
                    name: "Webshop".to_owned(),
                    single_invoice: false,
                    refunds_allowed: true,
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    Ok(c)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let cfg = config(&args)?;
    let sim = Sim::start(cfg, SocketAddr::new(args.host, args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    tracing::info!(soap = %sim.soap_url(), wsdl = %sim.wsdl_url(), "seqr-sim listening");
    println!("seqr-sim listening on {}", sim.base_url());
    shutdown_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}
