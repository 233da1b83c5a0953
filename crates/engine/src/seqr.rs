//! The seam between the domain and SEQR: a recorded call request becomes a seqr-wire request signed with the
//! terminal's credentials; SEQR's answer becomes a domain call outcome or an observed status.

use chrono::{DateTime, Utc};
use domain::{CallOutcome, CallRequest, CallSuccess, CustomerToken, Invoice, InvoiceRow, Money, Payment, SeqrStatus};
use seqr_client::{CallError, Credentials};
use seqr_wire as wire;

/// The `clientId` seqrd sends in every context.
pub(crate) const CLIENT_ID: &str = concat!("seqrd ", env!("CARGO_PKG_VERSION"));

/// The wire request for a recorded call. `notification_url` replaces the invoice's own (seqrd forwards to it).
pub(crate) fn wire_request(
    request: &CallRequest,
    creds: &Credentials,
    notification_url: Option<&str>,
) -> wire::Request {
    // The call id as clientReference: SEQR support can find the call from seqrd's events.
    let reference = request.call_id().0.simple().to_string();
    let context = Some(creds.context(CLIENT_ID, Some(&reference)));
    match request {
        CallRequest::SendInvoice(r) => wire::Request::SendInvoice(wire::SendInvoiceRequest {
            context,
            invoice: Some(wire_invoice(&r.invoice, notification_url)),
            tokens: r.tokens.iter().map(wire_token).collect(),
        }),
        CallRequest::UpdateInvoice(r) => wire::Request::UpdateInvoice(wire::UpdateInvoiceRequest {
            context,
            invoice_reference: Some(r.invoice_reference.clone()),
            invoice: Some(wire_invoice(&r.invoice, notification_url)),
            tokens: r.tokens.iter().map(wire_token).collect(),
        }),
        CallRequest::CommitReservation(r) => wire::Request::CommitReservation(wire::CommitReservationRequest {
            context,
            amount: Some(wire_amount(&r.amount)),
            invoice_reference: Some(r.invoice_reference.clone()),
        }),
        CallRequest::CancelInvoice(r) => wire::Request::CancelInvoice(wire::CancelInvoiceRequest {
            context,
            invoice_reference: Some(r.invoice_reference.clone()),
        }),
        CallRequest::RefundPayment(r) => wire::Request::RefundPayment(wire::RefundPaymentRequest {
            context,
            ers_reference: Some(r.ers_reference.clone()),
            invoice: Some(wire::Invoice {
                title: r.title.clone(),
                invoice_rows: r.rows.iter().map(wire_row).collect(),
                total_amount: Some(wire_amount(&r.amount)),
                ..wire::Invoice::default()
            }),
        }),
        CallRequest::SubmitPaymentReceipt(r) => {
            wire::Request::SubmitPaymentReceipt(wire::SubmitPaymentReceiptRequest {
                context,
                ers_reference: Some(r.ers_reference.clone()),
                receipt_document: Some(wire::ReceiptDocument {
                    mime_type: Some(r.document.mime_type.clone()),
                    receipt_data: Some(r.document.data.clone()),
                    receipt_type: Some(
                        serde_json::to_value(r.document.receipt_type)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_else(|| "OTHER".to_owned()),
                    ),
                }),
            })
        }
    }
}

/// The domain outcome of a performed call.
pub(crate) fn outcome(request: &CallRequest, result: Result<wire::Response, CallError>) -> CallOutcome {
    match result {
        Ok(response) => CallOutcome::Succeeded { result: success(request, &response) },
        Err(CallError::ResultCode { code, description, .. }) => CallOutcome::Rejected {
            result_code: code.code(),
            description: description.unwrap_or_else(|| code.description()),
        },
        Err(e) if e.outcome_unknown() => CallOutcome::Unknown { reason: e.to_string() },
        // Definitely not done without an in-band code (connection refused, 4xx, client fault): recorded as a
        // rejection with code -1 so the state can move on; the description says what happened.
        Err(e) => CallOutcome::Rejected { result_code: -1, description: e.to_string() },
    }
}

/// The getPaymentStatus request for an invoice, echoing the version seqrd last saw (SEQR reverses a PAID that is
/// not fetched in time, and the echo is how it knows the status was fetched).
pub(crate) fn status_request(creds: &Credentials, reference: String, version: i32) -> wire::Request {
    wire::Request::GetPaymentStatus(wire::GetPaymentStatusRequest {
        context: Some(creds.context(CLIENT_ID, None)),
        invoice_reference: Some(reference),
        invoice_version: version,
    })
}

/// What a getPaymentStatus call told.
pub(crate) enum StatusAnswer {
    /// A status this build understands.
    Observed(Observation),
    /// No usable answer this time (the call failed, or SEQR sent a status this build does not know); the next
    /// round asks again.
    Nothing(String),
}

/// Classifies a getPaymentStatus result.
pub(crate) fn status_answer(result: Result<wire::Response, CallError>, fallback_amount: Option<Money>) -> StatusAnswer {
    match result {
        Ok(wire::Response::GetPaymentStatus(r)) => match observation(&r, fallback_amount) {
            Some(obs) => StatusAnswer::Observed(obs),
            None => StatusAnswer::Nothing(format!("unknown status from SEQR: {:?}", r.status)),
        },
        Ok(_) => StatusAnswer::Nothing("unexpected answer to getPaymentStatus".to_owned()),
        Err(e) => StatusAnswer::Nothing(format!("getPaymentStatus failed: {e}")),
    }
}

/// How a repeated call that cannot move money (cancel, update, receipt) settles its unknown outcome; `None` when
/// the repetition itself failed without an answer (tried again next round).
pub(crate) fn repeat_resolution(
    kind: domain::CallKind,
    result: Result<wire::Response, CallError>,
) -> Result<(domain::Resolution, domain::Evidence), CallError> {
    use domain::{Evidence, Resolution};
    match result {
        Ok(r) => Ok((
            Resolution::Succeeded { result: CallSuccess::Done },
            Evidence::ProviderResult {
                result_code: 0,
                description: r.base().result_description.clone().unwrap_or_default(),
            },
        )),
        // Canceling again answers 95 when the first cancel went through.
        Err(CallError::ResultCode { code: wire::ResultCode::InvoiceAlreadyCanceled, description, .. })
            if kind == domain::CallKind::CancelInvoice =>
        {
            Ok((
                Resolution::Succeeded { result: CallSuccess::Done },
                Evidence::ProviderResult { result_code: 95, description: description.unwrap_or_default() },
            ))
        }
        Err(CallError::ResultCode { code, description, .. }) => Ok((
            Resolution::NotDone,
            Evidence::ProviderResult { result_code: code.code(), description: description.unwrap_or_default() },
        )),
        Err(e) => Err(e),
    }
}

/// Whether SEQR refused the credentials themselves (a cached copy of them must not be used again).
pub(crate) fn credentials_refused(result: &Result<wire::Response, CallError>) -> bool {
    matches!(
        result,
        Err(CallError::ResultCode {
            code: wire::ResultCode::AuthenticationFailed | wire::ResultCode::AccessDenied,
            ..
        })
    )
}

fn success(request: &CallRequest, response: &wire::Response) -> CallSuccess {
    match (request, response) {
        (CallRequest::SendInvoice(_), wire::Response::SendInvoice(r)) => {
            let invoice_reference = r.invoice_reference.clone().unwrap_or_default();
            let qr_code = r.invoice_qr_code.clone().unwrap_or_else(|| format!("HTTP://SEQR.SE/R{invoice_reference}"));
            CallSuccess::InvoiceSent { invoice_reference, qr_code }
        }
        (CallRequest::RefundPayment(_), r) => CallSuccess::Refunded { ers_reference: r.base().ers_reference.clone() },
        _ => CallSuccess::Done,
    }
}

/// What a getPaymentStatus answer says, as a domain observation.
pub(crate) struct Observation {
    pub(crate) status: SeqrStatus,
    pub(crate) version: i32,
    pub(crate) tokens: Vec<CustomerToken>,
    pub(crate) payment: Option<Payment>,
}

/// Reads a getPaymentStatus response. `None` when SEQR sent a status this build does not know.
pub(crate) fn observation(r: &wire::PaymentStatusResponse, fallback_amount: Option<Money>) -> Option<Observation> {
    let status = match r.status.as_ref()? {
        wire::InvoiceStatus::Issued => SeqrStatus::Issued,
        wire::InvoiceStatus::PendingIssuerAcknowledge => SeqrStatus::PendingIssuerAcknowledge,
        wire::InvoiceStatus::Paid => SeqrStatus::Paid,
        wire::InvoiceStatus::Canceled => SeqrStatus::Canceled,
        wire::InvoiceStatus::Failed => SeqrStatus::Failed,
        wire::InvoiceStatus::Reserved => SeqrStatus::Reserved,
        wire::InvoiceStatus::Expired => SeqrStatus::Expired,
        wire::InvoiceStatus::Unknown(_) => return None,
    };
    let tokens = r
        .customer_tokens
        .iter()
        .filter_map(|t| {
            Some(CustomerToken {
                id: t.id.clone()?,
                value: t.value.clone().unwrap_or_default(),
                description: t.description.clone(),
                status: domain::TokenStatus::from_code(t.status.code())?,
            })
        })
        .collect();
    let payment = if status == SeqrStatus::Paid {
        let receipt = r.receipt.as_ref();
        let amount = receipt
            .and_then(|rc| rc.invoice.as_ref())
            .and_then(|i| i.total_amount.as_ref())
            .and_then(domain_money)
            .or(fallback_amount)?;
        Some(Payment {
            ers_reference: r.base.ers_reference.clone().unwrap_or_default(),
            payment_reference: receipt.and_then(|rc| rc.payment_reference.clone()),
            payment_date: receipt.and_then(|rc| rc.payment_date).map(xs_to_utc),
            payer_terminal_id: receipt.and_then(|rc| rc.payer_terminal_id.clone()),
            amount,
        })
    } else {
        None
    };
    Some(Observation { status, version: r.version, tokens, payment })
}

fn xs_to_utc(t: wire::XsDateTime) -> DateTime<Utc> {
    match t.offset {
        Some(offset) => (t.datetime - offset).and_utc(),
        None => t.datetime.and_utc(),
    }
}

fn domain_money(a: &wire::Amount) -> Option<Money> {
    let currency = domain::Currency::parse(a.currency.as_deref()?).ok()?;
    Money::new(a.value?, currency).ok()
}

fn wire_amount(m: &Money) -> wire::Amount {
    wire::Amount { currency: Some(m.currency().code().to_owned()), value: Some(m.amount()) }
}

fn wire_time(t: DateTime<Utc>) -> wire::XsDateTime {
    wire::XsDateTime { datetime: t.naive_utc(), offset: chrono::FixedOffset::east_opt(0) }
}

fn wire_token(t: &CustomerToken) -> wire::CustomerToken {
    wire::CustomerToken {
        description: t.description.clone(),
        id: Some(t.id.clone()),
        status: wire::TokenStatus::from_code(t.status.code()),
        value: Some(t.value.clone()),
    }
}

fn wire_row(r: &InvoiceRow) -> wire::InvoiceRow {
    wire::InvoiceRow {
        item_description: r.description.clone(),
        item_discount: r.discount.as_ref().map(wire_amount),
        item_ean: r.ean.clone(),
        item_quantity: Some(r.quantity),
        item_sku: r.sku.clone(),
        item_tax_rate: r.tax_rate,
        item_total_amount: Some(wire_amount(&r.total)),
        item_unit: r.unit.clone(),
        item_unit_price: r.unit_price.as_ref().map(wire_amount),
    }
}

fn wire_invoice(i: &Invoice, notification_url: Option<&str>) -> wire::Invoice {
    wire::Invoice {
        payment_mode: Some(wire::PaymentMode::from_wire(i.payment_mode.as_wire())),
        acknowledgment_mode: Some(wire::AcknowledgmentMode::from_wire(i.acknowledgment_mode.as_wire())),
        issue_date: Some(wire_time(i.issue_date)),
        title: i.title.clone(),
        client_invoice_id: i.client_invoice_id.clone(),
        invoice_rows: i.rows.iter().map(wire_row).collect(),
        total_amount: Some(wire_amount(&i.total)),
        cashier_id: i.cashier_id.clone(),
        footer: i.footer.clone(),
        back_url: i.back_url.as_ref().map(|u| u.as_str().to_owned()),
        notification_url: notification_url
            .map(str::to_owned)
            .or_else(|| i.notification_url.as_ref().map(|u| u.as_str().to_owned())),
        commit_reservation_timeout: i.commit_reservation_timeout.map(i64::from),
    }
}
