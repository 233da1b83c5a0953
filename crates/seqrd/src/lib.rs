//! seqrd: the service. HTTP command API, SEQR orchestration, status workers, projections and the RabbitMQ relay.

pub mod amqp;
pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod engine;
pub mod jobs;
pub mod locks;
pub mod outbound;
pub mod poller;
pub mod rate;
pub mod relay;
pub mod secret;
pub mod seqr;
pub mod service;
pub mod shutdown;
pub mod stack;
pub mod telemetry;
pub mod terminals;
