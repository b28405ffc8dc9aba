//! Running as a daemon: forking so that `--daemon` returns only once the mount
//! answers, pidfiles, and the mount(8)/fstab helper calling convention.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Held by the daemonized child: tells the waiting parent how mounting went.
pub struct Ready {
    pipe: Option<std::fs::File>,
}

impl Ready {
    /// For foreground runs: nobody is waiting.
    pub fn none() -> Ready {
        Ready { pipe: None }
    }

    pub fn ok(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"ok\n");
        }
    }

    pub fn failed(&mut self, why: &str) {
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
pub fn daemonize(log: &Path, pidfile: Option<&Path>) -> Result<Option<Ready>> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let logf = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| Error::io(log, e))?;
    let mut fds = [0; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::io("pipe", std::io::Error::last_os_error()));
    }
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    match unsafe { libc::fork() } {
        -1 => Err(Error::io("fork", std::io::Error::last_os_error())),
        0 => {
            drop(rd);
            unsafe {
                libc::setsid();
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 {
                    libc::dup2(null, 0);
                    libc::dup2(null, 1);
                    libc::close(null);
                }
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&logf), 2);
            }
            if let Some(p) = pidfile {
                std::fs::write(p, format!("{}\n", std::process::id())).map_err(|e| Error::io(p, e))?;
            }
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

/// Where a daemon logs when not told: beside the mount's stats socket (None when
/// there is no private directory for it).
pub fn default_log(mountpoint: &Path) -> Option<PathBuf> {
    crate::stats::socket_path(mountpoint).map(|s| s.with_extension("log"))
}

const SUBCOMMANDS: &[&str] =
    &["import", "ls", "verify", "mount", "serve", "stats", "env", "umount", "status", "completions", "help"];

/// Recognizes the mount(8) helper convention and rewrites it as a `mount --daemon`
/// command line. mount(8) runs `mount.fuse.modcachefs SOURCE DIR -o OPTS` (or, via
/// mount.fuse3, `modcachefs SOURCE DIR -o OPTS`), where SOURCE is the store.
pub fn helper_args(args: &[OsString]) -> Option<Result<Vec<OsString>>> {
    let argv0 = Path::new(args.first()?).file_name()?.to_string_lossy().into_owned();
    let as_helper = argv0.starts_with("mount.");
    let first = args.get(1)?.to_string_lossy().into_owned();
    if !as_helper && (first.starts_with('-') || SUBCOMMANDS.contains(&first.as_str()) || args.len() < 3) {
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
                | "pidfile",
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
            (k, _) if k.starts_with("x-") || k.starts_with("comment=") => {}
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

    #[test]
    fn helper_convention() {
        let got = helper_args(&os(&[
            "/sbin/mount.fuse.modcachefs",
            "/srv/store",
            "/mnt",
            "-o",
            "ro,allow_other,cache_size=64MiB",
        ]))
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
        let via_fuse3 = helper_args(&os(&["modcachefs", "/srv/store", "/mnt", "-o", "ro,dev,suid"])).unwrap().unwrap();
        assert_eq!(via_fuse3[..6], os(&["modcachefs", "--store", "/srv/store", "mount", "/mnt", "--daemon"])[..]);
        assert!(helper_args(&os(&["modcachefs", "mount", "/mnt"])).is_none());
        assert!(helper_args(&os(&["modcachefs", "--store", "x", "ls"])).is_none());
        assert!(helper_args(&os(&["modcachefs", "/s", "/m", "-o", "rw"])).unwrap().is_ok());
        assert!(helper_args(&os(&["modcachefs", "/s", "/m", "-o", "bogus"])).unwrap().is_err());
    }
}
