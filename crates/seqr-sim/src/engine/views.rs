//! JSON views of the state for the control API: invoices, customer tokens and submitted receipts.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use seqr_wire::{AcknowledgmentMode, CustomerToken, Invoice, PaymentMode, ReceiptDocument};
use serde::Serialize;

use super::{InvoiceRec, SeqrState};

/// A JSON view of a customer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TokenView {
    /// Token id (loyalty programme).
    pub id: Option<String>,
    /// Token value (card number).
    pub value: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Status number (0, 1, 90, 99).
    pub status: i32,
}

impl TokenView {
    pub(super) fn of(t: &CustomerToken) -> TokenView {
        TokenView {
            id: t.id.clone(),
            value: t.value.clone(),
            description: t.description.clone(),
            status: t.status.code(),
        }
    }
}

/// A JSON view of an invoice for the control API.
#[derive(Debug, Clone, Serialize)]
pub struct SimInvoice {
    /// Reference.
    pub invoice_reference: String,
    /// Owning terminal.
    pub terminal_id: String,
    /// Internal status (EXPIRED is shown as such here even when Gen A output renders it CANCELED).
    pub status: String,
    /// Current version.
    pub version: i32,
    /// Latest invoiceVersion the register sent.
    pub acknowledged_version: i32,
    /// Total amount.
    pub total_amount: Option<Decimal>,
    /// Currency.
    pub currency: Option<String>,
    /// Payment mode (as sent, or IMMEDIATE_DEBIT).
    pub payment_mode: String,
    /// Effective acknowledgment mode.
    pub acknowledgment_mode: String,
    /// Shopper who scanned.
    pub shopper: Option<String>,
    /// True while the shopper is entering the PIN.
    pub paying: bool,
    /// ERS reference once paid.
    pub ers_reference: Option<String>,
    /// True once a getPaymentStatus returned PAID (or the reservation was committed).
    pub delivered: bool,
    /// True when the payment was reversed because PAID was not fetched in time.
    pub reversed: bool,
    /// Tokens the register sent.
    pub merchant_tokens: Vec<TokenView>,
    /// Tokens SEQR reports to the register.
    pub customer_tokens: Vec<TokenView>,
    /// Reserved amount (reservations).
    pub reserved_amount: Option<Decimal>,
    /// Reservation deadline.
    pub reservation_deadline: Option<DateTime<Utc>>,
    /// The backURL the app opened after pay/cancel.
    pub back_url_opened: Option<String>,
    /// notificationUrl.
    pub notification_url: Option<String>,
    /// Pending "remember card?" question.
    pub remember_card_offer: Option<TokenView>,
    /// Title.
    pub title: Option<String>,
    /// Number of invoice rows.
    pub rows: usize,
}

impl SeqrState {
    /// The receipts submitted for an ERS reference.
    pub fn receipts(&self, ers_reference: &str) -> Option<&[ReceiptDocument]> {
        self.payments.get(ers_reference).map(|p| p.receipts.as_slice())
    }

    /// A view of one invoice (by reference or QR code).
    pub fn invoice(&self, code: &str) -> Option<SimInvoice> {
        let reference = self.resolve_code(code).ok()?;
        let inv = self.invoices.get(&reference)?;
        Some(SimInvoice {
            invoice_reference: inv.reference.clone(),
            terminal_id: inv.terminal_id.clone(),
            status: inv.status.to_string(),
            version: inv.version,
            acknowledged_version: inv.acked_version,
            total_amount: inv.total(),
            currency: inv.currency().map(str::to_owned),
            payment_mode: inv.invoice.payment_mode.clone().unwrap_or(PaymentMode::ImmediateDebit).to_string(),
            acknowledgment_mode: self.effective_ack(&inv.invoice).to_string(),
            shopper: inv.shopper.clone(),
            paying: inv.paying,
            ers_reference: inv.ers_reference.clone(),
            delivered: inv.delivered,
            reversed: inv.reversed,
            merchant_tokens: inv.merchant_tokens.iter().map(TokenView::of).collect(),
            customer_tokens: inv.customer_tokens.iter().map(TokenView::of).collect(),
            reserved_amount: inv.reserved_amount,
            reservation_deadline: inv.reservation_deadline,
            back_url_opened: inv.back_url_opened.clone(),
            notification_url: inv.invoice.notification_url.clone(),
            remember_card_offer: inv.card_offer.as_ref().map(TokenView::of),
            title: inv.invoice.title.clone(),
            rows: inv.invoice.invoice_rows.len(),
        })
    }

    /// Every invoice of a terminal (or all), oldest first.
    pub fn invoices(&self, terminal_id: Option<&str>) -> Vec<SimInvoice> {
        let mut v: Vec<&InvoiceRec> =
            self.invoices.values().filter(|i| terminal_id.is_none_or(|t| t == i.terminal_id)).collect();
        v.sort_by_key(|i| i.seq);
        v.into_iter().filter_map(|i| self.invoice(&i.reference)).collect()
    }

    fn effective_ack(&self, inv: &Invoice) -> AcknowledgmentMode {
        inv.acknowledgment_mode.clone().unwrap_or_else(|| self.cfg.default_ack_mode.clone())
    }
}
