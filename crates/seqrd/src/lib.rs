//! seqrd: the service. HTTP command API, SEQR orchestration, status workers, projections and the RabbitMQ relay.

pub mod amqp;
pub mod api;
pub mod config;
pub mod engine;
pub mod secret;
pub mod seqr;
pub mod telemetry;
