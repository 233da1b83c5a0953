use seqr_wire::{ErsResponse, FaultCode, Operation, Response, ResultCode, SoapFault, WireError};

use crate::{is_pure_read, CallError, Credentials, Redacted};

#[test]
fn passwords_never_show_in_debug_output() {
    let t = Credentials::terminal("8609bf533abf4a20816e8bfe76639521", "s3cr3t-terminal");
    let r = Credentials::reseller("hm1", "9900", "s3cr3t-reseller");
    let text = format!("{t:?} {r:?} {:?}", Redacted(&t.context("pos", Some("ref"))));
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("8609bf533abf4a20816e8bfe76639521") && text.contains("<redacted>"), "{text}");
    // The context itself carries the password for the wire.
    assert_eq!(t.context("pos", None).password.as_deref(), Some("s3cr3t-terminal"));
}

#[test]
fn classification() {
    let op = Operation::SendInvoice;
    let before = CallError::TransportBeforeSend { operation: op, message: "refused".into() };
    let after = CallError::TransportAfterSend { operation: op, timed_out: true, message: "timeout".into() };
    let http = CallError::HttpStatus { operation: op, status: 502, body: String::new() };
    let fault = |code| CallError::SoapFault { operation: op, fault: SoapFault { code, message: "x".into() } };
    let busy = CallError::ResultCode {
        operation: op,
        code: ResultCode::SystemBusy,
        description: None,
        response: Box::new(Response::UpdateInvoice(ErsResponse::new(ResultCode::SystemBusy))),
    };
    let decode = CallError::Decode { operation: op, error: WireError::MissingBody };
    assert!(before.is_definitely_not_done() && before.is_transient());
    assert!(after.outcome_unknown() && after.is_transient());
    assert!(http.outcome_unknown() && http.is_transient());
    assert!(fault(FaultCode::Client).is_definitely_not_done() && !fault(FaultCode::Client).is_transient());
    assert!(fault(FaultCode::Server).outcome_unknown() && fault(FaultCode::Server).is_transient());
    assert!(busy.is_definitely_not_done() && busy.is_transient());
    assert_eq!(busy.result_code(), Some(ResultCode::SystemBusy));
    assert!(decode.outcome_unknown() && !decode.is_transient());
    let codes: Vec<&str> = [&before, &after, &http, &busy, &decode].iter().map(|e| e.code()).collect();
    assert_eq!(codes, ["transport_before_send", "transport_after_send", "http_status", "result_code", "decode"]);
}

#[test]
fn only_pure_reads_are_retryable() {
    let reads: Vec<Operation> = Operation::ALL.iter().copied().filter(|op| is_pure_read(*op)).collect();
    assert_eq!(reads, [Operation::GetPaymentStatus, Operation::ExecuteReport, Operation::BenchmarkingNop]);
}
