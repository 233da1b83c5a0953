//! A Postgres round-trip counter for tests and benchmarks: a TCP proxy on `127.0.0.1:0` in front of a Postgres
//! server that forwards every byte both ways and reads the *frontend* half of the protocol (what the client sends)
//! to count round trips and record the SQL each one ran.
//!
//! A round trip is one `Sync` (`S`, the end of an extended-protocol exchange: Parse / Bind / Describe / Execute
//! messages answered together) or one simple `Query` (`Q`). Each round trip records the SQL it executed: `Parse`
//! names a statement and its text, `Bind` binds a portal to a statement, `Execute` runs a portal. A round trip that
//! executes nothing but parses statements is a *prepare*: sqlx prepares each statement once per connection in a
//! round trip of its own (Parse, Describe, Sync), then reuses it. A Sync alone is a *ping*: sqlx's pool pings
//! every connection returned to it, so each acquire of a pooled connection costs one more round trip after its
//! statements (in a task of its own: the caller does not wait for it, the next user of the connection does).
//! [`owners`] tells which round trip each ping follows.
//!
//! Connect through it in plaintext (`sslmode=disable`, see [`PgCounter::options`]): a TLS stream cannot be read,
//! so after an `SSLRequest` answered with TLS the connection is only forwarded, not counted. Odd input never
//! stops the forwarding: whatever the reader cannot follow, it stops reading for that connection.
//!
//! ```no_run
//! # async fn example(test_db: store_pg::PgConnectOptions) -> std::io::Result<()> {
//! let counter = devstack::pgcount::PgCounter::in_front_of(&test_db).await?;
//! let _pool = store_pg::pool_options().connect_lazy_with(counter.options(&test_db));
//! // ... run something on the pool ...
//! counter.reset();
//! // ... the request to measure ...
//! let trips = counter.snapshot();
//! println!("{} round trips", trips.len());
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// One round trip a client made through the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    /// The connection it was made on (numbered from 0 in the order the counter accepted them).
    pub connection: usize,
    /// What it did.
    pub kind: Kind,
    /// The SQL it executed, in order (a simple query's text; for a prepare, the statements it parsed).
    pub sql: Vec<Arc<str>>,
}

/// What a round trip did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Executed statements (extended protocol) or a simple query.
    Execute,
    /// Only prepared statements (Parse / Describe), executed none: sqlx's first use of a statement on a
    /// connection.
    Prepare,
    /// A Sync with nothing before it: what sqlx's `Connection::ping` sends, and its pool pings every connection
    /// returned to it (sqlx 0.8, whatever `test_before_acquire` says), in a task of its own.
    Ping,
}

impl RoundTrip {
    /// Whether any SQL this round trip executed contains `fragment`.
    pub fn runs(&self, fragment: &str) -> bool {
        self.kind == Kind::Execute && self.sql.iter().any(|s| s.contains(fragment))
    }
}

impl std::fmt::Display for RoundTrip {
    /// `[conn 1] SELECT ...; INSERT ...` (whitespace collapsed), `prepare:` marked, `(ping)` for a lone Sync.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[conn {}]", self.connection)?;
        match self.kind {
            Kind::Ping => return write!(f, " (ping: a Sync alone)"),
            Kind::Prepare => write!(f, " prepare:")?,
            Kind::Execute => {}
        }
        for (i, sql) in self.sql.iter().enumerate() {
            let text: Vec<&str> = sql.split_whitespace().collect();
            write!(f, "{} {}", if i == 0 { "" } else { ";" }, text.join(" "))?;
        }
        Ok(())
    }
}

/// For each round trip, the index of the one it belongs to: a ping belongs to the last other round trip before it
/// on its connection (the statement whose connection was being returned to the pool), any other to itself (as
/// does a ping with nothing before it in `trips`).
pub fn owners(trips: &[RoundTrip]) -> Vec<usize> {
    let mut last: HashMap<usize, usize> = HashMap::new();
    trips
        .iter()
        .enumerate()
        .map(|(i, trip)| match trip.kind {
            Kind::Ping => last.get(&trip.connection).copied().unwrap_or(i),
            Kind::Execute | Kind::Prepare => {
                last.insert(trip.connection, i);
                i
            }
        })
        .collect()
}

/// What the proxy's connections record.
#[derive(Default)]
struct Shared {
    trips: Mutex<Vec<RoundTrip>>,
    connections: AtomicUsize,
}

impl Shared {
    fn trips(&self) -> MutexGuard<'_, Vec<RoundTrip>> {
        self.trips.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running counter. Dropping it stops accepting new connections; the open ones go on forwarding (and recording)
/// until either side closes them.
pub struct PgCounter {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl PgCounter {
    /// Listens on an ephemeral loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<PgCounter> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let recorder = Arc::clone(&shared);
        let accept = tokio::spawn(async move {
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    Err(e) => {
                        // E.g. out of file descriptors: keep serving the connections that exist, try again soon.
                        tracing::warn!(error = %e, "pgcount: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let connection = recorder.connections.fetch_add(1, Ordering::Relaxed);
                let recorder = Arc::clone(&recorder);
                tokio::spawn(async move {
                    if let Err(e) = forward(client, target, connection, &recorder).await {
                        tracing::debug!(error = %e, connection, "pgcount: connection ended");
                    }
                });
            }
        });
        Ok(PgCounter { addr, shared, accept })
    }

    /// A counter in front of the server `options` name (its TCP host and port).
    pub async fn in_front_of(options: &PgConnectOptions) -> std::io::Result<PgCounter> {
        let mut addrs = tokio::net::lookup_host((options.get_host(), options.get_port())).await?;
        let target = addrs.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no address for {}", options.get_host()))
        })?;
        PgCounter::start(target).await
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `base` (user, password, database, settings) connecting through the counter, in plaintext. `base` must be a
    /// TCP one: with a Unix-socket path sqlx would use the socket and bypass the counter.
    pub fn options(&self, base: &PgConnectOptions) -> PgConnectOptions {
        base.clone().host("127.0.0.1").port(self.port()).ssl_mode(PgSslMode::Disable)
    }

    /// The round trips made since the start or the last [`PgCounter::reset`], in the order they were sent.
    pub fn snapshot(&self) -> Vec<RoundTrip> {
        self.shared.trips().clone()
    }

    /// How many round trips were made since the start or the last [`PgCounter::reset`].
    pub fn round_trips(&self) -> usize {
        self.shared.trips().len()
    }

    /// Forgets the round trips recorded so far.
    pub fn reset(&self) {
        self.shared.trips().clear();
    }

    /// How many connections were opened through the counter since it started.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for PgCounter {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Forwards one connection both ways, reading what the client sends. Each chunk is read (and its round trips
/// recorded) before it is forwarded, so a round trip is on record before the server can answer it.
async fn forward(client: TcpStream, target: SocketAddr, connection: usize, shared: &Shared) -> std::io::Result<()> {
    let server = TcpStream::connect(target).await?;
    // Small protocol messages must not wait for Nagle's algorithm (that would add delayed-ACK stalls).
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut reader = Frontend::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                server_write.shutdown().await?;
                return Ok::<_, std::io::Error>(());
            }
            let mut found = Vec::new();
            reader.feed(&buf[..n], &mut |kind, sql| found.push(RoundTrip { connection, kind, sql }));
            if !found.is_empty() {
                shared.trips().append(&mut found);
            }
            server_write.write_all(&buf[..n]).await?;
        }
    };
    let downstream = async {
        tokio::io::copy(&mut server_read, &mut client_write).await?;
        client_write.shutdown().await
    };
    tokio::try_join!(upstream, downstream)?;
    Ok(())
}

/// Protocol version 3.0 of a StartupMessage.
const PROTOCOL_3: u32 = 196_608;
/// Request codes of the untyped packets a connection may start with.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
/// The longest untyped startup packet read (Postgres itself allows 10,000 bytes).
const MAX_STARTUP: usize = 10_000;
/// The longest message of a kind that is read (Parse, Bind, ...) buffered; a longer one ends the reading.
const MAX_MESSAGE: usize = 64 << 20;

/// Where the reader of one connection's frontend stream is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Untyped packets: SSLRequest / GSSENCRequest, then the StartupMessage (or a CancelRequest).
    #[default]
    Startup,
    /// Typed messages: one tag byte, a length that counts itself, the body.
    Typed,
    /// Not readable (TLS, a cancel request, something unexpected): only forwarded.
    Opaque,
}

/// Reads a connection's frontend messages as they pass, however they are cut into chunks.
#[derive(Default)]
struct Frontend {
    phase: Phase,
    /// Bytes of a message not complete yet.
    pending: Vec<u8>,
    /// Bytes still to pass of a message not worth reading.
    skip: usize,
    /// Prepared statements by name (`""`: the unnamed one).
    statements: HashMap<String, Arc<str>>,
    /// Portals by name, to the SQL of the statement they bind.
    portals: HashMap<String, Arc<str>>,
    /// Since the last Sync: the SQL executed, and the SQL parsed.
    executed: Vec<Arc<str>>,
    parsed: Vec<Arc<str>>,
}

impl Frontend {
    /// Reads `bytes`, calling `trip(kind, sql)` for each round trip they complete.
    fn feed(&mut self, mut bytes: &[u8], trip: &mut impl FnMut(Kind, Vec<Arc<str>>)) {
        // While a message is skipped nothing is pending: its rest comes first.
        let n = self.skip.min(bytes.len());
        self.skip -= n;
        bytes = &bytes[n..];
        if self.phase == Phase::Opaque || bytes.is_empty() {
            return;
        }
        self.pending.extend_from_slice(bytes);
        let consumed = self.read_messages(trip);
        self.pending.drain(..consumed);
        if self.phase == Phase::Opaque {
            self.pending = Vec::new();
        }
    }

    /// Reads the complete messages at the start of `pending`; returns how many bytes they took. Stops at an
    /// incomplete message, except one that is not worth reading: that one is taken whole, its missing rest left
    /// to [`Frontend::skip`].
    fn read_messages(&mut self, trip: &mut impl FnMut(Kind, Vec<Arc<str>>)) -> usize {
        let mut at = 0;
        loop {
            let rest = &self.pending[at..];
            let available = rest.len();
            match self.phase {
                Phase::Opaque => return at,
                Phase::Startup => {
                    let (Some(len), Some(code)) = (be_u32(rest, 0), be_u32(rest, 4)) else { return at };
                    let len = len as usize;
                    if !(8..=MAX_STARTUP).contains(&len) {
                        self.phase = Phase::Opaque;
                        return at;
                    }
                    if available < len {
                        return at;
                    }
                    at += len;
                    self.phase = match code {
                        // The server answers with one byte; in plaintext a StartupMessage follows, while TLS or
                        // GSS encryption does not read as one and makes the stream opaque.
                        SSL_REQUEST | GSSENC_REQUEST => Phase::Startup,
                        PROTOCOL_3 => Phase::Typed,
                        // A CancelRequest (nothing follows) or a protocol this reader does not know.
                        _ => Phase::Opaque,
                    };
                }
                Phase::Typed => {
                    let (Some(&tag), Some(len)) = (rest.first(), be_u32(rest, 1)) else { return at };
                    let len = len as usize;
                    if len < 4 {
                        self.phase = Phase::Opaque;
                        return at;
                    }
                    // The tag byte and the length, which counts itself.
                    let total = len + 1;
                    if !matches!(tag, b'P' | b'B' | b'E' | b'C' | b'Q') {
                        // Not read (Describe, Flush, password, CopyData, ...); a Sync ends a round trip.
                        if tag == b'S' {
                            self.sync(trip);
                        }
                        if available < total {
                            self.skip = total - available;
                            return self.pending.len();
                        }
                        at += total;
                        continue;
                    }
                    if total > MAX_MESSAGE {
                        self.phase = Phase::Opaque;
                        return at;
                    }
                    if available < total {
                        return at;
                    }
                    let body = rest[5..total].to_vec();
                    at += total;
                    self.message(tag, &body, trip);
                }
            }
        }
    }

    /// One complete message of a kind that is read.
    fn message(&mut self, tag: u8, body: &[u8], trip: &mut impl FnMut(Kind, Vec<Arc<str>>)) {
        let mut fields = CStrings(body);
        match tag {
            // Parse: statement name, query, parameter types.
            b'P' => {
                if let (Some(name), Some(query)) = (fields.next(), fields.next()) {
                    let query: Arc<str> = Arc::from(query);
                    self.parsed.push(Arc::clone(&query));
                    self.statements.insert(name.to_owned(), query);
                }
            }
            // Bind: portal name, statement name, parameters.
            b'B' => {
                if let (Some(portal), Some(statement)) = (fields.next(), fields.next()) {
                    match self.statements.get(statement) {
                        Some(sql) => self.portals.insert(portal.to_owned(), Arc::clone(sql)),
                        None => self.portals.remove(portal),
                    };
                }
            }
            // Execute: portal name, row limit.
            b'E' => {
                if let Some(portal) = fields.next() {
                    let sql = self.portals.get(portal).cloned().unwrap_or_else(|| Arc::from(UNKNOWN_STATEMENT));
                    self.executed.push(sql);
                }
            }
            // Close: 'S' statement or 'P' portal, then its name.
            b'C' => {
                if let (Some(&kind), Some(name)) = (body.first(), body.get(1..).and_then(|b| CStrings(b).next())) {
                    match kind {
                        b'S' => self.statements.remove(name),
                        _ => self.portals.remove(name),
                    };
                }
            }
            // Query: a simple query, a round trip of its own.
            b'Q' => {
                let sql = fields.next().map_or_else(|| Arc::from(UNKNOWN_STATEMENT), Arc::from);
                trip(Kind::Execute, vec![sql]);
            }
            _ => {}
        }
    }

    /// A Sync: the round trip of everything since the last one.
    fn sync(&mut self, trip: &mut impl FnMut(Kind, Vec<Arc<str>>)) {
        let executed = std::mem::take(&mut self.executed);
        let parsed = std::mem::take(&mut self.parsed);
        match (executed.is_empty(), parsed.is_empty()) {
            (false, _) => trip(Kind::Execute, executed),
            (true, false) => trip(Kind::Prepare, parsed),
            (true, true) => trip(Kind::Ping, Vec::new()),
        }
    }
}

/// The SQL recorded for a statement the reader did not see parsed (or could not read).
const UNKNOWN_STATEMENT: &str = "<unknown statement>";

/// A big-endian u32 at `at`, if the bytes are there.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The NUL-terminated strings at the start of a message body; iteration ends at a string that is not UTF-8.
struct CStrings<'a>(&'a [u8]);

impl<'a> Iterator for CStrings<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let (s, rest) = self.0.split_at(end);
        self.0 = &rest[1..];
        std::str::from_utf8(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup() -> Vec<u8> {
        let body = b"user\0seqrd\0database\0seqrd\0\0";
        let mut m = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        m.extend(PROTOCOL_3.to_be_bytes());
        m.extend(body);
        m
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend(body);
        m
    }

    fn cstrs(parts: &[&str]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.bytes().chain([0])).collect()
    }

    /// What sqlx sends for a statement run twice on one connection, and a simple query.
    fn session() -> Vec<u8> {
        let mut s = startup();
        s.extend(msg(b'p', b"secret\0"));
        // Prepare: Parse, Describe, Sync.
        s.extend(msg(b'P', &[cstrs(&["sqlx_s_1", "SELECT $1"]), vec![0, 0]].concat()));
        s.extend(msg(b'D', &[b"S".to_vec(), cstrs(&["sqlx_s_1"])].concat()));
        s.extend(msg(b'S', b""));
        for _ in 0..2 {
            s.extend(msg(b'B', &[cstrs(&["", "sqlx_s_1"]), vec![0, 0, 0, 0, 0, 0]].concat()));
            s.extend(msg(b'E', &[cstrs(&[""]), vec![0, 0, 0, 0]].concat()));
            s.extend(msg(b'C', &[b"P".to_vec(), cstrs(&[""])].concat()));
            s.extend(msg(b'S', b""));
        }
        // A ping.
        s.extend(msg(b'S', b""));
        s.extend(msg(b'Q', &cstrs(&["BEGIN"])));
        // A long message of a kind not read, then an unnamed statement.
        s.extend(msg(b'd', &vec![7u8; 100_000]));
        s.extend(msg(b'P', &[cstrs(&["", "SELECT 2"]), vec![0, 0]].concat()));
        s.extend(msg(b'B', &[cstrs(&["", ""]), vec![0, 0, 0, 0, 0, 0]].concat()));
        s.extend(msg(b'E', &[cstrs(&[""]), vec![0, 0, 0, 0]].concat()));
        s.extend(msg(b'S', b""));
        s.extend(msg(b'X', b""));
        s
    }

    fn read(chunks: impl IntoIterator<Item = Vec<u8>>) -> Vec<(Kind, Vec<String>)> {
        let mut reader = Frontend::default();
        let mut trips = Vec::new();
        for chunk in chunks {
            reader.feed(&chunk, &mut |kind, sql| trips.push((kind, sql.iter().map(|s| s.to_string()).collect())));
        }
        trips
    }

    fn expected() -> Vec<(Kind, Vec<String>)> {
        let one = |kind, s: &str| (kind, vec![s.to_owned()]);
        vec![
            one(Kind::Prepare, "SELECT $1"),
            one(Kind::Execute, "SELECT $1"),
            one(Kind::Execute, "SELECT $1"),
            (Kind::Ping, vec![]),
            one(Kind::Execute, "BEGIN"),
            one(Kind::Execute, "SELECT 2"),
        ]
    }

    #[test]
    fn counts_syncs_and_queries_with_their_sql_however_the_stream_is_cut() {
        let s = session();
        assert_eq!(read([s.clone()]), expected());
        assert_eq!(read(s.iter().map(|b| vec![*b])), expected(), "byte by byte");
        for cut in (0..s.len()).step_by(97) {
            assert_eq!(read([s[..cut].to_vec(), s[cut..].to_vec()]), expected(), "cut at {cut}");
        }
    }

    #[test]
    fn an_ssl_request_refused_is_followed_by_the_startup() {
        let mut s = 8u32.to_be_bytes().to_vec();
        s.extend(SSL_REQUEST.to_be_bytes());
        s.extend(&session()[..]);
        assert_eq!(read([s]), expected());
    }

    #[test]
    fn tls_and_garbage_are_forwarded_unread() {
        let mut tls = 8u32.to_be_bytes().to_vec();
        tls.extend(SSL_REQUEST.to_be_bytes());
        tls.extend([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]);
        tls.extend(&session()[..]);
        assert_eq!(read([tls]), vec![]);
        // Whatever comes, the reader never panics.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200usize {
            let mut bytes = if round.is_multiple_of(2) { startup() } else { Vec::new() };
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly small bytes, so that lengths and tags are often plausible.
                bytes.push(if x.is_multiple_of(3) { (x >> 8) as u8 } else { (x >> 8) as u8 % 8 });
            }
            let _ = read(bytes.chunks(1 + round % 50).map(<[u8]>::to_vec));
        }
    }
}
