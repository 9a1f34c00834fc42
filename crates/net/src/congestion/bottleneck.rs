//! [`Bottleneck`]: the controller, and [`BottleneckConfig`], its factory.

use std::{
    any::Any,
    sync::Arc,
    time::{Duration, Instant},
};

use quinn::congestion::{Controller, ControllerFactory, ControllerMetrics};
use quinn_proto::RttEstimator;

use super::{
    delivery::DeliveryRate,
    filter::{MinRtt, RoundMax},
    RateLimit,
};

/// Round trips the bandwidth estimate remembers its maximum for.
const BW_ROUNDS: usize = 10;
/// The minimum RTT is the lowest sample of the last 5 to 10 seconds.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(5);
/// The window before the first round trip: 128 packets of QUIC's smallest
/// size. quinn paces it over the handshake's RTT, and on long fat paths every
/// doubling it saves is a round trip of full rate (see the module docs).
pub const INITIAL_WINDOW: u64 = 128 * 1200;
/// The smallest window: enough to keep acknowledgements coming.
const MIN_WINDOW_PACKETS: u64 = 4;

/// Tunable parameters of [`Bottleneck`]. The defaults are the measured choice
/// (see the `congestion` module's documentation).
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Window in cruise, as a multiple of the modelled bandwidth-delay
    /// product: what exceeds 1 is the queue the flow keeps at the bottleneck,
    /// and also how fast the estimate can rise when the path gets faster.
    pub cruise_gain: f64,
    /// Window for one round trip every [`Tuning::drain_interval`], so the
    /// bottleneck queue empties and the minimum RTT stays true.
    pub drain_gain: f64,
    /// How often to drain.
    pub drain_interval: Duration,
    /// Startup ends when this many RTT samples in a row exceed the minimum by
    /// [`Tuning::startup_delay`]: a queue is building, the pipe is full.
    pub startup_rtt_samples: u32,
    /// See [`Tuning::startup_rtt_samples`]: the larger of this fraction of the
    /// minimum RTT and [`Tuning::startup_delay_floor`].
    pub startup_delay: f64,
    /// See [`Tuning::startup_delay`].
    pub startup_delay_floor: Duration,
    /// See [`Tuning::startup_delay`]: on long paths the queue startup leaves
    /// behind grows with this, so it is bounded.
    pub startup_delay_ceiling: Duration,
    /// A round trip losing more than this fraction of its bytes ends startup
    /// (a buffer too small for the overshoot) and, in cruise, caps the window
    /// at what was in flight. Random loss below it is ignored.
    pub loss_threshold: f64,
    /// Bandwidth-delay products are computed with at least this RTT, so that
    /// paths whose delay is mostly scheduling (loopback, LAN) get a window
    /// that covers it.
    pub rtt_floor: Duration,
    /// Whether to add the recent excess of acknowledgements over the model
    /// (ACK aggregation) to the window, as BBR does.
    pub aggregation: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            cruise_gain: 1.25,
            drain_gain: 1.0,
            drain_interval: Duration::from_millis(2500),
            startup_rtt_samples: 8,
            startup_delay: 0.125,
            startup_delay_floor: Duration::from_millis(2),
            startup_delay_ceiling: Duration::from_millis(8),
            loss_threshold: 0.2,
            rtt_floor: Duration::from_millis(2),
            aggregation: true,
        }
    }
}

/// Builds [`Bottleneck`] controllers.
#[derive(Debug, Clone)]
pub struct BottleneckConfig {
    initial_window: u64,
    rate_limit: Option<RateLimit>,
    tuning: Tuning,
}

impl BottleneckConfig {
    /// The window before the first round trip, in bytes.
    pub fn initial_window(&mut self, bytes: u64) -> &mut Self {
        self.initial_window = bytes;
        self
    }

    /// Caps the sending rate.
    pub fn rate_limit(&mut self, limit: Option<RateLimit>) -> &mut Self {
        self.rate_limit = limit;
        self
    }

    /// Replaces the tuning.
    pub fn tuning(&mut self, tuning: Tuning) -> &mut Self {
        self.tuning = tuning;
        self
    }
}

impl Default for BottleneckConfig {
    fn default() -> Self {
        Self {
            initial_window: INITIAL_WINDOW,
            rate_limit: None,
            tuning: Tuning::default(),
        }
    }
}

impl ControllerFactory for BottleneckConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(Bottleneck::new(self, now, current_mtu))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Doubling the window each round trip until the pipe is full.
    Startup,
    /// Holding the window at the modelled bandwidth-delay product times the
    /// cruise gain.
    Cruise,
}

/// A congestion controller that models the bottleneck's bandwidth (the
/// highest delivery rate of the last `BW_ROUNDS` round trips) and the
/// path's minimum RTT, and holds the window at their product times a gain.
///
/// Random loss does not shrink the model: a lost packet delivered nothing,
/// but the packets around it still measure the bottleneck. quinn paces every
/// window over 0.8 of the smoothed RTT, so the window is the one control.
#[derive(Debug, Clone)]
pub struct Bottleneck {
    config: Arc<BottleneckConfig>,
    mtu: u64,
    phase: Phase,
    cwnd: u64,
    in_flight: u64,
    smoothed_rtt: Duration,
    delivery: DeliveryRate,
    bw: RoundMax<BW_ROUNDS>,
    extra_acked: RoundMax<BW_ROUNDS>,
    min_rtt: MinRtt,
    round: u64,
    next_round_delivered: u64,
    // The acknowledgements of one batch (one ACK frame).
    batch_acked: u64,
    batch_rate: u64,
    batch_round_end: bool,
    // Losses in the current round trip.
    round_acked: u64,
    round_lost: u64,
    // Startup: the bandwidth at the last growth and rounds since.
    full_bw: u64,
    full_bw_rounds: u32,
    rtt_above: u32,
    // Cruise: the round that drains, and when the last one did.
    drain_round: Option<u64>,
    last_drain: Instant,
    // ACK aggregation epoch.
    epoch_start: Option<Instant>,
    epoch_acked: u64,
    // Cap after heavy loss: the window that overflowed the path.
    loss_cap: Option<u64>,
    heavy_rounds: u32,
    cruise_round: u64,
}

impl Bottleneck {
    fn new(config: Arc<BottleneckConfig>, now: Instant, mtu: u16) -> Self {
        let mtu = u64::from(mtu);
        Self {
            cwnd: config.initial_window.max(MIN_WINDOW_PACKETS * mtu),
            config,
            mtu,
            phase: Phase::Startup,
            in_flight: 0,
            smoothed_rtt: Duration::ZERO,
            delivery: DeliveryRate::default(),
            bw: RoundMax::new(),
            extra_acked: RoundMax::new(),
            min_rtt: MinRtt::new(MIN_RTT_WINDOW),
            round: 0,
            next_round_delivered: 0,
            batch_acked: 0,
            batch_rate: 0,
            batch_round_end: false,
            round_acked: 0,
            round_lost: 0,
            full_bw: 0,
            full_bw_rounds: 0,
            rtt_above: 0,
            drain_round: None,
            last_drain: now,
            epoch_start: None,
            epoch_acked: 0,
            loss_cap: None,
            heavy_rounds: 0,
            cruise_round: 0,
        }
    }

    fn tuning(&self) -> &Tuning {
        &self.config.tuning
    }

    fn min_window(&self) -> u64 {
        MIN_WINDOW_PACKETS * self.mtu
    }

    /// The bottleneck bandwidth estimate, bytes per second.
    fn bandwidth(&self) -> u64 {
        self.bw.get(self.round)
    }

    /// The modelled bandwidth-delay product scaled by `gain`, or `None`
    /// before the model has a bandwidth and an RTT.
    fn bdp(&self, gain: f64) -> Option<u64> {
        let bw = self.bandwidth();
        let rtt = self.min_rtt.get()?.max(self.tuning().rtt_floor);
        if bw == 0 {
            return None;
        }
        Some((bw as f64 * rtt.as_secs_f64() * gain) as u64)
    }

    fn cruise_target(&self) -> u64 {
        let draining = self.drain_round == Some(self.round);
        let gain = if draining {
            self.tuning().drain_gain
        } else {
            self.tuning().cruise_gain
        };
        let mut target = self.bdp(gain).unwrap_or(self.cwnd);
        if !draining && self.tuning().aggregation {
            target += self.extra_acked.get(self.round);
        }
        if let Some(cap) = self.loss_cap {
            target = target.min(cap);
        }
        target.max(self.min_window())
    }

    fn on_round_start(&mut self, now: Instant, app_limited: bool) {
        self.round += 1;
        self.next_round_delivered = self.delivery.delivered();
        let total = self.round_acked + self.round_lost;
        let heavy_loss =
            total > 0 && self.round_lost as f64 > self.tuning().loss_threshold * total as f64;
        self.round_acked = 0;
        self.round_lost = 0;
        match self.phase {
            Phase::Startup => {
                if app_limited {
                    return;
                }
                let bw = self.bandwidth();
                if bw as f64 >= self.full_bw as f64 * 1.25 {
                    self.full_bw = bw;
                    self.full_bw_rounds = 0;
                } else {
                    self.full_bw_rounds += 1;
                }
                if self.full_bw_rounds >= 3 || heavy_loss {
                    self.enter_cruise(now);
                }
            }
            Phase::Cruise => {
                // Two heavy rounds in a row, past the drops of startup's
                // overshoot: the path drops what the window pushes.
                self.heavy_rounds = if heavy_loss { self.heavy_rounds + 1 } else { 0 };
                if self.heavy_rounds >= 2 && self.round > self.cruise_round + 2 {
                    self.loss_cap = Some((self.in_flight.max(self.min_window()) * 7) / 8);
                } else if self.loss_cap.is_some() && self.drain_round == Some(self.round - 1) {
                    // Let it go after a drain round without heavy loss.
                    self.loss_cap = None;
                }
                if now.saturating_duration_since(self.last_drain) >= self.tuning().drain_interval {
                    self.drain_round = Some(self.round);
                    self.last_drain = now;
                }
            }
        }
    }

    fn enter_cruise(&mut self, now: Instant) {
        self.phase = Phase::Cruise;
        self.cruise_round = self.round;
        self.last_drain = now;
        // Whatever startup put in flight beyond the target drains by itself:
        // nothing more is sent until the window has room again.
        self.cwnd = self.cruise_target();
    }

    /// One acknowledged packet: `sent` is when it left, `smoothed_rtt` is
    /// quinn's estimate (the rate cap needs it).
    fn on_packet_acked(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        smoothed_rtt: Duration,
    ) {
        self.smoothed_rtt = smoothed_rtt;
        let sample_rtt = now.saturating_duration_since(sent);
        self.min_rtt.update(now, sample_rtt);
        let min_rtt = self.min_rtt.get().unwrap_or(sample_rtt);
        let delay = min_rtt.mul_f64(self.tuning().startup_delay).clamp(
            self.tuning().startup_delay_floor,
            self.tuning().startup_delay_ceiling,
        );
        if sample_rtt > min_rtt + delay {
            self.rtt_above += 1;
        } else {
            self.rtt_above = 0;
        }
        self.batch_acked += bytes;
        self.round_acked += bytes;
        let Some(sample) = self.delivery.on_ack(now, sent, bytes) else {
            return;
        };
        if sample.prior_delivered >= self.next_round_delivered {
            self.batch_round_end = true;
        }
        // Intervals shorter than the RTT come from compressed ACKs and
        // overstate the rate; app-limited samples only count when higher.
        if sample.interval < min_rtt {
            return;
        }
        if app_limited && sample.rate <= self.bandwidth() {
            return;
        }
        self.batch_rate = self.batch_rate.max(sample.rate);
    }

    fn update_aggregation(&mut self, now: Instant) {
        let bw = self.bandwidth();
        let start = *self.epoch_start.get_or_insert(now);
        let expected = (bw as f64 * now.saturating_duration_since(start).as_secs_f64()) as u64;
        if self.epoch_acked <= expected {
            self.epoch_start = Some(now);
            self.epoch_acked = self.batch_acked;
            return;
        }
        self.epoch_acked += self.batch_acked;
        let extra = self.epoch_acked - expected;
        // Never more than half the modelled pipe again: this is headroom for
        // bursty acknowledgements, not a second queue.
        let bound = self.bdp(0.5).unwrap_or(0);
        self.extra_acked.update(self.round, extra.min(bound));
    }
}

impl Controller for Bottleneck {
    fn on_sent(&mut self, now: Instant, bytes: u64, _last_packet_number: u64) {
        self.delivery.on_sent(now, self.in_flight == 0);
        self.in_flight += bytes;
    }

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        self.on_packet_acked(now, sent, bytes, app_limited, rtt.get());
    }

    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        app_limited: bool,
        _largest_packet_num_acked: Option<u64>,
    ) {
        self.in_flight = in_flight;
        if self.batch_rate > 0 {
            self.bw.update(self.round, self.batch_rate);
        }
        if self.batch_round_end {
            self.on_round_start(now, app_limited);
        }
        if self.tuning().aggregation {
            self.update_aggregation(now);
        }
        match self.phase {
            Phase::Startup => {
                if self.rtt_above >= self.tuning().startup_rtt_samples {
                    self.enter_cruise(now);
                } else if !app_limited {
                    self.cwnd += self.batch_acked;
                }
            }
            Phase::Cruise => {
                let target = self.cruise_target();
                self.cwnd = if self.cwnd < target {
                    (self.cwnd + self.batch_acked).min(target)
                } else {
                    target
                };
            }
        }
        self.cwnd = self.cwnd.max(self.min_window());
        self.batch_acked = 0;
        self.batch_rate = 0;
        self.batch_round_end = false;
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        _sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    ) {
        self.round_lost += lost_bytes;
        self.in_flight = self.in_flight.saturating_sub(lost_bytes);
        if is_persistent_congestion {
            // Everything sent for several RTTs was lost: the model is stale.
            self.bw.reset();
            self.extra_acked.reset();
            self.full_bw = 0;
            self.full_bw_rounds = 0;
            self.phase = Phase::Startup;
            self.cwnd = self.min_window();
        } else if lost_bytes == 0 {
            // ECN: the bottleneck marks a queue. Leave startup, back off once.
            if self.phase == Phase::Startup {
                self.enter_cruise(now);
            }
            self.cwnd = (self.cwnd * 7 / 8).max(self.min_window());
        }
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.mtu = u64::from(new_mtu);
        self.cwnd = self.cwnd.max(self.min_window());
    }

    fn window(&self) -> u64 {
        let mut window = self.cwnd;
        if let Some(limit) = self.config.rate_limit {
            // A window sent each RTT is the rate. The exact cap is the token
            // bucket the streams take from (`crate::limit`); this one only
            // keeps bursts near it on long paths, so it allows twice the rate
            // and never fewer than 16 packets (below a few packets the peer
            // delays its ACKs and a short path would stall under the cap).
            let capped = (2 * limit.bytes_in(self.smoothed_rtt)).max(16 * self.mtu);
            window = window.min(capped);
        }
        window
    }

    fn metrics(&self) -> ControllerMetrics {
        let mut metrics = ControllerMetrics::default();
        metrics.congestion_window = self.window();
        metrics.pacing_rate = Some(self.bandwidth().saturating_mul(8));
        metrics
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn initial_window(&self) -> u64 {
        self.config.initial_window
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A bottleneck link in simulated time: random loss on arrival, a
    /// drop-tail queue, serialization at `rate`, then `delay` each way, as
    /// `shared/tools/wan` models it. ACKs come back one per packet.
    struct Link {
        rate: u64,
        delay: Duration,
        loss: f64,
        queue_packets: usize,
    }

    #[derive(Default)]
    struct Outcome {
        /// Bytes delivered in the last `measure` of the run.
        delivered: u64,
        queue_drops_after_startup: u64,
        max_window: u64,
        last_window: u64,
    }

    const PACKET: u64 = 1200;

    fn simulate(
        link: &Link,
        config: BottleneckConfig,
        run: Duration,
        measure: Duration,
    ) -> Outcome {
        let t0 = Instant::now();
        let tick = Duration::from_micros(100);
        let service = Duration::from_nanos(PACKET * 1_000_000_000 / link.rate);
        let mut cc = Bottleneck::new(Arc::new(config), t0, PACKET as u16);
        // (ack time, sent time, lost) in send order.
        let mut flight: VecDeque<(Instant, Instant, bool)> = VecDeque::new();
        let mut queue_tail = t0;
        let mut in_flight = 0u64;
        let mut srtt = Duration::ZERO;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut out = Outcome::default();
        let mut pn = 0u64;
        let mut now = t0;
        while now < t0 + run {
            now += tick;
            let mut acked_any = false;
            while let Some(&(at, sent, lost)) = flight.front() {
                if at > now {
                    break;
                }
                flight.pop_front();
                in_flight -= PACKET;
                if lost {
                    cc.on_congestion_event(now, sent, false, PACKET);
                    continue;
                }
                let rtt = now - sent;
                srtt = if srtt.is_zero() {
                    rtt
                } else {
                    (srtt * 7 + rtt) / 8
                };
                cc.on_packet_acked(now, sent, PACKET, false, srtt);
                acked_any = true;
                if now >= t0 + run - measure {
                    out.delivered += PACKET;
                }
            }
            if acked_any {
                cc.on_end_acks(now, in_flight, false, None);
            }
            while in_flight + PACKET < cc.window() {
                pn += 1;
                cc.on_sent(now, PACKET, pn);
                in_flight += PACKET;
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let random_loss = (seed % 1_000_000) as f64 / 1e6 < link.loss;
                let backlog = queue_tail.saturating_duration_since(now);
                let queued = (backlog.as_nanos() / service.as_nanos()) as usize;
                let dropped = !random_loss && queued >= link.queue_packets;
                if dropped && now > t0 + Duration::from_secs(1) {
                    out.queue_drops_after_startup += 1;
                }
                if random_loss || dropped {
                    // Declared lost about when its ACK would have come.
                    flight.push_back((now + link.delay * 2 + backlog, now, true));
                    continue;
                }
                queue_tail = queue_tail.max(now) + service;
                flight.push_back((queue_tail + link.delay * 2, now, false));
            }
            out.max_window = out.max_window.max(cc.window());
        }
        out.last_window = cc.window();
        out
    }

    fn wan(loss: f64, delay_ms: u64) -> Link {
        let rate = 12_500_000;
        let delay = Duration::from_millis(delay_ms);
        let bdp_packets = (rate as f64 * 2.0 * delay.as_secs_f64() / 1500.0).ceil() as usize;
        Link {
            rate,
            delay,
            loss,
            queue_packets: bdp_packets.max(100),
        }
    }

    fn share(out: &Outcome, link: &Link, measure: Duration) -> f64 {
        out.delivered as f64 / (link.rate as f64 * measure.as_secs_f64())
    }

    #[test]
    fn fills_a_clean_link_without_queue_drops() {
        let link = wan(0.0, 25);
        let measure = Duration::from_secs(3);
        let out = simulate(
            &link,
            BottleneckConfig::default(),
            Duration::from_secs(6),
            measure,
        );
        assert!(
            share(&out, &link, measure) > 0.97,
            "{}",
            share(&out, &link, measure)
        );
        assert_eq!(out.queue_drops_after_startup, 0);
        // The window settles near 1.25 bandwidth-delay products, not at the
        // queue's limit (2 BDP here).
        let bdp = link.rate / 20;
        assert!(
            out.last_window < bdp * 17 / 10,
            "window {} bdp {bdp}",
            out.last_window
        );
    }

    #[test]
    fn random_loss_does_not_collapse_the_window() {
        for (loss, delay) in [(0.01, 25), (0.03, 100), (0.05, 25)] {
            let link = wan(loss, delay);
            let measure = Duration::from_secs(4);
            let out = simulate(
                &link,
                BottleneckConfig::default(),
                Duration::from_secs(10),
                measure,
            );
            let got = share(&out, &link, measure);
            assert!(
                got > 0.9,
                "loss {loss}, delay {delay}: {got:.3} of the link"
            );
        }
    }

    #[test]
    fn the_rate_limit_keeps_bursts_near_the_rate() {
        let link = wan(0.0, 25);
        let mut config = BottleneckConfig::default();
        config.rate_limit(RateLimit::from_bytes_per_second(2_000_000));
        let measure = Duration::from_secs(3);
        let out = simulate(&link, config, Duration::from_secs(6), measure);
        let rate = out.delivered as f64 / measure.as_secs_f64();
        assert!((1_600_000.0..=4_200_000.0).contains(&rate), "{rate:.0} B/s");
    }
}
