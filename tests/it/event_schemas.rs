//! The committed JSON Schemas of the event feed (schemas/events/<event_type>.json) against the Rust event types:
//! each file is exactly what schemars generates from the event's payload struct today (`UPDATE_EXPECT=1`
//! rewrites them), no file is left for a type that is gone, and real events validate against their schema.

use std::collections::BTreeSet;
use std::path::PathBuf;

use domain::Event;
use domain::{
    CallOutcomeUnknown, CallRejected, CallResolved, CallSucceeded, CancelRequested, CommitRequested, InvoiceIssued,
    InvoiceUpdateRequested, ReceiptSubmitRequested, RefundRequested, ReservationExpired, SendInvoiceRequested,
    StatusObserved, EVENT_TYPES,
};
use serde_json::Value;
use uuid::Uuid;

use crate::sample_events::{invoice_events, scope};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
}

/// The schema of every event type's `data`, generated now from the payload structs.
fn generated() -> anyhow::Result<Vec<(&'static str, Value)>> {
    macro_rules! schemas {
        ($($name:literal => $payload:ty),* $(,)?) => {
            vec![$(($name, serde_json::to_value(schemars::schema_for!($payload))?)),*]
        };
    }
    Ok(schemas![
        "invoice_issued" => InvoiceIssued,
        "send_invoice_requested" => SendInvoiceRequested,
        "status_observed" => StatusObserved,
        "invoice_update_requested" => InvoiceUpdateRequested,
        "commit_requested" => CommitRequested,
        "cancel_requested" => CancelRequested,
        "refund_requested" => RefundRequested,
        "receipt_submit_requested" => ReceiptSubmitRequested,
        "reservation_expired" => ReservationExpired,
        "call_succeeded" => CallSucceeded,
        "call_rejected" => CallRejected,
        "call_outcome_unknown" => CallOutcomeUnknown,
        "call_resolved" => CallResolved,
    ])
}

/// The event type names of the `Event` enum itself, read from its generated schema (one `oneOf` entry per
/// variant), so that a new variant is noticed even if nobody adds it to the table above.
fn enum_variants() -> anyhow::Result<BTreeSet<String>> {
    let schema = serde_json::to_value(schemars::schema_for!(Event))?;
    let variants = schema["oneOf"].as_array().ok_or_else(|| anyhow::anyhow!("Event schema has no oneOf"))?;
    variants
        .iter()
        .map(|v| {
            v["properties"]["type"]["enum"][0]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("variant without a type name: {v}"))
        })
        .collect()
}

fn committed_files() -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(schema_dir())? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.insert(stem.to_owned());
            }
        }
    }
    Ok(names)
}

fn committed(event_type: &str) -> anyhow::Result<Value> {
    let path = schema_dir().join(format!("{event_type}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

#[test]
fn committed_schemas_equal_the_generated_ones() -> anyhow::Result<()> {
    let update = std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (event_type, schema) in generated()? {
        let path = schema_dir().join(format!("{event_type}.json"));
        if update {
            // Write and rename, so that tests running alongside never read a half-written file.
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_string_pretty(&schema)? + "\n")?;
            std::fs::rename(&tmp, &path)?;
            continue;
        }
        match committed(event_type) {
            Ok(file) if file == schema => {}
            _ => stale.push(path.display().to_string()),
        }
    }
    if update {
        let known: BTreeSet<String> = generated()?.into_iter().map(|(n, _)| n.to_owned()).collect();
        for name in committed_files()?.difference(&known) {
            std::fs::remove_file(schema_dir().join(format!("{name}.json")))?;
        }
    }
    assert!(
        stale.is_empty(),
        "these schemas differ from the Rust event types (an event's data changed; bump its schema version if \
         needed, then regenerate with UPDATE_EXPECT=1): {stale:#?}"
    );
    Ok(())
}

#[test]
fn schema_files_and_event_types_correspond() -> anyhow::Result<()> {
    let table: BTreeSet<String> = generated()?.into_iter().map(|(n, _)| n.to_owned()).collect();
    let declared: BTreeSet<String> = EVENT_TYPES.iter().map(|n| (*n).to_owned()).collect();
    assert_eq!(table, enum_variants()?, "the schema table must list every variant of domain::Event");
    assert_eq!(table, declared, "the schema table must list every name of domain::EVENT_TYPES");
    assert_eq!(
        committed_files()?,
        table,
        "schemas/events/ must hold exactly one <event_type>.json per event type (stale or missing files)"
    );
    Ok(())
}

#[test]
fn real_events_validate_against_their_schema() -> anyhow::Result<()> {
    let events = invoice_events(Uuid::now_v7(), &scope("acme", "store_7")?)?;
    let covered: BTreeSet<&str> = events.iter().map(Event::event_type).collect();
    let all: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
    assert_eq!(covered, all, "the samples must cover every event type");

    for event in &events {
        let schema = committed(event.event_type())?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| anyhow::anyhow!("{}: bad schema: {e}", event.event_type()))?;
        let data = event.to_data();
        let errors: Vec<String> =
            validator.iter_errors(&data).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{} does not validate: {errors:#?}\n{data:#}", event.event_type());

        // The schema is not vacuous: data without its required `at` is refused.
        let mut broken = data.clone();
        if let Some(object) = broken.as_object_mut() {
            object.remove("at");
        }
        assert!(!validator.is_valid(&broken), "{}: data without `at` must not validate", event.event_type());
    }
    Ok(())
}
