//! Golden-file tests: the PROTOCOL.md §12 envelopes parse to the right values, and rendering is byte-exact.

use chrono::NaiveDate;

use crate::tests::samples::{self, dec, sek};
use crate::tests::{check_golden, compact, read};
use crate::*;

fn parse_req(rel: &str) -> Request {
    parse_request(read(rel).as_bytes()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn parse_resp(op: Operation, rel: &str) -> Response {
    parse_response(op, read(rel).as_bytes()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn protocol_12_1_send_invoice_request() {
    let Request::SendInvoice(r) = parse_req("protocol/12_1_send_invoice_request.xml") else { panic!("wrong op") };
    let c = r.context.expect("context");
    assert_eq!(c.channel.as_deref(), Some("extWS"));
    assert_eq!(c.client_comment.as_deref(), Some("comment"));
    assert_eq!(c.client_id.as_deref(), Some("testClient"));
    assert_eq!(c.client_reference.as_deref(), Some("12345"));
    assert_eq!(c.client_request_timeout, 0);
    let p = c.initiator_principal_id.expect("principal");
    assert_eq!(p.id.as_deref(), Some("8609bf533abf4a20816e8bfe76639521"));
    assert_eq!(p.principal_type.as_deref(), Some("TERMINALID"));
    assert_eq!(p.user_id, None);
    assert_eq!(c.password.as_deref(), Some("N2YFUhKaB1ZSuVF"));

    let i = r.invoice.expect("invoice");
    assert_eq!(i.payment_mode, None);
    assert_eq!(i.acknowledgment_mode, Some(AcknowledgmentMode::NoAcknowledgment));
    assert_eq!(i.issue_date, None);
    assert_eq!(i.title.as_deref(), Some("Some Invoice"));
    assert_eq!(i.cashier_id.as_deref(), Some("Bob"));
    assert_eq!(i.invoice_rows.len(), 2);
    let row = &i.invoice_rows[0];
    assert_eq!(row.item_description.as_deref(), Some("Laptop Samsung Ultrabook"));
    assert_eq!(row.item_quantity, Some(dec("2")));
    assert_eq!(row.item_sku.as_deref(), Some("16"));
    assert_eq!(row.item_tax_rate, Some(dec("24")));
    assert_eq!(row.item_total_amount, Some(sek("500")));
    assert_eq!(row.item_unit.as_deref(), Some(""));
    assert_eq!(row.item_unit_price, Some(sek("250")));
    assert_eq!(i.invoice_rows[1].item_description.as_deref(), Some("Laptop Apple MacBook Air"));
    assert_eq!(i.invoice_rows[1].item_total_amount, Some(sek("1000")));
    assert_eq!(i.total_amount, Some(sek("1500")));
    assert_eq!(i.notification_url.as_deref(), Some("http://www.thirdparty.com/notifyMeHere"));
    assert_eq!(i.footer, None);
    assert_eq!(i.commit_reservation_timeout, None);
    assert!(r.tokens.is_empty());
}

#[test]
fn protocol_12_2_send_invoice_response() {
    let Response::SendInvoice(r) = parse_resp(Operation::SendInvoice, "protocol/12_2_send_invoice_response.xml") else {
        panic!("wrong op")
    };
    assert_eq!(r.base.ers_reference, None);
    assert_eq!(r.base.result_code, ResultCode::Success);
    assert_eq!(r.base.result_description.as_deref(), Some("SUCCESS"));
    assert_eq!(r.invoice_qr_code.as_deref(), Some("HTTP://SEQR.SE/R1397222701693"));
    assert_eq!(r.invoice_reference.as_deref(), Some("1397222701693"));
}

#[test]
fn protocol_12_2_renders_byte_exact() {
    let resp = Response::SendInvoice(SendInvoiceResponse {
        base: ErsResponse::success(),
        invoice_qr_code: Some("HTTP://SEQR.SE/R1397222701693".into()),
        invoice_reference: Some("1397222701693".into()),
    });
    assert_eq!(render_response(&resp), compact(&read("protocol/12_2_send_invoice_response.xml")));
}

#[test]
fn protocol_12_3_get_payment_status_request() {
    let Request::GetPaymentStatus(r) = parse_req("protocol/12_3_get_payment_status_request.xml") else {
        panic!("wrong op")
    };
    assert_eq!(r.invoice_reference.as_deref(), Some("123123"));
    assert_eq!(r.invoice_version, 0);
    let c = r.context.expect("context");
    assert_eq!(c.password.as_deref(), Some("123456"));
    assert_eq!(c.initiator_principal_id.and_then(|p| p.id).as_deref(), Some("87e791f9e24148a6892c52aa85bb0331"));
}

#[test]
fn protocol_12_4_issued_response() {
    let Response::GetPaymentStatus(r) =
        parse_resp(Operation::GetPaymentStatus, "protocol/12_4_get_payment_status_issued_response.xml")
    else {
        panic!("wrong op")
    };
    assert_eq!(r.base.result_code, ResultCode::Success);
    assert_eq!(r.status, Some(InvoiceStatus::Issued));
    assert_eq!(r.version, 1);
    assert!(r.customer_tokens.is_empty());
    assert_eq!(r.receipt, None);
}

#[test]
fn protocol_12_4_renders_byte_exact_plus_empty_customer_tokens() {
    let resp = Response::GetPaymentStatus(PaymentStatusResponse {
        base: ErsResponse::success(),
        status: Some(InvoiceStatus::Issued),
        receipt: None,
        customer_tokens: vec![],
        version: 1,
    });
    let expected = compact(&read("protocol/12_4_get_payment_status_issued_response.xml"))
        .replace("</status><version>", "</status><customerTokens/><version>");
    assert_eq!(render_response(&resp), expected);
}

#[test]
fn protocol_12_5_paid_response() {
    let Response::GetPaymentStatus(r) =
        parse_resp(Operation::GetPaymentStatus, "protocol/12_5_get_payment_status_paid_response.xml")
    else {
        panic!("wrong op")
    };
    assert_eq!(r.base.ers_reference.as_deref(), Some("2014100613463653401022006"));
    assert_eq!(r.status, Some(InvoiceStatus::Paid));
    assert_eq!(r.version, 2);
    let rc = r.receipt.expect("receipt");
    assert_eq!(rc.terminal_id.as_deref(), Some("…"));
    assert_eq!(rc.payment_date, Some(samples::paid_at()));
    assert_eq!(rc.invoice_reference.as_deref(), Some("1409575879561"));
    assert_eq!(rc.payment_reference.as_deref(), Some("2014090114515234501131287"));
    assert_eq!(rc.payer_terminal_id.as_deref(), Some("eb44fc03e6264d2299cbb180cd8d196b"));
    assert_eq!(rc.invoice, Some(Invoice::default()));
}

#[test]
fn lenient_php_soapclient_prefixes() {
    let Request::SendInvoice(r) = parse_req("lenient/php_soapclient_send_invoice.xml") else { panic!("wrong op") };
    let i = r.invoice.expect("invoice");
    assert_eq!(i.payment_mode, Some(PaymentMode::ImmediateDebit));
    assert_eq!(i.title.as_deref(), Some("Order #42 & more"));
    assert_eq!(i.back_url.as_deref(), Some("http://shop.example/back?order=42&x=1"));
    assert_eq!(
        i.issue_date,
        Some(XsDateTime {
            datetime: NaiveDate::from_ymd_opt(2015, 12, 25).unwrap().and_hms_opt(12, 34, 56).unwrap(),
            offset: None
        })
    );
    assert!(i.invoice_rows.is_empty());
    assert_eq!(i.total_amount, Some(Amount { currency: Some("SEK".into()), value: Some(dec("149.99")) }));
    assert_eq!(r.context.expect("context").password.as_deref(), Some("1234"));
}

#[test]
fn lenient_default_namespaces_any_order_unknown_elements_missing_primitives() {
    let Request::GetPaymentStatus(r) = parse_req("lenient/default_namespace_get_payment_status.xml") else {
        panic!("wrong op")
    };
    assert_eq!(r.invoice_reference.as_deref(), Some("1397222701693"));
    assert_eq!(r.invoice_version, 0);
    let c = r.context.expect("context");
    assert_eq!(c.client_request_timeout, 0);
    assert_eq!(c.client_id.as_deref(), Some("slickapps"));
    let p = c.initiator_principal_id.expect("principal");
    assert_eq!(p.principal_type.as_deref(), Some("TERMINALID"));
    assert_eq!(p.id.as_deref(), Some("87e791f9e24148a6892c52aa85bb0331"));
}

#[test]
fn lenient_whitespace_cdata_comments_nil_and_signs() {
    let Request::CommitReservation(r) = parse_req("lenient/odd_values_commit_reservation.xml") else {
        panic!("wrong op")
    };
    assert_eq!(r.invoice_reference.as_deref(), Some("20151029186719114"));
    assert_eq!(r.amount, Some(Amount { currency: Some("EUR".into()), value: Some(dec("10.50")) }));
    let c = r.context.expect("context");
    assert_eq!(c.channel, None, "xsi:nil reads as absent");
    assert_eq!(c.client_comment.as_deref(), Some("  spaced  "), "strings are not trimmed");
}

fn receipt_data(rel: &str) -> Vec<u8> {
    let Request::SubmitPaymentReceipt(r) = parse_req(rel) else { panic!("wrong op") };
    r.receipt_document.expect("receiptDocument").receipt_data.expect("receiptData")
}

/// API-MD's own submitPaymentReceipt example, verbatim: its `receiptData` is 55 base64 characters without padding,
/// 13 complete groups and an incomplete last group `Cjx` (three sextets, which would carry "\n<"). JAXB drops the
/// incomplete group whole, so SEQR stores the 39 bytes of the complete groups; it is not an error.
#[test]
fn lenient_base64_unpadded_api_md_example() {
    let Request::SubmitPaymentReceipt(r) = parse_req("lenient/api_md_submit_payment_receipt.xml") else {
        panic!("wrong op")
    };
    assert_eq!(r.ers_reference.as_deref(), Some("2012050100000000000000001"));
    let d = r.receipt_document.expect("receiptDocument");
    assert_eq!(d.mime_type.as_deref(), Some("plain/xml"));
    assert_eq!(d.receipt_type.as_deref(), Some("xxx"));
    assert_eq!(d.receipt_data.as_deref(), Some(&b"\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>"[..]));
}

/// MIME-style base64 (76-column lines), indented and wrapped in newlines: the whitespace is skipped.
#[test]
fn lenient_base64_mime_wrapped() {
    let want = "<html><body><h1>Kvitto</h1><p>Laptop Samsung Ultrabook 2 x 250,00 SEK</p><p>Totalt 500,00 SEK varav \
                moms 100,00 SEK</p><p>Tack för ditt köp!</p></body></html>";
    assert_eq!(receipt_data("lenient/base64_mime_wrapped_submit_payment_receipt.xml"), want.as_bytes());
}

/// `*QU.JD-RA_==!&#13;`: every character outside `A-Z a-z 0-9 + / =` is skipped (URL-safe `-` and `_` too, and
/// the carriage return from the reference), leaving `QUJDRA==`, i.e. "ABCD".
#[test]
fn lenient_base64_stray_characters_are_skipped() {
    assert_eq!(receipt_data("lenient/base64_stray_characters_submit_payment_receipt.xml"), b"ABCD");
}

/// `QUJDRA` (unpadded "ABCD", whose padded form is `QUJDRA==`): the complete group `QUJD` gives "ABC"; the
/// incomplete last group `RA` holds twelve bits, eight of them the "D", but JAXB drops an incomplete group whole.
/// So the report content is "ABC", not "ABCD". The same decoder reads every base64 field (`report.content` here).
#[test]
fn lenient_base64_truncated_last_group_is_dropped() {
    let Response::ExecuteReport(r) =
        parse_resp(Operation::ExecuteReport, "lenient/base64_truncated_execute_report_response.xml")
    else {
        panic!("wrong op")
    };
    let report = r.report.expect("report");
    assert_eq!(report.content.as_deref(), Some(&b"ABC"[..]));
    assert_eq!(report.content_string.as_deref(), Some("ABCD"));
}

#[test]
fn base64_is_decoded_as_jaxb_does() {
    let cases: &[(&str, &[u8])] = &[
        ("", b""),
        ("QUJD", b"ABC"),
        ("QUJDRA==", b"ABCD"),
        ("QUJDREU=", b"ABCDE"),
        // Missing padding: the incomplete last group is dropped, whatever it holds.
        ("QUJDRA", b"ABC"),
        ("QUJDREU", b"ABC"),
        // A lone trailing sextet.
        ("QUJDR", b"ABC"),
        ("Q", b""),
        // `=` ends a group wherever it is.
        ("QQ==QUJD", b"AABC"),
        ("QUJD\r\n\t RA==\n", b"ABCD"),
        // `=` in the first or second place is JAXB's padding value 127 shifted in like a digit.
        ("====", &[0xff]),
        ("=QQ=", &[0xfd, 0x04]),
        // Nothing in the alphabet at all.
        ("!!!", b""),
        ("-_-_", b""),
        // Non-ASCII is skipped too (JAXB's table lookup would throw here; this decoder never fails).
        ("QUJ\u{e9}DRA==", b"ABCD"),
    ];
    for &(text, want) in cases {
        assert_eq!(crate::parse::decode_base64_jaxb(text), want, "{text:?}");
    }
    // Rendering stays canonical: standard alphabet, padded, no line breaks.
    let doc = Some(ReceiptDocument { receipt_data: Some(b"ABCD".to_vec()), ..Default::default() });
    let req =
        Request::SubmitPaymentReceipt(SubmitPaymentReceiptRequest { receipt_document: doc, ..Default::default() });
    assert!(render_request(&req).contains("<receiptData>QUJDRA==</receiptData>"));
}

#[test]
fn render_every_request_golden_and_parse_back() {
    for (name, req) in samples::requests() {
        let xml = render_request(&req);
        check_golden(&format!("render/{name}.xml"), &xml);
        assert_eq!(parse_request(xml.as_bytes()).unwrap(), req, "{name}");
        assert_eq!(parse_request_with(xml.as_bytes(), &ParseOptions::STRICT).unwrap(), req, "{name} strict");
    }
}

#[test]
fn render_every_response_golden_and_parse_back() {
    for (name, resp) in samples::responses() {
        let xml = render_response(&resp);
        check_golden(&format!("render/{name}.xml"), &xml);
        assert_eq!(parse_response(resp.operation(), xml.as_bytes()).unwrap(), resp, "{name}");
        let strict = parse_response_with(resp.operation(), xml.as_bytes(), &ParseOptions::STRICT);
        assert_eq!(strict.unwrap(), resp, "{name} strict");
    }
}

#[test]
fn gen_a_rendering_suppresses_gen_b_additions() {
    let mut inv = samples::invoice();
    inv.payment_mode = Some(PaymentMode::ReservationRequiredPreliminaryAmount);
    inv.commit_reservation_timeout = Some(3600);
    let send = Request::SendInvoice(SendInvoiceRequest { context: None, invoice: Some(inv), tokens: vec![] });
    let gen_a = render_request_with(&send, RenderOptions::GEN_A);
    check_golden("render/gen_a_send_invoice_request.xml", &gen_a);
    assert!(!gen_a.contains("commitReservationTimeout"));
    assert!(gen_a.contains("<paymentMode>RESERVATION_REQUIRED</paymentMode>"));
    let gen_b = render_request_with(&send, RenderOptions::GEN_B);
    assert!(gen_b.contains("<commitReservationTimeout>3600</commitReservationTimeout></invoice>"));
    assert!(gen_b.contains("<paymentMode>RESERVATION_REQUIRED_PRELIMINARY_AMOUNT</paymentMode>"));

    let commit = Request::CommitReservation(CommitReservationRequest {
        context: None,
        amount: Some(sek("1")),
        invoice_reference: Some("1".into()),
    });
    let a = render_request_with(&commit, RenderOptions::GEN_A);
    assert!(!a.contains("<amount>"), "{a}");
    assert!(
        render_request(&commit).contains("<amount><currency>SEK</currency><value>1</value></amount><invoiceReference>")
    );

    let expired = Response::GetPaymentStatus(PaymentStatusResponse {
        base: ErsResponse::success(),
        status: Some(InvoiceStatus::Expired),
        receipt: None,
        customer_tokens: vec![],
        version: 3,
    });
    check_golden("render/gen_a_expired_response.xml", &render_response_with(&expired, RenderOptions::GEN_A));
    assert!(render_response_with(&expired, RenderOptions::GEN_A).contains("<status>CANCELED</status>"));
    assert!(render_response(&expired).contains("<status>EXPIRED</status>"));
}

#[test]
fn fault_renders_like_cxf_and_parses_typed() {
    let xml = render_fault(FaultCode::Client, "Unexpected wrapper element {urn:x}foo found. Expected <a> & <b>.");
    check_golden("render/fault_client.xml", &xml);
    let expected = FaultCode::Client;
    match parse_response(Operation::SendInvoice, xml.as_bytes()) {
        Err(WireError::Fault(f)) => {
            assert_eq!(f.code, expected);
            assert_eq!(f.message, "Unexpected wrapper element {urn:x}foo found. Expected <a> & <b>.");
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    let f = parse_fault(render_fault(FaultCode::Server, "boom").as_bytes()).unwrap();
    assert_eq!((f.code, f.message.as_str()), (FaultCode::Server, "boom"));
    let err = parse_response(Operation::CancelInvoice, xml.as_bytes()).unwrap_err();
    assert_eq!(err.code(), "soap_fault");
}

#[test]
fn result_code_table() {
    assert_eq!(ResultCode::KNOWN.len(), 56);
    for &code in ResultCode::KNOWN {
        assert_eq!(ResultCode::from_code(code.code()), code);
        let name = code.name().unwrap();
        if code.code() == 98 {
            assert_eq!(code.description(), "Sum of refunds can not be more than original transaction");
        } else {
            assert_eq!(code.description(), name);
        }
    }
    assert_eq!(ResultCode::from_code(49).name(), Some("INVALID_INVOICE_DATA"));
    assert_eq!(ResultCode::from_code(96).name(), Some("INVOICE_STATE_NOT_RESERVED"));
    assert_eq!(ResultCode::from_code(7), ResultCode::Unknown(7));
    assert_eq!(ResultCode::Unknown(7).description(), "UNKNOWN ERSWSResultCode = 7");
    assert_eq!(TokenStatus::from_code(90), TokenStatus::Blocked);
    assert_eq!(TokenStatus::from_code(5), TokenStatus::Unknown(5));
}

#[test]
fn unknown_enum_values_are_preserved() {
    let xml = read("lenient/php_soapclient_send_invoice.xml")
        .replace("IMMEDIATE_DEBIT", "FUTURE_MODE")
        .replace("NO_ACKNOWLEDGMENT", " LATER_ACK ");
    let Request::SendInvoice(r) = parse_request(xml.as_bytes()).unwrap() else { panic!("wrong op") };
    let i = r.invoice.clone().unwrap();
    assert_eq!(i.payment_mode, Some(PaymentMode::Unknown("FUTURE_MODE".into())));
    assert_eq!(i.acknowledgment_mode, Some(AcknowledgmentMode::Unknown("LATER_ACK".into())));
    let out = render_request(&Request::SendInvoice(r));
    assert!(out.contains("<paymentMode>FUTURE_MODE</paymentMode><acknowledgmentMode>LATER_ACK</acknowledgmentMode>"));
}

#[test]
fn datetime_and_decimal_lexical_forms() {
    for text in [
        "2015-10-29T10:18:48.663+01:00",
        "2015-12-25T12:34:56",
        "2015-10-29T10:18:48Z",
        "2015-10-29T10:18:48.000001-05:30",
        "1999-01-01T00:00:00.123456789+14:00",
    ] {
        let dt = crate::parse::parse_datetime(text).unwrap();
        let mut out = String::new();
        crate::render::format_datetime(&mut out, &dt);
        assert_eq!(out, text);
    }
    let dt = crate::parse::parse_datetime("2015-10-29T10:18:48+00:00").unwrap();
    let mut out = String::new();
    crate::render::format_datetime(&mut out, &dt);
    assert_eq!(out, "2015-10-29T10:18:48Z", "UTC renders as Z, as JAXB does");

    let big = "79228162514264337593543950335";
    assert_eq!(crate::parse::parse_decimal(big).unwrap().to_string(), big);
    assert_eq!(crate::parse::parse_decimal("0.0000000001").unwrap().to_string(), "0.0000000001", "never an exponent");
    assert_eq!(crate::parse::parse_decimal("-.5").unwrap().to_string(), "-0.5");
}

#[test]
fn carriage_returns_survive_a_normalising_parser() {
    let xml = render_request(&samples::requests()[0].1);
    assert!(xml.contains("<footer>Thank you&#13;\nWelcome back</footer>"), "{xml}");
}

#[test]
fn byte_order_mark_is_accepted() {
    let xml = format!("\u{feff}{}", read("protocol/12_3_get_payment_status_request.xml"));
    assert!(matches!(parse_request(xml.as_bytes()), Ok(Request::GetPaymentStatus(_))));
}

#[test]
fn parameter_map_with_and_without_the_parameter_level() {
    let doc = |params: &str| {
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns2:markTransactionPeriod xmlns:ns2="http://external.interfaces.ers.seamless.com/"><parameters>{params}</parameters></ns2:markTransactionPeriod></soap:Body></soap:Envelope>"#
        )
    };
    let want = Some(ParameterMap(vec![("TERMINALID".into(), "abc".into())]));
    let proper = doc("<parameter><entry><key>TERMINALID</key><value>abc</value></entry></parameter>");
    let Ok(Request::MarkTransactionPeriod(r)) = parse_request(proper.as_bytes()) else { panic!() };
    assert_eq!(r.parameters, want);
    assert_eq!(r.parameters.as_ref().and_then(|p| p.get("TERMINALID")), Some("abc"));
    // The FAQ snippet leaves out the <parameter> level; lenient parsing accepts it, strict parsing does not.
    let faq = doc("<entry><key>TERMINALID</key><value>abc</value></entry>");
    let Ok(Request::MarkTransactionPeriod(r)) = parse_request(faq.as_bytes()) else { panic!() };
    assert_eq!(r.parameters, want);
    assert_eq!(parse_request_with(faq.as_bytes(), &ParseOptions::STRICT).unwrap_err().code(), "unknown_element");
}
