//! seqr-client
