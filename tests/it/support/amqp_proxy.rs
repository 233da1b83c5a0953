//! A TCP proxy to put between a client and RabbitMQ, so a test can make RabbitMQ unreachable and bring it back:
//! [`TcpProxy::stall`] keeps connections open but forwards nothing (a network partition: a publish waits for
//! confirms that never come), [`TcpProxy::cut`] closes every connection and refuses new ones (RabbitMQ down), and
//! [`TcpProxy::restore`] forwards new connections again.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Stalled,
    Down,
}

/// A running proxy; it stops (and closes its connections) when dropped.
pub(crate) struct TcpProxy {
    addr: SocketAddr,
    /// The mode and a generation: open connections end when the generation changes.
    state: Arc<watch::Sender<(Mode, u64)>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on an ephemeral loopback port and forwards every connection to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> anyhow::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(watch::channel((Mode::Up, 0u64)).0);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (mode, generation) = *shared.borrow();
                let mut changes = shared.subscribe();
                match mode {
                    // Refused: closed before a byte is exchanged.
                    Mode::Down => drop(client),
                    // Held open, silent, until the next cut.
                    Mode::Stalled => {
                        tokio::spawn(async move {
                            let _ = changes.wait_for(|s| s.1 != generation).await;
                            drop(client);
                        });
                    }
                    Mode::Up => {
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                            tokio::select! {
                                _ = copy_bidirectional(&mut client, &mut server) => {}
                                _ = async { changes.wait_for(|s| s.1 != generation || s.0 != Mode::Up).await.is_ok() } => {
                                    // Stalled or cut: forward nothing more; hold both sockets until the cut.
                                    let _ = changes.wait_for(|s| s.1 != generation).await;
                                }
                            }
                            // Dropping both streams closes both connections.
                        });
                    }
                }
            }
        });
        Ok(TcpProxy { addr, state, task })
    }

    /// The proxy's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops forwarding but keeps every connection open (new ones are accepted and left silent).
    pub(crate) fn stall(&self) {
        self.state.send_modify(|s| s.0 = Mode::Stalled);
    }

    /// Closes every open connection and refuses new ones until [`TcpProxy::restore`].
    pub(crate) fn cut(&self) {
        self.state.send_modify(|s| *s = (Mode::Down, s.1 + 1));
    }

    /// Forwards new connections again.
    pub(crate) fn restore(&self) {
        self.state.send_modify(|s| s.0 = Mode::Up);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}
