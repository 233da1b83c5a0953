//! seqr-wire's request parser, as seqr-sim reads incoming requests (lenient) and in strict mode; what it accepts
//! must render and read back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqr_wire::{parse_request, parse_request_with, render_request, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let lenient = parse_request(data);
    if let Ok(request) = &lenient {
        assert_eq!(parse_request(render_request(request).as_bytes()).as_ref(), Ok(request));
    }
    if let Ok(request) = parse_request_with(data, &ParseOptions::STRICT) {
        assert_eq!(lenient, Ok(request), "strict mode read differently");
    }
});
