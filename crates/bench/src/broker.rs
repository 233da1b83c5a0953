//! A scratch feed exchange with a quorum queue bound to every routing key, for the benchmarks that publish to
//! RabbitMQ (`relay`, `delivery`); deleted at the end.

use lapin::options::{
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};

/// The scratch exchange and its queue (of the same name).
pub(crate) struct Broker {
    pub(crate) connection: Connection,
    channel: Channel,
    pub(crate) exchange: String,
    pub(crate) queue: String,
}

impl Broker {
    /// Declares the feed exchange `exchange` and a quorum queue of the same name bound to it with `#`.
    pub(crate) async fn create(url: &str, exchange: &str) -> anyhow::Result<Broker> {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        amqp::declare_exchange(&channel, exchange).await?;
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        let queue = exchange.to_owned();
        channel
            .queue_declare(&queue, QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() }, args)
            .await?;
        channel.queue_bind(&queue, exchange, "#", QueueBindOptions::default(), FieldTable::default()).await?;
        Ok(Broker { connection, channel, exchange: exchange.to_owned(), queue })
    }

    /// Empties the queue.
    pub(crate) async fn purge(&self) -> anyhow::Result<()> {
        self.channel.queue_purge(&self.queue, QueuePurgeOptions::default()).await?;
        Ok(())
    }

    /// Deletes the queue and the exchange and closes the connection.
    pub(crate) async fn delete(&self) -> anyhow::Result<()> {
        self.channel.queue_delete(&self.queue, QueueDeleteOptions::default()).await?;
        self.channel.exchange_delete(&self.exchange, ExchangeDeleteOptions::default()).await?;
        self.connection.close(200, "done").await?;
        Ok(())
    }
}
