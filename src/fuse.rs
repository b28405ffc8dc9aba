//! The thin fuser adapter: turns kernel requests into `Fs` calls and `Fs`
//! results into replies, plus the mount's lifecycle (signals, stale mounts).
//!
//! fuser runs one request loop. Everything answered from memory (lookup, getattr,
//! readdir, reads of files already extracted) is answered inline; anything that
//! may decompress or verify a module (open, reads of `.zip`) goes to a small
//! worker pool, so one large first read never stalls a parallel build.

use crate::error::{Error, Result};
use crate::fs::{Attr, Fs};
use fuser::consts::{
    FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE, FUSE_NO_OPENDIR_SUPPORT, FUSE_NO_OPEN_SUPPORT, FUSE_PARALLEL_DIROPS,
};
use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, MountOption, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Files never change once served, and when the store gains or loses a module the
/// kernel is told to forget the names concerned (live.rs: FUSE invalidation), so it
/// may cache names, attributes and negative lookups for as long as it likes.
const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads for requests that may block on decompression.
struct Pool {
    tx: Option<mpsc::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    fn new(n: usize) -> std::io::Result<Pool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let rx = rx.clone();
            threads.push(std::thread::Builder::new().name(format!("worker-{i}")).spawn(move || loop {
                let job = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })?);
        }
        Ok(Pool { tx: Some(tx), threads })
    }

    fn run(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(tx) = &self.tx {
            // The receiver only goes away at shutdown, when no reply matters any more.
            let _ = tx.send(Box::new(job));
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

pub struct Adapter {
    fs: Arc<Fs>,
    pool: Pool,
    uid: u32,
    gid: u32,
    /// The kernel opens files (and directories) without asking: set at INIT when
    /// it supports that (Linux >= 3.14 for files, >= 5.1 for directories).
    no_open: bool,
    no_opendir: bool,
}

/// Logs a failure once and turns it into an errno.
fn errno(fs: &Fs, e: &Error) -> i32 {
    crate::stats::inc(&fs.content.stats.errors);
    log::debug!("EIO: {e}");
    e.errno()
}

impl Adapter {
    pub fn new(fs: Arc<Fs>, workers: usize) -> std::io::Result<Adapter> {
        Ok(Adapter {
            fs,
            pool: Pool::new(workers)?,
            uid: unsafe { libc::geteuid() },
            gid: unsafe { libc::getegid() },
            no_open: false,
            no_opendir: false,
        })
    }

    fn file_attr(&self, a: &Attr) -> FileAttr {
        file_attr(a, self.uid, self.gid)
    }
}

fn file_attr(a: &Attr, uid: u32, gid: u32) -> FileAttr {
    FileAttr {
        ino: a.ino,
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: a.mtime,
        kind: if a.is_dir { FileType::Directory } else { FileType::RegularFile },
        perm: a.perm,
        nlink: a.nlink,
        uid,
        gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn negative_entry() -> FileAttr {
    // A lookup reply with node id 0 is a negative entry the kernel caches for the TTL:
    // cmd/go probes `.partial` files and absent versions a lot.
    FileAttr {
        ino: 0,
        size: 0,
        blocks: 0,
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl Filesystem for Adapter {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> std::result::Result<(), libc::c_int> {
        // Optional speed-ups: a kernel without them still works.
        let _ = config.add_capabilities(FUSE_PARALLEL_DIROPS);
        self.no_open = config.add_capabilities(FUSE_NO_OPEN_SUPPORT).is_ok();
        self.no_opendir = config.add_capabilities(FUSE_NO_OPENDIR_SUPPORT).is_ok();
        let _ = config.set_max_background(64);
        let _ = config.set_max_readahead(1 << 20).or_else(|max| config.set_max_readahead(max));
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str() else {
            return reply.entry(&TTL, &negative_entry(), 0);
        };
        if !self.fs.lookup_is_quick(parent, name) {
            // A module tree opened for the first time: its entries are loaded by a
            // worker, so a huge one never stalls the request loop.
            let (fs, name, uid, gid) = (self.fs.clone(), name.to_string(), self.uid, self.gid);
            return self.pool.run(move || match fs.lookup(parent, &name) {
                Ok(Some(a)) => reply.entry(&TTL, &file_attr(&a, uid, gid), 0),
                Ok(None) => reply.entry(&TTL, &negative_entry(), 0),
                Err(e) => reply.error(errno(&fs, &e)),
            });
        }
        match self.fs.lookup(parent, name) {
            Ok(Some(a)) => reply.entry(&TTL, &self.file_attr(&a), 0),
            Ok(None) => reply.entry(&TTL, &negative_entry(), 0),
            Err(e) => reply.error(errno(&self.fs, &e)),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        if !self.fs.is_quick(ino) {
            let (fs, uid, gid) = (self.fs.clone(), self.uid, self.gid);
            return self.pool.run(move || match fs.getattr(ino) {
                Ok(Some(a)) => reply.attr(&TTL, &file_attr(&a, uid, gid)),
                Ok(None) => reply.error(libc::ENOENT),
                Err(e) => reply.error(errno(&fs, &e)),
            });
        }
        match self.fs.getattr(ino) {
            Ok(Some(a)) => reply.attr(&TTL, &self.file_attr(&a)),
            Ok(None) => reply.error(libc::ENOENT),
            Err(e) => reply.error(errno(&self.fs, &e)),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
            return reply.error(libc::EROFS);
        }
        if self.no_open {
            // Zero-message opens: after this ENOSYS the kernel opens files itself, with
            // keep-cache implied, and sends neither OPEN nor RELEASE again. A warm open
            // then costs no round trip at all. Reads carry no handle: they go by inode.
            return reply.error(libc::ENOSYS);
        }
        // KEEP_CACHE: contents never change, so pages read once stay valid for every
        // later open, even after the daemon evicts its own copy.
        let fs = self.fs.clone();
        self.pool.run(move || match fs.open(ino) {
            Ok(Some(true)) => reply.opened(0, FOPEN_KEEP_CACHE),
            Ok(Some(false)) => reply.error(libc::EISDIR),
            Ok(None) => reply.error(libc::ENOENT),
            Err(e) => reply.error(errno(&fs, &e)),
        });
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyData,
    ) {
        let offset = offset.max(0) as u64;
        if let Some(b) = self.fs.read_quick(ino) {
            // Already in memory: answer inline.
            let data = crate::fs::slice(&b, offset, size);
            crate::stats::add(&self.fs.content.stats.bytes_served, data.len() as u64);
            return reply.data(data);
        }
        // Needs verification, extraction or a read from a blob: off the request loop.
        let fs = self.fs.clone();
        self.pool.run(move || match fs.read(ino, offset, size) {
            Ok(Some(d)) => reply.data(&d),
            Ok(None) => reply.error(libc::ENOENT),
            Err(e) => reply.error(errno(&fs, &e)),
        });
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock_owner: u64, reply: ReplyEmpty) {
        // Nothing is ever written, so there is nothing to flush. ENOSYS makes the
        // kernel stop sending FLUSH on every close: one round trip less per file.
        reply.error(libc::ENOSYS)
    }

    #[allow(clippy::too_many_arguments)]
    fn ioctl(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _flags: u32,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        // isatty() (TCGETS) on a file: Python's open() asks it of every file it opens.
        // The kernel forwards every ioctl and remembers no answer, so this is a round
        // trip per such open; answer at once, from the reading thread. Counted, so
        // request counts explain a slow reader.
        crate::stats::inc(&self.fs.content.stats.ioctls);
        reply.error(libc::ENOTTY)
    }

    fn opendir(&mut self, _req: &Request<'_>, _ino: u64, flags: i32, reply: ReplyOpen) {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(libc::EROFS);
        }
        if self.no_opendir {
            // As for files: no OPENDIR/RELEASEDIR round trips; cache-dir is implied.
            return reply.error(libc::ENOSYS);
        }
        reply.opened(0, FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE);
    }

    fn readdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, offset: i64, reply: ReplyDirectory) {
        if !self.fs.is_quick(ino) {
            let fs = self.fs.clone();
            return self.pool.run(move || readdir(&fs, ino, offset, reply));
        }
        readdir(&self.fs, ino, offset, reply)
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let (bytes, files) = self.fs.statfs_figures();
        reply.statfs(bytes.div_ceil(4096), 0, 0, files, 0, 4096, 255, 4096);
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, mask: i32, reply: ReplyEmpty) {
        if mask & libc::W_OK != 0 {
            reply.error(libc::EROFS)
        } else {
            reply.ok()
        }
    }

    fn getxattr(&mut self, _req: &Request<'_>, _ino: u64, _name: &OsStr, _size: u32, reply: ReplyXattr) {
        reply.error(libc::ENODATA)
    }

    fn listxattr(&mut self, _req: &Request<'_>, _ino: u64, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0)
        } else {
            reply.data(&[])
        }
    }

    // Every change is refused: the cache is read-only by design.
    fn setattr(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        reply.error(libc::EROFS)
    }

    fn mknod(&mut self, _r: &Request<'_>, _p: u64, _n: &OsStr, _m: u32, _u: u32, _d: u32, reply: ReplyEntry) {
        reply.error(libc::EROFS)
    }

    fn mkdir(&mut self, _r: &Request<'_>, _p: u64, _n: &OsStr, _m: u32, _u: u32, reply: ReplyEntry) {
        reply.error(libc::EROFS)
    }

    fn unlink(&mut self, _r: &Request<'_>, _p: u64, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(libc::EROFS)
    }

    fn rmdir(&mut self, _r: &Request<'_>, _p: u64, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(libc::EROFS)
    }

    fn symlink(&mut self, _r: &Request<'_>, _p: u64, _n: &OsStr, _l: &Path, reply: ReplyEntry) {
        reply.error(libc::EROFS)
    }

    fn rename(&mut self, _r: &Request<'_>, _p: u64, _n: &OsStr, _np: u64, _nn: &OsStr, _f: u32, reply: ReplyEmpty) {
        reply.error(libc::EROFS)
    }

    fn link(&mut self, _r: &Request<'_>, _i: u64, _np: u64, _nn: &OsStr, reply: ReplyEntry) {
        reply.error(libc::EROFS)
    }

    fn write(
        &mut self,
        _r: &Request<'_>,
        _i: u64,
        _fh: u64,
        _o: i64,
        _d: &[u8],
        _wf: u32,
        _f: i32,
        _l: Option<u64>,
        reply: ReplyWrite,
    ) {
        reply.error(libc::EROFS)
    }

    fn setxattr(&mut self, _r: &Request<'_>, _i: u64, _n: &OsStr, _v: &[u8], _f: i32, _p: u32, reply: ReplyEmpty) {
        reply.error(libc::EROFS)
    }

    fn removexattr(&mut self, _r: &Request<'_>, _i: u64, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(libc::EROFS)
    }

    fn create(&mut self, _r: &Request<'_>, _p: u64, _n: &OsStr, _m: u32, _u: u32, _f: i32, reply: fuser::ReplyCreate) {
        reply.error(libc::EROFS)
    }

    fn fallocate(&mut self, _r: &Request<'_>, _i: u64, _fh: u64, _o: i64, _l: i64, _m: i32, reply: ReplyEmpty) {
        reply.error(libc::EROFS)
    }
}

fn readdir(fs: &Fs, ino: u64, offset: i64, mut reply: ReplyDirectory) {
    let entries = match fs.readdir(ino) {
        Ok(Some(e)) => e,
        Ok(None) => return reply.error(libc::ENOTDIR),
        Err(e) => return reply.error(errno(fs, &e)),
    };
    let parent = fs.parent_of(ino).unwrap_or(ino);
    let dots = [(ino, "."), (parent, "..")];
    let all =
        dots.iter().map(|(i, n)| (*i, true, *n)).chain(entries.iter().map(|e| (e.ino, e.is_dir, e.name.as_str())));
    for (i, (ino, is_dir, name)) in all.enumerate().skip(offset.max(0) as usize) {
        let kind = if is_dir { FileType::Directory } else { FileType::RegularFile };
        if reply.add(ino, (i + 1) as i64, kind, name) {
            break;
        }
    }
    reply.ok();
}

#[derive(Debug, Clone)]
pub struct MountConfig {
    pub allow_other: bool,
    pub workers: usize,
    /// Shown as the mount's source in the mount table (the store directory).
    pub source: String,
    /// Who may read the stats socket.
    pub stats_access: crate::statsock::Access,
    /// The daemon's log file, for the report (None: standard error).
    pub log: Option<String>,
}

/// Is `p` the mountpoint of a FUSE filesystem whose daemon is gone
/// ("Transport endpoint is not connected")?
fn is_stale_mount(p: &Path) -> bool {
    if matches!(std::fs::metadata(p), Err(e) if e.raw_os_error() == Some(libc::ENOTCONN)) {
        return true;
    }
    // stat alone misses most stale mounts: the kernel answers it from the root's
    // attributes, cached for TTL (a year), even after the daemon died. statfs is
    // never cached: it always reaches the daemon, so a dead one shows as ENOTCONN.
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else { return false };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let failed = unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0;
    failed && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOTCONN)
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct MountEntry {
    /// `major:minor` of the mounted filesystem: tells two mounts at one path apart.
    pub dev: String,
    pub mountpoint: PathBuf,
    pub fstype: String,
    pub source: String,
    /// The filesystem's own options (for FUSE: `user_id=`, `allow_other`, ...).
    pub super_options: String,
}

impl MountEntry {
    /// Whether users other than the daemon's may use the mount.
    pub fn allow_other(&self) -> bool {
        self.super_options.split(',').any(|o| o == "allow_other")
    }

    /// The user who mounted it (a FUSE mount's `user_id=`).
    pub fn user_id(&self) -> Option<u32> {
        self.super_options.split(',').find_map(|o| o.strip_prefix("user_id=")).and_then(|v| v.parse().ok())
    }
}

fn unescape_mountinfo(s: &str) -> String {
    // Spaces, tabs, newlines and backslashes are written as \ooo octal escapes.
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The absolute, symlink-free form of a mountpoint, as the mount table spells it.
/// Another user's FUSE mount without allow_other refuses even a stat of its root
/// (EACCES), so then its parent is resolved instead and the name appended.
pub fn canonical_mountpoint(p: &Path) -> std::io::Result<PathBuf> {
    match p.canonicalize() {
        Ok(c) => Ok(c),
        Err(e) => {
            let name = p.file_name().ok_or_else(|| std::io::Error::new(e.kind(), e.to_string()))?;
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let c = parent.canonicalize()?.join(name);
            if mount_table().iter().any(|m| m.mountpoint == c) {
                Ok(c)
            } else {
                Err(e)
            }
        }
    }
}

/// Everything mounted, as this process sees it.
pub fn mount_table() -> Vec<MountEntry> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            Some(MountEntry {
                dev: f.get(2)?.to_string(),
                mountpoint: PathBuf::from(unescape_mountinfo(f.get(4)?)),
                fstype: f.get(dash + 1)?.to_string(),
                source: unescape_mountinfo(f.get(dash + 2)?),
                super_options: f.get(dash + 3).map_or_else(String::new, |o| o.to_string()),
            })
        })
        .collect()
}

/// The modcachefs mounts (type `fuse.modcachefs`).
pub fn modcachefs_mounts() -> Vec<MountEntry> {
    mount_table().into_iter().filter(|m| m.fstype == "fuse.modcachefs").collect()
}

fn is_mountpoint(p: &Path) -> bool {
    let Ok(canon) = p.canonicalize() else { return false };
    mount_table().iter().any(|m| m.mountpoint == canon)
}

/// Detaches whatever is mounted at `p` (lazily, so open files do not block it).
pub fn force_unmount(p: &Path) -> std::io::Result<()> {
    unmount(p, true)
}

/// Unmounts `p`: directly when privileged, else through the setuid fusermount3
/// (which lets users undo their own FUSE mounts). `lazy` detaches even if busy.
pub fn unmount(p: &Path, lazy: bool) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())?;
    if unsafe { libc::umount2(c.as_ptr(), if lazy { libc::MNT_DETACH } else { 0 }) } == 0 {
        return Ok(());
    }
    let direct = std::io::Error::last_os_error();
    if direct.raw_os_error() == Some(libc::EBUSY) {
        return Err(std::io::Error::other("busy (files are open); use --lazy to detach anyway"));
    }
    let mut cmd = std::process::Command::new("fusermount3");
    cmd.arg("-u");
    if lazy {
        cmd.arg("-z");
    }
    let status = cmd.arg(p).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("umount: {direct}; fusermount3 -u {} failed too", p.display())))
    }
}

/// Whether this process may open /dev/fuse for reading and writing.
fn can_open_dev_fuse() -> bool {
    unsafe { libc::faccessat(libc::AT_FDCWD, c"/dev/fuse".as_ptr(), libc::R_OK | libc::W_OK, libc::AT_EACCESS) == 0 }
}

fn block_signals() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Whether `mp` can be mounted on: an existing directory with nothing mounted on
/// it but, perhaps, a stale mount (which `serve` replaces). Checked by `--daemon`
/// before it forks too, so that a second mount at the same place fails without
/// touching the running one's log or socket.
pub fn check_mountpoint(mp: &Path) -> Result<()> {
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
pub fn serve(fs: Fs, mountpoint: &Path, cfg: &MountConfig, ready: &mut crate::daemon::Ready) -> Result<()> {
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
            unsafe { libc::geteuid() }
        )));
    }
    let sigs = block_signals();
    let fs = Arc::new(fs);
    let stats = fs.content.stats.clone();
    let adapter = Adapter::new(fs.clone(), cfg.workers).map_err(|e| Error::io("worker threads", e))?;
    let mut options = vec![
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
    if cfg.allow_other {
        options.push(MountOption::AllowOther);
    }
    // Before mounting: naming the socket resolves the mountpoint, which once mounted
    // only this process could answer.
    let sock = crate::statsock::socket_path(&mp);
    // The socket is there before the mount, so that `status` never sees the mount
    // without it (it would say NOT RESPONDING).
    let report_fs = fs.clone();
    let (mp_text, log_file) = (mp.to_string_lossy().into_owned(), cfg.log.clone());
    let report = Arc::new(move || {
        crate::stats::report(&report_fs.content.stats, &mp_text, log_file.as_deref(), report_fs.content.extracted())
    });
    let served = match &sock {
        Some(sock) => match crate::statsock::serve(sock, &cfg.stats_access, report) {
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
    let mut session = match fuser::Session::new(adapter, &mp, &options) {
        Ok(s) => s,
        Err(e) => {
            if let Some(s) = &served {
                s.remove();
            }
            return Err(Error::Invalid(format!("{}: cannot mount: {e}", mp.display())));
        }
    };
    // Follows the store as imports commit (live.rs); SIGHUP polls at once.
    let live =
        crate::live::start(fs.clone(), Some(Box::new(session.notifier()))).map_err(|e| Error::io("live thread", e))?;
    // We unmount ourselves (see below), never through fuser: fuser 0.16 cannot tell
    // that a mount is already gone (its POLLERR check is inverted, cberner/fuser#703)
    // and would umount(2) the path again, failing, or taking down a new mount made
    // at the same place meanwhile. So the session is never dropped (the process
    // exits right after), and its unmounter is never used.
    let main_thread = unsafe { libc::pthread_self() };
    let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gone_r = gone.clone();
    let runner = std::thread::Builder::new()
        .name("fuse".into())
        .spawn(move || {
            let r = session.run();
            // Dropping the session would make fuser unmount the path again (see above).
            std::mem::forget(session);
            // The mount is gone (we or someone else unmounted it): wake the main thread.
            gone_r.store(true, std::sync::atomic::Ordering::SeqCst);
            unsafe { libc::pthread_kill(main_thread, libc::SIGTERM) };
            r
        })
        .map_err(|e| Error::io("fuse thread", e))?;
    // Which of the mounts that may come and go at this path is ours.
    let our_dev = mount_table().into_iter().rev().find(|m| m.mountpoint == mp).map(|m| m.dev);
    ready.ok();
    crate::daemon::sd_notify(&format!("READY=1\nMAINPID={}\nSTATUS=serving {}", std::process::id(), mp.display()));
    log::info!(
        "serving {} at {} (stats: modcachefs stats {})",
        fs.content.store_dir().display(),
        mp.display(),
        mp.display()
    );
    let mut asked = 0;
    loop {
        let mut sig: libc::c_int = 0;
        if unsafe { libc::sigwait(&sigs, &mut sig) } != 0 {
            continue;
        }
        if gone.load(std::sync::atomic::Ordering::SeqCst) {
            log::info!("{} was unmounted", mp.display());
            break;
        }
        if sig == libc::SIGHUP {
            // "Re-read the store now", as daemons conventionally take it.
            live.reload_now();
            continue;
        }
        if sig == libc::SIGUSR1 {
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
        crate::daemon::sd_notify("STOPPING=1");
        log::info!("unmounting {}", mp.display());
        match unmount(&mp, asked > 1) {
            Ok(()) => {}
            Err(e) if asked == 1 => {
                log::warn!("{}: cannot unmount yet: {e}; still serving (signal again to detach lazily)", mp.display());
                continue;
            }
            Err(e) => log::error!("{}: cannot unmount: {e}", mp.display()),
        }
        break;
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
