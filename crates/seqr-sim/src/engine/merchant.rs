//! The register's SOAP operations on invoices and payments: sendInvoice, updateInvoice, getPaymentStatus,
//! cancelInvoice, commitReservation, submitPaymentReceipt and refundPayment, with their validation helpers.

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::Decimal;
use seqr_wire::{
    Amount, CancelInvoiceRequest, CommitReservationRequest, ErsResponse, GetPaymentStatusRequest, Invoice,
    InvoiceStatus, PaymentStatusResponse, Receipt, RefundPaymentRequest, ResultCode, SendInvoiceRequest,
    SendInvoiceResponse, SubmitPaymentReceiptRequest, UpdateInvoiceRequest, XsDateTime,
};

use super::{InvoiceRec, Notification, PaymentRec, SeqrState};

const QR_PREFIX: &str = "HTTP://SEQR.SE/R";

/// The largest amount accepted (REJECTED_AMOUNT above it); keeps every sum far from `Decimal`'s range.
const MAX_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

impl SeqrState {
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

    // ----- SOAP operations -----

    pub(super) fn send_invoice(&mut self, r: SendInvoiceRequest, now: DateTime<Utc>) -> SendInvoiceResponse {
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

    pub(super) fn update_invoice(&mut self, r: UpdateInvoiceRequest) -> ErsResponse {
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

    pub(super) fn get_payment_status(
        &mut self,
        r: GetPaymentStatusRequest,
        _now: DateTime<Utc>,
    ) -> PaymentStatusResponse {
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

    pub(super) fn cancel_invoice(&mut self, r: CancelInvoiceRequest) -> ErsResponse {
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

    pub(super) fn commit_reservation(&mut self, r: CommitReservationRequest, now: DateTime<Utc>) -> ErsResponse {
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

    pub(super) fn submit_payment_receipt(&mut self, r: SubmitPaymentReceiptRequest) -> ErsResponse {
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

    pub(super) fn refund_payment(&mut self, r: RefundPaymentRequest, now: DateTime<Utc>) -> ErsResponse {
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
}

/// `now` as an `xs:dateTime` with a `+00:00` offset and milliseconds, as SEQR sends.
fn xs_now(t: DateTime<Utc>) -> XsDateTime {
    let off = FixedOffset::east_opt(0).expect("zero offset is valid");
    XsDateTime { datetime: t.naive_utc(), offset: Some(off) }
}
