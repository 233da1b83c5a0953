//! The HTTP server: hyper's HTTP/1.1 connections under an accept loop of our own, so that a slow, idle or
//! numerous client cannot hold the server's connections (the settings are [`HttpLimits`]):
//!
//! - **Connections.** A semaphore permit is taken *before* `accept` and held for the connection's life: beyond
//!   `max_connections`, new connections wait in the kernel's listen backlog until one closes.
//! - **Header, idle.** A watchdog per connection knows its phase: reading a request head (since the accept, or
//!   since the first byte after an idle period), idle (a kept-alive connection between requests), busy (a
//!   handler is running) or writing (the answer goes out). The head must be complete within `header_timeout`;
//!   an idle connection is closed after `idle_timeout`; an answer must be written within `request_timeout`
//!   (a client that does not read it). The connection is then dropped, which closes it; no request is in
//!   flight on it in any of these phases. hyper's own `header_read_timeout` is not used: its clock starts when
//!   hyper begins waiting for a head, i.e. right after the previous answer, so it would close every kept-alive
//!   connection after `header_timeout` and make `idle_timeout` meaningless whenever it is the longer one.
//! - **Body.** The whole body must arrive within `body_timeout` after its head ([`DeadlineBody`]: one deadline
//!   for the whole body, not per read, so a body trickled a byte at a time is cut too). Reading it then fails,
//!   the handler never sees a body, and the answer is 408 `body_timeout` with `Connection: close`.
//! - **Total.** A handler still running after `request_timeout` is answered 503 `request_timeout`, but it is
//!   **not** dropped: every handler runs in a task of its own and finishes its work. Dropping it (what
//!   tower-http's `TimeoutLayer` does) would cancel a command between its SEQR call and the append of the
//!   call's outcome, leaving a call that only a worker can resolve, later, as unknown. The caller learns the
//!   outcome by repeating the request with the same Idempotency-Key (409 while it still runs, then the stored
//!   answer) or by reading the invoice. For the same reason a client that disconnects no longer cancels its
//!   command. The tasks are counted: shutdown waits for them.
//! - **Shutdown.** Stop accepting (the listener is closed), let hyper close idle connections and finish the
//!   requests in flight ([`GracefulShutdown`]), then wait for the handlers still running after a 503.

use std::{
    convert::Infallible,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    http::{header, HeaderValue, Request, Response, StatusCode},
    response::IntoResponse as _,
    Router,
};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::{
    rt::TokioIo,
    server::graceful::{GracefulShutdown, Watcher},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

use engine::shutdown::Shutdown;

use crate::{error::ApiError, HttpLimits};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Accepts and serves connections until `shutdown`, then closes them gracefully and waits for the handlers.
pub(super) async fn serve(listener: TcpListener, router: Router, limits: HttpLimits, shutdown: Shutdown) {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = GracefulShutdown::new();
    // Every handler task holds a sender; `recv` answers `None` once all of them are gone.
    let (handlers, mut handlers_done) = mpsc::channel::<Infallible>(1);
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        // A slot first, then accept: beyond the limit a connection is not accepted, it waits in the backlog.
        let slot = tokio::select! {
            () = &mut stop => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // The peer gave up before the accept: nothing to do.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Typically out of file descriptors: wait rather than spin (as axum::serve does).
                    tracing::error!(error = %e, "HTTP accept failed");
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        tokio::spawn(connection(stream, router.clone(), limits.clone(), handlers.clone(), connections.watcher(), slot));
    }
    drop(listener);
    connections.shutdown().await;
    drop(handlers);
    let _ = handlers_done.recv().await;
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Where a connection is, for its watchdog.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Reading a request head, since this instant (the accept, or the first byte after an idle period).
    Head(Instant),
    /// A kept-alive connection between two requests, since this instant.
    Idle(Instant),
    /// A handler is running (the total timeout answers it).
    Busy,
    /// The answer is being written, since this instant.
    Writing(Instant),
}

/// Serves one connection; closes it when its phase outlives its limit. `_slot` is the connection's place
/// under `max_connections`, given back when the connection ends.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: Arc<HttpLimits>,
    handlers: mpsc::Sender<Infallible>,
    watcher: Watcher,
    _slot: OwnedSemaphorePermit,
) {
    let phase = Arc::new(watch::Sender::new(Phase::Head(Instant::now())));
    let mut changes = phase.subscribe();
    let io = TokioIo::new(Tracked { stream, phase: phase.clone() });
    let service = {
        let (phase, limits) = (phase.clone(), limits.clone());
        hyper::service::service_fn(move |request| {
            handle(request, router.clone(), limits.clone(), handlers.clone(), Busy::start(&phase))
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // Timed by the watchdog instead (see the module docs); also keeps hyper's default 30 s from applying.
    http.header_read_timeout(None);
    let conn = watcher.watch(http.serve_connection(io, service));
    tokio::pin!(conn);
    loop {
        let deadline = match *changes.borrow_and_update() {
            Phase::Head(since) => Some((since + limits.header_timeout, "header")),
            Phase::Idle(since) => Some((since + limits.idle_timeout, "idle")),
            Phase::Writing(since) => Some((since + limits.request_timeout, "response write")),
            Phase::Busy => None,
        };
        let expiry = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection failed");
                }
                return;
            }
            // `phase` lives as long as this loop, so this never fails.
            _ = changes.changed() => {}
            () = expiry => {
                // Unless the phase moved on at the same instant, the connection is dropped, which closes it.
                if !changes.has_changed().unwrap_or(true) {
                    let timeout = deadline.map_or("", |(_, name)| name);
                    tracing::debug!(timeout, "closing an HTTP connection: timeout");
                    return;
                }
            }
        }
    }
}

/// A connection's socket that moves an idle connection to [`Phase::Head`] when the next request's first byte
/// arrives.
struct Tracked {
    stream: TcpStream,
    phase: Arc<watch::Sender<Phase>>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.send_if_modified(|phase| match phase {
                Phase::Idle(_) => {
                    *phase = Phase::Head(Instant::now());
                    true
                }
                _ => false,
            });
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A request in flight on a connection: [`Phase::Busy`], then [`Phase::Writing`] once answered; idle again when
/// dropped (with the answer's body, once written, or with the request if the client went away).
struct Busy(Arc<watch::Sender<Phase>>);

impl Busy {
    fn start(phase: &Arc<watch::Sender<Phase>>) -> Busy {
        phase.send_replace(Phase::Busy);
        Busy(phase.clone())
    }

    fn writing(&self) {
        self.0.send_replace(Phase::Writing(Instant::now()));
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_replace(Phase::Idle(Instant::now()));
    }
}

/// Runs one request: the router in a task of its own (never cancelled, see the module docs), answered 503
/// `request_timeout` if it takes longer than `request_timeout`, or 408 `body_timeout` if its body was late.
async fn handle(
    request: Request<Incoming>,
    mut router: Router,
    limits: Arc<HttpLimits>,
    handlers: mpsc::Sender<Infallible>,
    busy: Busy,
) -> Result<Response<Answer>, Infallible> {
    let late = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
        late: late.clone(),
    });
    let running = <Router as tower::Service<Request<DeadlineBody>>>::call(&mut router, request);
    let mut task = tokio::spawn(async move {
        let _counted = handlers;
        running.await
    });
    let response = tokio::select! {
        joined = &mut task => match joined {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(e) => ApiError::internal(format!("a request handler failed: {e}")).into_response(),
        },
        () = tokio::time::sleep(limits.request_timeout) => {
            tracing::warn!(timeout_ms = limits.request_timeout.as_millis() as u64, "a request outlived the request timeout; it runs on");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                format!(
                    "no answer within {} ms; the request is still being completed: repeat it with the same \
                     Idempotency-Key, or read the invoice, to learn its outcome",
                    limits.request_timeout.as_millis()
                ),
            )
            .into_response()
        }
    };
    let response = if late.load(Ordering::Relaxed) {
        // The body never arrived whole, so no handler acted on it: whatever it answered, say why.
        let mut late = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body did not arrive within {} ms", limits.body_timeout.as_millis()),
        )
        .into_response();
        late.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        late
    } else {
        response
    };
    busy.writing();
    Ok(response.map(|body| Answer { body, _busy: busy }))
}

/// A request body that fails once its deadline has passed (one deadline for the whole body, from its head).
pub(crate) struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    late: Arc<AtomicBool>,
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if std::future::Future::poll(this.deadline.as_mut(), cx).is_ready() {
            this.late.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body; the request stays [`Busy`] until it is written (or dropped).
struct Answer {
    body: axum::body::Body,
    _busy: Busy,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
