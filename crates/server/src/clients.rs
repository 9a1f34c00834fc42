//! Who may connect, and how much each may take.
//!
//! [`Clients`] holds the authorized clients as last read from
//! `authorized_clients` (re-read whenever the file changes, so `ferry allow`,
//! `ferry revoke` and hand edits apply within a second), and every admitted
//! connection by client, so that a revoked client's connections are closed
//! at once. It also counts connections and requests in flight per client
//! identity and per address against the [`Limits`], gives each client its
//! share of the memory budget, and redeems invite tokens, rate-limiting
//! wrong ones per address.
//!
//! Counts are kept by guards ([`AddressSlot`], [`Admission`],
//! [`RequestSlot`], [`WaitingSlot`]) that give their slot back when dropped,
//! so a task that ends in any way releases what it held.

use std::{
    collections::HashMap,
    net::IpAddr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock},
    time::{Instant, SystemTime},
};

use ferry_proto::{ErrorCode, Fingerprint, WireError};
use ferry_trust::{
    invites, Access, AuthorizedClient, AuthorizedClients, ClientsError, InviteError,
};

use crate::{
    budget::{Budget, Pool},
    context::{Limits, Rights},
};

/// What the server makes of a peer that completed its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve it.
    Admit {
        /// Its name, when it is listed.
        name: Option<String>,
        /// What it may do.
        rights: Rights,
    },
    /// A certificate that is not listed.
    Unknown,
    /// No certificate at all.
    NoCertificate,
}

/// Whom counts and budgets are kept for: a certificate, or, for a client
/// without one (admitted only with `--allow-anyone`), its address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    Cert(Fingerprint),
    Anonymous(IpAddr),
}

impl ClientKey {
    pub(crate) fn new(fp: Option<Fingerprint>, ip: IpAddr) -> Self {
        fp.map_or(ClientKey::Anonymous(ip), ClientKey::Cert)
    }
}

/// The server's clients; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Clients {
    dir: PathBuf,
    allow_anyone: bool,
    read_only: bool,
    limits: Limits,
    server_budget: Pool,
    listed: RwLock<Listed>,
    live: Mutex<Live>,
    wrong_tokens: Mutex<HashMap<IpAddr, Strikes>>,
}

/// The authorized clients as last read.
#[derive(Debug, Default)]
struct Listed {
    clients: HashMap<Fingerprint, AuthorizedClient>,
    stamp: Option<Stamp>,
    loaded: bool,
}

/// Enough of a file's metadata to notice that it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
        })
    }
}

#[derive(Debug, Default)]
struct Live {
    clients: HashMap<ClientKey, LiveClient>,
    addresses: HashMap<IpAddr, LiveAddress>,
    waiting: usize,
    next_id: u64,
}

#[derive(Debug)]
struct LiveClient {
    connections: Vec<LiveConnection>,
    requests: usize,
    budget: Pool,
}

#[derive(Debug)]
struct LiveConnection {
    id: u64,
    conn: quinn::Connection,
    name: Option<String>,
    rights: Rights,
}

#[derive(Debug, Default)]
struct LiveAddress {
    connections: usize,
    requests: usize,
}

/// Wrong tokens from one address in the current window.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    since: Instant,
    count: u32,
}

impl Clients {
    /// Reads the authorized clients of the state directory `dir`.
    pub(crate) fn open(
        dir: &Path,
        allow_anyone: bool,
        read_only: bool,
        limits: Limits,
    ) -> Result<Arc<Self>, ClientsError> {
        let clients = Arc::new(Clients {
            dir: dir.to_owned(),
            allow_anyone,
            read_only,
            server_budget: Budget::pool(limits.server_budget),
            limits,
            listed: RwLock::new(Listed::default()),
            live: Mutex::new(Live::default()),
            wrong_tokens: Mutex::new(HashMap::new()),
        });
        clients.reload()?;
        Ok(clients)
    }

    /// How many clients are listed.
    pub(crate) fn listed(&self) -> usize {
        read(&self.listed).clients.len()
    }

    /// Re-reads the authorized clients if the file changed, and closes the
    /// connections of clients that lost their access or whose rights
    /// changed (they may connect again with the new ones).
    pub(crate) fn reload(&self) -> Result<(), ClientsError> {
        let path = AuthorizedClients::path_in(&self.dir);
        let stamp = Stamp::of(&path);
        let first = {
            let listed = read(&self.listed);
            if listed.loaded && stamp == listed.stamp {
                return Ok(());
            }
            !listed.loaded
        };
        let list = AuthorizedClients::load(&self.dir)?;
        for line in list.ignored() {
            tracing::warn!(
                "{} line {} ignored: {}",
                path.display(),
                line.number,
                line.why
            );
        }
        let clients: HashMap<_, _> = list
            .clients()
            .into_iter()
            .map(|c| (c.fingerprint, c))
            .collect();
        let count = clients.len();
        *write(&self.listed) = Listed {
            clients,
            stamp,
            loaded: true,
        };
        if !first {
            tracing::info!("{} changed: {count} client(s)", path.display());
            self.close_changed();
        }
        Ok(())
    }

    /// Closes every live connection whose client would not be admitted as
    /// it was now.
    fn close_changed(&self) {
        let live = lock(&self.live);
        for (key, client) in &live.clients {
            let ClientKey::Cert(fp) = key else { continue };
            for c in &client.connections {
                let who = match &c.name {
                    Some(name) => format!("{name} ({fp}) at {}", c.conn.remote_address()),
                    None => format!("{fp} at {}", c.conn.remote_address()),
                };
                match self.settle(Some(*fp)) {
                    Verdict::Admit { rights, .. } if rights == c.rights => {}
                    Verdict::Admit { rights, .. } => {
                        tracing::info!(peer = %who, "rights changed to {}: connection closed", rights.as_str());
                        c.conn.close(
                            ferry_net::codes::UNAUTHORIZED,
                            format!(
                                "this client's rights on the server changed (now {}); connect again",
                                rights.as_str()
                            )
                            .as_bytes(),
                        );
                    }
                    Verdict::Unknown | Verdict::NoCertificate => {
                        tracing::warn!(peer = %who, "access revoked: connection closed");
                        c.conn.close(
                            ferry_net::codes::UNAUTHORIZED,
                            format!("the server's operator revoked the access of client {fp}")
                                .as_bytes(),
                        );
                    }
                }
            }
        }
    }

    /// Whether a peer presenting `fp` (or no certificate) is served, and
    /// how.
    pub(crate) fn settle(&self, fp: Option<Fingerprint>) -> Verdict {
        let rights = |access| {
            if self.read_only {
                Rights::ServerReadOnly
            } else if access == Access::ReadOnly {
                Rights::ReadOnly
            } else {
                Rights::ReadWrite
            }
        };
        let Some(fp) = fp else {
            return if self.allow_anyone {
                Verdict::Admit {
                    name: None,
                    rights: rights(Access::ReadWrite),
                }
            } else {
                Verdict::NoCertificate
            };
        };
        match read(&self.listed).clients.get(&fp) {
            Some(c) => Verdict::Admit {
                name: Some(c.name.clone()),
                rights: rights(c.access),
            },
            None if self.allow_anyone => Verdict::Admit {
                name: None,
                rights: rights(Access::ReadWrite),
            },
            None => Verdict::Unknown,
        }
    }

    /// A connection slot for `ip`, taken before the handshake; `None` when
    /// the address has [`Limits::connections_per_address`] already.
    pub(crate) fn address_slot(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let mut live = lock(&self.live);
        let addr = live.addresses.entry(ip).or_default();
        if addr.connections >= self.limits.connections_per_address {
            return None;
        }
        addr.connections += 1;
        Some(AddressSlot {
            clients: self.clone(),
            ip,
        })
    }

    /// Registers an admitted connection; refused (with the reason) when the
    /// client has [`Limits::connections_per_client`] already.
    pub(crate) fn admit(
        self: &Arc<Self>,
        key: ClientKey,
        conn: &quinn::Connection,
        name: Option<String>,
        rights: Rights,
    ) -> Result<Admission, String> {
        let mut live = lock(&self.live);
        let id = live.next_id;
        live.next_id += 1;
        let limit = self.limits.connections_per_client;
        let client_budget = self.limits.client_budget;
        let client = live
            .clients
            .entry(key.clone())
            .or_insert_with(|| LiveClient {
                connections: Vec::new(),
                requests: 0,
                budget: Budget::pool(client_budget),
            });
        // An anonymous client is only an address, which has its own cap.
        if matches!(key, ClientKey::Cert(_)) && client.connections.len() >= limit {
            let why = format!(
                "too many connections from this client (limit {limit}); close some and try again"
            );
            return Err(why);
        }
        client.connections.push(LiveConnection {
            id,
            conn: conn.clone(),
            name,
            rights,
        });
        let budget = Budget::new(client.budget.clone(), self.server_budget.clone());
        Ok(Admission {
            clients: self.clone(),
            key,
            id,
            budget,
        })
    }

    /// A slot for one request of `key` from `ip`; refused (with the reason)
    /// at [`Limits::requests_per_client`] or [`Limits::requests_per_address`].
    pub(crate) fn request_slot(
        self: &Arc<Self>,
        key: &ClientKey,
        ip: IpAddr,
    ) -> Result<RequestSlot, String> {
        let mut live = lock(&self.live);
        let (per_client, per_address) = (
            self.limits.requests_per_client,
            self.limits.requests_per_address,
        );
        let at_address = live.addresses.get(&ip).map_or(0, |a| a.requests);
        if at_address >= per_address {
            return Err(format!(
                "too many requests in flight from {ip} (limit {per_address}); wait for some to finish"
            ));
        }
        let Some(client) = live.clients.get_mut(key) else {
            return Err("this connection is no longer admitted".to_owned());
        };
        if client.requests >= per_client {
            return Err(format!(
                "too many requests in flight from this client (limit {per_client}); wait for some to finish"
            ));
        }
        client.requests += 1;
        live.addresses.entry(ip).or_default().requests += 1;
        Ok(RequestSlot {
            clients: self.clone(),
            key: key.clone(),
            ip,
        })
    }

    /// A slot for a peer that is not admitted and may still enroll; `None`
    /// at [`Limits::unauthenticated_peers`].
    pub(crate) fn waiting_slot(self: &Arc<Self>) -> Option<WaitingSlot> {
        let mut live = lock(&self.live);
        if live.waiting >= self.limits.unauthenticated_peers {
            return None;
        }
        live.waiting += 1;
        Some(WaitingSlot {
            clients: self.clone(),
        })
    }

    /// Whether any invite could be redeemed now (reads the invites file).
    pub(crate) async fn invites_open(&self) -> bool {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || invites::open_count(&dir, SystemTime::now()))
            .await
            .ok()
            .and_then(Result::ok)
            .is_some_and(|n| n > 0)
    }

    /// Redeems `token` for the client `fp` at `ip`; wrong tokens count
    /// against the address.
    pub(crate) async fn enroll(
        self: &Arc<Self>,
        ip: IpAddr,
        fp: Fingerprint,
        token: String,
        name: Option<String>,
    ) -> Result<AuthorizedClient, WireError> {
        self.check_strikes(ip)?;
        let clients = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let result =
                invites::enroll(&clients.dir, &token, fp, name.as_deref(), SystemTime::now());
            if result.is_ok() {
                // Admit it from its next connection on, without waiting for
                // the file to be polled.
                if let Err(e) = clients.reload() {
                    tracing::warn!("cannot re-read the authorized clients: {e}");
                }
            }
            result
        })
        .await
        .map_err(|_| WireError::new(ErrorCode::Io, "enrollment failed on the server"))?;
        let enrolled = match result {
            Ok(enrolled) => enrolled,
            Err(e @ (InviteError::Unknown | InviteError::Used | InviteError::Expired { .. })) => {
                self.strike(ip);
                return Err(WireError::new(
                    ErrorCode::Unauthorized,
                    format!("{e}; ask the server's operator for a new one (`ferry invite`)"),
                ));
            }
            Err(e) => {
                tracing::error!("enrollment of {fp} at {ip} failed: {e}");
                return Err(WireError::new(
                    ErrorCode::Io,
                    "the server could not record the enrollment; see its log",
                ));
            }
        };
        if enrolled.spent {
            tracing::info!(
                "enrolled {} ({fp}) at {ip}, {}",
                enrolled.client.name,
                enrolled.client.access
            );
        }
        Ok(enrolled.client)
    }

    fn check_strikes(&self, ip: IpAddr) -> Result<(), WireError> {
        let strikes = lock(&self.wrong_tokens).get(&ip).copied();
        let window = self.limits.wrong_token_window;
        match strikes {
            Some(s) if s.count >= self.limits.wrong_tokens && s.since.elapsed() < window => {
                let left = window.saturating_sub(s.since.elapsed()).as_secs() + 1;
                Err(WireError::new(
                    ErrorCode::Busy,
                    format!("too many wrong invite tokens from {ip}; try again in {left} s"),
                ))
            }
            _ => Ok(()),
        }
    }

    fn strike(&self, ip: IpAddr) {
        let window = self.limits.wrong_token_window;
        let mut map = lock(&self.wrong_tokens);
        if map.len() >= 4096 {
            map.retain(|_, s| s.since.elapsed() < window);
        }
        let now = Instant::now();
        let s = map.entry(ip).or_insert(Strikes {
            since: now,
            count: 0,
        });
        if s.since.elapsed() >= window {
            *s = Strikes {
                since: now,
                count: 0,
            };
        }
        s.count += 1;
        tracing::warn!("wrong invite token from {ip} ({} in this window)", s.count);
    }
}

/// Forgets a client with nothing left open.
fn drop_if_idle(live: &mut Live, key: &ClientKey) {
    if live
        .clients
        .get(key)
        .is_some_and(|c| c.connections.is_empty() && c.requests == 0)
    {
        live.clients.remove(key);
    }
}

fn drop_address_if_idle(live: &mut Live, ip: IpAddr) {
    if live
        .addresses
        .get(&ip)
        .is_some_and(|a| a.connections == 0 && a.requests == 0)
    {
        live.addresses.remove(&ip);
    }
}

/// A connection counted against its address, from before the handshake.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut live = lock(&self.clients.live);
        if let Some(a) = live.addresses.get_mut(&self.ip) {
            a.connections = a.connections.saturating_sub(1);
        }
        drop_address_if_idle(&mut live, self.ip);
    }
}

/// An admitted connection, registered for revocation and counted against
/// its client.
#[derive(Debug)]
pub(crate) struct Admission {
    clients: Arc<Clients>,
    key: ClientKey,
    id: u64,
    budget: Budget,
}

impl Admission {
    /// The memory budget of this connection's client.
    pub(crate) fn budget(&self) -> Budget {
        self.budget.clone()
    }

    /// Whom it counts against.
    pub(crate) fn key(&self) -> &ClientKey {
        &self.key
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut live = lock(&self.clients.live);
        if let Some(c) = live.clients.get_mut(&self.key) {
            c.connections.retain(|c| c.id != self.id);
        }
        drop_if_idle(&mut live, &self.key);
    }
}

/// A request in flight, counted against its client and address.
#[derive(Debug)]
pub(crate) struct RequestSlot {
    clients: Arc<Clients>,
    key: ClientKey,
    ip: IpAddr,
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        let mut live = lock(&self.clients.live);
        if let Some(c) = live.clients.get_mut(&self.key) {
            c.requests = c.requests.saturating_sub(1);
        }
        if let Some(a) = live.addresses.get_mut(&self.ip) {
            a.requests = a.requests.saturating_sub(1);
        }
        drop_if_idle(&mut live, &self.key);
        drop_address_if_idle(&mut live, self.ip);
    }
}

/// A peer that is not admitted, waiting to enroll.
#[derive(Debug)]
pub(crate) struct WaitingSlot {
    clients: Arc<Clients>,
}

impl Drop for WaitingSlot {
    fn drop(&mut self) {
        let mut live = lock(&self.clients.live);
        live.waiting = live.waiting.saturating_sub(1);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn fp(seed: &[u8]) -> Fingerprint {
        Fingerprint::of_der(seed)
    }

    #[test]
    fn verdicts_follow_the_list_and_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (rw, ro, stranger) = (fp(b"rw"), fp(b"ro"), fp(b"x"));
        AuthorizedClients::allow(dir.path(), rw, Some("rw"), Access::ReadWrite).unwrap();
        AuthorizedClients::allow(dir.path(), ro, Some("ro"), Access::ReadOnly).unwrap();

        let strict = Clients::open(dir.path(), false, false, Limits::default()).unwrap();
        assert_eq!(strict.listed(), 2);
        assert_eq!(
            strict.settle(Some(rw)),
            Verdict::Admit {
                name: Some("rw".into()),
                rights: Rights::ReadWrite
            }
        );
        assert_eq!(
            strict.settle(Some(ro)),
            Verdict::Admit {
                name: Some("ro".into()),
                rights: Rights::ReadOnly
            }
        );
        assert_eq!(strict.settle(Some(stranger)), Verdict::Unknown);
        assert_eq!(strict.settle(None), Verdict::NoCertificate);

        let open = Clients::open(dir.path(), true, false, Limits::default()).unwrap();
        assert_eq!(
            open.settle(Some(stranger)),
            Verdict::Admit {
                name: None,
                rights: Rights::ReadWrite
            }
        );
        assert!(matches!(open.settle(None), Verdict::Admit { .. }));

        let read_only = Clients::open(dir.path(), true, true, Limits::default()).unwrap();
        for who in [Some(rw), Some(stranger), None] {
            assert!(matches!(
                read_only.settle(who),
                Verdict::Admit {
                    rights: Rights::ServerReadOnly,
                    ..
                }
            ));
        }
    }

    #[test]
    fn the_list_is_reread_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let a = fp(b"a");
        let clients = Clients::open(dir.path(), false, false, Limits::default()).unwrap();
        assert_eq!(clients.settle(Some(a)), Verdict::Unknown);
        AuthorizedClients::allow(dir.path(), a, Some("a"), Access::ReadOnly).unwrap();
        clients.reload().unwrap();
        assert!(matches!(
            clients.settle(Some(a)),
            Verdict::Admit {
                rights: Rights::ReadOnly,
                ..
            }
        ));
        // A hand edit.
        let path = AuthorizedClients::path_in(dir.path());
        std::fs::write(&path, format!("{a} a read-write\n")).unwrap();
        clients.reload().unwrap();
        assert!(matches!(
            clients.settle(Some(a)),
            Verdict::Admit {
                rights: Rights::ReadWrite,
                ..
            }
        ));
        std::fs::remove_file(&path).unwrap();
        clients.reload().unwrap();
        assert_eq!(clients.settle(Some(a)), Verdict::Unknown);
    }

    #[test]
    fn address_and_request_slots_are_capped_and_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            connections_per_address: 2,
            requests_per_client: 3,
            requests_per_address: 4,
            unauthenticated_peers: 1,
            ..Limits::default()
        };
        let clients = Clients::open(dir.path(), true, false, limits).unwrap();
        let ip = IpAddr::from(Ipv4Addr::LOCALHOST);
        let s1 = clients.address_slot(ip).unwrap();
        let _s2 = clients.address_slot(ip).unwrap();
        assert!(clients.address_slot(ip).is_none());
        drop(s1);
        assert!(clients.address_slot(ip).is_some());

        // Requests need an admitted client; fake two by registering keys.
        let (a, b) = (ClientKey::Cert(fp(b"a")), ClientKey::Cert(fp(b"b")));
        {
            let mut live = lock(&clients.live);
            for key in [&a, &b] {
                live.clients.insert(
                    key.clone(),
                    LiveClient {
                        connections: Vec::new(),
                        requests: 0,
                        budget: Budget::pool(1),
                    },
                );
            }
        }
        let held: Vec<_> = (0..3)
            .map(|_| clients.request_slot(&a, ip).unwrap())
            .collect();
        let err = clients.request_slot(&a, ip).unwrap_err();
        assert!(err.contains("from this client (limit 3)"), "{err}");
        let one_b = clients.request_slot(&b, ip).unwrap();
        let err = clients.request_slot(&b, ip).unwrap_err();
        assert!(err.contains("(limit 4)"), "per address: {err}");
        drop(held);
        drop(one_b);
        assert!(
            clients.request_slot(&b, ip).is_err(),
            "b went away when idle"
        );
        let w = clients.waiting_slot().unwrap();
        assert!(clients.waiting_slot().is_none());
        drop(w);
        assert!(clients.waiting_slot().is_some());
    }

    #[tokio::test]
    async fn wrong_tokens_are_rate_limited_per_address() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            wrong_tokens: 2,
            ..Limits::default()
        };
        let clients = Clients::open(dir.path(), false, false, limits).unwrap();
        let invite =
            invites::create(dir.path(), Access::ReadWrite, invites::DEFAULT_VALIDITY).unwrap();
        let (ip, other) = (
            IpAddr::from(Ipv4Addr::new(127, 0, 0, 2)),
            IpAddr::from(Ipv4Addr::new(127, 0, 0, 3)),
        );
        for _ in 0..2 {
            let err = clients
                .enroll(ip, fp(b"a"), "wrong".into(), None)
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthorized, "{err}");
        }
        // Now even the right token waits out the window at this address...
        let err = clients
            .enroll(ip, fp(b"a"), invite.token.clone(), None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Busy, "{err}");
        assert!(
            err.message.contains("too many wrong invite tokens"),
            "{err}"
        );
        // ...but not at another one.
        let client = clients
            .enroll(other, fp(b"b"), invite.token, Some("b".into()))
            .await
            .unwrap();
        assert_eq!(client.name, "b");
        assert!(matches!(
            clients.settle(Some(fp(b"b"))),
            Verdict::Admit { .. }
        ));
    }
}
