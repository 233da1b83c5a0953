//! `seqrd-faults` (what `ops/faults` runs): the fault suite. Each scenario runs real `seqrd serve` and `seqr-sim`
//! processes against Postgres and RabbitMQ on loopback under a bounded load, breaks something, lets the system
//! settle and prints the invariants as `scenario.name=value` figures. Exits 1 when a figure that must be zero is
//! not. Usage: `seqrd-faults [--short] <kill|seqr-faults|rabbitmq-down|postgres-down|three-processes>... | all`.

use std::{process::ExitCode, time::Instant};

use devstack::faults::{
    say,
    scenarios::{self, Form, Scenario},
};

fn usage() -> ExitCode {
    let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
    eprintln!("usage: seqrd-faults [--short] <{}>... | all", names.join("|"));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    seqrd::telemetry::init("warn,sqlx=warn,lapin=off");
    let mut short = false;
    let mut chosen = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--short" => short = true,
            "all" => chosen.extend(Scenario::ALL),
            name => match Scenario::parse(name) {
                Some(s) => chosen.push(s),
                None => return usage(),
            },
        }
    }
    if chosen.is_empty() {
        return usage();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("seqrd-faults: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let form = Form { short, rate: 20.0, clients: 4 };
    let started = Instant::now();
    let code = runtime.block_on(async {
        let mut failed = Vec::new();
        for scenario in chosen {
            // Ctrl-C / SIGTERM end the scenario early; its processes and throwaway servers are still removed.
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let interrupted = async {
                match term.as_mut() {
                    Some(t) => tokio::select! { _ = t.recv() => {}, _ = tokio::signal::ctrl_c() => {} },
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            let outcome = tokio::select! {
                o = scenarios::run(scenario, form) => o,
                () = interrupted => {
                    say("interrupted: cleaning up");
                    return ExitCode::from(130);
                }
            };
            match outcome {
                Ok(o) => {
                    say(&format!("-- {} figures:", scenario.name()));
                    o.figures.print(scenario.name());
                    let bad = o.figures.failures();
                    if bad.is_empty() {
                        say(&format!("-- {}: every invariant holds", scenario.name()));
                        let _ = std::fs::remove_dir_all(&o.dir);
                    } else {
                        say(&format!(
                            "-- {}: FAILED: {} (logs kept in {})",
                            scenario.name(),
                            bad.join(", "),
                            o.dir.display()
                        ));
                        failed.push(scenario.name());
                    }
                }
                Err(e) => {
                    say(&format!("-- {}: FAILED to run: {e:#}", scenario.name()));
                    failed.push(scenario.name());
                }
            }
        }
        say(&format!(
            "== fault suite: {} in {:.0} s",
            if failed.is_empty() {
                "every invariant holds".to_owned()
            } else {
                format!("FAILED: {}", failed.join(", "))
            },
            started.elapsed().as_secs_f64()
        ));
        if failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    code
}
