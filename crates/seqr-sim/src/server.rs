//! The HTTP side: SOAP endpoint, WSDL, control API, fault injection, notifications, ticker and the accept loop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use hyper_util::rt::TokioIo;
use seqr_wire::{FaultCode, ParseOptions, RenderOptions, Response as WireResponse, ResultCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::config::{NotificationBody, SimConfig};
use crate::engine::{
    Notification, PhoneError, ResellerSeed, SeqrConfig, SeqrState, SimInvoice, TerminalSeed, TokenView,
};
use crate::faults::{FaultAction, FaultRule, Faults};

/// The SOAP paths the simulator answers on.
pub const SOAP_PATHS: [&str; 3] =
    ["/extclientproxy/service/v2", "/extclientproxy/service", "/soap/merchant/cashregister-2"];

/// The simulator's clock: real time plus an offset the control API can advance.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset: Mutex<chrono::Duration>,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + *lock(&self.offset)
    }

    /// Advances the offset; refuses (None) when the clock would leave chrono's range.
    pub(crate) fn advance(&self, by: chrono::Duration) -> Option<DateTime<Utc>> {
        let mut o = lock(&self.offset);
        let next = o.checked_add(&by)?;
        let now = Utc::now().checked_add_signed(next.checked_add(&chrono::Duration::days(36_600))?)?;
        *o = next;
        Some(now - chrono::Duration::days(36_600))
    }
}

/// One notification attempt series, as reported by `GET /sim/notifications`.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationRecord {
    /// The notification.
    #[serde(flatten)]
    pub notification: Notification,
    /// Attempts made.
    pub attempts: u32,
    /// Whether a 2xx answer was received.
    pub delivered: bool,
    /// The last error or non-2xx status.
    pub last_error: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) engine: Mutex<SeqrState>,
    pub(crate) clock: Clock,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) cfg: SimConfig,
    http: reqwest::Client,
    pub(crate) notifications: Mutex<Vec<NotificationRecord>>,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(cfg: SimConfig) -> Shared {
        let ecfg = SeqrConfig {
            reversal_window: chrono::Duration::from_std(cfg.reversal_window).unwrap_or(chrono::Duration::seconds(20)),
            report_delay: chrono::Duration::from_std(cfg.report_delay).unwrap_or(chrono::Duration::seconds(3)),
            default_ack_mode: cfg.default_ack_mode.clone(),
            default_commit_timeout_secs: cfg.default_commit_timeout.as_secs() as i64,
            default_pin: cfg.default_pin.clone(),
            refunds_allowed_default: cfg.refunds_allowed_default,
            default_currency: "SEK".to_owned(),
        };
        let engine = SeqrState::new(ecfg, cfg.resellers.clone(), cfg.terminals.clone());
        let http = reqwest::Client::builder().timeout(cfg.notification_timeout).build().unwrap_or_default();
        Shared {
            engine: Mutex::new(engine),
            clock: Clock::default(),
            faults: Mutex::new(Faults::new(cfg.fault_seed)),
            cfg,
            http,
            notifications: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on the engine and dispatches the notifications it queued.
    pub(crate) fn with_seqr<R>(self: &Arc<Self>, f: impl FnOnce(&mut SeqrState, DateTime<Utc>) -> R) -> R {
        let now = self.clock.now();
        let (r, out) = {
            let mut e = lock(&self.engine);
            let r = f(&mut e, now);
            (r, e.drain_notifications())
        };
        for n in out {
            self.dispatch(n);
        }
        r
    }

    fn dispatch(self: &Arc<Self>, n: Notification) {
        let idx = {
            let mut log = lock(&self.notifications);
            log.push(NotificationRecord { notification: n.clone(), attempts: 0, delivered: false, last_error: None });
            log.len() - 1
        };
        let me = self.clone();
        tokio::spawn(async move {
            for attempt in 1..=me.cfg.notification_attempts.max(1) {
                let mut req = me.http.post(&n.url);
                req = match me.cfg.notification_body {
                    NotificationBody::Empty => req.header(header::CONTENT_LENGTH, "0"),
                    NotificationBody::InvoiceReferenceForm => req
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(format!("invoiceReference={}", n.invoice_reference)),
                };
                let outcome = match req.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                let done = {
                    let mut log = lock(&me.notifications);
                    let rec = &mut log[idx];
                    rec.attempts = attempt;
                    match outcome {
                        Ok(()) => {
                            rec.delivered = true;
                            rec.last_error = None;
                            true
                        }
                        Err(e) => {
                            tracing::warn!(url = %n.url, attempt, error = %e, "notification failed");
                            rec.last_error = Some(e);
                            false
                        }
                    }
                };
                if done {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        });
    }
}

/// A handle to a running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Entry point: `Sim::start(config, addr)`.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Binds `addr` (port 0 allowed) and serves until [`SimHandle::shutdown`].
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let (tx, rx) = watch::channel(false);
        let router = router(shared.clone());
        let ticker = {
            let shared = shared.clone();
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let mut iv = tokio::time::interval(shared.cfg.tick_interval.max(Duration::from_millis(10)));
                loop {
                    tokio::select! {
                        _ = iv.tick() => shared.with_seqr(|e, now| e.tick(now)),
                        _ = rx.changed() => return,
                    }
                }
            })
        };
        let task = tokio::spawn(async move {
            serve(listener, router, rx).await;
            ticker.abort();
        });
        Ok(SimHandle { addr, shared, shutdown: tx, task })
    }
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The SOAP endpoint `http://<addr>/extclientproxy/service/v2`.
    pub fn soap_url(&self) -> String {
        format!("http://{}{}", self.addr, SOAP_PATHS[0])
    }

    /// The WSDL URL (`…/extclientproxy/service/v2?wsdl`).
    pub fn wsdl_url(&self) -> String {
        format!("{}?wsdl", self.soap_url())
    }

    /// Advances the simulator clock and processes time-based transitions.
    pub fn advance_clock(&self, by: Duration) {
        let _ = self.shared.clock.advance(chrono::Duration::from_std(by).unwrap_or_default());
        self.shared.with_seqr(|e, now| e.tick(now));
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    /// Runs `f` on the engine (state inspection or direct phone actions); queued notifications are sent.
    pub fn with_seqr<R>(&self, f: impl FnOnce(&mut SeqrState, DateTime<Utc>) -> R) -> R {
        self.shared.with_seqr(f)
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.shared.faults).add(rule);
    }

    /// Removes every fault rule.
    pub fn reset_faults(&self) {
        lock(&self.shared.faults).reset(self.shared.cfg.fault_seed);
    }

    /// The notification log.
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        lock(&self.shared.notifications).clone()
    }

    /// Stops accepting, lets in-flight requests finish (at most 5 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

#[derive(Clone)]
struct ConnKill(Arc<Notify>);

async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(Notify::new());
        let router = router.clone();
        let kill2 = kill.clone();
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnKill(kill2.clone()));
            let router = router.clone();
            async move { Ok::<_, Infallible>(router.oneshot(req.map(Body::new)).await.into_response()) }
        });
        let mut stop = shutdown.clone();
        conns.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = kill.notified() => return,
                _ = stop.changed() => conn.as_mut().graceful_shutdown(),
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(6), async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
}

fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new();
    for p in SOAP_PATHS {
        r = r.route(p, post(soap).get(wsdl));
    }
    r.route("/sim/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/sim/clock", get(clock_get))
        .route("/sim/clock/advance", post(clock_advance))
        .route("/sim/phone/scan", post(phone_scan))
        .route("/sim/phone/pay", post(phone_pay))
        .route("/sim/phone/confirm", post(phone_confirm))
        .route("/sim/phone/cancel", post(phone_cancel))
        .route("/sim/phone/fail", post(phone_fail))
        .route("/sim/phone/remember-card", post(phone_remember))
        .route("/sim/shoppers", post(shopper_set))
        .route("/sim/shoppers/{id}/cards", post(shopper_card_add).get(shopper_cards))
        .route("/sim/invoices", get(invoices_list))
        .route("/sim/invoices/{reference}", get(invoice_get))
        .route("/sim/ledger", get(ledger))
        .route("/sim/resellers", post(reseller_add))
        .route("/sim/terminals", post(terminal_add).get(terminals_list))
        .route("/sim/terminals/{id}/refunds", put(terminal_refunds))
        .route("/sim/receipts/{ers}", get(receipts))
        .route("/sim/notifications", get(notifications))
        .route("/sim/faults", post(faults_add).get(faults_list).delete(faults_reset))
        .with_state(shared)
}

// ----- SOAP -----

fn xml(status: StatusCode, body: String) -> HttpResponse {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=UTF-8")], body).into_response()
}

fn soap_fault(code: FaultCode, msg: &str) -> HttpResponse {
    xml(StatusCode::INTERNAL_SERVER_ERROR, seqr_wire::render_fault(code, msg))
}

async fn never() -> HttpResponse {
    std::future::pending::<HttpResponse>().await
}

async fn soap(State(s): State<Arc<Shared>>, kill: Option<Extension<ConnKill>>, body: Bytes) -> HttpResponse {
    let opts = if s.cfg.strict { ParseOptions::STRICT } else { ParseOptions::LENIENT };
    let req = match seqr_wire::parse_request_with(&body, &opts) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, code = e.code(), "unparseable SOAP request");
            return soap_fault(FaultCode::Client, &e.to_string());
        }
    };
    let op = req.operation();
    let decision = lock(&s.faults).decide(op.name());
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let drop_conn = |kill: &Option<Extension<ConnKill>>| {
        if let Some(Extension(k)) = kill {
            k.0.notify_one();
        }
    };
    match decision.action {
        Some(FaultAction::DropBefore) => {
            drop_conn(&kill);
            return never().await;
        }
        Some(FaultAction::Http500) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], "Internal Server Error")
                .into_response()
        }
        Some(FaultAction::SoapFault) => return soap_fault(FaultCode::Server, "Injected fault"),
        Some(FaultAction::SystemError) => return render(&s, &WireResponse::error(op, ResultCode::SystemError)),
        Some(FaultAction::SystemBusy) => return render(&s, &WireResponse::error(op, ResultCode::SystemBusy)),
        _ => {}
    }
    let resp = s.with_seqr(|e, now| e.handle(req, now));
    tracing::debug!(operation = op.name(), code = ?resp.base().result_code, "SOAP call");
    if decision.action == Some(FaultAction::DropAfter) {
        drop_conn(&kill);
        return never().await;
    }
    render(&s, &resp)
}

fn render(s: &Shared, resp: &WireResponse) -> HttpResponse {
    xml(StatusCode::OK, seqr_wire::render_response_with(resp, RenderOptions { gen_b: s.cfg.gen_b }))
}

async fn wsdl(State(s): State<Arc<Shared>>, headers: HeaderMap, uri: Uri, RawQuery(q): RawQuery) -> HttpResponse {
    let q = q.unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c)))
        .map(str::to_owned);
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "missing or invalid Host header").into_response();
    };
    let _ = &s;
    let endpoint = format!("http://{host}{}", uri.path());
    if q.eq_ignore_ascii_case("wsdl") {
        xml(StatusCode::OK, seqr_wire::WSDL_MAIN.replace(seqr_wire::WSDL_ADDRESS_PLACEHOLDER, &endpoint))
    } else if q.eq_ignore_ascii_case("wsdl=ERSWSExternalClientService.wsdl") {
        xml(StatusCode::OK, seqr_wire::WSDL_TYPES.replace(seqr_wire::WSDL_ADDRESS_PLACEHOLDER, &endpoint))
    } else {
        (StatusCode::NOT_FOUND, "use ?wsdl").into_response()
    }
}

// ----- control API -----

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> HttpResponse {
        (self.0, Json(json!({"error": self.1, "message": self.2}))).into_response()
    }
}

impl From<PhoneError> for ApiError {
    fn from(e: PhoneError) -> ApiError {
        let status = match e {
            PhoneError::UnknownInvoice(_) => StatusCode::NOT_FOUND,
            PhoneError::WrongPin => StatusCode::FORBIDDEN,
            PhoneError::BadCode(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::CONFLICT,
        };
        ApiError(status, e.code(), e.to_string())
    }
}

type ApiResult = Result<HttpResponse, ApiError>;

fn ok<T: Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}

async fn clock_get(State(s): State<Arc<Shared>>) -> ApiResult {
    ok(json!({"now": s.clock.now()}))
}

#[derive(Deserialize)]
struct Advance {
    seconds: f64,
}

async fn clock_advance(State(s): State<Arc<Shared>>, Json(a): Json<Advance>) -> ApiResult {
    if !a.seconds.is_finite() || a.seconds < 0.0 || a.seconds > 1e9 {
        return Err(ApiError(StatusCode::BAD_REQUEST, "bad_seconds", "seconds must be within 0..1e9".into()));
    }
    let Some(now) = s.clock.advance(chrono::Duration::milliseconds((a.seconds * 1000.0) as i64)) else {
        return Err(ApiError(StatusCode::BAD_REQUEST, "bad_seconds", "the clock cannot move that far".into()));
    };
    s.with_seqr(|e, now| e.tick(now));
    ok(json!({"now": now}))
}

#[derive(Deserialize)]
struct ScanBody {
    /// Invoice reference, `HTTP://SEQR.SE/R…` or `HTTP://SEQR.SE/Q<seqrId>`.
    code: String,
    #[serde(default = "default_shopper")]
    shopper: String,
}

fn default_shopper() -> String {
    "shopper1".to_owned()
}

async fn phone_scan(State(s): State<Arc<Shared>>, Json(b): Json<ScanBody>) -> ApiResult {
    ok(s.with_seqr(|e, now| e.scan(&b.code, &b.shopper, now))?)
}

#[derive(Deserialize)]
struct PayBody {
    code: String,
    #[serde(default = "default_shopper")]
    shopper: String,
    #[serde(default)]
    pin: Option<String>,
    /// Only open the payment (PIN screen) without confirming.
    #[serde(default)]
    hold: bool,
}

async fn phone_pay(State(s): State<Arc<Shared>>, Json(b): Json<PayBody>) -> ApiResult {
    let default_pin = s.cfg.default_pin.clone();
    s.with_seqr(|e, now| {
        let reference = e.start_payment(&b.code, &b.shopper, now)?;
        if b.hold {
            return ok(json!({"invoice_reference": reference, "status": "PAYING"}));
        }
        ok(e.confirm_payment(&reference, b.pin.as_deref().unwrap_or(&default_pin), now)?)
    })
}

#[derive(Deserialize)]
struct ConfirmBody {
    code: String,
    pin: String,
}

async fn phone_confirm(State(s): State<Arc<Shared>>, Json(b): Json<ConfirmBody>) -> ApiResult {
    ok(s.with_seqr(|e, now| e.confirm_payment(&b.code, &b.pin, now))?)
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

async fn phone_cancel(State(s): State<Arc<Shared>>, Json(b): Json<CodeBody>) -> ApiResult {
    let back = s.with_seqr(|e, now| e.phone_cancel(&b.code, now))?;
    ok(json!({"status": "CANCELED", "back_url": back}))
}

async fn phone_fail(State(s): State<Arc<Shared>>, Json(b): Json<CodeBody>) -> ApiResult {
    s.with_seqr(|e, now| e.phone_fail(&b.code, now))?;
    ok(json!({"status": "FAILED"}))
}

#[derive(Deserialize)]
struct RememberBody {
    code: String,
    remember: bool,
}

async fn phone_remember(State(s): State<Arc<Shared>>, Json(b): Json<RememberBody>) -> ApiResult {
    let card = s.with_seqr(|e, now| e.remember_card(&b.code, b.remember, now))?;
    ok(json!({"remembered": card}))
}

#[derive(Deserialize)]
struct ShopperBody {
    shopper: String,
    pin: String,
}

async fn shopper_set(State(s): State<Arc<Shared>>, Json(b): Json<ShopperBody>) -> ApiResult {
    s.with_seqr(|e, _| e.set_shopper(&b.shopper, &b.pin));
    ok(json!({"shopper": b.shopper}))
}

#[derive(Deserialize)]
struct CardBody {
    reseller_id: Option<String>,
    id: Option<String>,
    value: Option<String>,
    description: Option<String>,
}

async fn shopper_card_add(State(s): State<Arc<Shared>>, Path(id): Path<String>, Json(b): Json<CardBody>) -> ApiResult {
    let reseller = b.reseller_id.or_else(|| s.cfg.resellers.first().map(|r| r.id.clone())).unwrap_or_default();
    let card = TokenView { id: b.id, value: b.value, description: b.description, status: 0 };
    s.with_seqr(|e, _| e.attach_card(&id, &reseller, card));
    shopper_cards(State(s), Path(id)).await
}

async fn shopper_cards(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let cards = s.with_seqr(|e, _| e.shopper_cards(&id));
    let v: Vec<_> = cards.into_iter().map(|(r, c)| json!({"reseller_id": r, "card": c})).collect();
    ok(v)
}

#[derive(Deserialize)]
struct InvoicesQuery {
    terminal_id: Option<String>,
}

async fn invoices_list(State(s): State<Arc<Shared>>, Query(q): Query<InvoicesQuery>) -> ApiResult {
    let v: Vec<SimInvoice> = s.with_seqr(|e, now| {
        e.tick(now);
        e.invoices(q.terminal_id.as_deref())
    });
    ok(v)
}

async fn invoice_get(State(s): State<Arc<Shared>>, Path(reference): Path<String>) -> ApiResult {
    match s.with_seqr(|e, now| {
        e.tick(now);
        e.invoice(&reference)
    }) {
        Some(v) => ok(v),
        None => Err(ApiError(StatusCode::NOT_FOUND, "unknown_invoice", format!("unknown invoice {reference}"))),
    }
}

async fn ledger(State(s): State<Arc<Shared>>) -> ApiResult {
    ok(s.with_seqr(|e, now| {
        e.tick(now);
        e.ledger().to_vec()
    }))
}

#[derive(Deserialize)]
struct ResellerBody {
    id: String,
    user_id: String,
    password: String,
    #[serde(default = "sek")]
    currency: String,
}

fn sek() -> String {
    "SEK".to_owned()
}

async fn reseller_add(State(s): State<Arc<Shared>>, Json(b): Json<ResellerBody>) -> ApiResult {
    let seed = ResellerSeed { id: b.id.clone(), user_id: b.user_id, password: b.password, currency: b.currency };
    s.with_seqr(|e, _| e.add_reseller(seed));
    ok(json!({"reseller_id": b.id}))
}

#[derive(Deserialize)]
struct TerminalBody {
    id: Option<String>,
    password: String,
    reseller_id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    single_invoice: bool,
    #[serde(default = "yes")]
    refunds_allowed: bool,
}

fn yes() -> bool {
    true
}

async fn terminal_add(State(s): State<Arc<Shared>>, Json(b): Json<TerminalBody>) -> ApiResult {
    let id = b.id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let reseller_id = b.reseller_id.or_else(|| s.cfg.resellers.first().map(|r| r.id.clone())).unwrap_or_default();
    let seed = TerminalSeed {
        id: id.clone(),
        password: b.password,
        reseller_id,
        name: b.name.unwrap_or_else(|| "Terminal".to_owned()),
        single_invoice: b.single_invoice,
        refunds_allowed: b.refunds_allowed,
    };
    s.with_seqr(|e, _| e.add_terminal(seed));
    ok(json!({"terminal_id": id}))
}

async fn terminals_list(State(s): State<Arc<Shared>>) -> ApiResult {
    ok(s.with_seqr(|e, _| e.terminal_ids()))
}

#[derive(Deserialize)]
struct RefundsBody {
    allowed: bool,
}

async fn terminal_refunds(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(b): Json<RefundsBody>,
) -> ApiResult {
    if s.with_seqr(|e, _| e.set_refunds_allowed(&id, b.allowed)) {
        ok(json!({"terminal_id": id, "refunds_allowed": b.allowed}))
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, "unknown_terminal", format!("unknown terminal {id}")))
    }
}

async fn receipts(State(s): State<Arc<Shared>>, Path(ers): Path<String>) -> ApiResult {
    let docs = s.with_seqr(|e, _| {
        e.receipts(&ers).map(|d| {
            d.iter()
                .map(|r| {
                    json!({
                        "mime_type": r.mime_type,
                        "receipt_type": r.receipt_type,
                        "size": r.receipt_data.as_ref().map_or(0, Vec::len),
                    })
                })
                .collect::<Vec<_>>()
        })
    });
    match docs {
        Some(d) => ok(d),
        None => Err(ApiError(StatusCode::NOT_FOUND, "unknown_ers_reference", format!("unknown {ers}"))),
    }
}

async fn notifications(State(s): State<Arc<Shared>>) -> ApiResult {
    ok(lock(&s.notifications).clone())
}

async fn faults_add(State(s): State<Arc<Shared>>, Json(rule): Json<FaultRule>) -> ApiResult {
    let mut f = lock(&s.faults);
    f.add(rule);
    ok(f.rules().to_vec())
}

async fn faults_list(State(s): State<Arc<Shared>>) -> ApiResult {
    ok(lock(&s.faults).rules().to_vec())
}

async fn faults_reset(State(s): State<Arc<Shared>>) -> ApiResult {
    lock(&s.faults).reset(s.cfg.fault_seed);
    ok(json!({"rules": 0}))
}
