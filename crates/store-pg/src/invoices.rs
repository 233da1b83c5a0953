//! The bridge to the domain (domain events in and out of the store, loading an invoice) and the `invoices`
//! projection, which maintains the `invoice_view` and `ledger` read models.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::{Event, InvoiceState, Money};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _, TypeInfo as _, ValueRef as _};
use uuid::Uuid;

use crate::error::StoreError;
use crate::event::{Checkpoint, EventScope, NewEvent, StoredEvent};
use crate::store::{EventRow, EventStore};
use crate::subscription::Projection;

impl NewEvent {
    /// A domain event ready to append: its type, current schema version and data.
    pub fn from_domain(event_id: Uuid, event: &Event) -> NewEvent {
        let event_type = event.event_type();
        NewEvent {
            event_id,
            event_type: event_type.to_owned(),
            schema_version: i32::from(Event::schema_version(event_type)),
            data: event.to_data(),
        }
    }
}

impl From<&domain::Scope> for EventScope {
    fn from(scope: &domain::Scope) -> EventScope {
        EventScope {
            tenant_id: scope.tenant.as_str().to_owned(),
            merchant_id: scope.merchant.as_str().to_owned(),
            store_id: Some(scope.store.as_str().to_owned()),
            terminal_id: Some(scope.terminal.as_str().to_owned()),
        }
    }
}

/// Decodes a stored event into a domain event, upcasting old schema versions (`domain::Event::from_stored`).
pub fn decode(stored: &StoredEvent) -> Result<Event, StoreError> {
    decode_parts(stored.position, &stored.event_type, stored.schema_version, stored.data.as_str())
}

fn decode_parts(position: i64, event_type: &str, schema_version: i32, data: &str) -> Result<Event, StoreError> {
    let error =
        |message: String| StoreError::Decode { position, event_type: event_type.to_owned(), schema_version, message };
    let version = u16::try_from(schema_version).map_err(|_| error("schema version out of range".to_owned()))?;
    Event::from_stored_json(event_type, version, data).map_err(|e| error(format!("{}: {e}", e.code())))
}

impl EventStore {
    /// Reads an invoice's stream and folds it strictly into its state. Returns the state and the stream version
    /// (the `expected_version` of the next append); a missing stream gives the default state and version 0.
    pub async fn load_invoice(&self, stream_id: Uuid) -> Result<(InvoiceState, i64), StoreError> {
        let loaded = self.load_invoice_keyed(&mut *self.connection().await?, stream_id).await?;
        Ok((loaded.state, loaded.version))
    }

    /// Reads (on `conn`) and folds an invoice's stream in one query, also telling which idempotency keys its
    /// commands had.
    pub async fn load_invoice_keyed(
        &self,
        conn: &mut PgConnection,
        stream_id: Uuid,
    ) -> Result<LoadedInvoice, StoreError> {
        LoadedInvoice::fold(crate::store::read_stream(conn, stream_id).await?)
    }

    /// [`EventStore::load_invoice_keyed`] for several invoices in one query; a missing stream gives the default.
    pub async fn load_invoices_keyed(&self, stream_ids: &[Uuid]) -> Result<HashMap<Uuid, LoadedInvoice>, StoreError> {
        let mut streams: HashMap<Uuid, Vec<StoredEvent>> = stream_ids.iter().map(|id| (*id, Vec::new())).collect();
        for event in self.read_streams(stream_ids).await? {
            streams.entry(event.stream_id).or_default().push(event);
        }
        streams.into_iter().map(|(id, events)| Ok((id, LoadedInvoice::fold(events)?))).collect()
    }
}

/// An invoice folded from its stream.
#[derive(Debug, Clone, Default)]
pub struct LoadedInvoice {
    pub state: InvoiceState,
    /// Events in the stream (the version an append must expect).
    pub version: i64,
    /// The idempotency keys of the commands stored in the stream.
    pub command_keys: std::collections::BTreeSet<String>,
}

impl LoadedInvoice {
    /// Folds one stream's events (in version order).
    fn fold(events: Vec<StoredEvent>) -> Result<LoadedInvoice, StoreError> {
        let mut state = InvoiceState::default();
        for stored in &events {
            let event = decode(stored)?;
            state.apply(&event).map_err(|e| StoreError::Fold { position: stored.position, message: e.to_string() })?;
        }
        let version = events.last().map_or(0, |e| e.version);
        let command_keys = events.into_iter().filter_map(|e| e.idempotency_key).collect();
        Ok(LoadedInvoice { state, version, command_keys })
    }

    /// Whether a command with this idempotency key is already stored.
    pub fn applied(&self, key: &str) -> bool {
        self.command_keys.contains(key)
    }
}

/// The projection that maintains `invoice_view` (one row per invoice) and `ledger` (one row per payment or
/// refund). Each batch folds the touched invoices through the domain's state from their first event (earlier
/// events of those streams are read in one query) and writes all rows with two bulk statements.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvoiceProjection;

impl InvoiceProjection {
    /// The projection's name (its checkpoint key).
    pub const NAME: &'static str = "invoices";
}

/// What the invoices projection reads of an event: where it is, and the domain event decoded from its payload
/// (the scope comes from the invoice's own events; metadata is not needed).
#[derive(Debug)]
pub struct InvoiceEvent {
    /// Global position.
    pub position: i64,
    /// Writing transaction id.
    pub tx_id: i64,
    /// Event id (the key of the ledger row it may cause).
    pub event_id: Uuid,
    /// The invoice's stream id.
    pub stream_id: Uuid,
    /// Stream version after the event.
    pub version: i64,
    /// The event, upcast to the current schema.
    pub event: Event,
}

impl EventRow for InvoiceEvent {
    const COLUMNS: &'static str = "position, tx_id, event_id, stream_id, version, event_type, schema_version, data";

    fn from_row(row: &PgRow) -> Result<InvoiceEvent, StoreError> {
        let position = row.try_get(0)?;
        let event_type: &str = row.try_get(5)?;
        let schema_version = row.try_get(6)?;
        // `data` is `json`, whose binary form is its text (validated when written): deserialized straight from
        // the received bytes, with no copy and no second validation.
        if row.try_get_raw(7)?.type_info().name() != "JSON" {
            return Err(StoreError::Decode {
                position,
                event_type: event_type.to_owned(),
                schema_version,
                message: "events.data is not of type json: apply the migrations".to_owned(),
            });
        }
        let data: &str = row.try_get_unchecked(7)?;
        Ok(InvoiceEvent {
            position,
            // xid8 travels as a binary int8 (values stay far below 2^63).
            tx_id: row.try_get_unchecked(1)?,
            event_id: row.try_get(2)?,
            stream_id: row.try_get(3)?,
            version: row.try_get(4)?,
            event: decode_parts(position, event_type, schema_version, data)?,
        })
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint { tx_id: self.tx_id, position: self.position }
    }
}

/// A prepared batch of the invoices projection: the rows to write.
pub struct InvoiceRows {
    /// Views of invoices whose first event is in this batch: no row exists yet, a plain insert.
    new_views: ViewColumns,
    /// Views of invoices seen in earlier batches: upserted.
    changed_views: ViewColumns,
    /// Money movements, one per event that caused one: each event is projected once (the checkpoint moves in the
    /// same transaction), so a plain insert.
    ledger: LedgerColumns,
}

impl Projection for InvoiceProjection {
    type Row = InvoiceEvent;
    type Batch = InvoiceRows;

    fn name(&self) -> &str {
        InvoiceProjection::NAME
    }

    async fn prepare(&self, conn: &mut PgConnection, events: Vec<InvoiceEvent>) -> Result<InvoiceRows, StoreError> {
        // Rows arrive decoded (`InvoiceEvent::from_row`, while the page is received).
        // Streams in order of first appearance; those not starting at version 1 need their earlier events.
        let mut order: Vec<Uuid> = Vec::new();
        let mut by_stream: HashMap<Uuid, Vec<usize>> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            by_stream
                .entry(e.stream_id)
                .or_insert_with(|| {
                    order.push(e.stream_id);
                    Vec::new()
                })
                .push(i);
        }
        let mut earlier_streams = Vec::new();
        let mut earlier_before = Vec::new();
        for stream_id in &order {
            let first = &events[by_stream[stream_id][0]];
            if first.version > 1 {
                earlier_streams.push(*stream_id);
                earlier_before.push(first.version);
            }
        }
        let mut earlier: HashMap<Uuid, Vec<InvoiceEvent>> = HashMap::new();
        if !earlier_streams.is_empty() {
            let sql = format!(
                "SELECT {} FROM unnest($1::uuid[], $2::int8[]) AS b(earlier_stream, before_version) \
                 JOIN events ON events.stream_id = b.earlier_stream AND events.version < b.before_version \
                 ORDER BY events.stream_id, events.version",
                InvoiceEvent::COLUMNS
            );
            let rows = sqlx::query(&sql).bind(&earlier_streams).bind(&earlier_before).fetch_all(&mut *conn).await?;
            for row in rows {
                let event = InvoiceEvent::from_row(&row)?;
                earlier.entry(event.stream_id).or_default().push(event);
            }
        }

        let mut new_views = ViewColumns::default();
        let mut changed_views = ViewColumns::default();
        let mut ledger = LedgerColumns::default();
        for stream_id in order {
            let mut fold = Fold::default();
            // An invoice whose first event is in this batch has no view row yet; any other may have one.
            let seen_before = events[by_stream[&stream_id][0]].version > 1;
            let views = if seen_before { &mut changed_views } else { &mut new_views };
            for e in earlier.remove(&stream_id).unwrap_or_default() {
                fold.apply(&e);
            }
            for &i in &by_stream[&stream_id] {
                let e = &events[i];
                if let Some(movement) = fold.apply(e) {
                    ledger.push(stream_id, e, &fold.state, movement);
                }
            }
            views.push(stream_id, &fold);
        }
        Ok(InvoiceRows { new_views, changed_views, ledger })
    }

    async fn apply(&self, conn: &mut PgConnection, rows: InvoiceRows) -> Result<(), StoreError> {
        rows.new_views.write(conn, VIEW_INSERT).await?;
        rows.changed_views.write(conn, VIEW_UPSERT).await?;
        rows.ledger.write(conn).await?;
        Ok(())
    }

    async fn reset(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("TRUNCATE invoice_view, ledger").execute(conn).await?;
        Ok(())
    }
}

/// One invoice folded so far, with what the view needs beyond the domain state.
#[derive(Default)]
struct Fold {
    state: InvoiceState,
    paid_at: Option<DateTime<Utc>>,
    version: i64,
    position: i64,
}

enum Movement {
    Payment { at: DateTime<Utc>, amount: Money, ers_reference: String },
    Refund { at: DateTime<Utc>, amount: Money, ers_reference: Option<String> },
}

impl Fold {
    /// Applies one event the way `domain::evolve` does (an event that does not fit the state is ignored) and
    /// returns the money movement it caused, if any.
    fn apply(&mut self, e: &InvoiceEvent) -> Option<Movement> {
        let (event, position) = (&e.event, e.position);
        self.version = e.version;
        self.position = position;
        let paid_before = self.state.paid_amount().is_some();
        let refunded_before = self.state.refunded_amount();
        let references_before = self.state.refund_references().len();
        if let Err(e) = self.state.apply(event) {
            tracing::warn!(position, error = %e, "invoices projection: event does not fit the invoice; ignored");
            return None;
        }
        let at = event.at();
        if !paid_before {
            if let Some(payment) = self.state.payment() {
                self.paid_at = Some(payment.payment_date.unwrap_or(at));
                return Some(Movement::Payment {
                    at,
                    amount: payment.amount,
                    ers_reference: payment.ers_reference.clone(),
                });
            }
        }
        let (Some(before), Some(after)) = (refunded_before, self.state.refunded_amount()) else {
            return None;
        };
        let delta = after.checked_sub(&before).ok().filter(|d| !d.is_zero())?;
        let references = self.state.refund_references();
        let ers_reference = if references.len() > references_before { references.last().cloned() } else { None };
        Some(Movement::Refund { at, amount: delta, ers_reference })
    }
}

macro_rules! view_insert {
    () => {
        "INSERT INTO invoice_view (invoice_id, tenant_id, merchant_id, store_id, terminal_id, status, seqr_status, \
             currency, total, reserved_amount, committed_amount, paid_amount, refunded_amount, invoice_reference, \
             qr_code, ers_reference, invoice_version, client_invoice_id, tokens, issued_at, paid_at, updated_at, \
             stream_version, last_position) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[], $14::text[], \
             $15::text[], $16::text[], $17::int4[], $18::text[], $19::jsonb[], $20::timestamptz[], \
             $21::timestamptz[], $22::timestamptz[], $23::int8[], $24::int8[])"
    };
}

/// Writes the rows of [`ViewColumns`] for invoices that have none yet.
const VIEW_INSERT: &str = view_insert!();

/// Writes the rows of [`ViewColumns`], replacing the invoices' earlier rows.
const VIEW_UPSERT: &str = concat!(
    view_insert!(),
    " ON CONFLICT (invoice_id) DO UPDATE SET tenant_id = excluded.tenant_id, merchant_id = excluded.merchant_id, \
     store_id = excluded.store_id, terminal_id = excluded.terminal_id, status = excluded.status, \
     seqr_status = excluded.seqr_status, currency = excluded.currency, total = excluded.total, \
     reserved_amount = excluded.reserved_amount, committed_amount = excluded.committed_amount, \
     paid_amount = excluded.paid_amount, refunded_amount = excluded.refunded_amount, \
     invoice_reference = excluded.invoice_reference, qr_code = excluded.qr_code, \
     ers_reference = excluded.ers_reference, invoice_version = excluded.invoice_version, \
     client_invoice_id = excluded.client_invoice_id, tokens = excluded.tokens, issued_at = excluded.issued_at, \
     paid_at = excluded.paid_at, updated_at = excluded.updated_at, stream_version = excluded.stream_version, \
     last_position = excluded.last_position"
);

#[derive(Default)]
struct ViewColumns {
    invoice_id: Vec<Uuid>,
    tenant_id: Vec<String>,
    merchant_id: Vec<String>,
    store_id: Vec<String>,
    terminal_id: Vec<String>,
    status: Vec<&'static str>,
    seqr_status: Vec<Option<&'static str>>,
    currency: Vec<String>,
    total: Vec<Decimal>,
    reserved_amount: Vec<Option<Decimal>>,
    committed_amount: Vec<Option<Decimal>>,
    paid_amount: Vec<Option<Decimal>>,
    refunded_amount: Vec<Decimal>,
    invoice_reference: Vec<Option<String>>,
    qr_code: Vec<Option<String>>,
    ers_reference: Vec<Option<String>>,
    invoice_version: Vec<i32>,
    client_invoice_id: Vec<Option<String>>,
    tokens: Vec<serde_json::Value>,
    issued_at: Vec<DateTime<Utc>>,
    paid_at: Vec<Option<DateTime<Utc>>>,
    updated_at: Vec<DateTime<Utc>>,
    stream_version: Vec<i64>,
    last_position: Vec<i64>,
}

impl ViewColumns {
    fn push(&mut self, invoice_id: Uuid, fold: &Fold) {
        let state = &fold.state;
        let (Some(scope), Some(invoice), Some(issued_at)) = (state.scope(), state.invoice(), state.issued_at()) else {
            tracing::warn!(%invoice_id, "invoices projection: stream without invoice_issued; no view row");
            return;
        };
        let currency = invoice.total.currency();
        let amount = |m: Option<Money>| m.map(|m| m.amount());
        self.invoice_id.push(invoice_id);
        self.tenant_id.push(scope.tenant.as_str().to_owned());
        self.merchant_id.push(scope.merchant.as_str().to_owned());
        self.store_id.push(scope.store.as_str().to_owned());
        self.terminal_id.push(scope.terminal.as_str().to_owned());
        self.status.push(state.status().as_str());
        self.seqr_status.push(state.seqr_status().map(|s| s.as_wire()));
        self.currency.push(currency.code().to_owned());
        self.total.push(invoice.total.amount());
        self.reserved_amount.push(amount(state.reserved_amount()));
        self.committed_amount.push(amount(state.committed_amount()));
        self.paid_amount.push(amount(state.paid_amount()));
        self.refunded_amount.push(state.refunded_amount().unwrap_or(Money::zero(currency)).amount());
        self.invoice_reference.push(state.invoice_reference().map(str::to_owned));
        self.qr_code.push(state.qr_code().map(str::to_owned));
        self.ers_reference.push(state.payment().map(|p| p.ers_reference.clone()));
        self.invoice_version.push(state.invoice_version());
        self.client_invoice_id.push(invoice.client_invoice_id.clone());
        self.tokens.push(serde_json::to_value(state.tokens()).unwrap_or(serde_json::Value::Null));
        self.issued_at.push(issued_at);
        self.paid_at.push(fold.paid_at);
        self.updated_at.push(state.last_event_at().unwrap_or(issued_at));
        self.stream_version.push(fold.version);
        self.last_position.push(fold.position);
    }

    async fn write(self, conn: &mut PgConnection, sql: &'static str) -> Result<(), StoreError> {
        if self.invoice_id.is_empty() {
            return Ok(());
        }
        sqlx::query(sql)
            .bind(&self.invoice_id)
            .bind(&self.tenant_id)
            .bind(&self.merchant_id)
            .bind(&self.store_id)
            .bind(&self.terminal_id)
            .bind(&self.status)
            .bind(&self.seqr_status)
            .bind(&self.currency)
            .bind(&self.total)
            .bind(&self.reserved_amount)
            .bind(&self.committed_amount)
            .bind(&self.paid_amount)
            .bind(&self.refunded_amount)
            .bind(&self.invoice_reference)
            .bind(&self.qr_code)
            .bind(&self.ers_reference)
            .bind(&self.invoice_version)
            .bind(&self.client_invoice_id)
            .bind(&self.tokens)
            .bind(&self.issued_at)
            .bind(&self.paid_at)
            .bind(&self.updated_at)
            .bind(&self.stream_version)
            .bind(&self.last_position)
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[derive(Default)]
struct LedgerColumns {
    event_id: Vec<Uuid>,
    invoice_id: Vec<Uuid>,
    tenant_id: Vec<String>,
    merchant_id: Vec<String>,
    store_id: Vec<String>,
    terminal_id: Vec<String>,
    business_date: Vec<NaiveDate>,
    at: Vec<DateTime<Utc>>,
    kind: Vec<&'static str>,
    amount: Vec<Decimal>,
    currency: Vec<String>,
    ers_reference: Vec<Option<String>>,
    position: Vec<i64>,
}

impl LedgerColumns {
    fn push(&mut self, invoice_id: Uuid, stored: &InvoiceEvent, state: &InvoiceState, movement: Movement) {
        let Some(scope) = state.scope() else { return };
        let (kind, at, amount, currency, ers_reference) = match movement {
            Movement::Payment { at, amount, ers_reference } => {
                ("payment", at, amount.amount(), amount.currency(), Some(ers_reference))
            }
            Movement::Refund { at, amount, ers_reference } => {
                ("refund", at, -amount.amount(), amount.currency(), ers_reference)
            }
        };
        self.event_id.push(stored.event_id);
        self.invoice_id.push(invoice_id);
        self.tenant_id.push(scope.tenant.as_str().to_owned());
        self.merchant_id.push(scope.merchant.as_str().to_owned());
        self.store_id.push(scope.store.as_str().to_owned());
        self.terminal_id.push(scope.terminal.as_str().to_owned());
        self.business_date.push(at.date_naive());
        self.at.push(at);
        self.kind.push(kind);
        self.amount.push(amount);
        self.currency.push(currency.code().to_owned());
        self.ers_reference.push(ers_reference);
        self.position.push(stored.position);
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        if self.event_id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO ledger (event_id, invoice_id, tenant_id, merchant_id, store_id, terminal_id, \
                 business_date, at, kind, amount, currency, ers_reference, position) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::date[], $8::timestamptz[], $9::text[], $10::numeric[], $11::text[], $12::text[], $13::int8[])",
        )
        .bind(&self.event_id)
        .bind(&self.invoice_id)
        .bind(&self.tenant_id)
        .bind(&self.merchant_id)
        .bind(&self.store_id)
        .bind(&self.terminal_id)
        .bind(&self.business_date)
        .bind(&self.at)
        .bind(&self.kind)
        .bind(&self.amount)
        .bind(&self.currency)
        .bind(&self.ers_reference)
        .bind(&self.position)
        .execute(conn)
        .await?;
        Ok(())
    }
}
