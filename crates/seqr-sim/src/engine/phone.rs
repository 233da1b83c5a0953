//! The shopper's phone ("the shopper's app"), driven by the `/sim/` control API: scanning, paying or reserving,
//! cancelling or failing a payment, and the shopper's PIN and remembered loyalty cards.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use seqr_wire::{AcknowledgmentMode, CustomerToken, InvoiceStatus, PaymentMode, TokenStatus};
use serde::Serialize;

use super::{InvoiceRec, Notification, SeqrState, Shopper, TokenView};

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

/// The longest reservation accepted from `commitReservationTimeout` (ten years, in seconds).
const MAX_RESERVATION_SECS: i64 = 10 * 366 * 24 * 3600;

impl SeqrState {
    /// Creates or updates a shopper with this PIN.
    pub fn set_shopper(&mut self, shopper_id: &str, pin: &str) {
        let s = self.shopper_mut(shopper_id);
        s.pin = pin.to_owned();
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

    pub(super) fn resolve_code(&self, code: &str) -> Result<String, PhoneError> {
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
}
