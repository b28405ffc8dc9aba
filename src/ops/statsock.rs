//! A mount's stats socket: where it lives and under which name, who may connect
//! to it, serving the daemon's report on it, and fetching a report from it.
//!
//! The socket is beside (never inside) the mount, in a directory only its owner
//! can write: `/run/modcachefs` for root, else the user's runtime directory. Its
//! name is the mountpoint escaped as `systemd-escape --path` does, which maps
//! distinct paths to distinct names (`/srv/x_y` and `/srv/x/y` must not share a
//! socket or a log). Its mode is set explicitly, never left to the umask: the
//! report lists every module the mount's users extracted.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Where root's daemons (systemd's, mount(8)'s, root shells') keep their sockets
/// and logs, and where other users look for them too.
pub(crate) const SYSTEM_DIR: &str = "/run/modcachefs";

/// Clients served at once; more are closed at once rather than queued, so the
/// accept loop never waits for a client.
const MAX_CLIENTS: usize = 16;

/// How long a client may take to read its report before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Who may read a mount's report (connect to its socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// The daemon's user only (mode 0600): the default.
    Owner,
    /// And the members of this group (mode 0660, the socket's group set to it).
    Group { gid: u32, name: String },
    /// Every local user (mode 0666): only with `--allow-other`, where every user can
    /// read the mount anyway, and only when asked for.
    All,
}

impl Access {
    /// `owner`, `group=NAME` (a group name or number) or `all`.
    pub fn parse(s: &str) -> Result<Access, String> {
        match s.split_once('=') {
            None if s == "owner" => Ok(Access::Owner),
            None if s == "all" => Ok(Access::All),
            Some(("group", g)) if !g.is_empty() => match group_id(g) {
                Some(gid) => Ok(Access::Group { gid, name: g.to_string() }),
                None => Err(format!("no such group: {g:?}")),
            },
            _ => Err(format!("expected owner, group=NAME or all, not {s:?}")),
        }
    }

    pub(crate) fn mode(&self) -> u32 {
        match self {
            Access::Owner => 0o600,
            Access::Group { .. } => 0o660,
            Access::All => 0o666,
        }
    }
}

fn group_id(g: &str) -> Option<u32> {
    if let Ok(n) = g.parse::<u32>() {
        return Some(n);
    }
    let name = std::ffi::CString::new(g).ok()?;
    // SAFETY: all-zero bytes are a valid `libc::group` (integers and null pointers).
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; `grp`, `buf` (with its true length) and
    // `out` are live for the call, and getgrnam_r writes only within them. The
    // strings it points `grp` at live in `buf`, which outlives the one field read.
    let r = unsafe { libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut out) };
    (r == 0 && !out.is_null()).then_some(grp.gr_gid)
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The per-user directory in the shared temp directory (the last resort).
fn tmp_fallback() -> PathBuf {
    std::env::temp_dir().join(format!("modcachefs-{}", euid()))
}

/// The directories this user's daemons put their sockets in, preferred first:
/// `/run/modcachefs` for root (daemons started by systemd or mount(8) have no
/// XDG_RUNTIME_DIR, and a root shell may have one: both must find the same socket),
/// else the user's runtime directory, else a per-user directory under the temp dir.
fn own_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if euid() == 0 {
        dirs.push(PathBuf::from(SYSTEM_DIR));
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
        dirs.push(PathBuf::from(d).join("modcachefs"));
    }
    dirs.push(tmp_fallback().join("modcachefs"));
    dirs
}

/// Where `stats` and `status` look: this user's directories, then root's.
fn lookup_dirs() -> Vec<PathBuf> {
    let mut dirs = own_dirs();
    if !dirs.iter().any(|d| d == Path::new(SYSTEM_DIR)) {
        dirs.push(PathBuf::from(SYSTEM_DIR));
    }
    dirs
}

/// A directory no one but `owner` (or root) can write to: whoever else could would
/// plant a symlink where a `--daemon` log is appended, or a socket that answers
/// `modcachefs stats` in the daemon's stead.
fn private_dir(p: &Path, owner: u32) -> bool {
    std::fs::symlink_metadata(p)
        .is_ok_and(|m| m.file_type().is_dir() && (m.uid() == owner || m.uid() == 0) && m.mode() & 0o022 == 0)
}

/// Whether `dir` (one of `own_dirs` or `lookup_dirs`) may be used, creating it if
/// `create`. The system directory is 0755 (others find root's sockets there; the
/// sockets' own modes say who may connect); the others are 0700. Modes are set
/// explicitly, whatever the umask.
fn usable_dir(dir: &Path, create: bool) -> bool {
    let me = euid();
    let top = tmp_fallback();
    if dir.parent() == Some(top.as_path()) {
        if create {
            // Fails harmlessly when it exists; whatever is there is checked below.
            let _ = std::fs::DirBuilder::new().mode(0o700).create(&top);
        }
        if !private_dir(&top, me) || std::fs::symlink_metadata(&top).is_ok_and(|m| m.uid() != me) {
            if create && top.exists() {
                log::warn!(
                    "{}: not a directory of ours that only we can write to; not using it for the stats socket",
                    top.display()
                );
            }
            return false;
        }
    }
    let system = dir == Path::new(SYSTEM_DIR);
    if create {
        let mode = if system { 0o755 } else { 0o700 };
        if let Some(parent) = dir.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                return false;
            }
        }
        match std::fs::DirBuilder::new().mode(mode).create(dir) {
            // Ours and new: make its mode exact (the umask may have taken bits away).
            Ok(()) => {
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Made by an older modcachefs under another umask: writable by others
                // (unsafe), or, for the system directory, closed to the other users
                // who look for root's sockets there. Set its mode if it is ours.
                if let Ok(m) = std::fs::symlink_metadata(dir) {
                    let off = if system { m.mode() & 0o777 != mode } else { m.mode() & 0o022 != 0 };
                    if m.is_dir() && m.uid() == me && off {
                        log::info!("{}: mode {:o}; making it {mode:o}", dir.display(), m.mode() & 0o7777);
                        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode));
                    }
                }
            }
            Err(_) => return false,
        }
    }
    private_dir(dir, me)
}

/// The mountpoint escaped as `systemd-escape --path` does: `/srv/gomod` is
/// `srv-gomod`, `/srv/x_y` is `srv-x_y` and `/srv/x/y` is `srv-x-y`, every byte
/// other than ASCII letters, digits, `:`, `_` and a `.` that does not start the
/// name written `\xNN`. Distinct canonical paths get distinct names.
pub fn escape_path(p: &Path) -> String {
    let bytes = p.as_os_str().as_bytes();
    let trimmed: Vec<&[u8]> = bytes.split(|b| *b == b'/').filter(|c| !c.is_empty()).collect();
    if trimmed.is_empty() {
        return "-".into();
    }
    let mut out = String::new();
    for (i, b) in trimmed.join(&b'/').iter().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i > 0 => out.push('.'),
            b if b.is_ascii_alphanumeric() || *b == b':' || *b == b'_' => out.push(*b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The socket's file name. A unix socket path must fit in 108 bytes, so a long
/// escaped name is replaced by `@` and a hash of the path (`@` is never left
/// unescaped, so a hashed name never equals an escaped one).
fn socket_name(canonical: &Path) -> String {
    let name = escape_path(canonical);
    if name.len() > 60 {
        let h = crate::gomod::h1::sha256(canonical.as_os_str().as_bytes());
        return format!("@{}.sock", crate::gomod::h1::hex(&h[..16]));
    }
    format!("{name}.sock")
}

/// Named after the absolute, symlink-free mountpoint: `mount mnt` and `stats /abs/mnt`
/// (or `status`, which knows mounts from the mount table) must agree. Never call this
/// on a mount that this very process serves but does not answer yet (it stats it).
fn name_for(mountpoint: &Path) -> String {
    socket_name(&mountpoint.canonicalize().unwrap_or_else(|_| mountpoint.to_path_buf()))
}

/// Where the stats socket of a mount served by this user lives. None if no
/// candidate directory is usable (see `usable_dir`).
pub fn socket_path(mountpoint: &Path) -> Option<PathBuf> {
    own_dirs().into_iter().find(|d| usable_dir(d, true)).map(|d| d.join(name_for(mountpoint)))
}

/// A socket this process bound: removed on `remove` only if the path still names
/// it, never a newer daemon's socket at the same path (after `umount --lazy` and a
/// new mount there, the old daemon exits last).
pub(crate) struct Served {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Served {
    pub(crate) fn remove(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {
                let _ = std::fs::remove_file(&self.path);
            }
            Ok(_) => log::info!("{}: replaced by another daemon's socket; leaving it", self.path.display()),
            Err(_) => {}
        }
    }
}

/// Binds the socket at `path` with the mode and group `access` asks for, and
/// serves `report()` (a JSON object) to every connection until the process exits.
///
/// The socket is bound in a fresh 0700 directory, given its mode there, and
/// renamed into place, so it is never reachable with the umask's mode, and it
/// replaces a stale socket atomically.
pub(crate) fn serve(
    path: &Path,
    access: &Access,
    report: Arc<dyn Fn() -> String + Send + Sync>,
) -> std::io::Result<Served> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".bind-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&tmp)?;
    let staged = tmp.join("s");
    let bound = (|| {
        let listener = UnixListener::bind(&staged)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(access.mode()))?;
        if let Access::Group { gid, .. } = access {
            std::os::unix::fs::lchown(&staged, None, Some(*gid))?;
        }
        std::fs::rename(&staged, path)?;
        Ok::<_, std::io::Error>(listener)
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&tmp);
    let listener = bound?;
    let m = std::fs::symlink_metadata(path)?;
    let served = Served { path: path.to_path_buf(), dev: m.dev(), ino: m.ino() };
    std::thread::Builder::new().name("stats".into()).spawn(move || accept_loop(listener, report))?;
    Ok(served)
}

/// Hands each client to a short-lived thread of its own (so one that never reads
/// holds up no one), at most `MAX_CLIENTS` at a time; backs off on accept errors
/// (EMFILE stays until descriptors are freed: retrying at once would spin).
fn accept_loop(listener: UnixListener, report: Arc<dyn Fn() -> String + Send + Sync>) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut backoff = Duration::ZERO;
    loop {
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if backoff.is_zero() {
                    log::warn!("stats socket: accept failed: {e}; retrying with back-off");
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                std::thread::sleep(backoff);
                continue;
            }
        };
        backoff = Duration::ZERO;
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: closes the connection
        }
        let (report, done) = (report.clone(), active.clone());
        let spawned = std::thread::Builder::new().name("stats-client".into()).spawn(move || {
            let mut conn = conn;
            if conn.set_write_timeout(Some(WRITE_TIMEOUT)).is_ok() {
                let _ = conn.write_all(report().as_bytes());
            }
            done.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads the report of a running mount, waiting at most `timeout` for it.
/// `mountpoint` must be canonical (as the mount table or `fuse::canonical_mountpoint`
/// gives it): resolving it here could wait on a hung daemon.
///
/// Errors by kind: `NotFound` (no socket: nothing serves that mount, or not for
/// this user), `PermissionDenied` (a socket this user may not connect to, with its
/// owner and mode), `TimedOut` (a socket whose daemon does not answer: stopped or
/// hung). Each message names the mountpoint.
pub(crate) fn fetch(mountpoint: &Path, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    let name = socket_name(mountpoint);
    let mut denied = None;
    for d in lookup_dirs().into_iter().filter(|d| usable_dir(d, false)) {
        let path = d.join(&name);
        match UnixStream::connect(&path) {
            Ok(c) => return read_report(c, &path, mountpoint, timeout),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                let who = std::fs::metadata(&path)
                    .map(|m| format!("owner uid {}, group gid {}, mode {:o}", m.uid(), m.gid(), m.mode() & 0o777))
                    .unwrap_or_default();
                denied.get_or_insert(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "{}: its stats socket {} is not open to this user (uid {}; {who}); \
                         its daemon grants access with --stats-access",
                        mountpoint.display(),
                        path.display(),
                        euid()
                    ),
                ));
            }
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("{}: no modcachefs daemon has a stats socket for it", mountpoint.display()),
        )
    }))
}

/// Connecting does not wait for the daemon (the kernel queues the connection), but
/// reading does: a stopped daemon would hang the caller. So the read happens on a
/// thread of its own, abandoned after `timeout` (the caller is a short-lived CLI).
fn read_report(c: UnixStream, path: &Path, mountpoint: &Path, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = c.set_read_timeout(Some(timeout));
    std::thread::spawn(move || {
        let mut c = c;
        let mut s = String::new();
        let _ = tx.send(c.read_to_string(&mut s).map(|_| s));
    });
    let no_answer = || {
        Error::new(
            ErrorKind::TimedOut,
            format!(
                "{}: its daemon does not answer on {} within {:.1} s (stopped or hung?)",
                mountpoint.display(),
                path.display(),
                timeout.as_secs_f64()
            ),
        )
    };
    match rx.recv_timeout(timeout) {
        Ok(Ok(s)) if s.is_empty() => Err(Error::new(
            ErrorKind::TimedOut,
            format!(
                "{}: its daemon closed {} without a report (too many clients?)",
                mountpoint.display(),
                path.display()
            ),
        )),
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(no_answer()),
        Ok(Err(e)) => Err(Error::new(e.kind(), format!("{}: {}: {e}", mountpoint.display(), path.display()))),
        Err(_) => Err(no_answer()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_injective_and_match_systemd_escape() {
        let cases = [
            ("/srv/gomod", "srv-gomod"),
            ("/srv/x_y", "srv-x_y"),
            ("/srv/x/y", "srv-x-y"),
            ("/srv/x-y", "srv-x\\x2dy"),
            ("/", "-"),
            ("/home/ci/.cache", "home-ci-.cache"),
            ("/.hidden", "\\x2ehidden"),
            ("/a b/ü", "a\\x20b-\\xc3\\xbc"),
            ("/srv/x\\x2dy", "srv-x\\x5cx2dy"),
        ];
        for (p, want) in cases {
            assert_eq!(escape_path(Path::new(p)), want, "{p}");
        }
        let paths = ["/srv/x_y", "/srv/x/y", "/srv/x-y", "/srv/x\\x2dy", "/srv/x.y", "/srv-x/y", "/srv/x", "/srvx/y"];
        let names: std::collections::BTreeSet<String> = paths.iter().map(|p| socket_name(Path::new(p))).collect();
        assert_eq!(names.len(), paths.len(), "{names:?}");
        // Long names are hashed, into names no escaped path can have.
        let long = format!("/{}", "a".repeat(100));
        let hashed = socket_name(Path::new(&long));
        assert!(hashed.starts_with('@') && hashed.len() < 60, "{hashed}");
        assert_ne!(hashed, socket_name(Path::new(&format!("/{}", "a".repeat(101)))));
    }

    #[test]
    fn access_values() {
        assert_eq!(Access::parse("owner"), Ok(Access::Owner));
        assert_eq!(Access::parse("all"), Ok(Access::All));
        assert_eq!(Access::parse("group=0"), Ok(Access::Group { gid: 0, name: "0".into() }));
        assert_eq!(Access::parse("group=root").map(|a| a.mode()), Ok(0o660));
        for bad in ["", "group=", "group=no-such-group-xyz", "world", "owner=1"] {
            assert!(Access::parse(bad).is_err(), "{bad}");
        }
    }
}
