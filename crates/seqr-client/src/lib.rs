//! seqr-client: calls SEQR over HTTP (reqwest) with the seqr-wire codec.
//!
//! (Written by the lead for the service; extend, do not rewrite.)
//!
//! - One `reqwest::Client` per [`SeqrClient`]: connections are reused.
//! - Per-operation timeouts ([`Timeouts`]).
//! - Retries with exponential backoff and jitter only where repeating is safe: the reads getPaymentStatus and
//!   executeReport. A call that moves money or changes an invoice is sent once; its failure is classified.
//! - Every failure is a [`CallError`] whose [`CallError::outcome_unknown`] tells "maybe done" from "definitely
//!   not done". reqwest does not say whether the request body left the machine, so only connection failures
//!   (`is_connect`) count as before-send; every other transport failure (timeouts, resets) is after-send.
//! - Passwords never appear in logs or in `Debug` output of this crate's types; requests are never logged.

use std::time::{Duration, Instant};

use rand::Rng;
use seqr_wire::{
    FaultCode, Operation, RenderOptions, Request, Response, ResultCode, SoapFault, WireError,
};

/// Timeouts per operation.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// getPaymentStatus (polled about once a second: keep it short).
    pub status: Duration,
    /// executeReport and markTransactionPeriod.
    pub report: Duration,
    /// Every other operation.
    pub other: Duration,
}

impl Timeouts {
    /// 2 s connect, 5 s status, 30 s reports, 15 s others.
    pub const DEFAULT: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        status: Duration::from_secs(5),
        report: Duration::from_secs(30),
        other: Duration::from_secs(15),
    };

    fn for_op(&self, op: Operation) -> Duration {
        match op {
            Operation::GetPaymentStatus => self.status,
            Operation::ExecuteReport | Operation::MarkTransactionPeriod => self.report,
            _ => self.other,
        }
    }
}

/// Retries of safe operations.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubled each attempt, with up to 50% jitter.
    pub backoff: Duration,
}

impl RetryPolicy {
    /// 3 attempts, 100 ms first backoff.
    pub const DEFAULT: RetryPolicy = RetryPolicy { attempts: 3, backoff: Duration::from_millis(100) };
    /// No retries.
    pub const NONE: RetryPolicy = RetryPolicy { attempts: 1, backoff: Duration::ZERO };
}

/// How to reach SEQR.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The SOAP endpoint, e.g. `https://extdev.seqr.com/extclientproxy/service/v2`.
    pub endpoint: String,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// Which schema generation to render (Gen A servers do not know commitReservation.amount).
    pub render: RenderOptions,
    /// Most idle connections kept per host.
    pub max_idle_per_host: usize,
}

impl ClientConfig {
    /// Defaults for `endpoint`: [`Timeouts::DEFAULT`], [`RetryPolicy::DEFAULT`], Gen B.
    pub fn new(endpoint: impl Into<String>) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.into(),
            timeouts: Timeouts::DEFAULT,
            retry: RetryPolicy::DEFAULT,
            render: RenderOptions::GEN_B,
            max_idle_per_host: 64,
        }
    }
}

/// Why a call failed, classified so the caller knows whether it may have been done.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection could be made: the request never left. Definitely not done.
    #[error("{op}: cannot connect to SEQR: {message}")]
    TransportBeforeSend { op: Operation, message: String },
    /// The request may have left and no answer came back (timeout, reset): outcome unknown.
    #[error("{op}: no answer from SEQR: {message}")]
    TransportAfterSend { op: Operation, message: String },
    /// SEQR answered with an HTTP error status and no SOAP fault. 5xx: outcome unknown; 4xx: not done.
    #[error("{op}: SEQR answered HTTP {status}")]
    HttpStatus { op: Operation, status: u16 },
    /// SEQR answered with a SOAP fault. `Client` faults (bad request): not done; others: outcome unknown.
    #[error("{op}: SOAP fault {fault}")]
    SoapFault { op: Operation, fault: SoapFault },
    /// SEQR answered with a non-zero result code: definitely not done.
    #[error("{op}: SEQR result {} {}", code.code(), description)]
    ResultCode { op: Operation, code: ResultCode, description: String, response: Box<Response> },
    /// SEQR answered 200 with a body we cannot read: it processed the request, we do not know how.
    #[error("{op}: cannot decode SEQR's answer: {error}")]
    Decode { op: Operation, error: WireError },
    /// The client could not be built (bad endpoint, TLS setup).
    #[error("cannot set up the SEQR client: {0}")]
    Setup(String),
}

impl CallError {
    /// Whether the call may have been carried out by SEQR (so it must not be blindly repeated).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            CallError::TransportAfterSend { .. } | CallError::Decode { .. } => true,
            CallError::HttpStatus { status, .. } => *status >= 500,
            CallError::SoapFault { fault, .. } => fault.code != FaultCode::Client,
            CallError::TransportBeforeSend { .. } | CallError::ResultCode { .. } | CallError::Setup(_) => false,
        }
    }

    /// Whether the call was definitely not carried out.
    pub fn is_definitely_not_done(&self) -> bool {
        !self.outcome_unknown()
    }

    /// The SEQR result code, for in-band business errors.
    pub fn result_code(&self) -> Option<ResultCode> {
        match self {
            CallError::ResultCode { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A stable machine-readable class name.
    pub fn class(&self) -> &'static str {
        match self {
            CallError::TransportBeforeSend { .. } => "transport_before_send",
            CallError::TransportAfterSend { .. } => "transport_after_send",
            CallError::HttpStatus { .. } => "http_status",
            CallError::SoapFault { .. } => "soap_fault",
            CallError::ResultCode { .. } => "result_code",
            CallError::Decode { .. } => "decode",
            CallError::Setup(_) => "setup",
        }
    }

    fn retryable(&self) -> bool {
        match self {
            CallError::TransportBeforeSend { .. } | CallError::TransportAfterSend { .. } => true,
            CallError::HttpStatus { status, .. } => *status >= 500,
            CallError::ResultCode { code, .. } => {
                matches!(code, ResultCode::SystemError | ResultCode::SystemBusy | ResultCode::ServiceUnavailable)
            }
            _ => false,
        }
    }
}

/// A SEQR SOAP client.
#[derive(Clone)]
pub struct SeqrClient {
    http: reqwest::Client,
    config: ClientConfig,
}

impl std::fmt::Debug for SeqrClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqrClient").field("endpoint", &self.config.endpoint).finish_non_exhaustive()
    }
}

impl SeqrClient {
    /// Builds the client (no connection is made yet).
    pub fn new(config: ClientConfig) -> Result<SeqrClient, CallError> {
        reqwest::Url::parse(&config.endpoint).map_err(|e| CallError::Setup(format!("endpoint {:?}: {e}", config.endpoint)))?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            .pool_max_idle_per_host(config.max_idle_per_host)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| CallError::Setup(e.to_string()))?;
        Ok(SeqrClient { http, config })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }

    /// Sends a request; a success is a response with result code 0. Safe reads are retried per the policy.
    pub async fn call(&self, request: &Request) -> Result<Response, CallError> {
        let op = request.operation();
        let attempts = if is_safe_to_repeat(op) { self.config.retry.attempts.max(1) } else { 1 };
        let body = seqr_wire::render_request_with(request, self.config.render);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = self.call_once(op, body.clone()).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(_) => tracing::debug!(op = op.name(), elapsed_ms, attempt, "seqr call ok"),
                Err(e) => tracing::info!(op = op.name(), elapsed_ms, attempt, class = e.class(), error = %e, "seqr call failed"),
            }
            match result {
                Err(e) if attempt < attempts && e.retryable() => {
                    let base = self.config.retry.backoff * 2u32.saturating_pow(attempt - 1);
                    let jitter = rand::thread_rng().gen_range(0.0..0.5);
                    tokio::time::sleep(base.mul_f64(1.0 + jitter)).await;
                }
                other => return other,
            }
        }
    }

    async fn call_once(&self, op: Operation, body: String) -> Result<Response, CallError> {
        let sent = self
            .http
            .post(&self.config.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=UTF-8")
            .header("SOAPAction", "\"\"")
            .timeout(self.config.timeouts.for_op(op))
            .body(body)
            .send()
            .await;
        let response = sent.map_err(|e| transport_error(op, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport_error(op, &e))?;
        if !status.is_success() {
            // CXF answers faults with HTTP 500 and a soap:Fault body.
            return Err(match seqr_wire::parse_fault(&bytes) {
                Ok(fault) => CallError::SoapFault { op, fault },
                Err(_) => CallError::HttpStatus { op, status: status.as_u16() },
            });
        }
        let response = match seqr_wire::parse_response(op, &bytes) {
            Ok(r) => r,
            Err(WireError::Fault(fault)) => return Err(CallError::SoapFault { op, fault }),
            Err(error) => return Err(CallError::Decode { op, error }),
        };
        let base = response.base();
        if base.result_code.is_success() {
            Ok(response)
        } else {
            let code = base.result_code;
            let description = base.result_description.clone().unwrap_or_else(|| code.description());
            Err(CallError::ResultCode { op, code, description, response: Box::new(response) })
        }
    }
}

/// Whether repeating `op` cannot change anything at SEQR.
pub fn is_safe_to_repeat(op: Operation) -> bool {
    matches!(op, Operation::GetPaymentStatus | Operation::ExecuteReport | Operation::BenchmarkingNop)
}

fn transport_error(op: Operation, e: &reqwest::Error) -> CallError {
    // Only a failed connect proves the request never left; everything else may have reached SEQR.
    let message = without_url(e);
    if e.is_connect() {
        CallError::TransportBeforeSend { op, message }
    } else {
        CallError::TransportAfterSend { op, message }
    }
}

/// reqwest errors name the URL; the message is kept but the URL's query (which never holds secrets here) too.
fn without_url(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
