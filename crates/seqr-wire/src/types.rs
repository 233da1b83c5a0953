//! Typed SEQR v2 messages: the data types of the merchant operations, their enums, requests and responses.
//!
//! Field order in every struct is the schema (`xs:sequence`) order, which is also the order the renderer emits.
//! Optional elements are `Option`, repeated elements are `Vec`; required primitives (`clientRequestTimeout`,
//! `invoiceVersion`, `version`, token `status`) are plain values that default to 0 when missing on the wire.

use chrono::{FixedOffset, NaiveDateTime};
use rust_decimal::Decimal;

/// The SOAP 1.1 envelope namespace.
pub const NS_SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The namespace of the SEQR wrapper elements and types.
pub const NS_SEQR: &str = "http://external.interfaces.ers.seamless.com/";
/// The namespace of the SEQR service, binding and port (WSDL only).
pub const NS_SEQR_SERVICE: &str = "http://externalclientservice.cashregister.seamless.com/";

/// An `xs:dateTime` that remembers whether the wire value carried a zone offset.
///
/// `datetime` is the local wall-clock time exactly as written; `offset` is the zone if one was present
/// (`Z` parses as `+00:00`). A value without an offset is rendered without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct XsDateTime {
    /// The wall-clock date and time as written on the wire.
    pub datetime: NaiveDateTime,
    /// The zone offset, when the wire value had one.
    pub offset: Option<FixedOffset>,
}

/// `clientContext`, sent as `context` in every request. `Debug` masks the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ClientContext {
    /// `channel`, free text such as `WS`.
    pub channel: Option<String>,
    /// `clientComment`.
    pub client_comment: Option<String>,
    /// `clientId`, the client software id.
    pub client_id: Option<String>,
    /// `clientReference`, a troubleshooting reference.
    pub client_reference: Option<String>,
    /// `clientRequestTimeout` (required `xs:long`; 0 when missing).
    pub client_request_timeout: i64,
    /// `initiatorPrincipalId`.
    pub initiator_principal_id: Option<PrincipalId>,
    /// `password` of the initiator principal.
    pub password: Option<String>,
}

/// `principalId`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalId {
    /// `id`: terminal id or reseller id.
    pub id: Option<String>,
    /// `type`: a free string, normally `TERMINALID` or `RESELLERUSER`.
    pub principal_type: Option<String>,
    /// `userId`, used with `RESELLERUSER`.
    pub user_id: Option<String>,
}

/// `amount`: currency and decimal value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Amount {
    /// `currency`, ISO 4217 code as sent.
    pub currency: Option<String>,
    /// `value`, an `xs:decimal`.
    pub value: Option<Decimal>,
}

/// `invoice`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invoice {
    /// `paymentMode`.
    pub payment_mode: Option<PaymentMode>,
    /// `acknowledgmentMode`.
    pub acknowledgment_mode: Option<AcknowledgmentMode>,
    /// `issueDate`.
    pub issue_date: Option<XsDateTime>,
    /// `title`.
    pub title: Option<String>,
    /// `clientInvoiceId`.
    pub client_invoice_id: Option<String>,
    /// `invoiceRows/invoiceRow`; the wrapper is omitted when empty.
    pub invoice_rows: Vec<InvoiceRow>,
    /// `totalAmount`.
    pub total_amount: Option<Amount>,
    /// `cashierId`.
    pub cashier_id: Option<String>,
    /// `footer`.
    pub footer: Option<String>,
    /// `backURL`.
    pub back_url: Option<String>,
    /// `notificationUrl`.
    pub notification_url: Option<String>,
    /// `commitReservationTimeout` in seconds (Gen B only; suppressed in Gen A output).
    pub commit_reservation_timeout: Option<i64>,
}

/// `paymentInvoiceRow`, sent as `invoiceRow`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceRow {
    /// `itemDescription`.
    pub item_description: Option<String>,
    /// `itemDiscount`.
    pub item_discount: Option<Amount>,
    /// `itemEAN`.
    pub item_ean: Option<String>,
    /// `itemQuantity`.
    pub item_quantity: Option<Decimal>,
    /// `itemSKU`.
    pub item_sku: Option<String>,
    /// `itemTaxRate`.
    pub item_tax_rate: Option<Decimal>,
    /// `itemTotalAmount`.
    pub item_total_amount: Option<Amount>,
    /// `itemUnit`.
    pub item_unit: Option<String>,
    /// `itemUnitPrice`.
    pub item_unit_price: Option<Amount>,
}

/// `customerToken`: request `tokens` items and response `customerTokens/token` items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerToken {
    /// `description`.
    pub description: Option<String>,
    /// `id`, e.g. the loyalty programme id.
    pub id: Option<String>,
    /// `status` (required `xs:int`).
    pub status: TokenStatus,
    /// `value`, e.g. the card number.
    pub value: Option<String>,
}

/// `receipt`, in the getPaymentStatus response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    /// `terminalId`.
    pub terminal_id: Option<String>,
    /// `paymentDate`.
    pub payment_date: Option<XsDateTime>,
    /// `clientInvoiceId`.
    pub client_invoice_id: Option<String>,
    /// `invoiceReference`.
    pub invoice_reference: Option<String>,
    /// `paymentReference`.
    pub payment_reference: Option<String>,
    /// `payerTerminalId`.
    pub payer_terminal_id: Option<String>,
    /// `receiverName`.
    pub receiver_name: Option<String>,
    /// `invoice`.
    pub invoice: Option<Invoice>,
}

/// `receiptDocument`, in submitPaymentReceipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiptDocument {
    /// `mimeType`.
    pub mime_type: Option<String>,
    /// `receiptData`, decoded bytes (base64 on the wire).
    pub receipt_data: Option<Vec<u8>>,
    /// `receiptType`, e.g. `PAYMENT_RECEIPT`.
    pub receipt_type: Option<String>,
}

/// `parameterMap`: `parameters/parameter/entry{key,value}*`. A missing key or value reads as "".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParameterMap(pub Vec<(String, String)>);

impl ParameterMap {
    /// The value of the first entry with this key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// `report`, in the executeReport response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// `title`.
    pub title: Option<String>,
    /// `mimeType`.
    pub mime_type: Option<String>,
    /// `content`, decoded bytes (base64 on the wire).
    pub content: Option<Vec<u8>>,
    /// `contentString`.
    pub content_string: Option<String>,
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $wire:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant,)*
            /// A value this codec does not know; kept verbatim and re-rendered unchanged.
            Unknown(String),
        }

        impl $name {
            /// Every known value, in schema declaration order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)*];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Unknown(s) => s,
                }
            }

            /// Maps a wire value (already trimmed) to the enum; unknown values become `Unknown`.
            pub fn from_wire(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)*
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// `paymentMode`.
    PaymentMode {
        /// `IMMEDIATE_DEBIT`.
        ImmediateDebit => "IMMEDIATE_DEBIT",
        /// `RESERVATION_DESIRED`.
        ReservationDesired => "RESERVATION_DESIRED",
        /// `RESERVATION_REQUIRED`.
        ReservationRequired => "RESERVATION_REQUIRED",
        /// `RESERVATION_REQUIRED_PRELIMINARY_AMOUNT` (Gen B).
        ReservationRequiredPreliminaryAmount => "RESERVATION_REQUIRED_PRELIMINARY_AMOUNT",
    }
}

string_enum! {
    /// `acknowledgmentMode`.
    AcknowledgmentMode {
        /// `NO_ACKNOWLEDGMENT`.
        NoAcknowledgment => "NO_ACKNOWLEDGMENT",
        /// `OPTIONAL_ACKNOWLEDGMENT`.
        OptionalAcknowledgment => "OPTIONAL_ACKNOWLEDGMENT",
        /// `REQUIRE_ACKNOWLEDGMENT`.
        RequireAcknowledgment => "REQUIRE_ACKNOWLEDGMENT",
    }
}

string_enum! {
    /// `invoiceStatus`.
    InvoiceStatus {
        /// `ISSUED`: waiting for payment.
        Issued => "ISSUED",
        /// `PAID`.
        Paid => "PAID",
        /// `PENDING_ISSUER_ACKNOWLEDGE`: waiting for the POS to acknowledge via updateInvoice.
        PendingIssuerAcknowledge => "PENDING_ISSUER_ACKNOWLEDGE",
        /// `CANCELED`.
        Canceled => "CANCELED",
        /// `FAILED`.
        Failed => "FAILED",
        /// `RESERVED`.
        Reserved => "RESERVED",
        /// `EXPIRED` (Gen B 2.10+).
        Expired => "EXPIRED",
    }
}

/// Customer token `status` (`xs:int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    /// 0: pending usage (sent from SEQR).
    Pending,
    /// 1: used in this payment (set by the merchant).
    Used,
    /// 90: blocked.
    Blocked,
    /// 99: invalid or unknown to the merchant.
    Invalid,
    /// Any other number, kept verbatim.
    Unknown(i32),
}

impl TokenStatus {
    /// The wire number.
    pub fn code(self) -> i32 {
        match self {
            TokenStatus::Pending => 0,
            TokenStatus::Used => 1,
            TokenStatus::Blocked => 90,
            TokenStatus::Invalid => 99,
            TokenStatus::Unknown(n) => n,
        }
    }

    /// Maps a wire number to the enum.
    pub fn from_code(n: i32) -> Self {
        match n {
            0 => TokenStatus::Pending,
            1 => TokenStatus::Used,
            90 => TokenStatus::Blocked,
            99 => TokenStatus::Invalid,
            n => TokenStatus::Unknown(n),
        }
    }
}

macro_rules! result_codes {
    ($($variant:ident = $code:literal => $name:literal,)*) => {
        /// SEQR `resultCode` values (PROTOCOL §7), with `Unknown` for any other number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ResultCode {
            $(
                #[doc = concat!("`", stringify!($code), "` ", $name, ".")]
                $variant,
            )*
            /// A code this codec does not know; kept verbatim.
            Unknown(i32),
        }

        impl ResultCode {
            /// Every known code, in numeric order.
            pub const KNOWN: &'static [ResultCode] = &[$(ResultCode::$variant,)*];

            /// The wire number.
            pub fn code(self) -> i32 {
                match self {
                    $(ResultCode::$variant => $code,)*
                    ResultCode::Unknown(n) => n,
                }
            }

            /// Maps a wire number to the enum.
            pub fn from_code(n: i32) -> Self {
                match n {
                    $($code => ResultCode::$variant,)*
                    n => ResultCode::Unknown(n),
                }
            }

            /// The symbolic name (`SUCCESS`, `INVALID_INVOICE_DATA`, ...); `None` for unknown codes.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(ResultCode::$variant => Some($name),)*
                    ResultCode::Unknown(_) => None,
                }
            }
        }
    };
}

result_codes! {
    Success = 0 => "SUCCESS",
    PendingApproval = 1 => "PENDING_APPROVAL",
    ReportNotReady = 2 => "REPORT_NOT_READY",
    RejectedBusinessLogic = 10 => "REJECTED_BUSINESS_LOGIC",
    RejectedAmount = 11 => "REJECTED_AMOUNT",
    RejectedPayment = 12 => "REJECTED_PAYMENT",
    RejectedTopup = 13 => "REJECTED_TOPUP",
    AuthenticationFailed = 20 => "AUTHENTICATION_FAILED",
    AccessDenied = 21 => "ACCESS_DENIED",
    InvalidNewPassword = 22 => "INVALID_NEW_PASSWORD",
    InvalidErsReference = 23 => "INVALID_ERS_REFERENCE",
    InvalidInitiatorPrincipalId = 29 => "INVALID_INITIATOR_PRINCIPAL_ID",
    InvalidReceiverPrincipalId = 30 => "INVALID_RECEIVER_PRINCIPAL_ID",
    InvalidSenderPrincipalId = 31 => "INVALID_SENDER_PRINCIPAL_ID",
    InvalidTopupPrincipalId = 32 => "INVALID_TOPUP_PRINCIPAL_ID",
    InvalidInitiatorPrincipalState = 33 => "INVALID_INITIATOR_PRINCIPAL_STATE",
    InvalidReceiverPrincipalState = 34 => "INVALID_RECEIVER_PRINCIPAL_STATE",
    InvalidSenderPrincipalState = 35 => "INVALID_SENDER_PRINCIPAL_STATE",
    InvalidTopupPrincipalState = 36 => "INVALID_TOPUP_PRINCIPAL_STATE",
    InitiatorPrincipalNotFound = 37 => "INITIATOR_PRINCIPAL_NOT_FOUND",
    ReceiverPrincipalNotFound = 38 => "RECEIVER_PRINCIPAL_NOT_FOUND",
    SenderPrincipalNotFound = 39 => "SENDER_PRINCIPAL_NOT_FOUND",
    TopupPrincipalNotFound = 40 => "TOPUP_PRINCIPAL_NOT_FOUND",
    InvalidProduct = 41 => "INVALID_PRODUCT",
    InvalidReceiverAccountType = 42 => "INVALID_RECEIVER_ACCOUNT_TYPE",
    InvalidSenderAccountType = 43 => "INVALID_SENDER_ACCOUNT_TYPE",
    InvalidTopupAccountType = 44 => "INVALID_TOPUP_ACCOUNT_TYPE",
    ReceiverAccountNotFound = 45 => "RECEIVER_ACCOUNT_NOT_FOUND",
    SenderAccountNotFound = 46 => "SENDER_ACCOUNT_NOT_FOUND",
    TopupAccountNotFound = 47 => "TOPUP_ACCOUNT_NOT_FOUND",
    PaymentInProgress = 48 => "PAYMENT_IN_PROGRESS",
    InvalidInvoiceData = 49 => "INVALID_INVOICE_DATA",
    CannotCancelPaidInvoice = 50 => "CANNOT_CANCEL_PAID_INVOICE",
    CannotCancelInvoiceInProgress = 51 => "CANNOT_CANCEL_INVOICE_IN_PROGRESS",
    InvalidCustomer = 52 => "INVALID_CUSTOMER",
    InvalidSeqrId = 53 => "INVALID_SEQR_ID",
    InvalidInvoiceReference = 54 => "INVALID_INVOICE_REFERENCE",
    PaymentAlreadyCancelled = 55 => "PAYMENT_ALREADY_CANCELLED",
    RegistrationNotPossible = 56 => "REGISTRATION_NOT_POSSIBLE",
    RegistrationPrincipalAlreadyExists = 57 => "REGISTRATION_PRINCIPAL_ALREADY_EXISTS",
    PaymentExpired = 58 => "PAYMENT_EXPIRED",
    AuthorizationExpired = 60 => "AUTHORIZATION_EXPIRED",
    AuthorizationCancelled = 61 => "AUTHORIZATION_CANCELLED",
    AuthorizationInProgress = 62 => "AUTHORIZATION_IN_PROGRESS",
    InvalidAuthorizationReference = 63 => "INVALID_AUTHORIZATION_REFERENCE",
    InvalidNotificationUrl = 64 => "INVALID_NOTIFICATION_URL",
    SystemError = 90 => "SYSTEM_ERROR",
    UnsupportedOperation = 91 => "UNSUPPORTED_OPERATION",
    LicenseRejection = 92 => "LICENSE_REJECTION",
    SystemBusy = 93 => "SYSTEM_BUSY",
    ServiceUnavailable = 94 => "SERVICE_UNAVAILABLE",
    InvoiceAlreadyCanceled = 95 => "INVOICE_ALREADY_CANCELED",
    InvoiceStateNotReserved = 96 => "INVOICE_STATE_NOT_RESERVED",
    ResellerNotAllowedToDoRefund = 97 => "RESELLER_NOT_ALLOWED_TO_DO_REFUND",
    SumOfRefundsCanNotBeMoreThanOriginalTransaction = 98 => "SUM_OF_REFUNDS_CAN_NOT_BE_MORE_THAN_ORIGINAL_TRANSACTION",
    ReceiverAccountDoesNotAllowRefunds = 99 => "RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS",
}

impl ResultCode {
    /// The `resultDescription` text SEQR sends for this code: the symbolic name, except code 98
    /// ("Sum of refunds can not be more than original transaction") and unknown codes
    /// ("UNKNOWN ERSWSResultCode = n").
    pub fn description(self) -> String {
        match self {
            ResultCode::SumOfRefundsCanNotBeMoreThanOriginalTransaction => {
                "Sum of refunds can not be more than original transaction".to_owned()
            }
            ResultCode::Unknown(n) => format!("UNKNOWN ERSWSResultCode = {n}"),
            known => known.name().unwrap_or_default().to_owned(),
        }
    }

    /// Whether this is 0 (`SUCCESS`).
    pub fn is_success(self) -> bool {
        self == ResultCode::Success
    }
}

/// The operations this codec handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `sendInvoice`.
    SendInvoice,
    /// `updateInvoice`.
    UpdateInvoice,
    /// `getPaymentStatus`.
    GetPaymentStatus,
    /// `cancelInvoice`.
    CancelInvoice,
    /// `commitReservation`.
    CommitReservation,
    /// `submitPaymentReceipt`.
    SubmitPaymentReceipt,
    /// `refundPayment`.
    RefundPayment,
    /// `registerTerminal`.
    RegisterTerminal,
    /// `unregisterTerminal`.
    UnregisterTerminal,
    /// `assignSeqrId`.
    AssignSeqrId,
    /// `markTransactionPeriod`.
    MarkTransactionPeriod,
    /// `executeReport`.
    ExecuteReport,
    /// `benchmarkingNop`.
    BenchmarkingNop,
}

impl Operation {
    /// Every operation.
    pub const ALL: &'static [Operation] = &[
        Operation::SendInvoice,
        Operation::UpdateInvoice,
        Operation::GetPaymentStatus,
        Operation::CancelInvoice,
        Operation::CommitReservation,
        Operation::SubmitPaymentReceipt,
        Operation::RefundPayment,
        Operation::RegisterTerminal,
        Operation::UnregisterTerminal,
        Operation::AssignSeqrId,
        Operation::MarkTransactionPeriod,
        Operation::ExecuteReport,
        Operation::BenchmarkingNop,
    ];

    /// The request wrapper element name, e.g. `sendInvoice`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::SendInvoice => "sendInvoice",
            Operation::UpdateInvoice => "updateInvoice",
            Operation::GetPaymentStatus => "getPaymentStatus",
            Operation::CancelInvoice => "cancelInvoice",
            Operation::CommitReservation => "commitReservation",
            Operation::SubmitPaymentReceipt => "submitPaymentReceipt",
            Operation::RefundPayment => "refundPayment",
            Operation::RegisterTerminal => "registerTerminal",
            Operation::UnregisterTerminal => "unregisterTerminal",
            Operation::AssignSeqrId => "assignSeqrId",
            Operation::MarkTransactionPeriod => "markTransactionPeriod",
            Operation::ExecuteReport => "executeReport",
            Operation::BenchmarkingNop => "benchmarkingNop",
        }
    }

    /// The response wrapper element name, e.g. `sendInvoiceResponse`.
    pub fn response_name(self) -> &'static str {
        match self {
            Operation::SendInvoice => "sendInvoiceResponse",
            Operation::UpdateInvoice => "updateInvoiceResponse",
            Operation::GetPaymentStatus => "getPaymentStatusResponse",
            Operation::CancelInvoice => "cancelInvoiceResponse",
            Operation::CommitReservation => "commitReservationResponse",
            Operation::SubmitPaymentReceipt => "submitPaymentReceiptResponse",
            Operation::RefundPayment => "refundPaymentResponse",
            Operation::RegisterTerminal => "registerTerminalResponse",
            Operation::UnregisterTerminal => "unregisterTerminalResponse",
            Operation::AssignSeqrId => "assignSeqrIdResponse",
            Operation::MarkTransactionPeriod => "markTransactionPeriodResponse",
            Operation::ExecuteReport => "executeReportResponse",
            Operation::BenchmarkingNop => "benchmarkingNopResponse",
        }
    }

    /// Looks an operation up by its request wrapper name.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|op| op.name() == name)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `sendInvoice` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendInvoiceRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `invoice`.
    pub invoice: Option<Invoice>,
    /// `tokens` (repeated, no wrapper).
    pub tokens: Vec<CustomerToken>,
}

/// `updateInvoice` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateInvoiceRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `invoiceReference`.
    pub invoice_reference: Option<String>,
    /// `invoice`.
    pub invoice: Option<Invoice>,
    /// `tokens` (repeated, no wrapper).
    pub tokens: Vec<CustomerToken>,
}

/// `getPaymentStatus` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetPaymentStatusRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `invoiceReference`.
    pub invoice_reference: Option<String>,
    /// `invoiceVersion` (required `xs:int`; 0 when missing).
    pub invoice_version: i32,
}

/// `cancelInvoice` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CancelInvoiceRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `invoiceReference`.
    pub invoice_reference: Option<String>,
}

/// `commitReservation` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitReservationRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `amount`, the final amount (Gen B only; suppressed in Gen A output).
    pub amount: Option<Amount>,
    /// `invoiceReference`.
    pub invoice_reference: Option<String>,
}

/// `submitPaymentReceipt` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitPaymentReceiptRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `ersReference` of the payment.
    pub ers_reference: Option<String>,
    /// `receiptDocument`.
    pub receipt_document: Option<ReceiptDocument>,
}

/// `refundPayment` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundPaymentRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `ersReference` of the payment to refund.
    pub ers_reference: Option<String>,
    /// `invoice` describing the refund.
    pub invoice: Option<Invoice>,
}

/// `registerTerminal` request. `Debug` masks the new terminal's password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegisterTerminalRequest {
    /// `context` (RESELLERUSER).
    pub context: Option<ClientContext>,
    /// `externalTerminalId`.
    pub external_terminal_id: Option<String>,
    /// `password` for the new terminal.
    pub password: Option<String>,
    /// `name`.
    pub name: Option<String>,
}

/// `unregisterTerminal` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnregisterTerminalRequest {
    /// `context` (TERMINALID of the terminal to remove).
    pub context: Option<ClientContext>,
}

/// `assignSeqrId` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssignSeqrIdRequest {
    /// `context`.
    pub context: Option<ClientContext>,
    /// `seqrId`.
    pub seqr_id: Option<String>,
}

/// `markTransactionPeriod` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MarkTransactionPeriodRequest {
    /// `context` (RESELLERUSER).
    pub context: Option<ClientContext>,
    /// `parameters`, e.g. `TERMINALID`.
    pub parameters: Option<ParameterMap>,
}

/// `executeReport` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecuteReportRequest {
    /// `context` (RESELLERUSER).
    pub context: Option<ClientContext>,
    /// `reportId`, e.g. `Reconciliation/Shop.xml`.
    pub report_id: Option<String>,
    /// `language`, e.g. `en`.
    pub language: Option<String>,
    /// `parameters`, e.g. `transactionPeriodId`.
    pub parameters: Option<ParameterMap>,
}

/// A parsed or to-be-rendered request, one variant per operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `sendInvoice`.
    SendInvoice(SendInvoiceRequest),
    /// `updateInvoice`.
    UpdateInvoice(UpdateInvoiceRequest),
    /// `getPaymentStatus`.
    GetPaymentStatus(GetPaymentStatusRequest),
    /// `cancelInvoice`.
    CancelInvoice(CancelInvoiceRequest),
    /// `commitReservation`.
    CommitReservation(CommitReservationRequest),
    /// `submitPaymentReceipt`.
    SubmitPaymentReceipt(SubmitPaymentReceiptRequest),
    /// `refundPayment`.
    RefundPayment(RefundPaymentRequest),
    /// `registerTerminal`.
    RegisterTerminal(RegisterTerminalRequest),
    /// `unregisterTerminal`.
    UnregisterTerminal(UnregisterTerminalRequest),
    /// `assignSeqrId`.
    AssignSeqrId(AssignSeqrIdRequest),
    /// `markTransactionPeriod`.
    MarkTransactionPeriod(MarkTransactionPeriodRequest),
    /// `executeReport`.
    ExecuteReport(ExecuteReportRequest),
    /// `benchmarkingNop` (no children).
    BenchmarkingNop,
}

impl Request {
    /// The operation of this request.
    pub fn operation(&self) -> Operation {
        match self {
            Request::SendInvoice(_) => Operation::SendInvoice,
            Request::UpdateInvoice(_) => Operation::UpdateInvoice,
            Request::GetPaymentStatus(_) => Operation::GetPaymentStatus,
            Request::CancelInvoice(_) => Operation::CancelInvoice,
            Request::CommitReservation(_) => Operation::CommitReservation,
            Request::SubmitPaymentReceipt(_) => Operation::SubmitPaymentReceipt,
            Request::RefundPayment(_) => Operation::RefundPayment,
            Request::RegisterTerminal(_) => Operation::RegisterTerminal,
            Request::UnregisterTerminal(_) => Operation::UnregisterTerminal,
            Request::AssignSeqrId(_) => Operation::AssignSeqrId,
            Request::MarkTransactionPeriod(_) => Operation::MarkTransactionPeriod,
            Request::ExecuteReport(_) => Operation::ExecuteReport,
            Request::BenchmarkingNop => Operation::BenchmarkingNop,
        }
    }

    /// The `context` of the request, if it has one.
    pub fn context(&self) -> Option<&ClientContext> {
        match self {
            Request::SendInvoice(r) => r.context.as_ref(),
            Request::UpdateInvoice(r) => r.context.as_ref(),
            Request::GetPaymentStatus(r) => r.context.as_ref(),
            Request::CancelInvoice(r) => r.context.as_ref(),
            Request::CommitReservation(r) => r.context.as_ref(),
            Request::SubmitPaymentReceipt(r) => r.context.as_ref(),
            Request::RefundPayment(r) => r.context.as_ref(),
            Request::RegisterTerminal(r) => r.context.as_ref(),
            Request::UnregisterTerminal(r) => r.context.as_ref(),
            Request::AssignSeqrId(r) => r.context.as_ref(),
            Request::MarkTransactionPeriod(r) => r.context.as_ref(),
            Request::ExecuteReport(r) => r.context.as_ref(),
            Request::BenchmarkingNop => None,
        }
    }
}

/// `erswsResponse`: the base of every response (`ersReference`, `resultCode`, `resultDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErsResponse {
    /// `ersReference`.
    pub ers_reference: Option<String>,
    /// `resultCode` (required `xs:int`; 0 when missing).
    pub result_code: ResultCode,
    /// `resultDescription`.
    pub result_description: Option<String>,
}

impl ErsResponse {
    /// A response with this code, SEQR's description text for it and no `ersReference`.
    pub fn new(code: ResultCode) -> Self {
        ErsResponse { ers_reference: None, result_code: code, result_description: Some(code.description()) }
    }

    /// `ErsResponse::new(ResultCode::Success)`.
    pub fn success() -> Self {
        ErsResponse::new(ResultCode::Success)
    }
}

/// `erswsSendInvoiceResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendInvoiceResponse {
    /// Base fields.
    pub base: ErsResponse,
    /// `invoiceQRCode`, e.g. `HTTP://SEQR.SE/R1397222701693`.
    pub invoice_qr_code: Option<String>,
    /// `invoiceReference`.
    pub invoice_reference: Option<String>,
}

/// `erswsPaymentStatusResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStatusResponse {
    /// Base fields.
    pub base: ErsResponse,
    /// `status`.
    pub status: Option<InvoiceStatus>,
    /// `receipt`, present when PAID.
    pub receipt: Option<Receipt>,
    /// `customerTokens/token`; rendered as an empty `<customerTokens/>` when empty.
    pub customer_tokens: Vec<CustomerToken>,
    /// `version` (required `xs:int`; 0 when missing).
    pub version: i32,
}

/// `erswsRegisterTerminalResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterTerminalResponse {
    /// Base fields.
    pub base: ErsResponse,
    /// `terminalId`, 32 hex characters.
    pub terminal_id: Option<String>,
}

/// `erswsMarkTransactionPeriodResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkTransactionPeriodResponse {
    /// Base fields.
    pub base: ErsResponse,
    /// `transactionPeriodId`.
    pub transaction_period_id: Option<String>,
}

/// `erswsExecuteReportResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteReportResponse {
    /// Base fields.
    pub base: ErsResponse,
    /// `report`.
    pub report: Option<Report>,
}

/// A parsed or to-be-rendered response, one variant per operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `sendInvoiceResponse`.
    SendInvoice(SendInvoiceResponse),
    /// `updateInvoiceResponse`.
    UpdateInvoice(ErsResponse),
    /// `getPaymentStatusResponse`.
    GetPaymentStatus(PaymentStatusResponse),
    /// `cancelInvoiceResponse`.
    CancelInvoice(ErsResponse),
    /// `commitReservationResponse`.
    CommitReservation(ErsResponse),
    /// `submitPaymentReceiptResponse`.
    SubmitPaymentReceipt(ErsResponse),
    /// `refundPaymentResponse`.
    RefundPayment(ErsResponse),
    /// `registerTerminalResponse`.
    RegisterTerminal(RegisterTerminalResponse),
    /// `unregisterTerminalResponse`.
    UnregisterTerminal(ErsResponse),
    /// `assignSeqrIdResponse`.
    AssignSeqrId(ErsResponse),
    /// `markTransactionPeriodResponse`.
    MarkTransactionPeriod(MarkTransactionPeriodResponse),
    /// `executeReportResponse`.
    ExecuteReport(ExecuteReportResponse),
    /// `benchmarkingNopResponse`.
    BenchmarkingNop(ErsResponse),
}

impl Response {
    /// The operation this response answers.
    pub fn operation(&self) -> Operation {
        match self {
            Response::SendInvoice(_) => Operation::SendInvoice,
            Response::UpdateInvoice(_) => Operation::UpdateInvoice,
            Response::GetPaymentStatus(_) => Operation::GetPaymentStatus,
            Response::CancelInvoice(_) => Operation::CancelInvoice,
            Response::CommitReservation(_) => Operation::CommitReservation,
            Response::SubmitPaymentReceipt(_) => Operation::SubmitPaymentReceipt,
            Response::RefundPayment(_) => Operation::RefundPayment,
            Response::RegisterTerminal(_) => Operation::RegisterTerminal,
            Response::UnregisterTerminal(_) => Operation::UnregisterTerminal,
            Response::AssignSeqrId(_) => Operation::AssignSeqrId,
            Response::MarkTransactionPeriod(_) => Operation::MarkTransactionPeriod,
            Response::ExecuteReport(_) => Operation::ExecuteReport,
            Response::BenchmarkingNop(_) => Operation::BenchmarkingNop,
        }
    }

    /// The base fields (`ersReference`, `resultCode`, `resultDescription`).
    pub fn base(&self) -> &ErsResponse {
        match self {
            Response::SendInvoice(r) => &r.base,
            Response::GetPaymentStatus(r) => &r.base,
            Response::RegisterTerminal(r) => &r.base,
            Response::MarkTransactionPeriod(r) => &r.base,
            Response::ExecuteReport(r) => &r.base,
            Response::UpdateInvoice(b)
            | Response::CancelInvoice(b)
            | Response::CommitReservation(b)
            | Response::SubmitPaymentReceipt(b)
            | Response::RefundPayment(b)
            | Response::UnregisterTerminal(b)
            | Response::AssignSeqrId(b)
            | Response::BenchmarkingNop(b) => b,
        }
    }

    /// A response for `op` carrying only base fields for `code` (for error answers): subtype fields are empty,
    /// `version` is 0.
    pub fn error(op: Operation, code: ResultCode) -> Response {
        let base = ErsResponse::new(code);
        match op {
            Operation::SendInvoice => {
                Response::SendInvoice(SendInvoiceResponse { base, invoice_qr_code: None, invoice_reference: None })
            }
            Operation::UpdateInvoice => Response::UpdateInvoice(base),
            Operation::GetPaymentStatus => Response::GetPaymentStatus(PaymentStatusResponse {
                base,
                status: None,
                receipt: None,
                customer_tokens: Vec::new(),
                version: 0,
            }),
            Operation::CancelInvoice => Response::CancelInvoice(base),
            Operation::CommitReservation => Response::CommitReservation(base),
            Operation::SubmitPaymentReceipt => Response::SubmitPaymentReceipt(base),
            Operation::RefundPayment => Response::RefundPayment(base),
            Operation::RegisterTerminal => {
                Response::RegisterTerminal(RegisterTerminalResponse { base, terminal_id: None })
            }
            Operation::UnregisterTerminal => Response::UnregisterTerminal(base),
            Operation::AssignSeqrId => Response::AssignSeqrId(base),
            Operation::MarkTransactionPeriod => {
                Response::MarkTransactionPeriod(MarkTransactionPeriodResponse { base, transaction_period_id: None })
            }
            Operation::ExecuteReport => Response::ExecuteReport(ExecuteReportResponse { base, report: None }),
            Operation::BenchmarkingNop => Response::BenchmarkingNop(base),
        }
    }
}

/// SOAP 1.1 fault code (`faultcode`), namespace prefix stripped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultCode {
    /// `Client`: the request was wrong (bad XML, unknown operation, wrong namespace).
    Client,
    /// `Server`: the server failed.
    Server,
    /// `VersionMismatch`: not a SOAP 1.1 envelope.
    VersionMismatch,
    /// `MustUnderstand`.
    MustUnderstand,
    /// Any other code, kept as written without its prefix.
    Other(String),
}

impl FaultCode {
    /// The local part of the code, e.g. `Client`.
    pub fn as_str(&self) -> &str {
        match self {
            FaultCode::Client => "Client",
            FaultCode::Server => "Server",
            FaultCode::VersionMismatch => "VersionMismatch",
            FaultCode::MustUnderstand => "MustUnderstand",
            FaultCode::Other(s) => s,
        }
    }

    /// Maps the local part of a `faultcode` QName.
    pub fn from_local(s: &str) -> FaultCode {
        match s {
            "Client" => FaultCode::Client,
            "Server" => FaultCode::Server,
            "VersionMismatch" => FaultCode::VersionMismatch,
            "MustUnderstand" => FaultCode::MustUnderstand,
            other => FaultCode::Other(other.to_owned()),
        }
    }
}

/// A SOAP 1.1 `soap:Fault`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// `faultcode`.
    pub code: FaultCode,
    /// `faultstring`.
    pub message: String,
}

impl std::fmt::Display for SoapFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "soap:{}: {}", self.code.as_str(), self.message)
    }
}

/// Masks a secret in `Debug` output: whether one is present shows, its value never does.
fn masked(secret: &Option<String>) -> &'static str {
    if secret.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

impl std::fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContext")
            .field("channel", &self.channel)
            .field("client_comment", &self.client_comment)
            .field("client_id", &self.client_id)
            .field("client_reference", &self.client_reference)
            .field("client_request_timeout", &self.client_request_timeout)
            .field("initiator_principal_id", &self.initiator_principal_id)
            .field("password", &format_args!("{}", masked(&self.password)))
            .finish()
    }
}

impl std::fmt::Debug for RegisterTerminalRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterTerminalRequest")
            .field("context", &self.context)
            .field("external_terminal_id", &self.external_terminal_id)
            .field("password", &format_args!("{}", masked(&self.password)))
            .field("name", &self.name)
            .finish()
    }
}
