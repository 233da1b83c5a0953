//! `ops/bench <name>`: the project's benchmarks. Each prints a human-readable report and ends with one summary
//! line whose shape is fixed (see docs/benchmarks.md). Benchmarks are measurements, never pass/fail tests.

use anyhow::Context as _;

mod append;
mod broker;
mod codec;
mod delivery;
mod http;
mod poll;
mod projection;
mod relay;
mod sim;

fn main() -> anyhow::Result<()> {
    let name =
        std::env::args().nth(1).context("usage: bench <append|projection|codec|sim|http|poll|relay|delivery>")?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match name.as_str() {
        "append" => rt.block_on(append::run()),
        "projection" => rt.block_on(projection::run()),
        "codec" => codec::run(),
        "sim" => rt.block_on(sim::run()),
        "relay" => rt.block_on(relay::run()),
        "http" => rt.block_on(http::run()),
        "poll" => rt.block_on(poll::run()),
        "delivery" => rt.block_on(delivery::run()),
        other => anyhow::bail!(
            "unknown benchmark {other:?}; known: append, projection, codec, sim, http, poll, relay, delivery"
        ),
    }
}
