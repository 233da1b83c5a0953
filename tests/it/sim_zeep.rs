//! An independent SOAP stack (Python zeep) drives seqr-sim knowing only the WSDL URL it serves.

use std::path::PathBuf;
use std::time::Duration;

use crate::sim_support::SimEnv;

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = std::env::var_os("SEQRD_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python3"));
    let ok = std::process::Command::new(&py).args(["-c", "import zeep"]).output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Python with zeep not found at {} (set SEQRD_PYTHON or create it from the workspace root with: \
         python3 -m venv .venv && .venv/bin/pip install zeep; ops/test does this)",
        py.display()
    );
    py
}

#[tokio::test]
async fn zeep_pays_updates_and_refunds_from_the_wsdl_alone() {
    let py = python();
    let env = SimEnv::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("it/zeep/seqr_zeep_flow.py");
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&py).arg(&script).arg(env.sim.wsdl_url()).kill_on_drop(true).output(),
    )
    .await
    .expect("zeep script finishes within 120 s")
    .expect("zeep script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "zeep script failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("zeep: payment, loyalty updateInvoice and refund OK"), "{stdout}");
    // The simulator saw what the script did: two payments and one refund.
    let ledger = env.get("/sim/ledger").await;
    let kinds: Vec<&str> = ledger.as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["PAYMENT", "PAYMENT", "REFUND"]);
}
