//! The thin fuser adapter: turns kernel requests into `Fs` calls and `Fs`
//! results into replies.
//!
//! fuser runs `--workers` request loops, all reading the one /dev/fuse descriptor,
//! and calls these methods on them concurrently (`&self`). Most requests are
//! answered on the loop that read it, cold reads of small files included: no
//! hand-off to another thread, so such a read costs one thread wake-up instead of
//! two (docs/benchmarks.md, "Request loops"). The few that may take long go to
//! one of two pools of as many workers (`Fs::*_weight` decide): a module's first
//! lookup, which loads its entry list, to one; a whole `.zip` not verified yet or
//! a file over 1 MiB to the other. So the loops stay free for everyone's quick
//! requests however many slow ones a build, or a user on purpose, has in flight,
//! and many whole-`.zip` reads (`go mod verify`) never hold up a build's lookups.

use crate::error::Error;
use crate::vfs::fs::{Attr, Fs, Weight};
use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    InitFlags, IoctlFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request,
    TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::pool::Pool;

/// Files never change once served, and when the store gains or loses a module the
/// kernel is told to forget the names concerned (live.rs: FUSE invalidation), so it
/// may cache names, attributes and negative lookups for as long as it likes.
const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Run once when fuser ends the session (all request loops have returned).
type OnEnd = Box<dyn FnOnce() + Send + Sync>;

pub(crate) struct Adapter {
    fs: Arc<Fs>,
    uid: u32,
    gid: u32,
    /// The kernel opens files (and directories) without asking: set at INIT when
    /// it supports that (Linux >= 3.14 for files, >= 5.1 for directories).
    no_open: bool,
    no_opendir: bool,
    on_end: Option<OnEnd>,
    /// Requests that load a module's entry list ([`Weight::List`]), off the loops.
    lists: Pool,
    /// Requests that verify or extract many bytes ([`Weight::Bulk`]), off the loops.
    bulk: Pool,
}

/// Counts a failure, logs its cause once, and turns it into an errno.
fn errno(fs: &Fs, e: &Error) -> Errno {
    Errno::from_i32(crate::vfs::failures::record(fs.stats(), e))
}

impl Adapter {
    /// `on_end` runs when the session ends, however it ends (unmounted, or the
    /// connection aborted): the lifecycle learns it without joining fuser's thread.
    pub fn new(fs: Arc<Fs>, workers: usize, on_end: impl FnOnce() + Send + Sync + 'static) -> std::io::Result<Adapter> {
        Ok(Adapter {
            fs,
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            no_open: false,
            no_opendir: false,
            on_end: Some(Box::new(on_end)),
            lists: Pool::new("lists", workers)?,
            bulk: Pool::new("bulk", workers)?,
        })
    }

    /// Runs `job` (which replies) on this loop, or on a worker if it may take long:
    /// the loops then stay free for everyone's quick requests. Only a job handed
    /// to a worker takes a reference to the `Fs` with it.
    fn answer(&self, weight: Weight, job: impl FnOnce(&Fs) + Send + 'static) {
        let pool = match weight {
            Weight::Quick => return job(&self.fs),
            Weight::List => &self.lists,
            Weight::Bulk => &self.bulk,
        };
        let fs = self.fs.clone();
        pool.run(move || job(&fs))
    }
}

fn file_attr(a: &Attr, uid: u32, gid: u32) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
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
        ino: INodeNo(0),
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

/// Whether an open asks for more than reading (O_TRUNC without write access
/// still truncates).
fn writes(flags: OpenFlags) -> bool {
    flags.0 & libc::O_ACCMODE != libc::O_RDONLY || flags.0 & libc::O_TRUNC != 0
}

impl Filesystem for Adapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Optional speed-ups: a kernel without them still works.
        let _ = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS);
        self.no_open = config.add_capabilities(InitFlags::FUSE_NO_OPEN_SUPPORT).is_ok();
        self.no_opendir = config.add_capabilities(InitFlags::FUSE_NO_OPENDIR_SUPPORT).is_ok();
        let _ = config.set_max_background(64);
        let _ = config.set_max_readahead(1 << 20).or_else(|max| config.set_max_readahead(max));
        Ok(())
    }

    fn destroy(&mut self) {
        if let Some(f) = self.on_end.take() {
            f();
        }
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str() else {
            return reply.entry(&TTL, &negative_entry(), Generation(0));
        };
        let (uid, gid) = (self.uid, self.gid);
        let answer = move |fs: &Fs, name: &str| match fs.lookup(parent.0, name) {
            Ok(Some(a)) => reply.entry(&TTL, &file_attr(&a, uid, gid), Generation(0)),
            Ok(None) => reply.entry(&TTL, &negative_entry(), Generation(0)),
            Err(e) => reply.error(errno(fs, &e)),
        };
        match self.fs.lookup_weight(parent.0, name) {
            // The most frequent request: no copy of the name unless it leaves this loop.
            Weight::Quick => answer(&self.fs, name),
            weight => {
                let name = name.to_owned();
                self.answer(weight, move |fs| answer(fs, &name))
            }
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let (uid, gid) = (self.uid, self.gid);
        self.answer(self.fs.node_weight(ino.0), move |fs| match fs.getattr(ino.0) {
            Ok(Some(a)) => reply.attr(&TTL, &file_attr(&a, uid, gid)),
            Ok(None) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(errno(fs, &e)),
        })
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if writes(flags) {
            return reply.error(Errno::EROFS);
        }
        if self.no_open {
            // Zero-message opens: after this ENOSYS the kernel opens files itself, with
            // keep-cache implied, and sends neither OPEN nor RELEASE again. A warm open
            // then costs no round trip at all. Reads carry no handle: they go by inode.
            return reply.error(Errno::ENOSYS);
        }
        // KEEP_CACHE: contents never change, so pages read once stay valid for every
        // later open, even after the daemon evicts its own copy.
        match self.fs.open(ino.0) {
            Ok(Some(true)) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Ok(Some(false)) => reply.error(Errno::EISDIR),
            Ok(None) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(errno(&self.fs, &e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if let Some(b) = self.fs.read_quick(ino.0) {
            // Already in memory: answer from it without a copy.
            let data = crate::vfs::fs::slice(&b, offset, size);
            crate::ops::stats::add(&self.fs.stats().bytes_served, data.len() as u64);
            return reply.data(data);
        }
        // Needs verification, extraction or a read from a blob: on this loop unless
        // it may take long.
        self.answer(self.fs.read_weight(ino.0), move |fs| match fs.read_data(ino.0, offset, size) {
            Ok(Some(d)) => reply.data(&d),
            Ok(None) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(errno(fs, &e)),
        })
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        // Nothing is ever written, so there is nothing to flush. ENOSYS makes the
        // kernel stop sending FLUSH on every close: one round trip less per file.
        reply.error(Errno::ENOSYS)
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        // isatty() (TCGETS) on a file: Python's open() asks it of every file it opens.
        // The kernel forwards every ioctl and remembers no answer, so this is a round
        // trip per such open; answer at once. Counted, so request counts explain a
        // slow reader.
        crate::ops::stats::inc(&self.fs.stats().ioctls);
        reply.error(Errno::ENOTTY)
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        if self.no_opendir {
            // As for files: no OPENDIR/RELEASEDIR round trips; cache-dir is implied.
            return reply.error(Errno::ENOSYS);
        }
        reply.opened(FileHandle(0), FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE);
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, reply: ReplyDirectory) {
        self.answer(self.fs.node_weight(ino.0), move |fs| readdir(fs, ino.0, offset, reply))
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let (bytes, files) = self.fs.statfs_figures();
        reply.statfs(bytes.div_ceil(4096), 0, 0, files, 0, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if mask.contains(AccessFlags::W_OK) {
            reply.error(Errno::EROFS)
        } else {
            reply.ok()
        }
    }

    fn getxattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENODATA)
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0)
        } else {
            reply.data(&[])
        }
    }

    // Every change is refused: the cache is read-only by design.
    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS)
    }

    fn mknod(&self, _r: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, _d: u32, reply: ReplyEntry) {
        reply.error(Errno::EROFS)
    }

    fn mkdir(&self, _r: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, reply: ReplyEntry) {
        reply.error(Errno::EROFS)
    }

    fn unlink(&self, _r: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }

    fn rmdir(&self, _r: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }

    fn symlink(&self, _r: &Request, _p: INodeNo, _n: &OsStr, _l: &Path, reply: ReplyEntry) {
        reply.error(Errno::EROFS)
    }

    fn rename(
        &self,
        _r: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _np: INodeNo,
        _nn: &OsStr,
        _f: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS)
    }

    fn link(&self, _r: &Request, _i: INodeNo, _np: INodeNo, _nn: &OsStr, reply: ReplyEntry) {
        reply.error(Errno::EROFS)
    }

    fn write(
        &self,
        _r: &Request,
        _i: INodeNo,
        _fh: FileHandle,
        _o: u64,
        _d: &[u8],
        _wf: WriteFlags,
        _f: OpenFlags,
        _l: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS)
    }

    fn setxattr(&self, _r: &Request, _i: INodeNo, _n: &OsStr, _v: &[u8], _f: i32, _p: u32, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }

    fn removexattr(&self, _r: &Request, _i: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }

    fn create(&self, _r: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, _f: i32, reply: ReplyCreate) {
        reply.error(Errno::EROFS)
    }

    fn fallocate(&self, _r: &Request, _i: INodeNo, _fh: FileHandle, _o: u64, _l: u64, _m: i32, reply: ReplyEmpty) {
        reply.error(Errno::EROFS)
    }
}

fn readdir(fs: &Fs, ino: u64, offset: u64, mut reply: ReplyDirectory) {
    let entries = match fs.readdir(ino) {
        Ok(Some(e)) => e,
        Ok(None) => return reply.error(Errno::ENOTDIR),
        Err(e) => return reply.error(errno(fs, &e)),
    };
    let parent = fs.parent_of(ino).unwrap_or(ino);
    let dots = [(ino, "."), (parent, "..")];
    let all =
        dots.iter().map(|(i, n)| (*i, true, *n)).chain(entries.iter().map(|e| (e.ino, e.is_dir, e.name.as_str())));
    // The offset is the one this loop gave the previous entry: its index + 1.
    for (i, (ino, is_dir, name)) in all.enumerate().skip(usize::try_from(offset).unwrap_or(usize::MAX)) {
        let kind = if is_dir { FileType::Directory } else { FileType::RegularFile };
        if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
            break;
        }
    }
    reply.ok();
}
