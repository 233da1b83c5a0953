//! The WSDL texts: well-formed, names and placeholder as documented, and the XSD element order matches what the
//! renderer emits for fully populated values.

use crate::tests::samples;
use crate::xml::{parse_document, Node, Ns};
use crate::*;

const BIG: Limits = Limits { max_bytes: 1 << 22, max_depth: 64, max_elements: 100_000, ..Limits::DEFAULT };

fn find<'a>(n: &'a Node, name: &str, out: &mut Vec<&'a Node>) {
    if n.name == name {
        out.push(n);
    }
    for c in &n.children {
        find(c, name, out);
    }
}

#[test]
fn wsdl_main_names_and_placeholder() {
    let root = parse_document(WSDL_MAIN.as_bytes(), &BIG).unwrap();
    assert_eq!(root.name, "definitions");
    assert_eq!(root.ns, Ns::Other("http://schemas.xmlsoap.org/wsdl/".into()));
    for needle in [
        r#"name="ERSWSExternalClientServiceImplService""#,
        r#"targetNamespace="http://externalclientservice.cashregister.seamless.com/""#,
        r#"<wsdl:binding name="ERSWSExternalClientServiceImplServiceSoapBinding" type="ns1:ERSWSExternalClientService">"#,
        r#"name="ERSWSExternalClientServiceImplPort""#,
        r#"<soap:address location="http://localhost:8913/extclientproxy/service/v2"/>"#,
        r#"location="http://localhost:8913/extclientproxy/service/v2?wsdl=ERSWSExternalClientService.wsdl""#,
        r#"<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>"#,
    ] {
        assert!(WSDL_MAIN.contains(needle), "{needle}");
    }
    assert_eq!(WSDL_MAIN.matches(WSDL_ADDRESS_PLACEHOLDER).count(), 2);
    for op in Operation::ALL {
        assert!(WSDL_MAIN.contains(&format!(r#"<wsdl:operation name="{}">"#, op.name())), "{op}");
        assert!(WSDL_TYPES.contains(&format!(r#"<xs:element name="{}" type="tns:{}"/>"#, op.name(), op.name())));
    }
    assert_eq!(WSDL_MAIN.matches(r#"soapAction="""#).count(), Operation::ALL.len());
    assert!(!WSDL_TYPES.contains("localhost"));
}

/// The child element names of each complexType's sequence, from the inline XSD.
fn xsd_sequences() -> Vec<(String, Vec<String>)> {
    // Attributes are not kept by the tree reader, so read them from the text: each `<xs:complexType name="…">`
    // is followed by its `<xs:element … name="…"` lines until the matching close.
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>, usize)> = None;
    for line in WSDL_TYPES.lines() {
        let indent = line.len() - line.trim_start().len();
        let attr =
            |key: &str| line.split(&format!(" {key}=\"")).nth(1).and_then(|r| r.split('"').next()).map(str::to_owned);
        if line.trim_start().starts_with("<xs:complexType name=") && indent == 4 {
            current = Some((attr("name").unwrap(), Vec::new(), indent));
        } else if line.trim_start().starts_with("</xs:complexType>") && indent == 4 {
            if let Some((n, v, _)) = current.take() {
                out.push((n, v));
            }
        } else if line.trim_start().starts_with("<xs:element") {
            if let Some((_, v, base)) = current.as_mut() {
                // Only direct sequence children (anonymous wrapper contents sit deeper).
                if indent == *base + 4 || indent == *base + 8 {
                    v.push(attr("name").unwrap());
                }
            }
        }
    }
    // Well-formedness as a whole.
    parse_document(WSDL_TYPES.as_bytes(), &BIG).unwrap();
    out
}

fn child_names(n: &Node) -> Vec<String> {
    n.children.iter().map(|c| c.name.clone()).collect()
}

fn first<'a>(n: &'a Node, name: &str) -> &'a Node {
    let mut v = Vec::new();
    find(n, name, &mut v);
    v.first().copied().unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn renderer_order_matches_xsd_sequences() {
    let seqs: std::collections::HashMap<String, Vec<String>> = xsd_sequences().into_iter().collect();
    let mut full_invoice = samples::invoice();
    full_invoice.commit_reservation_timeout = Some(60);
    let mut full_ctx = samples::terminal_context();
    full_ctx.initiator_principal_id.as_mut().unwrap().user_id = Some("9900".into());
    let send = Request::SendInvoice(SendInvoiceRequest {
        context: Some(full_ctx),
        invoice: Some(full_invoice),
        tokens: vec![samples::token(TokenStatus::Used)],
    });
    let doc = parse_document(render_request(&send).as_bytes(), &BIG).unwrap();
    let wrapper = first(&doc, "sendInvoice");
    assert_eq!(child_names(wrapper), seqs["sendInvoice"]);
    assert_eq!(child_names(first(wrapper, "context")), seqs["clientContext"]);
    assert_eq!(child_names(first(wrapper, "initiatorPrincipalId")), seqs["principalId"]);
    assert_eq!(child_names(first(wrapper, "invoice")), seqs["invoice"]);
    let mut row = samples::invoice().invoice_rows[1].clone();
    row.item_ean = Some("1".into());
    row.item_sku = Some("2".into());
    let rows = Request::SendInvoice(SendInvoiceRequest {
        context: None,
        invoice: Some(Invoice { invoice_rows: vec![row], ..Invoice::default() }),
        tokens: vec![],
    });
    let rdoc = parse_document(render_request(&rows).as_bytes(), &BIG).unwrap();
    assert_eq!(child_names(first(&rdoc, "invoiceRow")), seqs["paymentInvoiceRow"]);
    assert_eq!(child_names(first(wrapper, "totalAmount")), seqs["amount"]);
    assert_eq!(child_names(first(wrapper, "tokens")), seqs["customerToken"]);

    for (name, req) in samples::requests() {
        let doc = parse_document(render_request(&req).as_bytes(), &BIG).unwrap();
        let op = req.operation().name();
        let got = child_names(first(&doc, op));
        let want: Vec<String> = seqs[op].iter().filter(|n| got.contains(n)).cloned().collect();
        assert_eq!(
            got.iter().filter(|n| *n != "tokens").collect::<Vec<_>>(),
            want.iter().filter(|n| *n != "tokens").collect::<Vec<_>>(),
            "{name}"
        );
    }
    let paid = Response::GetPaymentStatus(samples::paid_status());
    let doc = parse_document(render_response(&paid).as_bytes(), &BIG).unwrap();
    let ret = first(&doc, "return");
    let want: Vec<String> =
        seqs["erswsResponse"].iter().chain(seqs["erswsPaymentStatusResponse"].iter()).cloned().collect();
    assert_eq!(child_names(ret), want);
    assert_eq!(child_names(first(ret, "receipt")), seqs["receipt"]);
    let rd = Request::SubmitPaymentReceipt(
        match samples::requests().into_iter().find(|(n, _)| *n == "submit_payment_receipt_request") {
            Some((_, Request::SubmitPaymentReceipt(r))) => r,
            _ => panic!(),
        },
    );
    let doc = parse_document(render_request(&rd).as_bytes(), &BIG).unwrap();
    assert_eq!(child_names(first(&doc, "receiptDocument")), seqs["receiptDocument"]);
    for (name, resp) in samples::responses() {
        let doc = parse_document(render_response(&resp).as_bytes(), &BIG).unwrap();
        let got = child_names(first(&doc, "return"));
        let sub = match resp.operation() {
            Operation::SendInvoice => "erswsSendInvoiceResponse",
            Operation::GetPaymentStatus => "erswsPaymentStatusResponse",
            Operation::RegisterTerminal => "erswsRegisterTerminalResponse",
            Operation::MarkTransactionPeriod => "erswsMarkTransactionPeriodResponse",
            Operation::ExecuteReport => "erswsExecuteReportResponse",
            _ => "erswsResponse",
        };
        let all: Vec<String> = seqs["erswsResponse"]
            .iter()
            .chain(seqs.get(sub).into_iter().flatten().filter(|_| sub != "erswsResponse"))
            .cloned()
            .collect();
        let want: Vec<String> = all.into_iter().filter(|n| got.contains(n)).collect();
        assert_eq!(got, want, "{name}");
        if let Some(report) = doc
            .children
            .first()
            .and_then(|b| b.children.first())
            .map(|w| first(w, "return"))
            .and_then(|r| r.children.iter().find(|c| c.name == "report"))
        {
            assert_eq!(child_names(report), seqs["report"]);
        }
    }
}

#[test]
fn xsd_has_gen_b_additions_in_place() {
    let seqs: std::collections::HashMap<String, Vec<String>> = xsd_sequences().into_iter().collect();
    assert_eq!(seqs["invoice"].last().map(String::as_str), Some("commitReservationTimeout"));
    assert_eq!(seqs["commitReservation"], ["context", "amount", "invoiceReference"]);
    assert!(WSDL_TYPES.contains(
        "<xs:enumeration value=\"RESERVATION_REQUIRED\"/>\n        <xs:enumeration value=\"RESERVATION_REQUIRED_PRELIMINARY_AMOUNT\"/>"
    ));
    assert!(WSDL_TYPES.contains("<xs:enumeration value=\"RESERVED\"/>\n        <xs:enumeration value=\"EXPIRED\"/>"));
    assert!(WSDL_TYPES.contains(r#"<xs:element minOccurs="0" name="amount" type="tns:amount"/>"#));
}
