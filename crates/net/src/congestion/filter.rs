//! Windowed filters for the path model: the highest delivery rate of the last
//! few round trips, and the lowest round-trip time of the last few seconds.

use std::time::{Duration, Instant};

/// The maximum of values recorded over the last `N` rounds.
///
/// One slot per round, reused `N` rounds later: exact, allocation-free, and a
/// stale maximum expires by itself once its round falls out of the window.
#[derive(Debug, Clone)]
pub(super) struct RoundMax<const N: usize> {
    slots: [(u64, u64); N],
}

impl<const N: usize> RoundMax<N> {
    pub(super) fn new() -> Self {
        Self { slots: [(0, 0); N] }
    }

    /// Records `value` as seen during `round`.
    pub(super) fn update(&mut self, round: u64, value: u64) {
        let slot = &mut self.slots[(round % N as u64) as usize];
        if slot.0 != round {
            *slot = (round, value);
        } else if value > slot.1 {
            slot.1 = value;
        }
    }

    /// The maximum over rounds `round - N + 1 ..= round`.
    pub(super) fn get(&self, round: u64) -> u64 {
        self.slots
            .iter()
            .filter(|(r, _)| *r <= round && round - r < N as u64)
            .map(|&(_, v)| v)
            .max()
            .unwrap_or(0)
    }

    /// Forgets everything.
    pub(super) fn reset(&mut self) {
        self.slots = [(0, 0); N];
    }
}

/// The minimum round-trip time seen over the last `window` to `2 * window`.
///
/// Two buckets: the current one collects samples for `window`, then becomes
/// the previous one. A path whose delay grew is noticed within two windows,
/// while a single high sample never raises the minimum.
#[derive(Debug, Clone)]
pub(super) struct MinRtt {
    window: Duration,
    current: Option<(Duration, Instant)>,
    previous: Option<Duration>,
}

impl MinRtt {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            current: None,
            previous: None,
        }
    }

    pub(super) fn update(&mut self, now: Instant, sample: Duration) {
        match &mut self.current {
            Some((min, start)) if now.saturating_duration_since(*start) < self.window => {
                if sample < *min {
                    *min = sample;
                }
            }
            current => {
                self.previous = current.map(|(min, _)| min);
                *current = Some((sample, now));
            }
        }
    }

    /// The minimum, or `None` before the first sample.
    pub(super) fn get(&self) -> Option<Duration> {
        match (self.current, self.previous) {
            (Some((c, _)), Some(p)) => Some(c.min(p)),
            (Some((c, _)), None) => Some(c),
            (None, p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_max_keeps_the_highest_of_the_window() {
        let mut f = RoundMax::<3>::new();
        f.update(1, 10);
        f.update(1, 5);
        f.update(2, 7);
        assert_eq!(f.get(2), 10);
        f.update(3, 1);
        assert_eq!(f.get(3), 10);
        // Round 1 leaves the window.
        f.update(4, 2);
        assert_eq!(f.get(4), 7);
        // Nothing recorded for a while: everything expires.
        assert_eq!(f.get(10), 0);
        f.reset();
        assert_eq!(f.get(4), 0);
    }

    #[test]
    fn min_rtt_forgets_after_two_windows() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut f = MinRtt::new(Duration::from_secs(5));
        assert_eq!(f.get(), None);
        f.update(t0, ms(50));
        f.update(t0 + ms(100), ms(80));
        assert_eq!(f.get(), Some(ms(50)));
        // A new bucket: the old minimum still counts.
        f.update(t0 + ms(5_100), ms(90));
        assert_eq!(f.get(), Some(ms(50)));
        // Two windows on, the path got slower and the model follows.
        f.update(t0 + ms(10_200), ms(95));
        assert_eq!(f.get(), Some(ms(90)));
        f.update(t0 + ms(10_300), ms(70));
        assert_eq!(f.get(), Some(ms(70)));
    }
}
