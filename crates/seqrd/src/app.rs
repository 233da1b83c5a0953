//! Start-up: connect (failing at once with a message that says what to fix), then run the parts of the service.
//! `seqrd serve` runs all parts in one process; `--only` picks some, so they scale separately.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use seqr_client::{ClientConfig, SeqrClient};
use sqlx::{postgres::PgConnectOptions, PgPool};
use store_pg::{EventStore, InvoiceProjection, Subscription, SubscriptionConfig};

use crate::{
    api::{self, AppState},
    config::Config,
    engine::Engine,
    poller::Poller,
    rate::RateLimiter,
    service::Service,
    shutdown::Shutdown,
};

/// A part of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The HTTP API.
    Api,
    /// Status workers (polling, unknown outcomes, reservation deadlines).
    Workers,
    /// Read-model projections.
    Projectors,
    /// The RabbitMQ event feed.
    Relay,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Api, Part::Workers, Part::Projectors, Part::Relay];
}

/// Connects to Postgres (a pool of at most `max_connections`) and checks that the schema is migrated.
pub async fn connect_db(config: &Config, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions =
        config.database_url.parse().with_context(|| "DATABASE_URL is not a valid Postgres URL".to_owned())?;
    let pool = store_pg::pool_options()
        .max_connections(max_connections)
        // A request waits at most about a second for a connection; then it is answered 503 database_unavailable.
        .acquire_timeout(Duration::from_secs(1))
        .connect_with(options)
        .await
        .with_context(|| {
            format!("cannot connect to Postgres ({}): is it running? `ops/up` starts it", redact(&config.database_url))
        })?;
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .ok()
        .flatten();
    let latest = store_pg::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if applied.unwrap_or(0) < latest {
        anyhow::bail!("the database schema is not up to date: run `seqrd migrate` (or `ops/up`)");
    }
    Ok(pool)
}

/// The service built from a configuration.
pub async fn build_service(config: Config, pool: PgPool) -> anyhow::Result<Service> {
    let mut client = ClientConfig::new(config.seqr_url.as_str());
    client.gen_b = config.seqr_gen_b;
    let seqr = SeqrClient::new(client).map_err(|e| anyhow::anyhow!("SEQR_URL: {e}"))?;
    let rate = RateLimiter::new(config.seqr_rate_limit);
    let http = config.merchant_urls.client().context("the HTTP client for merchant URLs")?;
    Ok(Service { engine: Engine::new(EventStore::new(pool.clone())), pool, seqr, config: Arc::new(config), rate, http })
}

/// The running HTTP API: its address, for tests and the demo that bind port 0.
pub async fn serve_api(
    service: Service,
    addr: SocketAddr,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    serve_on(service, listener, shutdown)
}

/// Serves the API on a bound listener, within the limits of `service.config.http` (see [`server`]). The task ends
/// after `shutdown`, once every connection has closed and every handler has finished.
pub fn serve_on(
    service: Service,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let local = listener.local_addr()?;
    let limits = service.config.http.clone();
    let router = api::router(AppState::new(service));
    let handle = tokio::spawn(server::serve(listener, router, limits, shutdown));
    Ok((local, handle))
}

/// Connects the pool of one part, as [`run`] does: at most [`Config::db_pool_size`] connections (the part's
/// queries and its LISTEN connection), with [`connect_db`]'s one-second acquire timeout.
pub async fn connect_part(config: &Config, part: Part) -> anyhow::Result<PgPool> {
    connect_db(config, config.db_pool_size(part)).await
}

/// Compares the connections this process needs with what Postgres allows. A process that can never fit (it alone
/// needs more than `max_connections` minus the slots reserved for superusers) is refused; one that does not fit
/// *now*, next to the connections already open, is only warned about: other clients and seqrd processes come and
/// go (during a rolling restart the old process still holds its connections), and the pools open connections only
/// as they are needed. Run on a pool holding one connection (excluded from the count: it is this process's).
pub async fn check_connection_budget(pool: &PgPool, need: u32) -> anyhow::Result<()> {
    const SQL: &str = "SELECT current_setting('max_connections')::int8,
               CASE WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN 0
                    ELSE current_setting('superuser_reserved_connections')::int8
                         + coalesce(current_setting('reserved_connections', true)::int8, 0) END,
               (SELECT count(*) FROM pg_stat_activity
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())";
    let (max, reserved, in_use): (i64, i64, i64) = match sqlx::query_as(SQL).fetch_one(pool).await {
        Ok(row) => row,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read max_connections from Postgres: the connection budget is not checked");
            return Ok(());
        }
    };
    let usable = (max - reserved).max(0);
    let need = i64::from(need);
    if need > usable {
        anyhow::bail!(
            "this process needs {need} Postgres connections, but Postgres allows at most {usable} \
             (max_connections {max} minus {reserved} reserved for superusers): lower SEQRD_DB_POOL_API, \
             SEQRD_DB_POOL_WORKERS, SEQRD_DB_POOL_PROJECTORS or SEQRD_DB_POOL_RELAY, run fewer parts per process \
             (--only), or raise max_connections; see docs/deployment.md"
        );
    }
    let free = (usable - in_use).max(0);
    if need > free {
        tracing::warn!(
            need,
            free,
            max_connections = max,
            reserved,
            in_use,
            "Postgres has fewer free connections than this process may need: under load, requests will wait and fail \
             with 503 database_unavailable; lower the SEQRD_DB_POOL_* settings or raise max_connections \
             (docs/deployment.md)"
        );
    }
    Ok(())
}

/// Runs the chosen parts until `shutdown`. Each part has a pool of its own, sized by its setting
/// ([`Config::db_pool_size`]), so the process never holds more than [`Config::db_connections`] connections.
pub async fn run(config: Config, parts: &[Part], shutdown: Shutdown) -> anyhow::Result<()> {
    let chosen: Vec<Part> = Part::ALL.into_iter().filter(|part| parts.contains(part)).collect();
    let need = config.db_connections(&chosen);
    let of = |part: Part| config.db_connections(&[part]) * u32::from(chosen.contains(&part));
    tracing::info!(
        total = need,
        api = of(Part::Api),
        workers = of(Part::Workers),
        projectors = of(Part::Projectors),
        relay = of(Part::Relay),
        "Postgres connections this process needs at most (pools, LISTEN and lock connections; docs/deployment.md)"
    );
    // The first pool checks the budget before the others open their first connection.
    let mut pools: Vec<(Part, PgPool)> = Vec::with_capacity(chosen.len());
    for &part in &chosen {
        let pool = connect_part(&config, part).await?;
        if pools.is_empty() {
            check_connection_budget(&pool, need).await?;
        }
        pools.push((part, pool));
    }
    let pool_of = |part: Part| pools.iter().find(|(p, _)| *p == part).map(|(_, pool)| pool);
    if chosen.is_empty() {
        connect_db(&config, 1).await?.close().await;
    }
    if parts.contains(&Part::Relay) {
        // Fail at start-up, not later, when RabbitMQ cannot be reached.
        crate::amqp::Publisher::connect(&config.amqp_url, &config.exchange).await.with_context(|| {
            format!("cannot connect to RabbitMQ ({}): is it running? `ops/up` starts it", redact(&config.amqp_url))
        })?;
    }
    let http_addr = config.http_addr;
    // The API and the workers share one service (its SEQR rate budget in particular), each with its own pool.
    let service = match pool_of(Part::Api).or_else(|| pool_of(Part::Workers)) {
        Some(pool) => Some(build_service(config.clone(), pool.clone()).await?),
        None => None,
    };
    let with_pool = |service: &Service, pool: &PgPool| Service {
        engine: Engine::new(EventStore::new(pool.clone())),
        pool: pool.clone(),
        ..service.clone()
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let (Some(pool), Some(service)) = (pool_of(Part::Api), &service) {
        let (addr, handle) = serve_api(with_pool(service, pool), http_addr, shutdown.clone()).await?;
        tracing::info!(%addr, "HTTP API listening");
        tasks.spawn(async move {
            handle.await?;
            anyhow::Ok(())
        });
    }
    if let (Some(pool), Some(service)) = (pool_of(Part::Workers), &service) {
        let poller = Poller::new(with_pool(service, pool), config.instance_id.clone());
        let stop = shutdown.clone();
        tasks.spawn(async move { poller.run(stop).await });
    }
    if let Some(pool) = pool_of(Part::Projectors) {
        let subscription = Subscription::new(
            EventStore::new(pool.clone()),
            InvoiceProjection,
            SubscriptionConfig::new(1000, Duration::from_millis(500)),
        );
        let stop = shutdown.clone();
        tasks.spawn(async move {
            subscription.run(async move { stop.wait().await }).await?;
            anyhow::Ok(())
        });
    }
    if let Some(pool) = pool_of(Part::Relay) {
        let mut relay =
            crate::relay::Relay::new(EventStore::new(pool.clone()), &config.amqp_url, &config.exchange, "relay");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            relay.run(async move { stop.wait().await }).await?;
            anyhow::Ok(())
        });
    }
    // After shutdown, the parts finish what is in flight, for at most the drain time.
    let drained = async {
        while let Some(result) = tasks.join_next().await {
            result.context("a part of the service panicked")??;
        }
        anyhow::Ok(())
    };
    let drain = config.shutdown_drain;
    let overdue = async {
        shutdown.wait().await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        result = drained => result,
        () = overdue => {
            tracing::warn!(drain_ms = drain.as_millis() as u64, "shutdown: the drain time is over; stopping with work in flight");
            // Calls cut off here stay recorded as requested: a worker resolves them as unknown.
            if let Some(pool) = pool_of(Part::Workers) {
                // Another process takes this one's invoices at once instead of waiting for the leases.
                let released = crate::jobs::reclaim(pool, &config.instance_id).await?;
                tracing::info!(released, "released this process's leases");
            }
            Ok(())
        }
    }
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

pub mod server {
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

    use crate::{api::error::ApiError, config::HttpLimits, shutdown::Shutdown};

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
            tokio::spawn(connection(
                stream,
                router.clone(),
                limits.clone(),
                handlers.clone(),
                connections.watcher(),
                slot,
            ));
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
    pub struct DeadlineBody {
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

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            Pin::new(&mut self.body).poll_frame(cx)
        }

        fn is_end_stream(&self) -> bool {
            self.body.is_end_stream()
        }

        fn size_hint(&self) -> SizeHint {
            self.body.size_hint()
        }
    }
}
