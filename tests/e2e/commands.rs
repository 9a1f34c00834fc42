//! The one-shot metadata commands, each through the real binary.

use crate::util::{names, Env};

#[test]
fn ls_shows_kind_size_time_and_name() {
    let env = Env::new();
    env.remote_file("a.txt", b"hello");
    env.remote_file("sub/b.bin", &[0u8; 1234]);
    let out = env.ok(&["ls", &env.host()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("-rw") && lines[0].contains("  5  ") && lines[0].ends_with("a.txt"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("drwx") && lines[1].ends_with("sub/"),
        "{out}"
    );
    // A modification time like 2026-11-23 03:41.
    assert!(
        lines[0]
            .split_whitespace()
            .nth(2)
            .is_some_and(|d| d.len() == 10 && d.as_bytes()[4] == b'-'),
        "{out}"
    );

    let out = env.ok(&["ls", &env.host(), "/sub"]);
    assert!(
        out.contains("1234") && out.trim_end().ends_with("b.bin"),
        "{out}"
    );
    let out = env.ok(&["ls", &env.host(), "sub/b.bin"]);
    assert!(out.trim_end().ends_with("b.bin"), "{out}");
    let out = env.ok(&["ls", &env.host(), "/*/*.bin"]);
    assert!(out.trim_end().ends_with("/sub/b.bin"), "{out}");
}

#[test]
fn stat_reports_metadata_and_fails_per_missing_path() {
    let env = Env::new();
    env.remote_file("f", &[7u8; 42]);
    let out = env.ok(&["stat", &env.host(), "/f"]);
    assert!(
        out.contains("kind: file") && out.contains("size: 42"),
        "{out}"
    );
    let out = env.run(&["stat", &env.host(), "/f", "/missing"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("size: 42"),
        "the good path is still shown: {stdout}"
    );
    assert!(
        stderr.contains("/missing: no such file or directory"),
        "{stderr}"
    );
}

#[test]
fn mkdir_with_and_without_parents() {
    let env = Env::new();
    env.ok(&["mkdir", &env.host(), "/d"]);
    assert!(env.root.join("d").is_dir());
    let err = env.fails(&["mkdir", &env.host(), "/d"]);
    assert!(err.contains("/d: already exists"), "{err}");
    let err = env.fails(&["mkdir", &env.host(), "/x/y/z"]);
    assert!(err.contains("/x/y/z: no such file or directory"), "{err}");
    env.ok(&["mkdir", "-p", &env.host(), "/x/y/z", "/d"]);
    assert!(env.root.join("x/y/z").is_dir());
    env.remote_file("file", b"x");
    let err = env.fails(&["mkdir", "-p", &env.host(), "/file"]);
    assert!(err.contains("exists and is not a directory"), "{err}");
}

#[test]
fn rmdir_only_removes_empty_directories() {
    let env = Env::new();
    env.remote_file("full/f", b"x");
    std::fs::create_dir(env.root.join("empty")).unwrap();
    env.ok(&["rmdir", &env.host(), "/empty"]);
    assert!(!env.root.join("empty").exists());
    let err = env.fails(&["rmdir", &env.host(), "/full"]);
    assert!(err.contains("/full: directory not empty"), "{err}");
    let err = env.fails(&["rmdir", &env.host(), "/full/f"]);
    assert!(err.contains("/full/f: not a directory"), "{err}");
    let err = env.fails(&["rmdir", &env.host(), "/"]);
    assert!(err.contains("root cannot be removed"), "{err}");
    assert!(env.root.join("full/f").exists());
}

#[test]
fn rm_removes_files_and_refuses_directories() {
    let env = Env::new();
    env.remote_file("a.log", b"1");
    env.remote_file("b.log", b"2");
    env.remote_file("keep.txt", b"3");
    env.remote_file("d/inner", b"4");
    env.ok(&["rm", &env.host(), "/*.log"]);
    assert_eq!(names(&env.root), ["d", "keep.txt"]);
    let err = env.fails(&["rm", &env.host(), "/d"]);
    assert!(err.contains("/d: is a directory (use rmdir)"), "{err}");
    let err = env.fails(&["rm", &env.host(), "/nothing*"]);
    assert!(err.contains("no match"), "{err}");
    let err = env.fails(&["rm", &env.host(), "/gone"]);
    assert!(err.contains("/gone: no such file or directory"), "{err}");
    assert!(env.root.join("d/inner").exists());
}

#[test]
fn mv_renames_and_moves_into_directories() {
    let env = Env::new();
    env.remote_file("a", b"A");
    std::fs::create_dir(env.root.join("dir")).unwrap();
    env.ok(&["mv", &env.host(), "/a", "/b"]);
    assert_eq!(std::fs::read(env.root.join("b")).unwrap(), b"A");
    env.ok(&["mv", &env.host(), "b", "dir"]);
    assert_eq!(std::fs::read(env.root.join("dir/b")).unwrap(), b"A");
    env.ok(&["mv", &env.host(), "/dir", "/renamed"]);
    assert!(env.root.join("renamed/b").exists());
    let err = env.fails(&["mv", &env.host(), "/nope", "/x"]);
    assert!(err.contains("/nope: no such file or directory"), "{err}");
    let err = env.fails(&["mv", &env.host(), "/renamed", "/renamed/b/.."]);
    assert!(err.contains("into itself"), "{err}");
    assert!(env.root.join("renamed/b").exists());
}
