//! seqr-wire
