//! Delivery-rate samples, as BBR takes them: when a packet is acknowledged,
//! the bytes delivered since it was sent, over the longer of the time it took
//! to send them and the time it took to acknowledge them.
//!
//! quinn reports each acknowledged packet with the time it was sent, not with
//! per-packet state, so the connection's delivery state is recorded at each
//! send and looked up by send time. Sends with no acknowledgement between them
//! share one record, which bounds the records by the acknowledgements of one
//! round trip, however many packets are in flight.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// Records kept at most: a memory bound for a peer that never acknowledges.
const MAX_RECORDS: usize = 1 << 14;

/// One delivery-rate sample.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    /// Bytes per second.
    pub(super) rate: u64,
    /// Bytes delivered before the sampled packet was sent: a round trip ends
    /// when a packet sent after it began is acknowledged.
    pub(super) prior_delivered: u64,
    /// The interval the rate was measured over.
    pub(super) interval: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// The first send this record covers.
    sent: Instant,
    delivered: u64,
    delivered_time: Instant,
    first_sent: Instant,
}

/// The connection's delivery state and the records of sends in flight.
#[derive(Debug, Clone, Default)]
pub(super) struct DeliveryRate {
    delivered: u64,
    delivered_time: Option<Instant>,
    first_sent: Option<Instant>,
    records: VecDeque<Record>,
}

impl DeliveryRate {
    /// Bytes acknowledged so far.
    pub(super) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Notes a send at `now`; `idle` when nothing was in flight, so the next
    /// samples do not count the idle time.
    pub(super) fn on_sent(&mut self, now: Instant, idle: bool) {
        if idle || self.first_sent.is_none() {
            self.first_sent = Some(now);
            self.delivered_time = Some(now);
        }
        let record = Record {
            sent: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time.unwrap_or(now),
            first_sent: self.first_sent.unwrap_or(now),
        };
        if let Some(last) = self.records.back() {
            if last.delivered == record.delivered
                && last.delivered_time == record.delivered_time
                && last.first_sent == record.first_sent
            {
                return;
            }
        }
        if self.records.len() == MAX_RECORDS {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// Notes that `bytes` sent at `sent` were acknowledged at `now`, and
    /// returns the sample they give, if their send is still on record.
    pub(super) fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64) -> Option<Sample> {
        self.delivered += bytes;
        self.delivered_time = Some(now);
        // Acknowledgements come in send order (save for reordering, which
        // only costs a sample): records before the one covering `sent` are
        // of packets acknowledged or lost already.
        while self.records.len() > 1 && self.records[1].sent <= sent {
            self.records.pop_front();
        }
        let record = *self.records.front().filter(|r| r.sent <= sent)?;
        self.first_sent = Some(sent);
        let send_elapsed = sent.saturating_duration_since(record.first_sent);
        let ack_elapsed = now.saturating_duration_since(record.delivered_time);
        let interval = send_elapsed.max(ack_elapsed);
        let nanos = interval.as_nanos();
        if nanos == 0 {
            return None;
        }
        let bytes = u128::from(self.delivered - record.delivered);
        Some(Sample {
            rate: u64::try_from(bytes * 1_000_000_000 / nanos).unwrap_or(u64::MAX),
            prior_delivered: record.delivered,
            interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_steady_flow_samples_its_rate() {
        // 1000 bytes every ms, each acknowledged 50 ms later: 1 MB/s.
        let t0 = Instant::now();
        let mut d = DeliveryRate::default();
        let mut last = None;
        for i in 0..200u64 {
            let now = t0 + ms(i);
            if i >= 50 {
                last = d.on_ack(now, t0 + ms(i - 50), 1000);
            }
            d.on_sent(now, i == 0);
        }
        let s = last.expect("a sample");
        assert!((990_000..=1_010_000).contains(&s.rate), "rate {}", s.rate);
        assert_eq!(d.delivered(), 150 * 1000);
        // Records cover one round trip of acknowledgements, no more.
        assert!(d.records.len() <= 51, "{} records", d.records.len());
    }

    #[test]
    fn sends_without_acks_share_a_record() {
        let t0 = Instant::now();
        let mut d = DeliveryRate::default();
        for i in 0..10_000 {
            d.on_sent(t0 + Duration::from_micros(i), i == 0);
        }
        assert_eq!(d.records.len(), 1);
        // A packet from the middle of that run still finds its state.
        let s = d.on_ack(t0 + ms(60), t0 + ms(5), 1200).expect("a sample");
        assert_eq!(s.prior_delivered, 0);
        assert_eq!(s.interval, ms(60));
    }

    #[test]
    fn an_unknown_send_gives_no_sample() {
        let t0 = Instant::now();
        let mut d = DeliveryRate::default();
        d.on_sent(t0 + ms(10), true);
        assert!(d.on_ack(t0 + ms(20), t0 + ms(5), 1200).is_none());
        assert_eq!(d.delivered(), 1200);
    }
}
