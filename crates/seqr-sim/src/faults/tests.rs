use std::time::Duration;

use crate::faults::{FaultAction, FaultRule, Faults};

#[test]
fn counted_rules_apply_to_the_next_n_calls_of_their_operation_only() {
    let mut f = Faults::new(1);
    f.add(FaultRule {
        operation: Some("sendInvoice".into()),
        action: FaultAction::SystemBusy,
        count: Some(2),
        probability: None,
        latency_ms: None,
    });
    assert_eq!(f.decide("getPaymentStatus").action, None);
    assert_eq!(f.decide("sendInvoice").action, Some(FaultAction::SystemBusy));
    assert_eq!(f.decide("sendInvoice").action, Some(FaultAction::SystemBusy));
    assert_eq!(f.decide("sendInvoice").action, None);
    assert!(f.rules().is_empty());
}

#[test]
fn probability_is_seeded_and_latency_combines() {
    let run = |seed| {
        let mut f = Faults::new(seed);
        f.add(FaultRule {
            operation: None,
            action: FaultAction::Latency,
            count: None,
            probability: None,
            latency_ms: Some(5),
        });
        f.add(FaultRule {
            operation: None,
            action: FaultAction::Http500,
            count: None,
            probability: Some(0.5),
            latency_ms: None,
        });
        (0..100).map(|_| f.decide("x")).collect::<Vec<_>>()
    };
    let a = run(7);
    assert_eq!(a, run(7));
    let hits = a.iter().filter(|d| d.action == Some(FaultAction::Http500)).count();
    assert!((25..=75).contains(&hits), "{hits}");
    assert!(a.iter().all(|d| d.latency == Duration::from_millis(5)));
}
