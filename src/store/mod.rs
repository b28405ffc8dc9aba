//! The archive store: content-addressed blobs plus an index made of immutable
//! SQLite segments named by a manifest.
//!
//! ```text
//! <store>/index/CURRENT       the manifest: generation, segments (manifest.rs)
//! <store>/index/seg-*.db      immutable index segments: modules, zip entries,
//!                             tombstones, trusted sums (schema.sql)
//! <store>/blobs/ab/cdef...    original .zip and .mod bytes, named by sha256
//! <store>/tmp/                blobs and segments being written
//! <store>/lock                the writers' flock
//! ```
//! A [`Store`] is one state: the segments one manifest names, each opened
//! `immutable=1` (they never change once published). Writers (import, rm, gc,
//! compact) hold the lock, write a new segment in `tmp/` and publish it with a
//! new manifest; nothing a reader may have open is ever written again. See
//! docs/design.md, "Store format and concurrency". A store of the older single
//! `index.db` format is read as one segment and migrated by the next writer.

use crate::error::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

mod digests;
mod legacy;
mod maintain;
mod manifest;
mod reader;
pub mod rows;
mod segments;
mod writer;

pub(crate) use digests::ZipDigests;
pub(crate) use maintain::{compact, gc, rm};
pub(crate) use reader::{Changes, PathChild};
pub(crate) use writer::{NewModule, Tx, Upsert};

/// Bumped whenever schema.sql changes in a way older binaries cannot read.
/// 2: checksum-database tables (sumdb_*); readers treat their absence as "no database".
/// 3: segments (the `removed` table of tombstones; ids from the manifest), and
/// per-file digests (`digests`, see store/digests.rs): modules imported without
/// them are verified whole on first access until imported again.
pub(crate) const SCHEMA_VERSION: i64 = 3;
const SCHEMA: &str = include_str!("schema.sql");

/// Whether `dir` holds a store (of either format), for commands that must not
/// make one by mistake.
/// (A store whose first import was killed before publishing anything has an
/// `index/` directory and no manifest yet: it is one, empty.)
pub(crate) fn exists(dir: &Path) -> bool {
    fs::symlink_metadata(manifest::index_dir(dir)).is_ok() || fs::symlink_metadata(dir.join(legacy::INDEX)).is_ok()
}

/// Where the store lives when `--store` is not given.
pub(crate) fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MODCACHEFS_STORE") {
        return PathBuf::from(d);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"));
    data.join("modcachefs")
}

/// One module version as the index records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub id: i64,
    pub path: String,
    pub version: String,
    pub mod_blob: String,
    pub mod_h1: String,
    pub mod_h1_origin: String,
    pub info: Option<Vec<u8>>,
    /// Bytes of the `.info` in the index. Over [`crate::store::rows::MAX_INFO_SIZE`],
    /// `info` is not read at all (None) and the row is refused.
    pub info_size: u64,
    pub zip: Option<ZipInfo>,
}

impl Module {
    /// `path@version` for messages and logs, escaped: the index is not trusted to
    /// hold only names import would accept (see store/rows.rs), and a log line stays one line.
    pub(crate) fn label(&self) -> String {
        crate::ops::logger::printable_str(&format!("{}@{}", self.path, self.version))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipInfo {
    pub blob: String,
    pub h1: String,
    pub h1_origin: String,
    pub size: u64,
    pub file_count: u64,
    pub tree_size: u64,
}

/// A trusted sum from a go.sum file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum {
    pub path: String,
    pub version: String,
    pub kind: SumKind,
    pub h1: String,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SumKind {
    Zip,
    Mod,
}

impl SumKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SumKind::Zip => "zip",
            SumKind::Mod => "mod",
        }
    }
}

// An .info over the limit is not even read: a planted 100 MB one would cost the
// mount its memory at start-up (see store/rows.rs).
pub(crate) const MODULE_COLS: &str = "id, path, version, mod_blob, mod_h1, mod_h1_origin, \
     CASE WHEN octet_length(info) <= 65536 THEN info END, \
     zip_blob, zip_h1, zip_h1_origin, zip_size, file_count, tree_size, coalesce(octet_length(info), 0)";

const _: () = assert!(crate::store::rows::MAX_INFO_SIZE == 65536, "MODULE_COLS spells the limit out");

pub(crate) fn module_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Module> {
    let zip_blob: Option<String> = r.get(7)?;
    let zip = match zip_blob {
        Some(blob) => Some(ZipInfo {
            blob,
            h1: r.get(8)?,
            h1_origin: r.get(9)?,
            size: r.get::<_, i64>(10)? as u64,
            file_count: r.get::<_, i64>(11)? as u64,
            tree_size: r.get::<_, i64>(12)? as u64,
        }),
        None => None,
    };
    Ok(Module {
        id: r.get(0)?,
        path: r.get(1)?,
        version: r.get(2)?,
        mod_blob: r.get(3)?,
        mod_h1: r.get(4)?,
        mod_h1_origin: r.get(5)?,
        // Import writes a BLOB; a TEXT planted instead is the same bytes, not a
        // reason to refuse the whole index.
        info: match r.get_ref(6)? {
            rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => Some(b.to_vec()),
            _ => None,
        },
        info_size: r.get::<_, i64>(13)? as u64,
        zip,
    })
}

/// One consistent state of the store (see the module doc). Opening it pins that
/// state: later imports, rm, gc and compact never change what this value reads.
pub struct Store {
    dir: PathBuf,
    generation: u64,
    module_count: u64,
    /// Newest first. When writing, the first is the segment being written.
    segs: Vec<segments::Segment>,
    /// The manifest this state was read from (None: a store of the old format).
    manifest: Option<manifest::Manifest>,
    writer: Option<writer::Writer>,
}

impl Store {
    /// Opens a store for writing: takes the writers' lock (`wait`: wait for it,
    /// else fail naming the holder), removes what killed writers left in `tmp/`,
    /// migrates a store of the old format, and starts a new segment. Nothing is
    /// visible to readers until [`Store::publish`].
    pub fn open_writer(dir: &Path, what: &str, wait: bool) -> Result<Store> {
        segments::open_writer(dir, what, wait)
    }

    /// Opens the store's current state for reading only. Never writes to the store,
    /// so read-only exports and bind mounts work.
    pub fn open_ro(dir: &Path) -> Result<Store> {
        segments::open_ro(dir)
    }

    /// The generation this Store reads; every committed change makes a larger one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Cheap (one small read, no SQLite): the generation on disk now. 0 for a store
    /// of the old single-index format.
    pub(crate) fn current_generation(dir: &Path) -> Result<u64> {
        match manifest::read(dir)? {
            Some(m) => Ok(m.generation),
            None if dir.join(legacy::INDEX).is_file() => Ok(0),
            None => Err(segments::no_store(dir)),
        }
    }

    /// Number of module versions (for logs and stats).
    pub fn module_count(&self) -> Result<u64> {
        Ok(self.module_count)
    }

    /// Publishes what this writer wrote as the store's next generation (nothing
    /// when it wrote nothing), then merges small segments (bounded work).
    /// Returns the generation now current.
    pub fn publish(self) -> Result<u64> {
        segments::publish(self)
    }

    /// Publishes what this writer wrote so far and goes on writing (an import
    /// does after each batch, so a kill loses at most one batch).
    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        segments::checkpoint(self)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, digest_hex: &str) -> PathBuf {
        blob_path(&self.dir, digest_hex)
    }

    /// Writes `data` as a blob named by its sha256 (hex, given), unless it exists.
    /// The bytes go to a temp file first and are renamed into place, so a blob
    /// path either does not exist or holds the complete content.
    pub(crate) fn put_blob(&self, digest_hex: &str, data: &[u8]) -> Result<bool> {
        let dest = self.blob_path(digest_hex);
        if dest.exists() {
            return Ok(false);
        }
        let parent = dest.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp =
            self.dir.join("tmp").join(format!("{digest_hex}.{}.{:?}", std::process::id(), std::thread::current().id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            fs::rename(&tmp, &dest)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(&dest, e)
        })?;
        Ok(true)
    }

    /// Makes every blob written so far durable before the index refers to them.
    pub(crate) fn sync_blobs(&self) -> Result<()> {
        let d = self.dir.join("blobs");
        let f = fs::File::open(&d).map_err(|e| Error::io(&d, e))?;
        // syncfs: one call for the whole batch instead of an fsync per blob.
        rustix::fs::syncfs(&f).map_err(|e| Error::io(&d, e.into()))
    }

    /// The connections of this state's segments, newest first, for subjects that
    /// keep their own tables (src/sumdb/db.rs) and read them across segments.
    pub(crate) fn conns(&self) -> impl Iterator<Item = &rusqlite::Connection> {
        self.segs.iter().map(|s| &s.conn)
    }
}

pub fn blob_path(store: &Path, digest_hex: &str) -> PathBuf {
    let (a, b) = digest_hex.split_at(2.min(digest_hex.len()));
    store.join("blobs").join(a).join(b)
}

/// Opens a blob for reading, for the mount. Its path below the store is resolved
/// without following any symlink (openat2 RESOLVE_NO_SYMLINKS; O_NOFOLLOW where
/// the kernel lacks openat2), and it must be a regular file: a symlink planted in
/// `blobs/` must not make a daemon, often root with allow_other, serve or stat a
/// file outside the store (with --verify=off, or one holding the very bytes the
/// blob should have, nothing else would notice). The store directory itself may
/// be a symlink. O_NONBLOCK keeps a planted FIFO from hanging the opener.
pub fn open_blob(store: &Path, digest_hex: &str) -> std::io::Result<fs::File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let path = blob_path(store, digest_hex);
    let refuse = |what: &str| {
        std::io::Error::other(format!(
            "{what}; blobs must be regular files, and symlinks inside the store are never followed"
        ))
    };
    let dir = fs::File::open(store)?;
    let rel = path.strip_prefix(store).map_err(|_| refuse("not below the store"))?;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
    let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH;
    let fd = match rustix::fs::openat2(&dir, rel, flags, Mode::empty(), resolve) {
        // Linux < 5.6: only the blob itself is checked, not the fan-out directory.
        Err(rustix::io::Errno::NOSYS) => rustix::fs::openat(&dir, rel, flags, Mode::empty()),
        r => r,
    };
    let f = match fd {
        Ok(fd) => fs::File::from(fd),
        Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::XDEV) => return Err(refuse("a symlink is on the way")),
        Err(e) => return Err(e.into()),
    };
    if !f.metadata()?.file_type().is_file() {
        return Err(refuse("not a regular file"));
    }
    Ok(f)
}

/// A whole blob, opened as [`open_blob`] does, if it is at most `limit` bytes:
/// the size is checked on the open descriptor before anything is read, and no
/// more than `limit` bytes are ever read (the file may grow meanwhile).
pub fn read_blob_limited(store: &Path, digest_hex: &str, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = open_blob(store, digest_hex)?;
    let len = f.metadata()?.len();
    if len > limit {
        return Err(over_limit(len, limit));
    }
    let mut v = Vec::with_capacity(len as usize);
    f.take(limit + 1).read_to_end(&mut v)?;
    if v.len() as u64 > limit {
        return Err(over_limit(v.len() as u64, limit));
    }
    Ok(v)
}

/// The error of a blob larger than the daemon will read.
pub(crate) fn over_limit(len: u64, limit: u64) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::FileTooLarge, format!("{len} bytes, over the limit of {limit}"))
}

/// sha256 hex, the name of a blob.
pub fn digest_hex(data: &[u8]) -> String {
    crate::gomod::h1::hex(&crate::gomod::h1::sha256(data))
}
