//! Logging: `tracing` with an env filter (RUST_LOG). Human-readable with colours on a terminal; JSON lines (one
//! object per event, with the span fields such as a request's `request_id`) when stderr is not a terminal, as
//! under an orchestrator. `SEQRD_LOG_JSON=1` or `0` forces either.

use std::io::IsTerminal as _;

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once; later calls are no-ops (tests call it from several places).
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let terminal = std::io::stderr().is_terminal();
    let json = match std::env::var("SEQRD_LOG_JSON").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        _ => !terminal,
    };
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(terminal && !json);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
