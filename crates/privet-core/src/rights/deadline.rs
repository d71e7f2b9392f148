//! Statutory deadlines of rights requests.

use time::{Date, Duration, Month, OffsetDateTime};

use super::Regime;

/// GDPR Art. 12(3): one month from receipt.
const GDPR_MONTHS: u32 = 1;
/// GDPR Art. 12(3): "extended by two further months": three months from receipt in all.
const GDPR_EXTENDED_MONTHS: u32 = 3;
/// CCPA/CPRA: 45 days from receipt.
const CCPA_DAYS: i64 = 45;
/// CCPA/CPRA: extended once by 45 more days.
const CCPA_EXTENDED_DAYS: i64 = 90;

/// The date `months` calendar months after `date`, on the same day of the month, or on the
/// month's last day when it is shorter (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap year).
/// `None` beyond the years `time` represents.
pub fn add_months(date: Date, months: u32) -> Option<Date> {
    let index = date.year() as i64 * 12 + (u8::from(date.month()) as i64 - 1) + months as i64;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).ok()
}

/// When a request received at `received_at` under `regime` must be answered: GDPR one
/// calendar month later (three with the extension), CCPA/CPRA 45 days later (90 with the
/// extension); the same time of day. A date beyond what can be represented saturates (only
/// a corrupt receipt time gets there).
pub fn due_at(regime: Regime, received_at: OffsetDateTime, extended: bool) -> OffsetDateTime {
    match regime {
        Regime::Gdpr => {
            let months = if extended {
                GDPR_EXTENDED_MONTHS
            } else {
                GDPR_MONTHS
            };
            add_months(received_at.date(), months)
                .map(|d| received_at.replace_date(d))
                .unwrap_or(received_at)
        }
        Regime::Ccpa => {
            let days = if extended {
                CCPA_EXTENDED_DAYS
            } else {
                CCPA_DAYS
            };
            received_at.saturating_add(Duration::days(days))
        }
    }
}
