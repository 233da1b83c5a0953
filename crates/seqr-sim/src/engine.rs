//! The simulator's pure state machine: resellers, terminals, invoices, shoppers and their loyalty cards, the
//! ledger of payments/refunds/reversals, transaction periods and reports.
//!
//! Nothing here does I/O or reads a clock: every operation takes `now`. SOAP operations take and return the typed
//! seqr-wire messages (plain data, no XML); the phone side ("the shopper's app") has its own methods that the
//! control API calls. Notifications to merchants are queued in an outbox that the server drains.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use rust_decimal::Decimal;
use seqr_wire::{
    AcknowledgmentMode, Amount, AssignSeqrIdRequest, CancelInvoiceRequest, ClientContext, CommitReservationRequest,
    CustomerToken, ErsResponse, ExecuteReportRequest, ExecuteReportResponse, GetPaymentStatusRequest, Invoice,
    InvoiceStatus, MarkTransactionPeriodRequest, MarkTransactionPeriodResponse, PaymentMode, PaymentStatusResponse,
    Receipt, ReceiptDocument, RefundPaymentRequest, RegisterTerminalRequest, RegisterTerminalResponse, Report, Request,
    Response, ResultCode, SendInvoiceRequest, SendInvoiceResponse, SubmitPaymentReceiptRequest, TokenStatus,
    UnregisterTerminalRequest, UpdateInvoiceRequest, XsDateTime,
};
use serde::Serialize;

/// Behaviour switches of the state machine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
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

impl EngineConfig {
    /// SEQR's documented timings: 20 s reversal window, 3 s report delay, REQUIRE_ACKNOWLEDGMENT default.
    pub fn seqr_defaults() -> EngineConfig {
        EngineConfig {
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

/// Why a phone (control API) action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// No invoice (or QR code) matches.
    #[error("unknown invoice {0}")]
    UnknownInvoice(String),
    /// The invoice is not in a state that allows this action.
    #[error("invoice {reference} is {status}, cannot {action}")]
    WrongState {
        /// Invoice reference.
        reference: String,
        /// Current status.
        status: String,
        /// The refused action.
        action: &'static str,
    },
    /// The app is blocked until the register acknowledges with updateInvoice.
    #[error("invoice {0} waits for the register's acknowledgment")]
    AwaitingAcknowledgment(String),
    /// Another shopper already scanned this invoice.
    #[error("invoice {0} was scanned by another shopper")]
    OtherShopper(String),
    /// The PIN does not match the shopper's.
    #[error("wrong PIN")]
    WrongPin,
    /// The payment has not been started (or was not made with a card to remember).
    #[error("nothing to confirm: {0}")]
    NothingPending(String),
    /// The QR code or reference is malformed.
    #[error("bad QR code or reference {0:?}")]
    BadCode(String),
}

impl PhoneError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::UnknownInvoice(_) => "unknown_invoice",
            PhoneError::WrongState { .. } => "wrong_state",
            PhoneError::AwaitingAcknowledgment(_) => "awaiting_acknowledgment",
            PhoneError::OtherShopper(_) => "other_shopper",
            PhoneError::WrongPin => "wrong_pin",
            PhoneError::NothingPending(_) => "nothing_pending",
            PhoneError::BadCode(_) => "bad_code",
        }
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

/// What a scan did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanOutcome {
    /// The scanned invoice.
    pub invoice_reference: String,
    /// Its status after the scan.
    pub status: String,
    /// Tokens SEQR offers the register (the card from the invoice or the shopper's remembered card).
    pub tokens: Vec<TokenView>,
    /// True when the app is blocked until the register calls updateInvoice.
    pub awaiting_acknowledgment: bool,
}

/// What a confirmed payment did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayOutcome {
    /// The invoice.
    pub invoice_reference: String,
    /// PAID or RESERVED.
    pub status: String,
    /// The payment's ERS reference (PAID only).
    pub ers_reference: Option<String>,
    /// The backURL the app opens now, if the invoice had one.
    pub back_url: Option<String>,
    /// A card the app now asks the shopper to remember (a card the register used that is not remembered yet).
    pub remember_card_offer: Option<TokenView>,
}

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
    fn of(t: &CustomerToken) -> TokenView {
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
pub struct InvoiceView {
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

#[derive(Debug, Clone)]
struct Period {
    id: String,
    reseller_id: String,
    terminal_id: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    ready_at: DateTime<Utc>,
}

/// The whole simulated SEQR back end.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
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

const QR_PREFIX: &str = "HTTP://SEQR.SE/R";

/// The largest amount accepted (REJECTED_AMOUNT above it); keeps every sum far from `Decimal`'s range.
const MAX_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// The longest reservation accepted from `commitReservationTimeout` (ten years, in seconds).
const MAX_RESERVATION_SECS: i64 = 10 * 366 * 24 * 3600;

impl Engine {
    /// An engine with the given resellers and pre-registered terminals.
    pub fn new(cfg: EngineConfig, resellers: Vec<ResellerSeed>, terminals: Vec<TerminalSeed>) -> Engine {
        let mut e = Engine {
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

    /// Adds (or replaces) a terminal, e.g. from the control API. Its currency is its reseller's.
    pub fn add_terminal(&mut self, seed: TerminalSeed) {
        let currency = self
            .resellers
            .get(&seed.reseller_id)
            .map(|r| r.seed.currency.clone())
            .unwrap_or_else(|| self.cfg.default_currency.clone());
        self.terminals
            .insert(seed.id.clone(), Terminal { seed, currency, external_id: None, seqr_id: None, active: true });
    }

    /// Adds (or replaces) a reseller.
    pub fn add_reseller(&mut self, seed: ResellerSeed) {
        self.resellers.insert(seed.id.clone(), Reseller { seed });
    }

    /// Sets whether a terminal may refund. Returns false for an unknown terminal.
    pub fn set_refunds_allowed(&mut self, terminal_id: &str, allowed: bool) -> bool {
        match self.terminals.get_mut(terminal_id) {
            Some(t) => {
                t.seed.refunds_allowed = allowed;
                true
            }
            None => false,
        }
    }

    /// Creates or updates a shopper with this PIN.
    pub fn set_shopper(&mut self, shopper_id: &str, pin: &str) {
        let s = self.shopper_mut(shopper_id);
        s.pin = pin.to_owned();
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
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

    /// Processes time-based transitions: reversal of undelivered PAID invoices, lapse of reservations.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        let window = self.cfg.reversal_window;
        let mut reversals = Vec::new();
        for inv in self.invoices.values_mut() {
            match inv.status {
                // SEQR reverses a payment the register never fetched; the register then sees CANCELED.
                InvoiceStatus::Paid
                    if !inv.delivered && !inv.reversed && inv.paid_at.is_some_and(|p| p + window <= now) =>
                {
                    inv.reversed = true;
                    inv.bump(InvoiceStatus::Canceled);
                    if let Some(ers) = inv.ers_reference.clone() {
                        reversals.push((
                            ers,
                            inv.reference.clone(),
                            inv.terminal_id.clone(),
                            inv.reseller_id.clone(),
                            inv.invoice.cashier_id.clone(),
                        ));
                    }
                }
                InvoiceStatus::Reserved if inv.reservation_deadline.is_some_and(|d| d <= now) => {
                    inv.bump(InvoiceStatus::Expired);
                }
                _ => {}
            }
        }
        for (ers, reference, terminal_id, reseller_id, cashier_id) in reversals {
            let Some(p) = self.payments.get_mut(&ers) else { continue };
            p.reversed = true;
            let (amount, currency) = (p.amount, p.currency.clone());
            self.book(
                "REVERSAL",
                ers.clone(),
                Some(ers),
                Some(reference),
                reseller_id,
                terminal_id,
                cashier_id,
                -amount,
                currency,
                now,
            );
        }
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

    // ----- authentication -----

    fn auth_terminal(&self, ctx: Option<&ClientContext>) -> Result<String, ResultCode> {
        let ctx = ctx.ok_or(ResultCode::InvalidInitiatorPrincipalId)?;
        let p = ctx.initiator_principal_id.as_ref().ok_or(ResultCode::InvalidInitiatorPrincipalId)?;
        if p.principal_type.as_deref().map(str::trim) != Some("TERMINALID") {
            return Err(ResultCode::InvalidInitiatorPrincipalId);
        }
        let id = p.id.as_deref().map(str::trim).unwrap_or_default();
        let t = self.terminals.get(id).filter(|t| t.active).ok_or(ResultCode::InvalidInitiatorPrincipalId)?;
        if t.seed.password.chars().count() < 4 {
            return Err(ResultCode::AccessDenied);
        }
        if ctx.password.as_deref() != Some(t.seed.password.as_str()) {
            return Err(ResultCode::AuthenticationFailed);
        }
        Ok(t.seed.id.clone())
    }

    fn auth_reseller(&self, ctx: Option<&ClientContext>) -> Result<String, ResultCode> {
        let ctx = ctx.ok_or(ResultCode::InitiatorPrincipalNotFound)?;
        let p = ctx.initiator_principal_id.as_ref().ok_or(ResultCode::InitiatorPrincipalNotFound)?;
        if p.principal_type.as_deref().map(str::trim) != Some("RESELLERUSER") {
            return Err(ResultCode::InvalidInitiatorPrincipalId);
        }
        let id = p.id.as_deref().map(str::trim).unwrap_or_default();
        let r = self.resellers.get(id).ok_or(ResultCode::InitiatorPrincipalNotFound)?;
        if p.user_id.as_deref().map(str::trim) != Some(r.seed.user_id.as_str()) {
            return Err(ResultCode::InitiatorPrincipalNotFound);
        }
        if ctx.password.as_deref() != Some(r.seed.password.as_str()) {
            return Err(ResultCode::AuthenticationFailed);
        }
        Ok(r.seed.id.clone())
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

    fn shopper_mut(&mut self, id: &str) -> &mut Shopper {
        if !self.shoppers.contains_key(id) {
            let payer = self.hex_id();
            self.shoppers.insert(
                id.to_owned(),
                Shopper { pin: self.cfg.default_pin.clone(), payer_terminal_id: payer, cards: HashMap::new() },
            );
        }
        self.shoppers.get_mut(id).expect("inserted above")
    }

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

    // ----- validation helpers -----

    fn check_invoice(&self, inv: Option<&Invoice>, currency: &str) -> Result<Decimal, ResultCode> {
        let inv = inv.ok_or(ResultCode::InvalidInvoiceData)?;
        let total = inv.total_amount.as_ref().ok_or(ResultCode::InvalidInvoiceData)?;
        let value = total.value.ok_or(ResultCode::InvalidInvoiceData)?;
        if total.currency.as_deref().map(str::trim) != Some(currency) {
            return Err(ResultCode::InvalidInvoiceData);
        }
        for row in &inv.invoice_rows {
            for a in [&row.item_total_amount, &row.item_unit_price, &row.item_discount].into_iter().flatten() {
                if a.currency.as_deref().is_some_and(|c| c.trim() != currency) {
                    return Err(ResultCode::InvalidInvoiceData);
                }
            }
        }
        if value <= Decimal::ZERO || value > MAX_AMOUNT {
            return Err(ResultCode::RejectedAmount);
        }
        if let Some(url) = inv.notification_url.as_deref() {
            let u = url.trim().to_ascii_lowercase();
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ResultCode::InvalidNotificationUrl);
            }
        }
        Ok(value)
    }

    fn own_invoice(&self, terminal_id: &str, reference: Option<&str>) -> Result<String, ResultCode> {
        let r = reference.map(str::trim).unwrap_or_default();
        match self.invoices.get(r) {
            Some(inv) if inv.terminal_id == terminal_id => Ok(r.to_owned()),
            _ => Err(ResultCode::InvalidInvoiceReference),
        }
    }

    fn effective_ack(&self, inv: &Invoice) -> AcknowledgmentMode {
        inv.acknowledgment_mode.clone().unwrap_or_else(|| self.cfg.default_ack_mode.clone())
    }

    // ----- SOAP operations -----

    fn send_invoice(&mut self, r: SendInvoiceRequest, now: DateTime<Utc>) -> SendInvoiceResponse {
        let fail =
            |code| SendInvoiceResponse { base: ErsResponse::new(code), invoice_qr_code: None, invoice_reference: None };
        let tid = match self.auth_terminal(r.context.as_ref()) {
            Ok(t) => t,
            Err(c) => return fail(c),
        };
        let (currency, reseller_id, single) = {
            let t = &self.terminals[&tid];
            (t.currency.clone(), t.seed.reseller_id.clone(), t.seed.single_invoice)
        };
        if let Err(c) = self.check_invoice(r.invoice.as_ref(), &currency) {
            return fail(c);
        }
        let Some(invoice) = r.invoice else { return fail(ResultCode::InvalidInvoiceData) };
        if single {
            // A registered cash register holds one open invoice: the new one cancels the previous.
            for inv in self.invoices.values_mut() {
                if inv.terminal_id == tid && inv.is_open() && !inv.paying {
                    inv.bump(InvoiceStatus::Canceled);
                }
            }
        }
        let reference = self.invoice_ref(now);
        let seq = self.counter;
        self.invoices.insert(
            reference.clone(),
            InvoiceRec {
                reference: reference.clone(),
                terminal_id: tid,
                reseller_id,
                invoice,
                status: InvoiceStatus::Issued,
                version: 1,
                acked_version: 0,
                merchant_tokens: r.tokens,
                customer_tokens: Vec::new(),
                shopper: None,
                paying: false,
                ers_reference: None,
                paid_at: None,
                delivered: false,
                reversed: false,
                reserved_amount: None,
                reservation_deadline: None,
                back_url_opened: None,
                card_offer: None,
                seq,
            },
        );
        SendInvoiceResponse {
            base: ErsResponse::success(),
            invoice_qr_code: Some(format!("{QR_PREFIX}{reference}")),
            invoice_reference: Some(reference),
        }
    }

    fn update_invoice(&mut self, r: UpdateInvoiceRequest) -> ErsResponse {
        match self.try_update_invoice(r) {
            Ok(()) => ErsResponse::success(),
            Err(c) => ErsResponse::new(c),
        }
    }

    fn try_update_invoice(&mut self, r: UpdateInvoiceRequest) -> Result<(), ResultCode> {
        let tid = self.auth_terminal(r.context.as_ref())?;
        let reference = self.own_invoice(&tid, r.invoice_reference.as_deref())?;
        let (currency, status, paying) = {
            let inv = &self.invoices[&reference];
            (inv.currency().unwrap_or_default().to_owned(), inv.status.clone(), inv.paying)
        };
        if paying {
            return Err(ResultCode::PaymentInProgress);
        }
        match status {
            InvoiceStatus::Issued | InvoiceStatus::PendingIssuerAcknowledge | InvoiceStatus::Reserved => {}
            // The loyalty sequence diagram shows "system error" for an updateInvoice after payment.
            _ => return Err(ResultCode::SystemError),
        }
        self.check_invoice(r.invoice.as_ref(), &currency)?;
        let Some(mut new_invoice) = r.invoice else { return Err(ResultCode::InvalidInvoiceData) };
        let inv = self.invoices.get_mut(&reference).expect("checked above");
        if new_invoice.payment_mode.is_none() {
            new_invoice.payment_mode = inv.invoice.payment_mode.clone();
        }
        if new_invoice.acknowledgment_mode.is_none() {
            new_invoice.acknowledgment_mode = inv.invoice.acknowledgment_mode.clone();
        }
        if new_invoice.commit_reservation_timeout.is_none() {
            new_invoice.commit_reservation_timeout = inv.invoice.commit_reservation_timeout;
        }
        inv.invoice = new_invoice;
        if !r.tokens.is_empty() {
            // The register tells which offered tokens it used (1) or rejected (90/99).
            for ct in inv.customer_tokens.iter_mut() {
                if let Some(m) = r.tokens.iter().find(|m| m.id == ct.id && m.value == ct.value) {
                    ct.status = m.status;
                }
            }
            inv.merchant_tokens = r.tokens;
        }
        if inv.status == InvoiceStatus::PendingIssuerAcknowledge {
            // The acknowledgment: the app is unblocked and the invoice is payable again.
            inv.bump(InvoiceStatus::Issued);
        }
        Ok(())
    }

    fn get_payment_status(&mut self, r: GetPaymentStatusRequest, _now: DateTime<Utc>) -> PaymentStatusResponse {
        let fail = |code| PaymentStatusResponse {
            base: ErsResponse::new(code),
            status: None,
            receipt: None,
            customer_tokens: Vec::new(),
            version: 0,
        };
        let tid = match self.auth_terminal(r.context.as_ref()) {
            Ok(t) => t,
            Err(c) => return fail(c),
        };
        let reference = match self.own_invoice(&tid, r.invoice_reference.as_deref()) {
            Ok(x) => x,
            Err(c) => return fail(c),
        };
        let receiver_name = self.terminals.get(&tid).map(|t| t.seed.name.clone());
        let payer = {
            let inv = &self.invoices[&reference];
            inv.shopper.as_ref().and_then(|s| self.shoppers.get(s)).map(|s| s.payer_terminal_id.clone())
        };
        let inv = self.invoices.get_mut(&reference).expect("checked above");
        inv.acked_version = inv.acked_version.max(r.invoice_version);
        let mut base = ErsResponse::success();
        let mut receipt = None;
        if inv.status == InvoiceStatus::Paid {
            inv.delivered = true;
            base.ers_reference = inv.ers_reference.clone();
            receipt = Some(Receipt {
                terminal_id: Some(inv.terminal_id.clone()),
                payment_date: inv.paid_at.map(xs_now),
                client_invoice_id: inv.invoice.client_invoice_id.clone(),
                invoice_reference: Some(inv.reference.clone()),
                payment_reference: inv.ers_reference.clone(),
                payer_terminal_id: payer,
                receiver_name,
                invoice: Some(inv.invoice.clone()),
            });
        }
        PaymentStatusResponse {
            base,
            status: Some(inv.status.clone()),
            receipt,
            customer_tokens: inv.customer_tokens.clone(),
            version: inv.version,
        }
    }

    fn cancel_invoice(&mut self, r: CancelInvoiceRequest) -> ErsResponse {
        let res = (|| {
            let tid = self.auth_terminal(r.context.as_ref())?;
            let reference = self.own_invoice(&tid, r.invoice_reference.as_deref())?;
            let inv = self.invoices.get_mut(&reference).expect("checked above");
            if inv.paying {
                return Err(ResultCode::CannotCancelInvoiceInProgress);
            }
            match inv.status {
                InvoiceStatus::Paid => Err(ResultCode::CannotCancelPaidInvoice),
                InvoiceStatus::Canceled | InvoiceStatus::Expired => Err(ResultCode::InvoiceAlreadyCanceled),
                InvoiceStatus::Issued | InvoiceStatus::PendingIssuerAcknowledge | InvoiceStatus::Reserved => {
                    inv.bump(InvoiceStatus::Canceled);
                    Ok(())
                }
                _ => Err(ResultCode::RejectedBusinessLogic),
            }
        })();
        match res {
            Ok(()) => ErsResponse::success(),
            Err(c) => ErsResponse::new(c),
        }
    }

    fn commit_reservation(&mut self, r: CommitReservationRequest, now: DateTime<Utc>) -> ErsResponse {
        let res = (|| {
            let tid = self.auth_terminal(r.context.as_ref())?;
            let reference = self.own_invoice(&tid, r.invoice_reference.as_deref())?;
            let inv = &self.invoices[&reference];
            if inv.status != InvoiceStatus::Reserved {
                return Err(ResultCode::InvoiceStateNotReserved);
            }
            let currency = inv.currency().unwrap_or_default().to_owned();
            let reserved = inv.reserved_amount.unwrap_or_default();
            let fin = match &r.amount {
                Some(a) => {
                    if a.currency.as_deref().is_some_and(|c| c.trim() != currency) {
                        return Err(ResultCode::InvalidInvoiceData);
                    }
                    a.value.ok_or(ResultCode::InvalidInvoiceData)?
                }
                None => inv.total().unwrap_or(reserved),
            };
            if fin <= Decimal::ZERO || fin > reserved {
                return Err(ResultCode::RejectedAmount);
            }
            let ers = self.ers_id(now);
            let inv = self.invoices.get_mut(&reference).expect("checked above");
            inv.invoice.total_amount = Some(Amount { currency: Some(currency.clone()), value: Some(fin) });
            inv.ers_reference = Some(ers.clone());
            inv.paid_at = Some(now);
            // The commit is the register's own call, so the payment is known to it: no reversal.
            inv.delivered = true;
            inv.bump(InvoiceStatus::Paid);
            let (rid, cashier) = (inv.reseller_id.clone(), inv.invoice.cashier_id.clone());
            if let Some(url) = inv.invoice.notification_url.clone() {
                let n = Notification { url, invoice_reference: reference.clone(), status: "PAID".to_owned() };
                self.outbox.push(n);
            }
            self.record_payment(&ers, &reference, &rid, &tid, cashier, fin, &currency, now);
            Ok(())
        })();
        // The documented answer (API-MD field table and example) is resultCode and resultDescription only; the
        // payment's ersReference is read from getPaymentStatus, like any other PAID invoice's.
        match res {
            Ok(()) => ErsResponse::success(),
            Err(c) => ErsResponse::new(c),
        }
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

    fn submit_payment_receipt(&mut self, r: SubmitPaymentReceiptRequest) -> ErsResponse {
        let res = (|| {
            let tid = self.auth_terminal(r.context.as_ref())?;
            let rid = self.terminals[&tid].seed.reseller_id.clone();
            let ers = r.ers_reference.as_deref().map(str::trim).unwrap_or_default();
            let p =
                self.payments.get_mut(ers).filter(|p| p.reseller_id == rid).ok_or(ResultCode::InvalidErsReference)?;
            p.receipts.push(r.receipt_document.unwrap_or_default());
            Ok(())
        })();
        match res {
            Ok(()) => ErsResponse::success(),
            Err(c) => ErsResponse::new(c),
        }
    }

    fn refund_payment(&mut self, r: RefundPaymentRequest, now: DateTime<Utc>) -> ErsResponse {
        let res = (|| {
            let tid = self.auth_terminal(r.context.as_ref())?;
            let t = &self.terminals[&tid];
            if !t.seed.refunds_allowed {
                return Err(ResultCode::ResellerNotAllowedToDoRefund);
            }
            let rid = t.seed.reseller_id.clone();
            let ers = r.ers_reference.as_deref().map(str::trim).unwrap_or_default().to_owned();
            let p = self
                .payments
                .get(&ers)
                .filter(|p| p.reseller_id == rid && !p.is_refund && !p.reversed)
                .ok_or(ResultCode::InvalidErsReference)?;
            let (amount, refunded, currency) = (p.amount, p.refunded, p.currency.clone());
            let value = self.check_invoice(r.invoice.as_ref(), &currency)?;
            if refunded + value > amount {
                return Err(ResultCode::SumOfRefundsCanNotBeMoreThanOriginalTransaction);
            }
            let refund_ref = self.ers_id(now);
            if let Some(p) = self.payments.get_mut(&ers) {
                p.refunded += value;
            }
            self.payments.insert(
                refund_ref.clone(),
                PaymentRec {
                    reseller_id: rid.clone(),
                    amount: value,
                    currency: currency.clone(),
                    refunded: Decimal::ZERO,
                    reversed: false,
                    is_refund: true,
                    receipts: Vec::new(),
                },
            );
            let inv_ref = self
                .ledger
                .iter()
                .find(|l| l.ers_reference == ers && l.kind == "PAYMENT")
                .and_then(|l| l.invoice_reference.clone());
            let cashier = r.invoice.as_ref().and_then(|i| i.cashier_id.clone());
            self.book("REFUND", refund_ref.clone(), Some(ers), inv_ref, rid, tid, cashier, -value, currency, now);
            Ok(refund_ref)
        })();
        match res {
            Ok(ers) => ErsResponse { ers_reference: Some(ers), ..ErsResponse::success() },
            Err(c) => ErsResponse::new(c),
        }
    }

    fn register_terminal(&mut self, r: RegisterTerminalRequest, _now: DateTime<Utc>) -> RegisterTerminalResponse {
        let res = (|| {
            let rid = self.auth_reseller(r.context.as_ref())?;
            let password = r.password.clone().filter(|p| !p.is_empty()).ok_or(ResultCode::InvalidNewPassword)?;
            let ext = r.external_terminal_id.clone();
            if ext.is_some()
                && self.terminals.values().any(|t| t.active && t.seed.reseller_id == rid && t.external_id == ext)
            {
                return Err(ResultCode::RegistrationPrincipalAlreadyExists);
            }
            let id = self.hex_id();
            let seed = TerminalSeed {
                id: id.clone(),
                password,
                reseller_id: rid,
                name: r.name.clone().unwrap_or_else(|| ext.clone().unwrap_or_default()),
                single_invoice: true,
                refunds_allowed: self.cfg.refunds_allowed_default,
            };
            self.add_terminal(seed);
            if let Some(t) = self.terminals.get_mut(&id) {
                t.external_id = ext;
            }
            Ok(id)
        })();
        match res {
            Ok(id) => RegisterTerminalResponse { base: ErsResponse::success(), terminal_id: Some(id) },
            Err(c) => RegisterTerminalResponse { base: ErsResponse::new(c), terminal_id: None },
        }
    }

    fn unregister_terminal(&mut self, r: UnregisterTerminalRequest) -> ErsResponse {
        let tid = match self.auth_terminal(r.context.as_ref()) {
            Ok(t) => t,
            Err(c) => return ErsResponse::new(c),
        };
        for inv in self.invoices.values_mut() {
            if inv.terminal_id == tid && inv.is_open() && !inv.paying {
                inv.bump(InvoiceStatus::Canceled);
            }
        }
        if let Some(t) = self.terminals.get_mut(&tid) {
            t.active = false;
            if let Some(s) = t.seqr_id.take() {
                self.seqr_ids.remove(&s);
            }
        }
        ErsResponse::success()
    }

    fn assign_seqr_id(&mut self, r: AssignSeqrIdRequest) -> ErsResponse {
        let res = (|| {
            let tid = self.auth_terminal(r.context.as_ref())?;
            let sid = r.seqr_id.as_deref().map(str::trim).unwrap_or_default().to_owned();
            if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ResultCode::InvalidSeqrId);
            }
            match self.seqr_ids.get(&sid) {
                Some(owner) if *owner != tid => return Err(ResultCode::InvalidSeqrId),
                _ => {}
            }
            if let Some(t) = self.terminals.get_mut(&tid) {
                if let Some(old) = t.seqr_id.replace(sid.clone()) {
                    self.seqr_ids.remove(&old);
                }
            }
            self.seqr_ids.insert(sid, tid);
            Ok(())
        })();
        match res {
            Ok(()) => ErsResponse::success(),
            Err(c) => ErsResponse::new(c),
        }
    }

    fn mark_transaction_period(
        &mut self,
        r: MarkTransactionPeriodRequest,
        now: DateTime<Utc>,
    ) -> MarkTransactionPeriodResponse {
        let res = (|| {
            let rid = self.auth_reseller(r.context.as_ref())?;
            let terminal = r.parameters.as_ref().and_then(|p| p.get("TERMINALID")).map(|s| s.trim().to_owned());
            if let Some(t) = &terminal {
                if self.terminals.get(t).is_none_or(|t| t.seed.reseller_id != rid) {
                    return Err(ResultCode::RejectedBusinessLogic);
                }
            }
            let key = (rid.clone(), terminal.clone());
            let start = self.last_mark.get(&key).copied().unwrap_or(DateTime::<Utc>::MIN_UTC);
            self.last_mark.insert(key, now);
            let id = self.ers_id(now);
            let ready_at = now + self.cfg.report_delay;
            self.periods.insert(
                id.clone(),
                Period { id: id.clone(), reseller_id: rid, terminal_id: terminal, start, end: now, ready_at },
            );
            Ok(id)
        })();
        match res {
            Ok(id) => MarkTransactionPeriodResponse { base: ErsResponse::success(), transaction_period_id: Some(id) },
            Err(c) => MarkTransactionPeriodResponse { base: ErsResponse::new(c), transaction_period_id: None },
        }
    }

    fn execute_report(&mut self, r: ExecuteReportRequest, now: DateTime<Utc>) -> ExecuteReportResponse {
        let res = (|| {
            let rid = self.auth_reseller(r.context.as_ref())?;
            let params = r.parameters.clone().unwrap_or_default();
            let pid = params.get("transactionPeriodId").map(str::trim).unwrap_or_default();
            let period =
                self.periods.get(pid).filter(|p| p.reseller_id == rid).ok_or(ResultCode::InvalidErsReference)?;
            let kind = ReportKind::parse(r.report_id.as_deref().unwrap_or_default())
                .ok_or(ResultCode::RejectedBusinessLogic)?;
            let asked_terminal = params.get("TERMINALID").map(|s| s.trim().to_owned());
            if let Some(t) = &asked_terminal {
                // FAQ: a terminal report is only ever ready for a period marked with that TERMINALID.
                if period.terminal_id.as_ref() != Some(t) {
                    return Err(ResultCode::ReportNotReady);
                }
            }
            if now < period.ready_at {
                return Err(ResultCode::ReportNotReady);
            }
            if kind.per_terminal() && period.terminal_id.is_none() {
                return Err(ResultCode::RejectedBusinessLogic);
            }
            Ok(self.build_report(kind, period, now))
        })();
        match res {
            Ok(report) => ExecuteReportResponse { base: ErsResponse::success(), report: Some(report) },
            Err(c) => ExecuteReportResponse { base: ErsResponse::new(c), report: None },
        }
    }

    fn build_report(&self, kind: ReportKind, period: &Period, now: DateTime<Utc>) -> Report {
        let rows: Vec<&LedgerEntry> = self
            .ledger
            .iter()
            .filter(|l| l.reseller_id == period.reseller_id && l.at > period.start && l.at <= period.end)
            .filter(|l| period.terminal_id.as_ref().is_none_or(|t| *t == l.terminal_id))
            .collect();
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let root = kind.root();
        x.push_str(&format!("<{root}>\n<Meta>\n<ResellerId>{}</ResellerId>\n", esc(&period.reseller_id)));
        if let Some(t) = &period.terminal_id {
            x.push_str(&format!("<TerminalId>{}</TerminalId>\n", esc(t)));
        }
        x.push_str(&format!(
            "<TransactionPeriodId>{}</TransactionPeriodId>\n<GeneratedAt>{}</GeneratedAt>\n</Meta>\n",
            period.id,
            now.format("%Y-%m-%d %H:%M")
        ));
        let summary = |x: &mut String, label: Option<(&str, &str)>, items: &[&LedgerEntry]| {
            let total: Decimal = items.iter().map(|l| l.amount).sum();
            x.push_str("\n<Row>\n");
            if let Some((tag, v)) = label {
                x.push_str(&format!("<{tag}>{}</{tag}>\n", esc(v)));
            }
            x.push_str(&format!(
                "<SalesCount>{}</SalesCount>\n<SalesTotal>{}</SalesTotal>\n</Row>\n",
                items.len(),
                fmt5(total)
            ));
        };
        match kind {
            ReportKind::Shop | ReportKind::TerminalSummary => summary(&mut x, None, &rows),
            ReportKind::ByTerminal | ReportKind::ByCashier => {
                let tag = if kind == ReportKind::ByTerminal { "TerminalId" } else { "CashierId" };
                let mut keys: Vec<String> = Vec::new();
                for l in &rows {
                    let k = if kind == ReportKind::ByTerminal {
                        l.terminal_id.clone()
                    } else {
                        l.cashier_id.clone().unwrap_or_default()
                    };
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                for k in keys {
                    let items: Vec<&LedgerEntry> = rows
                        .iter()
                        .copied()
                        .filter(|l| {
                            if kind == ReportKind::ByTerminal {
                                l.terminal_id == k
                            } else {
                                l.cashier_id.clone().unwrap_or_default() == k
                            }
                        })
                        .collect();
                    summary(&mut x, Some((tag, &k)), &items);
                }
            }
            ReportKind::Details | ReportKind::TerminalDetails => {
                for l in &rows {
                    x.push_str(&format!(
                        "\n<Row>\n<TerminalId>{}</TerminalId>\n<CashierId>{}</CashierId>\n<SalesAmount>{}</SalesAmount>\n<ErsReference>{}</ErsReference>\n</Row>\n",
                        esc(&l.terminal_id),
                        esc(l.cashier_id.as_deref().unwrap_or_default()),
                        fmt5(l.amount),
                        l.ers_reference
                    ));
                }
            }
        }
        x.push_str(&format!("\n</{root}>"));
        let title = match kind {
            ReportKind::Shop => String::new(),
            k => format!("{}_{}.xml", k.std_id(), period.id),
        };
        Report {
            title: Some(title),
            mime_type: Some("text/html".to_owned()),
            content: Some(x.clone().into_bytes()),
            content_string: Some(x),
        }
    }

    // ----- the phone (control API) -----

    fn resolve_code(&self, code: &str) -> Result<String, PhoneError> {
        let c = code.trim();
        let upper = c.to_ascii_uppercase();
        let rest =
            ["HTTP://SEQR.SE/", "HTTPS://SEQR.SE/", "SEQR://SEQR.SE/", "SEQR-DEMO://SEQR.SE/", "SEQR-DEBUG://SEQR.SE/"]
                .iter()
                .find_map(|p| upper.strip_prefix(p).map(|_| &c[p.len()..]));
        match rest {
            None if !c.is_empty() => Ok(c.to_owned()),
            None => Err(PhoneError::BadCode(code.to_owned())),
            Some(r) if r.starts_with(['R', 'r']) => Ok(r[1..].to_owned()),
            Some(q) if q.starts_with(['Q', 'q']) => {
                let tid = self.seqr_ids.get(&q[1..]).ok_or_else(|| PhoneError::UnknownInvoice(code.to_owned()))?;
                // The static sticker shows the terminal's newest open invoice.
                self.invoices
                    .values()
                    .filter(|i| &i.terminal_id == tid && i.is_open())
                    .max_by_key(|i| i.seq)
                    .map(|i| i.reference.clone())
                    .ok_or_else(|| PhoneError::UnknownInvoice(code.to_owned()))
            }
            Some(_) => Err(PhoneError::BadCode(code.to_owned())),
        }
    }

    fn wrong_state(inv: &InvoiceRec, action: &'static str) -> PhoneError {
        PhoneError::WrongState { reference: inv.reference.clone(), status: inv.status.to_string(), action }
    }

    /// The shopper scans the invoice QR (`HTTP://SEQR.SE/R…`), a terminal sticker (`…/Q<seqrId>`) or gives the
    /// reference. Offers loyalty tokens (the card the register sent, else the shopper's remembered card for this
    /// merchant) and blocks on acknowledgment when the mode asks for it.
    pub fn scan(&mut self, code: &str, shopper_id: &str, now: DateTime<Utc>) -> Result<ScanOutcome, PhoneError> {
        self.tick(now);
        let reference = self.resolve_code(code)?;
        let remembered: Vec<CustomerToken> = {
            let inv = self.invoices.get(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?;
            let rid = inv.reseller_id.clone();
            self.shopper_mut(shopper_id);
            let s = &self.shoppers[shopper_id];
            let mut cards: Vec<_> = s.cards.iter().filter(|((r, _), _)| *r == rid).map(|(_, t)| t.clone()).collect();
            cards.sort_by(|a, b| a.id.cmp(&b.id));
            cards
        };
        let ack_default = self.cfg.default_ack_mode.clone();
        let inv = self.invoices.get_mut(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?;
        if inv.status != InvoiceStatus::Issued || inv.paying {
            return Err(Self::wrong_state(inv, "scan"));
        }
        if inv.shopper.as_deref().is_some_and(|s| s != shopper_id) {
            return Err(PhoneError::OtherShopper(reference));
        }
        let first_scan = inv.shopper.is_none();
        inv.shopper = Some(shopper_id.to_owned());
        // One card is offered: the one from the invoice (swiped at the register) wins over the remembered one.
        let offered: Vec<CustomerToken> = match inv.merchant_tokens.first() {
            Some(t) => vec![t.clone()],
            None => {
                remembered.into_iter().take(1).map(|t| CustomerToken { status: TokenStatus::Pending, ..t }).collect()
            }
        };
        let new_token = !offered.is_empty() && offered != inv.customer_tokens;
        if new_token {
            inv.customer_tokens = offered;
        }
        let mode = inv.invoice.acknowledgment_mode.clone().unwrap_or(ack_default);
        let needs_ack = first_scan
            && match mode {
                AcknowledgmentMode::NoAcknowledgment => false,
                AcknowledgmentMode::OptionalAcknowledgment => !inv.customer_tokens.is_empty(),
                _ => true,
            };
        if needs_ack {
            inv.bump(InvoiceStatus::PendingIssuerAcknowledge);
        } else if new_token {
            inv.version += 1;
        }
        Ok(ScanOutcome {
            invoice_reference: reference,
            status: inv.status.to_string(),
            tokens: inv.customer_tokens.iter().map(TokenView::of).collect(),
            awaiting_acknowledgment: inv.status == InvoiceStatus::PendingIssuerAcknowledge,
        })
    }

    /// The shopper opens the payment (PIN entry). Scans first when the app was opened without a scan (in-app).
    pub fn start_payment(&mut self, code: &str, shopper_id: &str, now: DateTime<Utc>) -> Result<String, PhoneError> {
        self.tick(now);
        let reference = self.resolve_code(code)?;
        let scanned =
            self.invoices.get(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?.shopper.clone();
        match scanned {
            None => {
                self.scan(&reference, shopper_id, now)?;
            }
            Some(s) if s != shopper_id => return Err(PhoneError::OtherShopper(reference)),
            Some(_) => {}
        }
        let inv = self.invoices.get_mut(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?;
        if inv.status == InvoiceStatus::PendingIssuerAcknowledge {
            return Err(PhoneError::AwaitingAcknowledgment(reference));
        }
        if inv.status != InvoiceStatus::Issued {
            return Err(Self::wrong_state(inv, "pay"));
        }
        inv.paying = true;
        Ok(reference)
    }

    /// The shopper confirms with the PIN: the invoice becomes PAID (or RESERVED in reservation modes).
    pub fn confirm_payment(&mut self, code: &str, pin: &str, now: DateTime<Utc>) -> Result<PayOutcome, PhoneError> {
        self.tick(now);
        let reference = self.resolve_code(code)?;
        let inv = self.invoices.get(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?;
        if !inv.paying || inv.status != InvoiceStatus::Issued {
            return Err(PhoneError::NothingPending(reference));
        }
        let shopper_id = inv.shopper.clone().unwrap_or_default();
        let expected_pin = self.shopper_mut(&shopper_id).pin.clone();
        if pin != expected_pin {
            return Err(PhoneError::WrongPin);
        }
        let inv = &self.invoices[&reference];
        let reservation = matches!(
            inv.invoice.payment_mode,
            Some(
                PaymentMode::ReservationDesired
                    | PaymentMode::ReservationRequired
                    | PaymentMode::ReservationRequiredPreliminaryAmount
            )
        );
        let (rid, tid, cashier) = (inv.reseller_id.clone(), inv.terminal_id.clone(), inv.invoice.cashier_id.clone());
        let currency = inv.currency().unwrap_or_default().to_owned();
        let total = inv.total().unwrap_or_default();
        // The card the register used (status 1) and the shopper does not remember yet is offered for remembering.
        let used_card = inv.merchant_tokens.iter().find(|t| t.status == TokenStatus::Used).cloned();
        let ers = if reservation { None } else { Some(self.ers_id(now)) };
        let card_offer = used_card.filter(|c| {
            let key = (rid.clone(), c.id.clone().unwrap_or_default());
            self.shoppers.get(&shopper_id).and_then(|s| s.cards.get(&key)).is_none_or(|k| k.value != c.value)
        });
        let default_timeout = self.cfg.default_commit_timeout_secs;
        let inv = self.invoices.get_mut(&reference).expect("checked above");
        inv.paying = false;
        inv.back_url_opened = inv.invoice.back_url.clone();
        let status = if reservation {
            inv.reserved_amount = Some(total);
            let secs = inv.invoice.commit_reservation_timeout.filter(|s| *s > 0).unwrap_or(default_timeout);
            inv.reservation_deadline = Some(now + Duration::seconds(secs.min(MAX_RESERVATION_SECS)));
            inv.bump(InvoiceStatus::Reserved);
            InvoiceStatus::Reserved
        } else {
            inv.ers_reference = ers.clone();
            inv.paid_at = Some(now);
            inv.card_offer = card_offer.clone();
            inv.bump(InvoiceStatus::Paid);
            InvoiceStatus::Paid
        };
        let back_url = inv.back_url_opened.clone();
        if let Some(url) = inv.invoice.notification_url.clone() {
            self.outbox.push(Notification { url, invoice_reference: reference.clone(), status: status.to_string() });
        }
        if let Some(e) = &ers {
            self.record_payment(e, &reference, &rid, &tid, cashier, total, &currency, now);
        }
        Ok(PayOutcome {
            invoice_reference: reference,
            status: status.to_string(),
            ers_reference: ers,
            back_url,
            remember_card_offer: if reservation { None } else { card_offer.as_ref().map(TokenView::of) },
        })
    }

    /// The shopper cancels in the app: CANCELED, and the app opens the backURL.
    pub fn phone_cancel(&mut self, code: &str, now: DateTime<Utc>) -> Result<Option<String>, PhoneError> {
        self.tick(now);
        let reference = self.resolve_code(code)?;
        let inv = self.invoices.get_mut(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?;
        if !inv.is_open() {
            return Err(Self::wrong_state(inv, "cancel"));
        }
        inv.paying = false;
        inv.back_url_opened = inv.invoice.back_url.clone();
        inv.bump(InvoiceStatus::Canceled);
        Ok(inv.back_url_opened.clone())
    }

    /// The payment fails (e.g. the bank declines): FAILED.
    pub fn phone_fail(&mut self, code: &str, now: DateTime<Utc>) -> Result<(), PhoneError> {
        self.tick(now);
        let reference = self.resolve_code(code)?;
        let inv = self.invoices.get_mut(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?;
        if !inv.is_open() {
            return Err(Self::wrong_state(inv, "fail"));
        }
        inv.paying = false;
        inv.bump(InvoiceStatus::Failed);
        Ok(())
    }

    /// Answers the app's "remember card?" question after a payment with a card from the register.
    pub fn remember_card(
        &mut self,
        code: &str,
        remember: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenView>, PhoneError> {
        self.tick(now);
        let reference = self.resolve_code(code)?;
        let inv = self.invoices.get_mut(&reference).ok_or_else(|| PhoneError::UnknownInvoice(reference.clone()))?;
        let offer = inv.card_offer.take().ok_or_else(|| PhoneError::NothingPending(reference.clone()))?;
        let (rid, shopper) = (inv.reseller_id.clone(), inv.shopper.clone().unwrap_or_default());
        if !remember {
            return Ok(None);
        }
        let card = CustomerToken { status: TokenStatus::Pending, ..offer };
        let view = TokenView::of(&card);
        self.shopper_mut(&shopper).cards.insert((rid, card.id.clone().unwrap_or_default()), card);
        Ok(Some(view))
    }

    /// Adds a loyalty card to a shopper's account for a merchant (reseller) directly ("loyalty account in phone").
    pub fn attach_card(&mut self, shopper_id: &str, reseller_id: &str, card: TokenView) {
        let token = CustomerToken {
            description: card.description,
            id: card.id,
            status: TokenStatus::Pending,
            value: card.value,
        };
        self.shopper_mut(shopper_id)
            .cards
            .insert((reseller_id.to_owned(), token.id.clone().unwrap_or_default()), token);
    }

    /// The cards a shopper remembers, as (reseller id, card).
    pub fn shopper_cards(&self, shopper_id: &str) -> Vec<(String, TokenView)> {
        let mut v: Vec<_> = self
            .shoppers
            .get(shopper_id)
            .map(|s| s.cards.iter().map(|((r, _), t)| (r.clone(), TokenView::of(t))).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| (&a.0, &a.1.id).cmp(&(&b.0, &b.1.id)));
        v
    }

    /// The receipts submitted for an ERS reference.
    pub fn receipts(&self, ers_reference: &str) -> Option<&[ReceiptDocument]> {
        self.payments.get(ers_reference).map(|p| p.receipts.as_slice())
    }

    /// A view of one invoice (by reference or QR code).
    pub fn invoice(&self, code: &str) -> Option<InvoiceView> {
        let reference = self.resolve_code(code).ok()?;
        let inv = self.invoices.get(&reference)?;
        Some(InvoiceView {
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
    pub fn invoices(&self, terminal_id: Option<&str>) -> Vec<InvoiceView> {
        let mut v: Vec<&InvoiceRec> =
            self.invoices.values().filter(|i| terminal_id.is_none_or(|t| t == i.terminal_id)).collect();
        v.sort_by_key(|i| i.seq);
        v.into_iter().filter_map(|i| self.invoice(&i.reference)).collect()
    }

    /// The terminal ids (active ones), sorted.
    pub fn terminal_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.terminals.values().filter(|t| t.active).map(|t| t.seed.id.clone()).collect();
        v.sort();
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportKind {
    Shop,
    ByTerminal,
    Details,
    ByCashier,
    TerminalSummary,
    TerminalDetails,
}

impl ReportKind {
    fn parse(id: &str) -> Option<ReportKind> {
        let id = id.trim();
        let id = id.strip_prefix("Reconciliation/").unwrap_or(id);
        let id = id.strip_suffix(".xml").unwrap_or(id);
        Some(match id {
            "Shop" | "STD_RECON_001" => ReportKind::Shop,
            "STD_RECON_002" => ReportKind::ByTerminal,
            "STD_RECON_003" => ReportKind::Details,
            "STD_RECON_004" => ReportKind::ByCashier,
            "STD_RECON_006" => ReportKind::TerminalSummary,
            "STD_RECON_007" => ReportKind::TerminalDetails,
            _ => return None,
        })
    }

    fn std_id(self) -> &'static str {
        match self {
            ReportKind::Shop => "STD_RECON_001",
            ReportKind::ByTerminal => "STD_RECON_002",
            ReportKind::Details => "STD_RECON_003",
            ReportKind::ByCashier => "STD_RECON_004",
            ReportKind::TerminalSummary => "STD_RECON_006",
            ReportKind::TerminalDetails => "STD_RECON_007",
        }
    }

    fn root(self) -> &'static str {
        match self {
            ReportKind::Shop => "ResellerTransactionSummary",
            ReportKind::ByTerminal | ReportKind::TerminalSummary => "TerminalTransactionSummary",
            ReportKind::ByCashier => "CashierTransactionSummary",
            ReportKind::Details | ReportKind::TerminalDetails => "TransactionDetails",
        }
    }

    fn per_terminal(self) -> bool {
        matches!(self, ReportKind::TerminalSummary | ReportKind::TerminalDetails)
    }
}

fn fmt5(d: Decimal) -> String {
    let mut x = d.round_dp(5);
    x.rescale(5);
    x.to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `now` as an `xs:dateTime` with a `+00:00` offset and milliseconds, as SEQR sends.
fn xs_now(t: DateTime<Utc>) -> XsDateTime {
    let off = FixedOffset::east_opt(0).expect("zero offset is valid");
    XsDateTime { datetime: t.naive_utc(), offset: Some(off) }
}

#[cfg(test)]
mod tests;
