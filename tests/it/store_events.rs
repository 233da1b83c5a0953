//! The event store against real Postgres: append and read, typed version conflicts, idempotent commands,
//! racing writers, and the gap-safe global order.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use store_pg::{
    AppendOutcome, AppendRequest, Checkpoint, EventScope, EventStore, Metadata, NewEvent, StoreError, StoredEvent,
};
use uuid::Uuid;

fn scope() -> EventScope {
    EventScope {
        tenant_id: "tenant-1".into(),
        merchant_id: "merchant-1".into(),
        store_id: Some("store-1".into()),
        terminal_id: Some("till-1".into()),
    }
}

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Noted".into(),
        schema_version: 1,
        data: json!({ "n": n, "text": "something happened" }),
    }
}

fn request(stream_id: Uuid, expected_version: i64, key: Option<&str>, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        stream_id,
        expected_version,
        idempotency_key: key.map(str::to_owned),
        scope: scope(),
        metadata: Metadata { correlation_id: Uuid::now_v7(), causation_id: None, actor: "test".into() },
        events,
    }
}

async fn count_events(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await?)
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn append_then_read_stream(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let stream = Uuid::now_v7();
    let first = store.append(request(stream, 0, None, vec![event(1), event(2)])).await?;
    let AppendOutcome::Appended(first) = first else { anyhow::bail!("expected Appended, got {first:?}") };
    assert_eq!(first.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
    assert!(first[0].position < first[1].position);
    assert_eq!(first[0].tx_id, first[1].tx_id, "one command is one transaction");
    assert_eq!(first[1].data.to_value(), json!({ "n": 2, "text": "something happened" }));

    let second = store.append(request(stream, 2, None, vec![event(3)])).await?;
    assert_eq!(second.version(), 3);

    let read = store.read_stream(stream).await?;
    let mut expected = first.clone();
    expected.extend(second.events().iter().cloned());
    assert_eq!(read, expected, "what is read back is exactly what append returned");
    assert_eq!(read[0].scope, scope());
    assert_eq!(read[0].metadata.actor, "test");
    assert_eq!(store.stream_version(stream).await?, 3);
    assert_eq!(store.read_stream(Uuid::now_v7()).await?, Vec::<StoredEvent>::new());
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn expected_version_mismatch_is_a_typed_conflict(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let stream = Uuid::now_v7();
    store.append(request(stream, 0, None, vec![event(1)])).await?;

    // Behind the stream: the unique (stream_id, version) constraint or the version check rejects it.
    let behind = store.append(request(stream, 0, None, vec![event(2)])).await;
    match behind {
        Err(StoreError::Conflict { stream_id, expected: 0, actual: 1 }) if stream_id == stream => {}
        other => anyhow::bail!("expected a conflict at 0/1, got {other:?}"),
    }
    // Ahead of the stream: no gap may be created.
    let ahead = store.append(request(stream, 5, None, vec![event(3)])).await;
    match &ahead {
        Err(e @ StoreError::Conflict { expected: 5, actual: 1, .. }) => assert_eq!(e.code(), "store.version_conflict"),
        other => anyhow::bail!("expected a conflict at 5/1, got {other:?}"),
    }
    assert_eq!(count_events(&pool).await?, 1, "a conflicting append writes nothing");

    let empty = store.append(request(stream, 1, None, vec![])).await;
    assert!(matches!(empty, Err(StoreError::InvalidAppend(_))), "{empty:?}");
    let negative = store.append(request(stream, -1, None, vec![event(4)])).await;
    assert!(matches!(negative, Err(StoreError::InvalidAppend(_))), "{negative:?}");
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn reappending_a_command_returns_the_original_and_writes_nothing(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let stream = Uuid::now_v7();
    let original = store.append(request(stream, 0, Some("cmd-1"), vec![event(1), event(2)])).await?;
    let AppendOutcome::Appended(original) = original else { anyhow::bail!("expected Appended") };

    // The same command again (new event ids, as a retrying client would generate).
    let retry = store.append(request(stream, 0, Some("cmd-1"), vec![event(1), event(2)])).await?;
    assert_eq!(retry, AppendOutcome::Duplicate(original.clone()));
    assert_eq!(count_events(&pool).await?, 2);

    // The stream moved on; the retry still finds the original command.
    store.append(request(stream, 2, Some("cmd-2"), vec![event(3)])).await?;
    let late_retry = store.append(request(stream, 0, Some("cmd-1"), vec![event(1), event(2)])).await?;
    assert_eq!(late_retry, AppendOutcome::Duplicate(original.clone()));
    // A retry that states the current version is still recognised by the key alone.
    let current_retry = store.append(request(stream, 3, Some("cmd-1"), vec![event(1), event(2)])).await?;
    assert_eq!(current_retry, AppendOutcome::Duplicate(original));
    assert_eq!(count_events(&pool).await?, 3);

    // A different command with a stale version is a conflict, not a duplicate.
    let other = store.append(request(stream, 0, Some("cmd-3"), vec![event(4)])).await;
    assert!(matches!(other, Err(StoreError::Conflict { expected: 0, actual: 3, .. })), "{other:?}");
    // The same key on another stream is another command.
    let elsewhere = store.append(request(Uuid::now_v7(), 0, Some("cmd-1"), vec![event(5)])).await?;
    assert!(matches!(elsewhere, AppendOutcome::Appended(_)));

    // Reusing an event id on another command is its own typed error.
    let reused = NewEvent { event_id: store.read_stream(stream).await?[0].event_id, ..event(6) };
    let dup = store.append(request(Uuid::now_v7(), 0, None, vec![reused])).await;
    assert!(matches!(dup, Err(StoreError::DuplicateEventId { .. })), "{dup:?}");
    assert_eq!(count_events(&pool).await?, 4);
    Ok(())
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn racing_writers_win_each_version_exactly_once(pool: PgPool) -> anyhow::Result<()> {
    const WRITERS: usize = 16;
    const PER_WRITER: usize = 10;
    let store = EventStore::new(pool.clone());
    let stream = Uuid::now_v7();

    // Everyone races for version 1: exactly one wins.
    let racers = (0..WRITERS).map(|i| {
        let store = store.clone();
        async move { store.append(request(stream, 0, None, vec![event(i as i64)])).await }
    });
    let results = futures::future::join_all(racers).await;
    let winners = results.iter().filter(|r| matches!(r, Ok(AppendOutcome::Appended(_)))).count();
    let conflicts = results.iter().filter(|r| matches!(r, Err(StoreError::Conflict { expected: 0, .. }))).count();
    assert_eq!((winners, conflicts), (1, WRITERS - 1), "{results:?}");

    // Then each writer appends PER_WRITER events, re-reading the version on every conflict.
    let writers = (0..WRITERS).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut conflicts = 0usize;
            while mine.len() < PER_WRITER {
                let version = store.stream_version(stream).await?;
                let e = event((w * 1000 + mine.len()) as i64);
                let id = e.event_id;
                match store.append(request(stream, version, None, vec![e])).await {
                    Ok(AppendOutcome::Appended(stored)) => {
                        assert_eq!(stored[0].version, version + 1);
                        mine.push(id);
                    }
                    Err(StoreError::Conflict { .. }) => conflicts += 1,
                    other => anyhow::bail!("unexpected {other:?}"),
                }
            }
            anyhow::Ok((mine, conflicts))
        })
    });
    let mut appended = HashSet::new();
    let mut conflicts = 0;
    for w in futures::future::join_all(writers).await {
        let (ids, c) = w??;
        conflicts += c;
        appended.extend(ids);
    }
    assert_eq!(appended.len(), WRITERS * PER_WRITER);
    let stored = store.read_stream(stream).await?;
    let versions: Vec<i64> = stored.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=(WRITERS * PER_WRITER + 1) as i64).collect::<Vec<_>>(), "contiguous, no doubles");
    let stored_ids: HashSet<Uuid> = stored.iter().skip(1).map(|e| e.event_id).collect();
    assert_eq!(stored_ids, appended, "nothing lost, nothing doubled");
    // Not an assertion on speed: just evidence that writers really raced (printed with --nocapture).
    println!("racing writers: {conflicts} conflicts retried");
    Ok(())
}

/// Reads after `after` until `n` events are visible: other tests on the same server may briefly hold the commit
/// horizon back with their own open transactions.
async fn read_until(store: &EventStore, after: Checkpoint, n: usize) -> anyhow::Result<Vec<StoredEvent>> {
    let wait = async {
        loop {
            let events = store.read_all_after(after, 100).await?;
            if events.len() >= n {
                return anyhow::Ok(events);
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await?
}

#[sqlx::test(migrator = "store_pg::MIGRATOR")]
async fn a_lower_position_committed_later_is_never_skipped(pool: PgPool) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    let before = store.append(request(Uuid::now_v7(), 0, None, vec![event(0)])).await?;
    let seen = read_until(&store, Checkpoint::START, 1).await?;
    assert_eq!(seen, before.events());
    let checkpoint = seen[0].checkpoint();

    // Transaction A inserts first (lower position) and stays open.
    let stream_a = Uuid::now_v7();
    let mut tx_a = pool.begin().await?;
    let position_a: i64 = sqlx::query_scalar(
        "INSERT INTO events (event_id, stream_id, version, command_index, event_type, schema_version, data, \
         tenant_id, merchant_id, correlation_id, actor) \
         VALUES ($1, $2, 1, 0, 'Noted', 1, '{}', 'tenant-1', 'merchant-1', $3, 'slow writer') RETURNING position",
    )
    .bind(Uuid::now_v7())
    .bind(stream_a)
    .bind(Uuid::now_v7())
    .fetch_one(&mut *tx_a)
    .await?;

    // Transaction B appends and commits (higher position, visible to everyone).
    let b = store.append(request(Uuid::now_v7(), 0, None, vec![event(2)])).await?;
    let position_b = b.events()[0].position;
    assert!(position_a < position_b);
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await?;
    assert_eq!(visible, 2, "B is committed and visible by position");

    // A reader must not move past A while A may still commit.
    let early = store.read_all_after(checkpoint, 100).await?;
    assert_eq!(early, Vec::<StoredEvent>::new(), "B delivered while A, below it, was in flight");

    tx_a.commit().await?;
    let late = read_until(&store, checkpoint, 2).await?;
    let order: Vec<(Uuid, i64)> = late.iter().map(|e| (e.stream_id, e.position)).collect();
    assert_eq!(order, [(stream_a, position_a), (b.events()[0].stream_id, position_b)], "A then B, nothing skipped");
    assert!(late[0].checkpoint() < late[1].checkpoint());
    Ok(())
}
