//! Helpers for tests of daemons, as operators run them: commands that must
//! succeed, daemons that outlive the command that started them (always stopped
//! and unmounted on drop), runtime directories, and running as `nobody`.

use super::{is_mounted, ok, BIN};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `cmd` as the unprivileged user `nobody` (uid and gid 65534, no other groups),
/// with only PATH and the variables `cmd` sets.
pub fn setpriv_nobody(cmd: &Command) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(cmd.get_program()).args(cmd.get_args());
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    ok(&out, what)
}

pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Waits at most `secs` seconds for `child` to exit; its status if it did.
pub fn wait_child(child: &mut std::process::Child, secs: u64) -> Option<std::process::ExitStatus> {
    let mut status = None;
    wait_until(secs, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// Orphaned daemons become our children, so that we can reap them and see them gone
/// even where PID 1 does not reap (as in some containers).
pub fn become_subreaper() {
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "prctl(PR_SET_CHILD_SUBREAPER): {}", std::io::Error::last_os_error());
}

/// Is `pid` gone (reaping it if it is a zombie child of ours)?
pub fn gone(pid: i32) -> bool {
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    let r = unsafe { libc::kill(pid, 0) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

pub fn read_pid(pidfile: &Path) -> i32 {
    let s = std::fs::read_to_string(pidfile).unwrap_or_else(|e| panic!("{}: {e}", pidfile.display()));
    s.trim().parse().unwrap_or_else(|_| panic!("{}: not a pid: {s:?}", pidfile.display()))
}

/// A daemon that outlives the command that started it: unmounted and stopped on
/// drop, whatever happened.
pub struct Daemon {
    pub mnt: PathBuf,
    pub pid: Option<i32>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if is_mounted(&self.mnt) {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        if let Some(pid) = self.pid {
            if !gone(pid) {
                unsafe { libc::kill(pid, libc::SIGTERM) };
                if !wait_until(5, || gone(pid)) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    wait_until(5, || gone(pid));
                }
            }
        }
    }
}

/// A short private runtime directory for stats sockets and daemon logs: socket
/// paths are limited to 108 bytes.
pub fn runtime_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("mcfs-run").tempdir().expect("runtime dir")
}

pub fn mcfs(rt: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("XDG_RUNTIME_DIR", rt);
    c
}

/// Runs `cmd` to completion, but at most `secs` seconds: a command that hangs
/// (on a stopped daemon, say) fails the test instead of hanging it.
pub fn output_within(cmd: &mut Command, secs: u64, what: &str) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    // Drained while it runs: a full pipe would block it.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if t0.elapsed() < Duration::from_secs(secs) => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err.join().unwrap_or_default();
                panic!("{what}: still running after {secs} s; killed. stderr:\n{}", super::text(&stderr));
            }
        }
    };
    std::process::Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
}
