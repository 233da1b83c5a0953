//! Transaction periods and reports: markTransactionPeriod and executeReport, which renders the reconciliation
//! reports (STD_RECON_00x) from the ledger.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use seqr_wire::{
    ErsResponse, ExecuteReportRequest, ExecuteReportResponse, MarkTransactionPeriodRequest,
    MarkTransactionPeriodResponse, Report, ResultCode,
};

use super::{LedgerEntry, SeqrState};

#[derive(Debug, Clone)]
pub(super) struct Period {
    id: String,
    reseller_id: String,
    terminal_id: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    ready_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportKind {
    Shop,
    ByTerminal,
    Details,
    ByCashier,
    TerminalSummary,
    TerminalDetails,
}

impl ReportKind {
    fn parse(id: &str) -> Option<ReportKind> {
        let id = id.trim();
        let id = id.strip_prefix("Reconciliation/").unwrap_or(id);
        let id = id.strip_suffix(".xml").unwrap_or(id);
        Some(match id {
            "Shop" | "STD_RECON_001" => ReportKind::Shop,
            "STD_RECON_002" => ReportKind::ByTerminal,
            "STD_RECON_003" => ReportKind::Details,
            "STD_RECON_004" => ReportKind::ByCashier,
            "STD_RECON_006" => ReportKind::TerminalSummary,
            "STD_RECON_007" => ReportKind::TerminalDetails,
            _ => return None,
        })
    }

    fn std_id(self) -> &'static str {
        match self {
            ReportKind::Shop => "STD_RECON_001",
            ReportKind::ByTerminal => "STD_RECON_002",
            ReportKind::Details => "STD_RECON_003",
            ReportKind::ByCashier => "STD_RECON_004",
            ReportKind::TerminalSummary => "STD_RECON_006",
            ReportKind::TerminalDetails => "STD_RECON_007",
        }
    }

    fn root(self) -> &'static str {
        match self {
            ReportKind::Shop => "ResellerTransactionSummary",
            ReportKind::ByTerminal | ReportKind::TerminalSummary => "TerminalTransactionSummary",
            ReportKind::ByCashier => "CashierTransactionSummary",
            ReportKind::Details | ReportKind::TerminalDetails => "TransactionDetails",
        }
    }

    fn per_terminal(self) -> bool {
        matches!(self, ReportKind::TerminalSummary | ReportKind::TerminalDetails)
    }
}

impl SeqrState {
    pub(super) fn mark_transaction_period(
        &mut self,
        r: MarkTransactionPeriodRequest,
        now: DateTime<Utc>,
    ) -> MarkTransactionPeriodResponse {
        let res = (|| {
            let rid = self.auth_reseller(r.context.as_ref())?;
            let terminal = r.parameters.as_ref().and_then(|p| p.get("TERMINALID")).map(|s| s.trim().to_owned());
            if let Some(t) = &terminal {
                if self.terminals.get(t).is_none_or(|t| t.seed.reseller_id != rid) {
                    return Err(ResultCode::RejectedBusinessLogic);
                }
            }
            let key = (rid.clone(), terminal.clone());
            let start = self.last_mark.get(&key).copied().unwrap_or(DateTime::<Utc>::MIN_UTC);
            self.last_mark.insert(key, now);
            let id = self.ers_id(now);
            let ready_at = now + self.cfg.report_delay;
            self.periods.insert(
                id.clone(),
                Period { id: id.clone(), reseller_id: rid, terminal_id: terminal, start, end: now, ready_at },
            );
            Ok(id)
        })();
        match res {
            Ok(id) => MarkTransactionPeriodResponse { base: ErsResponse::success(), transaction_period_id: Some(id) },
            Err(c) => MarkTransactionPeriodResponse { base: ErsResponse::new(c), transaction_period_id: None },
        }
    }

    pub(super) fn execute_report(&mut self, r: ExecuteReportRequest, now: DateTime<Utc>) -> ExecuteReportResponse {
        let res = (|| {
            let rid = self.auth_reseller(r.context.as_ref())?;
            let params = r.parameters.clone().unwrap_or_default();
            let pid = params.get("transactionPeriodId").map(str::trim).unwrap_or_default();
            let period =
                self.periods.get(pid).filter(|p| p.reseller_id == rid).ok_or(ResultCode::InvalidErsReference)?;
            let kind = ReportKind::parse(r.report_id.as_deref().unwrap_or_default())
                .ok_or(ResultCode::RejectedBusinessLogic)?;
            let asked_terminal = params.get("TERMINALID").map(|s| s.trim().to_owned());
            if let Some(t) = &asked_terminal {
                // FAQ: a terminal report is only ever ready for a period marked with that TERMINALID.
                if period.terminal_id.as_ref() != Some(t) {
                    return Err(ResultCode::ReportNotReady);
                }
            }
            if now < period.ready_at {
                return Err(ResultCode::ReportNotReady);
            }
            if kind.per_terminal() && period.terminal_id.is_none() {
                return Err(ResultCode::RejectedBusinessLogic);
            }
            Ok(self.build_report(kind, period, now))
        })();
        match res {
            Ok(report) => ExecuteReportResponse { base: ErsResponse::success(), report: Some(report) },
            Err(c) => ExecuteReportResponse { base: ErsResponse::new(c), report: None },
        }
    }

    fn build_report(&self, kind: ReportKind, period: &Period, now: DateTime<Utc>) -> Report {
        let rows: Vec<&LedgerEntry> = self
            .ledger
            .iter()
            .filter(|l| l.reseller_id == period.reseller_id && l.at > period.start && l.at <= period.end)
            .filter(|l| period.terminal_id.as_ref().is_none_or(|t| *t == l.terminal_id))
            .collect();
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let root = kind.root();
        x.push_str(&format!("<{root}>\n<Meta>\n<ResellerId>{}</ResellerId>\n", esc(&period.reseller_id)));
        if let Some(t) = &period.terminal_id {
            x.push_str(&format!("<TerminalId>{}</TerminalId>\n", esc(t)));
        }
        x.push_str(&format!(
            "<TransactionPeriodId>{}</TransactionPeriodId>\n<GeneratedAt>{}</GeneratedAt>\n</Meta>\n",
            period.id,
            now.format("%Y-%m-%d %H:%M")
        ));
        let summary = |x: &mut String, label: Option<(&str, &str)>, items: &[&LedgerEntry]| {
            let total: Decimal = items.iter().map(|l| l.amount).sum();
            x.push_str("\n<Row>\n");
            if let Some((tag, v)) = label {
                x.push_str(&format!("<{tag}>{}</{tag}>\n", esc(v)));
            }
            x.push_str(&format!(
                "<SalesCount>{}</SalesCount>\n<SalesTotal>{}</SalesTotal>\n</Row>\n",
                items.len(),
                fmt5(total)
            ));
        };
        match kind {
            ReportKind::Shop | ReportKind::TerminalSummary => summary(&mut x, None, &rows),
            ReportKind::ByTerminal | ReportKind::ByCashier => {
                let tag = if kind == ReportKind::ByTerminal { "TerminalId" } else { "CashierId" };
                let mut keys: Vec<String> = Vec::new();
                for l in &rows {
                    let k = if kind == ReportKind::ByTerminal {
                        l.terminal_id.clone()
                    } else {
                        l.cashier_id.clone().unwrap_or_default()
                    };
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                for k in keys {
                    let items: Vec<&LedgerEntry> = rows
                        .iter()
                        .copied()
                        .filter(|l| {
                            if kind == ReportKind::ByTerminal {
                                l.terminal_id == k
                            } else {
                                l.cashier_id.clone().unwrap_or_default() == k
                            }
                        })
                        .collect();
                    summary(&mut x, Some((tag, &k)), &items);
                }
            }
            ReportKind::Details | ReportKind::TerminalDetails => {
                for l in &rows {
                    x.push_str(&format!(
                        "\n<Row>\n<TerminalId>{}</TerminalId>\n<CashierId>{}</CashierId>\n<SalesAmount>{}</SalesAmount>\n<ErsReference>{}</ErsReference>\n</Row>\n",
                        esc(&l.terminal_id),
                        esc(l.cashier_id.as_deref().unwrap_or_default()),
                        fmt5(l.amount),
                        l.ers_reference
                    ));
                }
            }
        }
        x.push_str(&format!("\n</{root}>"));
        let title = match kind {
            ReportKind::Shop => String::new(),
            k => format!("{}_{}.xml", k.std_id(), period.id),
        };
        Report {
            title: Some(title),
            mime_type: Some("text/html".to_owned()),
            content: Some(x.clone().into_bytes()),
            content_string: Some(x),
        }
    }
}

fn fmt5(d: Decimal) -> String {
    let mut x = d.round_dp(5);
    x.rescale(5);
    x.to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
