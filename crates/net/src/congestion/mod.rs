//! Congestion control: [`Bottleneck`], a controller that models the path's
//! bottleneck bandwidth and round-trip time and holds the window at their
//! product, as BBR does, instead of halving it on every loss.
//!
//! - [`bottleneck`]: the controller and its factory, [`BottleneckConfig`].
//! - `delivery`: delivery-rate samples taken from quinn's acknowledgements.
//! - `filter`: the windowed maximum and minimum the model keeps.
//! - [`rate`]: [`RateLimit`], the user's bandwidth cap.
//!
//! ## Why this shape
//!
//! quinn 0.11 gives a controller one output, the window, and paces each
//! window over 0.8 of the smoothed RTT; a window-limited flow therefore sends
//! one window per round trip. So the controller sets the window from its
//! model: `1.25 x bandwidth x min RTT` (plus recent ACK aggregation, at most
//! half a pipe) keeps the bottleneck busy with a quarter of a pipe queued,
//! and the 25 % also lets the estimate climb within rounds when the path gets
//! faster. Random loss leaves the model alone; only a quarter-second-scale
//! pattern of heavy loss (two round trips losing over 20 %) caps the window.
//!
//! - Startup doubles from [`bottleneck::INITIAL_WINDOW`] (128 x 1200 B) and
//!   ends when 8 RTT samples in a row sit `min RTT / 8` (2 to 8 ms) above the
//!   minimum, or the bandwidth stops growing for 3 rounds. The 8 ms ceiling
//!   keeps the overshoot inside a one-BDP queue on long paths.
//! - Every 2.5 s one round runs at exactly the modelled pipe, which empties
//!   the queue so the minimum RTT (a 5-10 s windowed minimum) stays true.
//! - BDPs use at least 2 ms of RTT: on loopback the delay is scheduling, and
//!   a window of 20 us x bandwidth (a few packets) ran at 50 MB/s.
//!
//! Measured through `shared/tools/wan` at 100 Mbit/s: quinn's Cubic collapses
//! under 1 % loss, quinn's BBR (window 2-3 BDP) overfills the queue; this
//! controller keeps 88-92 % of the link at 50 ms with 0-1 % loss and about
//! 75 % at 200 ms with 3 % loss, with a tenth of TCP BBR's queue drops. See
//! `bench/wan.sh`.

pub mod bottleneck;
mod delivery;
mod filter;
pub mod rate;

pub use bottleneck::{Bottleneck, BottleneckConfig, Tuning};
pub use rate::{ParseRateError, RateLimit};
