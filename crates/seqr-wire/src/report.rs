//! The content of SEQR's reconciliation reports (executeReport's `report`, PROTOCOL.md §11): an XML document whose
//! root names the report's shape (`TransactionDetails`, `ResellerTransactionSummary`, `TerminalTransactionSummary`,
//! `CashierTransactionSummary`), with a `Meta` element (ResellerId, TerminalId, TransactionPeriodId, GeneratedAt
//! `yyyy-MM-dd HH:mm`) and `Row`s: a detail row is one transaction (TerminalId, CashierId, SalesAmount such as
//! `93.31000`, ErsReference); a summary row counts and totals (SalesCount, SalesTotal, optionally per TerminalId
//! or CashierId).
//!
//! Pure and bounded like the SOAP codec (the same [`Limits`], no DTD, no entities beyond XML's five): the report
//! arrives from SEQR as the text of `contentString`, or as base64 `content` when the string is absent, sometimes
//! wrapped in CDATA inside it. Amounts are exact decimals; an element the parser does not know is kept by name in
//! the row's `other` (SEQR may add columns), an unknown root is an error (the matcher must not guess at a shape).

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

use crate::{
    types::Report,
    xml::{parse_document, Node},
    Limits, WireError,
};

/// The shape of a report, from its root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportShape {
    /// `TransactionDetails` (STD_RECON_003, STD_RECON_007): one row per transaction.
    TransactionDetails,
    /// `ResellerTransactionSummary` (STD_RECON_001): the shop's count and total.
    ResellerSummary,
    /// `TerminalTransactionSummary` (STD_RECON_002 by terminal, STD_RECON_006 one terminal).
    TerminalSummary,
    /// `CashierTransactionSummary` (STD_RECON_004): per cashier.
    CashierSummary,
}

impl ReportShape {
    /// The root element's name.
    pub fn root(self) -> &'static str {
        match self {
            ReportShape::TransactionDetails => "TransactionDetails",
            ReportShape::ResellerSummary => "ResellerTransactionSummary",
            ReportShape::TerminalSummary => "TerminalTransactionSummary",
            ReportShape::CashierSummary => "CashierTransactionSummary",
        }
    }

    fn of_root(name: &str) -> Option<ReportShape> {
        [
            ReportShape::TransactionDetails,
            ReportShape::ResellerSummary,
            ReportShape::TerminalSummary,
            ReportShape::CashierSummary,
        ]
        .into_iter()
        .find(|s| s.root() == name)
    }
}

/// A report's `Meta`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportMeta {
    pub reseller_id: Option<String>,
    /// Present in a terminal report (a period marked with `TERMINALID`).
    pub terminal_id: Option<String>,
    pub transaction_period_id: Option<String>,
    /// When SEQR generated it (`yyyy-MM-dd HH:mm`, SEQR's clock; no zone is given).
    pub generated_at: Option<NaiveDateTime>,
}

/// One transaction of a details report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailRow {
    pub terminal_id: String,
    pub cashier_id: Option<String>,
    /// The amount as SEQR reports it (a refund's sign is SEQR's: kept as given).
    pub amount: Decimal,
    /// The transaction's ERS reference (a payment's, or a refund's own).
    pub ers_reference: String,
    /// Columns this parser does not know, by element name, with their text.
    pub other: Vec<(String, String)>,
}

/// One row of a summary report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The terminal of a by-terminal row.
    pub terminal_id: Option<String>,
    /// The cashier of a by-cashier row.
    pub cashier_id: Option<String>,
    pub count: u64,
    pub total: Decimal,
    /// Columns this parser does not know, by element name, with their text.
    pub other: Vec<(String, String)>,
}

/// The rows of a report, by shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRows {
    Details(Vec<DetailRow>),
    Summary(Vec<SummaryRow>),
}

/// A parsed reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconReport {
    pub shape: ReportShape,
    pub meta: ReportMeta,
    pub rows: ReportRows,
}

/// The XML text of an executeReport answer's report: `contentString` when present, else `content` as UTF-8.
pub fn report_text(report: &Report) -> Result<String, WireError> {
    if let Some(text) = report.content_string.as_deref().filter(|s| !s.trim().is_empty()) {
        return Ok(text.to_owned());
    }
    let bytes = report.content.as_deref().ok_or_else(|| WireError::MissingElement {
        element: "contentString".to_owned(),
        parent: "report".to_owned(),
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|e| WireError::Malformed(format!("report content is not UTF-8: {e}")))
}

/// Parses a report's XML text (see the module docs) within `limits`.
pub fn parse_report(text: &str, limits: &Limits) -> Result<ReconReport, WireError> {
    let mut root = parse_document(text.as_bytes(), limits)?;
    // The examples wrap the document in CDATA inside `contentString`: the reader sees a text-only root then. It is
    // unwrapped once, never again: each unwrapping reads the whole text anew, so a document wrapped in itself (with
    // one more level of escaping each time) would cost time and memory quadratic in its size.
    if root.children.is_empty() && root.text.trim_start().starts_with('<') {
        let inner = std::mem::take(&mut root.text);
        drop(root);
        let root = parse_document(inner.trim().as_bytes(), limits)?;
        return report_of(&root);
    }
    report_of(&root)
}

/// The report whose root element is `root`.
fn report_of(root: &Node) -> Result<ReconReport, WireError> {
    let shape = ReportShape::of_root(&root.name).ok_or_else(|| WireError::UnexpectedElement {
        expected: "a report root (TransactionDetails, ...TransactionSummary)".to_owned(),
        found: root.qualified(),
    })?;
    let mut meta = ReportMeta::default();
    let mut details = Vec::new();
    let mut summary = Vec::new();
    for child in root.elements() {
        match child.name.as_str() {
            "Meta" => meta = parse_meta(child)?,
            "Row" if shape == ReportShape::TransactionDetails => details.push(parse_detail(child)?),
            "Row" => summary.push(parse_summary(child)?),
            _ => {}
        }
    }
    let rows = match shape {
        ReportShape::TransactionDetails => ReportRows::Details(details),
        _ => ReportRows::Summary(summary),
    };
    Ok(ReconReport { shape, meta, rows })
}

fn text(node: &Node) -> Option<String> {
    let t = node.text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn invalid(element: &str, value: &str, reason: &str) -> WireError {
    WireError::InvalidValue {
        element: element.to_owned(),
        value: value.chars().take(64).collect(),
        reason: reason.to_owned(),
    }
}

fn missing(element: &str, parent: &str) -> WireError {
    WireError::MissingElement { element: element.to_owned(), parent: parent.to_owned() }
}

fn decimal(node: &Node) -> Result<Decimal, WireError> {
    let t = node.text.trim();
    t.parse::<Decimal>().map_err(|_| invalid(&node.name, t, "not a decimal"))
}

fn parse_meta(node: &Node) -> Result<ReportMeta, WireError> {
    let mut meta = ReportMeta::default();
    for child in node.elements() {
        match child.name.as_str() {
            "ResellerId" => meta.reseller_id = text(child),
            "TerminalId" => meta.terminal_id = text(child),
            "TransactionPeriodId" => meta.transaction_period_id = text(child),
            "GeneratedAt" => {
                meta.generated_at = match text(child) {
                    None => None,
                    Some(t) => Some(
                        NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M")
                            .or_else(|_| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S"))
                            .map_err(|_| invalid("GeneratedAt", &t, "not yyyy-MM-dd HH:mm"))?,
                    ),
                }
            }
            _ => {}
        }
    }
    Ok(meta)
}

fn parse_detail(node: &Node) -> Result<DetailRow, WireError> {
    let (mut terminal, mut cashier, mut amount, mut ers, mut other) = (None, None, None, None, Vec::new());
    for child in node.elements() {
        match child.name.as_str() {
            "TerminalId" => terminal = text(child),
            "CashierId" => cashier = text(child),
            "SalesAmount" | "Amount" => amount = Some(decimal(child)?),
            "ErsReference" => ers = text(child),
            name => other.push((name.to_owned(), child.text.trim().to_owned())),
        }
    }
    Ok(DetailRow {
        terminal_id: terminal.ok_or_else(|| missing("TerminalId", "Row"))?,
        cashier_id: cashier,
        amount: amount.ok_or_else(|| missing("SalesAmount", "Row"))?,
        ers_reference: ers.ok_or_else(|| missing("ErsReference", "Row"))?,
        other,
    })
}

fn parse_summary(node: &Node) -> Result<SummaryRow, WireError> {
    let (mut terminal, mut cashier, mut count, mut total, mut other) = (None, None, None, None, Vec::new());
    for child in node.elements() {
        match child.name.as_str() {
            "TerminalId" => terminal = text(child),
            "CashierId" => cashier = Some(child.text.trim().to_owned()),
            "SalesCount" => {
                let t = child.text.trim();
                count = Some(t.parse::<u64>().map_err(|_| invalid("SalesCount", t, "not a count"))?);
            }
            "SalesTotal" => total = Some(decimal(child)?),
            name => other.push((name.to_owned(), child.text.trim().to_owned())),
        }
    }
    Ok(SummaryRow {
        terminal_id: terminal,
        cashier_id: cashier,
        count: count.ok_or_else(|| missing("SalesCount", "Row"))?,
        total: total.ok_or_else(|| missing("SalesTotal", "Row"))?,
        other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn parse(text: &str) -> Result<ReconReport, WireError> {
        parse_report(text, &Limits::DEFAULT)
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// A details report as PROTOCOL.md §11 describes it, wrapped in CDATA as the examples are.
    const DETAILS: &str = "<![CDATA[<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<TransactionDetails>
<Meta>
<ResellerId>reseller1</ResellerId>
<TransactionPeriodId>2012071711291546101000028</TransactionPeriodId>
<GeneratedAt>2012-07-17 11:29</GeneratedAt>
</Meta>
<Row>
<TerminalId>8609bf533abf4a20816e8bfe76639521</TerminalId>
<CashierId>Anna</CashierId>
<SalesAmount>93.31000</SalesAmount>
<ErsReference>2012071711291546101000027</ErsReference>
</Row>
<Row>
<TerminalId>8609bf533abf4a20816e8bfe76639521</TerminalId>
<CashierId></CashierId>
<SalesAmount>-10.00000</SalesAmount>
<ErsReference>2012071711291546101000029</ErsReference>
<Channel>POS</Channel>
</Row>
</TransactionDetails>]]>";

    #[test]
    fn a_details_report_gives_one_row_per_transaction_with_exact_amounts() {
        // The CDATA form arrives as the text of contentString; parsed on its own it is a text-only document.
        let wrapped = format!("<contentString>{DETAILS}</contentString>");
        let report = parse(&wrapped).unwrap();
        assert_eq!(report.shape, ReportShape::TransactionDetails);
        assert_eq!(report.meta.reseller_id.as_deref(), Some("reseller1"));
        assert_eq!(report.meta.transaction_period_id.as_deref(), Some("2012071711291546101000028"));
        assert_eq!(report.meta.generated_at.unwrap().to_string(), "2012-07-17 11:29:00");
        let ReportRows::Details(rows) = &report.rows else { panic!("details expected: {report:?}") };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cashier_id.as_deref(), Some("Anna"));
        assert_eq!(rows[0].amount, dec("93.31"));
        assert_eq!(rows[0].ers_reference, "2012071711291546101000027");
        assert_eq!((rows[1].cashier_id.as_deref(), rows[1].amount), (None, dec("-10")));
        assert_eq!(rows[1].other, vec![("Channel".to_owned(), "POS".to_owned())]);
    }

    #[test]
    fn summary_reports_count_and_total_per_group() {
        let text = "<TerminalTransactionSummary><Meta><ResellerId>r</ResellerId><TerminalId>t1</TerminalId>\
                    <TransactionPeriodId>p1</TransactionPeriodId><GeneratedAt>2026-12-04 10:00</GeneratedAt></Meta>\
                    <Row><TerminalId>t1</TerminalId><SalesCount>3</SalesCount><SalesTotal>150.50000</SalesTotal></Row>\
                    </TerminalTransactionSummary>";
        let report = parse(text).unwrap();
        assert_eq!((report.shape, report.meta.terminal_id.as_deref()), (ReportShape::TerminalSummary, Some("t1")));
        let ReportRows::Summary(rows) = report.rows else { panic!() };
        assert_eq!((rows[0].terminal_id.as_deref(), rows[0].count, rows[0].total), (Some("t1"), 3, dec("150.5")));
        let shop = parse(
            "<ResellerTransactionSummary><Meta/><Row><SalesCount>0</SalesCount><SalesTotal>0.00000</SalesTotal>\
             </Row></ResellerTransactionSummary>",
        )
        .unwrap();
        assert_eq!(shop.shape, ReportShape::ResellerSummary);
        let cashiers = parse(
            "<CashierTransactionSummary><Row><CashierId></CashierId><SalesCount>1</SalesCount>\
             <SalesTotal>1.00000</SalesTotal></Row></CashierTransactionSummary>",
        )
        .unwrap();
        let ReportRows::Summary(rows) = cashiers.rows else { panic!() };
        assert_eq!(rows[0].cashier_id.as_deref(), Some(""), "the row of transactions without a cashier");
    }

    #[test]
    fn a_report_that_does_not_fit_is_a_typed_error() {
        for (text, code) in [
            ("<Unknown><Row/></Unknown>", "unexpected_element"),
            ("<TransactionDetails><Row><TerminalId>t</TerminalId><ErsReference>e</ErsReference></Row></TransactionDetails>", "missing_element"),
            ("<TransactionDetails><Row><TerminalId>t</TerminalId><SalesAmount>1,5</SalesAmount><ErsReference>e</ErsReference></Row></TransactionDetails>", "invalid_value"),
            ("<TerminalTransactionSummary><Row><SalesCount>-1</SalesCount><SalesTotal>1</SalesTotal></Row></TerminalTransactionSummary>", "invalid_value"),
            ("<TransactionDetails><Meta><GeneratedAt>yesterday</GeneratedAt></Meta></TransactionDetails>", "invalid_value"),
            ("<TransactionDetails>", "malformed_xml"),
            ("<!DOCTYPE x [<!ENTITY a 'b'>]><TransactionDetails/>", "doctype_forbidden"),
            ("<![CDATA[<![CDATA[<TransactionDetails/>]]>", "malformed_xml"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.code(), code, "{text}: {e}");
        }
        let tiny = Limits { max_bytes: 16, ..Limits::DEFAULT };
        assert_eq!(parse_report(DETAILS, &tiny).unwrap_err().code(), "too_large");
    }

    #[test]
    fn the_text_comes_from_content_string_else_from_content() {
        let report = |content_string: Option<&str>, content: Option<&[u8]>| Report {
            title: None,
            mime_type: Some("text/html".to_owned()),
            content: content.map(<[u8]>::to_vec),
            content_string: content_string.map(str::to_owned),
        };
        assert_eq!(report_text(&report(Some("<a/>"), Some(b"<b/>"))).unwrap(), "<a/>");
        assert_eq!(report_text(&report(Some(" "), Some(b"<b/>"))).unwrap(), "<b/>");
        assert_eq!(report_text(&report(None, None)).unwrap_err().code(), "missing_element");
        assert_eq!(report_text(&report(None, Some(&[0xff]))).unwrap_err().code(), "malformed_xml");
    }
}
