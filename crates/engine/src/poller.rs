//! Status workers: every open invoice is polled with getPaymentStatus, echoing the invoice version.
//!
//! [`Poller::poll_once`] leases the due invoices (see [`store_pg::jobs`]), attends to each, and releases them all
//! with their next due times in one statement: about once a second while the shopper is at the register, backing off to `max_interval` for a
//! long-lived reservation, at once after a notification. Only changes are appended (the domain decides nothing
//! for an unchanged status: an unchanged poll reads the stream once and writes nothing but the lease bookkeeping).
//! Attending an invoice also:
//! - marks calls that were requested but never got an outcome (their process died) as unknown;
//! - resolves unknown calls: a cancel, update or receipt is repeated (repeating them cannot move money); a
//!   commit is resolved by the status (the domain resolves it on PAID / CANCELED / EXPIRED); a sendInvoice whose
//!   answer was lost is resolved as not done once SEQR's reversal window has passed (nobody can have fetched a
//!   PAID for an invoice whose reference we never learnt, so SEQR reverses any payment); an unknown refund is left
//!   to finance, who resolve it from SEQR's reconciliation reports (a call resolution, [`crate::Change::Resolve`]);
//! - enforces the reservation deadline (commitReservationTimeout).

use std::time::Duration;

use domain::{
    CallKind, CallOutcome, CallState, Command, Evidence, ExpireReservation, InvoiceId, InvoiceState, InvoiceStatus,
    ObserveStatus, RecordCallOutcome, Resolution, ResolveCall,
};
use futures::StreamExt;
use store_pg::{jobs, LoadedInvoice, Metadata};

use crate::{
    commands::CALL_DEADLINE,
    invoices::{metadata, now},
    seqr::{self, StatusAnswer},
    shutdown::Shutdown,
    Engine, EngineError,
};

/// How long after a sendInvoice with an unknown outcome it is declared not done: SEQR reverses a PAID that is
/// not fetched within 20 s; twice that, plus the call deadline, leaves a wide margin.
const SEND_RESOLUTION_AFTER: Duration = Duration::from_secs(40 + CALL_DEADLINE.as_secs());

/// How many invoices of a round are attended at once.
const ATTENDED_AT_ONCE: usize = 16;

/// A status worker of one process.
#[derive(Clone)]
pub struct Poller {
    engine: Engine,
    owner: String,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Invoices leased and attended.
    pub attended: usize,
    /// Their ids.
    pub invoices: Vec<uuid::Uuid>,
    /// getPaymentStatus calls made.
    pub polls: usize,
    /// Invoices that failed (left leased; the lease expires and they are retried).
    pub failed: usize,
}

impl Poller {
    pub fn new(engine: Engine, owner: impl Into<String>) -> Poller {
        Poller { engine, owner: owner.into() }
    }

    /// Leases the due invoices, attends to each once, and releases the leases in one statement.
    pub async fn poll_once(&self) -> Result<Round, EngineError> {
        let poll = &self.engine.settings().poll;
        let leases = jobs::lease(self.engine.pool(), &self.owner, poll.batch, poll.lease).await?;
        let mut round = Round {
            attended: leases.len(),
            invoices: leases.iter().map(|l| l.invoice_id).collect(),
            ..Round::default()
        };
        // Every leased stream in one statement: an unchanged poll costs no round trip of its own to Postgres.
        let mut loaded = self.engine.store().load_invoices_keyed(&round.invoices).await?;
        let results: Vec<_> = futures::stream::iter(leases)
            .map(|lease| {
                let invoice = loaded.remove(&lease.invoice_id).unwrap_or_default();
                async move { (lease, self.attend(lease, invoice).await) }
            })
            .buffer_unordered(ATTENDED_AT_ONCE)
            .collect()
            .await;
        let mut releases = Vec::with_capacity(results.len());
        for (lease, result) in results {
            match result {
                Ok(Attended { polled, next }) => {
                    round.polls += usize::from(polled);
                    releases.push((lease.invoice_id, next));
                }
                Err(e) => {
                    round.failed += 1;
                    tracing::warn!(invoice_id = %lease.invoice_id, error = %crate::error_chain(&e), "attending invoice failed; retried after the lease");
                }
            }
        }
        jobs::release_all(self.engine.pool(), &self.owner, &releases).await?;
        crate::metrics::poll_round(&round);
        Ok(round)
    }

    /// Heartbeat: records this process as live and shares the SEQR budget among the live ones.
    pub async fn heartbeat(&self) -> Result<u32, EngineError> {
        let live = store_pg::fleet::heartbeat(self.engine.pool(), &self.owner).await?;
        let live = u32::try_from(live).unwrap_or(1).max(1);
        self.engine.rate().set_instances(live);
        Ok(live)
    }

    /// Takes back, at once, the leases this instance held before it stopped (a restart with the same instance id
    /// never waits for its own dead leases to expire). Returns how many.
    pub async fn reclaim(&self) -> Result<u64, EngineError> {
        Ok(jobs::reclaim(self.engine.pool(), &self.owner).await?)
    }

    /// Runs rounds until `shutdown`, waking early on a notification (LISTEN `seqrd_poll`); also drops cached
    /// registers when any process changes one.
    pub async fn run(&self, shutdown: Shutdown) -> Result<(), EngineError> {
        let channels = [store_pg::fleet::WAKE_CHANNEL, store_pg::access::TERMINALS_CHANNEL];
        let mut listener = store_pg::Listener::connect(self.engine.pool(), &channels).await?;
        let reclaimed = self.reclaim().await?;
        if reclaimed > 0 {
            tracing::info!(reclaimed, "took back the leases this instance held before it stopped");
        }
        // Leases are short (a quarter of SEQR's reversal window) and renewed while this process lives.
        let renewer = {
            let (pool, owner, lease) =
                (self.engine.pool().clone(), self.owner.clone(), self.engine.settings().poll.lease);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if let Err(e) = jobs::renew(&pool, &owner, lease).await {
                        tracing::warn!(error = %e, "renewing leases failed");
                    }
                }
            })
        };
        let _stop_renewing = AbortOnDrop(renewer);
        let mut last_beat = tokio::time::Instant::now() - Duration::from_secs(60);
        loop {
            // Checked before every round, also when the last one was full: a backlog of due polls never holds up
            // shutdown by more than the round in progress (whose calls finish and whose leases are released).
            if shutdown.is_requested() {
                return Ok(());
            }
            if last_beat.elapsed() >= Duration::from_secs(5) {
                if let Err(e) = self.heartbeat().await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
                last_beat = tokio::time::Instant::now();
            }
            let round = match self.poll_once().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "poll round failed");
                    Round::default()
                }
            };
            if round.attended as u32 >= self.engine.settings().poll.batch {
                continue;
            }
            tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                n = listener.recv() => {
                    if let Ok((channel, payload)) = n {
                        if channel == store_pg::access::TERMINALS_CHANNEL {
                            self.engine.terminal_changed(&payload);
                        }
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    async fn attend(&self, lease: jobs::Lease, mut loaded: LoadedInvoice) -> Result<Attended, EngineError> {
        let invoice_id = InvoiceId(lease.invoice_id);
        let meta = metadata(format!("worker:{}", self.owner), None);
        if !loaded.state.is_issued() {
            return Ok(Attended { polled: false, next: None });
        }
        let at = now();

        // Calls requested but never answered: the process performing them is gone.
        let orphans: Vec<_> = loaded
            .state
            .calls_requested()
            .filter(|c| at - c.requested_at > chrono::Duration::from_std(CALL_DEADLINE).unwrap_or_default())
            .map(|c| c.call_id)
            .collect();
        for call_id in orphans {
            let reason = "no outcome was recorded: the process performing the call stopped".to_owned();
            let command = Command::RecordCallOutcome(RecordCallOutcome {
                at: now(),
                call_id,
                outcome: CallOutcome::Unknown { reason },
            });
            loaded = self.engine.worker_command(invoice_id, loaded, &meta, command).await?;
        }

        // Unknown calls that can be settled without SEQR's status.
        let unknown: Vec<_> = loaded.state.unknown_calls().cloned().collect();
        for call in unknown {
            match call.kind {
                CallKind::CancelInvoice | CallKind::UpdateInvoice | CallKind::SubmitPaymentReceipt => {
                    loaded = self.repeat_harmless(invoice_id, &meta, loaded, call.call_id).await?;
                }
                CallKind::SendInvoice
                    if at - call.requested_at
                        > chrono::Duration::from_std(SEND_RESOLUTION_AFTER).unwrap_or_default() =>
                {
                    let evidence = Evidence::Operator {
                        note: "automatic: sendInvoice answer lost; the invoice reference was never known, so no \
                               PAID could be fetched and SEQR reversed any payment"
                            .to_owned(),
                    };
                    loaded =
                        self.resolve(invoice_id, &meta, loaded, call.call_id, Resolution::NotDone, evidence).await?;
                }
                _ => {}
            }
        }

        // The status poll.
        let mut polled = false;
        if loaded.state.is_open() {
            if let Some(reference) = loaded.state.invoice_reference().map(str::to_owned) {
                polled = true;
                let before = loaded.state.clone();
                loaded = self.observe(invoice_id, &meta, loaded, reference).await?;
                self.engine.forward_notification(&before, &loaded.state);
            }
        }

        // The reservation deadline.
        let state = &loaded.state;
        if state.status() == InvoiceStatus::Reserved
            && state.reservation_deadline().is_some_and(|d| d <= now())
            && !state.calls_in_flight().any(|c| c.kind == CallKind::CommitReservation)
        {
            let command = Command::ExpireReservation(ExpireReservation { at: now() });
            loaded = self.engine.worker_command(invoice_id, loaded, &meta, command).await?;
        }

        Ok(Attended { polled, next: self.next_interval(&loaded.state, lease.interval) })
    }

    async fn observe(
        &self,
        invoice_id: InvoiceId,
        meta: &Metadata,
        loaded: LoadedInvoice,
        reference: String,
    ) -> Result<LoadedInvoice, EngineError> {
        let state = &loaded.state;
        let scope = state.scope().ok_or(EngineError::NotFound)?;
        let creds = self.engine.credentials(scope.tenant.as_str(), scope.terminal.as_str()).await?;
        let request = seqr::status_request(&creds, reference, state.invoice_version());
        let result = self.engine.call_seqr(request, Some((scope.tenant.as_str(), scope.terminal.as_str()))).await;
        let fallback = state.committed_amount().or_else(|| state.total());
        let obs = match seqr::status_answer(result, fallback) {
            StatusAnswer::Observed(obs) => obs,
            StatusAnswer::Nothing(why) => {
                tracing::info!(invoice_id = %invoice_id, "{why}; asked again next round");
                return Ok(loaded);
            }
        };
        let command = Command::ObserveStatus(ObserveStatus {
            at: now(),
            status: obs.status,
            invoice_version: obs.version,
            customer_tokens: obs.tokens,
            payment: obs.payment,
        });
        // An unchanged status decides nothing and writes nothing; one the domain refuses (e.g. a regression) is
        // logged and not appended.
        self.engine.worker_command(invoice_id, loaded, meta, command).await
    }

    /// Repeats a call that cannot move money, and resolves it from the answer.
    async fn repeat_harmless(
        &self,
        invoice_id: InvoiceId,
        meta: &Metadata,
        loaded: LoadedInvoice,
        call_id: domain::CallId,
    ) -> Result<LoadedInvoice, EngineError> {
        let state = &loaded.state;
        let Some(request) = state.call_request(call_id).cloned() else { return Ok(loaded) };
        let scope = state.scope().ok_or(EngineError::NotFound)?;
        let creds = self.engine.credentials(scope.tenant.as_str(), scope.terminal.as_str()).await?;
        let notification_url = self.engine.notification_url(invoice_id, None).await?;
        let wire = seqr::wire_request(&request, &creds, Some(&notification_url));
        let result = self.engine.call_seqr(wire, Some((scope.tenant.as_str(), scope.terminal.as_str()))).await;
        match seqr::repeat_resolution(request.kind(), result) {
            Ok((resolution, evidence)) => self.resolve(invoice_id, meta, loaded, call_id, resolution, evidence).await,
            Err(e) => {
                tracing::info!(invoice_id = %invoice_id, error = %e, "repeating an unknown call failed; retried next round");
                Ok(loaded)
            }
        }
    }

    async fn resolve(
        &self,
        invoice_id: InvoiceId,
        meta: &Metadata,
        loaded: LoadedInvoice,
        call_id: domain::CallId,
        resolution: Resolution,
        evidence: Evidence,
    ) -> Result<LoadedInvoice, EngineError> {
        // Already resolved meanwhile (e.g. by an observation): nothing to do.
        let command = Command::ResolveCall(ResolveCall { at: now(), call_id, resolution, evidence });
        self.engine.worker_command(invoice_id, loaded, meta, command).await
    }

    /// When to look again; `None` when the invoice needs nothing more.
    fn next_interval(&self, state: &InvoiceState, previous: Duration) -> Option<Duration> {
        let poll = &self.engine.settings().poll;
        let needs_work =
            state.calls_in_flight().any(|c| c.state == CallState::Requested || c.kind != CallKind::RefundPayment);
        if !state.is_open() && !needs_work {
            return None;
        }
        Some(match state.status() {
            InvoiceStatus::Reserved => {
                let next = if previous < poll.reserved_interval { poll.reserved_interval } else { previous * 2 };
                let next = next.min(poll.max_interval);
                // Never sleep past the commit deadline.
                match state.reservation_deadline().and_then(|d| (d - now()).to_std().ok()) {
                    Some(left) => next.min(left.max(poll.active_interval)),
                    None => next,
                }
            }
            _ => poll.active_interval,
        })
    }
}

struct Attended {
    polled: bool,
    next: Option<Duration>,
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
