//! seqr-sim
