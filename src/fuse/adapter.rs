//! The thin fuser adapter: turns kernel requests into `Fs` calls and `Fs`
//! results into replies.
//!
//! fuser runs one request loop. Everything answered from memory (lookup, getattr,
//! readdir, reads of files already extracted) is answered inline; anything that
//! may decompress or verify a module (open, reads of `.zip`) goes to a small
//! worker pool, so one large first read never stalls a parallel build.

use crate::error::Error;
use crate::vfs::fs::{Attr, Fs};
use fuser::consts::{
    FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE, FUSE_NO_OPENDIR_SUPPORT, FUSE_NO_OPEN_SUPPORT, FUSE_PARALLEL_DIROPS,
};
use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
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

pub(crate) struct Adapter {
    fs: Arc<Fs>,
    pool: Pool,
    uid: u32,
    gid: u32,
    /// The kernel opens files (and directories) without asking: set at INIT when
    /// it supports that (Linux >= 3.14 for files, >= 5.1 for directories).
    no_open: bool,
    no_opendir: bool,
}

/// Counts a failure, logs its cause once, and turns it into an errno.
fn errno(fs: &Fs, e: &Error) -> i32 {
    crate::vfs::failures::record(fs.stats(), e)
}

impl Adapter {
    pub fn new(fs: Arc<Fs>, workers: usize) -> std::io::Result<Adapter> {
        Ok(Adapter {
            fs,
            pool: Pool::new(workers)?,
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
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
            let data = crate::vfs::fs::slice(&b, offset, size);
            crate::ops::stats::add(&self.fs.stats().bytes_served, data.len() as u64);
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
        crate::ops::stats::inc(&self.fs.stats().ioctls);
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
