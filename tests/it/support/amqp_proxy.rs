//! A TCP proxy to put between a client and RabbitMQ, so a test can take RabbitMQ "down" and bring it back:
//! [`TcpProxy::cut`] closes every proxied connection and refuses new ones; [`TcpProxy::restore`] forwards again.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; it stops when dropped.
pub(crate) struct TcpProxy {
    addr: SocketAddr,
    /// `(up, generation)`: connections end when the generation changes; new ones are refused while down.
    state: Arc<watch::Sender<(bool, u64)>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on an ephemeral loopback port and forwards every connection to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> anyhow::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(watch::channel((true, 0u64)).0);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (up, generation) = *shared.borrow();
                if !up {
                    // RabbitMQ is "down": the connection is closed before a byte is exchanged.
                    drop(client);
                    continue;
                }
                let mut cut = shared.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|s| s.1 != generation) => {}
                    }
                    // Dropping both streams closes both connections.
                });
            }
        });
        Ok(TcpProxy { addr, state, task })
    }

    /// The proxy's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open connection and refuses new ones until [`TcpProxy::restore`].
    pub(crate) fn cut(&self) {
        self.state.send_modify(|s| *s = (false, s.1 + 1));
    }

    /// Forwards new connections again.
    pub(crate) fn restore(&self) {
        self.state.send_modify(|s| s.0 = true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}
