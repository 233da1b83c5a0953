//! seqrd: the process. Configuration, start-up checks, the wiring of the parts (HTTP API, status workers,
//! projectors, the RabbitMQ relay) onto their own pools, logging and shutdown. What the parts do is in `engine`,
//! `http-api`, `amqp` and `store-pg`.

pub mod admin;
pub mod app;
pub mod config;
pub mod telemetry;
