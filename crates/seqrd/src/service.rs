//! Orchestration: each command appends its decision, calls SEQR, and appends the outcome.
//!
//! A command that needs SEQR (issue, loyalty update, commit, cancel, refund, receipt) is decided first: its
//! `*_requested` event, with a call id and the exact parameters, is appended before anything is sent. The invoice
//! is put on the work queue (due after the call's timeout) before the call, so if this process dies mid-call a
//! worker finds the call without an outcome and treats it as unknown. Then the call is made once, and its outcome
//! (succeeded, rejected with a SEQR code, or unknown) is appended. Unknown outcomes are resolved by the workers
//! from SEQR's state ([`crate::poller`]); a money-moving call (sendInvoice, commitReservation, refundPayment) is
//! never repeated.

use std::{sync::Arc, time::Duration};

use domain::{CallId, CallRequest, Command, InvoiceId, InvoiceState};
use rand::RngCore;
use seqr_client::SeqrClient;
use sqlx::PgPool;
use store_pg::Metadata;

use crate::{
    config::Config,
    engine::{self, Engine, EngineError},
    jobs,
    rate::RateLimiter,
    seqr,
};

/// Longest time a SEQR call can take (the client's timeouts are shorter); a requested call without an outcome
/// after this is considered orphaned by a dead process.
pub const CALL_DEADLINE: Duration = Duration::from_secs(45);

/// Everything the API and the workers share.
#[derive(Clone)]
pub struct Service {
    pub engine: Engine,
    pub pool: PgPool,
    pub seqr: SeqrClient,
    pub config: Arc<Config>,
    pub rate: RateLimiter,
    /// Posts to merchants' own notificationUrls ([`crate::outbound`]: no redirects, only allowed addresses).
    pub http: reqwest::Client,
}

/// Why an orchestrated command failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("terminal {0:?} has no SEQR credentials in seqrd")]
    UnknownTerminal(String),
}

impl Service {
    /// Decides `make`, appends, then performs the SEQR call it requested (if any) and appends the outcome.
    /// Returns the state afterwards and the call performed.
    ///
    /// Only a call requested by this very append is performed. A replayed command (same idempotency key) never
    /// performs the original's call: that call may have been sent by a process that died before recording the
    /// answer, so a worker treats it as unknown instead of sending it again.
    pub async fn command(
        &self,
        invoice_id: InvoiceId,
        metadata: &Metadata,
        idempotency_key: Option<&str>,
        make: impl FnMut(&InvoiceState) -> Command,
    ) -> Result<(InvoiceState, Option<CallId>), ServiceError> {
        // Whatever happens next, the invoice is looked at by a worker within the call deadline.
        jobs::schedule(&self.pool, invoice_id.0, CALL_DEADLINE, self.config.poll.active_interval).await?;
        let (state, appended) = self.engine.execute_appending(invoice_id, metadata, idempotency_key, make).await?;
        let Some(call_id) = appended.iter().find_map(|e| e.as_call_request()).map(|r| r.call_id()) else {
            return Ok((state, None));
        };
        let state = self.perform(invoice_id, call_id, metadata).await?;
        Ok((state, Some(call_id)))
    }

    /// Performs a requested call once and appends its outcome.
    pub async fn perform(
        &self,
        invoice_id: InvoiceId,
        call_id: CallId,
        metadata: &Metadata,
    ) -> Result<InvoiceState, ServiceError> {
        let loaded = self.engine.load(invoice_id).await?;
        let state = loaded.state;
        let Some(request) = state.call_request(call_id).cloned() else {
            return Ok(state);
        };
        if !state.call(call_id).is_some_and(|c| c.state == domain::CallState::Requested) {
            return Ok(state);
        }
        let creds = self.credentials(&state).await?;
        let notification_url = match &request {
            CallRequest::SendInvoice(_) | CallRequest::UpdateInvoice(_) => {
                Some(self.notification_url(invoice_id).await?)
            }
            _ => None,
        };
        let wire = seqr::wire_request(&request, &creds, notification_url.as_deref());
        self.rate.acquire().await;
        let result = self.seqr.call(wire).await;
        let outcome = seqr::outcome(&request, result);
        let at = engine::now();
        let state = self
            .engine
            .execute(invoice_id, metadata, None, |_| {
                Command::RecordCallOutcome(domain::command::RecordCallOutcome { at, call_id, outcome: outcome.clone() })
            })
            .await?;
        // Poll soon: the status tells what the call changed (and resolves an unknown outcome).
        jobs::schedule(&self.pool, invoice_id.0, self.config.poll.active_interval, self.config.poll.active_interval)
            .await?;
        Ok(state)
    }

    /// Forwards SEQR's notification to the merchant's own notificationUrl, as SEQR would have: an empty POST when
    /// the invoice becomes PAID or RESERVED. It is sent after seqrd has observed the change, so a merchant that
    /// reacts with `GET /v1/invoices/{id}` sees it. Up to three attempts; failures are logged, never retried later
    /// (like SEQR, the merchant must not depend on it: polling seqrd is the contract). The URL passes the
    /// [`crate::outbound`] rules at send time, after DNS resolution; a refused URL is not retried.
    pub fn forward_notification(&self, before: &InvoiceState, after: &InvoiceState) {
        use domain::InvoiceStatus::{Paid, Reserved};
        let changed = before.status() != after.status() && matches!(after.status(), Paid | Reserved);
        let Some(url) = after.invoice().and_then(|i| i.notification_url.clone()).filter(|_| changed) else {
            return;
        };
        let service = self.clone();
        let invoice_id = after.invoice_id().map(|i| i.0);
        tokio::spawn(async move {
            for attempt in 1..=3u32 {
                match service.notify_merchant(url.as_str()).await {
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

    /// One empty POST to a merchant's notificationUrl under the configured [`crate::outbound::MerchantUrlPolicy`].
    pub async fn notify_merchant(&self, url: &str) -> Result<(), crate::outbound::OutboundError> {
        self.config.merchant_urls.post_empty(&self.http, url).await
    }

    /// The SEQR credentials of the register an invoice belongs to.
    pub async fn credentials(&self, state: &InvoiceState) -> Result<seqr_client::Credentials, ServiceError> {
        let scope = state.scope().ok_or(EngineError::Rejected(domain::Rejection::InvoiceNotFound))?;
        seqr::credentials(&self.pool, scope.tenant.as_str(), scope.terminal.as_str())
            .await?
            .ok_or_else(|| ServiceError::UnknownTerminal(scope.terminal.as_str().to_owned()))
    }

    /// Decides and appends a command of a worker; a command the domain refuses (the state moved on meanwhile,
    /// e.g. an observation resolved the call first) is logged and the current state returned.
    pub async fn execute_or_reload(
        &self,
        invoice_id: InvoiceId,
        metadata: &Metadata,
        command: Command,
    ) -> Result<InvoiceState, ServiceError> {
        match self.engine.execute(invoice_id, metadata, None, |_| command.clone()).await {
            Ok(state) => Ok(state),
            Err(EngineError::Rejected(r)) => {
                tracing::info!(invoice_id = %invoice_id, code = r.code(), "worker command refused: {r}");
                Ok(self.engine.load(invoice_id).await?.state)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The notificationUrl seqrd hands SEQR for this invoice: an unguessable token bound to it.
    pub async fn notification_url(&self, invoice_id: InvoiceId) -> Result<String, sqlx::Error> {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        let fresh = hex::encode(bytes);
        // One round trip, and no row rewritten when the invoice already has its token.
        let token: String = sqlx::query_scalar(
            "WITH new AS (
                 INSERT INTO notification_tokens (token, invoice_id) VALUES ($1, $2)
                 ON CONFLICT (invoice_id) DO NOTHING RETURNING token
             )
             SELECT token FROM new UNION ALL SELECT token FROM notification_tokens WHERE invoice_id = $2 LIMIT 1",
        )
        .bind(&fresh)
        .bind(invoice_id.0)
        .fetch_one(&self.pool)
        .await?;
        let base = self.config.public_url.as_str().trim_end_matches('/');
        Ok(format!("{base}/v1/seqr/notifications/{token}"))
    }
}
