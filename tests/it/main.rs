
mod store_events;
mod store_projections;
mod sim_errors;
mod sim_faults;
mod sim_flows;
mod sim_support;
mod sim_zeep;
mod event_schemas;
mod relay;
#[path = "support/amqp_proxy.rs"]
mod amqp_proxy;
#[path = "support/sample_events.rs"]
mod sample_events;
mod service;
