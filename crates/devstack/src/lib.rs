//! devstack: a whole seqrd in one process against seqr-sim ([`stack::Stack`]), and the demo's seed flows
//! ([`demo`]). The only crate besides the tests and the benchmarks that depends on the simulator: the production
//! `seqrd` binary leaves it out, and `seqrd demo` runs this crate's `seqrd-demo` binary.

pub mod demo;
pub mod faults;
pub mod pgcount;
pub mod stack;
