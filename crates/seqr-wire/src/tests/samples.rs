//! Realistic typed values for every operation, used by the golden and round-trip tests.

use chrono::{FixedOffset, NaiveDate};
use rust_decimal::Decimal;

use crate::*;

pub(crate) fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(crate) fn sek(v: &str) -> Amount {
    Amount { currency: Some("SEK".into()), value: Some(dec(v)) }
}

pub(crate) fn terminal_context() -> ClientContext {
    ClientContext {
        channel: Some("WS".into()),
        client_comment: Some("comment".into()),
        client_id: Some("seqrd 0.0.0".into()),
        client_reference: Some("ref-1".into()),
        client_request_timeout: 0,
        initiator_principal_id: Some(PrincipalId {
            id: Some("87e791f9e24148a6892c52aa85bb0331".into()),
            principal_type: Some("TERMINALID".into()),
            user_id: None,
        }),
        password: Some("p&ss<word>".into()),
    }
}

pub(crate) fn reseller_context() -> ClientContext {
    ClientContext {
        channel: Some("WS".into()),
        client_id: Some("seqrd".into()),
        initiator_principal_id: Some(PrincipalId {
            id: Some("reseller1".into()),
            principal_type: Some("RESELLERUSER".into()),
            user_id: Some("9900".into()),
        }),
        password: Some("1234".into()),
        ..ClientContext::default()
    }
}

pub(crate) fn invoice() -> Invoice {
    Invoice {
        payment_mode: Some(PaymentMode::ImmediateDebit),
        acknowledgment_mode: Some(AcknowledgmentMode::NoAcknowledgment),
        issue_date: Some(XsDateTime {
            datetime: NaiveDate::from_ymd_opt(2015, 12, 25).unwrap().and_hms_opt(12, 34, 56).unwrap(),
            offset: None,
        }),
        title: Some("Räksmörgås & Kaffe <2>".into()),
        client_invoice_id: Some("order-42".into()),
        invoice_rows: vec![
            InvoiceRow {
                item_description: Some("Laptop Samsung Ultrabook".into()),
                item_discount: None,
                item_ean: Some("7310865004703".into()),
                item_quantity: Some(dec("2")),
                item_sku: Some("16".into()),
                item_tax_rate: Some(dec("24")),
                item_total_amount: Some(sek("500")),
                item_unit: Some(String::new()),
                item_unit_price: Some(sek("250")),
            },
            InvoiceRow {
                item_description: Some("Coffee".into()),
                item_discount: Some(sek("0.50")),
                item_ean: None,
                item_quantity: Some(dec("1.5")),
                item_sku: None,
                item_tax_rate: Some(dec("12")),
                item_total_amount: Some(sek("10.22")),
                item_unit: Some("KGM".into()),
                item_unit_price: Some(sek("7.15")),
            },
        ],
        total_amount: Some(sek("510.22")),
        cashier_id: Some("Bob".into()),
        footer: Some("Thank you\r\nWelcome back".into()),
        back_url: Some("https://shop.example/back?o=42&x=1".into()),
        notification_url: Some("https://shop.example/notify?o=42".into()),
        commit_reservation_timeout: None,
    }
}

pub(crate) fn token(status: TokenStatus) -> CustomerToken {
    CustomerToken {
        description: Some("Loyalty card name".into()),
        id: Some("SOME_CARD".into()),
        status,
        value: Some("2610411111110".into()),
    }
}

pub(crate) fn paid_at() -> XsDateTime {
    XsDateTime {
        datetime: NaiveDate::from_ymd_opt(2015, 10, 29).unwrap().and_hms_milli_opt(10, 18, 48, 663).unwrap(),
        offset: FixedOffset::east_opt(3600),
    }
}

/// One request per operation, named for its golden file.
pub(crate) fn requests() -> Vec<(&'static str, Request)> {
    let mut reservation = invoice();
    reservation.payment_mode = Some(PaymentMode::ReservationRequiredPreliminaryAmount);
    reservation.commit_reservation_timeout = Some(3600);
    vec![
        (
            "send_invoice_request",
            Request::SendInvoice(SendInvoiceRequest {
                context: Some(terminal_context()),
                invoice: Some(invoice()),
                tokens: vec![token(TokenStatus::Used)],
            }),
        ),
        (
            "send_invoice_reservation_request",
            Request::SendInvoice(SendInvoiceRequest {
                context: Some(terminal_context()),
                invoice: Some(reservation),
                tokens: vec![],
            }),
        ),
        (
            "update_invoice_request",
            Request::UpdateInvoice(UpdateInvoiceRequest {
                context: Some(terminal_context()),
                invoice_reference: Some("1397222701693".into()),
                invoice: Some(invoice()),
                tokens: vec![token(TokenStatus::Used), token(TokenStatus::Invalid)],
            }),
        ),
        (
            "get_payment_status_request",
            Request::GetPaymentStatus(GetPaymentStatusRequest {
                context: Some(terminal_context()),
                invoice_reference: Some("1397222701693".into()),
                invoice_version: 2,
            }),
        ),
        (
            "cancel_invoice_request",
            Request::CancelInvoice(CancelInvoiceRequest {
                context: Some(terminal_context()),
                invoice_reference: Some("1397222701693".into()),
            }),
        ),
        (
            "commit_reservation_request",
            Request::CommitReservation(CommitReservationRequest {
                context: Some(terminal_context()),
                amount: Some(sek("99.90")),
                invoice_reference: Some("20151029186719114".into()),
            }),
        ),
        (
            "submit_payment_receipt_request",
            Request::SubmitPaymentReceipt(SubmitPaymentReceiptRequest {
                context: Some(terminal_context()),
                ers_reference: Some("2012050100000000000000002".into()),
                receipt_document: Some(ReceiptDocument {
                    mime_type: Some("text/html".into()),
                    receipt_data: Some(b"<html><body>Receipt</body></html>".to_vec()),
                    receipt_type: Some("PAYMENT_RECEIPT".into()),
                }),
            }),
        ),
        (
            "refund_payment_request",
            Request::RefundPayment(RefundPaymentRequest {
                context: Some(terminal_context()),
                ers_reference: Some("2014100613463653401022006".into()),
                invoice: Some(Invoice {
                    title: Some("Refund".into()),
                    cashier_id: Some("Bob".into()),
                    total_amount: Some(sek("10.22")),
                    ..Invoice::default()
                }),
            }),
        ),
        (
            "register_terminal_request",
            Request::RegisterTerminal(RegisterTerminalRequest {
                context: Some(reseller_context()),
                external_terminal_id: Some("till-7".into()),
                password: Some("s3cret".into()),
                name: Some("Till 7".into()),
            }),
        ),
        (
            "unregister_terminal_request",
            Request::UnregisterTerminal(UnregisterTerminalRequest { context: Some(terminal_context()) }),
        ),
        (
            "assign_seqr_id_request",
            Request::AssignSeqrId(AssignSeqrIdRequest {
                context: Some(terminal_context()),
                seqr_id: Some("0039394857311223".into()),
            }),
        ),
        (
            "mark_transaction_period_request",
            Request::MarkTransactionPeriod(MarkTransactionPeriodRequest {
                context: Some(reseller_context()),
                parameters: Some(ParameterMap(vec![("TERMINALID".into(), "87e791f9e24148a6892c52aa85bb0331".into())])),
            }),
        ),
        (
            "execute_report_request",
            Request::ExecuteReport(ExecuteReportRequest {
                context: Some(reseller_context()),
                report_id: Some("Reconciliation/STD_RECON_003.xml".into()),
                language: Some("en".into()),
                parameters: Some(ParameterMap(vec![
                    ("transactionPeriodId".into(), "2012053119463656301000002".into()),
                    ("TERMINALID".into(), "87e791f9e24148a6892c52aa85bb0331".into()),
                ])),
            }),
        ),
        ("benchmarking_nop_request", Request::BenchmarkingNop),
    ]
}

pub(crate) fn paid_status() -> PaymentStatusResponse {
    PaymentStatusResponse {
        base: ErsResponse { ers_reference: Some("2014100613463653401022006".into()), ..ErsResponse::success() },
        status: Some(InvoiceStatus::Paid),
        receipt: Some(Receipt {
            terminal_id: Some("87e791f9e24148a6892c52aa85bb0331".into()),
            payment_date: Some(paid_at()),
            client_invoice_id: Some("order-42".into()),
            invoice_reference: Some("1409575879561".into()),
            payment_reference: Some("2014090114515234501131287".into()),
            payer_terminal_id: Some("eb44fc03e6264d2299cbb180cd8d196b".into()),
            receiver_name: Some("Kafé Åland".into()),
            invoice: Some(invoice()),
        }),
        customer_tokens: vec![],
        version: 2,
    }
}

/// One response per operation (and a few interesting variants), named for its golden file.
pub(crate) fn responses() -> Vec<(&'static str, Response)> {
    vec![
        (
            "send_invoice_response",
            Response::SendInvoice(SendInvoiceResponse {
                base: ErsResponse::success(),
                invoice_qr_code: Some("HTTP://SEQR.SE/R1397222701693".into()),
                invoice_reference: Some("1397222701693".into()),
            }),
        ),
        ("update_invoice_response", Response::UpdateInvoice(ErsResponse::new(ResultCode::InvalidInvoiceData))),
        (
            "get_payment_status_issued_response",
            Response::GetPaymentStatus(PaymentStatusResponse {
                base: ErsResponse::success(),
                status: Some(InvoiceStatus::Issued),
                receipt: None,
                customer_tokens: vec![],
                version: 1,
            }),
        ),
        (
            "get_payment_status_pending_response",
            Response::GetPaymentStatus(PaymentStatusResponse {
                base: ErsResponse::success(),
                status: Some(InvoiceStatus::PendingIssuerAcknowledge),
                receipt: None,
                customer_tokens: vec![token(TokenStatus::Pending)],
                version: 2,
            }),
        ),
        ("get_payment_status_paid_response", Response::GetPaymentStatus(paid_status())),
        ("cancel_invoice_response", Response::CancelInvoice(ErsResponse::new(ResultCode::InvoiceAlreadyCanceled))),
        ("commit_reservation_response", Response::CommitReservation(ErsResponse::success())),
        ("submit_payment_receipt_response", Response::SubmitPaymentReceipt(ErsResponse::success())),
        (
            "refund_payment_response",
            Response::RefundPayment(ErsResponse {
                ers_reference: Some("2015102910184861801032678".into()),
                ..ErsResponse::success()
            }),
        ),
        (
            "refund_payment_too_much_response",
            Response::RefundPayment(ErsResponse::new(ResultCode::SumOfRefundsCanNotBeMoreThanOriginalTransaction)),
        ),
        (
            "register_terminal_response",
            Response::RegisterTerminal(RegisterTerminalResponse {
                base: ErsResponse::success(),
                terminal_id: Some("8609bf533abf4a20816e8bfe76639521".into()),
            }),
        ),
        ("unregister_terminal_response", Response::UnregisterTerminal(ErsResponse::success())),
        ("assign_seqr_id_response", Response::AssignSeqrId(ErsResponse::new(ResultCode::InvalidSeqrId))),
        (
            "mark_transaction_period_response",
            Response::MarkTransactionPeriod(MarkTransactionPeriodResponse {
                base: ErsResponse::success(),
                transaction_period_id: Some("2012053119463656301000002".into()),
            }),
        ),
        (
            "execute_report_response",
            Response::ExecuteReport(ExecuteReportResponse {
                base: ErsResponse::success(),
                report: Some(Report {
                    title: Some("STD_RECON_003_2012071711291546101000028.xml".into()),
                    mime_type: Some("text/html".into()),
                    content: Some(b"<TransactionDetails/>".to_vec()),
                    content_string: Some("<TransactionDetails/>".into()),
                }),
            }),
        ),
        (
            "execute_report_not_ready_response",
            Response::ExecuteReport(ExecuteReportResponse {
                base: ErsResponse::new(ResultCode::ReportNotReady),
                report: None,
            }),
        ),
        ("benchmarking_nop_response", Response::BenchmarkingNop(ErsResponse::success())),
    ]
}
