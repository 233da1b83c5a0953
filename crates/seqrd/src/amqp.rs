//! The RabbitMQ side of the event feed: one topic exchange, persistent messages, publisher confirms.
//!
//! Message format (a stability boundary, documented in README.md "Event feed"):
//! - exchange `seqrd.events` (topic, durable), routing key `<tenant>.<store>.<event_type>`;
//! - properties: `message_id` = event id, `type` = event type, `timestamp` = recorded_at (seconds),
//!   `correlation_id`, `content_type` = `application/json`, `delivery_mode` = 2 (persistent), `app_id` = `seqrd`;
//! - CloudEvents (AMQP binding, `cloudEvents:` prefixed application properties): specversion, id, source, type,
//!   subject, time, datacontenttype;
//! - body: the JSON envelope [`FeedMessage`].

use lapin::{
    options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions},
    publisher_confirm::Confirmation,
    types::{AMQPValue, FieldTable, ShortString},
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
};
use serde::Serialize;

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
    pub tenant_id: &'a str,
    pub merchant_id: &'a str,
    pub store_id: &'a str,
    pub terminal_id: &'a str,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub correlation_id: Option<uuid::Uuid>,
    pub causation_id: Option<uuid::Uuid>,
    /// The event payload, as stored.
    pub data: &'a serde_json::Value,
}

/// A publishing channel in confirm mode on a declared exchange.
pub struct Publisher {
    _connection: Connection,
    channel: Channel,
    exchange: String,
}

/// Why a publish did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("RabbitMQ refused message {0} (nack)")]
    Nacked(uuid::Uuid),
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Publisher {
    /// Connects, enables publisher confirms and declares the exchange (idempotent).
    pub async fn connect(url: &str, exchange: &str) -> Result<Publisher, PublishError> {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        declare_exchange(&channel, exchange).await?;
        Ok(Publisher { _connection: connection, channel, exchange: exchange.to_owned() })
    }

    /// Publishes a batch in order and returns once RabbitMQ confirmed every message; any nack fails the batch
    /// (the caller republishes from its checkpoint: delivery is at least once).
    pub async fn publish_confirmed(&self, batch: &[FeedMessage<'_>]) -> Result<(), PublishError> {
        let mut pending = Vec::with_capacity(batch.len());
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
            pending.push((message.id, confirm));
        }
        for (id, confirm) in pending {
            match confirm.await? {
                Confirmation::Ack(_) | Confirmation::NotRequested => {}
                Confirmation::Nack(_) => return Err(PublishError::Nacked(id)),
            }
        }
        Ok(())
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

/// `<tenant>.<store>.<event_type>`: ids never contain dots (the domain validates them).
pub fn routing_key(message: &FeedMessage<'_>) -> String {
    format!("{}.{}.{}", message.tenant_id, message.store_id, message.event_type)
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
        format!("/seqrd/{}/{}/{}/{}", message.tenant_id, message.merchant_id, message.store_id, message.terminal_id),
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
