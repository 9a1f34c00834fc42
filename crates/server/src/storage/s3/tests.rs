//! The S3 backend's contract, against a real S3 server when one is
//! configured (`FERRY_TEST_S3_ENDPOINT`, `FERRY_TEST_S3_BUCKET`,
//! `FERRY_TEST_S3_ACCESS_KEY`, `FERRY_TEST_S3_SECRET_KEY`, as set by
//! `scripts/seaweedfs.sh`); without one these tests say so and pass,
//! unless `FERRY_TEST_S3_REQUIRED` is set (CI sets it).

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_proto::{ErrorCode, Kind, RemotePath, Timestamp};

use super::*;
use crate::storage::{
    testing::{b3, commit, p},
    Commit, Resume, Storage,
};

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64 * 2_654_435_761) >> 13) as u8 ^ seed)
        .collect()
}

/// A fresh prefix of the test bucket, removed when dropped.
struct Bucket {
    storage: S3Storage,
    /// An operator on the same prefix, to look behind the backend's back.
    op: Operator,
}

impl Bucket {
    fn new(test: &str, limits: S3Limits) -> Option<Bucket> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(endpoint) = var("FERRY_TEST_S3_ENDPOINT") else {
            assert!(
                var("FERRY_TEST_S3_REQUIRED").is_none(),
                "FERRY_TEST_S3_REQUIRED is set but FERRY_TEST_S3_ENDPOINT is not"
            );
            eprintln!(
                "skipped {test}: no S3 server configured (run `scripts/seaweedfs.sh start` and source target/seaweedfs/env)"
            );
            return None;
        };
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let config = S3Config {
            bucket: var("FERRY_TEST_S3_BUCKET").expect("FERRY_TEST_S3_BUCKET"),
            prefix: format!("unit-{test}-{nanos}"),
            endpoint,
            region: "us-east-1".into(),
            access_key_id: var("FERRY_TEST_S3_ACCESS_KEY").expect("FERRY_TEST_S3_ACCESS_KEY"),
            secret_access_key: var("FERRY_TEST_S3_SECRET_KEY").expect("FERRY_TEST_S3_SECRET_KEY"),
            session_token: None,
        };
        let storage = S3Storage::open(&config, limits).unwrap();
        let op = storage.op.clone();
        Some(Bucket { storage, op })
    }

    async fn put(&self, path: &str, bytes: &[u8]) {
        let mut w = self.storage.create(&p(path), None).await.unwrap();
        w.write(vec![Bytes::copy_from_slice(bytes)]).await.unwrap();
        w.commit(commit(bytes.len() as u64, Some(b3(bytes))))
            .await
            .unwrap();
    }

    async fn get(&self, path: &str) -> Vec<u8> {
        let mut r = self.storage.open_read(&p(path), 0, false).await.unwrap();
        let size = r.entry().size as usize;
        r.read(size).await.unwrap().to_vec()
    }

    async fn names(&self, dir: &str) -> Vec<String> {
        let mut listing = self.storage.list(&p(dir)).await.unwrap();
        let mut out = Vec::new();
        loop {
            let batch = listing.next_batch(3).await.unwrap();
            if batch.is_empty() {
                break;
            }
            out.extend(batch.into_iter().map(|e| match e.kind {
                Kind::Dir => format!("{}/", e.name),
                _ => e.name,
            }));
        }
        out.sort();
        out
    }

    /// Every object under the prefix but directory markers, staging area
    /// included.
    async fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut l = self.op.lister_with("").recursive(true).await.unwrap();
        while let Some(e) = l.try_next().await.unwrap() {
            if !e.path().ends_with('/') {
                out.push(e.path().to_owned());
            }
        }
        out.sort();
        out
    }

    /// Removes everything under the prefix.
    async fn clean(self) {
        self.op.delete_with("").recursive(true).await.unwrap();
    }

    /// Waits (bounded, against a hang) until the partial of `path` holds
    /// `len` bytes: a dropped upload writes its last segment in the
    /// background.
    async fn partial_reaches(&self, path: &str, len: u64) {
        let path = p(path);
        let name = ferry_proto::partial_name(path.file_name().unwrap());
        let partial = path.parent().unwrap().join(&name).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(e) = self.storage.stat(&partial).await {
                if e.size == len {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{partial} never held {len} bytes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const MIB: usize = 1 << 20;

/// An upload of `path` resumed after `prefix`, the bytes already there.
async fn resume(s: &S3Storage, path: &str, prefix: &[u8]) -> Box<dyn WriteHandle> {
    let resume = Resume {
        offset: prefix.len() as u64,
        prefix: b3(prefix),
    };
    s.create(&p(path), Some(resume)).await.unwrap()
}

#[test]
fn urls_mtimes_and_tidy_deletes() {
    assert_eq!(
        S3Config::parse_url("s3://b"),
        Some(Ok(("b".into(), String::new())))
    );
    assert_eq!(
        S3Config::parse_url("s3://my-bucket/a//b/"),
        Some(Ok(("my-bucket".into(), "a/b".into())))
    );
    assert!(S3Config::parse_url("/srv/files").is_none());
    for bad in ["s3://", "s3://Upper", "s3://b/../x", "s3://b c"] {
        assert!(matches!(S3Config::parse_url(bad), Some(Err(_))), "{bad}");
    }

    for (t, text) in [
        (
            Timestamp {
                secs: 1_600_000_000,
                nanos: 0,
            },
            "1600000000",
        ),
        (
            Timestamp {
                secs: 1_600_000_000,
                nanos: 500_000_000,
            },
            "1600000000.5",
        ),
        (Timestamp { secs: 7, nanos: 1 }, "7.000000001"),
    ] {
        assert_eq!(format_mtime(t), text);
        assert_eq!(parse_mtime(text), Some(t));
    }
    assert_eq!(parse_mtime("12.0000000001"), None);
    assert_eq!(parse_mtime("x"), None);

    let keys = vec![
        "s/t/n/w/0".to_owned(),
        "s/t/n/w/1".to_owned(),
        "s/t/m/".to_owned(),
    ];
    assert_eq!(
        tidy(keys, "s/"),
        [
            vec!["s/t/n/w/0", "s/t/n/w/1"],
            vec!["s/t/n/w/"],
            vec!["s/t/m/", "s/t/n/"],
            vec!["s/t/"],
            vec!["s/"]
        ]
    );
    assert_eq!(
        tidy(vec!["a/b/c".into()], "a/b/"),
        [vec!["a/b/c"], vec!["a/b/"]]
    );
}

#[tokio::test]
async fn uploads_appear_whole_and_interrupted_ones_resume_from_a_true_prefix() {
    let Some(b) = Bucket::new("resume", S3Limits::default()) else {
        return;
    };
    let s = &b.storage;
    b.put("/f", b"old").await;

    // Interrupted after 3 MiB: the old object stays, the part is findable.
    let new = data(13 * MIB, 1);
    let mut w = s.create(&p("/f"), None).await.unwrap();
    w.write(vec![Bytes::copy_from_slice(&new[..3 * MIB])])
        .await
        .unwrap();
    drop(w);
    b.partial_reaches("/f", 3 * MIB as u64).await;
    assert_eq!(b.get("/f").await, b"old");
    assert_eq!(b.names("/").await, [".f.ferry-part", "f"]);

    // A resume whose prefix does not hash right: refused, the part dropped.
    let bad = Resume {
        offset: 2 * MIB as u64,
        prefix: b3(&new[1..2 * MIB + 1]),
    };
    let err = s.create(&p("/f"), Some(bad)).await.err().unwrap();
    assert_eq!(err.code(), ErrorCode::PrefixMismatch);
    assert_eq!(b.names("/").await, ["f"]);

    // Again, then resumed at 2 MiB with the right hash, and finished; the
    // wrong final hash is refused and the old object stays.
    let mut w = s.create(&p("/f"), None).await.unwrap();
    w.write(vec![Bytes::copy_from_slice(&new[..3 * MIB])])
        .await
        .unwrap();
    drop(w);
    b.partial_reaches("/f", 3 * MIB as u64).await;
    let good = Resume {
        offset: 2 * MIB as u64,
        prefix: b3(&new[..2 * MIB]),
    };
    let mut w = s.create(&p("/f"), Some(good)).await.unwrap();
    w.write(vec![Bytes::copy_from_slice(&new[2 * MIB..])])
        .await
        .unwrap();
    let err = w
        .commit(commit(new.len() as u64, Some(b3(b"nope"))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::HashMismatch);
    assert_eq!(b.get("/f").await, b"old");
    assert_eq!(b.names("/").await, ["f"]);

    // The wrong size: refused the same way.
    let mut w = s.create(&p("/f"), None).await.unwrap();
    w.write(vec![Bytes::from_static(b"new!")]).await.unwrap();
    let err = w.commit(commit(5, None)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Io);
    assert_eq!(b.get("/f").await, b"old");

    // Resumed twice, at offsets inside segments, and assembled: exact, with
    // its metadata, and nothing left in the staging area.
    let mut w = s.create(&p("/f"), None).await.unwrap();
    w.write(vec![Bytes::copy_from_slice(&new[..11 * MIB])])
        .await
        .unwrap();
    drop(w);
    b.partial_reaches("/f", 11 * MIB as u64).await;
    let at = 7 * MIB + 12_345;
    let mut w = resume(s, "/f", &new[..at]).await;
    w.write(vec![Bytes::copy_from_slice(&new[at..12 * MIB])])
        .await
        .unwrap();
    drop(w);
    b.partial_reaches("/f", 12 * MIB as u64).await;
    let at = 9 * MIB + 1;
    let mut w = resume(s, "/f", &new[..at]).await;
    for piece in new[at..].chunks(300_000) {
        w.write(vec![Bytes::copy_from_slice(piece)]).await.unwrap();
    }
    let mtime = Timestamp {
        secs: 1_000_000_000,
        nanos: 250_000_000,
    };
    w.commit(Commit {
        size: new.len() as u64,
        mtime: Some(mtime),
        mode: Some(0o4755),
        new_mode: None,
        hash: Some(b3(&new)),
    })
    .await
    .unwrap();
    assert!(b.get("/f").await == new);
    let e = s.stat(&p("/f")).await.unwrap();
    assert_eq!(
        (e.size, e.mtime, e.mode),
        (new.len() as u64, Some(mtime), 0o755)
    );
    assert_eq!(s.sum(&p("/f")).await.unwrap(), (new.len() as u64, b3(&new)));
    assert_eq!(b.keys().await, ["f"], "the staging area is empty");

    // Without exact bits: a replaced file keeps its own, a new one gets
    // the sender's less the server's umask, as on a disk.
    for (path, want) in [("/f", 0o755), ("/g", 0o777 & !ferry_net::file::umask())] {
        let mut w = s.create(&p(path), None).await.unwrap();
        w.write(vec![Bytes::from_static(b"bits")]).await.unwrap();
        w.commit(Commit {
            new_mode: Some(0o777),
            ..commit(4, None)
        })
        .await
        .unwrap();
        assert_eq!(s.stat(&p(path)).await.unwrap().mode, want, "{path}");
    }
    s.remove(&p("/g")).await.unwrap();

    // Partial names are ferry's own.
    let err = s.create(&p("/.x.ferry-part"), None).await.err().unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidPath);
    assert!(s.mkdir(&p("/.d.ferry-part"), false).await.is_err());
    assert!(s.rename(&p("/f"), &p("/.f.ferry-part")).await.is_err());
    assert!(s.mkdir(&p(&format!("/{STAGING}")), true).await.is_err());
    b.clean().await;
}

#[tokio::test]
async fn small_files_never_touch_the_staging_area_and_the_sweep_takes_old_parts() {
    let Some(b) = Bucket::new("sweep", S3Limits::default()) else {
        return;
    };
    let s = &b.storage;
    s.mkdir(&p("/d"), false).await.unwrap();
    b.put("/d/small", &data(100_000, 2)).await;
    assert_eq!(b.keys().await, ["d/small"]);

    let mut w = s.create(&p("/d/big"), None).await.unwrap();
    w.write(vec![Bytes::from(data(2 * MIB, 3))]).await.unwrap();
    drop(w);
    b.partial_reaches("/d/big", 2 * MIB as u64).await;
    assert_eq!(
        s.sweep_partials(Duration::from_secs(3600)).await.unwrap(),
        0
    );
    assert_eq!(
        s.stat(&p("/d/.big.ferry-part")).await.unwrap().size,
        2 * MIB as u64
    );
    // Last-Modified has a one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.sweep_partials(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(b.keys().await, ["d/small"]);
    let err = s.stat(&p("/d/.big.ferry-part")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);

    // A resumed upload keeps the sweep off the old segments it goes on from.
    let old = data(3 * MIB, 6);
    let mut w = s.create(&p("/d/resumed"), None).await.unwrap();
    w.write(vec![Bytes::copy_from_slice(&old)]).await.unwrap();
    drop(w);
    b.partial_reaches("/d/resumed", 3 * MIB as u64).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resume = Resume {
        offset: 2 * MIB as u64,
        prefix: b3(&old[..2 * MIB]),
    };
    let mut w = s.create(&p("/d/resumed"), Some(resume)).await.unwrap();
    assert_eq!(s.sweep_partials(Duration::from_secs(2)).await.unwrap(), 0);
    w.write(vec![Bytes::copy_from_slice(&old[2 * MIB..])])
        .await
        .unwrap();
    w.commit(commit(old.len() as u64, Some(b3(&old))))
        .await
        .unwrap();
    assert!(b.get("/d/resumed").await == old);
    s.remove(&p("/d/resumed")).await.unwrap();

    // `rm` of a partial removes it.
    let mut w = s.create(&p("/d/big"), None).await.unwrap();
    w.write(vec![Bytes::from(data(MIB + 1, 3))]).await.unwrap();
    drop(w);
    b.partial_reaches("/d/big", MIB as u64 + 1).await;
    s.remove(&p("/d/.big.ferry-part")).await.unwrap();
    assert_eq!(b.names("/d").await, ["small"]);
    b.clean().await;
}

#[tokio::test]
async fn directories_are_prefixes_with_markers() {
    let limits = S3Limits {
        move_objects: 4,
        ..S3Limits::default()
    };
    let Some(b) = Bucket::new("dirs", limits) else {
        return;
    };
    let s = &b.storage;
    s.mkdir(&p("/a"), false).await.unwrap();
    assert_eq!(
        s.mkdir(&p("/a"), false).await.unwrap_err().code(),
        ErrorCode::AlreadyExists
    );
    s.mkdir(&p("/a"), true).await.unwrap();
    assert_eq!(
        s.mkdir(&p("/x/y"), false).await.unwrap_err().to_string(),
        "/x/y: no such file or directory"
    );
    s.mkdir(&p("/x/y/z"), true).await.unwrap();
    assert_eq!(b.names("/").await, ["a/", "x/"]);
    assert_eq!(b.names("/x/y").await, ["z/"]);
    b.put("/a/f", b"F").await;
    assert_eq!(
        s.mkdir(&p("/a/f"), true).await.unwrap_err().code(),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        s.create(&p("/nope/f"), None).await.err().unwrap().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        s.create(&p("/a/f/g"), None).await.err().unwrap().code(),
        ErrorCode::NotADirectory
    );
    assert_eq!(
        s.create(&p("/x"), None).await.err().unwrap().code(),
        ErrorCode::IsADirectory
    );
    assert_eq!(
        s.open_read(&p("/x"), 0, false).await.err().unwrap().code(),
        ErrorCode::IsADirectory
    );
    assert_eq!(
        s.rmdir(&p("/a")).await.unwrap_err().code(),
        ErrorCode::NotEmpty
    );
    assert_eq!(
        s.rmdir(&p("/a/f")).await.unwrap_err().code(),
        ErrorCode::NotADirectory
    );
    assert_eq!(
        s.remove(&p("/a")).await.unwrap_err().code(),
        ErrorCode::IsADirectory
    );

    // Keys written by other tools, without markers, are directories too.
    b.op.write("imp/sub/k", "v").await.unwrap();
    assert_eq!(s.stat(&p("/imp")).await.unwrap().kind, Kind::Dir);
    assert_eq!(b.names("/imp").await, ["sub/"]);

    // Renames: a file, into a directory, a directory, and the bound.
    assert_eq!(s.rename(&p("/a/f"), &p("/g")).await.unwrap(), p("/g"));
    assert_eq!(s.rename(&p("/g"), &p("/x")).await.unwrap(), p("/x/g"));
    assert_eq!(b.get("/x/g").await, b"F");
    assert_eq!(s.rename(&p("/x"), &p("/a")).await.unwrap(), p("/a/x"));
    assert_eq!(b.names("/a/x").await, ["g", "y/"]);
    assert_eq!(b.names("/a/x/y").await, ["z/"]);
    assert_eq!(b.names("/").await, ["a/", "imp/"]);
    assert_eq!(
        s.rename(&p("/a"), &p("/a/x/y")).await.unwrap_err().code(),
        ErrorCode::InvalidPath
    );
    for i in 0..4 {
        b.put(&format!("/a/x/n{i}"), b"n").await;
    }
    let err = s.rename(&p("/a"), &p("/b")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TooLarge, "{err}");
    assert!(err.to_string().contains("more than 4 objects"), "{err}");
    assert_eq!(b.names("/").await, ["a/", "imp/"], "nothing moved");

    // rmdir once empty; the root cannot go.
    s.rmdir(&p("/a/x/y/z")).await.unwrap();
    s.rmdir(&p("/a/x/y")).await.unwrap();
    assert_eq!(b.names("/a/x").await.len(), 5);
    assert_eq!(
        s.rmdir(&RemotePath::root()).await.unwrap_err().code(),
        ErrorCode::InvalidPath
    );
    assert_eq!(
        s.rename(&RemotePath::root(), &p("/r"))
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidPath
    );
    b.clean().await;
}

#[tokio::test]
async fn reads_start_anywhere_and_notice_a_replaced_object() {
    let Some(b) = Bucket::new("reads", S3Limits::default()) else {
        return;
    };
    let s = &b.storage;
    let d = data(3 * MIB + 10, 4);
    b.put("/f", &d).await;
    let at = MIB + 7;
    let mut r = s.open_read(&p("/f"), at as u64, true).await.unwrap();
    assert_eq!(r.prefix(), Some(b3(&d[..at])));
    let mut got = Vec::new();
    for len in [3, MIB, MIB, d.len() - at - 3 - 2 * MIB] {
        got.extend_from_slice(&r.read(len).await.unwrap());
    }
    assert!(got == d[at..]);
    assert_eq!(r.digest(), Some(b3(&d)));
    assert_eq!(
        s.open_read(&p("/f"), d.len() as u64 + 1, false)
            .await
            .err()
            .unwrap()
            .code(),
        ErrorCode::Protocol
    );
    assert_eq!(
        s.open_read(&p("/none"), 0, false)
            .await
            .err()
            .unwrap()
            .code(),
        ErrorCode::NotFound
    );

    // Replaced between open and read: refused rather than mixed.
    let mut r = s.open_read(&p("/f"), 0, false).await.unwrap();
    b.put("/f", &data(3 * MIB + 10, 5)).await;
    let err = r.read(MIB).await.unwrap_err();
    assert!(matches!(err, StorageError::Changed(_)), "{err}");
    b.clean().await;
}

/// A large download fetches several ranges at once while the read-ahead
/// room has space for it, and gives the room back when it ends; one that
/// finds no room reads by one GET. Both give the same bytes, prefix and
/// hash, and both notice an object replaced under them.
#[tokio::test]
async fn large_reads_fetch_ahead_within_their_room() {
    let segment = 5 * MIB;
    let limits = S3Limits {
        segment,
        // Room for one download's read-ahead.
        read_ahead: READ_AHEAD_PARTS * segment,
        ..S3Limits::default()
    };
    let Some(b) = Bucket::new("ahead", limits) else {
        return;
    };
    let s = &b.storage;
    let room = || s.read_ahead.available_permits();
    let full = room();
    let d = data(2 * READ_AHEAD_PARTS * segment + 8 * MIB + 3, 6);
    b.put("/big", &d).await;
    let at = 3 * MIB + 1;
    let mut first = s.open_read(&p("/big"), at as u64, true).await.unwrap();
    assert_eq!(room(), 0, "the first large download takes the room");
    let mut second = s.open_read(&p("/big"), 0, true).await.unwrap();
    for (r, from) in [(&mut first, at), (&mut second, 0)] {
        assert_eq!(r.prefix(), Some(b3(&d[..from])));
        let mut got = Vec::new();
        while got.len() < d.len() - from {
            let len = (MIB + 17).min(d.len() - from - got.len());
            got.extend_from_slice(&r.read(len).await.unwrap());
        }
        assert!(got == d[from..], "byte-exact from {from}");
        assert_eq!(r.digest(), Some(b3(&d)));
    }
    drop(first);
    assert_eq!(room(), full, "the room comes back");
    drop(second);

    // Replaced between open and read: refused rather than mixed, on the
    // read-ahead path too.
    let mut r = s.open_read(&p("/big"), 0, false).await.unwrap();
    assert_eq!(room(), 0);
    b.put("/big", &data(d.len(), 7)).await;
    let err = r.read(MIB).await.unwrap_err();
    assert!(matches!(err, StorageError::Changed(_)), "{err}");
    drop(r);
    b.clean().await;
}
