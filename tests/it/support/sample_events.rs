//! Realistic domain events of one invoice, covering every event type: the relay tests append them and the
//! event-schema tests validate them against the committed JSON Schemas.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::{
    AcknowledgmentMode, CallId, CallSuccess, Currency, CustomerToken, Event, Evidence, HttpUrl, Invoice, InvoiceId,
    InvoiceRow, MerchantId, Money, Payment, PaymentMode, ReceiptDocument, ReceiptType, Resolution, Scope, SeqrStatus,
    StoreId, TenantId, TerminalId, TokenStatus,
};
use domain::{
    CallOutcomeUnknown, CallRejected, CallResolved, CallSucceeded, CancelRequested, CommitRequested, InvoiceIssued,
    InvoiceUpdateRequested, ReceiptSubmitRequested, RefundRequested, ReservationExpired, SendInvoiceRequested,
    StatusObserved,
};
use uuid::Uuid;

/// A scope with the given tenant and store ids (merchant `m-1`, terminal `till-3`).
pub(crate) fn scope(tenant: &str, store: &str) -> anyhow::Result<Scope> {
    Ok(Scope {
        tenant: TenantId::parse(tenant)?,
        merchant: MerchantId::parse("m-1")?,
        store: StoreId::parse(store)?,
        terminal: TerminalId::parse("till-3")?,
    })
}

fn t(secs: i64) -> anyhow::Result<DateTime<Utc>> {
    let start = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().ok_or_else(|| anyhow::anyhow!("bad date"))?;
    Ok(start + Duration::seconds(secs))
}

fn sek(amount: &str) -> anyhow::Result<Money> {
    Ok(Money::parse(amount, Currency::SEK)?)
}

/// Every event type once, as one invoice might record them (the order is realistic enough for a feed; it is
/// not meant to pass `decide`).
pub(crate) fn invoice_events(invoice: Uuid, scope: &Scope) -> anyhow::Result<Vec<Event>> {
    let call = |n: u128| CallId(Uuid::from_u128((invoice.as_u128() & !0xffff) | n));
    let row = InvoiceRow {
        description: Some("Latte".to_owned()),
        sku: Some("16".to_owned()),
        ean: Some("7310865004703".to_owned()),
        quantity: "2".parse()?,
        unit_price: Some(sek("35.00")?),
        total: sek("70.00")?,
        discount: None,
        tax_rate: Some("12".parse()?),
        unit: Some("pcs".to_owned()),
    };
    let bill = Invoice {
        payment_mode: PaymentMode::ReservationDesired,
        acknowledgment_mode: AcknowledgmentMode::OptionalAcknowledgment,
        commit_reservation_timeout: Some(900),
        issue_date: t(0)?,
        title: Some("Café Ankan".to_owned()),
        client_invoice_id: Some(format!("order-{}", invoice.simple())),
        cashier_id: Some("anna".to_owned()),
        footer: Some("Tack!".to_owned()),
        rows: vec![row.clone()],
        total: sek("70.00")?,
        back_url: Some(HttpUrl::parse("https://shop.example/back")?),
        notification_url: Some(HttpUrl::parse("https://seqrd.example/seqr/notify")?),
    };
    let token = CustomerToken {
        id: "X_CARD".to_owned(),
        value: "4711".to_owned(),
        description: Some("Ankan loyalty".to_owned()),
        status: TokenStatus::Pending,
    };
    let reference = format!("INV{}", invoice.as_u128() % 1_000_000);
    Ok(vec![
        Event::InvoiceIssued(InvoiceIssued {
            at: t(0)?,
            invoice_id: InvoiceId(invoice),
            scope: scope.clone(),
            invoice: bill.clone(),
            tokens: vec![],
        }),
        Event::SendInvoiceRequested(SendInvoiceRequested {
            at: t(0)?,
            call_id: call(1),
            invoice: bill.clone(),
            tokens: vec![],
        }),
        Event::CallSucceeded(CallSucceeded {
            at: t(1)?,
            call_id: call(1),
            result: CallSuccess::InvoiceSent {
                invoice_reference: reference.clone(),
                qr_code: format!("HTTP://SEQR.SE/R{reference}"),
            },
        }),
        Event::StatusObserved(StatusObserved {
            at: t(5)?,
            status: SeqrStatus::PendingIssuerAcknowledge,
            invoice_version: 1,
            customer_tokens: vec![token.clone()],
            payment: None,
        }),
        Event::InvoiceUpdateRequested(InvoiceUpdateRequested {
            at: t(6)?,
            call_id: call(2),
            invoice_reference: reference.clone(),
            invoice: bill.clone(),
            tokens: vec![CustomerToken { status: TokenStatus::Used, ..token }],
        }),
        Event::CallOutcomeUnknown(CallOutcomeUnknown {
            at: t(8)?,
            call_id: call(2),
            reason: "timeout after 5 s".to_owned(),
        }),
        Event::CallResolved(CallResolved {
            at: t(9)?,
            call_id: call(2),
            resolution: Resolution::Succeeded { result: CallSuccess::Done },
            evidence: Evidence::ObservedStatus { status: SeqrStatus::Reserved, invoice_version: 2 },
        }),
        Event::CommitRequested(CommitRequested {
            at: t(20)?,
            call_id: call(3),
            invoice_reference: reference.clone(),
            amount: sek("70.00")?,
        }),
        Event::StatusObserved(StatusObserved {
            at: t(22)?,
            status: SeqrStatus::Paid,
            invoice_version: 3,
            customer_tokens: vec![],
            payment: Some(Payment {
                ers_reference: format!("ERS{}", invoice.as_u128() % 1_000_000),
                payment_reference: Some("P-1".to_owned()),
                payment_date: Some(t(21)?),
                payer_terminal_id: Some("phone-1".to_owned()),
                amount: sek("70.00")?,
            }),
        }),
        Event::ReceiptSubmitRequested(ReceiptSubmitRequested {
            at: t(23)?,
            call_id: call(4),
            ers_reference: format!("ERS{}", invoice.as_u128() % 1_000_000),
            document: ReceiptDocument {
                mime_type: "text/html".to_owned(),
                receipt_type: ReceiptType::PaymentReceipt,
                data: b"<p>Thanks</p>".to_vec(),
            },
        }),
        Event::RefundRequested(RefundRequested {
            at: t(60)?,
            call_id: call(5),
            ers_reference: format!("ERS{}", invoice.as_u128() % 1_000_000),
            amount: sek("35.00")?,
            title: Some("Refund one latte".to_owned()),
            rows: vec![InvoiceRow { quantity: "1".parse()?, total: sek("35.00")?, ..row }],
        }),
        Event::CallRejected(CallRejected {
            at: t(61)?,
            call_id: call(5),
            result_code: 49,
            description: "Refund not allowed".to_owned(),
        }),
        Event::CancelRequested(CancelRequested { at: t(62)?, call_id: call(6), invoice_reference: reference }),
        Event::ReservationExpired(ReservationExpired { at: t(900)?, deadline: t(900)? }),
    ])
}
