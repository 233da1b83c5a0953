//! seqr-wire's response parser, as seqr-client reads SEQR's answers (every operation, lenient and strict), and
//! parse_fault; what it accepts must render and read back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqr_wire::{
    parse_fault, parse_response, parse_response_with, render_fault, render_response, Operation, ParseOptions,
};

fuzz_target!(|data: &[u8]| {
    for &op in Operation::ALL {
        let lenient = parse_response(op, data);
        if let Ok(response) = &lenient {
            assert_eq!(parse_response(op, render_response(response).as_bytes()).as_ref(), Ok(response));
        }
        if let Ok(response) = parse_response_with(op, data, &ParseOptions::STRICT) {
            assert_eq!(lenient, Ok(response), "strict mode read differently");
        }
    }
    if let Ok(fault) = parse_fault(data) {
        assert_eq!(parse_fault(render_fault(fault.code.clone(), &fault.message).as_bytes()), Ok(fault));
    }
});
