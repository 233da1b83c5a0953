//! Crate-local tests: given/when/then flows over `decide`, every rejection code, value types, the upcaster
//! registry, and property tests over random command sequences.

mod fixtures;
mod flows;
mod props;
mod rejections;
mod values;
