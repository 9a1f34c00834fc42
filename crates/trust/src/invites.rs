//! One-time invite tokens, which let a new client add itself to the
//! authorized clients ([`enroll`]).
//!
//! A token is 192 random bits from the system's generator, shown once, in
//! base64url. The server's state directory keeps only its SHA-256, in
//! `invites`, one per line with its expiry and the rights it grants:
//!
//! ```text
//! <base64 SHA-256 of the token> <expiry, Unix seconds> read-write|read-only [used]
//! ```
//!
//! A presented token is hashed and compared with every stored hash in
//! constant time. Redeeming marks the line `used` and adds the client in one
//! step under the directory's [`StateLock`], so a token is spent exactly
//! once however many processes race for it. Lines a week past their expiry
//! are dropped whenever the file is rewritten.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{
    engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD},
    Engine,
};
use ferry_proto::Fingerprint;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::{
    authorized::{create_with_header, Access, AuthorizedClient, AuthorizedClients, ClientsError},
    lock::StateLock,
    pins::PinFile,
};

/// The file's name inside the server's state directory.
pub const INVITES: &str = "invites";
/// How long an invite is valid unless told otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(3600);
/// Random bytes in a token (192 bits).
pub const TOKEN_BYTES: usize = 24;
/// How long spent or expired invites stay in the file, so that presenting
/// one again is answered "used" or "expired" rather than "unknown".
const KEEP_AFTER_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Tokens longer than this are not ours; they are refused unhashed.
const MAX_TOKEN_LEN: usize = 256;
/// The mark of a spent invite.
const USED: &str = "used";

const HEADER: &str = "\
# ferry: open invites (`ferry invite`), one per line:
#   <SHA-256 of the token> <expiry, Unix seconds> read-write|read-only [used]
# Only hashes are kept; a token is shown once, when it is made.
";

/// A new invite, as shown to the operator once.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The secret to hand to the client.
    pub token: String,
    /// The rights a client enrolled with it gets.
    pub access: Access,
    /// When it stops working.
    pub expires: SystemTime,
}

/// A successful enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The client as it is now listed.
    pub client: AuthorizedClient,
    /// Whether the token was spent (false when the client was already
    /// authorized, which leaves the token for someone else).
    pub spent: bool,
}

/// Why an invite could not be made or redeemed.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The invites file, the authorized clients or the lock could not be
    /// read or written.
    #[error(transparent)]
    Clients(#[from] ClientsError),
    /// The system's random generator failed.
    #[error("the system's random number generator failed")]
    Random,
    /// No such token.
    #[error("this invite token is not valid for this server")]
    Unknown,
    /// The token was redeemed before.
    #[error("this invite was already used")]
    Used,
    /// The token expired.
    #[error("this invite expired {} ago", human_duration(*ago))]
    Expired {
        /// How long ago.
        ago: Duration,
    },
}

/// A fresh token. One that would start with `-` (1 in 64) is drawn again:
/// pasted after `ferry enroll HOST`, or into any other command line, it
/// would read as an option. That costs 0.02 of its 192 bits.
fn new_token() -> Result<String, InviteError> {
    let random = SystemRandom::new();
    loop {
        let mut secret = [0u8; TOKEN_BYTES];
        random.fill(&mut secret).map_err(|_| InviteError::Random)?;
        let token = URL_SAFE_NO_PAD.encode(secret);
        if !token.starts_with('-') {
            return Ok(token);
        }
    }
}

/// Makes an invite granting `access`, valid for `valid_for`, and records
/// its hash in `dir`.
pub fn create(dir: &Path, access: Access, valid_for: Duration) -> Result<Invite, InviteError> {
    let token = new_token()?;
    let now = SystemTime::now();
    let expires = now + valid_for;
    let _lock = lock(dir)?;
    let mut file = load(dir)?;
    prune(&mut file, dir, now)?;
    let line = format!(
        "{} {} {}",
        STANDARD_NO_PAD.encode(hash(&token)),
        unix_secs(expires),
        access
    );
    let path = path_in(dir);
    create_with_header(&path, HEADER).map_err(io_err(&path))?;
    let mut file = PinFile::load(&path).map_err(io_err(&path))?;
    file.append(&[&line]).map_err(io_err(&path))?;
    Ok(Invite {
        token,
        access,
        expires,
    })
}

/// How many invites of `dir` could still be redeemed at `now`.
pub fn open_count(dir: &Path, now: SystemTime) -> Result<usize, InviteError> {
    let file = load(dir)?;
    Ok(file
        .records()
        .filter_map(|f| Record::parse(&f))
        .filter(|r| !r.used && r.expires > unix_secs(now))
        .count())
}

/// Redeems `token` for the client `fp`: marks the invite used and adds the
/// client (named after `name` if it is usable and free) with the invite's
/// rights. A client that is already authorized keeps what it has, and the
/// token stays unspent.
pub fn enroll(
    dir: &Path,
    token: &str,
    fp: Fingerprint,
    name: Option<&str>,
    now: SystemTime,
) -> Result<Enrolled, InviteError> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(InviteError::Unknown);
    }
    let presented = hash(token);
    let _lock = lock(dir)?;
    if let Some(existing) = AuthorizedClients::load(dir)?.get(&fp) {
        return Ok(Enrolled {
            client: existing,
            spent: false,
        });
    }
    let mut file = load(dir)?;
    // Compare against every stored hash, each in constant time.
    let mut found = None;
    for fields in file.records() {
        if let Some(record) = Record::parse(&fields) {
            if bool::from(record.hash.ct_eq(&presented)) {
                found = Some(record);
            }
        }
    }
    let record = found.ok_or(InviteError::Unknown)?;
    if record.used {
        return Err(InviteError::Used);
    }
    let now_secs = unix_secs(now);
    if record.expires <= now_secs {
        return Err(InviteError::Expired {
            ago: Duration::from_secs(now_secs - record.expires),
        });
    }
    let path = path_in(dir);
    file.edit(|fields| {
        let hit = Record::parse(fields).is_some_and(|r| r.hash == presented);
        hit.then(|| Some(format!("{} {USED}", fields.join(" "))))
    })
    .map_err(io_err(&path))?;
    let client = AuthorizedClients::enroll_locked(dir, fp, name, record.access)?;
    Ok(Enrolled {
        client,
        spent: true,
    })
}

/// One line of the file.
struct Record {
    hash: [u8; 32],
    expires: u64,
    access: Access,
    used: bool,
}

impl Record {
    fn parse(fields: &[&str]) -> Option<Record> {
        let (hash, expires, access, used) = match fields {
            [h, e, a] => (h, e, a, false),
            [h, e, a, u] if *u == USED => (h, e, a, true),
            _ => return None,
        };
        let hash = STANDARD_NO_PAD.decode(hash).ok()?.try_into().ok()?;
        let access = match *access {
            "read-only" => Access::ReadOnly,
            "read-write" => Access::ReadWrite,
            _ => return None,
        };
        Some(Record {
            hash,
            expires: expires.parse().ok()?,
            access,
            used,
        })
    }
}

/// Drops the records a week past their expiry (and lines that are not
/// records at all are kept, as comments are).
fn prune(file: &mut PinFile, dir: &Path, now: SystemTime) -> Result<(), InviteError> {
    let cutoff = unix_secs(now).saturating_sub(KEEP_AFTER_EXPIRY.as_secs());
    file.edit(|fields| {
        Record::parse(fields)
            .is_some_and(|r| r.expires < cutoff)
            .then_some(None)
    })
    .map_err(io_err(&path_in(dir)))?;
    Ok(())
}

fn hash(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn path_in(dir: &Path) -> PathBuf {
    dir.join(INVITES)
}

fn load(dir: &Path) -> Result<PinFile, InviteError> {
    let path = path_in(dir);
    PinFile::load(&path)
        .map_err(io_err(&path))
        .map_err(InviteError::from)
}

fn lock(dir: &Path) -> Result<StateLock, InviteError> {
    StateLock::exclusive(dir)
        .map_err(io_err(&dir.join(crate::lock::LOCK_FILE)))
        .map_err(InviteError::from)
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ClientsError + '_ {
    move |error| ClientsError::Io {
        path: path.to_owned(),
        error,
    }
}

/// `40 s`, `10 min`, `2 h`, `3 days`: for messages, exact (in the largest
/// unit that divides the duration, as `--expires` takes them).
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0 s".to_owned(),
        _ if s.is_multiple_of(86_400) => format!("{} days", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{} h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{} min", s / 60),
        _ => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn tokens_never_start_like_an_option() {
        // One in 64 raw tokens would; none of 5000 may.
        let tokens: std::collections::HashSet<String> =
            (0..5000).map(|_| new_token().unwrap()).collect();
        assert_eq!(tokens.len(), 5000);
        assert!(tokens.iter().all(|t| !t.starts_with('-')));
    }

    #[test]
    fn an_invite_is_spent_once_and_grants_its_rights() {
        let dir = tempfile::tempdir().unwrap();
        let invite = create(dir.path(), Access::ReadOnly, DEFAULT_VALIDITY).unwrap();
        assert!(
            invite.token.len() >= 32,
            "192 bits in base64: {}",
            invite.token
        );
        let text = std::fs::read_to_string(dir.path().join(INVITES)).unwrap();
        assert!(!text.contains(&invite.token), "only the hash is kept");
        let mode = std::fs::metadata(dir.path().join(INVITES))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let now = SystemTime::now();
        assert_eq!(open_count(dir.path(), now).unwrap(), 1);

        let alice = Fingerprint::of_der(b"alice");
        let got = enroll(dir.path(), &invite.token, alice, Some("alice"), now).unwrap();
        assert!(got.spent);
        assert_eq!(got.client.name, "alice");
        assert_eq!(got.client.access, Access::ReadOnly);
        assert_eq!(open_count(dir.path(), now).unwrap(), 0);
        let list = AuthorizedClients::load(dir.path()).unwrap();
        assert_eq!(list.get(&alice).unwrap().access, Access::ReadOnly);

        // Spent: another client cannot use it; the enrolled one is told it
        // is in already, without spending anything.
        let bob = Fingerprint::of_der(b"bob");
        let err = enroll(dir.path(), &invite.token, bob, None, now).unwrap_err();
        assert!(matches!(err, InviteError::Used), "{err}");
        let again = enroll(dir.path(), &invite.token, alice, None, now).unwrap();
        assert!(!again.spent);
        let err = enroll(dir.path(), "not-a-token", bob, None, now).unwrap_err();
        assert!(matches!(err, InviteError::Unknown), "{err}");
        let err = enroll(dir.path(), &"x".repeat(10_000), bob, None, now).unwrap_err();
        assert!(matches!(err, InviteError::Unknown), "{err}");
        assert!(AuthorizedClients::load(dir.path())
            .unwrap()
            .get(&bob)
            .is_none());
    }

    #[test]
    fn invites_expire_and_old_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let invite = create(dir.path(), Access::ReadWrite, Duration::from_secs(60)).unwrap();
        let later = SystemTime::now() + Duration::from_secs(3600);
        let fp = Fingerprint::of_der(b"late");
        let err = enroll(dir.path(), &invite.token, fp, None, later).unwrap_err();
        assert!(matches!(err, InviteError::Expired { .. }), "{err}");
        assert!(err.to_string().contains("expired"), "{err}");
        assert_eq!(open_count(dir.path(), later).unwrap(), 0);

        // A week and more after expiry, creating another invite drops it.
        let path = dir.path().join(INVITES);
        let text = std::fs::read_to_string(&path).unwrap();
        let old = text.replace(&unix_secs(invite.expires).to_string(), "1000");
        std::fs::write(&path, old).unwrap();
        create(dir.path(), Access::ReadWrite, DEFAULT_VALIDITY).unwrap();
        let records = PinFile::load(&path).unwrap().records().count();
        assert_eq!(records, 1);
        let err = enroll(dir.path(), &invite.token, fp, None, SystemTime::now()).unwrap_err();
        assert!(matches!(err, InviteError::Unknown), "{err}");
    }

    #[test]
    fn racing_enrollments_spend_a_token_once() {
        let dir = tempfile::tempdir().unwrap();
        let invite = create(dir.path(), Access::ReadWrite, DEFAULT_VALIDITY).unwrap();
        let threads: Vec<_> = (0..8u8)
            .map(|i| {
                let (path, token) = (dir.path().to_owned(), invite.token.clone());
                std::thread::spawn(move || {
                    enroll(
                        &path,
                        &token,
                        Fingerprint::of_der(&[i]),
                        None,
                        SystemTime::now(),
                    )
                })
            })
            .collect();
        let wins = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(Result::is_ok)
            .count();
        assert_eq!(wins, 1);
        assert_eq!(
            AuthorizedClients::load(dir.path()).unwrap().clients().len(),
            1
        );
    }
}
