//! The simulator's pure state machine: resellers, terminals, invoices, shoppers and their loyalty cards, the
//! ledger of payments/refunds/reversals, transaction periods and reports.
//!
//! Nothing here does I/O or reads a clock: every operation takes `now`. SOAP operations take and return the typed
//! seqr-wire messages (plain data, no XML); the phone side ("the shopper's app") has its own methods that the
//! control API calls. Notifications to merchants are queued in an outbox that the server drains.
//!
//! The state types and the dispatch of a SOAP request live here; each concern has its own submodule:
//! `merchant` (the register's invoice and payment operations), `terminals` (terminals, seqrIds and credential
//! checks), `reports` (transaction periods and reconciliation reports), `phone` (the shopper's app, driven by
//! the control API), `expiry` (time-based transitions) and `views` (JSON views for the control API).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use seqr_wire::{
    AcknowledgmentMode, CustomerToken, ErsResponse, Invoice, InvoiceStatus, ReceiptDocument, Request, Response,
};
use serde::Serialize;

mod expiry;
mod merchant;
mod phone;
mod reports;
mod terminals;
mod views;

pub use self::phone::{PayOutcome, PhoneError, ScanOutcome};
pub use self::views::{SimInvoice, TokenView};

use self::reports::Period;

/// Behaviour switches of the state machine.
#[derive(Debug, Clone)]
pub struct SeqrConfig {
    /// A PAID invoice not fetched by getPaymentStatus within this window is reversed (SEQR: 20 s).
    pub reversal_window: Duration,
    /// executeReport answers REPORT_NOT_READY for this long after markTransactionPeriod (SEQR: about 3 s).
    pub report_delay: Duration,
    /// The acknowledgment mode used when sendInvoice carries none (PROTOCOL §8: not NO_ACKNOWLEDGMENT on v2).
    pub default_ack_mode: AcknowledgmentMode,
    /// Reservation lifetime when the invoice has no `commitReservationTimeout` (seconds).
    pub default_commit_timeout_secs: i64,
    /// The PIN of shoppers not created explicitly.
    pub default_pin: String,
    /// Whether newly registered terminals may refund.
    pub refunds_allowed_default: bool,
    /// The currency of newly registered terminals (resellers carry their own).
    pub default_currency: String,
}

impl SeqrConfig {
    /// SEQR's documented timings: 20 s reversal window, 3 s report delay, REQUIRE_ACKNOWLEDGMENT default.
    pub fn seqr_defaults() -> SeqrConfig {
        SeqrConfig {
            reversal_window: Duration::seconds(20),
            report_delay: Duration::seconds(3),
            default_ack_mode: AcknowledgmentMode::RequireAcknowledgment,
            default_commit_timeout_secs: 3600,
            default_pin: "1234".to_owned(),
            refunds_allowed_default: true,
            default_currency: "SEK".to_owned(),
        }
    }
}

/// A reseller (merchant account) that authenticates as RESELLERUSER. Debug output hides the password.
#[derive(Clone, Serialize)]
pub struct ResellerSeed {
    /// Reseller id (principal `id`).
    pub id: String,
    /// Principal `userId` (e.g. `9900`).
    pub user_id: String,
    /// Password.
    #[serde(skip)]
    pub password: String,
    /// The currency its terminals accept.
    pub currency: String,
}

/// A terminal known to the simulator before any registerTerminal call (a webshop terminal from Seamless).
/// Debug output hides the password.
#[derive(Clone, Serialize)]
pub struct TerminalSeed {
    /// Terminal id (32 hex characters in SEQR, any string here).
    pub id: String,
    /// Password.
    #[serde(skip)]
    pub password: String,
    /// The owning reseller id.
    pub reseller_id: String,
    /// Display name (`receiverName` on receipts).
    pub name: String,
    /// Whether a new sendInvoice cancels the previous open invoice (true for registered cash registers).
    pub single_invoice: bool,
    /// Whether refundPayment is allowed (false gives 97).
    pub refunds_allowed: bool,
}

impl std::fmt::Debug for ResellerSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResellerSeed")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("password", &"<redacted>")
            .field("currency", &self.currency)
            .finish()
    }
}

impl std::fmt::Debug for TerminalSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalSeed")
            .field("id", &self.id)
            .field("password", &"<redacted>")
            .field("reseller_id", &self.reseller_id)
            .field("name", &self.name)
            .field("single_invoice", &self.single_invoice)
            .field("refunds_allowed", &self.refunds_allowed)
            .finish()
    }
}

/// A POST the simulator owes a merchant's notificationUrl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The invoice's notificationUrl.
    pub url: String,
    /// The invoice reference (sent as form field in the `invoiceReference` body mode).
    pub invoice_reference: String,
    /// The status that triggered it (PAID or RESERVED).
    pub status: String,
}

/// One ledger line. Payments are positive, refunds and reversals negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// `PAYMENT`, `REFUND` or `REVERSAL`.
    pub kind: &'static str,
    /// The entry's own ERS reference (the payment's, the refund's, or the reversed payment's).
    pub ers_reference: String,
    /// For refunds and reversals: the original payment's ERS reference.
    pub original_ers_reference: Option<String>,
    /// The invoice reference, when there is one.
    pub invoice_reference: Option<String>,
    /// Reseller id.
    pub reseller_id: String,
    /// Terminal id.
    pub terminal_id: String,
    /// Cashier id from the invoice.
    pub cashier_id: Option<String>,
    /// Signed amount.
    pub amount: Decimal,
    /// Currency.
    pub currency: String,
    /// When it was booked.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Reseller {
    seed: ResellerSeed,
}

#[derive(Debug, Clone)]
struct Terminal {
    seed: TerminalSeed,
    currency: String,
    external_id: Option<String>,
    seqr_id: Option<String>,
    active: bool,
}

#[derive(Debug, Clone)]
struct Shopper {
    pin: String,
    payer_terminal_id: String,
    /// Remembered cards keyed by (reseller id, card id).
    cards: HashMap<(String, String), CustomerToken>,
}

#[derive(Debug, Clone)]
struct InvoiceRec {
    reference: String,
    terminal_id: String,
    reseller_id: String,
    invoice: Invoice,
    status: InvoiceStatus,
    version: i32,
    acked_version: i32,
    merchant_tokens: Vec<CustomerToken>,
    customer_tokens: Vec<CustomerToken>,
    shopper: Option<String>,
    paying: bool,
    ers_reference: Option<String>,
    paid_at: Option<DateTime<Utc>>,
    delivered: bool,
    reversed: bool,
    reserved_amount: Option<Decimal>,
    reservation_deadline: Option<DateTime<Utc>>,
    back_url_opened: Option<String>,
    card_offer: Option<CustomerToken>,
    seq: u64,
}

impl InvoiceRec {
    fn currency(&self) -> Option<&str> {
        self.invoice.total_amount.as_ref().and_then(|a| a.currency.as_deref())
    }

    fn total(&self) -> Option<Decimal> {
        self.invoice.total_amount.as_ref().and_then(|a| a.value)
    }

    fn is_open(&self) -> bool {
        matches!(self.status, InvoiceStatus::Issued | InvoiceStatus::PendingIssuerAcknowledge)
    }

    fn bump(&mut self, status: InvoiceStatus) {
        self.status = status;
        self.version += 1;
    }
}

#[derive(Debug, Clone)]
struct PaymentRec {
    reseller_id: String,
    amount: Decimal,
    currency: String,
    refunded: Decimal,
    reversed: bool,
    /// None for refunds (they are ERS references too, and can carry receipts).
    is_refund: bool,
    receipts: Vec<ReceiptDocument>,
}

/// The whole simulated SEQR back end.
#[derive(Debug)]
pub struct SeqrState {
    cfg: SeqrConfig,
    resellers: HashMap<String, Reseller>,
    terminals: HashMap<String, Terminal>,
    invoices: HashMap<String, InvoiceRec>,
    payments: HashMap<String, PaymentRec>,
    shoppers: HashMap<String, Shopper>,
    seqr_ids: HashMap<String, String>,
    periods: HashMap<String, Period>,
    last_mark: HashMap<(String, Option<String>), DateTime<Utc>>,
    ledger: Vec<LedgerEntry>,
    outbox: Vec<Notification>,
    counter: u64,
}

impl SeqrState {
    /// An engine with the given resellers and pre-registered terminals.
    pub fn new(cfg: SeqrConfig, resellers: Vec<ResellerSeed>, terminals: Vec<TerminalSeed>) -> SeqrState {
        let mut e = SeqrState {
            cfg,
            resellers: HashMap::new(),
            terminals: HashMap::new(),
            invoices: HashMap::new(),
            payments: HashMap::new(),
            shoppers: HashMap::new(),
            seqr_ids: HashMap::new(),
            periods: HashMap::new(),
            last_mark: HashMap::new(),
            ledger: Vec::new(),
            outbox: Vec::new(),
            counter: 0,
        };
        for r in resellers {
            e.resellers.insert(r.id.clone(), Reseller { seed: r });
        }
        for t in terminals {
            e.add_terminal(t);
        }
        e
    }

    /// The configuration.
    pub fn config(&self) -> &SeqrConfig {
        &self.cfg
    }

    /// Takes the queued notifications.
    pub fn drain_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.outbox)
    }

    /// The ledger, oldest first.
    pub fn ledger(&self) -> &[LedgerEntry] {
        &self.ledger
    }

    /// Handles one SOAP request. Time-based transitions are processed first.
    pub fn handle(&mut self, req: Request, now: DateTime<Utc>) -> Response {
        self.tick(now);
        match req {
            Request::SendInvoice(r) => Response::SendInvoice(self.send_invoice(r, now)),
            Request::UpdateInvoice(r) => Response::UpdateInvoice(self.update_invoice(r)),
            Request::GetPaymentStatus(r) => Response::GetPaymentStatus(self.get_payment_status(r, now)),
            Request::CancelInvoice(r) => Response::CancelInvoice(self.cancel_invoice(r)),
            Request::CommitReservation(r) => Response::CommitReservation(self.commit_reservation(r, now)),
            Request::SubmitPaymentReceipt(r) => Response::SubmitPaymentReceipt(self.submit_payment_receipt(r)),
            Request::RefundPayment(r) => Response::RefundPayment(self.refund_payment(r, now)),
            Request::RegisterTerminal(r) => Response::RegisterTerminal(self.register_terminal(r, now)),
            Request::UnregisterTerminal(r) => Response::UnregisterTerminal(self.unregister_terminal(r)),
            Request::AssignSeqrId(r) => Response::AssignSeqrId(self.assign_seqr_id(r)),
            Request::MarkTransactionPeriod(r) => Response::MarkTransactionPeriod(self.mark_transaction_period(r, now)),
            Request::ExecuteReport(r) => Response::ExecuteReport(self.execute_report(r, now)),
            Request::BenchmarkingNop => Response::BenchmarkingNop(ErsResponse::success()),
        }
    }

    // ----- ids -----

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A 25-digit ERS-style reference: yyyyMMddHHmmss + millis + 8-digit sequence.
    fn ers_id(&mut self, now: DateTime<Utc>) -> String {
        let n = self.next();
        format!("{}{:08}", now.format("%Y%m%d%H%M%S%3f"), n % 100_000_000)
    }

    /// A 17-digit invoice reference: yyyyMMdd + 9-digit sequence.
    fn invoice_ref(&mut self, now: DateTime<Utc>) -> String {
        let n = self.next();
        format!("{}{:09}", now.format("%Y%m%d"), n % 1_000_000_000)
    }

    fn hex_id(&mut self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    // ----- the ledger -----

    #[allow(clippy::too_many_arguments)]
    fn book(
        &mut self,
        kind: &'static str,
        ers_reference: String,
        original: Option<String>,
        invoice_reference: Option<String>,
        reseller_id: String,
        terminal_id: String,
        cashier_id: Option<String>,
        amount: Decimal,
        currency: String,
        at: DateTime<Utc>,
    ) {
        let seq = self.ledger.len() as u64 + 1;
        self.ledger.push(LedgerEntry {
            seq,
            kind,
            ers_reference,
            original_ers_reference: original,
            invoice_reference,
            reseller_id,
            terminal_id,
            cashier_id,
            amount,
            currency,
            at,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn record_payment(
        &mut self,
        ers: &str,
        reference: &str,
        reseller_id: &str,
        terminal_id: &str,
        cashier: Option<String>,
        amount: Decimal,
        currency: &str,
        now: DateTime<Utc>,
    ) {
        self.payments.insert(
            ers.to_owned(),
            PaymentRec {
                reseller_id: reseller_id.to_owned(),
                amount,
                currency: currency.to_owned(),
                refunded: Decimal::ZERO,
                reversed: false,
                is_refund: false,
                receipts: Vec::new(),
            },
        );
        self.book(
            "PAYMENT",
            ers.to_owned(),
            None,
            Some(reference.to_owned()),
            reseller_id.to_owned(),
            terminal_id.to_owned(),
            cashier,
            amount,
            currency.to_owned(),
            now,
        );
    }
}

#[cfg(test)]
mod tests;
