//! Property tests: render then parse gives back the same typed value, for requests and responses.

use chrono::{FixedOffset, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::*;

/// Strings of any XML 1.0 characters, biased towards markup-significant and non-ASCII ones.
fn s() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range(' ', '~'),
            2 => prop::sample::select(vec!['&', '<', '>', '"', '\'', '\n', '\r', '\t', ' ', 'å', 'ö', '€', '😀', '\u{a0}']),
            1 => prop::char::range('\u{80}', '\u{d7ff}'),
            1 => prop::char::range('\u{e000}', '\u{fffd}'),
            1 => prop::char::range('\u{10000}', '\u{10ffff}'),
        ],
        0..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// Strings of any characters at all, biased towards the ones XML 1.0 forbids.
fn any_chars() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            2 => any::<char>(),
            1 => prop::sample::select(vec!['\u{0}', '\u{1}', '\u{b}', '\u{1f}', '\u{fffe}', '\u{ffff}', '&', '\r', '\t']),
        ],
        0..16,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn os() -> impl Strategy<Value = Option<String>> {
    prop::option::of(s())
}

fn decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (any::<i64>(), 0u32..=12).prop_map(|(m, sc)| Decimal::new(m, sc)),
        (any::<i128>(), 0u32..=28).prop_filter_map("fits in 96 bits", |(m, sc)| {
            Decimal::try_from_i128_with_scale(m % (1i128 << 95), sc).ok()
        }),
    ]
}

fn datetime() -> impl Strategy<Value = XsDateTime> {
    (
        1900i32..2200,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        prop_oneof![Just(0u32), (0u32..1000).prop_map(|ms| ms * 1_000_000), 0u32..1_000_000_000],
        prop::option::of((-14 * 60i32..=14 * 60).prop_map(|m| m * 60)),
    )
        .prop_map(|(y, mo, d, h, mi, se, ns, off)| XsDateTime {
            datetime: NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_nano_opt(h, mi, se, ns).unwrap(),
            offset: off.map(|o| FixedOffset::east_opt(o).unwrap()),
        })
}

fn unknown_word(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    "[A-Z][A-Z_0-9]{0,20}".prop_filter("not a known value", move |w| !known.contains(&w.as_str()))
}

fn payment_mode() -> impl Strategy<Value = PaymentMode> {
    prop_oneof![
        prop::sample::select(PaymentMode::KNOWN.to_vec()),
        unknown_word(&[
            "IMMEDIATE_DEBIT",
            "RESERVATION_DESIRED",
            "RESERVATION_REQUIRED",
            "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT"
        ])
        .prop_map(PaymentMode::Unknown),
    ]
}

fn ack_mode() -> impl Strategy<Value = AcknowledgmentMode> {
    prop_oneof![
        prop::sample::select(AcknowledgmentMode::KNOWN.to_vec()),
        unknown_word(&["NO_ACKNOWLEDGMENT", "OPTIONAL_ACKNOWLEDGMENT", "REQUIRE_ACKNOWLEDGMENT"])
            .prop_map(AcknowledgmentMode::Unknown),
    ]
}

fn invoice_status() -> impl Strategy<Value = InvoiceStatus> {
    prop_oneof![
        prop::sample::select(InvoiceStatus::KNOWN.to_vec()),
        unknown_word(&["ISSUED", "PAID", "PENDING_ISSUER_ACKNOWLEDGE", "CANCELED", "FAILED", "RESERVED", "EXPIRED"])
            .prop_map(InvoiceStatus::Unknown),
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    (os(), prop::option::of(decimal())).prop_map(|(currency, value)| Amount { currency, value })
}

fn context() -> impl Strategy<Value = ClientContext> {
    (os(), os(), os(), os(), any::<i64>(), prop::option::of((os(), os(), os())), os()).prop_map(
        |(channel, client_comment, client_id, client_reference, timeout, p, password)| ClientContext {
            channel,
            client_comment,
            client_id,
            client_reference,
            client_request_timeout: timeout,
            initiator_principal_id: p.map(|(id, principal_type, user_id)| PrincipalId { id, principal_type, user_id }),
            password,
        },
    )
}

fn row() -> impl Strategy<Value = InvoiceRow> {
    (
        os(),
        prop::option::of(amount()),
        os(),
        prop::option::of(decimal()),
        os(),
        prop::option::of(decimal()),
        prop::option::of(amount()),
        os(),
        prop::option::of(amount()),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i)| InvoiceRow {
            item_description: a,
            item_discount: b,
            item_ean: c,
            item_quantity: d,
            item_sku: e,
            item_tax_rate: f,
            item_total_amount: g,
            item_unit: h,
            item_unit_price: i,
        })
}

fn invoice() -> impl Strategy<Value = Invoice> {
    (
        (prop::option::of(payment_mode()), prop::option::of(ack_mode()), prop::option::of(datetime()), os(), os()),
        prop::collection::vec(row(), 0..3),
        (prop::option::of(amount()), os(), os(), os(), os(), prop::option::of(any::<i64>())),
    )
        .prop_map(|((pm, am, issue, title, cid), rows, (total, cashier, footer, back, notify, crt))| Invoice {
            payment_mode: pm,
            acknowledgment_mode: am,
            issue_date: issue,
            title,
            client_invoice_id: cid,
            invoice_rows: rows,
            total_amount: total,
            cashier_id: cashier,
            footer,
            back_url: back,
            notification_url: notify,
            commit_reservation_timeout: crt,
        })
}

fn token() -> impl Strategy<Value = CustomerToken> {
    (os(), os(), any::<i32>(), os()).prop_map(|(description, id, st, value)| CustomerToken {
        description,
        id,
        status: TokenStatus::from_code(st),
        value,
    })
}

fn params() -> impl Strategy<Value = Option<ParameterMap>> {
    prop::option::of(prop::collection::vec((s(), s()), 0..3).prop_map(ParameterMap))
}

fn bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..40))
}

fn request() -> impl Strategy<Value = Request> {
    let ctx = || prop::option::of(context());
    prop_oneof![
        (ctx(), prop::option::of(invoice()), prop::collection::vec(token(), 0..3)).prop_map(
            |(context, invoice, tokens)| Request::SendInvoice(SendInvoiceRequest { context, invoice, tokens })
        ),
        (ctx(), os(), prop::option::of(invoice()), prop::collection::vec(token(), 0..3)).prop_map(
            |(context, invoice_reference, invoice, tokens)| Request::UpdateInvoice(UpdateInvoiceRequest {
                context,
                invoice_reference,
                invoice,
                tokens
            })
        ),
        (ctx(), os(), any::<i32>()).prop_map(|(context, invoice_reference, invoice_version)| {
            Request::GetPaymentStatus(GetPaymentStatusRequest { context, invoice_reference, invoice_version })
        }),
        (ctx(), os()).prop_map(|(context, invoice_reference)| Request::CancelInvoice(CancelInvoiceRequest {
            context,
            invoice_reference
        })),
        (ctx(), prop::option::of(amount()), os()).prop_map(|(context, amount, invoice_reference)| {
            Request::CommitReservation(CommitReservationRequest { context, amount, invoice_reference })
        }),
        (ctx(), os(), prop::option::of((os(), bytes(), os()))).prop_map(|(context, ers_reference, d)| {
            Request::SubmitPaymentReceipt(SubmitPaymentReceiptRequest {
                context,
                ers_reference,
                receipt_document: d.map(|(mime_type, receipt_data, receipt_type)| ReceiptDocument {
                    mime_type,
                    receipt_data,
                    receipt_type,
                }),
            })
        }),
        (ctx(), os(), prop::option::of(invoice())).prop_map(|(context, ers_reference, invoice)| {
            Request::RefundPayment(RefundPaymentRequest { context, ers_reference, invoice })
        }),
        (ctx(), os(), os(), os()).prop_map(|(context, external_terminal_id, password, name)| {
            Request::RegisterTerminal(RegisterTerminalRequest { context, external_terminal_id, password, name })
        }),
        ctx().prop_map(|context| Request::UnregisterTerminal(UnregisterTerminalRequest { context })),
        (ctx(), os()).prop_map(|(context, seqr_id)| Request::AssignSeqrId(AssignSeqrIdRequest { context, seqr_id })),
        (ctx(), params()).prop_map(|(context, parameters)| {
            Request::MarkTransactionPeriod(MarkTransactionPeriodRequest { context, parameters })
        }),
        (ctx(), os(), os(), params()).prop_map(|(context, report_id, language, parameters)| {
            Request::ExecuteReport(ExecuteReportRequest { context, report_id, language, parameters })
        }),
        Just(Request::BenchmarkingNop),
    ]
}

fn base() -> impl Strategy<Value = ErsResponse> {
    (os(), any::<i32>(), os()).prop_map(|(ers_reference, code, result_description)| ErsResponse {
        ers_reference,
        result_code: ResultCode::from_code(code),
        result_description,
    })
}

fn receipt() -> impl Strategy<Value = Receipt> {
    ((os(), prop::option::of(datetime()), os(), os()), (os(), os(), os(), prop::option::of(invoice()))).prop_map(
        |(
            (terminal_id, payment_date, client_invoice_id, invoice_reference),
            (payment_reference, payer, receiver, invoice),
        )| {
            Receipt {
                terminal_id,
                payment_date,
                client_invoice_id,
                invoice_reference,
                payment_reference,
                payer_terminal_id: payer,
                receiver_name: receiver,
                invoice,
            }
        },
    )
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (base(), os(), os()).prop_map(|(base, invoice_qr_code, invoice_reference)| {
            Response::SendInvoice(SendInvoiceResponse { base, invoice_qr_code, invoice_reference })
        }),
        (
            base(),
            prop::option::of(invoice_status()),
            prop::option::of(receipt()),
            prop::collection::vec(token(), 0..3),
            any::<i32>()
        )
            .prop_map(|(base, status, receipt, customer_tokens, version)| {
                Response::GetPaymentStatus(PaymentStatusResponse { base, status, receipt, customer_tokens, version })
            }),
        (base(), os())
            .prop_map(|(base, terminal_id)| Response::RegisterTerminal(RegisterTerminalResponse { base, terminal_id })),
        (base(), os()).prop_map(|(base, transaction_period_id)| {
            Response::MarkTransactionPeriod(MarkTransactionPeriodResponse { base, transaction_period_id })
        }),
        (base(), prop::option::of((os(), os(), bytes(), os()))).prop_map(|(base, r)| {
            Response::ExecuteReport(ExecuteReportResponse {
                base,
                report: r.map(|(title, mime_type, content, content_string)| Report {
                    title,
                    mime_type,
                    content,
                    content_string,
                }),
            })
        }),
        (base(), 0usize..8).prop_map(|(b, i)| match i {
            0 => Response::UpdateInvoice(b),
            1 => Response::CancelInvoice(b),
            2 => Response::CommitReservation(b),
            3 => Response::SubmitPaymentReceipt(b),
            4 => Response::RefundPayment(b),
            5 => Response::UnregisterTerminal(b),
            6 => Response::AssignSeqrId(b),
            _ => Response::BenchmarkingNop(b),
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn request_render_parse_round_trip(req in request()) {
        let xml = render_request(&req);
        prop_assert_eq!(parse_request(xml.as_bytes()), Ok(req.clone()));
        prop_assert_eq!(parse_request_with(xml.as_bytes(), &ParseOptions::STRICT), Ok(req));
    }

    #[test]
    fn response_render_parse_round_trip(resp in response()) {
        let xml = render_response(&resp);
        prop_assert_eq!(parse_response(resp.operation(), xml.as_bytes()), Ok(resp.clone()));
        prop_assert_eq!(parse_response_with(resp.operation(), xml.as_bytes(), &ParseOptions::STRICT), Ok(resp));
    }

    #[test]
    fn fault_round_trip(msg in s()) {
        let f = parse_fault(render_fault(FaultCode::Server, &msg).as_bytes()).unwrap();
        prop_assert_eq!(f, SoapFault { code: FaultCode::Server, message: msg });
    }

    #[test]
    fn rendering_drops_exactly_the_characters_xml_forbids(text in any_chars()) {
        let clean: String = text.chars().filter(|&c| crate::xml::is_xml_char(c)).collect();
        let f = parse_fault(render_fault(FaultCode::Server, &text).as_bytes()).unwrap();
        prop_assert_eq!(f.message, clean.clone());
        let req = Request::AssignSeqrId(AssignSeqrIdRequest { context: None, seqr_id: Some(text) });
        let want = Request::AssignSeqrId(AssignSeqrIdRequest { context: None, seqr_id: Some(clean) });
        prop_assert_eq!(parse_request(render_request(&req).as_bytes()), Ok(want));
    }
}
