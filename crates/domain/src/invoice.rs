//! Invoice content and SEQR value types: payment and acknowledgment modes, rows, customer tokens, URLs,
//! observed SEQR statuses, payment details and receipt documents.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// How SEQR takes the money (wire enum `paymentMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentMode {
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

impl PaymentMode {
    /// Whether this mode can lead to a RESERVED invoice that needs a commit.
    pub fn may_reserve(self) -> bool {
        !matches!(self, PaymentMode::ImmediateDebit)
    }

    /// The wire name.
    pub fn as_wire(self) -> &'static str {
        match self {
            PaymentMode::ImmediateDebit => "IMMEDIATE_DEBIT",
            PaymentMode::ReservationDesired => "RESERVATION_DESIRED",
            PaymentMode::ReservationRequired => "RESERVATION_REQUIRED",
            PaymentMode::ReservationRequiredPreliminaryAmount => "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
        }
    }
}

/// Whether SEQR waits for the merchant to acknowledge (via updateInvoice) once the customer is identified
/// (wire enum `acknowledgmentMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AcknowledgmentMode {
    /// Never ask the merchant.
    NoAcknowledgment,
    /// Ask only when the customer has loyalty tokens.
    OptionalAcknowledgment,
    /// Always ask.
    RequireAcknowledgment,
}

impl AcknowledgmentMode {
    /// The wire name.
    pub fn as_wire(self) -> &'static str {
        match self {
            AcknowledgmentMode::NoAcknowledgment => "NO_ACKNOWLEDGMENT",
            AcknowledgmentMode::OptionalAcknowledgment => "OPTIONAL_ACKNOWLEDGMENT",
            AcknowledgmentMode::RequireAcknowledgment => "REQUIRE_ACKNOWLEDGMENT",
        }
    }
}

/// The status of a customer token (wire `status` int: 0, 1, 90, 99).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    /// 0: offered by SEQR, not yet used.
    Pending,
    /// 1: used in this payment (set by the merchant).
    Used,
    /// 90: blocked.
    Blocked,
    /// 99: invalid or unknown to the merchant.
    Invalid,
}

impl TokenStatus {
    /// The wire code.
    pub fn code(self) -> i32 {
        match self {
            TokenStatus::Pending => 0,
            TokenStatus::Used => 1,
            TokenStatus::Blocked => 90,
            TokenStatus::Invalid => 99,
        }
    }

    /// Maps a wire code back; `None` for codes SEQR does not define.
    pub fn from_code(code: i32) -> Option<TokenStatus> {
        match code {
            0 => Some(TokenStatus::Pending),
            1 => Some(TokenStatus::Used),
            90 => Some(TokenStatus::Blocked),
            99 => Some(TokenStatus::Invalid),
            _ => None,
        }
    }
}

/// A customer token: a loyalty card, coupon or membership, offered by SEQR or swiped at the till.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerToken {
    /// The token kind, e.g. `X_CARD` (wire `id`).
    #[schemars(length(max = "crate::text::max::TOKEN_ID"))]
    pub id: String,
    /// The token value, e.g. the card number.
    #[schemars(length(max = "crate::text::max::TOKEN_VALUE"))]
    pub value: String,
    /// A human description, e.g. the loyalty programme name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::TOKEN_DESCRIPTION"))]
    pub description: Option<String>,
    /// The token status.
    pub status: TokenStatus,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid url {0:?}: expected an absolute http:// or https:// URL with a host")]
pub struct UrlError(pub String);

/// An absolute `http://` or `https://` URL with a non-empty host, at most 2048 characters, without
/// whitespace or control characters (SEQR answers 64 INVALID_NOTIFICATION_URL otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl(String);

impl HttpUrl {
    /// Validates and wraps the URL.
    pub fn parse(url: &str) -> Result<HttpUrl, UrlError> {
        let err = || UrlError(url.to_owned());
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err());
        }
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        let rest = if lower.starts_with("https://") {
            &url[8..]
        } else if lower.starts_with("http://") {
            &url[7..]
        } else {
            return Err(err());
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, p)) => (h, p),
                None => return Err(err()),
            }
        } else {
            match host_port.split_once(':') {
                Some((h, _)) => (h, &host_port[h.len()..]),
                None => (host_port, ""),
            }
        };
        let port_ok = match port.strip_prefix(':') {
            Some(p) => !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()),
            None => port.is_empty(),
        };
        if host.is_empty() || !port_ok {
            return Err(err());
        }
        Ok(HttpUrl(url.to_owned()))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = UrlError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        HttpUrl::parse(&value)
    }
}

impl From<HttpUrl> for String {
    fn from(url: HttpUrl) -> String {
        url.0
    }
}

impl schemars::JsonSchema for HttpUrl {
    fn schema_name() -> String {
        "HttpUrl".to_owned()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            format: Some("uri".to_owned()),
            string: Some(Box::new(schemars::schema::StringValidation {
                max_length: Some(2048),
                min_length: None,
                pattern: Some("^[hH][tT][tT][pP][sS]?://".to_owned()),
            })),
            ..Default::default()
        }
        .into()
    }
}

/// One invoice row (wire `paymentInvoiceRow`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvoiceRow {
    /// Item description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::DESCRIPTION"))]
    pub description: Option<String>,
    /// Merchant SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::CODE"))]
    pub sku: Option<String>,
    /// EAN barcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::CODE"))]
    pub ean: Option<String>,
    /// Quantity; must be positive.
    pub quantity: Decimal,
    /// Unit price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
    /// Row total.
    pub total: Money,
    /// Discount on this row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Money>,
    /// Tax rate in percent, e.g. 25.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<Decimal>,
    /// ISO-20022 unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::UNIT"))]
    pub unit: Option<String>,
}

/// The invoice as sent to SEQR with sendInvoice, and again (changed) with updateInvoice.
///
/// Every money field must be in the currency of `total`, and `total` must be positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Invoice {
    /// How SEQR takes the money.
    pub payment_mode: PaymentMode,
    /// Whether SEQR waits for the merchant's acknowledgment.
    pub acknowledgment_mode: AcknowledgmentMode,
    /// Seconds the merchant has to commit a reservation. Required (and non-zero) for
    /// RESERVATION_REQUIRED_PRELIMINARY_AMOUNT; also used as the reservation deadline of other reservation modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_reservation_timeout: Option<u32>,
    /// The issue date shown on the bill.
    pub issue_date: DateTime<Utc>,
    /// The bill title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::TITLE"))]
    pub title: Option<String>,
    /// The merchant's own invoice or order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::ID"))]
    pub client_invoice_id: Option<String>,
    /// The cashier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::ID"))]
    pub cashier_id: Option<String>,
    /// Footer shown on the receipt in the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "crate::text::max::FOOTER"))]
    pub footer: Option<String>,
    /// The rows.
    #[serde(default)]
    #[schemars(length(max = "crate::text::max::ROWS"))]
    pub rows: Vec<InvoiceRow>,
    /// The amount to pay (or to reserve, in reservation modes).
    pub total: Money,
    /// Where the SEQR app sends the user after payment or cancel (in-app and mobile-browser flows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_url: Option<HttpUrl>,
    /// Where SEQR posts when the invoice is paid (or the reservation confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<HttpUrl>,
}

/// An invoice status as reported by getPaymentStatus (wire enum `invoiceStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeqrStatus {
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

impl SeqrStatus {
    /// The wire name.
    pub fn as_wire(self) -> &'static str {
        match self {
            SeqrStatus::Issued => "ISSUED",
            SeqrStatus::PendingIssuerAcknowledge => "PENDING_ISSUER_ACKNOWLEDGE",
            SeqrStatus::Paid => "PAID",
            SeqrStatus::Canceled => "CANCELED",
            SeqrStatus::Failed => "FAILED",
            SeqrStatus::Reserved => "RESERVED",
            SeqrStatus::Expired => "EXPIRED",
        }
    }
}

/// What a PAID getPaymentStatus response says about the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Payment {
    /// The payment's ERS reference; refunds and receipts refer to it.
    pub ers_reference: String,
    /// The receipt's payment reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    /// When the customer paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_date: Option<DateTime<Utc>>,
    /// The payer's terminal id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_terminal_id: Option<String>,
    /// The amount paid (the receipt invoice's total).
    pub amount: Money,
}

/// The kind of a receipt document (MANUAL §4.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReceiptType {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReceiptDocument {
    /// The MIME type, usually `text/html`.
    #[schemars(length(max = "crate::text::max::MIME_TYPE"))]
    pub mime_type: String,
    /// The kind of document.
    pub receipt_type: ReceiptType,
    /// The document bytes.
    #[serde(with = "base64_bytes")]
    #[schemars(with = "String")]
    pub data: Vec<u8>,
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}
