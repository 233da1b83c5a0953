//! seqr-client: a SEQR merchant API client over seqr-wire and reqwest.
//!
//! One method per operation, taking the typed seqr-wire request (the caller fills in the `context`). One
//! `reqwest::Client` is shared by all calls, so connections are reused. Only pure reads (getPaymentStatus,
//! executeReport, benchmarkingNop) are retried, with exponential backoff and jitter; the money-moving and
//! state-changing operations are sent exactly once.
//!
//! # Failure classification
//!
//! Every failure is a [`CallError`]. The important question for a caller is whether the operation may have been
//! carried out:
//!
//! - [`CallError::is_definitely_not_done`]: nothing happened at SEQR. This is the case for
//!   [`CallError::TransportBeforeSend`] (reqwest reports a connect error: refused, DNS, TLS handshake), for an
//!   in-band [`CallError::ResultCode`] (SEQR answered and rejected the call) and for a `Client` SOAP fault (SEQR
//!   could not read the request).
//! - [`CallError::outcome_unknown`]: everything else, i.e. a timeout or a dropped connection after the request was
//!   (possibly) written, an HTTP error status, a `Server` SOAP fault or an answer that could not be decoded.
//!
//! reqwest does not say whether the request body reached the peer. `reqwest::Error::is_connect()` is the only
//! reliable "before send" signal, so every other transport error is classified as after-send (unknown). This
//! errs on the safe side: a caller may re-check status instead of assuming failure.

use std::time::{Duration, Instant};

use rand::Rng as _;
use seqr_wire::{
    AssignSeqrIdRequest, CancelInvoiceRequest, ClientContext, CommitReservationRequest, ErsResponse,
    ExecuteReportRequest, ExecuteReportResponse, FaultCode, GetPaymentStatusRequest, MarkTransactionPeriodRequest,
    MarkTransactionPeriodResponse, Operation, PaymentStatusResponse, PrincipalId, RefundPaymentRequest,
    RegisterTerminalRequest, RegisterTerminalResponse, RenderOptions, Request, Response, ResultCode,
    SendInvoiceRequest, SendInvoiceResponse, SoapFault, SubmitPaymentReceiptRequest, UnregisterTerminalRequest,
    UpdateInvoiceRequest, WireError,
};
use tracing::Instrument as _;

/// Retry policy for pure reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time.
    pub initial_backoff: Duration,
    /// Upper bound of a single delay.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// No retries.
    pub const NONE: RetryPolicy =
        RetryPolicy { max_attempts: 1, initial_backoff: Duration::ZERO, max_backoff: Duration::ZERO };
}

/// Per-operation timeouts (whole request, connect included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Used for every operation without an override.
    pub default: Duration,
    /// getPaymentStatus (polled about once a second, so short).
    pub get_payment_status: Duration,
    /// executeReport (reports can be large).
    pub execute_report: Duration,
    /// TCP connect timeout.
    pub connect: Duration,
}

/// Client configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// SOAP endpoint, e.g. `https://extdev.seqr.com/extclientproxy/service/v2`.
    pub endpoint: String,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Retry policy for pure reads.
    pub retry: RetryPolicy,
    /// Render Gen B requests (commitReservation `amount`, `commitReservationTimeout`); false suppresses them.
    pub gen_b: bool,
    /// Idle pooled connections kept per host.
    pub pool_max_idle_per_host: usize,
}

impl ClientConfig {
    /// Defaults: 10 s per call (getPaymentStatus 5 s, executeReport 30 s), connect 3 s, 3 attempts for reads
    /// starting at 200 ms backoff, Gen B requests.
    pub fn new(endpoint: impl Into<String>) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.into(),
            timeouts: Timeouts {
                default: Duration::from_secs(10),
                get_payment_status: Duration::from_secs(5),
                execute_report: Duration::from_secs(30),
                connect: Duration::from_secs(3),
            },
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(2),
            },
            gen_b: true,
            pool_max_idle_per_host: 32,
        }
    }

    fn timeout_for(&self, op: Operation) -> Duration {
        match op {
            Operation::GetPaymentStatus => self.timeouts.get_payment_status,
            Operation::ExecuteReport => self.timeouts.execute_report,
            _ => self.timeouts.default,
        }
    }
}

/// Whether an operation is a pure read that may be retried.
pub fn is_pure_read(op: Operation) -> bool {
    matches!(op, Operation::GetPaymentStatus | Operation::ExecuteReport | Operation::BenchmarkingNop)
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection could not be established: the request was definitely not sent.
    #[error("{operation}: could not connect: {message}")]
    TransportBeforeSend {
        /// The operation.
        operation: Operation,
        /// reqwest's message.
        message: String,
    },
    /// Timeout or dropped connection after the request may have been written: the outcome is unknown.
    #[error("{operation}: transport failed after sending ({}): {message}", if *.timed_out { "timeout" } else { "connection" })]
    TransportAfterSend {
        /// The operation.
        operation: Operation,
        /// Whether it was a timeout.
        timed_out: bool,
        /// reqwest's message.
        message: String,
    },
    /// A non-2xx HTTP status that is not a SOAP fault.
    #[error("{operation}: HTTP {status}")]
    HttpStatus {
        /// The operation.
        operation: Operation,
        /// The status code.
        status: u16,
        /// The start of the body (at most 200 characters).
        body: String,
    },
    /// A SOAP fault.
    #[error("{operation}: {fault}")]
    SoapFault {
        /// The operation.
        operation: Operation,
        /// The fault.
        fault: SoapFault,
    },
    /// SEQR answered with a non-zero resultCode.
    #[error("{operation}: resultCode {} {}", .code.code(), .description.as_deref().unwrap_or(""))]
    ResultCode {
        /// The operation.
        operation: Operation,
        /// The code.
        code: ResultCode,
        /// resultDescription.
        description: Option<String>,
        /// The full response (its subtype fields are usually empty).
        response: Box<Response>,
    },
    /// The answer could not be decoded.
    #[error("{operation}: undecodable answer: {error}")]
    Decode {
        /// The operation.
        operation: Operation,
        /// The codec error.
        error: WireError,
    },
}

impl CallError {
    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        match self {
            CallError::TransportBeforeSend { operation, .. }
            | CallError::TransportAfterSend { operation, .. }
            | CallError::HttpStatus { operation, .. }
            | CallError::SoapFault { operation, .. }
            | CallError::ResultCode { operation, .. }
            | CallError::Decode { operation, .. } => *operation,
        }
    }

    /// A stable machine-readable code for the error class.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::TransportBeforeSend { .. } => "transport_before_send",
            CallError::TransportAfterSend { .. } => "transport_after_send",
            CallError::HttpStatus { .. } => "http_status",
            CallError::SoapFault { .. } => "soap_fault",
            CallError::ResultCode { .. } => "result_code",
            CallError::Decode { .. } => "decode",
        }
    }

    /// True when SEQR certainly did not carry the operation out (see the crate docs).
    pub fn is_definitely_not_done(&self) -> bool {
        match self {
            CallError::TransportBeforeSend { .. } | CallError::ResultCode { .. } => true,
            CallError::SoapFault { fault, .. } => {
                matches!(fault.code, FaultCode::Client | FaultCode::VersionMismatch | FaultCode::MustUnderstand)
            }
            _ => false,
        }
    }

    /// True when the operation may or may not have been carried out.
    pub fn outcome_unknown(&self) -> bool {
        !self.is_definitely_not_done()
    }

    /// The in-band result code, if this is a [`CallError::ResultCode`].
    pub fn result_code(&self) -> Option<ResultCode> {
        match self {
            CallError::ResultCode { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (transport trouble, 5xx/429, server faults, busy/error codes).
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::TransportBeforeSend { .. } | CallError::TransportAfterSend { .. } => true,
            CallError::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            CallError::SoapFault { fault, .. } => fault.code == FaultCode::Server,
            CallError::ResultCode { code, .. } => {
                matches!(code, ResultCode::SystemError | ResultCode::SystemBusy | ResultCode::ServiceUnavailable)
            }
            CallError::Decode { .. } => false,
        }
    }
}

/// Failure to build the HTTP client.
#[derive(Debug, thiserror::Error)]
#[error("cannot build HTTP client: {0}")]
pub struct BuildError(String);

/// Credentials of a principal, with a Debug that never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    principal: PrincipalId,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.principal.id)
            .field("type", &self.principal.principal_type)
            .field("user_id", &self.principal.user_id)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// A TERMINALID principal.
    pub fn terminal(id: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            principal: PrincipalId {
                id: Some(id.into()),
                principal_type: Some("TERMINALID".to_owned()),
                user_id: None,
            },
            password: password.into(),
        }
    }

    /// A RESELLERUSER principal.
    pub fn reseller(id: impl Into<String>, user_id: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            principal: PrincipalId {
                id: Some(id.into()),
                principal_type: Some("RESELLERUSER".to_owned()),
                user_id: Some(user_id.into()),
            },
            password: password.into(),
        }
    }

    /// A `clientContext` for these credentials (`channel` WS, `clientRequestTimeout` 0).
    pub fn context(&self, client_id: &str, client_reference: Option<&str>) -> ClientContext {
        ClientContext {
            channel: Some("WS".to_owned()),
            client_comment: None,
            client_id: Some(client_id.to_owned()),
            client_reference: client_reference.map(str::to_owned),
            client_request_timeout: 0,
            initiator_principal_id: Some(self.principal.clone()),
            password: Some(self.password.clone()),
        }
    }
}

/// Debug-formats a `ClientContext` without its password.
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub &'a ClientContext);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.0;
        f.debug_struct("ClientContext")
            .field("channel", &c.channel)
            .field("client_id", &c.client_id)
            .field("client_reference", &c.client_reference)
            .field("initiator_principal_id", &c.initiator_principal_id)
            .field("password", &c.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The SEQR client. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct SeqrClient {
    http: reqwest::Client,
    cfg: std::sync::Arc<ClientConfig>,
}

macro_rules! op {
    ($(#[$m:meta])* $name:ident, $req:ty, $variant:ident, $resp:ty) => {
        $(#[$m])*
        pub async fn $name(&self, req: $req) -> Result<$resp, CallError> {
            match self.call(Request::$variant(req)).await? {
                Response::$variant(r) => Ok(r),
                other => Err(CallError::Decode {
                    operation: Operation::$variant,
                    error: WireError::UnexpectedElement {
                        expected: Operation::$variant.response_name().to_owned(),
                        found: other.operation().response_name().to_owned(),
                    },
                }),
            }
        }
    };
}

impl SeqrClient {
    /// Builds the client (one connection pool for all calls).
    pub fn new(cfg: ClientConfig) -> Result<SeqrClient, BuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.timeouts.connect)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(SeqrClient { http, cfg: std::sync::Arc::new(cfg) })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    op!(
        /// sendInvoice (never retried).
        send_invoice, SendInvoiceRequest, SendInvoice, SendInvoiceResponse
    );
    op!(
        /// updateInvoice (never retried).
        update_invoice, UpdateInvoiceRequest, UpdateInvoice, ErsResponse
    );
    op!(
        /// getPaymentStatus (retried on transient errors).
        get_payment_status, GetPaymentStatusRequest, GetPaymentStatus, PaymentStatusResponse
    );
    op!(
        /// cancelInvoice (never retried).
        cancel_invoice, CancelInvoiceRequest, CancelInvoice, ErsResponse
    );
    op!(
        /// commitReservation (never retried).
        commit_reservation, CommitReservationRequest, CommitReservation, ErsResponse
    );
    op!(
        /// submitPaymentReceipt (never retried).
        submit_payment_receipt, SubmitPaymentReceiptRequest, SubmitPaymentReceipt, ErsResponse
    );
    op!(
        /// refundPayment (never retried). The response `ersReference` is the refund's own reference.
        refund_payment, RefundPaymentRequest, RefundPayment, ErsResponse
    );
    op!(
        /// registerTerminal (RESELLERUSER context; never retried).
        register_terminal, RegisterTerminalRequest, RegisterTerminal, RegisterTerminalResponse
    );
    op!(
        /// unregisterTerminal (never retried).
        unregister_terminal, UnregisterTerminalRequest, UnregisterTerminal, ErsResponse
    );
    op!(
        /// assignSeqrId (never retried).
        assign_seqr_id, AssignSeqrIdRequest, AssignSeqrId, ErsResponse
    );
    op!(
        /// markTransactionPeriod (RESELLERUSER context; never retried: each call opens a new period).
        mark_transaction_period, MarkTransactionPeriodRequest, MarkTransactionPeriod, MarkTransactionPeriodResponse
    );
    op!(
        /// executeReport (retried on transient errors; REPORT_NOT_READY comes back as a ResultCode error).
        execute_report, ExecuteReportRequest, ExecuteReport, ExecuteReportResponse
    );

    /// benchmarkingNop (a no-op round trip; retried like a read).
    pub async fn benchmarking_nop(&self) -> Result<ErsResponse, CallError> {
        match self.call(Request::BenchmarkingNop).await? {
            Response::BenchmarkingNop(r) => Ok(r),
            other => Err(CallError::Decode {
                operation: Operation::BenchmarkingNop,
                error: WireError::UnexpectedElement {
                    expected: Operation::BenchmarkingNop.response_name().to_owned(),
                    found: other.operation().response_name().to_owned(),
                },
            }),
        }
    }

    /// Sends any request and checks its resultCode. Pure reads are retried per the policy.
    pub async fn call(&self, req: Request) -> Result<Response, CallError> {
        let op = req.operation();
        let body = seqr_wire::render_request_with(&req, RenderOptions { gen_b: self.cfg.gen_b });
        let attempts = if is_pure_read(op) { self.cfg.retry.max_attempts.max(1) } else { 1 };
        let mut backoff = self.cfg.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            let span = tracing::info_span!(
                "seqr_call",
                operation = op.name(),
                attempt,
                elapsed_ms = tracing::field::Empty,
                result_code = tracing::field::Empty,
                error = tracing::field::Empty
            );
            let started = Instant::now();
            let res = self.once(op, body.clone()).instrument(span.clone()).await;
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            match &res {
                Ok(r) => {
                    span.record("result_code", r.base().result_code.code());
                }
                Err(e) => {
                    if let Some(c) = e.result_code() {
                        span.record("result_code", c.code());
                    }
                    span.record("error", e.code());
                }
            }
            span.in_scope(|| tracing::debug!("SEQR call finished"));
            match res {
                Err(e) if attempt < attempts && e.is_transient() => {
                    let jitter = rand::thread_rng().gen_range(0.5..1.0);
                    tokio::time::sleep(backoff.mul_f64(jitter)).await;
                    backoff = (backoff * 2).min(self.cfg.retry.max_backoff);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn once(&self, op: Operation, body: String) -> Result<Response, CallError> {
        let transport = |e: reqwest::Error| {
            if e.is_connect() {
                CallError::TransportBeforeSend { operation: op, message: error_chain(&e) }
            } else {
                CallError::TransportAfterSend { operation: op, timed_out: e.is_timeout(), message: error_chain(&e) }
            }
        };
        let resp = self
            .http
            .post(&self.cfg.endpoint)
            .timeout(self.cfg.timeout_for(op))
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=UTF-8")
            .header("SOAPAction", "\"\"")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| {
            // The status line arrived, so the request was certainly sent.
            CallError::TransportAfterSend { operation: op, timed_out: e.is_timeout(), message: error_chain(&e) }
        })?;
        if !status.is_success() {
            if let Ok(fault) = seqr_wire::parse_fault(&bytes) {
                return Err(CallError::SoapFault { operation: op, fault });
            }
            let text = String::from_utf8_lossy(&bytes);
            return Err(CallError::HttpStatus {
                operation: op,
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            });
        }
        let parsed = match seqr_wire::parse_response(op, &bytes) {
            Ok(r) => r,
            Err(WireError::Fault(fault)) => return Err(CallError::SoapFault { operation: op, fault }),
            Err(error) => return Err(CallError::Decode { operation: op, error }),
        };
        let base = parsed.base();
        if base.result_code.is_success() {
            Ok(parsed)
        } else {
            Err(CallError::ResultCode {
                operation: op,
                code: base.result_code,
                description: base.result_description.clone(),
                response: Box::new(parsed),
            })
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests;
