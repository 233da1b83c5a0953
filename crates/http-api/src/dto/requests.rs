//! The request bodies, as a caller writes them. The body parser (`crate::body`) reads a body into one of these
//! (refusing duplicate keys and fields defined nowhere here), then [`super::convert`] makes the engine's command
//! of it, refusing what the domain refuses (an amount, a currency, a URL, base64).
//!
//! A body is closed at its top (`deny_unknown_fields`: serde names the field); the objects inside it are closed by
//! the parser, which names the field's whole path.
//!
//! The objects inside a body are also `Serialize`, as the caller writes them (optional fields left out): schemars
//! publishes a field's default as its type serializes it (`rows` defaults to `[]`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{schema, CustomerToken, Money};
use crate::extract::CommandBody;

/// `POST /v1/invoices`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    /// The register (as registered in seqrd) the invoice is shown at.
    #[schemars(with = "schema::TerminalId")]
    pub(crate) terminal_id: String,
    #[schemars(schema_with = "issued_invoice_schema")]
    pub(crate) invoice: Invoice,
    /// Tokens sent along, e.g. a loyalty card swiped before the shopper scanned.
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TOKENS"))]
    pub(crate) tokens: Vec<CustomerToken>,
}

/// `POST /v1/invoices/{id}/loyalty`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoyaltyBody {
    #[schemars(length(max = "domain::text::max::ROWS"))]
    pub(crate) rows: Vec<InvoiceRow>,
    pub(crate) total: Money,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TOKENS"))]
    pub(crate) tokens: Vec<CustomerToken>,
}

/// `POST /v1/invoices/{id}/commit`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitBody {
    pub(crate) amount: Money,
}

/// `POST /v1/invoices/{id}/cancel`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelBody {}

/// `POST /v1/invoices/{id}/refunds`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundBody {
    pub(crate) amount: Money,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::TITLE"))]
    pub(crate) title: Option<String>,
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::ROWS"))]
    pub(crate) rows: Vec<InvoiceRow>,
}

/// `POST /v1/invoices/{id}/receipt`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiptBody {
    pub(crate) document: ReceiptDocument,
    /// A refund's ERS reference; the payment's when absent.
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::ID"))]
    pub(crate) ers_reference: Option<String>,
}

/// How an unknown call ended, as finance found it.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ResolveOutcome {
    /// SEQR did it.
    Succeeded,
    /// SEQR did not do it.
    NotDone,
}

/// `POST /v1/invoices/{id}/calls/{call_id}/resolve`: finance settles an unknown call (e.g. a refund) after
/// checking SEQR's reconciliation reports.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    /// `succeeded` or `not_done`.
    pub(crate) outcome: ResolveOutcome,
    #[serde(default)]
    pub(crate) ers_reference: Option<String>,
    #[schemars(length(max = "domain::text::max::NOTE"))]
    pub(crate) note: String,
}

/// The invoice as sent to SEQR with sendInvoice.
///
/// Every money field must be in the currency of `total`, and `total` must be positive.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Invoice {
    /// How SEQR takes the money.
    pub(crate) payment_mode: PaymentMode,
    /// Whether SEQR waits for the merchant's acknowledgment.
    pub(crate) acknowledgment_mode: AcknowledgmentMode,
    /// Seconds the merchant has to commit a reservation. Required (and non-zero) for
    /// RESERVATION_REQUIRED_PRELIMINARY_AMOUNT; also used as the reservation deadline of other reservation modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<schema::Uint32>")]
    pub(crate) commit_reservation_timeout: Option<u32>,
    /// The issue date shown on the bill.
    pub(crate) issue_date: DateTime<Utc>,
    /// The bill title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::TITLE"))]
    pub(crate) title: Option<String>,
    /// The merchant's own invoice or order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::ID"))]
    pub(crate) client_invoice_id: Option<String>,
    /// The cashier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::ID"))]
    pub(crate) cashier_id: Option<String>,
    /// Footer shown on the receipt in the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::FOOTER"))]
    pub(crate) footer: Option<String>,
    /// The rows.
    #[serde(default)]
    #[schemars(length(max = "domain::text::max::ROWS"))]
    pub(crate) rows: Vec<InvoiceRow>,
    /// The amount to pay (or to reserve, in reservation modes).
    pub(crate) total: Money,
    /// Where the SEQR app sends the user after payment or cancel (in-app and mobile-browser flows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) back_url: Option<HttpUrl>,
    /// Where SEQR posts when the invoice is paid (or the reservation confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) notification_url: Option<HttpUrl>,
}

/// How SEQR takes the money (wire enum `paymentMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum PaymentMode {
    /// Debit at once.
    ImmediateDebit,
    /// Reserve if possible, otherwise debit at once.
    ReservationDesired,
    /// Reserve; the merchant commits later.
    ReservationRequired,
    /// Reserve a preliminary amount; the merchant commits the final amount (at most the reservation)
    /// within `commit_reservation_timeout` seconds.
    ReservationRequiredPreliminaryAmount,
}

/// Whether SEQR waits for the merchant to acknowledge (via updateInvoice) once the customer is identified
/// (wire enum `acknowledgmentMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(clippy::enum_variant_names)] // The variants are SEQR's spellings.
pub(crate) enum AcknowledgmentMode {
    /// Never ask the merchant.
    NoAcknowledgment,
    /// Ask only when the customer has loyalty tokens.
    OptionalAcknowledgment,
    /// Always ask.
    RequireAcknowledgment,
}

/// One invoice row (wire `paymentInvoiceRow`).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct InvoiceRow {
    /// Item description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::DESCRIPTION"))]
    pub(crate) description: Option<String>,
    /// Merchant SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::CODE"))]
    pub(crate) sku: Option<String>,
    /// EAN barcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::CODE"))]
    pub(crate) ean: Option<String>,
    /// Quantity; must be positive.
    #[schemars(with = "schema::Decimal")]
    pub(crate) quantity: rust_decimal::Decimal,
    /// Unit price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unit_price: Option<Money>,
    /// Row total.
    pub(crate) total: Money,
    /// Discount on this row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) discount: Option<Money>,
    /// Tax rate in percent, e.g. 25.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<schema::Decimal>")]
    pub(crate) tax_rate: Option<rust_decimal::Decimal>,
    /// ISO-20022 unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::UNIT"))]
    pub(crate) unit: Option<String>,
}

/// An absolute `http://` or `https://` URL with a host, at most 2048 characters of visible ASCII (SEQR answers 64
/// INVALID_NOTIFICATION_URL otherwise).
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct HttpUrl(pub(crate) String);

impl JsonSchema for HttpUrl {
    fn schema_name() -> String {
        "HttpUrl".to_owned()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut url = schema::string(schema::HTTP_URL_PATTERN);
        url.string().max_length = Some(schema::HTTP_URL_MAX);
        url.into()
    }
}

/// The kind of a receipt document (MANUAL §4.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum ReceiptType {
    /// The payment receipt.
    PaymentReceipt,
    /// A warranty.
    Warranty,
    /// A voucher.
    Voucher,
    /// Anything else.
    Other,
}

/// A receipt document for submitPaymentReceipt. `data` is base64 in JSON.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct ReceiptDocument {
    /// The MIME type, usually `text/html`.
    #[schemars(length(max = "domain::text::max::MIME_TYPE"))]
    pub(crate) mime_type: String,
    /// The kind of document.
    pub(crate) receipt_type: ReceiptType,
    /// The document bytes, in standard base64 (padded)
    #[schemars(with = "schema::Base64")]
    pub(crate) data: String,
}

/// The invoice of an issue: `issue_date` may be left out (it is then the time the request is handled).
fn issued_invoice_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    let mut schema = <Invoice as JsonSchema>::json_schema(gen).into_object();
    schema.object().required.remove("issue_date");
    schema.metadata().description = Some(
        "The invoice to send. `issue_date` defaults to the time the request is handled; every money field must \
         be in the currency of `total`, and `total` must be positive."
            .to_owned(),
    );
    schema.into()
}

impl CommandBody for IssueBody {
    fn example() -> Option<serde_json::Value> {
        let sek = |amount: &str| serde_json::json!({"amount": amount, "currency": "SEK"});
        Some(serde_json::json!({
            "terminal_id": "till-1",
            "invoice": {
                "payment_mode": "IMMEDIATE_DEBIT",
                "acknowledgment_mode": "NO_ACKNOWLEDGMENT",
                "title": "Coffee",
                "rows": [{"description": "Latte", "quantity": "2", "unit_price": sek("25.00"), "total": sek("50.00")}],
                "total": sek("50.00"),
            },
        }))
    }
}
impl CommandBody for LoyaltyBody {}
impl CommandBody for CommitBody {
    fn example() -> Option<serde_json::Value> {
        Some(serde_json::json!({"amount": {"amount": "45.00", "currency": "SEK"}}))
    }
}
impl CommandBody for RefundBody {
    fn example() -> Option<serde_json::Value> {
        Some(serde_json::json!({"amount": {"amount": "10.00", "currency": "SEK"}, "title": "Returned a cup"}))
    }
}
impl CommandBody for ReceiptBody {}
impl CommandBody for ResolveBody {}
impl CommandBody for CancelBody {
    const REQUIRED: bool = false;
}
