//! The front door of every use case on an invoice: issue, change (loyalty update, commit, cancel, refund, receipt,
//! resolve a call), read.
//!
//! A command that needs SEQR is decided first: its `*_requested` event, with a call id and the exact parameters,
//! is appended before anything is sent, in the same statement as the invoice's poll job (due after the call's
//! deadline), so if this process dies mid-call a worker finds the call without an outcome and treats it as
//! unknown. Then the call is made once, and its outcome (succeeded, rejected with a SEQR code, or unknown) is
//! appended, with the next poll and the request's idempotency answer, again in one statement. The stream is read
//! once per command and the state passed along. Unknown outcomes are resolved by the workers from SEQR's state
//! ([`crate::Poller`]); a money-moving call (sendInvoice, commitReservation, refundPayment) is never repeated.

use std::{sync::Arc, time::Duration};

use domain::{
    CallId, CallRequest, CallState, CallSuccess, CancelInvoice, Command, CommitReservation, CustomerToken, Evidence,
    Invoice, InvoiceId, InvoiceRow, InvoiceState, IssueInvoice, Money, ReceiptDocument, RecordCallOutcome,
    RefundPayment, Resolution, ResolveCall, Scope, SubmitReceipt, UpdateInvoice,
};
use rand::RngCore;
use seqr_client::SeqrClient;
use store_pg::{AlsoWrite, EventStore, LoadedInvoice, Metadata, PgPool};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::{
    idempotency::{Answer, Claim},
    invoices::{metadata, now, Invoices, Step},
    rate::RateLimiter,
    seqr,
    terminals::TerminalCache,
    Caller, EngineError, Settings,
};

/// Longest time a SEQR call can take (the client's timeouts are shorter); a requested call without an outcome
/// after this is considered orphaned by a dead process.
pub(crate) const CALL_DEADLINE: Duration = Duration::from_secs(45);

/// What the engine is built from.
pub struct EngineParts {
    pub pool: PgPool,
    pub seqr: SeqrClient,
    pub settings: Settings,
    /// The fleet-wide SEQR rate budget, shared by every part of the process.
    pub rate: RateLimiter,
    /// Posts to merchants' own notificationUrls ([`crate::MerchantUrlPolicy::client`]).
    pub http: reqwest::Client,
}

/// The application: every use case, on one pool. Cheap to clone; [`Engine::with_pool`] gives a part of the
/// process its own pool while sharing the rest (the SEQR rate budget, the register cache, the process lock).
#[derive(Clone)]
pub struct Engine {
    invoices: Invoices,
    pool: PgPool,
    shared: Arc<Shared>,
}

struct Shared {
    seqr: SeqrClient,
    settings: Settings,
    rate: RateLimiter,
    http: reqwest::Client,
    terminals: TerminalCache,
    keys: crate::access::KeyCache,
    /// Bumped whenever any process announces an append (`NOTIFY seqrd_events`, heard by [`Engine::watch_access`]).
    log: tokio::sync::watch::Sender<u64>,
    breaker: crate::breaker::Breaker,
    /// This process's liveness lock, taken on the first request with an Idempotency-Key (the owner of its records).
    process: OnceCell<store_pg::locks::ProcessLock>,
}

/// Renders a command's outcome as the answer its caller gets (and a replay of its Idempotency-Key gets).
pub type Render = dyn Fn(&Outcome) -> Answer + Send + Sync;

/// Who asks for a command, under which Idempotency-Key, and how its answer is rendered (so the engine can store
/// it with the command's last append).
pub struct CommandContext<'a> {
    pub caller: &'a Caller,
    pub claim: Option<&'a Claim>,
    pub render: &'a Render,
    /// The events' correlation id (e.g. from the request's id); a fresh one when `None`.
    pub correlation_id: Option<Uuid>,
}

/// The invoice after a command, and the call the command performed (or, for a resolution, resolved).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub state: InvoiceState,
    pub call: Option<CallId>,
}

/// How the command's call ended, as the caller should be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate<'a> {
    /// Done (or nothing needed doing).
    Done,
    /// SEQR's outcome is not known yet (a worker resolves it).
    Pending,
    /// SEQR refused the call.
    RejectedBySeqr { operation: &'static str, result_code: i32, description: &'a str },
}

impl Outcome {
    /// The call's fate.
    pub fn fate(&self) -> Fate<'_> {
        let record = self.call.and_then(|c| self.state.call(c));
        match record.map(|r| (r, &r.state)) {
            Some((r, CallState::Rejected)) => {
                let (result_code, description) = r.rejection.as_ref().map_or((-1, ""), |(c, d)| (*c, d.as_str()));
                Fate::RejectedBySeqr { operation: r.kind.operation(), result_code, description }
            }
            Some((_, CallState::Unknown | CallState::Requested)) => Fate::Pending,
            // A replayed command performs nothing; while a call of the invoice is still open its outcome is not known.
            None if self.call.is_none() && self.state.calls_in_flight().next().is_some() => Fate::Pending,
            _ => Fate::Done,
        }
    }
}

/// A new invoice.
#[derive(Debug, Clone)]
pub struct IssueInput {
    /// The register (as registered in seqrd) the invoice is shown at.
    pub terminal_id: String,
    pub invoice: Invoice,
    pub tokens: Vec<CustomerToken>,
}

/// A change of an existing invoice.
#[derive(Debug, Clone)]
pub enum Change {
    /// New rows, total and tokens (a loyalty update): updateInvoice.
    Update { rows: Vec<InvoiceRow>, total: Money, tokens: Vec<CustomerToken> },
    /// Charge a reservation: commitReservation (in Gen A preceded by updateInvoice when the amount is not the total).
    Commit { amount: Money },
    /// cancelInvoice.
    Cancel,
    /// refundPayment.
    Refund { amount: Money, title: Option<String>, rows: Vec<InvoiceRow> },
    /// submitPaymentReceipt; `ers_reference` names a refund's, the payment's when absent.
    Receipt { ers_reference: Option<String>, document: ReceiptDocument },
    /// Finance settles an unknown call after checking SEQR's reports.
    Resolve { call_id: CallId, succeeded: bool, ers_reference: Option<String>, note: String },
}

/// One stored event of an invoice, as an operator reads it.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub version: i64,
    pub position: i64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub actor: String,
    /// The payload as stored (JSON text).
    pub data: Box<serde_json::value::RawValue>,
}

impl Engine {
    /// The engine on `parts.pool`.
    pub fn new(parts: EngineParts) -> Engine {
        let EngineParts { pool, seqr, settings, rate, http } = parts;
        let shared = Shared {
            seqr,
            settings,
            rate,
            http,
            terminals: TerminalCache::default(),
            keys: Default::default(),
            log: tokio::sync::watch::channel(0).0,
            breaker: Default::default(),
            process: OnceCell::new(),
        };
        Engine { invoices: Invoices::new(EventStore::new(pool.clone())), pool, shared: Arc::new(shared) }
    }

    /// The same engine on another pool (a part of the process with its own connections).
    pub fn with_pool(&self, pool: PgPool) -> Engine {
        Engine { invoices: Invoices::new(EventStore::new(pool.clone())), pool, shared: Arc::clone(&self.shared) }
    }

    /// The event store this engine appends to.
    pub fn store(&self) -> &EventStore {
        self.invoices.store()
    }

    /// The settings it was started with.
    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn rate(&self) -> &RateLimiter {
        &self.shared.rate
    }

    /// One SEQR call: within the fleet's rate budget, observed by the breaker, and, for a call with a register's
    /// credentials (`register`: tenant and terminal), dropping the cached credentials when SEQR refuses them (a
    /// reseller's call has none). Every call seqrd makes goes through here.
    pub(crate) async fn call_seqr(
        &self,
        request: seqr_wire::Request,
        register: Option<(&str, &str)>,
    ) -> Result<seqr_wire::Response, seqr_client::CallError> {
        self.rate().acquire().await;
        let operation = request.operation().name();
        let started = std::time::Instant::now();
        let result = self.shared.seqr.call(request).await;
        crate::metrics::seqr_call(operation, &result, started.elapsed());
        self.shared.breaker.observe(&result);
        if let Some((tenant, terminal)) = register.filter(|_| seqr::credentials_refused(&result)) {
            self.terminals().forget(tenant, terminal);
        }
        result
    }

    /// Refuses a command that needs SEQR while SEQR is known to be unreachable (nothing is recorded).
    fn admit_seqr_command(&self) -> Result<(), EngineError> {
        self.shared.breaker.admit().map_err(|retry_after| EngineError::SeqrUnavailable { retry_after })
    }

    /// Whether this process's last calls found SEQR unreachable.
    pub(crate) fn seqr_unreachable(&self) -> bool {
        self.shared.breaker.is_open()
    }

    pub(crate) fn terminals(&self) -> &TerminalCache {
        &self.shared.terminals
    }

    pub(crate) fn keys(&self) -> &crate::access::KeyCache {
        &self.shared.keys
    }

    pub(crate) fn shared_log(&self) -> &tokio::sync::watch::Sender<u64> {
        &self.shared.log
    }

    /// Changes whenever any process announced an append (while [`Engine::watch_access`] runs).
    pub(crate) fn log_advanced(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.log.subscribe()
    }

    pub(crate) fn invoices(&self) -> &Invoices {
        &self.invoices
    }

    /// This process's lock id ([`store_pg::locks::ProcessLock`]).
    pub(crate) async fn process_lock(&self) -> Result<i32, EngineError> {
        let lock = self.shared.process.get_or_try_init(|| store_pg::locks::ProcessLock::acquire(&self.pool)).await?;
        Ok(lock.id())
    }

    /// Issues an invoice at one of the caller's registers. The invoice id is derived from the idempotency key when
    /// there is one, so a retry after a lost answer lands on the same stream.
    pub async fn issue(&self, ctx: &CommandContext<'_>, input: IssueInput) -> Result<Outcome, EngineError> {
        let caller = ctx.caller;
        self.admit_seqr_command()?;
        // seqrd itself POSTs this URL later: it must be a public https URL (see `outbound`).
        if let Some(url) = &input.invoice.notification_url {
            self.settings()
                .merchant_urls
                .check(url.as_str())
                .map_err(|e| EngineError::ForbiddenNotificationUrl(e.to_string()))?;
        }
        let mut step = self.first_step(ctx);
        let terminal = self.terminal(&mut step, &caller.tenant_id, &input.terminal_id).await?;
        let Some(terminal) = terminal.filter(|t| caller.may_access(&caller.tenant_id, &t.store_id)) else {
            return Err(EngineError::UnknownTerminal(input.terminal_id));
        };
        let scope = Scope {
            tenant: parse_id(&caller.tenant_id)?,
            merchant: parse_id(&terminal.merchant_id)?,
            store: parse_id(&terminal.store_id)?,
            terminal: parse_id(&input.terminal_id)?,
        };
        let key = ctx.claim.map(Claim::command_key);
        let invoice_id = InvoiceId(match &key {
            Some(k) => Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{}:{k}", caller.tenant_id).as_bytes()),
            None => Uuid::now_v7(),
        });
        let command = Command::Issue(IssueInvoice {
            at: now(),
            invoice_id,
            scope,
            call_id: CallId(Uuid::now_v7()),
            invoice: input.invoice,
            tokens: input.tokens,
        });
        let meta = metadata(caller.actor(), ctx.correlation_id);
        // Without a key the id was made just now: its stream is empty, no need to read it (were it not, the append
        // would meet a version conflict and re-decide on the stream as it is).
        let fresh = key.is_none().then(LoadedInvoice::default);
        self.command(ctx, step, invoice_id, fresh, &meta, key.as_deref(), true, None, |_| command.clone()).await
    }

    /// Changes one of the caller's invoices.
    pub async fn change(&self, ctx: &CommandContext<'_>, id: Uuid, change: Change) -> Result<Outcome, EngineError> {
        let invoice_id = InvoiceId(id);
        if !matches!(change, Change::Resolve { .. }) {
            self.admit_seqr_command()?;
        }
        let mut step = self.first_step(ctx);
        let loaded = self.load_owned(&mut step, ctx.caller, invoice_id).await?;
        let meta = metadata(ctx.caller.actor(), ctx.correlation_id);
        let key = ctx.claim.map(Claim::command_key);
        let key = key.as_deref();
        let at = now();
        let call_id = CallId(Uuid::now_v7());
        let (command, resolved) = match change {
            Change::Update { rows, total, tokens } => {
                (Command::UpdateInvoice(UpdateInvoice { at, call_id, rows, total, tokens }), None)
            }
            Change::Commit { amount } => {
                let sends_amount = self.settings().seqr_gen_b;
                let (mut loaded, mut step) = (loaded, step);
                if !sends_amount {
                    match self.set_final_total(ctx, step, loaded, &meta, key, amount).await? {
                        FinalTotal::Set(after, next) => (loaded, step) = (after, next),
                        FinalTotal::Stop(outcome) => return Ok(outcome),
                    }
                }
                let command = Command::CommitReservation(CommitReservation { at, call_id, amount, sends_amount });
                let loaded = Some(loaded);
                return self.command(ctx, step, invoice_id, loaded, &meta, key, true, None, |_| command.clone()).await;
            }
            Change::Cancel => (Command::Cancel(CancelInvoice { at, call_id }), None),
            Change::Refund { amount, title, rows } => {
                (Command::Refund(RefundPayment { at, call_id, amount, title, rows }), None)
            }
            Change::Receipt { ers_reference, document } => {
                (Command::SubmitReceipt(SubmitReceipt { at, call_id, ers_reference, document }), None)
            }
            Change::Resolve { call_id, succeeded, ers_reference, note } => {
                let kind = loaded.state.call(call_id).map(|c| c.kind).ok_or(EngineError::NotFound)?;
                let resolution = if succeeded {
                    Resolution::Succeeded {
                        result: match kind {
                            domain::CallKind::RefundPayment => CallSuccess::Refunded { ers_reference },
                            _ => CallSuccess::Done,
                        },
                    }
                } else {
                    Resolution::NotDone
                };
                let evidence = Evidence::Operator { note };
                (Command::ResolveCall(ResolveCall { at, call_id, resolution, evidence }), Some(call_id))
            }
        };
        self.command(ctx, step, invoice_id, Some(loaded), &meta, key, true, resolved, |_| command.clone()).await
    }

    /// One of the caller's invoices.
    pub async fn invoice(&self, caller: &Caller, id: Uuid) -> Result<InvoiceState, EngineError> {
        Ok(self.load_owned(&mut self.invoices.step(), caller, InvoiceId(id)).await?.state)
    }

    /// The stored events of one of the caller's invoices.
    pub async fn invoice_events(&self, caller: &Caller, id: Uuid) -> Result<Vec<EventRecord>, EngineError> {
        self.load_owned(&mut self.invoices.step(), caller, InvoiceId(id)).await?;
        let events = self.store().read_stream(id).await?;
        events
            .into_iter()
            .map(|e| {
                let data = serde_json::value::RawValue::from_string(e.data.as_str().to_owned())
                    .map_err(|err| EngineError::Corrupt(err.to_string()))?;
                Ok(EventRecord {
                    id: e.event_id,
                    event_type: e.event_type,
                    schema_version: e.schema_version,
                    version: e.version,
                    position: e.position,
                    recorded_at: e.recorded_at,
                    correlation_id: e.metadata.correlation_id,
                    causation_id: e.metadata.causation_id,
                    actor: e.metadata.actor,
                    data,
                })
            })
            .collect()
    }

    async fn load_owned(&self, step: &mut Step, caller: &Caller, id: InvoiceId) -> Result<LoadedInvoice, EngineError> {
        let loaded = self.invoices.load(step, id).await?;
        match loaded.state.scope() {
            Some(scope) if caller.may_access(scope.tenant.as_str(), scope.store.as_str()) => Ok(loaded),
            // Another tenant's invoice is indistinguishable from a missing one.
            _ => Err(EngineError::NotFound),
        }
    }

    /// A command's first step: on its claim's connection (the Idempotency-Key was claimed on it), else on one from
    /// the pool at its first statement.
    fn first_step(&self, ctx: &CommandContext<'_>) -> Step {
        Step::new(self.store(), ctx.claim.and_then(Claim::take_connection))
    }

    /// Schema Gen A: commitReservation carries no amount and SEQR charges the invoice's total, so a final amount
    /// other than the total is first set with updateInvoice (the preliminary-payment seed: the merchant updates the
    /// order, then commits), recorded and performed as a call of its own. Its rows are dropped (they added up to the
    /// old total); a merchant who wants final rows on the receipt sends them with a loyalty update before
    /// committing. Stops with the update's outcome when the commit must not follow: SEQR refused the update or its
    /// outcome is unknown.
    #[allow(clippy::too_many_arguments)]
    async fn set_final_total(
        &self,
        ctx: &CommandContext<'_>,
        step: Step,
        loaded: LoadedInvoice,
        meta: &Metadata,
        key: Option<&str>,
        amount: Money,
    ) -> Result<FinalTotal, EngineError> {
        let state = &loaded.state;
        let (Some(invoice), Some(invoice_id)) = (state.invoice(), state.invoice_id()) else {
            return Ok(FinalTotal::Set(loaded, step));
        };
        if invoice.total == amount || state.status() != domain::InvoiceStatus::Reserved {
            // Nothing to change, or a state the commit's own decision refuses.
            return Ok(FinalTotal::Set(loaded, step));
        }
        let update = Command::UpdateInvoice(UpdateInvoice {
            at: now(),
            call_id: CallId(Uuid::now_v7()),
            rows: Vec::new(),
            total: amount,
            tokens: state.tokens().to_vec(),
        });
        let update_key = key.map(|k| format!("{k}:final-total"));
        let update_key = update_key.as_deref();
        let outcome = self
            .command(ctx, step, invoice_id, Some(loaded), meta, update_key, false, None, |_| update.clone())
            .await?;
        let reload = async || {
            let mut step = self.invoices.step();
            let loaded = self.invoices.load(&mut step, invoice_id).await?;
            Ok::<_, EngineError>(FinalTotal::Set(loaded, step))
        };
        match outcome.call {
            // SEQR took the new total (or a replay finds it taken, or the commit's decision refuses): commit.
            None => reload().await,
            Some(_) if outcome.state.invoice().is_some_and(|i| i.total == amount) => reload().await,
            Some(_) => Ok(FinalTotal::Stop(outcome)),
        }
    }

    /// Decides `make`, appends (with the poll job when it requests a call), then performs the SEQR call it
    /// requested (if any) and appends the outcome. `answer`: whether the request's idempotency answer is stored
    /// with the last append. `resolved`: the call the outcome reports when the command performs none.
    ///
    /// Only a call requested by this very append is performed. A replayed command (same idempotency key) never
    /// performs the original's call: that call may have been sent by a process that died before recording the
    /// answer, so a worker treats it as unknown instead of sending it again.
    ///
    /// The decision's statements run on `step`, which ends before SEQR is called.
    #[allow(clippy::too_many_arguments)]
    async fn command(
        &self,
        ctx: &CommandContext<'_>,
        mut step: Step,
        invoice_id: InvoiceId,
        loaded: Option<LoadedInvoice>,
        meta: &Metadata,
        key: Option<&str>,
        answer: bool,
        resolved: Option<CallId>,
        make: impl FnMut(&InvoiceState) -> Command,
    ) -> Result<Outcome, EngineError> {
        let claim = ctx.claim.filter(|_| answer);
        let poll = &self.settings().poll;
        // A new invoice gets its notification token with its first append (SEQR is handed the URL with it).
        let token = fresh_token();
        let decided = self
            .invoices
            .decide(&mut step, invoice_id, loaded, meta, key, make, |state, events, _| {
                match events.iter().find_map(|e| e.as_call_request()) {
                    // Whatever happens next, the invoice is looked at by a worker within the call deadline.
                    Some(request) => AlsoWrite {
                        schedule: Some((CALL_DEADLINE, poll.active_interval)),
                        answer: None,
                        notification_token: matches!(request, CallRequest::SendInvoice(_)).then(|| token.clone()),
                    },
                    None => AlsoWrite {
                        answer: claim
                            .and_then(|c| c.answer(&(ctx.render)(&Outcome { state: state.clone(), call: resolved }))),
                        ..AlsoWrite::default()
                    },
                }
            })
            .await?;
        drop(step);
        let requested = decided.appended.iter().find_map(|e| e.as_call_request()).map(|r| r.call_id());
        let Some(call_id) = requested else {
            if let Some(claim) = claim.filter(|_| !decided.appended.is_empty()) {
                claim.mark_answered();
            }
            return Ok(Outcome { state: decided.loaded.state, call: resolved });
        };
        // The token is this invoice's: its issue was appended with it just now, on an empty stream.
        let token =
            decided.appended.iter().any(|e| matches!(e, domain::Event::SendInvoiceRequested(_))).then_some(token);
        let answer = claim.map(|c| (c, ctx.render));
        let after = self.perform(invoice_id, decided.loaded, call_id, meta, answer, token.as_deref()).await?;
        Ok(Outcome { state: after.state, call: Some(call_id) })
    }

    /// Performs a requested call once and appends its outcome (with the next poll, and the idempotency answer
    /// rendered from the outcome when `answer` is given). `token`: the invoice's notification token when the
    /// caller knows it.
    pub(crate) async fn perform(
        &self,
        invoice_id: InvoiceId,
        loaded: LoadedInvoice,
        call_id: CallId,
        meta: &Metadata,
        answer: Option<(&Claim, &Render)>,
        token: Option<&str>,
    ) -> Result<LoadedInvoice, EngineError> {
        let state = &loaded.state;
        let Some(request) = state.call_request(call_id).cloned() else { return Ok(loaded) };
        if !state.call(call_id).is_some_and(|c| c.state == CallState::Requested) {
            return Ok(loaded);
        }
        let scope = state.scope().ok_or(EngineError::NotFound)?;
        let (tenant, terminal) = (scope.tenant.as_str().to_owned(), scope.terminal.as_str().to_owned());
        let creds = self.credentials(&tenant, &terminal).await?;
        let notification_url = match &request {
            CallRequest::SendInvoice(_) | CallRequest::UpdateInvoice(_) => {
                Some(self.notification_url(invoice_id, token).await?)
            }
            _ => None,
        };
        let wire = seqr::wire_request(&request, &creds, notification_url.as_deref());
        let result = self.call_seqr(wire, Some((&tenant, &terminal))).await;
        let outcome = seqr::outcome(&request, result);
        let at = now();
        let poll = &self.settings().poll;
        let mut step = self.invoices.step();
        let decided = self
            .invoices
            .decide(
                &mut step,
                invoice_id,
                Some(loaded),
                meta,
                None,
                |_| Command::RecordCallOutcome(RecordCallOutcome { at, call_id, outcome: outcome.clone() }),
                // Poll soon: the status tells what the call changed (and resolves an unknown outcome).
                |state, _, _| AlsoWrite {
                    schedule: Some((poll.active_interval, poll.active_interval)),
                    answer: answer.and_then(|(claim, render)| {
                        claim.answer(&render(&Outcome { state: state.clone(), call: Some(call_id) }))
                    }),
                    notification_token: None,
                },
            )
            .await?;
        if let Some((claim, _)) = answer.filter(|_| !decided.appended.is_empty()) {
            claim.mark_answered();
        }
        Ok(decided.loaded)
    }

    /// Decides and appends a command of a worker on the state it has; a command the domain refuses (the state
    /// moved on meanwhile, e.g. an observation resolved the call first) is logged and the current state returned.
    pub(crate) async fn worker_command(
        &self,
        invoice_id: InvoiceId,
        loaded: LoadedInvoice,
        meta: &Metadata,
        command: Command,
    ) -> Result<LoadedInvoice, EngineError> {
        let mut step = self.invoices.step();
        let no_more = |_: &InvoiceState, _: &[domain::Event], _| AlsoWrite::default();
        match self.invoices.decide(&mut step, invoice_id, Some(loaded), meta, None, |_| command.clone(), no_more).await
        {
            Ok(decided) => Ok(decided.loaded),
            Err(EngineError::Rejected(r)) => {
                tracing::info!(invoice_id = %invoice_id, code = r.code(), "worker command refused: {r}");
                self.invoices.load(&mut step, invoice_id).await
            }
            Err(e) => Err(e),
        }
    }

    /// Decides and appends a command without performing the SEQR call it may request: the state a process leaves
    /// when it dies right after the append (a worker then treats the call as unknown). For tests and repair tools;
    /// the API never records a call it does not perform.
    pub async fn record(
        &self,
        invoice_id: InvoiceId,
        meta: &Metadata,
        idempotency_key: Option<&str>,
        command: Command,
    ) -> Result<InvoiceState, EngineError> {
        let mut step = self.invoices.step();
        let no_more = |_: &InvoiceState, _: &[domain::Event], _| AlsoWrite::default();
        let decided = self
            .invoices
            .decide(&mut step, invoice_id, None, meta, idempotency_key, |_| command.clone(), no_more)
            .await?;
        Ok(decided.loaded.state)
    }

    /// The SEQR calls per second this process may make now (its share of the fleet budget).
    pub fn seqr_rate_per_second(&self) -> u32 {
        self.rate().per_second()
    }

    /// The notificationUrl seqrd hands SEQR for this invoice: an unguessable token bound to it (`known`, else the
    /// invoice's stored token, or a fresh one stored now).
    pub(crate) async fn notification_url(
        &self,
        invoice_id: InvoiceId,
        known: Option<&str>,
    ) -> Result<String, EngineError> {
        let token = match known {
            Some(token) => token.to_owned(),
            None => store_pg::fleet::notification_token(self.pool(), invoice_id.0, &fresh_token()).await?,
        };
        let base = self.settings().public_url.as_str().trim_end_matches('/');
        Ok(format!("{base}/v1/seqr/notifications/{token}"))
    }

    /// Forwards SEQR's notification to the merchant's own notificationUrl, as SEQR would have: an empty POST when
    /// the invoice becomes PAID or RESERVED. It is sent after seqrd has observed the change, so a merchant that
    /// reacts by reading the invoice sees it. Up to three attempts; failures are logged, never retried later
    /// (like SEQR, the merchant must not depend on it: polling seqrd is the contract). The URL passes the
    /// [`crate::MerchantUrlPolicy`] rules at send time, after DNS resolution; a refused URL is not retried.
    pub(crate) fn forward_notification(&self, before: &InvoiceState, after: &InvoiceState) {
        use domain::InvoiceStatus::{Paid, Reserved};
        let changed = before.status() != after.status() && matches!(after.status(), Paid | Reserved);
        let Some(url) = after.invoice().and_then(|i| i.notification_url.clone()).filter(|_| changed) else {
            return;
        };
        let engine = self.clone();
        let invoice_id = after.invoice_id().map(|i| i.0);
        tokio::spawn(async move {
            for attempt in 1..=3u32 {
                match engine.notify_merchant(url.as_str()).await {
                    Ok(()) => return,
                    Err(e) if e.is_refused() => {
                        tracing::warn!(?invoice_id, error = %e, "merchant notificationUrl refused by seqrd");
                        return;
                    }
                    Err(e) => tracing::info!(?invoice_id, error = %e, attempt, "merchant notificationUrl failed"),
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        });
    }

    /// One empty POST to a merchant's notificationUrl under the configured [`crate::MerchantUrlPolicy`].
    pub async fn notify_merchant(&self, url: &str) -> Result<(), crate::OutboundError> {
        self.settings().merchant_urls.post_empty(&self.shared.http, url).await
    }
}

enum FinalTotal {
    /// Commit on this state (in this step).
    Set(LoadedInvoice, Step),
    /// Answer this instead of committing.
    Stop(Outcome),
}

/// A new notification token: 24 random bytes, hex.
fn fresh_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, EngineError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| EngineError::InvalidId(e.to_string()))
}
