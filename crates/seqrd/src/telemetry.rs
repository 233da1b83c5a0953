//! Logging: `tracing` with an env filter (RUST_LOG), human-readable on a terminal, JSON with SEQRD_LOG_JSON=1.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber once; later calls are no-ops (tests call it from several places).
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("SEQRD_LOG_JSON").is_ok_and(|v| v == "1");
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
