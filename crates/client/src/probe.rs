//! Fast failure when nothing listens: quinn ignores the ICMP "port
//! unreachable" a host sends back for a datagram to a closed UDP port, so a
//! handshake with nobody would wait out the whole connect timeout. A
//! connected UDP socket, though, hears that ICMP as `ECONNREFUSED` on its
//! next receive. [`refused`] sends a one-byte datagram from such a socket to
//! the server's address, a few times over a few seconds, and resolves as
//! soon as the host says nobody is there.
//!
//! A one-byte datagram cannot be a QUIC packet (the shortest is far
//! longer), so a real server drops it without a reply and carries on. Where
//! no ICMP comes back (a firewall drops it, or the host is down), this
//! never resolves and the connect timeout decides, as before.

use std::{future::pending, net::SocketAddr, time::Duration};

use tokio::net::UdpSocket;

/// When to send the probe, from the start of the attempt: the first at once,
/// then again in case the first datagram or its answer was lost (or the
/// host rate-limited its ICMP).
const PROBES_AT: [Duration; 5] = [
    Duration::from_millis(0),
    Duration::from_millis(150),
    Duration::from_millis(400),
    Duration::from_millis(900),
    Duration::from_millis(2000),
];

/// Resolves when the host at `addr` answers that no socket is bound to the
/// port; never otherwise.
pub(crate) async fn refused(addr: SocketAddr) {
    let bind: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let Ok(socket) = UdpSocket::bind(bind).await else {
        return pending().await;
    };
    if socket.connect(addr).await.is_err() {
        return pending().await;
    }
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 16];
    for (i, at) in PROBES_AT.iter().enumerate() {
        tokio::time::sleep_until(start + *at).await;
        if socket.send(&[0]).await.is_err() {
            // Some systems report the refusal on the next send.
            return;
        }
        let until = PROBES_AT
            .get(i + 1)
            .map_or(start + *at + Duration::from_secs(1), |next| start + *next);
        loop {
            match tokio::time::timeout_at(until, socket.recv(&mut buf)).await {
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
                // Anything else that answered is not ours to judge.
                Ok(Ok(_) | Err(_)) => {}
                Err(_) => break,
            }
        }
    }
    pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_on_loopback_is_refused_and_an_open_one_is_not() {
        // A port that was just free.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // Against a hang, not a speed: the ICMP comes back within
        // milliseconds on loopback.
        tokio::time::timeout(Duration::from_secs(20), refused(closed))
            .await
            .expect("the host said port unreachable");

        let open = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = open.local_addr().unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(1500), refused(addr)).await;
        assert!(waited.is_err(), "a bound port is never reported as refused");
        let mut buf = [0u8; 16];
        let (n, _) = open.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &[0], "the probe is one byte");
    }
}
