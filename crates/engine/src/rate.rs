//! The budget of SEQR calls per second. The configured limit is for the whole fleet: each process takes an equal
//! share, the number of live processes being read from the `instances` heartbeat table by the workers.

use std::{
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{sync::Mutex, time::Instant};

/// A pacing limiter: calls are spaced by 1/rate; bursts are not saved up beyond one second.
#[derive(Clone)]
pub struct RateLimiter {
    fleet_limit: u32,
    share: Arc<AtomicU32>,
    next: Arc<Mutex<Instant>>,
}

impl RateLimiter {
    pub fn new(fleet_limit: u32) -> RateLimiter {
        RateLimiter {
            fleet_limit,
            share: Arc::new(AtomicU32::new(fleet_limit.max(1))),
            next: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Sets how many processes share the fleet limit.
    pub fn set_instances(&self, instances: u32) {
        self.share.store((self.fleet_limit / instances.max(1)).max(1), Ordering::Relaxed);
    }

    /// The calls per second this process may make.
    pub fn per_second(&self) -> u32 {
        self.share.load(Ordering::Relaxed)
    }

    /// Waits for the next slot.
    pub async fn acquire(&self) {
        let spacing = Duration::from_secs(1) / self.per_second();
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let earliest = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
            let slot = (*next).max(earliest);
            *next = slot + spacing;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::RateLimiter;

    #[tokio::test(start_paused = true)]
    async fn calls_are_paced_to_the_share_of_the_fleet_budget() {
        let limiter = RateLimiter::new(100);
        limiter.set_instances(4);
        assert_eq!(limiter.per_second(), 25);
        // Spaced by 1/25 s: 26 calls take one second.
        let started = Instant::now();
        for _ in 0..26 {
            limiter.acquire().await;
        }
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        // After a pause, up to one second of calls may go at once, not more.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let started = Instant::now();
        for _ in 0..25 {
            limiter.acquire().await;
        }
        assert!(started.elapsed() < Duration::from_millis(40), "{:?}", started.elapsed());
        limiter.acquire().await;
        limiter.acquire().await;
        assert!(started.elapsed() >= Duration::from_millis(40), "the burst is capped");
    }
}
