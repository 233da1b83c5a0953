//! The DTOs against the domain: the schemas the API states itself agree with the domain's parsers, the answers'
//! JSON is pinned, and a refused value names its place in the body.

use axum::http::StatusCode;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::{
    dto::schema,
    invoices::{parse_change, parse_issue},
};

fn matches(pattern: &str, text: &str) -> bool {
    jsonschema::validator_for(&json!({"type": "string", "pattern": pattern})).unwrap().is_valid(&Value::from(text))
}

#[test]
fn the_published_amounts_are_the_domains() {
    for digits in 0..=domain::Money::MAX_MINOR_UNITS {
        assert_eq!(schema::amount_pattern(digits), domain::Money::amount_pattern(digits), "{digits} digits");
    }
    let most = CURRENCIES.iter().map(|(_, d)| u32::from(*d)).max();
    assert_eq!(most, Some(domain::Money::MAX_MINOR_UNITS));
    for (code, digits) in CURRENCIES {
        assert_eq!(domain::Currency::parse(code).map(|c| c.minor_units()), Ok(u32::from(*digits)), "{code}");
    }
}

proptest! {
    /// A terminal id the document allows is one the domain's scope names accept, and only those.
    #[test]
    fn published_terminal_ids_are_the_domains(id in prop_oneof![
        "[A-Za-z0-9_-]{0,66}",
        "[A-Za-z0-9_.: -]{1,8}",
        "\\PC{1,4}",
    ]) {
        prop_assert_eq!(matches(schema::NAME_PATTERN, &id), domain::TerminalId::parse(&id).is_ok(), "{:?}", id);
    }
}

fn sek(amount: &str) -> domain::Money {
    domain::Money::parse(amount, domain::Currency::SEK).unwrap()
}

#[test]
fn answers_are_written_as_published() {
    assert_eq!(json(&Money::from(sek("12.5"))), json!({"amount": "12.50", "currency": "SEK"}));
    let yen = domain::Money::parse("1200", domain::Currency::JPY).unwrap();
    assert_eq!(json(&Money::from(yen)), json!({"amount": "1200", "currency": "JPY"}));
    let kwd = domain::Money::parse("0", domain::Currency::KWD).unwrap();
    assert_eq!(json(&Money::from(kwd)), json!({"amount": "0.000", "currency": "KWD"}));

    let mut token = domain::CustomerToken {
        id: "X_CARD".into(),
        value: "1234".into(),
        description: None,
        status: domain::TokenStatus::Pending,
    };
    assert_eq!(json(&CustomerToken::from(&token)), json!({"id": "X_CARD", "value": "1234", "status": "pending"}));
    token.description = Some("Club".into());
    token.status = domain::TokenStatus::Invalid;
    let written = json!({"id": "X_CARD", "value": "1234", "description": "Club", "status": "invalid"});
    assert_eq!(json(&CustomerToken::from(&token)), written);

    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let id = Uuid::from_u128(7);
    let mut call = domain::CallRecord {
        call_id: domain::CallId(id),
        kind: domain::CallKind::RefundPayment,
        requested_at: at,
        state: domain::CallState::Rejected,
        amount: Some(sek("10")),
        rejection: Some((55, "REFUND_AMOUNT_TOO_LARGE".into())),
    };
    let written = json!({"call_id": id, "kind": "refund_payment", "requested_at": "2026-01-02T03:04:05Z",
                         "state": "rejected", "amount": {"amount": "10.00", "currency": "SEK"}});
    assert_eq!(json(&CallRecord::from(&call)), written, "SEQR's refusal is not part of the call");
    call.amount = None;
    call.state = domain::CallState::NotDone;
    let written =
        json!({"call_id": id, "kind": "refund_payment", "requested_at": "2026-01-02T03:04:05Z", "state": "not_done"});
    assert_eq!(json(&CallRecord::from(&call)), written);
}

/// Every variant of every enum the API writes or reads, as the API spells it.
#[test]
fn enums_are_spelled_as_published() {
    use domain::{CallKind as K, CallState as S, SeqrStatus as Q, TokenStatus as T};
    let spelled = |v: Value| v.as_str().unwrap().to_owned();
    let statuses = [Q::Issued, Q::PendingIssuerAcknowledge, Q::Paid, Q::Canceled, Q::Failed, Q::Reserved, Q::Expired];
    let statuses: Vec<String> = statuses.map(|s| spelled(serde_json::to_value(SeqrStatus::from(s)).unwrap())).into();
    let published = ["ISSUED", "PENDING_ISSUER_ACKNOWLEDGE", "PAID", "CANCELED", "FAILED", "RESERVED", "EXPIRED"];
    assert_eq!(statuses, published);
    let kinds = [
        K::SendInvoice,
        K::UpdateInvoice,
        K::CommitReservation,
        K::CancelInvoice,
        K::RefundPayment,
        K::SubmitPaymentReceipt,
    ];
    let kinds: Vec<String> = kinds.map(|k| spelled(serde_json::to_value(CallKind::from(k)).unwrap())).into();
    let published = [
        "send_invoice",
        "update_invoice",
        "commit_reservation",
        "cancel_invoice",
        "refund_payment",
        "submit_payment_receipt",
    ];
    assert_eq!(kinds, published);
    let states = [S::Requested, S::Unknown, S::Succeeded, S::Rejected, S::NotDone];
    let states: Vec<String> = states.map(|s| spelled(serde_json::to_value(CallState::from(s)).unwrap())).into();
    assert_eq!(states, ["requested", "unknown", "succeeded", "rejected", "not_done"]);
    for (status, spelling) in
        [(T::Pending, "pending"), (T::Used, "used"), (T::Blocked, "blocked"), (T::Invalid, "invalid")]
    {
        let dto = TokenStatus::from(status);
        assert_eq!(spelled(serde_json::to_value(dto).unwrap()), spelling);
        assert_eq!(domain::TokenStatus::from(serde_json::from_value::<TokenStatus>(json!(spelling)).unwrap()), status);
    }
    for (spelling, mode) in [
        ("IMMEDIATE_DEBIT", domain::PaymentMode::ImmediateDebit),
        ("RESERVATION_DESIRED", domain::PaymentMode::ReservationDesired),
        ("RESERVATION_REQUIRED", domain::PaymentMode::ReservationRequired),
        ("RESERVATION_REQUIRED_PRELIMINARY_AMOUNT", domain::PaymentMode::ReservationRequiredPreliminaryAmount),
    ] {
        assert_eq!(domain::PaymentMode::from(serde_json::from_value::<PaymentMode>(json!(spelling)).unwrap()), mode);
    }
    for (spelling, mode) in [
        ("NO_ACKNOWLEDGMENT", domain::AcknowledgmentMode::NoAcknowledgment),
        ("OPTIONAL_ACKNOWLEDGMENT", domain::AcknowledgmentMode::OptionalAcknowledgment),
        ("REQUIRE_ACKNOWLEDGMENT", domain::AcknowledgmentMode::RequireAcknowledgment),
    ] {
        let dto = serde_json::from_value::<AcknowledgmentMode>(json!(spelling)).unwrap();
        assert_eq!(domain::AcknowledgmentMode::from(dto), mode);
    }
    for (spelling, kind) in [
        ("PAYMENT_RECEIPT", domain::ReceiptType::PaymentReceipt),
        ("WARRANTY", domain::ReceiptType::Warranty),
        ("VOUCHER", domain::ReceiptType::Voucher),
        ("OTHER", domain::ReceiptType::Other),
    ] {
        assert_eq!(domain::ReceiptType::from(serde_json::from_value::<ReceiptType>(json!(spelling)).unwrap()), kind);
    }
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn issue_body() -> Value {
    json!({"terminal_id": "till-1", "tokens": [{"id": "X_CARD", "value": "1", "status": "used"}], "invoice": {
        "payment_mode": "RESERVATION_REQUIRED", "acknowledgment_mode": "OPTIONAL_ACKNOWLEDGMENT",
        "commit_reservation_timeout": 600, "issue_date": "2026-01-02T03:04:05+01:00", "title": "Lunch",
        "client_invoice_id": "order-1", "cashier_id": "c-7", "footer": "Thanks",
        "rows": [{"description": "Dish", "sku": "S1", "ean": "73", "quantity": "2", "unit_price":
                  {"amount": "5", "currency": "SEK"}, "total": {"amount": "10.00", "currency": "SEK"},
                  "discount": {"amount": "0.5", "currency": "SEK"}, "tax_rate": "12.5", "unit": "pcs"}],
        "total": {"amount": "9.50", "currency": "SEK"},
        "back_url": "https://shop.example/back", "notification_url": "https://shop.example/notify"}})
}

#[test]
fn a_body_becomes_the_domains_command_field_by_field() {
    let input = parse_issue(&serde_json::to_vec(&issue_body()).unwrap()).unwrap();
    assert_eq!(input.terminal_id, "till-1");
    let token = domain::CustomerToken {
        id: "X_CARD".into(),
        value: "1".into(),
        description: None,
        status: domain::TokenStatus::Used,
    };
    assert_eq!(input.tokens, [token]);
    let invoice = domain::Invoice {
        payment_mode: domain::PaymentMode::ReservationRequired,
        acknowledgment_mode: domain::AcknowledgmentMode::OptionalAcknowledgment,
        commit_reservation_timeout: Some(600),
        issue_date: Utc.with_ymd_and_hms(2026, 1, 2, 2, 4, 5).unwrap(),
        title: Some("Lunch".into()),
        client_invoice_id: Some("order-1".into()),
        cashier_id: Some("c-7".into()),
        footer: Some("Thanks".into()),
        rows: vec![domain::InvoiceRow {
            description: Some("Dish".into()),
            sku: Some("S1".into()),
            ean: Some("73".into()),
            quantity: rust_decimal::Decimal::from(2),
            unit_price: Some(sek("5")),
            total: sek("10"),
            discount: Some(sek("0.50")),
            tax_rate: Some(rust_decimal::Decimal::new(125, 1)),
            unit: Some("pcs".into()),
        }],
        total: sek("9.5"),
        back_url: Some(domain::HttpUrl::parse("https://shop.example/back").unwrap()),
        notification_url: Some(domain::HttpUrl::parse("https://shop.example/notify").unwrap()),
    };
    assert_eq!(input.invoice, invoice);

    let receipt = json!({"document": {"mime_type": "text/html", "receipt_type": "WARRANTY", "data": "aGk="},
                         "ers_reference": "ERS1"});
    let change = parse_change::<ReceiptBody>(&serde_json::to_vec(&receipt).unwrap()).unwrap();
    let Change::Receipt { ers_reference, document } = change else { panic!("{change:?}") };
    assert_eq!(ers_reference.as_deref(), Some("ERS1"));
    let document = (document.mime_type.as_str(), document.receipt_type, document.data.as_slice());
    assert_eq!(document, ("text/html", domain::ReceiptType::Warranty, b"hi".as_slice()));
}

#[test]
fn a_refused_value_is_named_by_its_place_in_the_body() {
    let refused = |body: &Value, parse: &dyn Fn(&[u8]) -> Result<(), ApiError>| {
        let e = parse(&serde_json::to_vec(body).unwrap()).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{body}: {}", e.message);
        e.message
    };
    let issue = |b: &[u8]| parse_issue(b).map(drop);
    let mut body = issue_body();
    body["invoice"]["rows"][0]["discount"]["currency"] = json!("sek");
    let message = refused(&body, &issue);
    assert!(message.contains("`invoice.rows.0.discount.currency`") && message.contains("\"sek\""), "{message}");
    let mut body = issue_body();
    body["invoice"]["total"]["amount"] = json!("9.505");
    let message = refused(&body, &issue);
    assert!(message.contains("`invoice.total.amount`") && message.contains("fractional digits"), "{message}");
    let mut body = issue_body();
    body["invoice"]["notification_url"] = json!("ftp://shop.example/");
    assert!(refused(&body, &issue).contains("`invoice.notification_url`"));
    let receipt = json!({"document": {"mime_type": "text/html", "receipt_type": "OTHER", "data": "aGk"}});
    let message = refused(&receipt, &|b| parse_change::<ReceiptBody>(b).map(drop));
    assert!(message.contains("`document.data`") && message.contains("base64"), "{message}");
    let refund = json!({"amount": {"amount": "1.00", "currency": "SEK"},
                        "rows": [{"quantity": "1", "total": {"amount": "-1", "currency": "SEK"}}]});
    let message = refused(&refund, &|b| parse_change::<RefundBody>(b).map(drop));
    assert!(message.contains("`rows.0.total.amount`") && message.contains("negative"), "{message}");
}

/// A body with a value the domain refuses and a field the API does not define is answered as invalid (as when the
/// body parser read the domain's types directly).
#[test]
fn a_refused_value_outweighs_an_unknown_field() {
    let mut body = issue_body();
    body["invoice"]["rows"][0]["colour"] = json!("red");
    let e = parse_issue(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(e.code, "unknown_field", "{}", e.message);
    body["invoice"]["total"]["amount"] = json!("1e3");
    let e = parse_issue(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(e.code, "invalid_body", "{}", e.message);
}
