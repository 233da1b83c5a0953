//! The one integration-test binary: store, projections, relay and schemas, seqr-sim flows and faults, the zeep
//! client, and seqrd end to end.
#![allow(clippy::type_complexity)] // tuple rows read back from SQL

#[path = "support/amqp_proxy.rs"]
mod amqp_proxy;
mod budget;
#[path = "support/common.rs"]
mod common;
mod crash;
mod event_schemas;
mod events_api;
mod http_limits;
mod layout;
mod metrics;
mod relay;
mod round_trips;
#[path = "support/sample_events.rs"]
mod sample_events;
mod security;
mod service;
mod sim_errors;
mod sim_faults;
mod sim_flows;
mod sim_support;
mod sim_zeep;
mod store_events;
mod store_projections;
mod unavailable;
