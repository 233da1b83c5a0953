//! Value types (money, currency, ids, URLs, tokens) and the event storage format (serde shape, upcasting).

use serde_json::json;

use crate::event::{Event, EVENT_TYPES};
use crate::ids::{MerchantId, StoreId, TenantId, TerminalId};
use crate::invoice::{HttpUrl, TokenStatus};
use crate::money::{Currency, Money, MoneyError};
use crate::tests::fixtures::*;

#[test]
fn currency_table_is_sorted_unique_and_wellformed() {
    for pair in Currency::ALL.windows(2) {
        assert!(pair[0].0 < pair[1].0, "{} !< {}", pair[0].0, pair[1].0);
    }
    for (code, minor) in Currency::ALL {
        assert_eq!(code.len(), 3);
        assert!(code.bytes().all(|b| b.is_ascii_uppercase()));
        assert!(*minor <= 4);
        let c = Currency::parse(code).unwrap();
        assert_eq!(c.code(), *code);
        assert_eq!(c.minor_units(), u32::from(*minor));
    }
    assert!(Currency::ALL.len() > 150);
}

#[test]
fn currency_parsing() {
    for code in ["SEK", "EUR", "USD", "NOK", "DKK", "GBP", "JPY", "CHF", "KWD", "ISK"] {
        assert_eq!(Currency::parse(code).unwrap().code(), code);
    }
    assert_eq!(Currency::parse("SEK").unwrap(), Currency::SEK);
    assert_eq!(Currency::parse("JPY").unwrap(), Currency::JPY);
    assert_eq!(Currency::parse("KWD").unwrap(), Currency::KWD);
    for bad in ["sek", "SE", "SEKK", "", "XXX", "XAU", "ZZZ", "S K", "ÅÄÖ"] {
        assert!(matches!(Currency::parse(bad), Err(MoneyError::UnknownCurrency(_))), "{bad:?}");
    }
}

#[test]
fn money_amount_rules() {
    assert_eq!(sek("12.5").amount().to_string(), "12.50");
    assert_eq!(sek("0012.5").amount().to_string(), "12.50", "leading zeros are digits");
    assert_eq!(sek("12.5"), sek("12.50"));
    assert!(matches!(Money::parse("12.505", Currency::SEK), Err(MoneyError::TooPrecise { .. })));
    assert!(matches!(Money::parse("12.500", Currency::SEK), Err(MoneyError::TooPrecise { .. })), "no spare digits");
    assert!(matches!(Money::parse("-1", Currency::SEK), Err(MoneyError::Negative(_))));
    // Every spelling but plain digits is refused: what a proxy or a log reads is what is charged.
    for loose in
        ["-0", "+100.00", "1_000", "1_0.00", "1e2", "1e-2", "1E2", ".5", "5.", " 5", "5 ", "1,00", "0x10", "", "١٢"]
    {
        assert!(matches!(Money::parse(loose, Currency::SEK), Err(MoneyError::Unparseable(_))), "{loose:?}");
    }
    assert!(matches!(Money::parse("1.5", Currency::JPY), Err(MoneyError::TooPrecise { .. })));
    assert_eq!(Money::parse("150", Currency::JPY).unwrap().amount().to_string(), "150");
    assert_eq!(Money::parse("1.005", Currency::KWD).unwrap().amount().to_string(), "1.005");
    assert!(matches!(Money::parse("abc", Currency::SEK), Err(MoneyError::Unparseable(_))));
    assert!(matches!(Money::parse("1e3", Currency::SEK), Err(MoneyError::Unparseable(_))));
    assert!(Money::parse("999999999999999.99", Currency::SEK).is_ok());
    assert!(matches!(Money::parse("1000000000000000", Currency::SEK), Err(MoneyError::TooLarge(_))));
    assert!(matches!(Money::parse(&"9".repeat(40), Currency::SEK), Err(MoneyError::TooLarge(_))));
}

#[test]
fn money_arithmetic_is_checked() {
    assert_eq!(sek("1.10").checked_add(&sek("2.05")).unwrap(), sek("3.15"));
    assert_eq!(sek("3").checked_sub(&sek("1.01")).unwrap(), sek("1.99"));
    assert!(matches!(sek("1").checked_sub(&sek("1.01")), Err(MoneyError::Underflow { .. })));
    assert!(matches!(sek("1").checked_add(&eur("1")), Err(MoneyError::CurrencyMismatch { .. })));
    assert!(matches!(sek("1").checked_sub(&eur("1")), Err(MoneyError::CurrencyMismatch { .. })));
    assert!(matches!(sek("1").checked_cmp(&eur("1")), Err(MoneyError::CurrencyMismatch { .. })));
    let big = sek("999999999999999.99");
    assert!(matches!(big.checked_add(&sek("0.01")), Err(MoneyError::TooLarge(_))));
}

#[test]
fn money_json_shape() {
    let m = sek("12.5");
    let v = serde_json::to_value(m).unwrap();
    assert_eq!(v, json!({"amount": "12.50", "currency": "SEK"}));
    let back: Money = serde_json::from_value(v).unwrap();
    assert_eq!(back, m);
    for bad in [
        json!({"amount": "12.505", "currency": "SEK"}),
        json!({"amount": "-1", "currency": "SEK"}),
        json!({"amount": "1", "currency": "sek"}),
        json!({"amount": "1", "currency": "XAU"}),
        json!({"amount": 1.5, "currency": "SEK"}),
    ] {
        assert!(serde_json::from_value::<Money>(bad.clone()).is_err(), "{bad}");
    }
}

#[test]
fn scope_ids() {
    assert!(TenantId::parse("acme_1-x").is_ok());
    assert!(MerchantId::parse(&"a".repeat(64)).is_ok());
    assert!(StoreId::parse(&"a".repeat(65)).is_err());
    assert!(TerminalId::parse("").is_err());
    for bad in ["a.b", "a b", "a*", "a#", "å", "a/b"] {
        let e = TenantId::parse(bad).unwrap_err();
        assert_eq!(e.kind, "tenant");
    }
    let v = serde_json::to_value(scope()).unwrap();
    assert_eq!(v, json!({"tenant": "acme", "merchant": "m-1", "store": "store_7", "terminal": "till-3"}));
    assert!(serde_json::from_value::<crate::Scope>(
        json!({"tenant": "a.b", "merchant": "m", "store": "s", "terminal": "t"})
    )
    .is_err());
}

#[test]
fn urls() {
    for ok in [
        "http://www.thirdparty.com/notifyMeHere",
        "https://shop.example/seqr/notify?order=1&notification=true",
        "HTTPS://SHOP.EXAMPLE:8443/x",
        "http://user@host/",
        "http://[::1]:8080/cb",
    ] {
        assert!(HttpUrl::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "ftp://x/",
        "seqr://SEQR.SE/R1",
        "http://",
        "http:///path",
        "https://host:port/",
        "http://ho st/",
        "http://host/\n",
        "www.example.com",
    ] {
        assert!(HttpUrl::parse(bad).is_err(), "{bad:?}");
    }
    assert!(serde_json::from_value::<HttpUrl>(json!("ftp://x")).is_err());
}

#[test]
fn token_status_codes() {
    for s in [TokenStatus::Pending, TokenStatus::Used, TokenStatus::Blocked, TokenStatus::Invalid] {
        assert_eq!(TokenStatus::from_code(s.code()), Some(s));
    }
    assert_eq!(TokenStatus::Blocked.code(), 90);
    assert_eq!(TokenStatus::Invalid.code(), 99);
    assert_eq!(TokenStatus::from_code(2), None);
}

fn sample_events() -> Vec<Event> {
    use crate::call::{CallSuccess, Evidence, Resolution};
    use crate::invoice::SeqrStatus;
    let mut events = issued_ev(0, 1, immediate("10.00"), vec![token("X", "1", TokenStatus::Used)]);
    events.extend([
        succeeded_ev(1, 1, sent_result("123")),
        observed_ev(2, SeqrStatus::Paid, 2, vec![], Some(payment("E", sek("10")))),
        update_ev(3, 2, "123", immediate("9.00"), vec![]),
        commit_ev(4, 3, "123", sek("1")),
        cancel_ev(5, 4, "123"),
        refund_ev(6, 5, "E", sek("1")),
        receipt_ev(7, 6, "E"),
        expired_ev(8, 8),
        rejected_ev(9, 2, 90, "SYSTEM_ERROR"),
        unknown_ev(10, 3),
        resolved_ev(
            11,
            3,
            Resolution::NotDone,
            Evidence::ObservedStatus { status: SeqrStatus::Paid, invoice_version: 2 },
        ),
        resolved_ev(
            12,
            5,
            Resolution::Succeeded { result: CallSuccess::Refunded { ers_reference: Some("R".to_owned()) } },
            Evidence::Operator { note: "n".to_owned() },
        ),
    ]);
    events
}

#[test]
fn every_event_type_is_covered_and_tagged() {
    let events = sample_events();
    let types: std::collections::BTreeSet<_> = events.iter().map(Event::event_type).collect();
    assert_eq!(types.len(), EVENT_TYPES.len(), "sample covers every type");
    for e in &events {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(v["type"], json!(e.event_type()), "serde tag equals event_type()");
        assert!(v["data"]["at"].is_string(), "every event carries `at`");
        assert_eq!(Event::schema_version(e.event_type()), 1);
        let back = Event::from_stored(e.event_type(), 1, e.to_data()).unwrap();
        assert_eq!(&back, e);
    }
    assert_eq!(Event::schema_version("nope"), 0);
}

#[test]
fn refund_requested_json_shape() {
    let e = refund_ev(6, 5, "E", sek("1"));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        v,
        json!({"type": "refund_requested", "data": {
            "at": "2015-10-29T10:00:06Z",
            "call_id": "00000000-0000-0000-0000-000000000005",
            "ers_reference": "E",
            "amount": {"amount": "1.00", "currency": "SEK"},
            "title": "Refund",
            "rows": []
        }})
    );
}

#[test]
fn upcaster_lifts_status_observed_v0() {
    let v0 = json!({
        "at": "2015-10-29T10:00:02Z",
        "status": "PENDING_ISSUER_ACKNOWLEDGE",
        "version": 1,
        "tokens": [{"id": "X_CARD", "value": "555", "status": "pending"}]
    });
    // The text path (what the store reads) upcasts the same way.
    assert_eq!(
        Event::from_stored_json("status_observed", 0, &v0.to_string()).unwrap(),
        Event::from_stored("status_observed", 0, v0.clone()).unwrap()
    );
    let e = Event::from_stored("status_observed", 0, v0).unwrap();
    assert_eq!(
        e,
        observed_ev(
            2,
            crate::SeqrStatus::PendingIssuerAcknowledge,
            1,
            vec![crate::CustomerToken { description: None, ..token("X_CARD", "555", TokenStatus::Pending) }],
            None
        )
    );
    // v0 without tokens.
    let e = Event::from_stored(
        "status_observed",
        0,
        json!({"at": "2015-10-29T10:00:02Z", "status": "ISSUED", "version": 0}),
    )
    .unwrap();
    assert_eq!(e, observed_ev(2, crate::SeqrStatus::Issued, 0, vec![], None));
}

#[test]
fn from_stored_errors() {
    let e = Event::from_stored("nope", 1, json!({})).unwrap_err();
    assert_eq!(e.code(), "unknown_event_type");
    let e = Event::from_stored("status_observed", 2, json!({})).unwrap_err();
    assert_eq!(e.code(), "unsupported_schema_version");
    let e = Event::from_stored("refund_requested", 0, json!({})).unwrap_err();
    assert_eq!(e.code(), "unsupported_schema_version", "no v0 upcaster for refund_requested");
    let e = Event::from_stored("status_observed", 0, json!({"status": "ISSUED"})).unwrap_err();
    assert_eq!(e.code(), "malformed_event_data");
    let e = Event::from_stored("refund_requested", 1, json!({"at": "x"})).unwrap_err();
    assert_eq!(e.code(), "malformed_event_data");
    let bad_money = json!({"at": "2015-10-29T10:00:06Z", "call_id": "00000000-0000-0000-0000-000000000005",
        "ers_reference": "E", "amount": {"amount": "1.001", "currency": "SEK"}});
    assert_eq!(Event::from_stored("refund_requested", 1, bad_money).unwrap_err().code(), "malformed_event_data");
}

#[test]
fn event_json_schema_generates() {
    let schema = Event::json_schema();
    let v = serde_json::to_value(&schema).unwrap();
    let text = v.to_string();
    for t in EVENT_TYPES {
        assert!(text.contains(t), "schema mentions {t}");
    }
}

#[test]
fn money_json_schema_matches_the_wire_shape() {
    let schema = serde_json::to_value(schemars::schema_for!(Money)).unwrap();
    let props = &schema["properties"];
    assert_eq!(props["amount"]["type"], json!("string"), "{schema}");
    assert!(props["currency"].is_object(), "{schema}");
    let required = schema["required"].as_array().unwrap();
    assert_eq!(required.len(), 2, "{schema}");
}
