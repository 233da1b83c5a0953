//! Simulator configuration.

use std::time::Duration;

use seqr_wire::AcknowledgmentMode;

use crate::engine::{ResellerSeed, TerminalSeed};

/// The reseller id seeded by [`SimConfig::seqr_defaults`].
pub const DEFAULT_RESELLER_ID: &str = "reseller1";
/// The reseller `userId` seeded by [`SimConfig::seqr_defaults`].
pub const DEFAULT_RESELLER_USER_ID: &str = "9900";
/// The reseller password seeded by [`SimConfig::seqr_defaults`].
pub const DEFAULT_RESELLER_PASSWORD: &str = "reseller-pw";
/// The webshop terminal id seeded by [`SimConfig::seqr_defaults`].
pub const DEFAULT_TERMINAL_ID: &str = "8609bf533abf4a20816e8bfe76639521";
/// The webshop terminal password seeded by [`SimConfig::seqr_defaults`].
pub const DEFAULT_TERMINAL_PASSWORD: &str = "terminal-pw";

/// What the notification POST carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationBody {
    /// An empty body (the instant-checkout and UPS docs).
    Empty,
    /// `application/x-www-form-urlencoded` with the field `invoiceReference` (the webshop-plugin README).
    InvoiceReferenceForm,
}

/// Everything the simulator can be told at start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// A PAID invoice not fetched within this window is reversed (default 20 s).
    pub reversal_window: Duration,
    /// REPORT_NOT_READY is answered for this long after markTransactionPeriod (default 3 s).
    pub report_delay: Duration,
    /// Render Gen B responses (EXPIRED, commitReservationTimeout); default false = Gen A output.
    pub gen_b: bool,
    /// Notification body mode (default empty).
    pub notification_body: NotificationBody,
    /// Acknowledgment mode used when sendInvoice has none (default REQUIRE_ACKNOWLEDGMENT, PROTOCOL §8).
    pub default_ack_mode: AcknowledgmentMode,
    /// Strict request parsing (unknown elements and missing required primitives are SOAP faults).
    pub strict: bool,
    /// Reservation lifetime when the invoice has no commitReservationTimeout (default 1 h).
    pub default_commit_timeout: Duration,
    /// PIN of shoppers not created through the control API (default "1234").
    pub default_pin: String,
    /// Whether registered terminals may refund (default true).
    pub refunds_allowed_default: bool,
    /// Resellers (RESELLERUSER credentials).
    pub resellers: Vec<ResellerSeed>,
    /// Pre-registered terminals.
    pub terminals: Vec<TerminalSeed>,
    /// How often the background ticker processes time-based transitions (default 250 ms).
    pub tick_interval: Duration,
    /// Per-attempt timeout of notification POSTs (default 5 s).
    pub notification_timeout: Duration,
    /// Attempts per notification (default 3; failures are logged, never retried forever).
    pub notification_attempts: u32,
    /// Seed of the fault-injection RNG.
    pub fault_seed: u64,
}

impl SimConfig {
    /// SEQR's documented behaviour, one reseller ([`DEFAULT_RESELLER_ID`]) and one webshop terminal
    /// ([`DEFAULT_TERMINAL_ID`]) that may refund, currency SEK.
    pub fn seqr_defaults() -> SimConfig {
        SimConfig {
            reversal_window: Duration::from_secs(20),
            report_delay: Duration::from_secs(3),
            gen_b: false,
            notification_body: NotificationBody::Empty,
            default_ack_mode: AcknowledgmentMode::RequireAcknowledgment,
            strict: false,
            default_commit_timeout: Duration::from_secs(3600),
            default_pin: "1234".to_owned(),
            refunds_allowed_default: true,
            resellers: vec![ResellerSeed {
                id: DEFAULT_RESELLER_ID.to_owned(),
                user_id: DEFAULT_RESELLER_USER_ID.to_owned(),
                password: DEFAULT_RESELLER_PASSWORD.to_owned(),
                currency: "SEK".to_owned(),
            }],
            terminals: vec![TerminalSeed {
                id: DEFAULT_TERMINAL_ID.to_owned(),
                password: DEFAULT_TERMINAL_PASSWORD.to_owned(),
                reseller_id: DEFAULT_RESELLER_ID.to_owned(),
                name: "Webshop".to_owned(),
                single_invoice: false,
                refunds_allowed: true,
            }],
            tick_interval: Duration::from_millis(250),
            notification_timeout: Duration::from_secs(5),
            notification_attempts: 3,
            fault_seed: 42,
        }
    }
}
