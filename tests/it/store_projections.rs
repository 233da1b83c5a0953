//! The `invoices` projection against real Postgres: folding domain events into `invoice_view` and `ledger`,
//! rebuild equality, atomic batches, the gap case through a subscription, and LISTEN/NOTIFY wake-ups.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use domain::fixtures::{self, Story};
use domain::{Currency, Event, InvoiceId, Money, Scope};
use serde_json::json;
use sqlx::PgPool;
use store_pg::{
    AppendOutcome, AppendRequest, Checkpoint, EventScope, EventStore, InvoiceProjection, Metadata, NewEvent,
    StoreError, Subscription, SubscriptionConfig,
};
use uuid::Uuid;

fn scope(terminal: &str) -> Scope {
    Scope {
        tenant: "tenant-1".parse().unwrap(),
        merchant: "merchant-1".parse().unwrap(),
        store: "store-1".parse().unwrap(),
        terminal: terminal.parse().unwrap(),
    }
}

fn sek(amount: &str) -> Money {
    Money::parse(amount, Currency::SEK).unwrap()
}

/// Paid, then 30.00 refunded.
fn paid_and_refunded() -> Story {
    Story::PaidAndRefunded { refund: sek("30.00") }
}

/// Reserved, then 50.00 committed and paid.
fn reserved_committed_paid() -> Story {
    Story::ReservedCommittedPaid { commit: sek("50.00") }
}

/// The commands of invoice `n`'s story on `terminal`, for a total of (100 + n).50 SEK.
fn story(kind: Story, n: usize, terminal: &str, t0: DateTime<Utc>) -> Vec<Vec<Event>> {
    let total = sek(&format!("{}.50", 100 + n));
    fixtures::story(kind, n, InvoiceId(Uuid::now_v7()), scope(terminal), total, t0)
}

fn stream_of(commands: &[Vec<Event>]) -> Uuid {
    match &commands[0][0] {
        Event::InvoiceIssued(e) => e.invoice_id.0,
        other => panic!("story starts with {other:?}"),
    }
}

/// Appends the commands of a story in order.
async fn append_story(store: &EventStore, commands: &[Vec<Event>]) -> anyhow::Result<Checkpoint> {
    let stream_id = stream_of(commands);
    let Event::InvoiceIssued(issued) = &commands[0][0] else { anyhow::bail!("no issue event") };
    let mut version = 0;
    let mut last = Checkpoint::START;
    for events in commands {
        let outcome = store
            .append(AppendRequest {
                stream_id,
                expected_version: version,
                idempotency_key: None,
                scope: EventScope::from(&issued.scope),
                metadata: Metadata { correlation_id: stream_id, causation_id: None, actor: "test".into() },
                events: events.iter().map(|e| NewEvent::from_domain(Uuid::now_v7(), e)).collect(),
            })
            .await?;
        let AppendOutcome::Appended(stored) = outcome else { anyhow::bail!("not appended") };
        version = stored.last().map_or(version, |e| e.version);
        last = stored.last().map_or(last, |e| e.checkpoint());
    }
    Ok(last)
}

/// Appends several stories with their commands interleaved, as concurrent invoices would be.
async fn append_interleaved(store: &EventStore, stories: &[Vec<Vec<Event>>]) -> anyhow::Result<Checkpoint> {
    let mut versions = vec![0i64; stories.len()];
    let mut last = Checkpoint::START;
    let longest = stories.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for (i, commands) in stories.iter().enumerate() {
            let Some(events) = commands.get(step) else { continue };
            let Event::InvoiceIssued(issued) = &commands[0][0] else { anyhow::bail!("no issue event") };
            let outcome = store
                .append(AppendRequest {
                    stream_id: stream_of(commands),
                    expected_version: versions[i],
                    idempotency_key: Some(format!("step-{step}")),
                    scope: EventScope::from(&issued.scope),
                    metadata: Metadata { correlation_id: Uuid::now_v7(), causation_id: None, actor: "test".into() },
                    events: events.iter().map(|e| NewEvent::from_domain(Uuid::now_v7(), e)).collect(),
                })
                .await?;
            versions[i] = outcome.version();
            last = last.max(outcome.events().last().map_or(last, |e| e.checkpoint()));
        }
    }
    Ok(last)
}

fn subscription(store: &EventStore, batch_size: i64) -> Subscription<InvoiceProjection> {
    Subscription::new(store.clone(), InvoiceProjection, SubscriptionConfig::new(batch_size, Duration::from_secs(3600)))
}

/// Every read-model row as JSON text, in a stable order.
async fn snapshot(pool: &PgPool) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let views = sqlx::query_scalar("SELECT row_to_json(v)::text FROM invoice_view v ORDER BY invoice_id")
        .fetch_all(pool)
        .await?;
    let ledger =
        sqlx::query_scalar("SELECT row_to_json(l)::text FROM ledger l ORDER BY event_id").fetch_all(pool).await?;
    Ok((views, ledger))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 23, 30, 0).unwrap()
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn invoice_view_and_ledger_follow_the_events(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let paid = story(paid_and_refunded(), 1, "till-1", t0());
    let reserved = story(reserved_committed_paid(), 2, "till-2", t0());
    let canceled = story(Story::Canceled, 3, "till-1", t0());
    let head = append_interleaved(&store, &[paid.clone(), reserved.clone(), canceled.clone()]).await?;

    let sub = subscription(&store, 1000);
    let processed = sub.catch_up_to(head).await?;
    assert_eq!(processed.events, 7 + 8 + 6);
    assert_eq!(sub.checkpoint().await?, head);

    type View = (String, Option<String>, String, rust_decimal::Decimal, Option<rust_decimal::Decimal>);
    let view = |id: Uuid| {
        sqlx::query_as::<_, View>(
            "SELECT status, seqr_status, currency, refunded_amount, paid_amount FROM invoice_view WHERE invoice_id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
    };
    let dec = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    assert_eq!(
        view(stream_of(&paid)).await?,
        ("paid".into(), Some("PAID".into()), "SEK".into(), dec("30.00"), Some(dec("101.50")))
    );
    assert_eq!(
        view(stream_of(&reserved)).await?,
        ("paid".into(), Some("PAID".into()), "SEK".into(), dec("0.00"), Some(dec("50.00")))
    );
    assert_eq!(
        view(stream_of(&canceled)).await?,
        ("canceled".into(), Some("ISSUED".into()), "SEK".into(), dec("0.00"), None)
    );

    let (reference, qr, ers, version, paid_at, terminal, stream_version): (
        Option<String>,
        Option<String>,
        Option<String>,
        i32,
        Option<DateTime<Utc>>,
        String,
        i64,
    ) = sqlx::query_as(
        "SELECT invoice_reference, qr_code, ers_reference, invoice_version, paid_at, terminal_id, stream_version \
         FROM invoice_view WHERE invoice_id = $1",
    )
    .bind(stream_of(&paid))
    .fetch_one(&pool)
    .await?;
    assert_eq!(reference.as_deref(), Some("R000001"));
    assert_eq!(qr.as_deref(), Some("HTTP://SEQR.SE/RR000001"));
    assert_eq!(ers.as_deref(), Some("ERS000001"));
    assert_eq!((version, terminal.as_str(), stream_version), (2, "till-1", 7));
    assert_eq!(paid_at, Some(t0() + chrono::Duration::seconds(19)));

    // The ledger: payments positive, refunds negative, by terminal and UTC business date.
    let ledger: Vec<(String, String, chrono::NaiveDate, rust_decimal::Decimal, Option<String>)> =
        sqlx::query_as("SELECT terminal_id, kind, business_date, amount, ers_reference FROM ledger ORDER BY position")
            .fetch_all(&pool)
            .await?;
    let day = t0().date_naive();
    let next_day = day.succ_opt().unwrap();
    assert_eq!(
        ledger,
        [
            ("till-1".into(), "payment".into(), day, dec("101.50"), Some("ERS000001".into())),
            ("till-1".into(), "refund".into(), next_day, dec("-30.00"), Some("REF000001".into())),
            ("till-2".into(), "payment".into(), day, dec("50.00"), Some("ERS000002".into())),
        ]
    );
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn rebuilding_from_the_first_event_yields_identical_rows(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let kinds = [paid_and_refunded(), Story::Canceled, reserved_committed_paid()];
    let stories: Vec<_> = (0..30).map(|n| story(kinds[n % 3], n, &format!("till-{}", n % 4), t0())).collect();
    let head = append_interleaved(&store, &stories).await?;

    // Small batches: most invoices span several batches, so earlier events are re-read per batch.
    let small = subscription(&store, 7);
    small.catch_up_to(head).await?;
    let first = snapshot(&pool).await?;
    assert_eq!(first.0.len(), 30);
    assert_eq!(first.1.len(), 20 + 10, "20 payments and 10 refunds");

    let rebuilt = small.rebuild().await?;
    assert_eq!(rebuilt.checkpoint, head);
    assert_eq!(snapshot(&pool).await?, first, "rebuild with the same batches");

    // Another batch size folds to the same rows too.
    let large =
        Subscription::new(store.clone(), InvoiceProjection, SubscriptionConfig::new(10_000, Duration::from_secs(3600)));
    large.rebuild().await?;
    assert_eq!(snapshot(&pool).await?, first, "rebuild in one batch");
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_failing_batch_leaves_read_model_and_checkpoint_unchanged(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let sub = subscription(&store, 1000);
    let good = story(paid_and_refunded(), 1, "till-1", t0());
    let head = append_story(&store, &good).await?;
    sub.catch_up_to(head).await?;
    let before = snapshot(&pool).await?;
    let checkpoint = sub.checkpoint().await?;
    assert_eq!(before.0.len(), 1);

    // A second invoice's first command: two good events and one this code cannot read, in one transaction (so
    // in one batch whatever the commit horizon of other sessions).
    let second = story(Story::Canceled, 2, "till-1", t0());
    let mut events: Vec<NewEvent> = second[0].iter().map(|e| NewEvent::from_domain(Uuid::now_v7(), e)).collect();
    events.push(NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "call_succeeded".into(),
        schema_version: 1,
        data: json!({ "at": "not a time" }),
    });
    store
        .append(AppendRequest {
            stream_id: stream_of(&second),
            expected_version: 0,
            idempotency_key: None,
            scope: EventScope::from(&scope("till-1")),
            metadata: Metadata { correlation_id: Uuid::now_v7(), causation_id: None, actor: "test".into() },
            events,
        })
        .await?;

    let failed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match sub.run_once().await {
                Ok(p) if p.events == 0 => tokio::task::yield_now().await,
                other => return other,
            }
        }
    })
    .await?;
    match &failed {
        Err(e @ StoreError::Decode { event_type, .. }) if event_type == "call_succeeded" => {
            assert_eq!(e.code(), "store.decode")
        }
        other => anyhow::bail!("expected a decode error, got {other:?}"),
    }
    assert_eq!(snapshot(&pool).await?, before, "the good events of the failed batch were not applied");
    assert_eq!(sub.checkpoint().await?, checkpoint, "the checkpoint did not move");
    // It keeps failing at the same place rather than skipping the event.
    assert!(sub.run_once().await.is_err());
    assert_eq!(sub.checkpoint().await?, checkpoint);
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_database_error_mid_batch_rolls_back_views_and_checkpoint(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let sub = subscription(&store, 1000);
    let head = append_story(&store, &story(paid_and_refunded(), 1, "till-1", t0())).await?;
    sub.catch_up_to(head).await?;

    // Postgres itself refuses the second invoice's ledger row: the failure comes after the batch's view rows were
    // written in the same transaction.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_ledger_row() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'ledger refuses %', NEW.ers_reference; END $$; \
         CREATE TRIGGER refuse_ledger_row BEFORE INSERT ON ledger FOR EACH ROW \
         WHEN (NEW.ers_reference = 'ERS000002') EXECUTE FUNCTION refuse_ledger_row();",
    )
    .execute(&pool)
    .await?;
    let second = story(paid_and_refunded(), 2, "till-2", t0());
    let head = append_story(&store, &second).await?;

    // Other sessions may hold the commit horizon back, so the failing batch may come after a partial one: compare
    // with the state just before the call that failed.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let before = snapshot(&pool).await?;
            let checkpoint = sub.checkpoint().await?;
            match sub.run_once().await {
                Ok(p) if p.checkpoint < head => continue,
                Ok(p) => anyhow::bail!("the batch went through despite the refused row: {p:?}"),
                Err(e) => {
                    assert!(matches!(e, StoreError::Db(_)), "{e:?}");
                    assert_eq!(snapshot(&pool).await?, before, "no view row of the failed batch survived");
                    assert_eq!(sub.checkpoint().await?, checkpoint, "the checkpoint did not move");
                    return anyhow::Ok(());
                }
            }
        }
    })
    .await??;

    // Once the database accepts the rows, the same batch goes through whole.
    sqlx::raw_sql("DROP TRIGGER refuse_ledger_row ON ledger").execute(&pool).await?;
    sub.catch_up_to(head).await?;
    let (views, ledger) = snapshot(&pool).await?;
    assert_eq!((views.len(), ledger.len()), (2, 4));
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_subscription_never_passes_an_open_lower_transaction(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let sub = subscription(&store, 1000);

    // Transaction A writes an invoice's first event (lower position) and stays open.
    let a = story(Story::Canceled, 1, "till-1", t0());
    let a_issue = NewEvent::from_domain(Uuid::now_v7(), &a[0][0]);
    let mut tx_a = pool.begin().await?;
    let position_a: i64 = sqlx::query_scalar(
        "INSERT INTO events (event_id, stream_id, version, command_index, event_type, schema_version, data, \
         tenant_id, merchant_id, store_id, terminal_id, correlation_id, actor) \
         VALUES ($1, $2, 1, 0, $3, $4, $5, 'tenant-1', 'merchant-1', 'store-1', 'till-1', $1, 'slow') \
         RETURNING position",
    )
    .bind(a_issue.event_id)
    .bind(stream_of(&a))
    .bind(&a_issue.event_type)
    .bind(a_issue.schema_version)
    .bind(&a_issue.data)
    .fetch_one(&mut *tx_a)
    .await?;

    // Transaction B appends a whole invoice and commits.
    let b = story(paid_and_refunded(), 2, "till-2", t0());
    let head_b = append_story(&store, &b).await?;
    assert!(position_a < head_b.position);

    let early = sub.run_once().await?;
    assert_eq!(early.events, 0, "B was delivered while A, below it, was still open");
    assert_eq!(early.checkpoint, Checkpoint::START);

    tx_a.commit().await?;
    let caught_up = sub.catch_up_to(head_b).await?;
    assert_eq!(caught_up.events, 1 + 7, "A's event and B's seven events, nothing skipped");
    let positions: Vec<i64> =
        sqlx::query_scalar("SELECT last_position FROM invoice_view ORDER BY last_position").fetch_all(&pool).await?;
    assert_eq!(positions, [position_a, head_b.position]);
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn appends_wake_a_running_subscription_through_notify(pool: PgPool) -> anyhow::Result<()> {
    // The subscription polls only hourly and uses its own store handle: only NOTIFY can wake it in time.
    let reader = EventStore::new(pool.clone());
    let writer = EventStore::new(pool.clone());
    let sub = subscription(&reader, 1000);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        sub.run(async {
            let _ = stopped.await;
        })
        .await
    });

    let count = |pool: PgPool| async move {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invoice_view").fetch_one(&pool).await?;
        anyhow::Ok(n)
    };
    // The first invoice may be picked up by the initial batch; once it is seen, the runner is waiting on LISTEN.
    for (n, expected) in [(1, 1), (2, 2)] {
        append_story(&writer, &story(Story::Canceled, n, "till-1", t0())).await?;
        tokio::time::timeout(Duration::from_secs(20), async {
            while count(pool.clone()).await? < expected {
                tokio::task::yield_now().await;
            }
            anyhow::Ok(())
        })
        .await??;
    }
    let _ = stop.send(());
    running.await??;
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn load_invoice_folds_the_stream_through_the_domain(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let paid = story(paid_and_refunded(), 1, "till-1", t0());
    append_story(&store, &paid).await?;
    let (state, version) = store.load_invoice(stream_of(&paid)).await?;
    assert_eq!(version, 7);
    assert_eq!(state.status(), domain::InvoiceStatus::Paid);
    assert_eq!(state.refunded_amount(), Some(sek("30.00")));
    let (empty, zero) = store.load_invoice(Uuid::now_v7()).await?;
    assert_eq!((empty.status(), zero), (domain::InvoiceStatus::NotIssued, 0));
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn payloads_are_stored_as_written_and_every_reader_decodes_them(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let mut commands = story(Story::Canceled, 1, "till-1", t0());
    // Text that JSON escapes, multi-byte characters and a character outside the BMP.
    let title = "Caf\u{e9} \"\u{d8}\" \\ \u{1f370}\n\ttab";
    for event in commands[0].iter_mut() {
        let invoice = match event {
            Event::InvoiceIssued(e) => &mut e.invoice,
            Event::SendInvoiceRequested(e) => &mut e.invoice,
            _ => continue,
        };
        invoice.title = Some(title.to_owned());
        invoice.client_invoice_id = Some("order-\u{fc}".to_owned());
    }
    let last = append_story(&store, &commands).await?;

    // The log keeps the text exactly as serialized (json, not jsonb: no reordering, no re-spacing).
    let stored = store.read_stream(stream_of(&commands)).await?;
    assert_eq!(stored[0].data.as_str(), serde_json::to_string(&commands[0][0].to_data())?);
    // The domain reader and the projection's own row type both decode it.
    let (state, _) = store.load_invoice(stream_of(&commands)).await?;
    assert_eq!(state.invoice().and_then(|i| i.title.as_deref()), Some(title));
    let sub = subscription(&store, 1000);
    assert_eq!(sub.catch_up_to(last).await?.events, stored.len());
    let client_id: Option<String> =
        sqlx::query_scalar("SELECT client_invoice_id FROM invoice_view WHERE invoice_id = $1")
            .bind(stream_of(&commands))
            .fetch_one(&pool)
            .await?;
    assert_eq!(client_id.as_deref(), Some("order-\u{fc}"));
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_projection_refuses_payloads_not_stored_as_json(pool: PgPool) -> anyhow::Result<()> {
    // The invoices projection reads `data` as the text of a `json` column; a schema without the migration that
    // made it so (jsonb sends a version byte first) is a typed decode error, never a misread payload.
    let store = EventStore::new(pool.clone());
    let last = append_story(&store, &story(Story::Canceled, 1, "till-1", t0())).await?;
    sqlx::query("ALTER TABLE events ALTER COLUMN data TYPE jsonb USING data::jsonb").execute(&pool).await?;
    let sub = subscription(&store, 1000);
    match sub.catch_up_to(last).await {
        Err(StoreError::Decode { message, .. }) => assert!(message.contains("not of type json"), "{message}"),
        other => anyhow::bail!("expected a decode error, got {other:?}"),
    }
    assert_eq!(sub.checkpoint().await?, Checkpoint::START);
    Ok(())
}
