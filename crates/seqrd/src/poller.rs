//! Status workers: every open invoice is polled with getPaymentStatus, echoing the invoice version.
//!
//! [`Poller::poll_once`] leases the due invoices (see [`crate::jobs`]), attends to each, and releases it with its
//! next due time: about once a second while the shopper is at the register, backing off to `max_interval` for a
//! long-lived reservation, at once after a notification. Only changes are appended (the domain decides nothing
//! for an unchanged status). Attending an invoice also:
//! - marks calls that were requested but never got an outcome (their process died) as unknown;
//! - resolves unknown calls: a cancel, update or receipt is repeated (repeating them cannot move money); a
//!   commit is resolved by the status (the domain resolves it on PAID / CANCELED / EXPIRED); a sendInvoice whose
//!   answer was lost is resolved as not done once SEQR's reversal window has passed (nobody can have fetched a
//!   PAID for an invoice whose reference we never learnt, so SEQR reverses any payment); an unknown refund is left
//!   to finance, who resolve it from SEQR's reconciliation reports (`POST /v1/invoices/{id}/calls/{call}/resolve`);
//! - enforces the reservation deadline (commitReservationTimeout).

use std::time::Duration;

use domain::{
    command::{ExpireReservation, ObserveStatus, RecordCallOutcome, ResolveCall},
    CallKind, CallOutcome, CallState, CallSuccess, Command, Evidence, InvoiceId, InvoiceState, InvoiceStatus,
    Resolution,
};
use futures::StreamExt;
use seqr_client::CallError;
use seqr_wire as wire;

use crate::{
    engine::{self, metadata},
    jobs, seqr,
    service::{Service, ServiceError, CALL_DEADLINE},
};

/// How long after a sendInvoice with an unknown outcome it is declared not done: SEQR reverses a PAID that is
/// not fetched within 20 s; twice that, plus the call deadline, leaves a wide margin.
const SEND_RESOLUTION_AFTER: Duration = Duration::from_secs(40 + CALL_DEADLINE.as_secs());

/// A status worker of one process.
#[derive(Clone)]
pub struct Poller {
    service: Service,
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
    pub fn new(service: Service, owner: impl Into<String>) -> Poller {
        Poller { service, owner: owner.into() }
    }

    /// Leases the due invoices and attends to each once.
    pub async fn poll_once(&self) -> Result<Round, sqlx::Error> {
        let poll = &self.service.config.poll;
        let leases = jobs::lease(&self.service.pool, &self.owner, poll.batch, poll.lease).await?;
        let mut round = Round {
            attended: leases.len(),
            invoices: leases.iter().map(|l| l.invoice_id).collect(),
            ..Round::default()
        };
        let results: Vec<_> = futures::stream::iter(leases)
            .map(|lease| async move { (lease, self.attend(lease).await) })
            .buffer_unordered(16)
            .collect()
            .await;
        for (lease, result) in results {
            match result {
                Ok(Attended { polled, next }) => {
                    round.polls += usize::from(polled);
                    match next {
                        Some(next) => jobs::release(&self.service.pool, &self.owner, lease.invoice_id, next).await?,
                        None => jobs::finish(&self.service.pool, &self.owner, lease.invoice_id).await?,
                    }
                }
                Err(e) => {
                    round.failed += 1;
                    tracing::warn!(invoice_id = %lease.invoice_id, error = %e, "attending invoice failed; retried after the lease");
                }
            }
        }
        Ok(round)
    }

    /// Heartbeat: records this process as live and shares the SEQR budget among the live ones.
    pub async fn heartbeat(&self) -> Result<u32, sqlx::Error> {
        sqlx::query(
            "INSERT INTO instances (instance_id, seen_at) VALUES ($1, now())
             ON CONFLICT (instance_id) DO UPDATE SET seen_at = now()",
        )
        .bind(&self.owner)
        .execute(&self.service.pool)
        .await?;
        let live: i64 =
            sqlx::query_scalar("SELECT count(*) FROM instances WHERE seen_at > now() - interval '15 seconds'")
                .fetch_one(&self.service.pool)
                .await?;
        let live = u32::try_from(live).unwrap_or(1).max(1);
        self.service.rate.set_instances(live);
        Ok(live)
    }

    /// Runs rounds until `shutdown`, waking early on a notification (LISTEN `seqrd_poll`).
    pub async fn run(&self, shutdown: crate::shutdown::Shutdown) -> anyhow::Result<()> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.service.pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        let reclaimed = jobs::reclaim(&self.service.pool, &self.owner).await?;
        if reclaimed > 0 {
            tracing::info!(reclaimed, "took back the leases this instance held before it stopped");
        }
        // Leases are short (a quarter of SEQR's reversal window) and renewed while this process lives.
        let renewer = {
            let (pool, owner, lease) = (self.service.pool.clone(), self.owner.clone(), self.service.config.poll.lease);
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
                    tracing::warn!(error = %e, "poll round failed");
                    Round::default()
                }
            };
            if round.attended as u32 >= self.service.config.poll.batch {
                continue;
            }
            tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                _ = listener.recv() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    async fn attend(&self, lease: jobs::Lease) -> Result<Attended, ServiceError> {
        let invoice_id = InvoiceId(lease.invoice_id);
        let meta = metadata(format!("worker:{}", self.owner), None);
        let mut state = self.service.engine.load(invoice_id).await?.state;
        if !state.is_issued() {
            return Ok(Attended { polled: false, next: None });
        }
        let now = engine::now();

        // Calls requested but never answered: the process performing them is gone.
        let orphans: Vec<_> = state
            .calls_requested()
            .filter(|c| now - c.requested_at > chrono::Duration::from_std(CALL_DEADLINE).unwrap_or_default())
            .map(|c| c.call_id)
            .collect();
        for call_id in orphans {
            let reason = "no outcome was recorded: the process performing the call stopped".to_owned();
            state = self.record(invoice_id, &meta, call_id, CallOutcome::Unknown { reason }).await?;
        }

        // Unknown calls that can be settled without SEQR's status.
        let unknown: Vec<_> = state.unknown_calls().cloned().collect();
        for call in unknown {
            match call.kind {
                CallKind::CancelInvoice | CallKind::UpdateInvoice | CallKind::SubmitPaymentReceipt => {
                    state = self.repeat_harmless(invoice_id, &meta, &state, call.call_id).await?;
                }
                CallKind::SendInvoice
                    if now - call.requested_at
                        > chrono::Duration::from_std(SEND_RESOLUTION_AFTER).unwrap_or_default() =>
                {
                    state = self
                        .resolve(
                            invoice_id,
                            &meta,
                            call.call_id,
                            Resolution::NotDone,
                            Evidence::Operator {
                                note:
                                    "automatic: sendInvoice answer lost; the invoice reference was never known, so no \
                                   PAID could be fetched and SEQR reversed any payment"
                                        .to_owned(),
                            },
                        )
                        .await?;
                }
                _ => {}
            }
        }

        // The status poll.
        let mut polled = false;
        if state.is_open() {
            if let Some(reference) = state.invoice_reference().map(str::to_owned) {
                polled = true;
                let observed = self.observe(invoice_id, &meta, &state, reference).await?;
                self.service.forward_notification(&state, &observed);
                state = observed;
            }
        }

        // The reservation deadline.
        if state.status() == InvoiceStatus::Reserved
            && state.reservation_deadline().is_some_and(|d| d <= engine::now())
            && !state.calls_in_flight().any(|c| c.kind == CallKind::CommitReservation)
        {
            let at = engine::now();
            let command = Command::ExpireReservation(ExpireReservation { at });
            state = self.service.execute_or_reload(invoice_id, &meta, command).await?;
        }

        Ok(Attended { polled, next: self.next_interval(&state, lease.interval) })
    }

    async fn observe(
        &self,
        invoice_id: InvoiceId,
        meta: &store_pg::Metadata,
        state: &InvoiceState,
        reference: String,
    ) -> Result<InvoiceState, ServiceError> {
        let creds = self.service.credentials(state).await?;
        let request = wire::Request::GetPaymentStatus(wire::GetPaymentStatusRequest {
            context: Some(creds.context(seqr::CLIENT_ID, None)),
            invoice_reference: Some(reference),
            invoice_version: state.invoice_version(),
        });
        self.service.rate.acquire().await;
        let response = match self.service.seqr.call(request).await {
            Ok(wire::Response::GetPaymentStatus(r)) => r,
            Ok(_) => return Ok(state.clone()),
            Err(e) => {
                tracing::info!(invoice_id = %invoice_id, error = %e, "getPaymentStatus failed; retried next round");
                return Ok(state.clone());
            }
        };
        let fallback = state.committed_amount().or_else(|| state.total());
        let Some(obs) = seqr::observation(&response, fallback) else {
            tracing::warn!(invoice_id = %invoice_id, status = ?response.status, "unknown status from SEQR; ignored");
            return Ok(state.clone());
        };
        let at = engine::now();
        let command = Command::ObserveStatus(ObserveStatus {
            at,
            status: obs.status,
            invoice_version: obs.version,
            customer_tokens: obs.tokens,
            payment: obs.payment,
        });
        // A status the domain refuses (e.g. a regression) is logged and not appended.
        self.service.execute_or_reload(invoice_id, meta, command).await
    }

    /// Repeats a call that cannot move money, and resolves it from the answer.
    async fn repeat_harmless(
        &self,
        invoice_id: InvoiceId,
        meta: &store_pg::Metadata,
        state: &InvoiceState,
        call_id: domain::CallId,
    ) -> Result<InvoiceState, ServiceError> {
        let Some(request) = state.call_request(call_id).cloned() else { return Ok(state.clone()) };
        let creds = self.service.credentials(state).await?;
        let notification_url = self.service.notification_url(invoice_id).await?;
        let wire = seqr::wire_request(&request, &creds, Some(&notification_url));
        self.service.rate.acquire().await;
        let (resolution, evidence) = match self.service.seqr.call(wire).await {
            Ok(r) => (
                Resolution::Succeeded { result: CallSuccess::Done },
                Evidence::ProviderResult {
                    result_code: 0,
                    description: r.base().result_description.clone().unwrap_or_default(),
                },
            ),
            // Canceling again answers 95 when the first cancel went through.
            Err(CallError::ResultCode { code: wire::ResultCode::InvoiceAlreadyCanceled, description, .. })
                if request.kind() == CallKind::CancelInvoice =>
            {
                (
                    Resolution::Succeeded { result: CallSuccess::Done },
                    Evidence::ProviderResult { result_code: 95, description: description.unwrap_or_default() },
                )
            }
            Err(CallError::ResultCode { code, description, .. }) => (
                Resolution::NotDone,
                Evidence::ProviderResult { result_code: code.code(), description: description.unwrap_or_default() },
            ),
            Err(e) => {
                tracing::info!(invoice_id = %invoice_id, error = %e, "repeating an unknown call failed; retried next round");
                return Ok(state.clone());
            }
        };
        self.resolve(invoice_id, meta, call_id, resolution, evidence).await
    }

    async fn resolve(
        &self,
        invoice_id: InvoiceId,
        meta: &store_pg::Metadata,
        call_id: domain::CallId,
        resolution: Resolution,
        evidence: Evidence,
    ) -> Result<InvoiceState, ServiceError> {
        let at = engine::now();
        // Already resolved meanwhile (e.g. by an observation): nothing to do.
        let command = Command::ResolveCall(ResolveCall { at, call_id, resolution, evidence });
        self.service.execute_or_reload(invoice_id, meta, command).await
    }

    async fn record(
        &self,
        invoice_id: InvoiceId,
        meta: &store_pg::Metadata,
        call_id: domain::CallId,
        outcome: CallOutcome,
    ) -> Result<InvoiceState, ServiceError> {
        let at = engine::now();
        let command = Command::RecordCallOutcome(RecordCallOutcome { at, call_id, outcome });
        self.service.execute_or_reload(invoice_id, meta, command).await
    }

    /// When to look again; `None` when the invoice needs nothing more.
    fn next_interval(&self, state: &InvoiceState, previous: Duration) -> Option<Duration> {
        let poll = &self.service.config.poll;
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
                match state.reservation_deadline().and_then(|d| (d - engine::now()).to_std().ok()) {
                    Some(left) => next.min(left.max(poll.active_interval)),
                    None => next,
                }
            }
            _ => poll.active_interval,
        })
    }
}

/// The channel the notification endpoint NOTIFYs to wake the workers of every process.
pub const WAKE_CHANNEL: &str = "seqrd_poll";

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
