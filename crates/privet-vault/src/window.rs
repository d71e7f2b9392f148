//! Sliding-window counters per principal, in memory and bounded: what access monitoring
//! counts. At time `t` a window holds the events of the interval `(t - window, t]`; once its
//! count passes the threshold, that crossing is reported once, the window is emptied, and the
//! kind stays quiet for that principal for one window length (so a principal raises at most
//! one alert of a kind per window, and a new one only by crossing the threshold anew).
//!
//! Memory: a window never holds more than `threshold + 1` entries (it is emptied when it
//! crosses), so a principal costs O(sum of thresholds) at most, and idle principals are
//! swept away.

use std::collections::{BTreeSet, HashMap, VecDeque};

use privet_core::SubjectId;
use time::{Duration, OffsetDateTime};

use crate::monitor::AlertKind;

/// One thing a principal did that monitoring counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// It was shown (some of) this subject's data.
    Subject(SubjectId),
    /// It was refused access.
    Denial,
    /// It exported a subject's data.
    #[allow(dead_code)] // counted once the export use case exists (it reports each export)
    Export,
}

impl Event {
    pub(crate) fn kind(self) -> AlertKind {
        match self {
            Event::Subject(_) => AlertKind::DistinctSubjects,
            Event::Denial => AlertKind::Denials,
            Event::Export => AlertKind::Exports,
        }
    }
}

/// A threshold crossing: `count` events of `kind` in one window, above `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crossing {
    pub(crate) kind: AlertKind,
    pub(crate) count: u64,
    pub(crate) threshold: u64,
}

/// The distinct subjects seen in the window, each at its latest time.
#[derive(Debug, Default)]
struct DistinctWindow {
    last_seen: HashMap<SubjectId, OffsetDateTime>,
    by_time: BTreeSet<(OffsetDateTime, SubjectId)>,
}

impl DistinctWindow {
    fn evict(&mut self, cutoff: OffsetDateTime) {
        while let Some(&(t, s)) = self.by_time.first()
            && t <= cutoff
        {
            self.by_time.pop_first();
            self.last_seen.remove(&s);
        }
    }

    fn add(&mut self, s: SubjectId, t: OffsetDateTime, window: Duration) -> usize {
        self.evict(t - window);
        if let Some(old) = self.last_seen.insert(s, t) {
            self.by_time.remove(&(old, s));
        }
        self.by_time.insert((t, s));
        self.last_seen.len()
    }

    fn clear(&mut self) {
        self.last_seen.clear();
        self.by_time.clear();
    }

    fn is_empty(&self) -> bool {
        self.last_seen.is_empty()
    }
}

/// The times of the events in the window, oldest first.
#[derive(Debug, Default)]
struct EventWindow {
    times: VecDeque<OffsetDateTime>,
}

impl EventWindow {
    fn evict(&mut self, cutoff: OffsetDateTime) {
        while self.times.front().is_some_and(|&t| t <= cutoff) {
            self.times.pop_front();
        }
    }

    fn add(&mut self, t: OffsetDateTime, window: Duration) -> usize {
        self.evict(t - window);
        self.times.push_back(t);
        self.times.len()
    }
}

/// One principal's windows, and when each kind last alerted.
#[derive(Debug, Default)]
struct PrincipalWindows {
    subjects: DistinctWindow,
    denials: EventWindow,
    exports: EventWindow,
    alerted: [Option<OffsetDateTime>; 3],
}

fn slot(kind: AlertKind) -> usize {
    match kind {
        AlertKind::DistinctSubjects => 0,
        AlertKind::Denials => 1,
        AlertKind::Exports => 2,
    }
}

impl PrincipalWindows {
    fn clear(&mut self, kind: AlertKind) {
        match kind {
            AlertKind::DistinctSubjects => self.subjects.clear(),
            AlertKind::Denials => self.denials.times.clear(),
            AlertKind::Exports => self.exports.times.clear(),
        }
    }

    /// Drops what has left the window; whether nothing is left to remember.
    fn sweep(&mut self, now: OffsetDateTime, window: Duration) -> bool {
        let cutoff = now - window;
        self.subjects.evict(cutoff);
        self.denials.evict(cutoff);
        self.exports.evict(cutoff);
        for a in &mut self.alerted {
            if a.is_some_and(|t| t <= cutoff) {
                *a = None;
            }
        }
        self.subjects.is_empty()
            && self.denials.times.is_empty()
            && self.exports.times.is_empty()
            && self.alerted.iter().all(Option::is_none)
    }
}

/// How often (in events) every principal's windows are swept of expired entries.
const SWEEP_EVERY: u64 = 4096;

/// Every principal's windows.
#[derive(Debug)]
pub(crate) struct Counters {
    window: Duration,
    /// Per kind (by [`slot`]); `None` turns the kind off.
    thresholds: [Option<u64>; 3],
    principals: HashMap<String, PrincipalWindows>,
    events: u64,
}

impl Counters {
    pub(crate) fn new(window: Duration, thresholds: [Option<u64>; 3]) -> Self {
        Self {
            window,
            thresholds,
            principals: HashMap::new(),
            events: 0,
        }
    }

    /// Counts `event` of `principal` at `t`; the crossing, if this event made one.
    pub(crate) fn observe(
        &mut self,
        principal: &str,
        event: Event,
        t: OffsetDateTime,
    ) -> Option<Crossing> {
        let kind = event.kind();
        let threshold = self.thresholds[slot(kind)]?;
        self.events = self.events.wrapping_add(1);
        if self.events.is_multiple_of(SWEEP_EVERY) {
            self.sweep(t);
        }
        let window = self.window;
        let w = match self.principals.get_mut(principal) {
            Some(w) => w,
            None => self.principals.entry(principal.to_owned()).or_default(),
        };
        if let Some(at) = w.alerted[slot(kind)] {
            if t < at + window {
                return None;
            }
            w.alerted[slot(kind)] = None;
        }
        let count = match event {
            Event::Subject(s) => w.subjects.add(s, t, window),
            Event::Denial => w.denials.add(t, window),
            Event::Export => w.exports.add(t, window),
        } as u64;
        if count <= threshold {
            return None;
        }
        w.clear(kind);
        w.alerted[slot(kind)] = Some(t);
        Some(Crossing {
            kind,
            count,
            threshold,
        })
    }

    fn sweep(&mut self, now: OffsetDateTime) {
        let window = self.window;
        self.principals.retain(|_, w| !w.sweep(now, window));
    }

    /// How many entries are held in all (for tests of the memory bound).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.principals
            .values()
            .map(|w| w.subjects.by_time.len() + w.denials.times.len() + w.exports.times.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::minutes(1);

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn counters(subjects: u64, denials: u64) -> Counters {
        Counters::new(Duration::minutes(10), [Some(subjects), Some(denials), None])
    }

    fn subjects(n: usize) -> Vec<SubjectId> {
        (0..n).map(|_| SubjectId::new()).collect()
    }

    #[test]
    fn more_distinct_subjects_than_the_threshold_alert_once_per_window() {
        let mut c = counters(3, 50);
        let s = subjects(10);
        let mut crossings = Vec::new();
        for (i, id) in s.iter().enumerate() {
            let t = t0() + Duration::seconds(i as i64);
            crossings.extend(c.observe("prn_a", Event::Subject(*id), t));
        }
        assert_eq!(
            crossings,
            vec![Crossing {
                kind: AlertKind::DistinctSubjects,
                count: 4,
                threshold: 3
            }]
        );
        // One window after the alert, crossing again alerts again.
        let later = t0() + Duration::seconds(3) + Duration::minutes(10);
        let again: Vec<_> = subjects(4)
            .into_iter()
            .filter_map(|id| c.observe("prn_a", Event::Subject(id), later))
            .collect();
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn the_same_subject_read_again_counts_once() {
        let mut c = counters(2, 50);
        let s = subjects(2);
        for i in 0..100 {
            let t = t0() + Duration::seconds(i);
            assert_eq!(
                c.observe("prn_a", Event::Subject(s[(i % 2) as usize]), t),
                None
            );
        }
        assert_eq!(c.held(), 2);
    }

    #[test]
    fn the_window_slides_rather_than_resetting_on_a_boundary() {
        // 2 subjects at minute 0 and 2 at minute 9: 4 within ten minutes, over 3.
        let mut c = counters(3, 50);
        let s = subjects(4);
        assert_eq!(c.observe("prn_a", Event::Subject(s[0]), t0()), None);
        assert_eq!(c.observe("prn_a", Event::Subject(s[1]), t0()), None);
        assert_eq!(
            c.observe("prn_a", Event::Subject(s[2]), t0() + 9 * MIN),
            None
        );
        assert!(
            c.observe("prn_a", Event::Subject(s[3]), t0() + 9 * MIN)
                .is_some()
        );

        // Spread out so that no ten minutes hold more than 3: never an alert.
        let mut c = counters(3, 50);
        for (i, id) in subjects(30).into_iter().enumerate() {
            let t = t0() + Duration::seconds(i as i64 * 201);
            assert_eq!(c.observe("prn_a", Event::Subject(id), t), None, "at {i}");
        }
    }

    #[test]
    fn an_event_exactly_one_window_old_has_left_it() {
        let mut c = counters(1, 50);
        let s = subjects(2);
        assert_eq!(c.observe("prn_a", Event::Subject(s[0]), t0()), None);
        assert_eq!(
            c.observe("prn_a", Event::Subject(s[1]), t0() + 10 * MIN),
            None
        );
    }

    #[test]
    fn denials_count_every_event_and_principals_are_counted_apart() {
        let mut c = counters(1000, 3);
        for i in 0..3 {
            let t = t0() + Duration::seconds(i);
            assert_eq!(c.observe("prn_a", Event::Denial, t), None);
            assert_eq!(c.observe("prn_b", Event::Denial, t), None);
        }
        let x = c.observe("prn_a", Event::Denial, t0() + MIN);
        assert_eq!(
            x,
            Some(Crossing {
                kind: AlertKind::Denials,
                count: 4,
                threshold: 3
            })
        );
        // Quiet for the rest of the window, for that principal and kind only.
        for i in 0..20 {
            let t = t0() + MIN + Duration::seconds(i);
            assert_eq!(c.observe("prn_a", Event::Denial, t), None);
        }
        assert!(c.observe("prn_b", Event::Denial, t0() + MIN).is_some());
    }

    #[test]
    fn a_kind_without_a_threshold_is_not_counted() {
        let mut c = counters(1000, 3);
        for i in 0..100 {
            assert_eq!(
                c.observe("prn_a", Event::Export, t0() + Duration::seconds(i)),
                None
            );
        }
        assert_eq!(c.held(), 0);
    }

    #[test]
    fn memory_stays_bounded_by_the_thresholds_and_idle_principals_are_swept() {
        let mut c = counters(5, 5);
        // Many subjects in one burst: the window never holds more than threshold + 1.
        for id in subjects(1000) {
            c.observe("prn_a", Event::Subject(id), t0());
            assert!(c.held() <= 6);
        }
        // Many principals, then time passes: a sweep forgets them all.
        for i in 0..(SWEEP_EVERY - 1002) {
            c.observe(&format!("prn_{i}"), Event::Denial, t0());
        }
        assert!(c.principals.len() > 1000);
        let later = t0() + Duration::hours(1);
        c.observe("prn_last", Event::Denial, later);
        c.observe("prn_last", Event::Denial, later);
        assert_eq!(c.principals.len(), 1, "{:?}", c.principals.keys().take(3));
    }
}
