//! Transport tuning, sockets and the crypto provider, shared by both ends.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::congestion::{BottleneckConfig, RateLimit};

/// Bytes one stream may have in flight, and all streams of a connection
/// together: 16 MiB fills 1.3 Gbit/s at 100 ms round trip, while bounding
/// what a connection buffers. On loopback 16 and 64 MiB measured the same
/// (`/tmp`-style A/B of `ferry get` of 1 GiB and of 32 x 32 MiB), and 64 MiB
/// let the server's memory peak at 218 MB serving 32 files at once.
pub const STREAM_WINDOW: u32 = 16 << 20;
/// See [`STREAM_WINDOW`].
pub const CONNECTION_WINDOW: u32 = 16 << 20;
/// Streams a peer may have open at once.
pub const MAX_STREAMS: u32 = 1024;
/// UDP socket buffer asked for; machines usually cap it (here at 4 MiB).
pub const SOCKET_BUFFER: usize = 4 << 20;
/// A connection with no traffic for this long is dead: a dead server or a
/// blackholed path is given up on after this (and a batch reconnects).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Both ends send something at least this often. It keeps idle shells
/// connected, lets the idle timeout tell a quiet peer from a dead one, and
/// makes a client whose address changed (a new network) announce its new
/// address within a second even while it only receives: a downloading
/// client otherwise sends nothing until data reaches it again, which it
/// cannot at its old address.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// What one end chooses on top of the fixed transport parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportOptions {
    /// Cap on the rate of this end (`--limit`): the congestion controller
    /// keeps its bursts near it, the receive window starts at a second of it,
    /// and [`crate::limit::Limiter`] on the streams enforces it.
    pub rate_limit: Option<RateLimit>,
}

/// The transport parameters both ends use, with `options`: ferry's
/// congestion controller ([`crate::congestion::Bottleneck`]), capped at the
/// rate limit if there is one.
pub fn transport_config_with(options: &TransportOptions) -> TransportConfig {
    let mut congestion = BottleneckConfig::default();
    congestion.rate_limit(options.rate_limit);
    let mut t = TransportConfig::default();
    t.congestion_controller_factory(Arc::new(congestion));
    let window = receive_window(options);
    t.max_concurrent_bidi_streams(VarInt::from_u32(MAX_STREAMS))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(STREAM_WINDOW))
        .receive_window(VarInt::from_u32(window))
        .send_window(u64::from(CONNECTION_WINDOW))
        .max_idle_timeout(IdleTimeout::try_from(IDLE_TIMEOUT).ok())
        .keep_alive_interval(Some(KEEP_ALIVE));
    t
}

/// The connection receive window of an end with `options`: a limited end
/// grants less credit from the start (a second of its limit), so a sender
/// cannot burst a whole window before the limited reads hold it back.
fn receive_window(options: &TransportOptions) -> u32 {
    match options.rate_limit {
        Some(limit) => {
            let second = limit.bytes_in(Duration::from_secs(1)).max(64 << 10);
            u32::try_from(second)
                .unwrap_or(u32::MAX)
                .min(CONNECTION_WINDOW)
        }
        None => CONNECTION_WINDOW,
    }
}

/// The transport parameters with `options`, ready for a quinn config.
pub fn shared_transport_config(options: &TransportOptions) -> Arc<TransportConfig> {
    Arc::new(transport_config_with(options))
}

/// Bytes a server lets a peer send before it knows who the peer is: enough
/// for an enrollment request, small enough that an unknown peer costs
/// nothing worth mentioning. An admitted client gets [`CONNECTION_WINDOW`]
/// the moment it is admitted ([`admit`]), within the first round trip, when
/// congestion control would not let it send more anyway.
pub const UNAUTHENTICATED_WINDOW: u32 = 64 << 10;
/// Streams a server lets a peer open before it knows who the peer is: the
/// first requests of a batch need not wait for the admission.
pub const UNAUTHENTICATED_STREAMS: u32 = 32;

/// The server's transport parameters: [`transport_config_with`] `options`
/// with the small limits of [`UNAUTHENTICATED_WINDOW`] and
/// [`UNAUTHENTICATED_STREAMS`] until [`admit`] raises them.
pub fn server_transport_config(options: &TransportOptions) -> Arc<TransportConfig> {
    let mut t = transport_config_with(options);
    t.max_concurrent_bidi_streams(VarInt::from_u32(UNAUTHENTICATED_STREAMS))
        .receive_window(VarInt::from_u32(UNAUTHENTICATED_WINDOW));
    Arc::new(t)
}

/// Gives an admitted client's connection the full limits of
/// [`transport_config_with`] `options`.
pub fn admit(conn: &quinn::Connection, options: &TransportOptions) {
    conn.set_receive_window(VarInt::from_u32(receive_window(options)));
    conn.set_max_concurrent_bi_streams(VarInt::from_u32(MAX_STREAMS));
}

/// Binds a UDP socket with large buffers (best effort: the kernel caps them).
pub fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Accept IPv4 too when bound to the unspecified IPv6 address.
        let _ = socket.set_only_v6(false);
    }
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The crypto provider both ends use (ring), named explicitly so that no
/// process-wide default is needed.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
