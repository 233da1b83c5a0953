//! seqr-wire's reconciliation report parser (executeReport's content), as finance reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqr_wire::{parse_report, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_report(text, &Limits::DEFAULT);
    }
});
