//! The JSON view of an invoice, built from its folded state (so a caller reads its own writes at once).

use domain::{CallRecord, CustomerToken, InvoiceState, Money};
use serde::Serialize;

/// `GET /v1/invoices/{id}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct InvoiceView {
    pub id: uuid::Uuid,
    /// seqrd's status (`sending`, `issued`, `pending_acknowledge`, `reserved`, `committed`, `paid`, `canceled`,
    /// `failed`, `expired`, `send_failed`).
    pub status: &'static str,
    pub tenant_id: String,
    pub merchant_id: String,
    pub store_id: String,
    pub terminal_id: String,
    pub invoice_reference: Option<String>,
    pub qr_code: Option<String>,
    pub app_links: Option<AppLinks>,
    pub seqr_status: Option<domain::SeqrStatus>,
    pub invoice_version: i32,
    pub total: Option<Money>,
    pub reserved: Option<Money>,
    pub committed: Option<Money>,
    pub paid: Option<Money>,
    pub refunded: Option<Money>,
    pub refundable: Option<Money>,
    pub refunds_in_flight: Option<Money>,
    pub ers_reference: Option<String>,
    pub refund_references: Vec<String>,
    pub tokens: Vec<CustomerToken>,
    pub offered_tokens: Vec<CustomerToken>,
    pub reservation_deadline: Option<chrono::DateTime<chrono::Utc>>,
    pub receipts_submitted: u32,
    pub calls: Vec<CallRecord>,
    pub issued_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub version: u64,
}

/// Links that open the SEQR app on a phone (PROTOCOL §10).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct AppLinks {
    /// Production app: `seqr://SEQR.SE/R<reference>`.
    pub seqr: String,
    /// Demo app: `seqr-demo://SEQR.SE/R<reference>`.
    pub seqr_demo: String,
}

impl InvoiceView {
    pub(crate) fn of(state: &InvoiceState) -> Option<InvoiceView> {
        let scope = state.scope()?;
        let qr = state.qr_code().map(str::to_owned);
        let app_links = qr.as_deref().map(|qr| {
            let rest = qr.split_once("://").map_or(qr, |(_, rest)| rest);
            AppLinks { seqr: format!("seqr://{rest}"), seqr_demo: format!("seqr-demo://{rest}") }
        });
        Some(InvoiceView {
            id: state.invoice_id()?.0,
            status: state.status().as_str(),
            tenant_id: scope.tenant.as_str().to_owned(),
            merchant_id: scope.merchant.as_str().to_owned(),
            store_id: scope.store.as_str().to_owned(),
            terminal_id: scope.terminal.as_str().to_owned(),
            invoice_reference: state.invoice_reference().map(str::to_owned),
            qr_code: qr,
            app_links,
            seqr_status: state.seqr_status(),
            invoice_version: state.invoice_version(),
            total: state.total(),
            reserved: state.reserved_amount(),
            committed: state.committed_amount(),
            paid: state.paid_amount(),
            refunded: state.refunded_amount(),
            refundable: state.refundable_amount(),
            refunds_in_flight: state.refunds_in_flight(),
            ers_reference: state.payment().map(|p| p.ers_reference.clone()),
            refund_references: state.refund_references().to_vec(),
            tokens: state.tokens().to_vec(),
            offered_tokens: state.offered_tokens().to_vec(),
            reservation_deadline: state.reservation_deadline(),
            receipts_submitted: state.receipts_submitted(),
            calls: state.calls().cloned().collect(),
            issued_at: state.issued_at(),
            updated_at: state.last_event_at(),
            version: state.version(),
        })
    }
}

/// `GET /v1/invoices/{id}/events`: the invoice's events, in order.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct EventsView {
    pub invoice_id: uuid::Uuid,
    pub events: Vec<EventView>,
}

/// One event as recorded.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct EventView {
    pub id: uuid::Uuid,
    /// The event type, e.g. `invoice_issued`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
    /// The invoice's version after this event.
    pub version: i64,
    /// The event's place in the whole log.
    pub position: i64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub correlation_id: uuid::Uuid,
    pub causation_id: Option<uuid::Uuid>,
    /// Who caused it (an API key's id, a worker).
    pub actor: String,
    /// The event's payload, as stored.
    #[schemars(with = "serde_json::Value")]
    pub data: Box<serde_json::value::RawValue>,
}

impl EventView {
    pub(crate) fn of(e: engine::EventRecord) -> EventView {
        EventView {
            id: e.id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            version: e.version,
            position: e.position,
            recorded_at: e.recorded_at,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            actor: e.actor,
            data: e.data,
        }
    }
}
