//! seqr-sim: a faithful SEQR merchant API simulator (SOAP 1.1 over HTTP, WSDL served with its own address) with a
//! JSON control API under `/sim/` that plays the shopper's phone, moves the clock and injects faults.
//!
//! Start it in-process with [`Sim::start`]; see the crate README for the control API.

pub mod config;
pub mod engine;
pub mod faults;
mod server;

pub use crate::config::{
    NotificationBody, SimConfig, DEFAULT_RESELLER_ID, DEFAULT_RESELLER_PASSWORD, DEFAULT_RESELLER_USER_ID,
    DEFAULT_TERMINAL_ID, DEFAULT_TERMINAL_PASSWORD,
};
pub use crate::server::{NotificationRecord, Sim, SimHandle, SOAP_PATHS};
