//! The current consents of one subject, folded from its history, and the view a read sees.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use time::OffsetDateTime;

use super::{ConsentEvent, ConsentState};

/// The consent in force for one purpose: the latest state and, for a grant, its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConsentStatus {
    /// The latest state recorded.
    pub state: ConsentState,
    /// When a grant lapses, if it does.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl ConsentStatus {
    /// A status without expiry.
    pub fn new(state: ConsentState) -> ConsentStatus {
        ConsentStatus {
            state,
            expires_at: None,
        }
    }

    /// What the status means at `now`: a grant whose expiry is at or before `now` has lapsed.
    pub fn at(&self, now: OffsetDateTime) -> EffectiveConsent {
        match self.state {
            ConsentState::Granted if self.expires_at.is_some_and(|e| e <= now) => {
                EffectiveConsent::Expired
            }
            ConsentState::Granted => EffectiveConsent::Granted,
            ConsentState::Denied => EffectiveConsent::Denied,
            ConsentState::Withdrawn => EffectiveConsent::Withdrawn,
        }
    }
}

/// A consent as it stands at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectiveConsent {
    /// Never asked (no event for the purpose).
    None,
    /// Granted and not expired: the only state that permits a consent-based use.
    Granted,
    /// Refused.
    Denied,
    /// Withdrawn.
    Withdrawn,
    /// Granted with an expiry that has passed.
    Expired,
}

impl EffectiveConsent {
    /// The effective consent of an optional status at `now`.
    pub fn of(status: Option<ConsentStatus>, now: OffsetDateTime) -> EffectiveConsent {
        status.map_or(EffectiveConsent::None, |s| s.at(now))
    }

    /// The snake_case name used in the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            EffectiveConsent::None => "none",
            EffectiveConsent::Granted => "granted",
            EffectiveConsent::Denied => "denied",
            EffectiveConsent::Withdrawn => "withdrawn",
            EffectiveConsent::Expired => "expired",
        }
    }
}

/// The consents of one subject, looked up by purpose name.
pub trait ConsentView {
    /// The latest consent for `purpose`; `None` if the subject was never asked.
    fn consent(&self, purpose: &str) -> Option<ConsentStatus>;
}

/// A subject with no recorded consents.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConsents;

impl ConsentView for NoConsents {
    fn consent(&self, _purpose: &str) -> Option<ConsentStatus> {
        None
    }
}

impl ConsentView for HashMap<String, ConsentStatus> {
    fn consent(&self, purpose: &str) -> Option<ConsentStatus> {
        self.get(purpose).copied()
    }
}

impl ConsentView for BTreeMap<String, ConsentStatus> {
    fn consent(&self, purpose: &str) -> Option<ConsentStatus> {
        self.get(purpose).copied()
    }
}

impl<T: ConsentView + ?Sized> ConsentView for &T {
    fn consent(&self, purpose: &str) -> Option<ConsentStatus> {
        (**self).consent(purpose)
    }
}

/// The latest consent event per purpose of one subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CurrentConsents {
    latest: BTreeMap<String, ConsentEvent>,
}

impl CurrentConsents {
    /// Folds a history (in the order it was appended) into the current state per purpose.
    ///
    /// The event with the latest `at` wins; of events with equal `at`, the later one in the
    /// history. Ordering by time rather than by position keeps an import of old receipts
    /// from overriding a newer decision.
    pub fn from_history<'a>(history: impl IntoIterator<Item = &'a ConsentEvent>) -> Self {
        let mut current = CurrentConsents::default();
        for event in history {
            current.apply(event.clone());
        }
        current
    }

    /// Applies one more event, as if appended to the history.
    pub fn apply(&mut self, event: ConsentEvent) {
        match self.latest.get_mut(&event.purpose) {
            Some(held) if held.at > event.at => {}
            Some(held) => *held = event,
            None => {
                self.latest.insert(event.purpose.clone(), event);
            }
        }
    }

    /// The event currently in force for `purpose`.
    pub fn get(&self, purpose: &str) -> Option<&ConsentEvent> {
        self.latest.get(purpose)
    }

    /// The event in force per purpose, by purpose name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ConsentEvent)> {
        self.latest.iter().map(|(p, e)| (p.as_str(), e))
    }

    /// What the consent to `purpose` means at `now`.
    pub fn effective(&self, purpose: &str, now: OffsetDateTime) -> EffectiveConsent {
        EffectiveConsent::of(self.consent(purpose), now)
    }

    /// Whether no consent was ever recorded.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

impl ConsentView for CurrentConsents {
    fn consent(&self, purpose: &str) -> Option<ConsentStatus> {
        self.latest.get(purpose).map(|e| ConsentStatus {
            state: e.state,
            expires_at: e.expires_at,
        })
    }
}
