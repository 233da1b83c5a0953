//! seqrd
