//! Time-based transitions (`SeqrState::tick`, run before each SOAP request and phone action): the reversal of PAID
//! invoices the register did not fetch within the reversal window, and the lapse of reservations past their deadline.

use chrono::{DateTime, Utc};
use seqr_wire::InvoiceStatus;

use super::SeqrState;

impl SeqrState {
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
}
