//! LISTEN on a dedicated connection, for the wake-ups other processes send with NOTIFY.

use sqlx::{postgres::PgListener, PgPool};

use crate::StoreError;

/// A connection listening on some channels.
pub struct Listener(PgListener);

impl Listener {
    /// Opens a connection of `pool`'s options and listens on `channels`.
    pub async fn connect(pool: &PgPool, channels: &[&str]) -> Result<Listener, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Listener(listener))
    }

    /// The next notification: its channel and payload.
    pub async fn recv(&mut self) -> Result<(String, String), StoreError> {
        let n = self.0.recv().await?;
        Ok((n.channel().to_owned(), n.payload().to_owned()))
    }
}
