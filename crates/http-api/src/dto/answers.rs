//! The answers: the invoice view, built from the invoice's folded state (so a caller reads its own writes at once;
//! see [`super::convert`]), and the invoice's events as recorded.

use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::{schema, CustomerToken, Money};

/// `GET /v1/invoices/{id}`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct InvoiceView {
    pub(crate) id: Uuid,
    /// seqrd's status (`sending`, `issued`, `pending_acknowledge`, `reserved`, `committed`, `paid`, `canceled`,
    /// `failed`, `expired`, `send_failed`).
    pub(crate) status: &'static str,
    pub(crate) tenant_id: String,
    pub(crate) merchant_id: String,
    pub(crate) store_id: String,
    pub(crate) terminal_id: String,
    pub(crate) invoice_reference: Option<String>,
    pub(crate) qr_code: Option<String>,
    pub(crate) app_links: Option<AppLinks>,
    pub(crate) seqr_status: Option<SeqrStatus>,
    #[schemars(with = "schema::Int32")]
    pub(crate) invoice_version: i32,
    pub(crate) total: Option<Money>,
    pub(crate) reserved: Option<Money>,
    pub(crate) committed: Option<Money>,
    pub(crate) paid: Option<Money>,
    pub(crate) refunded: Option<Money>,
    pub(crate) refundable: Option<Money>,
    pub(crate) refunds_in_flight: Option<Money>,
    pub(crate) ers_reference: Option<String>,
    pub(crate) refund_references: Vec<String>,
    pub(crate) tokens: Vec<CustomerToken>,
    pub(crate) offered_tokens: Vec<CustomerToken>,
    pub(crate) reservation_deadline: Option<chrono::DateTime<chrono::Utc>>,
    #[schemars(with = "schema::Uint32")]
    pub(crate) receipts_submitted: u32,
    pub(crate) calls: Vec<CallRecord>,
    pub(crate) issued_at: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) updated_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schemars(with = "schema::Uint64")]
    pub(crate) version: u64,
}

/// Links that open the SEQR app on a phone (PROTOCOL §10).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct AppLinks {
    /// Production app: `seqr://SEQR.SE/R<reference>`.
    pub(crate) seqr: String,
    /// Demo app: `seqr-demo://SEQR.SE/R<reference>`.
    pub(crate) seqr_demo: String,
}

/// An invoice status as reported by getPaymentStatus (wire enum `invoiceStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SeqrStatus {
    /// Waiting for payment.
    Issued,
    /// The customer is identified; SEQR waits for the merchant's updateInvoice.
    PendingIssuerAcknowledge,
    /// Paid.
    Paid,
    /// Canceled by the merchant or in the app.
    Canceled,
    /// Payment failed.
    Failed,
    /// The amount is reserved; the merchant must commit.
    Reserved,
    /// Expired (Gen B).
    Expired,
}

/// One call the invoice has made, as tracked by the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub(crate) struct CallRecord {
    /// The call id.
    pub(crate) call_id: Uuid,
    /// The operation.
    pub(crate) kind: CallKind,
    /// When it was requested.
    pub(crate) requested_at: chrono::DateTime<chrono::Utc>,
    /// Where it stands.
    pub(crate) state: CallState,
    /// The money it moves or fixes (commit amount, refund amount), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) amount: Option<Money>,
}

/// Which SEQR operation a call performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallKind {
    /// sendInvoice.
    SendInvoice,
    /// updateInvoice (loyalty acknowledgment, or final rows before a commit).
    UpdateInvoice,
    /// commitReservation.
    CommitReservation,
    /// cancelInvoice.
    CancelInvoice,
    /// refundPayment.
    RefundPayment,
    /// submitPaymentReceipt.
    SubmitPaymentReceipt,
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallState {
    /// Requested; no outcome yet.
    Requested,
    /// Performed with an unknown outcome; awaiting resolution.
    Unknown,
    /// Done.
    Succeeded,
    /// Definitely not done (rejected by SEQR).
    Rejected,
    /// Resolved as not done.
    NotDone,
}

/// `GET /v1/invoices/{id}/events`: the invoice's events, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct EventsView {
    pub(crate) invoice_id: Uuid,
    pub(crate) events: Vec<EventView>,
}

/// One event as recorded.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct EventView {
    pub(crate) id: Uuid,
    /// The event type, e.g. `invoice_issued`.
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    #[schemars(with = "schema::Int32")]
    pub(crate) schema_version: i32,
    /// The invoice's version after this event.
    #[schemars(with = "schema::Int64")]
    pub(crate) version: i64,
    /// The event's place in the whole log.
    #[schemars(with = "schema::Int64")]
    pub(crate) position: i64,
    pub(crate) recorded_at: chrono::DateTime<chrono::Utc>,
    pub(crate) correlation_id: Uuid,
    pub(crate) causation_id: Option<Uuid>,
    /// Who caused it (an API key's id, a worker).
    pub(crate) actor: String,
    /// The event's payload, as stored.
    #[schemars(with = "serde_json::Value")]
    pub(crate) data: Box<serde_json::value::RawValue>,
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

/// `GET /v1/events`: a page of the tenant's event feed.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct EventFeedPage {
    /// The events after the cursor asked for, in the feed's order.
    pub(crate) events: Vec<FeedEnvelope>,
    /// The cursor to read on from (pass it as `after`): after the last event returned, or the one asked for when
    /// none was.
    pub(crate) next: String,
}

/// One event, in the envelope the RabbitMQ messages carry (docs/event-feed.md).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct FeedEnvelope {
    /// The event id: deduplicate on it.
    pub(crate) id: Uuid,
    /// The event type, e.g. `status_observed`.
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    /// The schema version of `data` (schemas/events/).
    #[schemars(with = "schema::Int32")]
    pub(crate) schema_version: i32,
    /// The invoice the event belongs to.
    pub(crate) invoice_id: Uuid,
    /// The event's place in its invoice's stream, from 1.
    #[schemars(with = "schema::Int64")]
    pub(crate) version: i64,
    /// The event's place in the whole log.
    #[schemars(with = "schema::Int64")]
    pub(crate) position: i64,
    pub(crate) tenant_id: String,
    pub(crate) merchant_id: String,
    pub(crate) store_id: Option<String>,
    pub(crate) terminal_id: Option<String>,
    /// When the event was stored.
    pub(crate) recorded_at: chrono::DateTime<chrono::Utc>,
    pub(crate) correlation_id: Option<Uuid>,
    pub(crate) causation_id: Option<Uuid>,
    /// The payload, as stored.
    #[schemars(with = "serde_json::Value")]
    pub(crate) data: Box<serde_json::value::RawValue>,
}

impl FeedEnvelope {
    pub(crate) fn of(e: engine::TenantEvent) -> FeedEnvelope {
        FeedEnvelope {
            id: e.id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            invoice_id: e.invoice_id,
            version: e.version,
            position: e.position,
            tenant_id: e.tenant_id,
            merchant_id: e.merchant_id,
            store_id: e.store_id,
            terminal_id: e.terminal_id,
            recorded_at: e.recorded_at,
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            data: e.data,
        }
    }
}
