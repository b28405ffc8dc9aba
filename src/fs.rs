//! The filesystem core: lookup, getattr, readdir, open and read as plain Results,
//! testable without mounting. A miss is `Ok(None)` (ENOENT, and not a failure);
//! `Err` is a real failure (EIO, and one log line naming the module).

use crate::content::{bytes, Bytes, Content, Verified};
use crate::error::{Error, Result};
use crate::modpath;
use crate::namespace::{Kind, Namespace};
use crate::stats;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time shown for directories that belong to no module: Go's first release
/// (2009-11-10T23:00:00Z). Any constant would do; it must not change between mounts.
const BASE_TIME: u64 = 1_257_894_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub is_dir: bool,
    /// Permission bits, as cmd/go leaves its own cache: module trees read-only
    /// (0555/0444), everything else as created under a 022 umask (0755/0644).
    pub perm: u16,
    pub nlink: u32,
    pub mtime: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    pub is_dir: bool,
    pub name: String,
}

/// What an open file reads from.
#[derive(Clone)]
pub enum Handle {
    Bytes(Bytes),
    /// A file of a module tree. The module is verified at open; the file itself is
    /// extracted on the first read only, because with keep-cache the kernel often
    /// already holds every page and never reads.
    File(u32, u32, Arc<FileSlot>),
    /// A large file of a module tree, extracted to the spill directory.
    Disk(Arc<std::fs::File>),
    Zip(Arc<Verified>),
}

/// The extracted bytes of an open module file, filled once. The kernel sends
/// several reads of one file at a time (readahead); they must not each extract it.
#[derive(Default)]
pub struct FileSlot {
    data: OnceLock<Bytes>,
    filling: Mutex<()>,
}

impl FileSlot {
    fn get(&self, content: &Content, m: u32, e: u32) -> Result<Bytes> {
        if let Some(d) = self.data.get() {
            return Ok(d.clone());
        }
        let _one_at_a_time = self.filling.lock().map_err(|_| lock_err())?;
        if let Some(d) = self.data.get() {
            return Ok(d.clone());
        }
        let d = content.file(m, e)?;
        Ok(self.data.get_or_init(|| d).clone())
    }
}

impl Handle {
    /// The bytes, if they are already in memory (never blocks).
    pub fn ready(&self) -> Option<&[u8]> {
        match self {
            Handle::Bytes(b) => Some(b),
            Handle::File(_, _, slot) => slot.data.get().map(|b| &b[..]),
            Handle::Disk(_) | Handle::Zip(_) => None,
        }
    }
}

pub struct Fs {
    ns: RwLock<Namespace>,
    pub content: Content,
    /// Per-module modification time (from .info), seconds since the epoch.
    mtimes: Vec<u64>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_fh: AtomicU64,
    missing_logged: Mutex<HashSet<String>>,
    /// `path@version` of every module in the store (go.mod-only ones too).
    known: HashSet<String>,
    store_hint: String,
}

fn lock_err() -> Error {
    Error::Invalid("internal lock poisoned".into())
}

impl Fs {
    pub fn new(content: Content) -> Fs {
        let ns = Namespace::build(&content.modules);
        let mtimes = content
            .modules
            .iter()
            .map(|m| {
                m.info.as_deref().and_then(|i| std::str::from_utf8(i).ok()).and_then(info_time).unwrap_or(BASE_TIME)
            })
            .collect();
        log::info!(
            "namespace: {} modules, {} nodes before any module tree is opened",
            content.modules.len(),
            ns.node_count()
        );
        let known = content.modules.iter().map(|m| format!("{}@{}", m.path, m.version)).collect();
        Fs {
            known,
            ns: RwLock::new(ns),
            store_hint: String::new(),
            content,
            mtimes,
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            missing_logged: Mutex::new(HashSet::new()),
        }
    }

    /// How to tell users to fill a missing module (named in the missing-module log line).
    pub fn set_store_hint(&mut self, store: &str) {
        self.store_hint = store.to_string();
    }

    /// Makes sure a module root's children are in the namespace.
    fn ensure_loaded(&self, ino: u64) -> Result<()> {
        let module = {
            let ns = self.ns.read().map_err(|_| lock_err())?;
            match ns.kind(ino) {
                Some(Kind::ModuleRoot(m)) if !ns.is_loaded(ino) => m,
                _ => return Ok(()),
            }
        };
        let entries = self.content.entries(module)?;
        self.ns.write().map_err(|_| lock_err())?.load_module(ino, module, entries);
        Ok(())
    }

    fn attr_of(&self, ns: &Namespace, ino: u64) -> Result<Option<Attr>> {
        let Some(kind) = ns.kind(ino) else { return Ok(None) };
        let module_time = |m: u32| self.mtimes.get(m as usize).copied().unwrap_or(BASE_TIME);
        let modules = &self.content.modules;
        let m_of = |m: u32| modules.get(m as usize).ok_or_else(|| Error::Invalid(format!("no module #{m}")));
        let (size, secs) = match kind {
            Kind::Dir => (4096, BASE_TIME),
            Kind::ModuleRoot(m) | Kind::ModuleDir(m) => (4096, module_time(m)),
            Kind::ModuleFile(m, e) => {
                let entries = self.content.entries(m)?;
                let size = entries.get(e as usize).map_or(0, |e| e.size);
                (size, module_time(m))
            }
            Kind::List(l) => (self.list_bytes(ns, l).len() as u64, BASE_TIME),
            Kind::Info(m) => (m_of(m)?.info.as_ref().map_or(0, |i| i.len() as u64), module_time(m)),
            Kind::Mod(m) => {
                // The size of the bytes that will be served: read (small), checked
                // and kept by mod_file, which opens the blob without following
                // symlinks and logs why it cannot. (A stat of the blob path would
                // follow a symlink planted in the store.)
                (self.content.mod_file(m)?.len() as u64, module_time(m))
            }
            Kind::Zip(m) => (m_of(m)?.zip.as_ref().map_or(0, |z| z.size), module_time(m)),
            Kind::ZipHash(m) => (m_of(m)?.zip.as_ref().map_or(0, |z| z.h1.len() as u64), module_time(m)),
        };
        Ok(Some(Attr {
            ino,
            size,
            is_dir: kind.is_dir(),
            perm: match kind {
                Kind::Dir => 0o755,
                Kind::ModuleRoot(_) | Kind::ModuleDir(_) => 0o555,
                Kind::ModuleFile(..) => 0o444,
                Kind::List(_) | Kind::Info(_) | Kind::Mod(_) | Kind::Zip(_) | Kind::ZipHash(_) => 0o644,
            },
            nlink: if kind.is_dir() { 2 + ns.subdirs(ino) } else { 1 },
            mtime: UNIX_EPOCH + Duration::from_secs(secs),
        }))
    }

    fn list_bytes(&self, ns: &Namespace, l: u32) -> Vec<u8> {
        let mut out = String::new();
        for &m in ns.lists.get(l as usize).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(module) = self.content.modules.get(m as usize) {
                out.push_str(&module.version);
                out.push('\n');
            }
        }
        out.into_bytes()
    }

    pub fn lookup(&self, parent: u64, name: &str) -> Result<Option<Attr>> {
        stats::inc(&self.content.stats.lookups);
        self.ensure_loaded(parent)?;
        let child = self.ns.read().map_err(|_| lock_err())?.child(parent, name);
        let Some(child) = child else {
            stats::inc(&self.content.stats.negative_lookups);
            self.note_missing(parent, name);
            return Ok(None);
        };
        self.ensure_loaded(child)?;
        let ns = self.ns.read().map_err(|_| lock_err())?;
        self.attr_of(&ns, child)
    }

    pub fn getattr(&self, ino: u64) -> Result<Option<Attr>> {
        stats::inc(&self.content.stats.getattrs);
        self.ensure_loaded(ino)?;
        let ns = self.ns.read().map_err(|_| lock_err())?;
        self.attr_of(&ns, ino)
    }

    /// All entries of a directory, without `.` and `..`; None if `ino` is not a directory.
    pub fn readdir(&self, ino: u64) -> Result<Option<Vec<DirEntry>>> {
        stats::inc(&self.content.stats.readdirs);
        self.ensure_loaded(ino)?;
        let ns = self.ns.read().map_err(|_| lock_err())?;
        Ok(ns
            .children(ino)
            .map(|kids| kids.into_iter().map(|(ino, is_dir, name)| DirEntry { ino, is_dir, name }).collect()))
    }

    pub fn parent_of(&self, ino: u64) -> Option<u64> {
        self.ns.read().ok()?.parent(ino)
    }

    /// Whether `open` would answer from memory, without verifying, extracting or
    /// reading a blob: then the request loop answers it at once instead of handing
    /// it to a worker (warm opens are most of what `go list` and builds do).
    pub fn open_is_quick(&self, ino: u64) -> bool {
        let Ok(ns) = self.ns.read() else { return false };
        let c = &self.content;
        match ns.kind(ino) {
            Some(Kind::ModuleFile(m, e)) => {
                c.is_verified(m) && c.entries(m).is_ok_and(|en| en.get(e as usize).is_some_and(|en| !c.is_large(en)))
                    || c.is_spilled(m, e)
            }
            Some(Kind::Zip(m) | Kind::ZipHash(m)) => c.is_verified(m),
            Some(Kind::Mod(m)) => c.has_mod(m),
            Some(Kind::List(_) | Kind::Info(_)) => true,
            _ => false,
        }
    }

    /// Opens a file: verifies what must be verified and returns a file handle.
    /// `Ok(None)` if there is no such file.
    pub fn open(&self, ino: u64) -> Result<Option<u64>> {
        stats::inc(&self.content.stats.opens);
        let (kind, list) = {
            let ns = self.ns.read().map_err(|_| lock_err())?;
            let Some(kind) = ns.kind(ino) else { return Ok(None) };
            let list = match kind {
                Kind::List(l) => Some(self.list_bytes(&ns, l)),
                _ => None,
            };
            (kind, list)
        };
        let c = &self.content;
        let handle = match kind {
            Kind::Dir | Kind::ModuleRoot(_) | Kind::ModuleDir(_) => return Ok(None),
            Kind::ModuleFile(m, e) => {
                c.verified(m)?;
                let entries = c.entries(m)?;
                if entries.get(e as usize).is_some_and(|en| c.is_large(en)) {
                    Handle::Disk(c.large_file(m, e)?)
                } else {
                    Handle::File(m, e, Arc::new(FileSlot::default()))
                }
            }
            Kind::List(_) => Handle::Bytes(bytes(list.unwrap_or_default())),
            Kind::Info(m) => {
                let info = c.modules.get(m as usize).and_then(|x| x.info.clone()).unwrap_or_default();
                Handle::Bytes(bytes(info))
            }
            Kind::Mod(m) => Handle::Bytes(c.mod_file(m)?),
            Kind::Zip(m) => Handle::Zip(c.verified(m)?),
            Kind::ZipHash(m) => Handle::Bytes(bytes(c.ziphash(m)?)),
        };
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.lock().map_err(|_| lock_err())?.insert(fh, handle);
        Ok(Some(fh))
    }

    pub fn release(&self, fh: u64) {
        if let Ok(mut h) = self.handles.lock() {
            h.remove(&fh);
        }
    }

    pub fn handle(&self, fh: u64) -> Option<Handle> {
        self.handles.lock().ok()?.get(&fh).cloned()
    }

    /// Reads from an open file. Bytes handles are served by the caller straight
    /// from memory (see `Handle`); this covers every kind.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        stats::inc(&self.content.stats.reads);
        let h = self.handle(fh).ok_or_else(|| Error::Invalid(format!("read of unknown file handle {fh}")))?;
        let out = match &h {
            Handle::Bytes(b) => slice(b, offset, size).to_vec(),
            Handle::File(m, e, slot) => slice(&slot.get(&self.content, *m, *e)?, offset, size).to_vec(),
            Handle::Disk(f) => crate::content::pread(f, offset, size).map_err(|e| Error::io("spilled file", e))?,
            Handle::Zip(v) => self.content.read_zip(v, offset, size)?,
        };
        stats::add(&self.content.stats.bytes_served, out.len() as u64);
        Ok(out)
    }

    /// Logs, once per name, a lookup for a module the store does not have.
    fn note_missing(&self, parent: u64, name: &str) {
        let Ok(ns) = self.ns.read() else { return };
        if ns.kind(parent) != Some(Kind::Dir) {
            return;
        }
        let dir = ns.path_of(parent);
        // What cmd/go probes for a module it needs: the tree `<path>@<v>` and, in
        // `cache/download/<path>/@v/`, `<v>.mod`, `<v>.info`, `<v>.zip`, `<v>.ziphash`
        // and `<v>.lock`. Other misses (`.partial`, temp names) are normal.
        let wanted = if let Some(esc_path) = dir.strip_prefix("cache/download/").and_then(|d| d.strip_suffix("/@v")) {
            let Some((v, ext)) = name.rsplit_once('.') else { return };
            if !matches!(ext, "mod" | "info" | "zip" | "ziphash" | "lock") {
                return;
            }
            format!("{esc_path}@{v}")
        } else if !dir.starts_with("cache") && name.contains('@') && !name.ends_with(".partial") {
            if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            }
        } else {
            return;
        };
        let Some((p, v)) = wanted.rsplit_once('@') else { return };
        let (Some(p), Some(v)) = (modpath::unescape(p), modpath::unescape(v)) else { return };
        if !modpath::is_canonical_version(&v) {
            return;
        }
        let key = format!("{p}@{v}");
        if self.known.contains(&key) {
            // A go.mod-only module: cmd/go checks for its zip or tree (go mod verify
            // does), finds none, and needs none.
            return;
        }
        let first = self.missing_logged.lock().map(|mut s| s.insert(key.clone())).unwrap_or(false);
        if first {
            stats::inc(&self.content.stats.modules_missing);
            log::warn!(
                "missing module {key}: not in the store; add it with `modcachefs import{} <GOPROXY dir, GOMODCACHE or {}.zip>`",
                self.store_hint,
                v
            );
        }
    }
}

pub fn slice(b: &[u8], offset: u64, size: u32) -> &[u8] {
    let start = (offset.min(b.len() as u64)) as usize;
    let end = (offset.saturating_add(size as u64).min(b.len() as u64)) as usize;
    &b[start..end]
}

/// Seconds since the epoch of an .info's Time (`"Time":"2019-01-04T21:36:57Z"`).
fn info_time(info: &str) -> Option<u64> {
    let members = crate::json::object_members(info)?;
    let t = crate::json::unquote(&members.iter().find(|(k, _)| k == "Time")?.1)?;
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    // Offsets other than Z are rare in .info files; ignoring them only shifts an mtime.
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_times() {
        assert_eq!(info_time(r#"{"Version":"v1.0.0","Time":"1970-01-02T00:00:01Z"}"#), Some(86_401));
        assert_eq!(info_time(r#"{"Version":"v1.0.0","Time":"2009-11-10T23:00:00Z"}"#), Some(BASE_TIME));
    }

    #[test]
    fn slicing() {
        assert_eq!(slice(b"hello", 1, 3), b"ell");
        assert_eq!(slice(b"hello", 4, 10), b"o");
        assert_eq!(slice(b"hello", 9, 10), b"");
    }
}
