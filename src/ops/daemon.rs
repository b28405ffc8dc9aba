//! Running as a daemon: forking so that `--daemon` returns only once the mount
//! answers, pidfiles, and the mount(8)/fstab helper calling convention.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Held by the daemonized child: tells the waiting parent how mounting went.
pub(crate) struct Ready {
    pipe: Option<std::fs::File>,
}

impl Ready {
    /// For foreground runs: nobody is waiting.
    pub(crate) fn none() -> Ready {
        Ready { pipe: None }
    }

    pub(crate) fn ok(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"ok\n");
        }
    }

    pub(crate) fn failed(&mut self, why: &str) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(why.as_bytes());
        }
    }
}

/// Forks into the background. Must be called before any thread is started.
///
/// In the parent, waits until the child reports that the mount answers (or why it
/// could not mount) and returns `Ok(None)` on success, an error otherwise; the
/// parent should then exit. In the child (a new session, stdin from /dev/null,
/// stdout and stderr to `log`), returns the handle to report readiness with.
/// The log is opened (see `open_log`) before forking, so that a log that cannot be
/// used is refused by the command itself.
pub(crate) fn daemonize(log: &Path) -> Result<Option<Ready>> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let logf = open_log(log)?;
    let (rd, wr) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::io("pipe", e.into()))?;
    // SAFETY: fork has no memory-safety preconditions of its own. It is called
    // before the daemon starts any thread (the store is opened and the mount made
    // in the child), so the child is not left with locks held by vanished threads.
    match unsafe { libc::fork() } {
        -1 => Err(Error::io("fork", std::io::Error::last_os_error())),
        0 => {
            drop(rd);
            // A new session: no controlling terminal, not killed with the shell.
            let _ = rustix::process::setsid();
            if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                let _ = rustix::stdio::dup2_stdin(&null);
                let _ = rustix::stdio::dup2_stdout(&null);
            }
            let _ = rustix::stdio::dup2_stderr(&logf);
            Ok(Some(Ready { pipe: Some(std::fs::File::from(wr)) }))
        }
        _child => {
            drop(wr);
            let mut msg = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut msg);
            match msg.as_str() {
                "ok\n" => Ok(None),
                "" => Err(Error::Invalid(format!("the daemon exited before mounting; see {}", log.display()))),
                why => Err(Error::Invalid(why.trim().to_string())),
            }
        }
    }
}

fn nofollow_open(path: &Path, flags: i32, mode: u32) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY).mode(mode);
    match flags {
        libc::O_RDONLY => o.read(true),
        _ => o.write(true),
    };
    if flags & libc::O_APPEND != 0 {
        o.append(true);
    }
    if flags & libc::O_CREAT != 0 {
        o.create(true);
    }
    if flags & libc::O_EXCL != 0 {
        o.create_new(true);
    }
    o.open(path)
}

/// Opens the daemon's log for appending, as root would open it in a directory
/// others may write to: never through a symlink (`O_NOFOLLOW`), created 0640,
/// and only a regular file of the daemon's own user with one name (a hard link
/// to another of its files would be appended to as well). An existing log is
/// made 0640 too.
pub(crate) fn open_log(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let f = nofollow_open(path, libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, 0o640).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            Error::Invalid(format!("{}: log file is a symbolic link; refusing to write through it", path.display()))
        } else {
            Error::io(path, e)
        }
    })?;
    let m = f.metadata().map_err(|e| Error::io(path, e))?;
    let me = rustix::process::geteuid().as_raw();
    if !m.file_type().is_file() {
        return Err(Error::Invalid(format!("{}: log file is not a regular file", path.display())));
    }
    if m.uid() != me || m.nlink() != 1 {
        return Err(Error::Invalid(format!(
            "{}: log file belongs to uid {} (we are uid {me}) or has {} names; refusing to append to it",
            path.display(),
            m.uid(),
            m.nlink()
        )));
    }
    if m.mode() & 0o7777 != 0o640 {
        f.set_permissions(std::fs::Permissions::from_mode(0o640)).map_err(|e| Error::io(path, e))?;
    }
    Ok(f)
}

/// The pid a pidfile holds, read without following a symlink.
fn pidfile_pid(path: &Path) -> Option<i32> {
    let mut s = String::new();
    nofollow_open(path, libc::O_RDONLY, 0).ok()?.take(64).read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// Whether `pid` is a running modcachefs (its executable's name says so).
fn is_live_modcachefs(pid: i32) -> bool {
    if pid == std::process::id() as i32 {
        return false; // our own pid, left by a process that had it before us
    }
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let name = exe.as_deref().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
    name.is_some_and(|n| n.starts_with("modcachefs") || n.starts_with("mount.fuse.modcachefs"))
}

/// Writes this process's pid to `path`, never through a symlink: created with
/// `O_EXCL|O_NOFOLLOW`. A pidfile already there is replaced only if it is a
/// regular file whose pid is not a running modcachefs, and then by a new file
/// renamed over it (never by opening the old path for writing).
pub(crate) fn write_pidfile(path: &Path) -> Result<()> {
    let text = format!("{}\n", std::process::id());
    let exists = match nofollow_open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o644) {
        Ok(mut f) => return f.write_all(text.as_bytes()).map_err(|e| Error::io(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => e,
        Err(e) => return Err(Error::io(path, e)),
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(Error::Invalid(format!(
            "{}: pidfile exists and is not a regular file (a symbolic link?); refusing to replace it",
            path.display()
        )));
    }
    if let Some(pid) = pidfile_pid(path) {
        if is_live_modcachefs(pid) {
            return Err(Error::Invalid(format!(
                "{}: pidfile names a running modcachefs (pid {pid}); is this mount already served?",
                path.display()
            )));
        }
    }
    log::info!("{}: replacing a stale pidfile ({exists})", path.display());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f =
        nofollow_open(&tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o644).map_err(|e| Error::io(&tmp, e))?;
    let res = f.write_all(text.as_bytes()).and_then(|_| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(|e| Error::io(path, e))
}

/// Removes the pidfile if it is still ours (holds our pid).
pub(crate) fn remove_pidfile(path: &Path) {
    if pidfile_pid(path) == Some(std::process::id() as i32) {
        let _ = std::fs::remove_file(path);
    }
}

/// Tells systemd (a `Type=notify` unit) that the service is ready or stopping, by
/// a datagram to `$NOTIFY_SOCKET` (sd_notify(3)); nothing when not run by systemd.
/// Written here rather than with a crate: it is one datagram.
pub(crate) fn sd_notify(state: &str) {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let addr = match path.as_encoded_bytes().strip_prefix(b"@") {
        Some(abs) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abs)
        }
        None => SocketAddr::from_pathname(&path),
    };
    let sent = UnixDatagram::unbound().and_then(|s| addr.and_then(|a| s.send_to_addr(state.as_bytes(), &a)));
    if let Err(e) = sent {
        log::warn!("cannot notify systemd ({}): {e}", Path::new(&path).display());
    }
}

/// Where a daemon logs when not told: beside the mount's stats socket (None when
/// there is no private directory for it).
pub fn default_log(mountpoint: &Path) -> Option<PathBuf> {
    crate::ops::statsock::socket_path(mountpoint).map(|s| s.with_extension("log"))
}

/// Recognizes the mount(8) helper convention and rewrites it as a `mount --daemon`
/// command line. mount(8) runs `mount.fuse.modcachefs SOURCE DIR -o OPTS` (or, via
/// mount.fuse3, `modcachefs SOURCE DIR -o OPTS`), where SOURCE is the store.
/// `is_subcommand` tells the command's own subcommands apart (the CLI's, from clap).
pub(crate) fn helper_args(args: &[OsString], is_subcommand: impl Fn(&str) -> bool) -> Option<Result<Vec<OsString>>> {
    let argv0 = Path::new(args.first()?).file_name()?.to_string_lossy().into_owned();
    let as_helper = argv0.starts_with("mount.");
    let first = args.get(1)?.to_string_lossy().into_owned();
    if !as_helper && (first.starts_with('-') || is_subcommand(&first) || args.len() < 3) {
        return None;
    }
    Some(translate(args))
}

fn translate(args: &[OsString]) -> Result<Vec<OsString>> {
    let usage = || Error::Invalid("usage as a mount helper: modcachefs STORE MOUNTPOINT [-o OPTIONS]".into());
    // The option value after -o is not a positional argument.
    let mut opts = Vec::new();
    let mut pos = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy().into_owned();
        match a.as_str() {
            "-o" => {
                opts.extend(args.get(i + 1).ok_or_else(usage)?.to_string_lossy().split(',').map(str::to_string));
                i += 1;
            }
            // mount(8) flags: fake, no mtab, sloppy, verbose: nothing to do.
            "-f" | "-n" | "-s" | "-v" => {}
            s if s.starts_with("-o") => opts.extend(s[2..].split(',').map(str::to_string)),
            s if s.starts_with('-') => return Err(Error::Invalid(format!("mount helper: unknown flag {s}"))),
            _ => pos.push(args[i].clone()),
        }
        i += 1;
    }
    let [store, mountpoint] = <[OsString; 2]>::try_from(pos).map_err(|_| usage())?;
    let mut out: Vec<OsString> = vec!["modcachefs".into(), "--store".into(), store, "mount".into(), mountpoint];
    out.push("--daemon".into());
    for o in opts.iter().filter(|o| !o.is_empty()) {
        let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
        match (k, v) {
            ("allow_other", "") => out.push("--allow-other".into()),
            (
                "cache_size" | "cache_dir" | "cache_dir_size" | "go_sum" | "verify" | "workers" | "log_file"
                | "pidfile" | "stats_access",
                v,
            ) if !v.is_empty() => {
                out.push(format!("--{}", k.replace('_', "-")).into());
                out.push(v.into());
            }
            // Always in effect, or meaningful only to mount(8)/systemd. mount(8) passes
            // `rw` whenever `ro` is absent; the mount is read-only regardless.
            (
                "ro"
                | "rw"
                | "default_permissions"
                | "nodev"
                | "nosuid"
                | "dev"
                | "suid"
                | "exec"
                | "noexec"
                | "auto"
                | "noauto"
                | "user"
                | "users"
                | "nouser"
                | "_netdev"
                | "nofail"
                | "defaults"
                | "atime"
                | "noatime"
                | "relatime",
                _,
            ) => {}
            // systemd's `x-systemd.*` and fstab `comment=` options are for others.
            (k, _) if k.starts_with("x-") || k == "comment" => {}
            _ => return Err(Error::Invalid(format!("mount helper: unknown option {o:?}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    /// `helper_args` as `main` calls it, with the CLI's own subcommands.
    fn helper(v: &[&str]) -> Option<Result<Vec<OsString>>> {
        helper_args(&os(v), crate::cli::args::is_subcommand)
    }

    #[test]
    fn helper_convention() {
        let got =
            helper(&["/sbin/mount.fuse.modcachefs", "/srv/store", "/mnt", "-o", "ro,allow_other,cache_size=64MiB"])
                .unwrap()
                .unwrap();
        assert_eq!(
            got,
            os(&[
                "modcachefs",
                "--store",
                "/srv/store",
                "mount",
                "/mnt",
                "--daemon",
                "--allow-other",
                "--cache-size",
                "64MiB"
            ])
        );
        let via_fuse3 = helper(&["modcachefs", "/srv/store", "/mnt", "-o", "ro,dev,suid"]).unwrap().unwrap();
        assert_eq!(via_fuse3[..6], os(&["modcachefs", "--store", "/srv/store", "mount", "/mnt", "--daemon"])[..]);
        assert!(helper(&["modcachefs", "mount", "/mnt"]).is_none());
        assert!(helper(&["modcachefs", "--store", "x", "ls"]).is_none());
        assert!(helper(&["modcachefs", "/s", "/m", "-o", "rw"]).unwrap().is_ok());
        assert!(helper(&["modcachefs", "/s", "/m", "-o", "bogus"]).unwrap().is_err());
        // fstab's comment= (systemd reads some) and x-* options are accepted and dropped.
        let ignored =
            helper(&["modcachefs", "/s", "/m", "-o", "ro,comment=systemd.automount,x-systemd.idle-timeout=60"]);
        assert_eq!(ignored.unwrap().unwrap(), os(&["modcachefs", "--store", "/s", "mount", "/m", "--daemon"]));
    }
}
