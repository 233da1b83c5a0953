//! Terminals and the principals that call: seeded and registered terminals, registerTerminal,
//! unregisterTerminal and assignSeqrId, and the credential checks of terminals (TERMINALID) and reseller users
//! (RESELLERUSER).

use chrono::{DateTime, Utc};
use seqr_wire::{
    AssignSeqrIdRequest, ClientContext, ErsResponse, InvoiceStatus, RegisterTerminalRequest, RegisterTerminalResponse,
    ResultCode, UnregisterTerminalRequest,
};

use super::{Reseller, ResellerSeed, SeqrState, Terminal, TerminalSeed};

impl SeqrState {
    /// Adds (or replaces) a terminal, e.g. from the control API. Its currency is its reseller's.
    pub fn add_terminal(&mut self, seed: TerminalSeed) {
        let currency = self
            .resellers
            .get(&seed.reseller_id)
            .map(|r| r.seed.currency.clone())
            .unwrap_or_else(|| self.cfg.default_currency.clone());
        self.terminals
            .insert(seed.id.clone(), Terminal { seed, currency, external_id: None, seqr_id: None, active: true });
    }

    /// Adds (or replaces) a reseller.
    pub fn add_reseller(&mut self, seed: ResellerSeed) {
        self.resellers.insert(seed.id.clone(), Reseller { seed });
    }

    /// Sets whether a terminal may refund. Returns false for an unknown terminal.
    pub fn set_refunds_allowed(&mut self, terminal_id: &str, allowed: bool) -> bool {
        match self.terminals.get_mut(terminal_id) {
            Some(t) => {
                t.seed.refunds_allowed = allowed;
                true
            }
            None => false,
        }
    }

    /// The terminal ids (active ones), sorted.
    pub fn terminal_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.terminals.values().filter(|t| t.active).map(|t| t.seed.id.clone()).collect();
        v.sort();
        v
    }

    // ----- authentication -----

    pub(super) fn auth_terminal(&self, ctx: Option<&ClientContext>) -> Result<String, ResultCode> {
        let ctx = ctx.ok_or(ResultCode::InvalidInitiatorPrincipalId)?;
        let p = ctx.initiator_principal_id.as_ref().ok_or(ResultCode::InvalidInitiatorPrincipalId)?;
        if p.principal_type.as_deref().map(str::trim) != Some("TERMINALID") {
            return Err(ResultCode::InvalidInitiatorPrincipalId);
        }
        let id = p.id.as_deref().map(str::trim).unwrap_or_default();
        let t = self.terminals.get(id).filter(|t| t.active).ok_or(ResultCode::InvalidInitiatorPrincipalId)?;
        if t.seed.password.chars().count() < 4 {
            return Err(ResultCode::AccessDenied);
        }
        if ctx.password.as_deref() != Some(t.seed.password.as_str()) {
            return Err(ResultCode::AuthenticationFailed);
        }
        Ok(t.seed.id.clone())
    }

    pub(super) fn auth_reseller(&self, ctx: Option<&ClientContext>) -> Result<String, ResultCode> {
        let ctx = ctx.ok_or(ResultCode::InitiatorPrincipalNotFound)?;
        let p = ctx.initiator_principal_id.as_ref().ok_or(ResultCode::InitiatorPrincipalNotFound)?;
        if p.principal_type.as_deref().map(str::trim) != Some("RESELLERUSER") {
            return Err(ResultCode::InvalidInitiatorPrincipalId);
        }
        let id = p.id.as_deref().map(str::trim).unwrap_or_default();
        let r = self.resellers.get(id).ok_or(ResultCode::InitiatorPrincipalNotFound)?;
        if p.user_id.as_deref().map(str::trim) != Some(r.seed.user_id.as_str()) {
            return Err(ResultCode::InitiatorPrincipalNotFound);
        }
        if ctx.password.as_deref() != Some(r.seed.password.as_str()) {
            return Err(ResultCode::AuthenticationFailed);
        }
        Ok(r.seed.id.clone())
    }

    // ----- SOAP operations -----

    pub(super) fn register_terminal(
        &mut self,
        r: RegisterTerminalRequest,
        _now: DateTime<Utc>,
    ) -> RegisterTerminalResponse {
        let res = (|| {
            let rid = self.auth_reseller(r.context.as_ref())?;
            let password = r.password.clone().filter(|p| !p.is_empty()).ok_or(ResultCode::InvalidNewPassword)?;
            let ext = r.external_terminal_id.clone();
            if ext.is_some()
                && self.terminals.values().any(|t| t.active && t.seed.reseller_id == rid && t.external_id == ext)
            {
                return Err(ResultCode::RegistrationPrincipalAlreadyExists);
            }
            let id = self.hex_id();
            let seed = TerminalSeed {
                id: id.clone(),
                password,
                reseller_id: rid,
                name: r.name.clone().unwrap_or_else(|| ext.clone().unwrap_or_default()),
                single_invoice: true,
                refunds_allowed: self.cfg.refunds_allowed_default,
            };
            self.add_terminal(seed);
            if let Some(t) = self.terminals.get_mut(&id) {
                t.external_id = ext;
            }
            Ok(id)
        })();
        match res {
            Ok(id) => RegisterTerminalResponse { base: ErsResponse::success(), terminal_id: Some(id) },
            Err(c) => RegisterTerminalResponse { base: ErsResponse::new(c), terminal_id: None },
        }
    }

    pub(super) fn unregister_terminal(&mut self, r: UnregisterTerminalRequest) -> ErsResponse {
        let tid = match self.auth_terminal(r.context.as_ref()) {
            Ok(t) => t,
            Err(c) => return ErsResponse::new(c),
        };
        for inv in self.invoices.values_mut() {
            if inv.terminal_id == tid && inv.is_open() && !inv.paying {
                inv.bump(InvoiceStatus::Canceled);
            }
        }
        if let Some(t) = self.terminals.get_mut(&tid) {
            t.active = false;
            if let Some(s) = t.seqr_id.take() {
                self.seqr_ids.remove(&s);
            }
        }
        ErsResponse::success()
    }

    pub(super) fn assign_seqr_id(&mut self, r: AssignSeqrIdRequest) -> ErsResponse {
        let res = (|| {
            let tid = self.auth_terminal(r.context.as_ref())?;
            let sid = r.seqr_id.as_deref().map(str::trim).unwrap_or_default().to_owned();
            if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ResultCode::InvalidSeqrId);
            }
            match self.seqr_ids.get(&sid) {
                Some(owner) if *owner != tid => return Err(ResultCode::InvalidSeqrId),
                _ => {}
            }
            if let Some(t) = self.terminals.get_mut(&tid) {
                if let Some(old) = t.seqr_id.replace(sid.clone()) {
                    self.seqr_ids.remove(&old);
                }
            }
            self.seqr_ids.insert(sid, tid);
            Ok(())
        })();
        match res {
            Ok(()) => ErsResponse::success(),
            Err(c) => ErsResponse::new(c),
        }
    }
}
