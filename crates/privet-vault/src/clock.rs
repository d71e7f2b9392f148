//! Time comes from a clock the vault is given, so retention, deadlines and expiry are tested
//! by moving a test clock, never by sleeping.

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, truncated to microseconds (what stores keep).
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let t = OffsetDateTime::now_utc();
        t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t)
    }
}
