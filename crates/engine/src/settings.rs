//! What the engine is told at start-up (a part of the process's configuration).

use std::time::Duration;

use url::Url;

use crate::outbound::MerchantUrlPolicy;

/// The engine's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The base URL under which SEQR reaches this process (for notificationUrl).
    pub public_url: Url,
    /// Whether SEQR speaks schema Gen B (commitReservation carries the final amount).
    pub seqr_gen_b: bool,
    /// Status polling.
    pub poll: PollConfig,
    /// Which merchant URLs (an invoice's own notificationUrl) seqrd may send requests to.
    pub merchant_urls: MerchantUrlPolicy,
    /// Shortest time between two SEQR notifications that bring an invoice's poll forward.
    pub notification_min_interval: Duration,
}

/// How invoices are polled.
#[derive(Clone, Debug)]
pub struct PollConfig {
    /// Interval while the shopper is at the register (ISSUED, PENDING_ISSUER_ACKNOWLEDGE).
    pub active_interval: Duration,
    /// First interval for a reservation; it doubles up to `max_interval`.
    pub reserved_interval: Duration,
    /// Longest interval between two polls of an open invoice.
    pub max_interval: Duration,
    /// How long a worker owns a leased invoice before another process may take it.
    pub lease: Duration,
    /// Invoices leased per round trip.
    pub batch: u32,
}
