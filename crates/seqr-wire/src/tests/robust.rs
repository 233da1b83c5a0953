//! Robustness: every class of bad input gives a typed error with a stable code, never a panic, and is bounded.

use proptest::prelude::*;

use crate::tests::read;
use crate::*;

const ENV_OPEN: &str = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#;
const ENV_CLOSE: &str = "</soap:Body></soap:Envelope>";

fn body(inner: &str) -> String {
    format!("{ENV_OPEN}{inner}{ENV_CLOSE}")
}

fn req_code(xml: &str) -> &'static str {
    match parse_request(xml.as_bytes()) {
        Ok(r) => panic!("expected an error, parsed {r:?}"),
        Err(e) => e.code(),
    }
}

#[test]
fn malformed_xml() {
    assert_eq!(req_code("<soap:Envelope"), "malformed_xml");
    assert_eq!(req_code(""), "malformed_xml");
    assert_eq!(
        req_code(&body(
            r#"<ns2:cancelInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/"><a></b></ns2:cancelInvoice>"#
        )),
        "malformed_xml"
    );
    assert_eq!(req_code(&format!("{ENV_OPEN}<x/>")), "malformed_xml");
    assert_eq!(req_code(&format!("{}<again/>", body("<x/>"))), "malformed_xml");
    assert_eq!(req_code("<p:Envelope><p:Body/></p:Envelope>"), "malformed_xml", "undeclared prefix");
    let mut bad_utf8 = body("<x>").into_bytes();
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    assert_eq!(parse_request(&bad_utf8).unwrap_err().code(), "malformed_xml");
}

#[test]
fn doctype_and_entities_are_rejected() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x>&lol2;</x></soap:Body></soap:Envelope>"#;
    assert_eq!(req_code(laughs), "doctype_forbidden");
    let xxe = r#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>"#;
    assert_eq!(req_code(xxe), "doctype_forbidden");
    let undefined = body(
        r#"<ns2:cancelInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/"><invoiceReference>&xxe;</invoiceReference></ns2:cancelInvoice>"#,
    );
    assert_eq!(req_code(&undefined), "unknown_entity");
    // The five predefined entities and character references are fine.
    let ok = body(
        r#"<ns2:cancelInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/"><invoiceReference>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;</invoiceReference></ns2:cancelInvoice>"#,
    );
    let Ok(Request::CancelInvoice(r)) = parse_request(ok.as_bytes()) else { panic!() };
    assert_eq!(r.invoice_reference.as_deref(), Some("<>&'\"AB"));
    // Attribute values are unescaped too, whichever attribute it is.
    let in_attribute =
        body(r#"<ns2:cancelInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/" note="&xxe;"/>"#);
    assert_eq!(req_code(&in_attribute), "unknown_entity");
}

/// `<soap:Envelope xmlns:soap=… {attrs}><soap:Body><ns2:benchmarkingNop …/></soap:Body></soap:Envelope>`.
fn nop_with_envelope_attributes(attrs: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"{attrs}><soap:Body><ns2:benchmarkingNop xmlns:ns2="http://external.interfaces.ers.seamless.com/"/></soap:Body></soap:Envelope>"#
    )
}

fn attributes(n: usize) -> String {
    (0..n).map(|i| format!(" a{i:x}=\"\"")).collect()
}

#[test]
fn attributes_per_element_are_bounded() {
    // 100 000 distinct attributes on one element, under 1 MiB: refused by the bound, not parsed.
    let wide = nop_with_envelope_attributes(&attributes(100_000));
    assert!(wide.len() < 1 << 20, "{}", wide.len());
    assert_eq!(parse_request(wide.as_bytes()).unwrap_err(), WireError::TooManyAttributes { max: 64 });
    assert_eq!(WireError::TooManyAttributes { max: 64 }.code(), "too_many_attributes");
    // With the bound raised they are all read (duplicates are looked up in a hash set, not pairwise).
    let raised = ParseOptions { limits: Limits { max_attributes: 100_001, ..Limits::DEFAULT }, strict: false };
    assert_eq!(parse_request_with(wide.as_bytes(), &raised), Ok(Request::BenchmarkingNop));

    // The namespace declaration counts: 63 more make 64, the limit; one more is refused.
    assert_eq!(parse_request(nop_with_envelope_attributes(&attributes(63)).as_bytes()), Ok(Request::BenchmarkingNop));
    assert_eq!(
        parse_request(nop_with_envelope_attributes(&attributes(64)).as_bytes()).unwrap_err(),
        WireError::TooManyAttributes { max: 64 }
    );
    // The bound is per element.
    let many = attributes(60);
    let spread = format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"{many}><soap:Body{many}><ns2:benchmarkingNop xmlns:ns2="http://external.interfaces.ers.seamless.com/"{many}/></soap:Body></soap:Envelope>"#
    );
    assert_eq!(parse_request(spread.as_bytes()), Ok(Request::BenchmarkingNop));
}

#[test]
fn duplicate_attributes_are_refused() {
    for attrs in
        [r#" a="1" a="2""#, r#" a="1" b="" a="1""#, r#" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#]
    {
        let doc = nop_with_envelope_attributes(attrs);
        assert_eq!(req_code(&doc), "malformed_xml", "{attrs}");
    }
    // The same name on different elements, or with different prefixes, is no duplicate.
    let fine = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" a="1" soap:a="2"><soap:Body a="1"><ns2:benchmarkingNop xmlns:ns2="http://external.interfaces.ers.seamless.com/" a="1"/></soap:Body></soap:Envelope>"#;
    assert_eq!(parse_request(fine.as_bytes()), Ok(Request::BenchmarkingNop));
}

/// Every character XML 1.0 forbids.
const FORBIDDEN: [u32; 9] = [0x0, 0x1, 0x8, 0xb, 0xc, 0xe, 0x1f, 0xfffe, 0xffff];

fn cancel_with(inner: &str, attr: &str) -> String {
    body(&format!(
        r#"<ns2:cancelInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/" note="{attr}"><invoiceReference>{inner}</invoiceReference></ns2:cancelInvoice>"#
    ))
}

#[test]
fn characters_xml_forbids_are_refused_literal_or_referenced() {
    for cp in FORBIDDEN {
        let c = char::from_u32(cp).unwrap();
        let want = WireError::IllegalCharacter { code_point: cp };
        let docs = [
            ("literal in text", cancel_with(&format!("a{c}b"), "")),
            ("decimal reference in text", cancel_with(&format!("a&#{cp};b"), "")),
            ("hex reference in text", cancel_with(&format!("a&#x{cp:X};b"), "")),
            ("literal in CDATA", cancel_with(&format!("<![CDATA[a{c}b]]>"), "")),
            ("literal in an attribute", cancel_with("1", &format!("a{c}b"))),
            ("decimal reference in an attribute", cancel_with("1", &format!("&#{cp};"))),
            ("hex reference in an attribute", cancel_with("1", &format!("&#x{cp:x};"))),
            ("literal in a comment", cancel_with(&format!("1<!--{c}-->"), "")),
            ("literal in xsi:nil", {
                body(&format!(
                    r#"<ns2:cancelInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><invoiceReference xsi:nil="true&#{cp};"/></ns2:cancelInvoice>"#
                ))
            }),
        ];
        for (what, doc) in docs {
            assert_eq!(parse_request(doc.as_bytes()), Err(want.clone()), "U+{cp:04X} {what}");
            assert_eq!(
                parse_response(Operation::CancelInvoice, doc.as_bytes()),
                Err(want.clone()),
                "U+{cp:04X} {what}"
            );
        }
    }
    assert_eq!(WireError::IllegalCharacter { code_point: 1 }.to_string(), "character U+0001 is not allowed in XML 1.0");
    assert_eq!(WireError::IllegalCharacter { code_point: 1 }.code(), "illegal_character");
}

#[test]
fn characters_xml_allows_are_kept() {
    for c in
        ['\t', '\n', ' ', '\u{7f}', '\u{80}', '\u{85}', '\u{d7ff}', '\u{e000}', '\u{fffd}', '\u{10000}', '\u{10ffff}']
    {
        let cp = u32::from(c);
        for doc in [
            cancel_with(&format!("a{c}b"), &format!("a{c}b")),
            cancel_with(&format!("a&#{cp};b"), &format!("&#x{cp:x};")),
        ] {
            let Ok(Request::CancelInvoice(r)) = parse_request(doc.as_bytes()) else { panic!("U+{cp:04X}: {doc:?}") };
            assert_eq!(r.invoice_reference, Some(format!("a{c}b")), "U+{cp:04X}");
        }
    }
    let Ok(Request::CancelInvoice(r)) = parse_request(cancel_with("a&#13;b", "&#xD;").as_bytes()) else { panic!() };
    assert_eq!(r.invoice_reference.as_deref(), Some("a\rb"));
}

#[test]
fn renderer_drops_characters_xml_forbids() {
    let forbidden: String = FORBIDDEN.iter().map(|&cp| char::from_u32(cp).unwrap()).collect();
    let dirty = format!("A{forbidden}B\tC\nD\rE\u{fffd}F\u{10ffff}");
    let clean = "AB\tC\nD\rE\u{fffd}F\u{10ffff}";
    let invoice = Invoice { title: Some(dirty.clone()), ..Invoice::default() };
    let req = Request::SendInvoice(SendInvoiceRequest { context: None, invoice: Some(invoice), tokens: vec![] });
    let xml = render_request(&req);
    assert!(xml.chars().all(crate::xml::is_xml_char), "{xml:?}");
    assert!(xml.contains("<title>AB\tC\nD&#13;E\u{fffd}F\u{10ffff}</title>"), "{xml:?}");
    let Ok(Request::SendInvoice(back)) = parse_request(xml.as_bytes()) else { panic!("{xml:?}") };
    assert_eq!(back.invoice.and_then(|i| i.title).as_deref(), Some(clean));

    let resp =
        Response::CancelInvoice(ErsResponse { result_description: Some(dirty.clone()), ..ErsResponse::success() });
    let xml = render_response(&resp);
    let Ok(Response::CancelInvoice(back)) = parse_response(Operation::CancelInvoice, xml.as_bytes()) else {
        panic!("{xml:?}")
    };
    assert_eq!(back.result_description.as_deref(), Some(clean));

    let fault = parse_fault(render_fault(FaultCode::Client, &dirty).as_bytes()).unwrap();
    assert_eq!(fault.message, clean);
}

#[test]
fn envelope_and_namespace_checks() {
    let soap12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><ns2:benchmarkingNop xmlns:ns2="http://external.interfaces.ers.seamless.com/"/></env:Body></env:Envelope>"#;
    assert_eq!(req_code(soap12), "not_soap11_envelope");
    assert_eq!(req_code("<Envelope><Body/></Envelope>"), "not_soap11_envelope");
    assert_eq!(req_code(r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>"#), "missing_body");
    assert_eq!(req_code(&body("")), "missing_body");
    assert_eq!(
        req_code(&body(r#"<x:sendInvoice xmlns:x="http://external.interfaces.ers.seamless.com/v3"/>"#)),
        "wrong_namespace"
    );
    assert_eq!(req_code(&body("<sendInvoice/>")), "wrong_namespace");
    assert_eq!(
        req_code(&body(r#"<x:requestTopup xmlns:x="http://external.interfaces.ers.seamless.com/"/>"#)),
        "unknown_operation"
    );
}

#[test]
fn invalid_values() {
    let ctx = |t: &str| {
        body(&format!(
            r#"<ns2:cancelInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/"><context><clientRequestTimeout>{t}</clientRequestTimeout></context></ns2:cancelInvoice>"#
        ))
    };
    assert_eq!(req_code(&ctx("abc")), "invalid_value");
    assert_eq!(req_code(&ctx("99999999999999999999")), "invalid_value");
    assert!(parse_request(ctx(" 5 ").as_bytes()).is_ok());
    assert!(parse_request(ctx("").as_bytes()).is_ok(), "empty primitive reads as 0, as JAXB does");
    let amount = |v: &str| {
        body(&format!(
            r#"<ns2:commitReservation xmlns:ns2="http://external.interfaces.ers.seamless.com/"><amount><value>{v}</value></amount></ns2:commitReservation>"#
        ))
    };
    for bad in ["1e5", "1,5", "--1", ".", "NaN", "12345678901234567890123456789012"] {
        assert_eq!(req_code(&amount(bad)), "invalid_value", "{bad}");
    }
    for good in ["1.", ".5", "-0.00", "+3", "007"] {
        assert!(parse_request(amount(good).as_bytes()).is_ok(), "{good}");
    }
    let date = |d: &str| {
        body(&format!(
            r#"<ns2:sendInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/"><invoice><issueDate>{d}</issueDate></invoice></ns2:sendInvoice>"#
        ))
    };
    for bad in ["2015-13-01T00:00:00", "yesterday", "2015-10-29T10:18:48+25:00", "2015-10-29"] {
        assert_eq!(req_code(&date(bad)), "invalid_value", "{bad}");
    }
    for good in
        ["2015-10-29T10:18:48", "2015-10-29T10:18:48.663+01:00", "2015-10-29T10:18:48Z", "2015-10-29T10:18:48.1-05:30"]
    {
        assert!(parse_request(date(good).as_bytes()).is_ok(), "{good}");
    }
    // base64Binary is never invalid: JAXB skips what is not in the alphabet (golden::base64_is_decoded_as_jaxb_does).
    let receipt = body(
        r#"<ns2:submitPaymentReceipt xmlns:ns2="http://external.interfaces.ers.seamless.com/"><receiptDocument><receiptData>!!!</receiptData></receiptDocument></ns2:submitPaymentReceipt>"#,
    );
    let Ok(Request::SubmitPaymentReceipt(r)) = parse_request(receipt.as_bytes()) else { panic!() };
    assert_eq!(r.receipt_document.and_then(|d| d.receipt_data), Some(vec![]));
}

#[test]
fn limits_reject_huge_deep_and_wide_input_fast() {
    let huge = vec![b' '; 10 * 1024 * 1024];
    let started = std::time::Instant::now();
    assert_eq!(parse_request(&huge).unwrap_err(), WireError::TooLarge { size: huge.len(), max: 1 << 20 });

    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    assert_eq!(parse_request(deep.as_bytes()).unwrap_err(), WireError::TooDeep { max: 32 });
    // With a byte limit large enough, the depth limit still stops a 100k-deep document early.
    let big = ParseOptions { limits: Limits { max_bytes: 8 << 20, ..Limits::DEFAULT }, strict: false };
    assert_eq!(parse_request_with(deep.as_bytes(), &big).unwrap_err().code(), "too_deep");

    let wide = body(&format!(
        r#"<ns2:sendInvoice xmlns:ns2="http://external.interfaces.ers.seamless.com/">{}</ns2:sendInvoice>"#,
        "<tokens/>".repeat(30_000)
    ));
    assert!(wide.len() < 1 << 20);
    assert_eq!(parse_request(wide.as_bytes()).unwrap_err(), WireError::TooManyElements { max: 20_000 });
    // Not a timing assertion: the elapsed time is printed for the curious only.
    eprintln!("rejecting huge/deep/wide input took {:?}", started.elapsed());
}

#[test]
fn response_specific_errors() {
    let ok = read("protocol/12_2_send_invoice_response.xml");
    let err = parse_response(Operation::GetPaymentStatus, ok.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        WireError::UnexpectedElement {
            expected: "getPaymentStatusResponse".into(),
            found: "sendInvoiceResponse".into()
        }
    );
    let no_return = body(r#"<ns2:cancelInvoiceResponse xmlns:ns2="http://external.interfaces.ers.seamless.com/"/>"#);
    assert_eq!(parse_response(Operation::CancelInvoice, no_return.as_bytes()).unwrap_err().code(), "missing_element");
    assert_eq!(parse_fault(ok.as_bytes()).unwrap_err().code(), "unexpected_element");
}

#[test]
fn strict_mode_rejects_what_lenient_accepts() {
    let unknown = read("lenient/default_namespace_get_payment_status.xml");
    assert!(parse_request(unknown.as_bytes()).is_ok());
    let e = parse_request_with(unknown.as_bytes(), &ParseOptions::STRICT).unwrap_err();
    assert_eq!(e.code(), "unknown_element");

    let missing =
        read("protocol/12_1_send_invoice_request.xml").replace("<clientRequestTimeout>0</clientRequestTimeout>", "");
    assert!(parse_request(missing.as_bytes()).is_ok());
    let e = parse_request_with(missing.as_bytes(), &ParseOptions::STRICT).unwrap_err();
    assert_eq!(e, WireError::MissingElement { element: "clientRequestTimeout".into(), parent: "context".into() });

    let no_version =
        read("protocol/12_3_get_payment_status_request.xml").replace("<invoiceVersion>0</invoiceVersion>", "");
    let Ok(Request::GetPaymentStatus(r)) = parse_request(no_version.as_bytes()) else { panic!() };
    assert_eq!(r.invoice_version, 0);
    assert_eq!(parse_request_with(no_version.as_bytes(), &ParseOptions::STRICT).unwrap_err().code(), "missing_element");
}

#[test]
fn error_codes_are_stable_and_distinct() {
    let all = [
        WireError::TooLarge { size: 0, max: 0 },
        WireError::TooDeep { max: 0 },
        WireError::TooManyElements { max: 0 },
        WireError::TooManyAttributes { max: 0 },
        WireError::IllegalCharacter { code_point: 0 },
        WireError::Malformed(String::new()),
        WireError::Doctype,
        WireError::UnknownEntity(String::new()),
        WireError::NotSoapEnvelope { found: String::new() },
        WireError::MissingBody,
        WireError::WrongNamespace { found: String::new() },
        WireError::UnknownOperation(String::new()),
        WireError::UnexpectedElement { expected: String::new(), found: String::new() },
        WireError::InvalidValue { element: String::new(), value: String::new(), reason: String::new() },
        WireError::UnknownElement { element: String::new(), parent: String::new() },
        WireError::MissingElement { element: String::new(), parent: String::new() },
        WireError::Fault(SoapFault { code: FaultCode::Client, message: String::new() }),
    ];
    let codes: std::collections::BTreeSet<_> = all.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), all.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_request(&input);
        for &op in Operation::ALL {
            let _ = parse_response(op, &input);
        }
        let _ = parse_fault(&input);
    }

    #[test]
    fn mutated_documents_never_panic(
        which in 0usize..5,
        cut in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        byte in prop::sample::select(vec![b'<', b'>', b'&', b'/', b'"', b';', b'#', 0xff, b'x', b' ']),
    ) {
        let files = [
            "protocol/12_1_send_invoice_request.xml",
            "protocol/12_2_send_invoice_response.xml",
            "protocol/12_3_get_payment_status_request.xml",
            "protocol/12_5_get_payment_status_paid_response.xml",
            "lenient/odd_values_commit_reservation.xml",
        ];
        let mut doc = read(files[which]).into_bytes();
        let p = pos.index(doc.len());
        doc[p] = byte;
        doc.truncate(cut.index(doc.len()) + 1);
        let _ = parse_request(&doc);
        let _ = parse_response(Operation::GetPaymentStatus, &doc);
        let _ = parse_response(Operation::SendInvoice, &doc);
    }
}

#[test]
fn debug_output_never_shows_passwords() {
    let ctx = crate::ClientContext { password: Some("s3cret-pw".into()), ..Default::default() };
    let register = crate::RegisterTerminalRequest {
        context: Some(ctx.clone()),
        password: Some("new-terminal-pw".into()),
        ..Default::default()
    };
    let request = crate::Request::RegisterTerminal(register);
    let shown = format!("{request:?} {ctx:?} {:#?}", request);
    assert!(!shown.contains("s3cret-pw") && !shown.contains("new-terminal-pw"), "{shown}");
    assert!(shown.contains("<redacted>"));
}
