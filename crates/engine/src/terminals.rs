//! Registers: the SEQR credentials seqrd holds for each terminal of a tenant, and a cache of them.
//!
//! Every SEQR call needs its register's credentials, so they are cached per process. A change of a register
//! (`seqrd terminal-add`, a registration) is announced on [`store_pg::access::TERMINALS_CHANNEL`] by the statement
//! that makes it; every process's listener ([`Engine::watch_access`]) drops its cached copy, and the process
//! that made the change drops it at once. A cached entry is also dropped when SEQR refuses its credentials.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use seqr_client::Credentials;
use seqr_wire as wire;
use store_pg::access::TerminalRow;

use crate::{invoices::Step, secret::Secret, Engine, EngineError};

/// A register as the tenant names it.
#[derive(Debug, Clone)]
pub struct TerminalSpec {
    pub tenant_id: String,
    pub merchant_id: String,
    pub store_id: String,
    pub terminal_id: String,
}

/// A reseller login (RESELLERUSER), used to register terminals at SEQR.
#[derive(Debug, Clone)]
pub struct Reseller {
    pub id: String,
    pub user_id: String,
    pub password: Secret,
}

/// Why a register could not be registered or stored.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("invalid id {0:?}: 1 to 64 of A-Z a-z 0-9 _ -")]
    InvalidId(String),
    #[error("registerTerminal: {0}")]
    Seqr(#[from] seqr_client::CallError),
    #[error("registerTerminal: {0}")]
    Answer(&'static str),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The per-process cache of registers, keyed by tenant and terminal id.
#[derive(Clone, Default)]
pub(crate) struct TerminalCache {
    entries: Arc<RwLock<HashMap<(String, String), TerminalRow>>>,
}

impl TerminalCache {
    fn get(&self, tenant: &str, terminal: &str) -> Option<TerminalRow> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(&(tenant.to_owned(), terminal.to_owned())).cloned()
    }

    fn put(&self, tenant: &str, terminal: &str, row: TerminalRow) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert((tenant.to_owned(), terminal.to_owned()), row);
    }

    pub(crate) fn forget(&self, tenant: &str, terminal: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(tenant.to_owned(), terminal.to_owned()));
    }

    pub(crate) fn clear(&self) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Engine {
    /// A tenant's register (from the cache, else read in `step` and cached).
    pub(crate) async fn terminal(
        &self,
        step: &mut Step,
        tenant: &str,
        terminal: &str,
    ) -> Result<Option<TerminalRow>, EngineError> {
        if let Some(row) = self.terminals().get(tenant, terminal) {
            return Ok(Some(row));
        }
        let row = store_pg::access::terminal(step.conn().await?, tenant, terminal).await?;
        if let Some(row) = &row {
            self.terminals().put(tenant, terminal, row.clone());
        }
        Ok(row)
    }

    /// The SEQR credentials of a tenant's register.
    pub(crate) async fn credentials(&self, tenant: &str, terminal: &str) -> Result<Credentials, EngineError> {
        let row = self.terminal(&mut self.invoices().step(), tenant, terminal).await?;
        let row = row.ok_or_else(|| EngineError::UnknownTerminal(terminal.to_owned()))?;
        Ok(Credentials::terminal(row.seqr_terminal_id, row.seqr_password))
    }

    /// Stores existing SEQR credentials for a register.
    pub async fn add_terminal(
        &self,
        spec: &TerminalSpec,
        seqr_terminal_id: &str,
        password: &Secret,
    ) -> Result<(), TerminalError> {
        for id in [&spec.tenant_id, &spec.merchant_id, &spec.store_id, &spec.terminal_id] {
            if domain::TerminalId::parse(id).is_err() {
                return Err(TerminalError::InvalidId(id.clone()));
            }
        }
        let row = TerminalRow {
            merchant_id: spec.merchant_id.clone(),
            store_id: spec.store_id.clone(),
            seqr_terminal_id: seqr_terminal_id.to_owned(),
            seqr_password: password.expose().to_owned(),
        };
        store_pg::access::upsert_terminal(self.pool(), &spec.tenant_id, &spec.terminal_id, &row)
            .await
            .map_err(EngineError::from)?;
        self.terminals().forget(&spec.tenant_id, &spec.terminal_id);
        Ok(())
    }

    /// Registers the register at SEQR (registerTerminal, as the reseller) with a fresh password, and stores the
    /// credentials. Returns SEQR's terminal id.
    pub async fn register_terminal(&self, reseller: &Reseller, spec: &TerminalSpec) -> Result<String, TerminalError> {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        let password = Secret::new(hex::encode(bytes));
        let reseller = Credentials::reseller(&reseller.id, &reseller.user_id, reseller.password.expose());
        let request = wire::Request::RegisterTerminal(wire::RegisterTerminalRequest {
            context: Some(reseller.context(crate::seqr::CLIENT_ID, None)),
            external_terminal_id: Some(format!("{}-{}", spec.tenant_id, spec.terminal_id)),
            password: Some(password.expose().to_owned()),
            name: Some(spec.terminal_id.clone()),
        });
        let terminal_id = match self.call_seqr(request, None).await? {
            wire::Response::RegisterTerminal(r) => {
                r.terminal_id.ok_or(TerminalError::Answer("registerTerminal returned no terminalId"))?
            }
            _ => return Err(TerminalError::Answer("unexpected answer to registerTerminal")),
        };
        self.add_terminal(spec, &terminal_id, &password).await?;
        Ok(terminal_id)
    }
}

impl Engine {
    /// A change announced on [`store_pg::access::TERMINALS_CHANNEL`] (payload `tenant:terminal`).
    pub(crate) fn terminal_changed(&self, payload: &str) {
        match payload.split_once(':') {
            Some((tenant, terminal)) => self.terminals().forget(tenant, terminal),
            None => self.terminals().clear(),
        }
    }
}
