//! Property tests: random command sequences against `decide` and `apply`.

use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::call::{CallKind, CallOutcome, CallSuccess, Evidence, Resolution};
use crate::command::Command;
use crate::event::Event;
use crate::invoice::{AcknowledgmentMode, Invoice, PaymentMode, SeqrStatus, TokenStatus};
use crate::money::{Currency, Money};
use crate::state::{evolve, fold, InvoiceState, InvoiceStatus};
use crate::tests::fixtures::*;
use crate::{decide, CallId};

/// An abstract step; turned into a concrete command against the current state.
#[derive(Debug, Clone)]
enum Op {
    Issue { mode: u8, timeout: Option<u32>, cents: u32 },
    Observe { status: u8, version_delta: i32, paid_cents: u32, token: bool },
    Update { cents: u32, token: u8 },
    Commit { cents: u32 },
    Cancel,
    Refund { cents: u32 },
    Receipt { refund_ref: bool },
    Expire { after: i64 },
    Outcome { call: u8, outcome: u8, mismatch: bool },
    Resolve { call: u8, done: bool, mismatch: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..4, prop::option::of(0u32..200), 0u32..50_000)
            .prop_map(|(mode, timeout, cents)| Op::Issue { mode, timeout, cents }),
        6 => (0u8..7, -1i32..3, 0u32..50_000, any::<bool>())
            .prop_map(|(status, version_delta, paid_cents, token)| Op::Observe { status, version_delta, paid_cents, token }),
        2 => (0u32..50_000, 0u8..4).prop_map(|(cents, token)| Op::Update { cents, token }),
        2 => (0u32..50_000).prop_map(|cents| Op::Commit { cents }),
        1 => Just(Op::Cancel),
        3 => (0u32..30_000).prop_map(|cents| Op::Refund { cents }),
        1 => any::<bool>().prop_map(|refund_ref| Op::Receipt { refund_ref }),
        1 => (0i64..300).prop_map(|after| Op::Expire { after }),
        6 => (any::<u8>(), 0u8..3, prop::bool::weighted(0.1))
            .prop_map(|(call, outcome, mismatch)| Op::Outcome { call, outcome, mismatch }),
        3 => (any::<u8>(), any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(call, done, mismatch)| Op::Resolve { call, done, mismatch }),
    ]
}

fn cents(c: u32) -> Money {
    Money::new(Decimal::new(i64::from(c), 2), Currency::SEK).unwrap()
}

const STATUSES: [SeqrStatus; 7] = [
    SeqrStatus::Issued,
    SeqrStatus::PendingIssuerAcknowledge,
    SeqrStatus::Paid,
    SeqrStatus::Canceled,
    SeqrStatus::Failed,
    SeqrStatus::Reserved,
    SeqrStatus::Expired,
];

/// Picks a call of the state by index (or, rarely, one that does not exist).
fn pick_call(state: &InvoiceState, i: u8) -> (CallId, Option<CallKind>) {
    let calls: Vec<_> = state.calls().collect();
    if calls.is_empty() || i == 255 {
        return (cid(9_999), None);
    }
    let r = calls[usize::from(i) % calls.len()];
    (r.call_id, Some(r.kind))
}

fn success_for(kind: Option<CallKind>, mismatch: bool, n: u128) -> CallSuccess {
    let refunded = CallSuccess::Refunded { ers_reference: Some(format!("R{n}")) };
    match (kind, mismatch) {
        (Some(CallKind::SendInvoice), false) => sent_result("123"),
        (Some(CallKind::RefundPayment), false) => refunded,
        (Some(CallKind::SendInvoice), true) => CallSuccess::Done,
        (_, true) => sent_result("1"),
        _ => CallSuccess::Done,
    }
}

fn concrete(op: &Op, state: &InvoiceState, at: i64, n: u128) -> Command {
    match *op {
        Op::Issue { mode, timeout, cents: c } => {
            let mode = [
                PaymentMode::ImmediateDebit,
                PaymentMode::ReservationDesired,
                PaymentMode::ReservationRequired,
                PaymentMode::ReservationRequiredPreliminaryAmount,
            ][usize::from(mode)];
            let total = cents(c);
            let invoice = Invoice {
                payment_mode: mode,
                commit_reservation_timeout: timeout,
                rows: vec![crate::InvoiceRow { total, unit_price: Some(total), ..row("x", "1", "1", "1") }],
                total,
                ..invoice(mode, AcknowledgmentMode::OptionalAcknowledgment, "1")
            };
            issue_cmd(at, n, invoice, vec![])
        }
        Op::Observe { status, version_delta, paid_cents, token: with_token } => {
            let status = STATUSES[usize::from(status)];
            let version = state.invoice_version() + version_delta;
            let tokens = if with_token { vec![token("X_CARD", "1", TokenStatus::Pending)] } else { vec![] };
            let pay = (status == SeqrStatus::Paid).then(|| payment("ERS", cents(paid_cents)));
            observe_cmd(at, status, version, tokens, pay)
        }
        Op::Update { cents: c, token: t } => {
            let status =
                [TokenStatus::Used, TokenStatus::Blocked, TokenStatus::Invalid, TokenStatus::Pending][usize::from(t)];
            update_cmd(at, n, vec![], cents(c), vec![token("X_CARD", "1", status)])
        }
        Op::Commit { cents: c } => commit_cmd(at, n, cents(c)),
        Op::Cancel => cancel_cmd(at, n),
        Op::Refund { cents: c } => refund_cmd(at, n, cents(c)),
        Op::Receipt { refund_ref } => {
            let r = if refund_ref { state.refund_references().first().cloned() } else { None };
            receipt_cmd(at, n, r.as_deref())
        }
        Op::Expire { after } => {
            let base = state.reservation_deadline().unwrap_or(t(at));
            Command::ExpireReservation(crate::command::ExpireReservation {
                at: base + chrono::Duration::seconds(after - 150),
            })
        }
        Op::Outcome { call, outcome, mismatch } => {
            let (call_id, kind) = pick_call(state, call);
            let outcome = match outcome {
                0 => CallOutcome::Succeeded { result: success_for(kind, mismatch, n) },
                1 => CallOutcome::Rejected { result_code: 90, description: "SYSTEM_ERROR".to_owned() },
                _ => CallOutcome::Unknown { reason: "timeout".to_owned() },
            };
            Command::RecordCallOutcome(crate::command::RecordCallOutcome { at: t(at), call_id, outcome })
        }
        Op::Resolve { call, done, mismatch } => {
            let (call_id, kind) = pick_call(state, call);
            let resolution = if done {
                Resolution::Succeeded { result: success_for(kind, mismatch, n) }
            } else {
                Resolution::NotDone
            };
            Command::ResolveCall(crate::command::ResolveCall {
                at: t(at),
                call_id,
                resolution,
                evidence: Evidence::Operator { note: "checked".to_owned() },
            })
        }
    }
}

fn amount(m: Option<Money>) -> Decimal {
    m.map(|m| m.amount()).unwrap_or_default()
}

/// Invariants of every reachable state.
fn check_invariants(state: &InvoiceState) -> Result<(), TestCaseError> {
    if let Some(paid) = state.paid_amount() {
        let refunded = amount(state.refunded_amount());
        let in_flight = amount(state.refunds_in_flight());
        prop_assert!(refunded <= paid.amount(), "refunded {refunded} > paid {paid}");
        prop_assert!(
            refunded + in_flight <= paid.amount(),
            "refunded {refunded} + in flight {in_flight} > paid {paid}"
        );
    } else {
        prop_assert!(amount(state.refunded_amount()).is_zero(), "refund without payment");
    }
    if let Some(committed) = state.committed_amount() {
        let reserved = state.reserved_amount();
        prop_assert!(reserved.is_some(), "commit without reservation");
        prop_assert!(committed.amount() <= amount(reserved), "committed {committed} > reserved {reserved:?}");
    }
    for r in state.calls() {
        if r.kind == CallKind::CommitReservation {
            prop_assert!(amount(r.amount) <= amount(state.reserved_amount()), "commit call above reservation");
        }
    }
    let commits_in_flight = state.calls_in_flight().filter(|r| r.kind == CallKind::CommitReservation).count();
    prop_assert!(commits_in_flight <= 1, "two commits in flight");
    let changes_in_flight = state.calls_in_flight().filter(|r| r.kind.changes_invoice()).count();
    prop_assert!(changes_in_flight <= 1, "two invoice changes in flight");
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut state = InvoiceState::default();
    let mut lenient = InvoiceState::default();
    let mut log: Vec<Event> = Vec::new();
    let mut at = 0i64;
    for (i, op) in ops.iter().enumerate() {
        at += 1 + (i as i64 % 7);
        let n = 100 + i as u128;
        let command = concrete(op, &state, at, n);
        let before = state.clone();
        let Ok(events) = decide(&state, command.clone()) else {
            continue;
        };
        for e in &events {
            // Decisions always apply cleanly.
            state
                .apply(e)
                .map_err(|err| TestCaseError::fail(format!("{command:?} emitted {e:?} that does not apply: {err}")))?;
            lenient = evolve(lenient, e);
            // Serde round trip, through the storage format.
            let json = serde_json::to_string(e).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, e);
            let stored =
                Event::from_stored(e.event_type(), Event::schema_version(e.event_type()), e.to_data()).unwrap();
            prop_assert_eq!(&stored, e);
            let text = serde_json::to_string(&e.to_data()).unwrap();
            let from_text =
                Event::from_stored_json(e.event_type(), Event::schema_version(e.event_type()), &text).unwrap();
            prop_assert_eq!(&from_text, e);
        }
        // An event the fold refuses (here: the same events again) leaves the state untouched.
        for e in &events {
            let mut probe = state.clone();
            if probe.apply(e).is_err() {
                prop_assert_eq!(&probe, &state, "refusing {:?} changed the state", e);
            }
        }
        log.extend(events.iter().cloned());
        // Final states stay final; paid stays paid.
        if before.status().is_final() || before.status() == InvoiceStatus::Paid {
            prop_assert_eq!(state.status(), before.status(), "left {} via {:?}", before.status(), command);
        }
        // Once issued, the scope never changes.
        if before.is_issued() {
            prop_assert_eq!(state.scope(), before.scope());
        }
        check_invariants(&state)?;
    }
    // The fold of the whole log equals the state the decisions assumed, strictly and leniently.
    let refolded = fold(&log).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&refolded, &state);
    prop_assert_eq!(&lenient, &state);
    Ok(())
}

/// A sequence that always starts by issuing (so most steps exercise an existing invoice).
fn ops() -> impl Strategy<Value = Vec<Op>> {
    (0u8..4, prop::option::of(1u32..200), 1u32..50_000, prop::collection::vec(op(), 1..60)).prop_map(
        |(mode, timeout, cents, mut rest)| {
            let timeout = if mode == 3 { timeout.or(Some(60)) } else { timeout };
            rest.insert(0, Op::Issue { mode, timeout, cents });
            rest.insert(1, Op::Outcome { call: 0, outcome: 0, mismatch: false });
            rest
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_invariants(ops in ops()) {
        run(ops)?;
    }
}

/// The generator reaches the interesting states (otherwise the properties above prove little).
#[test]
fn generator_reaches_paid_refunded_committed_and_unknown() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut refunded, mut committed, mut unknown, mut final_states) = (0, 0, 0, 0);
    for _ in 0..2000 {
        let ops = ops().new_tree(&mut runner).unwrap().current();
        let mut state = InvoiceState::default();
        for (i, op) in ops.iter().enumerate() {
            let command = concrete(op, &state, i as i64 * 3, 100 + i as u128);
            if let Ok(events) = decide(&state, command) {
                for e in &events {
                    state.apply(e).unwrap();
                }
            }
            if state.refunded_amount().is_some_and(|m| !m.is_zero()) {
                refunded += 1;
            }
            if state.committed_amount().is_some() {
                committed += 1;
            }
            if state.unknown_calls().count() > 0 {
                unknown += 1;
            }
            if state.status().is_final() {
                final_states += 1;
            }
        }
    }
    eprintln!("reach: refunded {refunded} committed {committed} unknown {unknown} final {final_states}");
    assert!(refunded > 50, "refunded {refunded}");
    assert!(committed > 20, "committed {committed}");
    assert!(unknown > 50, "unknown {unknown}");
    assert!(final_states > 50, "final {final_states}");
}

proptest! {
    /// Parsers of untrusted input return errors, never panic.
    #[test]
    fn parsers_never_panic(s in "\\PC{0,80}", bytes in "[a-zA-Z0-9:/\\[\\]@.?#%-]{0,40}") {
        let _ = crate::HttpUrl::parse(&s);
        let _ = crate::HttpUrl::parse(&format!("http://{bytes}"));
        let _ = crate::HttpUrl::parse(&format!("https://{s}"));
        let _ = Currency::parse(&s);
        let _ = Money::parse(&s, Currency::SEK);
        let _ = crate::TenantId::parse(&s);
        let _ = Event::from_stored(&s, 0, serde_json::Value::String(s.clone()));
    }

    /// Money arithmetic agrees with decimal arithmetic, and refuses what it cannot represent.
    #[test]
    fn money_arithmetic(a in 0u64..100_000_000_000_000_000u64, b in 0u64..100_000_000_000_000_000u64) {
        let (da, db) = (Decimal::new(a as i64, 2), Decimal::new(b as i64, 2));
        let (ma, mb) = (Money::new(da, Currency::SEK), Money::new(db, Currency::SEK));
        prop_assert_eq!(ma.is_ok(), da < Money::MAX_AMOUNT);
        prop_assert_eq!(mb.is_ok(), db < Money::MAX_AMOUNT);
        if let (Ok(ma), Ok(mb)) = (ma, mb) {
            match ma.checked_add(&mb) {
                Ok(sum) => prop_assert_eq!(sum.amount(), da + db),
                Err(_) => prop_assert!(da + db >= Money::MAX_AMOUNT),
            }
            prop_assert_eq!(ma.checked_add(&mb).is_ok(), da + db < Money::MAX_AMOUNT);
            match ma.checked_sub(&mb) {
                Ok(diff) => prop_assert_eq!(diff.amount(), da - db),
                Err(_) => prop_assert!(db > da),
            }
        }
    }
}

/// The amount patterns the published schema of [`Money`] states, per currency (read from the generated schema, so
/// a drift between the schema and the parser fails here).
fn published_amount_patterns() -> Vec<(Currency, regex::Regex)> {
    let schema = serde_json::to_value(schemars::schema_for!(Money)).unwrap();
    let mut patterns = Vec::new();
    for alternative in schema["oneOf"].as_array().expect("one alternative per minor-unit count") {
        let pattern = alternative["properties"]["amount"]["pattern"].as_str().unwrap();
        let regex = regex::Regex::new(pattern).unwrap();
        for code in alternative["properties"]["currency"]["enum"].as_array().unwrap() {
            patterns.push((Currency::parse(code.as_str().unwrap()).unwrap(), regex.clone()));
        }
    }
    assert_eq!(patterns.len(), Currency::ALL.len(), "every currency has its pattern");
    patterns
}

proptest! {
    /// Every amount string the schema accepts parses to exactly that decimal; every one it refuses is refused.
    #[test]
    fn money_parser_accepts_exactly_the_published_schema(
        text in prop_oneof![
            "[0-9]{1,16}(\\.[0-9]{0,5})?",
            "[-+ ]?[0-9_.,eE]{0,20}[ ]?",
            "\\PC{0,12}",
        ],
        index in any::<prop::sample::Index>(),
    ) {
        let patterns = published_amount_patterns();
        let (currency, pattern) = &patterns[index.index(patterns.len())];
        let parsed = Money::parse(&text, *currency);
        let json = serde_json::from_value::<Money>(serde_json::json!({"amount": text, "currency": currency.code()}));
        prop_assert_eq!(parsed.is_ok(), pattern.is_match(&text), "{:?} in {}: {:?}", text, currency, parsed);
        prop_assert_eq!(json.is_ok(), parsed.is_ok());
        if let Ok(m) = parsed {
            prop_assert_eq!(m.amount(), text.parse::<Decimal>().unwrap());
            prop_assert_eq!(m.currency(), *currency);
        }
    }
}
