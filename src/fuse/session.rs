//! A mount's lifecycle: checks before mounting, the fuser session, the stats
//! socket, readiness, and the signal loop that ends it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fuser::{Config, MountOption, SessionACL};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use super::adapter::Adapter;
use super::mounttab::{force_unmount, is_mountpoint, is_stale_mount, mount_table, unmount, MountEntry};
use crate::error::{Error, Result};
use crate::vfs::fs::Fs;

#[derive(Debug, Clone)]
pub(crate) struct MountConfig {
    pub(crate) allow_other: bool,
    pub(crate) workers: usize,
    /// Shown as the mount's source in the mount table (the store directory).
    pub source: String,
    /// Who may read the stats socket.
    pub(crate) stats_access: crate::ops::statsock::Access,
    /// The daemon's log file, for the report (None: standard error).
    pub(crate) log: Option<String>,
}

/// Whether this process may open /dev/fuse for reading and writing (checked with
/// the effective ids, as open(2) will be).
fn can_open_dev_fuse() -> bool {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    accessat(CWD, "/dev/fuse", Access::READ_OK | Access::WRITE_OK, AtFlags::EACCESS).is_ok()
}

/// Whether `mp` can be mounted on: an existing directory with nothing mounted on
/// it but, perhaps, a stale mount (which `serve` replaces). Checked by `--daemon`
/// before it forks too, so that a second mount at the same place fails without
/// touching the running one's log or socket.
pub(crate) fn check_mountpoint(mp: &Path) -> Result<()> {
    if is_stale_mount(mp) {
        return Ok(());
    }
    let meta = std::fs::metadata(mp).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Invalid(format!("{}: the mountpoint does not exist; create the directory first", mp.display()))
        } else {
            Error::Invalid(format!("{}: cannot use it as the mountpoint: {e}", mp.display()))
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!("{}: mountpoint is not a directory", mp.display())));
    }
    if is_mountpoint(mp) {
        return Err(Error::Invalid(format!(
            "{}: something is already mounted here; unmount it first (modcachefs umount / fusermount3 -u)",
            mp.display()
        )));
    }
    Ok(())
}

/// Mounts `fs` at `mountpoint` and serves until SIGINT/SIGTERM or an external
/// unmount. SIGHUP re-reads the store; SIGUSR1 logs the counters.
pub(crate) fn serve(fs: Fs, mountpoint: &Path, cfg: &MountConfig, ready: &mut crate::ops::daemon::Ready) -> Result<()> {
    let mp = PathBuf::from(mountpoint);
    if is_stale_mount(&mp) {
        log::warn!("{}: a stale mount (its daemon died) is in the way; detaching it", mp.display());
        force_unmount(&mp).map_err(|e| Error::io(&mp, e))?;
    }
    check_mountpoint(&mp)?;
    if let Err(e) = std::fs::metadata("/dev/fuse") {
        return Err(Error::Invalid(format!("/dev/fuse: {e}; load the fuse module or run with access to /dev/fuse")));
    }
    if !can_open_dev_fuse() {
        // fuser would only say "Permission denied". The setuid fusermount3 cannot
        // help either: it opens /dev/fuse as the calling user on purpose, so that the
        // device's mode decides who may use FUSE (Debian's is 0666).
        let mode = std::fs::metadata("/dev/fuse").map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
        return Err(Error::Invalid(format!(
            "/dev/fuse (mode {:o}): this user (uid {}) may not open it, so may not mount FUSE filesystems; \
             ask the administrator for access to /dev/fuse, or mount as root",
            mode.unwrap_or(0) & 0o7777,
            rustix::process::geteuid().as_raw()
        )));
    }
    // Installed before any thread starts, so no signal is lost; the handlers only
    // write to signal-hook's pipe (SA_RESTART: other threads' syscalls go on).
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1]).map_err(|e| Error::io("signal handlers", e))?;
    let wake = signals.handle();
    let fs = Arc::new(fs);
    let stats = fs.stats().clone();
    // Set when fuser's session has ended (every request loop saw the mount go):
    // then the signal loop ends too.
    let gone = Arc::new(AtomicBool::new(false));
    let gone_w = gone.clone();
    let adapter = Adapter::new(fs.clone(), cfg.workers, move || {
        gone_w.store(true, Ordering::SeqCst);
        wake.close();
    })
    .map_err(|e| Error::io("worker threads", e))?;
    let options = vec![
        // The source column of the mount table: the store, unless its path would
        // break the comma-separated option string.
        MountOption::FSName(if cfg.source.contains([',', ' ', '\t', '\n']) || cfg.source.is_empty() {
            "modcachefs".into()
        } else {
            cfg.source.clone()
        }),
        // As a kernel option (not fuser's Subtype, which only fusermount sees) so
        // the mount table says `fuse.modcachefs` however we mounted.
        MountOption::CUSTOM("subtype=modcachefs".into()),
        MountOption::RO,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::DefaultPermissions,
    ];
    let mut config = Config::default();
    config.mount_options = options;
    // `allow_other` (fuser adds it to the mount options); otherwise the kernel and
    // fuser both refuse other users' requests.
    config.acl = if cfg.allow_other { SessionACL::All } else { SessionACL::Owner };
    // One request loop per worker, all reading the one /dev/fuse descriptor: the
    // kernel gives each request to a loop that is waiting for one, so a loop busy
    // verifying or extracting a module holds up no one else's request.
    config.n_threads = Some(cfg.workers.max(1));
    // Each loop allocates a 16 MiB request buffer (fuser: the largest write the
    // kernel may send; we take none). Left to glibc's sliding mmap threshold, many
    // of them land in per-thread arenas already used, where calloc must zero them,
    // so they stay resident: 240-330 MB idle with --workers 256. From 4 MiB up,
    // allocations get fresh mappings, whose untouched pages cost nothing; replies
    // (at most 1 MiB) stay on the heap. Cached files have their own mappings
    // (pagebuf.rs) either way.
    // SAFETY: mallopt only sets an allocator parameter; it takes no pointers.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20) };
    // Not `clone_fd` (a descriptor per loop, FUSE_DEV_IOC_CLONE): the kernel then
    // keeps a loop's requests in that descriptor's own queue and finds a reply only
    // there, but fuser answers FUSE_INTERRUPT (ENOSYS: "never interrupt") from
    // whichever loop read it. From another loop that answer fails (ENOENT, logged as
    // an error), the kernel never learns to stop interrupting, and every signal to
    // a process waiting on us (Go preempts goroutines with SIGURG) costs another
    // round trip and another error line.
    config.clone_fd = false;
    // Before mounting: naming the socket resolves the mountpoint, which once mounted
    // only this process could answer.
    let sock = crate::ops::statsock::socket_path(&mp);
    // The socket is there before the mount, so that `status` never sees the mount
    // without it (it would say NOT RESPONDING).
    let report_fs = fs.clone();
    let (mp_text, log_file) = (mp.to_string_lossy().into_owned(), cfg.log.clone());
    let report = Arc::new(move || {
        crate::ops::stats::report(report_fs.stats(), &mp_text, log_file.as_deref(), report_fs.extracted())
    });
    let served = match &sock {
        Some(sock) => match crate::ops::statsock::serve(sock, &cfg.stats_access, report) {
            Ok(s) => Some(s),
            Err(e) => {
                log::warn!("stats socket {}: {e}; `modcachefs stats` will not reach this mount", sock.display());
                None
            }
        },
        None => {
            log::warn!("no private directory for the stats socket; `modcachefs stats` will not reach this mount");
            None
        }
    };
    // Mounts, and answers the kernel's INIT before returning.
    let started = fuser::Session::new(adapter, &mp, &config).and_then(|s| s.spawn());
    let mut session = match started {
        Ok(s) => s,
        Err(e) => {
            if let Some(s) = &served {
                s.remove();
            }
            return Err(Error::Invalid(format!("{}: cannot mount: {e}", mp.display())));
        }
    };
    // Follows the store as imports commit (live.rs); SIGHUP polls at once.
    let live = crate::vfs::live::start(fs.clone(), Some(Box::new(session.notifier())))
        .map_err(|e| Error::io("live thread", e))?;
    // We unmount ourselves (see below), never through fuser: fuser (0.16 to 0.18)
    // cannot tell that a mount is already gone (its POLLERR check is inverted,
    // cberner/fuser#703) and would umount(2) the path again, failing, or taking
    // down a new mount made at the same place meanwhile. `spawn` moved fuser's
    // unmounter into the handle; the handle is never dropped (the process exits
    // right after), so that unmounter never runs. Its thread is joined through the
    // handle's JoinHandle, swapped out for one of a thread that has nothing to do.
    let runner = std::mem::replace(&mut session.guard, std::thread::spawn(|| Ok(())));
    std::mem::forget(session);
    // Which of the mounts that may come and go at this path is ours.
    let our_dev = mount_table().into_iter().rev().find(|m| m.mountpoint == mp).map(|m| m.dev);
    ready.ok();
    crate::ops::daemon::sd_notify(&format!("READY=1\nMAINPID={}\nSTATUS=serving {}", std::process::id(), mp.display()));
    log::info!("serving {} at {} (stats: modcachefs stats {})", fs.store_dir().display(), mp.display(), mp.display());
    let mut asked = 0;
    let mut stopped = false;
    // Ends when a stop request unmounted us, or when the session ended (`wake`).
    for sig in signals.forever() {
        if gone.load(Ordering::SeqCst) {
            break;
        }
        if sig == SIGHUP {
            // "Re-read the store now", as daemons conventionally take it.
            live.reload_now();
            continue;
        }
        if sig == SIGUSR1 {
            // SAFETY: mallinfo2 takes no arguments and only reads glibc's allocator
            // statistics; it has no preconditions.
            let mi = unsafe { libc::mallinfo2() };
            log::warn!(
                "counters:\n{}malloc: in use {} KiB (+{} KiB mmapped), free but held {} KiB",
                stats.to_text(),
                mi.uordblks >> 10,
                mi.hblkhd >> 10,
                mi.fordblks >> 10
            );
            continue;
        }
        // A stop request. A busy mount (open files, a shell inside) refuses a plain
        // unmount; then keep serving and detach lazily on the next request.
        asked += 1;
        let ours = |m: &MountEntry| m.mountpoint == mp && our_dev.as_ref().is_none_or(|d| *d == m.dev);
        if !mount_table().iter().any(ours) {
            // Already detached (`umount --lazy`, `modcachefs umount --grace`): files
            // still open on it keep working until closed, and then the session ends.
            log::info!("{} is detached; serving the files still open on it until they are closed", mp.display());
            continue;
        }
        crate::ops::daemon::sd_notify("STOPPING=1");
        log::info!("unmounting {}", mp.display());
        match unmount(&mp, asked > 1) {
            Ok(()) => {}
            Err(e) if asked == 1 => {
                log::warn!("{}: cannot unmount yet: {e}; still serving (signal again to detach lazily)", mp.display());
                continue;
            }
            Err(e) => log::error!("{}: cannot unmount: {e}", mp.display()),
        }
        stopped = true;
        break;
    }
    if !stopped {
        log::info!("{} was unmounted", mp.display());
    }
    if let Some(s) = &served {
        s.remove();
    }
    match runner.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::io(&mp, e)),
        Err(_) => Err(Error::Invalid("the FUSE thread panicked".into())),
    }
}
