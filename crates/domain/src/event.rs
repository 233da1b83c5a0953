//! Events: the facts the invoice aggregate records. Stored as `(event_type, schema_version, data)`.
//!
//! Event JSON is a stability boundary. Changing the shape of an event's data requires bumping its schema
//! version and registering an upcaster from the old version in [`Event::from_stored`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::{CallSuccess, Evidence, Resolution};
use crate::ids::{CallId, InvoiceId, Scope};
use crate::invoice::{CustomerToken, Invoice, InvoiceRow, Payment, ReceiptDocument, SeqrStatus};
use crate::money::Money;

/// Calls `$m!` with every stored event type name and its variant (one list for every decoder).
macro_rules! event_types {
    ($m:ident) => {
        $m! {
            "invoice_issued" => InvoiceIssued,
            "send_invoice_requested" => SendInvoiceRequested,
            "status_observed" => StatusObserved,
            "invoice_update_requested" => InvoiceUpdateRequested,
            "commit_requested" => CommitRequested,
            "cancel_requested" => CancelRequested,
            "refund_requested" => RefundRequested,
            "receipt_submit_requested" => ReceiptSubmitRequested,
            "reservation_expired" => ReservationExpired,
            "call_succeeded" => CallSucceeded,
            "call_rejected" => CallRejected,
            "call_outcome_unknown" => CallOutcomeUnknown,
            "call_resolved" => CallResolved,
        }
    };
}

/// A fact about one invoice. Serialized adjacently tagged: `{"type": "refund_requested", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// `invoice_issued`: the invoice exists, with its scope.
    InvoiceIssued(InvoiceIssued),
    /// `send_invoice_requested`: sendInvoice is to be called.
    SendInvoiceRequested(SendInvoiceRequested),
    /// `status_observed`: getPaymentStatus returned something new.
    StatusObserved(StatusObserved),
    /// `invoice_update_requested`: updateInvoice is to be called.
    InvoiceUpdateRequested(InvoiceUpdateRequested),
    /// `commit_requested`: commitReservation is to be called.
    CommitRequested(CommitRequested),
    /// `cancel_requested`: cancelInvoice is to be called.
    CancelRequested(CancelRequested),
    /// `refund_requested`: refundPayment is to be called.
    RefundRequested(RefundRequested),
    /// `receipt_submit_requested`: submitPaymentReceipt is to be called.
    ReceiptSubmitRequested(ReceiptSubmitRequested),
    /// `reservation_expired`: the commit deadline passed without a commit.
    ReservationExpired(ReservationExpired),
    /// `call_succeeded`: a requested call was done.
    CallSucceeded(CallSucceeded),
    /// `call_rejected`: SEQR refused a requested call; it was not done.
    CallRejected(CallRejected),
    /// `call_outcome_unknown`: a requested call may or may not have been done.
    CallOutcomeUnknown(CallOutcomeUnknown),
    /// `call_resolved`: an unknown call turned out done or not done.
    CallResolved(CallResolved),
}

/// `invoice_issued`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceIssued {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The invoice id.
    pub invoice_id: InvoiceId,
    /// Where the invoice belongs.
    pub scope: Scope,
    /// The invoice as issued.
    pub invoice: Invoice,
    /// Tokens sent along with the invoice.
    #[serde(default)]
    pub tokens: Vec<CustomerToken>,
}

/// `send_invoice_requested`: the exact sendInvoice parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SendInvoiceRequested {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// The invoice to send.
    pub invoice: Invoice,
    /// The tokens to send.
    #[serde(default)]
    pub tokens: Vec<CustomerToken>,
}

/// `status_observed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusObserved {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The status.
    pub status: SeqrStatus,
    /// The invoice version SEQR returned.
    pub invoice_version: i32,
    /// Customer tokens SEQR offered.
    #[serde(default)]
    pub customer_tokens: Vec<CustomerToken>,
    /// Payment details (PAID only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
}

/// `invoice_update_requested`: the exact updateInvoice parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceUpdateRequested {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// SEQR's invoice reference.
    pub invoice_reference: String,
    /// The complete invoice as it will be after the update.
    pub invoice: Invoice,
    /// The tokens with the merchant's verdict.
    #[serde(default)]
    pub tokens: Vec<CustomerToken>,
}

/// `commit_requested`: the exact commitReservation parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommitRequested {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// SEQR's invoice reference.
    pub invoice_reference: String,
    /// The final amount.
    pub amount: Money,
}

/// `cancel_requested`: the exact cancelInvoice parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CancelRequested {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// SEQR's invoice reference.
    pub invoice_reference: String,
}

/// `refund_requested`: the exact refundPayment parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundRequested {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// The payment's ERS reference.
    pub ers_reference: String,
    /// The amount to refund (the refund invoice's total).
    pub amount: Money,
    /// The refund invoice's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The refunded rows.
    #[serde(default)]
    pub rows: Vec<InvoiceRow>,
}

/// `receipt_submit_requested`: the exact submitPaymentReceipt parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReceiptSubmitRequested {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// The ERS reference of the payment or refund the receipt is for.
    pub ers_reference: String,
    /// The document.
    pub document: ReceiptDocument,
}

/// `reservation_expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReservationExpired {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The deadline that passed.
    pub deadline: DateTime<Utc>,
}

/// `call_succeeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallSucceeded {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// What SEQR returned.
    pub result: CallSuccess,
}

/// `call_rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallRejected {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// The SEQR result code.
    pub result_code: i32,
    /// The SEQR result description.
    pub description: String,
}

/// `call_outcome_unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallOutcomeUnknown {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// What went wrong.
    pub reason: String,
}

/// `call_resolved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallResolved {
    /// Business time.
    pub at: DateTime<Utc>,
    /// The call id.
    pub call_id: CallId,
    /// How it turned out.
    pub resolution: Resolution,
    /// Why we believe so.
    pub evidence: Evidence,
}

/// Why stored event data could not be turned into an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum UpcastError {
    /// No event has this type name.
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    /// The type is known but no upcaster handles this schema version.
    #[error("unsupported schema version {version} for event type {event_type:?}")]
    UnsupportedVersion {
        /// The event type.
        event_type: String,
        /// The stored schema version.
        version: u16,
    },
    /// The data does not have the shape of its type and version.
    #[error("malformed {event_type:?} v{version} data: {source}")]
    Malformed {
        /// The event type.
        event_type: String,
        /// The stored schema version.
        version: u16,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl UpcastError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            UpcastError::UnknownEventType(_) => "unknown_event_type",
            UpcastError::UnsupportedVersion { .. } => "unsupported_schema_version",
            UpcastError::Malformed { .. } => "malformed_event_data",
        }
    }
}

/// One step of the upcaster chain: turns data of `(event_type, from)` into data of version `from + 1`.
type Upcaster = fn(serde_json::Value) -> Result<serde_json::Value, String>;

/// The upcaster registry. Each entry lifts one event type's data by one schema version; `from_stored`
/// applies entries until the current version is reached.
///
/// The pattern, shown by the one entry: `status_observed` v0 was the draft shape from the first prototype
/// (before any production data), which stored the SEQR answer's names as-is: `version` (not
/// `invoice_version`) and `tokens` (not `customer_tokens`), and no `payment`. Adding a new version of an
/// event means: bump its number in [`Event::schema_version`], add an entry `(type, old, fn)` here, and add
/// a test that feeds stored old data through [`Event::from_stored`].
const UPCASTERS: &[(&str, u16, Upcaster)] = &[("status_observed", 0, status_observed_v0_to_v1)];

fn status_observed_v0_to_v1(mut data: serde_json::Value) -> Result<serde_json::Value, String> {
    let obj = data.as_object_mut().ok_or_else(|| "expected an object".to_owned())?;
    let version = obj.remove("version").ok_or_else(|| "missing field `version`".to_owned())?;
    obj.insert("invoice_version".to_owned(), version);
    let tokens = obj.remove("tokens").unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
    obj.insert("customer_tokens".to_owned(), tokens);
    Ok(data)
}

/// Every event type name, in declaration order.
pub const EVENT_TYPES: &[&str] = {
    macro_rules! names {
        ($($name:literal => $variant:ident,)*) => {
            &[$($name,)*]
        };
    }
    event_types!(names)
};

impl Event {
    /// The stable snake_case event type name (also the serde tag).
    pub fn event_type(&self) -> &'static str {
        let event = self;
        macro_rules! name_of {
            ($($name:literal => $variant:ident,)*) => {
                match event {
                    $(Event::$variant(_) => $name,)*
                }
            };
        }
        event_types!(name_of)
    }

    /// The JSON Schema of the stored event envelope `{"type": ..., "data": ...}` (all types).
    pub fn json_schema() -> schemars::schema::RootSchema {
        schemars::schema_for!(Event)
    }

    /// The current schema version of an event type (1 for every type today; 0 for unknown names).
    pub fn schema_version(event_type: &str) -> u16 {
        if EVENT_TYPES.contains(&event_type) {
            1
        } else {
            0
        }
    }

    /// The business time of the event.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Event::InvoiceIssued(e) => e.at,
            Event::SendInvoiceRequested(e) => e.at,
            Event::StatusObserved(e) => e.at,
            Event::InvoiceUpdateRequested(e) => e.at,
            Event::CommitRequested(e) => e.at,
            Event::CancelRequested(e) => e.at,
            Event::RefundRequested(e) => e.at,
            Event::ReceiptSubmitRequested(e) => e.at,
            Event::ReservationExpired(e) => e.at,
            Event::CallSucceeded(e) => e.at,
            Event::CallRejected(e) => e.at,
            Event::CallOutcomeUnknown(e) => e.at,
            Event::CallResolved(e) => e.at,
        }
    }

    /// The call this event requests or settles, if any.
    pub fn call_id(&self) -> Option<CallId> {
        match self {
            Event::SendInvoiceRequested(e) => Some(e.call_id),
            Event::InvoiceUpdateRequested(e) => Some(e.call_id),
            Event::CommitRequested(e) => Some(e.call_id),
            Event::CancelRequested(e) => Some(e.call_id),
            Event::RefundRequested(e) => Some(e.call_id),
            Event::ReceiptSubmitRequested(e) => Some(e.call_id),
            Event::CallSucceeded(e) => Some(e.call_id),
            Event::CallRejected(e) => Some(e.call_id),
            Event::CallOutcomeUnknown(e) => Some(e.call_id),
            Event::CallResolved(e) => Some(e.call_id),
            Event::InvoiceIssued(_) | Event::StatusObserved(_) | Event::ReservationExpired(_) => None,
        }
    }

    /// The data part to store next to `event_type()` and `schema_version(event_type())`.
    pub fn to_data(&self) -> serde_json::Value {
        let mut tagged = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        tagged.get_mut("data").map(serde_json::Value::take).unwrap_or(serde_json::Value::Null)
    }

    /// [`Event::from_stored`] from the stored JSON text. A current-version payload is deserialized straight into
    /// its type (no intermediate `serde_json::Value`); an older one goes through the upcasters.
    pub fn from_stored_json(event_type: &str, schema_version: u16, json: &str) -> Result<Event, UpcastError> {
        let current = Event::schema_version(event_type);
        if current == 0 || schema_version != current {
            let value = serde_json::from_str(json).map_err(|source| UpcastError::Malformed {
                event_type: event_type.to_owned(),
                version: schema_version,
                source,
            })?;
            return Event::from_stored(event_type, schema_version, value);
        }
        let malformed =
            |source| UpcastError::Malformed { event_type: event_type.to_owned(), version: schema_version, source };
        let mut json = serde_json::Deserializer::from_str(json);
        let event = payload(event_type, &mut json)
            .ok_or_else(|| UpcastError::UnknownEventType(event_type.to_owned()))?
            .map_err(malformed)?;
        json.end().map_err(malformed)?;
        Ok(event)
    }

    /// Rebuilds an event from stored `(event_type, schema_version, data)`, upcasting old versions through the
    /// registry first.
    pub fn from_stored(event_type: &str, schema_version: u16, data: serde_json::Value) -> Result<Event, UpcastError> {
        let current = Event::schema_version(event_type);
        if current == 0 {
            return Err(UpcastError::UnknownEventType(event_type.to_owned()));
        }
        if schema_version > current {
            return Err(UpcastError::UnsupportedVersion { event_type: event_type.to_owned(), version: schema_version });
        }
        let mut data = data;
        let mut version = schema_version;
        while version < current {
            let step = UPCASTERS.iter().find(|(t, from, _)| *t == event_type && *from == version).ok_or_else(|| {
                UpcastError::UnsupportedVersion { event_type: event_type.to_owned(), version: schema_version }
            })?;
            data = (step.2)(data).map_err(|msg| UpcastError::Malformed {
                event_type: event_type.to_owned(),
                version,
                source: <serde_json::Error as serde::de::Error>::custom(msg),
            })?;
            version += 1;
        }
        // Straight into the variant's payload type: no re-tagging, no buffering of an adjacently tagged enum.
        let malformed =
            |source| UpcastError::Malformed { event_type: event_type.to_owned(), version: schema_version, source };
        payload(event_type, data)
            .ok_or_else(|| UpcastError::UnknownEventType(event_type.to_owned()))?
            .map_err(malformed)
    }
}

/// Deserializes a current-version payload of `event_type` into its variant, from any serde source (stored text,
/// or a value that went through the upcasters). `None` for an unknown event type.
fn payload<'de, D: serde::Deserializer<'de>>(event_type: &str, data: D) -> Option<Result<Event, D::Error>> {
    macro_rules! payload {
        ($($name:literal => $variant:ident,)*) => {
            match event_type {
                $($name => Some(serde::Deserialize::deserialize(data).map(Event::$variant)),)*
                _ => None,
            }
        };
    }
    event_types!(payload)
}

/// The parameters of a requested call, exactly as recorded by its `*_requested` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallRequest {
    /// sendInvoice.
    SendInvoice(SendInvoiceRequested),
    /// updateInvoice.
    UpdateInvoice(InvoiceUpdateRequested),
    /// commitReservation.
    CommitReservation(CommitRequested),
    /// cancelInvoice.
    CancelInvoice(CancelRequested),
    /// refundPayment.
    RefundPayment(RefundRequested),
    /// submitPaymentReceipt.
    SubmitPaymentReceipt(ReceiptSubmitRequested),
}

impl CallRequest {
    /// The call's kind.
    pub fn kind(&self) -> crate::call::CallKind {
        use crate::call::CallKind;
        match self {
            CallRequest::SendInvoice(_) => CallKind::SendInvoice,
            CallRequest::UpdateInvoice(_) => CallKind::UpdateInvoice,
            CallRequest::CommitReservation(_) => CallKind::CommitReservation,
            CallRequest::CancelInvoice(_) => CallKind::CancelInvoice,
            CallRequest::RefundPayment(_) => CallKind::RefundPayment,
            CallRequest::SubmitPaymentReceipt(_) => CallKind::SubmitPaymentReceipt,
        }
    }

    /// The call id.
    pub fn call_id(&self) -> CallId {
        match self {
            CallRequest::SendInvoice(e) => e.call_id,
            CallRequest::UpdateInvoice(e) => e.call_id,
            CallRequest::CommitReservation(e) => e.call_id,
            CallRequest::CancelInvoice(e) => e.call_id,
            CallRequest::RefundPayment(e) => e.call_id,
            CallRequest::SubmitPaymentReceipt(e) => e.call_id,
        }
    }

    /// The money the call moves or fixes (commit or refund amount).
    pub fn amount(&self) -> Option<Money> {
        match self {
            CallRequest::CommitReservation(e) => Some(e.amount),
            CallRequest::RefundPayment(e) => Some(e.amount),
            _ => None,
        }
    }

    /// The `*_requested` event for this request.
    pub fn to_event(&self) -> Event {
        match self.clone() {
            CallRequest::SendInvoice(e) => Event::SendInvoiceRequested(e),
            CallRequest::UpdateInvoice(e) => Event::InvoiceUpdateRequested(e),
            CallRequest::CommitReservation(e) => Event::CommitRequested(e),
            CallRequest::CancelInvoice(e) => Event::CancelRequested(e),
            CallRequest::RefundPayment(e) => Event::RefundRequested(e),
            CallRequest::SubmitPaymentReceipt(e) => Event::ReceiptSubmitRequested(e),
        }
    }
}

impl Event {
    /// The call request this event records, if it is a `*_requested` event.
    pub fn as_call_request(&self) -> Option<CallRequest> {
        match self.clone() {
            Event::SendInvoiceRequested(e) => Some(CallRequest::SendInvoice(e)),
            Event::InvoiceUpdateRequested(e) => Some(CallRequest::UpdateInvoice(e)),
            Event::CommitRequested(e) => Some(CallRequest::CommitReservation(e)),
            Event::CancelRequested(e) => Some(CallRequest::CancelInvoice(e)),
            Event::RefundRequested(e) => Some(CallRequest::RefundPayment(e)),
            Event::ReceiptSubmitRequested(e) => Some(CallRequest::SubmitPaymentReceipt(e)),
            _ => None,
        }
    }
}
