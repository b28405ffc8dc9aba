//! The archive store: content-addressed blobs plus one SQLite index.
//!
//! ```text
//! <store>/index.db            modules, zip entries, trusted sums (schema.sql)
//! <store>/blobs/ab/cdef...    original .zip and .mod bytes, named by sha256
//! <store>/tmp/                blobs being written (renamed into blobs/ when complete)
//! ```
//! Writers (import) use WAL so a mount can read while an import runs. When an
//! import ends it compacts the index and puts it back in rollback-journal mode
//! (see [`Store::settle`]), because a WAL reader writes to `index.db-shm`.
//! Readers (mount, ls, verify) open the index read-only and never write: on a
//! read-only filesystem they open it as immutable, so an NFS export or a
//! read-only bind mount shared by many containers works.

use crate::error::{Error, Result};
use crate::hash;
use crate::zipfmt::Entry;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

mod query;
pub use query::{Changes, PathChild};

/// Bumped whenever schema.sql changes in a way older binaries cannot read.
/// 2: checksum-database tables (sumdb_*); a schema-1 store gains them on its next
/// writable open (every statement of schema.sql is idempotent), and readers treat
/// their absence as "no database".
pub const SCHEMA_VERSION: i64 = 2;
const SCHEMA: &str = include_str!("schema.sql");
const INDEX: &str = "index.db";

/// Where the store lives when `--store` is not given.
pub fn default_dir() -> PathBuf {
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
    /// Bytes of the `.info` in the index. Over [`crate::rows::MAX_INFO_SIZE`],
    /// `info` is not read at all (None) and the row is refused.
    pub info_size: u64,
    pub zip: Option<ZipInfo>,
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
    fn as_str(self) -> &'static str {
        match self {
            SumKind::Zip => "zip",
            SumKind::Mod => "mod",
        }
    }
}

pub struct Store {
    dir: PathBuf,
    conn: Connection,
    /// The index was in WAL mode when opened for writing: an import was interrupted
    /// or an older modcachefs wrote it, so it may need compacting (see `settle`).
    was_wal: bool,
    /// What the reader API remembers of the opened state (src/store/query.rs).
    pin: query::Pin,
}

// An .info over the limit is not even read: a planted 100 MB one would cost the
// mount its memory at start-up (see rows.rs).
const MODULE_COLS: &str = "id, path, version, mod_blob, mod_h1, mod_h1_origin, \
     CASE WHEN octet_length(info) <= 65536 THEN info END, \
     zip_blob, zip_h1, zip_h1_origin, zip_size, file_count, tree_size, coalesce(octet_length(info), 0)";

const _: () = assert!(crate::rows::MAX_INFO_SIZE == 65536, "MODULE_COLS spells the limit out");

fn module_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Module> {
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

impl Store {
    /// Opens (creating if needed) a store for writing.
    pub fn open_rw(dir: &Path) -> Result<Store> {
        for d in [dir.to_path_buf(), dir.join("blobs"), dir.join("tmp")] {
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        let conn = Connection::open(dir.join(INDEX))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        check_schema_version(&conn, dir)?;
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        let was_wal = mode.eq_ignore_ascii_case("wal");
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL is durable across application crashes in WAL mode; blob files are
        // synced before each commit that refers to them (see `commit_batch`).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // One transaction: a kill while creating the schema must not leave half of it.
        conn.execute_batch(&format!("BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;"))?;
        Ok(Store { dir: dir.to_path_buf(), conn, was_wal, pin: query::Pin::default() })
    }

    /// Opens an existing store for reading only. Never writes to the store: when the
    /// store directory is not writable the index is opened as immutable (no locks,
    /// no -shm file), which is what read-only exports need.
    pub fn open_ro(dir: &Path) -> Result<Store> {
        let index = dir.join(INDEX);
        if index.exists() && !index.is_file() {
            // Not "missing": something else is in its place (a directory, a device).
            return Err(Error::Store(format!("{}: unreadable store index: not a regular file", index.display())));
        }
        if !index.is_file() {
            return Err(Error::Store(format!(
                "{}: no modcachefs store here (missing {INDEX}); create one with `modcachefs import --store {} ...`",
                dir.display(),
                dir.display()
            )));
        }
        let writable = dir_writable(dir);
        if writable {
            roll_back_hot_journal(&index)?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let uri = format!(
            "file:{}?mode=ro{}",
            uri_escape(&index.to_string_lossy()),
            if writable { "" } else { "&immutable=1" }
        );
        let conn = Connection::open_with_flags(uri, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        check_schema_version(&conn, dir)?;
        // A store that is not a store (or a truncated index) fails here, once, clearly.
        conn.query_row("SELECT count(*) FROM modules", [], |r| r.get::<_, i64>(0))
            .map_err(|e| Error::Store(format!("{}: unreadable store index: {e}", index.display())))?;
        let pin = query::Pin::read(&conn, dir)?;
        Ok(Store { dir: dir.to_path_buf(), conn, was_wal: false, pin })
    }

    /// Leaves the index the way mounts read it fastest, after an import.
    ///
    /// - VACUUM when modules were added or completed (`changed`), or when the index
    ///   was in WAL mode already (an interrupted import, or an older modcachefs).
    ///   Import writes each module's row next to its entries, so the modules table
    ///   ends up spread over the whole file, and a mount on a cold page cache paid
    ///   one random read per page to list the modules (a third of its start-up
    ///   time on a 2,000-module store).
    /// - Rollback-journal mode: a read-only WAL connection still writes to
    ///   `index.db-shm`; in rollback mode a mount writes nothing at all.
    ///
    /// Both need the index to themselves: while a mount has it open the mode
    /// stays WAL (the next import tries again), which is correct, only not as cheap.
    pub fn settle(&self, changed: bool) -> Result<()> {
        let compact = changed || self.was_wal;
        let mode: String = self.conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            log::debug!("index stays in {mode} mode: another process (a mount?) has it open");
        }
        if compact {
            // Rollback mode with synchronous=NORMAL may lose a VACUUM to a power cut.
            self.conn.pragma_update(None, "synchronous", "FULL")?;
            self.conn.execute_batch("VACUUM")?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blob_path(&self, digest_hex: &str) -> PathBuf {
        blob_path(&self.dir, digest_hex)
    }

    pub fn read_blob(&self, digest_hex: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest_hex);
        fs::read(&p).map_err(|e| Error::io(&p, e))
    }

    /// Writes `data` as a blob named by its sha256 (hex, given), unless it exists.
    /// The bytes go to a temp file first and are renamed into place, so a blob
    /// path either does not exist or holds the complete content.
    pub fn put_blob(&self, digest_hex: &str, data: &[u8]) -> Result<bool> {
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
    pub fn sync_blobs(&self) -> Result<()> {
        let d = self.dir.join("blobs");
        let f = fs::File::open(&d).map_err(|e| Error::io(&d, e))?;
        // syncfs: one call for the whole batch instead of an fsync per blob.
        let rc = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) };
        if rc != 0 {
            return Err(Error::io(&d, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// All modules, ordered by path then version (byte order, as SQLite's BINARY).
    pub fn modules(&self) -> Result<Vec<Module>> {
        // Read in table order and sort here: walking the (path, version) index would
        // visit the table's pages out of order, which costs a mount on a cold page
        // cache one random read per page instead of one sequential pass.
        let sql = format!("SELECT {MODULE_COLS} FROM modules");
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([], module_from_row)?;
        let mut modules: Vec<Module> = rows.collect::<rusqlite::Result<_>>()?;
        modules
            .sort_unstable_by(|a, b| (a.path.as_str(), a.version.as_str()).cmp(&(b.path.as_str(), b.version.as_str())));
        Ok(modules)
    }

    /// The zip entries of one module, sorted by name.
    pub fn entries(&self, module_id: i64) -> Result<Vec<Entry>> {
        self.entries_at_most(module_id, i64::MAX as u64)
    }

    /// The first `limit` zip entries of one module, sorted by name: a reader that
    /// knows how many there should be asks for one more and never reads (or holds)
    /// more than that, however many rows a hostile index has.
    pub fn entries_at_most(&self, module_id: i64, limit: u64) -> Result<Vec<Entry>> {
        let mut st = self.conn.prepare_cached(
            "SELECT name, data_offset, compressed_size, size, method, crc32 FROM entries \
             WHERE module_id = ?1 ORDER BY name LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = st.query_map(params![module_id, limit], |r| {
            Ok(Entry {
                name: r.get(0)?,
                data_offset: r.get::<_, i64>(1)? as u64,
                compressed_size: r.get::<_, i64>(2)? as u64,
                size: r.get::<_, i64>(3)? as u64,
                method: r.get::<_, i64>(4)? as u16,
                crc32: r.get::<_, i64>(5)? as u32,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn sums(&self) -> Result<Vec<Sum>> {
        let mut st =
            self.conn.prepare("SELECT path, version, kind, h1, source FROM sums ORDER BY path, version, kind")?;
        let rows = st.query_map([], |r| {
            let kind: String = r.get(2)?;
            Ok(Sum {
                path: r.get(0)?,
                version: r.get(1)?,
                kind: if kind == "zip" { SumKind::Zip } else { SumKind::Mod },
                h1: r.get(3)?,
                source: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Starts a write transaction. Import is the only writer and runs it from one
    /// thread, so the unchecked form (no `&mut`) is safe and lets blob writes and
    /// index writes interleave.
    pub fn transaction(&self) -> Result<Tx<'_>> {
        Ok(Tx { tx: self.conn.unchecked_transaction()? })
    }

    /// The index, for subjects that keep their own tables (src/sumdb/db.rs).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A write transaction: everything in it becomes visible together or not at all.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
}

/// A module version to insert or complete.
pub struct NewModule<'a> {
    pub path: &'a str,
    pub version: &'a str,
    pub mod_blob: &'a str,
    pub mod_h1: &'a str,
    pub mod_h1_origin: &'a str,
    pub info: Option<&'a [u8]>,
    pub zip: Option<(ZipInfo, &'a [Entry])>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Added,
    /// An existing row gained what it lacked (a zip, an .info).
    Completed,
    Unchanged,
}

impl Tx<'_> {
    /// Inserts a module, or completes an existing one with a zip or .info it did not
    /// have. Content that contradicts what is stored is an error, never an overwrite.
    pub fn upsert_module(&self, m: &NewModule<'_>) -> Result<Upsert> {
        let existing = self.module(m.path, m.version)?;
        let id = match existing {
            None => {
                self.tx.execute(
                    "INSERT INTO modules (path, version, mod_blob, mod_h1, mod_h1_origin, info) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![m.path, m.version, m.mod_blob, m.mod_h1, m.mod_h1_origin, m.info],
                )?;
                let id = self.tx.last_insert_rowid();
                if let Some((zi, entries)) = &m.zip {
                    self.set_zip(id, zi, entries)?;
                }
                return Ok(Upsert::Added);
            }
            Some(old) => {
                if old.mod_blob != m.mod_blob {
                    return Err(Error::Invalid(format!(
                        "{}@{}: .mod differs from the one already in the store ({} vs {}); refusing to overwrite",
                        m.path, m.version, m.mod_h1, old.mod_h1
                    )));
                }
                if let (Some(oz), Some((nz, _))) = (&old.zip, &m.zip) {
                    if oz.blob != nz.blob && oz.h1 != nz.h1 {
                        return Err(Error::Invalid(format!(
                            "{}@{}: zip content differs from the one already in the store ({} vs {}); refusing to overwrite",
                            m.path, m.version, nz.h1, oz.h1
                        )));
                    }
                }
                old
            }
        };
        let mut changed = false;
        if id.info.is_none() && m.info.is_some() {
            self.tx.execute("UPDATE modules SET info = ?1 WHERE id = ?2", params![m.info, id.id])?;
            changed = true;
        }
        if id.zip.is_none() {
            if let Some((zi, entries)) = &m.zip {
                self.set_zip(id.id, zi, entries)?;
                changed = true;
            }
        }
        Ok(if changed { Upsert::Completed } else { Upsert::Unchanged })
    }

    fn set_zip(&self, id: i64, zi: &ZipInfo, entries: &[Entry]) -> Result<()> {
        self.tx.execute(
            "UPDATE modules SET zip_blob = ?1, zip_h1 = ?2, zip_h1_origin = ?3, zip_size = ?4, \
             file_count = ?5, tree_size = ?6 WHERE id = ?7",
            params![zi.blob, zi.h1, zi.h1_origin, zi.size as i64, zi.file_count as i64, zi.tree_size as i64, id],
        )?;
        let mut st = self.tx.prepare_cached(
            "INSERT INTO entries (module_id, name, data_offset, compressed_size, size, method, crc32) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in entries {
            st.execute(params![
                id,
                e.name,
                e.data_offset as i64,
                e.compressed_size as i64,
                e.size as i64,
                e.method as i64,
                e.crc32 as i64
            ])?;
        }
        Ok(())
    }

    /// Records a trusted sum. Returns false when it was already recorded.
    pub fn add_sum(&self, s: &Sum) -> Result<bool> {
        let n = self.tx.execute(
            "INSERT OR IGNORE INTO sums (path, version, kind, h1, source) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.path, s.version, s.kind.as_str(), s.h1, s.source],
        )?;
        Ok(n > 0)
    }

    /// Marks a stored hash as confirmed by a go.sum (only the first confirmation is kept).
    pub fn confirm_origin(&self, path: &str, version: &str, kind: SumKind, origin: &str) -> Result<()> {
        let sql = match kind {
            SumKind::Zip => {
                "UPDATE modules SET zip_h1_origin = ?1 WHERE path = ?2 AND version = ?3 AND zip_h1_origin = 'computed'"
            }
            SumKind::Mod => {
                "UPDATE modules SET mod_h1_origin = ?1 WHERE path = ?2 AND version = ?3 AND mod_h1_origin = 'computed'"
            }
        };
        self.tx.execute(sql, params![origin, path, version])?;
        Ok(())
    }

    pub fn module(&self, path: &str, version: &str) -> Result<Option<Module>> {
        let sql = format!("SELECT {MODULE_COLS} FROM modules WHERE path = ?1 AND version = ?2");
        Ok(self.tx.query_row(&sql, params![path, version], module_from_row).optional()?)
    }

    /// (h1, source) of the trusted sums for one module version and kind.
    pub fn sums_for(&self, path: &str, version: &str, kind: SumKind) -> Result<Vec<(String, String)>> {
        let mut st =
            self.tx.prepare_cached("SELECT h1, source FROM sums WHERE path = ?1 AND version = ?2 AND kind = ?3")?;
        let rows = st.query_map(params![path, version, kind.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Starts a nested unit inside the transaction (see `release`, `rollback_to`).
    pub fn savepoint(&self) -> Result<()> {
        Ok(self.tx.execute_batch("SAVEPOINT module")?)
    }

    /// Keeps what was written since `savepoint`.
    pub fn release(&self) -> Result<()> {
        Ok(self.tx.execute_batch("RELEASE module")?)
    }

    /// Undoes everything written since `savepoint` (the transaction goes on).
    pub fn rollback_to(&self) -> Result<()> {
        Ok(self.tx.execute_batch("ROLLBACK TO module; RELEASE module")?)
    }

    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }

    /// The transaction's connection, for subjects that keep their own tables.
    pub(crate) fn conn(&self) -> &Connection {
        &self.tx
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
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let path = blob_path(store, digest_hex);
    let refuse = |what: &str| {
        std::io::Error::other(format!(
            "{what}; blobs must be regular files, and symlinks inside the store are never followed"
        ))
    };
    let dir = fs::File::open(store)?;
    let rel = path.strip_prefix(store).map_err(|_| refuse("not below the store"))?;
    let rel = std::ffi::CString::new(rel.as_os_str().as_bytes()).map_err(|_| refuse("NUL in blob name"))?;
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK;
    // libc's open_how is non-exhaustive: start from zeroes (mode 0, as openat2 wants).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_BENEATH;
    let dirfd = std::os::fd::AsRawFd::as_raw_fd(&dir);
    let mut fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            rel.as_ptr(),
            &how as *const libc::open_how,
            size_of::<libc::open_how>(),
        )
    } as i32;
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // Linux < 5.6: only the blob itself is checked, not the fan-out directory.
        fd = unsafe { libc::openat(dirfd, rel.as_ptr(), flags) };
    }
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::EXDEV) => refuse("a symlink is on the way"),
            _ => e,
        });
    }
    let f = unsafe { fs::File::from_raw_fd(fd) };
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
pub fn over_limit(len: u64, limit: u64) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::FileTooLarge, format!("{len} bytes, over the limit of {limit}"))
}

/// sha256 hex, the name of a blob.
pub fn digest_hex(data: &[u8]) -> String {
    hash::hex(&hash::sha256(data))
}

/// A rollback journal left by an import killed in the middle of a write (only
/// [`Store::settle`] writes in rollback mode) must be rolled back before a
/// read-only connection can read the index; SQLite does that on the first read of
/// a writable connection. Nothing to do, and nothing written, when there is none.
fn roll_back_hot_journal(index: &Path) -> Result<()> {
    let journal = index.with_extension("db-journal");
    if fs::metadata(&journal).map(|m| m.len() > 0).unwrap_or(false) {
        log::warn!("{}: rolling back an interrupted write", journal.display());
        let conn = Connection::open_with_flags(index, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
            .map_err(|e| Error::Store(format!("{}: unreadable store index: {e}", index.display())))?;
    }
    Ok(())
}

fn check_schema_version(conn: &Connection, dir: &Path) -> Result<()> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| Error::Store(format!("{}: not a modcachefs store index: {e}", dir.join(INDEX).display())))?;
    if v > SCHEMA_VERSION {
        return Err(Error::Store(format!(
            "{}: store made by a newer modcachefs (schema {v}, this binary knows {SCHEMA_VERSION}); upgrade modcachefs",
            dir.display()
        )));
    }
    Ok(())
}

fn dir_writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // access(2) also answers EROFS for a read-only mount, which is the case that matters.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn uri_escape(p: &str) -> String {
    let mut s = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'?' | b'#' | b'%' | 0x80.. => s.push_str(&format!("%{b:02X}")),
            _ => s.push(b as char),
        }
    }
    s
}
