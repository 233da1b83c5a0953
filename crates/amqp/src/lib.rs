//! The RabbitMQ side of the event feed: one topic exchange, persistent messages, publisher confirms.
//!
//! Message format (a stability boundary, documented in docs/event-feed.md):
//! - exchange `seqrd.events` (topic, durable), routing key `<tenant>.<store>.<event_type>`;
//! - properties: `message_id` = event id, `type` = event type, `timestamp` = recorded_at (seconds),
//!   `correlation_id`, `content_type` = `application/json`, `delivery_mode` = 2 (persistent), `app_id` = `seqrd`;
//! - CloudEvents (AMQP binding, `cloudEvents:` prefixed application properties): specversion, id, source, type,
//!   subject, time, datacontenttype;
//! - body: the JSON envelope [`FeedMessage`].

use std::time::Duration;

use engine::{Feed, FeedEvent};
use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions},
    publisher_confirm::Confirmation,
    types::{AMQPValue, FieldTable, ShortString},
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
};
use serde::Serialize;

/// The default feed exchange.
pub const DEFAULT_EXCHANGE: &str = "seqrd.events";

/// The routing-key word used for a missing store id (never a valid id: ids are `[A-Za-z0-9_-]`).
pub const NO_STORE: &str = "~";

/// How long [`Publisher::connect`] may take before it fails with [`PublishError::Timeout`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Publisher::publish_confirmed`] waits for a batch's confirms before it gives up, by default.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// What goes into one message body.
#[derive(Debug, Serialize)]
pub struct FeedMessage<'a> {
    /// Event id (also the AMQP message_id): consumers deduplicate on it.
    pub id: uuid::Uuid,
    /// Event type, e.g. `status_observed`.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// Schema version of `data` for this event type (see schemas/events/).
    pub schema_version: i32,
    /// The invoice (stream) the event belongs to.
    pub invoice_id: uuid::Uuid,
    /// Position of the event in its invoice's stream, from 1: consumers order and deduplicate by it.
    pub version: i64,
    /// Position in the global log.
    pub position: i64,
    /// Tenant of the invoice.
    pub tenant_id: &'a str,
    /// Merchant of the invoice.
    pub merchant_id: &'a str,
    /// Store of the invoice (`null` if the stream has none).
    pub store_id: Option<&'a str>,
    /// Terminal of the invoice (`null` if the stream has none).
    pub terminal_id: Option<&'a str>,
    /// When the event was stored (database clock).
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// Id shared by everything done for one external request or flow.
    pub correlation_id: Option<uuid::Uuid>,
    /// Id of the message or event that caused the command, if any.
    pub causation_id: Option<uuid::Uuid>,
    /// The event payload, as stored.
    pub data: &'a serde_json::value::RawValue,
}

impl<'a> From<&FeedEvent<'a>> for FeedMessage<'a> {
    /// The message for an event of the log.
    fn from(event: &FeedEvent<'a>) -> FeedMessage<'a> {
        FeedMessage {
            id: event.id,
            event_type: event.event_type,
            schema_version: event.schema_version,
            invoice_id: event.invoice_id,
            version: event.version,
            position: event.position,
            tenant_id: event.tenant_id,
            merchant_id: event.merchant_id,
            store_id: event.store_id,
            terminal_id: event.terminal_id,
            recorded_at: event.recorded_at,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            data: event.data,
        }
    }
}

/// The relay's feed on RabbitMQ: a [`Publisher`] connected on demand, dropped on any error.
pub struct AmqpFeed {
    url: String,
    exchange: String,
    confirm_timeout: Duration,
    publisher: Option<Publisher>,
}

impl AmqpFeed {
    /// The feed exchange `exchange` at `url`; nothing is connected yet.
    pub fn new(url: &str, exchange: &str) -> AmqpFeed {
        AmqpFeed {
            url: url.to_owned(),
            exchange: exchange.to_owned(),
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            publisher: None,
        }
    }

    /// Sets how long a batch may wait for its confirms before it fails (default 30 s).
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> AmqpFeed {
        self.confirm_timeout = timeout;
        self
    }
}

impl Feed for AmqpFeed {
    type Error = PublishError;

    async fn connect(&mut self) -> Result<(), PublishError> {
        if self.publisher.as_ref().is_some_and(Publisher::is_connected) {
            return Ok(());
        }
        self.publisher = None;
        let publisher = Publisher::connect(&self.url, &self.exchange).await?;
        self.publisher = Some(publisher.with_confirm_timeout(self.confirm_timeout));
        Ok(())
    }

    async fn publish(&mut self, batch: &[FeedEvent<'_>]) -> Result<(), PublishError> {
        self.connect().await?;
        let messages: Vec<FeedMessage<'_>> = batch.iter().map(FeedMessage::from).collect();
        let result = match &self.publisher {
            Some(publisher) => publisher.publish_confirmed(&messages).await,
            None => Ok(()),
        };
        if result.is_err() {
            // Dropped, not closed (a failing broker may not answer a close); the next step reconnects.
            self.publisher = None;
        }
        result
    }

    async fn close(&mut self) {
        if let Some(publisher) = self.publisher.take() {
            publisher.close().await;
        }
    }

    fn destination(&self) -> String {
        format!("exchange {}", self.exchange)
    }
}

/// A publishing channel in confirm mode on a declared exchange.
pub struct Publisher {
    connection: Connection,
    channel: Channel,
    exchange: String,
    confirm_timeout: Duration,
}

/// Why a publish did not go through. Each variant has a stable [`PublishError::code`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The connection or channel failed (RabbitMQ down, connection lost, channel closed by the broker).
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused a message.
    #[error("RabbitMQ refused message {0} (nack)")]
    Nacked(uuid::Uuid),
    /// The broker did not answer in time (connecting, or confirming a batch).
    #[error("RabbitMQ did not answer within {0:?}")]
    Timeout(Duration),
    /// A message body could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl PublishError {
    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::Amqp(_) => "amqp.unavailable",
            PublishError::Nacked(_) => "amqp.nacked",
            PublishError::Timeout(_) => "amqp.timeout",
            PublishError::Encode(_) => "amqp.encode",
        }
    }
}

impl Publisher {
    /// Connects, enables publisher confirms and declares the exchange (idempotent).
    pub async fn connect(url: &str, exchange: &str) -> Result<Publisher, PublishError> {
        let connect = async {
            let connection = Connection::connect(url, ConnectionProperties::default()).await?;
            let channel = connection.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            declare_exchange(&channel, exchange).await?;
            Ok::<_, PublishError>(Publisher {
                connection,
                channel,
                exchange: exchange.to_owned(),
                confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect).await.map_err(|_| PublishError::Timeout(CONNECT_TIMEOUT))?
    }

    /// Sets how long [`Publisher::publish_confirmed`] waits for a batch's confirms (a silent broker or network
    /// partition fails the batch with [`PublishError::Timeout`] after this long).
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> Publisher {
        self.confirm_timeout = timeout;
        self
    }

    /// Whether the connection and the channel are still usable (a lost connection is noticed here first).
    pub fn is_connected(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Publishes a batch in order and returns once RabbitMQ confirmed every message; any nack fails the batch
    /// (the caller republishes from its checkpoint: delivery is at least once).
    ///
    /// The batch is pipelined: every message is handed to the channel (in order) before the first confirm is
    /// awaited, so a batch costs about one broker round trip, not one per message. (Polling the publishes
    /// concurrently measured no faster with lapin 2, and its order would rest on lapin internals.)
    pub async fn publish_confirmed(&self, batch: &[FeedMessage<'_>]) -> Result<(), PublishError> {
        let work = async {
            let mut confirms = Vec::with_capacity(batch.len());
            for message in batch {
                let body = serde_json::to_vec(message)?;
                let confirm = self
                    .channel
                    .basic_publish(
                        &self.exchange,
                        &routing_key(message),
                        BasicPublishOptions::default(),
                        &body,
                        properties(message),
                    )
                    .await?;
                confirms.push((message.id, confirm));
            }
            for (id, confirm) in confirms {
                match confirm.await? {
                    Confirmation::Ack(_) | Confirmation::NotRequested => {}
                    Confirmation::Nack(_) => return Err(PublishError::Nacked(id)),
                }
            }
            Ok(())
        };
        let timeout = self.confirm_timeout;
        tokio::time::timeout(timeout, work).await.map_err(|_| PublishError::Timeout(timeout))?
    }

    /// Closes the connection politely (best effort).
    pub async fn close(self) {
        let _ = self.connection.close(200, "bye").await;
    }
}

/// Declares the feed exchange: a durable topic exchange. Declaring twice is harmless.
pub async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            exchange,
            ExchangeKind::Topic,
            ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() },
            FieldTable::default(),
        )
        .await
}

/// `<tenant>.<store>.<event_type>`. Ids never contain dots (the domain validates them); should one slip in
/// through raw data, it becomes `_` so that the key keeps its three words. A missing store is [`NO_STORE`].
pub fn routing_key(message: &FeedMessage<'_>) -> String {
    let word = |s: &str| s.replace(['.', '*', '#'], "_");
    format!("{}.{}.{}", word(message.tenant_id), word(message.store_id.unwrap_or(NO_STORE)), word(message.event_type))
}

fn properties(message: &FeedMessage<'_>) -> BasicProperties {
    let mut headers = FieldTable::default();
    let mut put = |key: &str, value: String| {
        headers.insert(ShortString::from(key), AMQPValue::LongString(value.into()));
    };
    put("cloudEvents:specversion", "1.0".to_owned());
    put("cloudEvents:id", message.id.to_string());
    put(
        "cloudEvents:source",
        format!(
            "/seqrd/{}/{}/{}/{}",
            message.tenant_id,
            message.merchant_id,
            message.store_id.unwrap_or(NO_STORE),
            message.terminal_id.unwrap_or(NO_STORE)
        ),
    );
    put("cloudEvents:type", format!("com.seqrd.invoice.{}.v{}", message.event_type, message.schema_version));
    put("cloudEvents:subject", message.invoice_id.to_string());
    put("cloudEvents:time", message.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    put("cloudEvents:datacontenttype", "application/json".to_owned());
    let mut props = BasicProperties::default()
        .with_message_id(message.id.to_string().into())
        .with_type(message.event_type.into())
        .with_timestamp(message.recorded_at.timestamp().max(0) as u64)
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_app_id("seqrd".into())
        .with_headers(headers);
    if let Some(correlation) = message.correlation_id {
        props = props.with_correlation_id(correlation.to_string().into());
    }
    props
}
