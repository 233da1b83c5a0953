//! engine: seqrd's application layer. One front door per use case: commands on invoices ([`Engine::issue`],
//! [`Engine::change`]), queries ([`Engine::invoice`], [`Engine::invoice_events`]), API keys and Idempotency-Keys,
//! registers, SEQR's notifications and readiness; the status workers ([`Poller`]) and the feed relay ([`Relay`]).
//!
//! It loads an invoice's stream once per command and passes the state along; it owns idempotency and the mapping
//! between the domain and SEQR's wire format (one place builds every request and classifies every answer). Its
//! errors are typed, with stable codes and a transport-independent [`ErrorClass`]. All SQL is in `store-pg`; the
//! HTTP and AMQP adapters depend on this crate, never the other way round.

mod access;
mod breaker;
mod commands;
mod error;
mod events;
mod health;
mod idempotency;
mod invoices;
pub mod metrics;
mod outbound;
mod poller;
mod rate;
mod relay;
mod secret;
mod seqr;
mod settings;
pub mod shutdown;
mod terminals;

pub use access::{ApiKeyInfo, Caller, NewApiKey};
pub use commands::{Change, CommandContext, Engine, EngineParts, EventRecord, Fate, IssueInput, Outcome, Render};
pub use error::{error_chain, EngineError, ErrorClass};
pub use events::{CursorError, EventPage, EventQuery, LogCursor, TenantEvent, MAX_EVENTS_PER_READ, MAX_WAIT};
pub use health::{Readiness, SubscriptionHealth};
pub use idempotency::{fingerprint, Answer, Begun, Claim, MAX_KEY_LEN};
pub use invoices::{metadata, now};
pub use outbound::{is_public, MerchantUrlPolicy, OutboundError};
pub use poller::{Poller, Round};
pub use rate::RateLimiter;
pub use relay::{Feed, FeedEvent, Relay, RelayError, Relayed, DEFAULT_BATCH_SIZE};
pub use secret::Secret;
pub use settings::{PollConfig, Settings};
pub use terminals::{Reseller, TerminalError, TerminalSpec};
