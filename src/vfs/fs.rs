//! The filesystem core: lookup, getattr, readdir, open and read as plain Results,
//! testable without mounting. A miss is `Ok(None)` (ENOENT, and not a failure);
//! `Err` is a real failure (EIO, and one log line naming the module).

use crate::error::{Error, Result};
use crate::vfs::content::{bytes, Bytes, Content, Data};
use crate::vfs::missing::{Missing, Wanted};
use crate::vfs::namespace::{Kind, ModuleTree, Namespace};
use std::sync::RwLock;

pub(crate) mod changes;
mod dirs;
pub(crate) use changes::Inval;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time shown for directories that belong to no module: Go's first release
/// (2009-11-10T23:00:00Z). Any constant would do; it must not change between mounts.
const BASE_TIME: u64 = 1_257_894_000;

/// Files up to this size are extracted on the FUSE loop that asked (a few
/// milliseconds at most); larger ones by a worker (see [`Fs::read_weight`]).
const HEAVY_FILE: u64 = 1 << 20;

/// What a request may cost, for a frontend that keeps slow requests off the
/// threads answering quick ones: loading a module's entry list, or reading
/// many bytes (verifying a whole module, extracting a big file). The two are
/// kept apart so that many of one kind (a `go mod verify` reading every `.zip`)
/// never hold up the other (a build's first lookups of the modules it needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weight {
    Quick,
    List,
    Bulk,
}

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

pub struct Fs {
    ns: RwLock<Namespace>,
    /// The verified bytes. Private to the core: frontends go through `Fs`.
    pub(super) content: Content,
    missing: Missing,
    /// Checksum-database files (`Kind::Sumdb` indexes `sumdb_paths`).
    sumdb: crate::sumdb::Files,
    sumdb_paths: Vec<(String, String)>,
}

fn lock_err() -> Error {
    Error::Invalid("internal lock poisoned".into())
}

/// What frontends read besides names and file bytes: counters, the report, the
/// zip itself. Everything a frontend needs goes through `Fs`.
impl Fs {
    /// The core's counters (frontends add theirs: bytes served, ioctls, errors).
    pub(crate) fn stats(&self) -> &std::sync::Arc<crate::ops::stats::Stats> {
        &self.content.stats
    }

    /// `path@version` of every module whose contents were extracted so far.
    pub(crate) fn extracted(&self) -> Vec<String> {
        self.content.extracted()
    }

    pub(crate) fn store_dir(&self) -> &std::path::Path {
        self.content.store_dir()
    }

    /// A module registered so far, by slot.
    pub(crate) fn module(&self, m: u32) -> Option<&crate::store::Module> {
        self.content.modules.get(m as usize)
    }

    /// Every module registered so far.
    pub(crate) fn modules(&self) -> impl Iterator<Item = &crate::store::Module> {
        self.content.modules.iter().map(|(_, m)| m)
    }

    /// Waits for (or runs) the whole-module check that serving the zip itself needs.
    pub(crate) fn verified_zip(&self, m: u32) -> Result<std::sync::Arc<crate::vfs::content::Verified>> {
        self.content.verified(m)
    }

    /// Whether module `m`'s `.mod` is verified and in memory (reading it will not block).
    pub(crate) fn has_mod(&self, m: u32) -> bool {
        self.content.has_mod(m)
    }

    /// Bytes of a verified module's zip.
    pub(crate) fn read_zip(&self, v: &crate::vfs::content::Verified, offset: u64, size: u32) -> Result<Vec<u8>> {
        self.content.read_zip(v, offset, size)
    }
}

impl Fs {
    pub fn new(content: Content) -> Fs {
        // Nothing is read from the store here: directories of module paths are
        // read as they are looked up (fs/dirs.rs).
        Fs {
            ns: RwLock::new(Namespace::new()),
            content,
            missing: Missing::new(),
            sumdb: Default::default(),
            sumdb_paths: Vec::new(),
        }
    }

    /// Serves the store's verified checksum-database files under `cache/download/sumdb/`.
    pub(crate) fn set_sumdb(&mut self, files: crate::sumdb::Files) {
        self.sumdb_paths = files.paths();
        if let Ok(ns) = self.ns.get_mut() {
            ns.add_sumdb(&self.sumdb_paths);
        }
        self.sumdb = files;
    }

    /// The store's checksum-database files, for frontends that serve them by name
    /// (`serve`'s `/sumdb/<db>/...`): each is proved on first read, as on the mount.
    pub(crate) fn sumdb(&self) -> &crate::sumdb::Files {
        &self.sumdb
    }

    /// A listed checksum-database file; one that fails verification (logged by
    /// `sumdb::Files`) is an error, as a module that fails is.
    fn sumdb_file(&self, i: u32) -> Result<Vec<u8>> {
        let (db, rel) =
            self.sumdb_paths.get(i as usize).ok_or_else(|| Error::Invalid(format!("no sumdb file #{i}")))?;
        self.sumdb.get(db, rel).ok_or_else(|| Error::Invalid(format!("{db}: {rel}: fails verification; not served")))
    }

    /// How to tell users to fill a missing module (named in the missing-module log line).
    pub(crate) fn set_store_hint(&mut self, store: &str) {
        self.missing.set_store_hint(store);
    }

    /// Makes sure a module root's children are in the namespace.
    fn ensure_loaded(&self, ino: u64) -> Result<()> {
        let (module, root_fnv) = {
            let ns = self.ns.read().map_err(|_| lock_err())?;
            match (ns.kind(ino), ns.unloaded_root(ino)) {
                (Some(Kind::ModuleRoot(m)), Some(fnv)) => (m, fnv),
                _ => return Ok(()),
            }
        };
        let id = self.content.modules.get(module as usize).map_or(0, |m| m.id);
        // The tree is built off the namespace's lock, beside the index checks (see
        // content/load.rs), and put in place only if they pass.
        let (entries, tree) = self.content.load_entries(module, |list| ModuleTree::build(ino, root_fnv, id, list))?;
        self.ns.write().map_err(|_| lock_err())?.insert_tree(ino, module, id, entries, tree);
        Ok(())
    }

    fn attr_of(&self, ns: &Namespace, ino: u64) -> Result<Option<Attr>> {
        let Some(kind) = ns.kind(ino) else { return Ok(None) };
        // From the .info (a few dozen bytes of JSON: parsing it each time costs
        // less than keeping a time per module).
        let module_time = |m: u32| {
            self.content
                .modules
                .get(m as usize)
                .and_then(|module| module.info.as_deref())
                .and_then(|i| std::str::from_utf8(i).ok())
                .and_then(crate::gomod::info::unix_time)
                .unwrap_or(BASE_TIME)
        };
        let modules = &self.content.modules;
        let m_of = |m: u32| modules.get(m as usize).ok_or_else(|| Error::Invalid(format!("no module #{m}")));
        let (size, secs) = match kind {
            Kind::Dir | Kind::TreeDir | Kind::DlDir | Kind::AtV => (4096, BASE_TIME),
            Kind::ModuleRoot(m) | Kind::ModuleDir(m) => (4096, module_time(m)),
            Kind::ModuleFile(m, e) => {
                let entries = self.content.entries(m)?;
                let size = entries.get(e as usize).map_or(0, |e| e.size);
                (size, module_time(m))
            }
            Kind::List => (self.list_bytes(ns, ino)?.len() as u64, BASE_TIME),
            Kind::Info(m) => (m_of(m)?.info.as_ref().map_or(0, |i| i.len() as u64), module_time(m)),
            Kind::Mod(m) => {
                // The blob's size, from its open descriptor (a stat of the blob path
                // would follow a symlink planted in the store), checked against
                // Go's go.mod limit: a lookup never reads or hashes the blob, which a
                // store writer may have made gigabytes of sparse file. Reads check
                // its hash (off the request loop).
                (self.content.mod_size(m)?, module_time(m))
            }
            Kind::Zip(m) => (m_of(m)?.zip.as_ref().map_or(0, |z| z.size), module_time(m)),
            Kind::ZipHash(m) => (m_of(m)?.zip.as_ref().map_or(0, |z| z.h1.len() as u64), module_time(m)),
            Kind::Sumdb(i) => (self.sumdb_file(i)?.len() as u64, BASE_TIME),
        };
        Ok(Some(Attr {
            ino,
            size,
            is_dir: kind.is_dir(),
            perm: match kind {
                Kind::Dir | Kind::TreeDir | Kind::DlDir | Kind::AtV => 0o755,
                Kind::ModuleRoot(_) | Kind::ModuleDir(_) => 0o555,
                Kind::ModuleFile(..) => 0o444,
                Kind::List | Kind::Info(_) | Kind::Mod(_) | Kind::Zip(_) | Kind::ZipHash(_) | Kind::Sumdb(_) => 0o644,
            },
            nlink: if kind.is_dir() { 2 + ns.subdirs(ino) } else { 1 },
            mtime: UNIX_EPOCH + Duration::from_secs(secs),
        }))
    }

    pub fn lookup(&self, parent: u64, name: &str) -> Result<Option<Attr>> {
        crate::ops::stats::inc(&self.content.stats.lookups);
        self.ensure_loaded(parent)?;
        let Some(child) = self.find_child(parent, name)? else {
            crate::ops::stats::inc(&self.content.stats.negative_lookups);
            self.note_missing(parent, name);
            return Ok(None);
        };
        self.ensure_loaded(child)?;
        let ns = self.ns.read().map_err(|_| lock_err())?;
        self.attr_of(&ns, child)
    }

    /// How long a lookup may take: one that loads a module's entry list (from
    /// the index, then checked and hashed: 16 ms for 16,000 files, and a store
    /// writer can list millions) is [`Weight::List`]; everything else is quick.
    pub(crate) fn lookup_weight(&self, parent: u64, name: &str) -> Weight {
        let Ok(ns) = self.ns.read() else { return Weight::List };
        let loads = match ns.kind(parent) {
            Some(Kind::TreeDir) if name.contains('@') => {
                ns.child(parent, name).is_none_or(|c| ns.unloaded_root(c).is_some())
            }
            _ => ns.unloaded_root(parent).is_some(),
        };
        if loads {
            Weight::List
        } else {
            Weight::Quick
        }
    }

    /// As [`Fs::lookup_weight`], for getattr and readdir of `ino`.
    pub(crate) fn node_weight(&self, ino: u64) -> Weight {
        match self.ns.read().map(|ns| ns.unloaded_root(ino).is_some()) {
            Ok(false) => Weight::Quick,
            _ => Weight::List,
        }
    }

    /// How long a read that is not answered from memory may take: a `.zip` or
    /// `.ziphash` whose module is not verified yet (the whole module is, first), a
    /// file of a module whose check has not passed (its list is usually checked
    /// ahead, when it is loaded, so this is mostly the whole module: with
    /// `--verify=full`, or an index without digests), or a file over
    /// [`HEAVY_FILE`] bytes is [`Weight::Bulk`].
    pub(crate) fn read_weight(&self, ino: u64) -> Weight {
        let Ok(ns) = self.ns.read() else { return Weight::Bulk };
        let c = &self.content;
        let bulk = match ns.kind(ino) {
            Some(Kind::Zip(m) | Kind::ZipHash(m)) => !c.is_verified(m),
            Some(Kind::ModuleFile(m, e)) => {
                !c.is_ready(m) || c.entries(m).map_or(true, |l| l.get(e as usize).is_none_or(|f| f.size > HEAVY_FILE))
            }
            _ => false,
        };
        if bulk {
            Weight::Bulk
        } else {
            Weight::Quick
        }
    }

    pub fn getattr(&self, ino: u64) -> Result<Option<Attr>> {
        crate::ops::stats::inc(&self.content.stats.getattrs);
        self.ensure_loaded(ino)?;
        let ns = self.ns.read().map_err(|_| lock_err())?;
        self.attr_of(&ns, ino)
    }

    /// All entries of a directory, without `.` and `..`; None if `ino` is not a directory.
    pub fn readdir(&self, ino: u64) -> Result<Option<Vec<DirEntry>>> {
        crate::ops::stats::inc(&self.content.stats.readdirs);
        self.ensure_loaded(ino)?;
        let ns = self.ns.read().map_err(|_| lock_err())?;
        let kids = match ns.kind(ino) {
            Some(k) if k.is_path_dir() => Some(self.path_dir_children(&ns, ino, k)?),
            _ => ns.children(ino),
        };
        Ok(kids.map(|kids| kids.into_iter().map(|(ino, is_dir, name)| DirEntry { ino, is_dir, name }).collect()))
    }

    /// (bytes, files) of the module trees, for statfs: estimated from the modules
    /// seen so far and the store's module count (summing every row would read
    /// the whole index on every `df`).
    pub(crate) fn statfs_figures(&self) -> (u64, u64) {
        let (mut bytes, mut files, mut zips) = (0u64, 0u64, 0u64);
        for (_, m) in self.content.modules.iter() {
            if let Some(z) = &m.zip {
                bytes += z.tree_size;
                files += z.file_count;
                zips += 1;
            }
        }
        let total = self.content.with_store(|s| s.module_count()).unwrap_or(zips).max(zips);
        match zips {
            0 => (total * 64 * 1024, total * 64),
            n => (bytes / n * total, files / n * total),
        }
    }

    pub(crate) fn parent_of(&self, ino: u64) -> Option<u64> {
        self.ns.read().ok()?.parent(ino)
    }

    /// Answers OPEN on kernels that still send it (see `fuse/adapter.rs`): verifies what must
    /// be verified, so a bad module fails at open there. `Ok(None)`: no such file;
    /// `Ok(Some(false))`: a directory. No state is kept: reads go by inode.
    pub fn open(&self, ino: u64) -> Result<Option<bool>> {
        crate::ops::stats::inc(&self.content.stats.opens);
        let Some(kind) = self.kind(ino)? else { return Ok(None) };
        let c = &self.content;
        match kind {
            Kind::Dir | Kind::TreeDir | Kind::DlDir | Kind::AtV | Kind::ModuleRoot(_) | Kind::ModuleDir(_) => {
                return Ok(Some(false))
            }
            Kind::ModuleFile(m, _) => drop(c.ready(m)?),
            Kind::Zip(m) | Kind::ZipHash(m) => drop(c.verified(m)?),
            Kind::Mod(m) => drop(c.mod_file(m)?),
            Kind::List | Kind::Info(_) | Kind::Sumdb(_) => {}
        }
        Ok(Some(true))
    }

    fn kind(&self, ino: u64) -> Result<Option<Kind>> {
        Ok(self.ns.read().map_err(|_| lock_err())?.kind(ino))
    }

    /// A file's bytes if they are in memory now, without verifying, extracting or
    /// reading a blob, and without copying them (warm reads are most of what
    /// `go list` and builds do).
    pub(crate) fn read_quick(&self, ino: u64) -> Option<Bytes> {
        let c = &self.content;
        let ns = self.ns.read().ok()?;
        let data = match ns.kind(ino)? {
            // `cached` serves only files of a module that passed its check.
            Kind::ModuleFile(m, e) => c.cached(m, e)?,
            Kind::List => bytes(self.list_bytes_cached(&ns, ino)?),
            Kind::Info(m) => bytes(c.modules.get(m as usize)?.info.clone().unwrap_or_default()),
            Kind::Mod(m) if c.has_mod(m) => c.mod_file(m).ok()?,
            Kind::ZipHash(m) if c.is_verified(m) => bytes(c.ziphash(m).ok()?),
            Kind::Sumdb(i) => bytes(self.sumdb_file(i).ok()?),
            _ => return None,
        };
        crate::ops::stats::inc(&c.stats.reads);
        Some(data)
    }

    /// Reads from a file, verifying its module and extracting it first if needed.
    /// `Ok(None)` if there is no such file (or it is a directory).
    pub fn read(&self, ino: u64, offset: u64, size: u32) -> Result<Option<Vec<u8>>> {
        Ok(self.read_data(ino, offset, size)?.map(|d| d.to_vec()))
    }

    /// [`Fs::read`], answering from the memory cache's own buffer where it can.
    pub(crate) fn read_data(&self, ino: u64, offset: u64, size: u32) -> Result<Option<Data>> {
        crate::ops::stats::inc(&self.content.stats.reads);
        let Some(kind) = self.kind(ino)? else { return Ok(None) };
        let c = &self.content;
        let owned = |b: &[u8]| Data::Owned(slice(b, offset, size).to_vec());
        let out = match kind {
            Kind::Dir | Kind::TreeDir | Kind::DlDir | Kind::AtV | Kind::ModuleRoot(_) | Kind::ModuleDir(_) => {
                return Ok(None)
            }
            Kind::ModuleFile(m, e) => c.read_file(m, e, offset, size)?,
            Kind::Zip(m) => Data::Owned(c.read_zip(&*c.verified(m)?, offset, size)?),
            Kind::Mod(m) => Data::of(c.mod_file(m)?, offset, size),
            Kind::ZipHash(m) => owned(&c.ziphash(m)?),
            Kind::Sumdb(i) => owned(&self.sumdb_file(i)?),
            Kind::List => {
                let ns = self.ns.read().map_err(|_| lock_err())?;
                Data::of(bytes(self.list_bytes(&ns, ino)?), offset, size)
            }
            Kind::Info(_) => match self.read_quick(ino) {
                Some(b) => Data::of(b, offset, size),
                None => return Ok(None),
            },
        };
        crate::ops::stats::add(&self.content.stats.bytes_served, out.len() as u64);
        Ok(Some(out))
    }

    /// Counts, and logs within bounds (see `missing.rs`), a lookup for a module
    /// the store does not have: a version of a known path, or a path the store
    /// has no version of at all.
    fn note_missing(&self, parent: u64, name: &str) {
        let dir = {
            let Ok(ns) = self.ns.read() else { return };
            if !ns.kind(parent).is_some_and(Kind::is_path_dir) {
                return;
            }
            ns.path_of(parent)
        };
        let stats = &self.content.stats;
        // What cmd/go probes for a module it needs: the tree `<path>@<v>` and, in
        // `cache/download/<path>/@v/`, `<v>.mod`, `<v>.info`, `<v>.zip`, `<v>.ziphash`
        // and `<v>.lock`. Other misses (`.partial`, temp names) are normal.
        let wanted = if let Some(esc_path) = dir.strip_prefix("cache/download/").and_then(|d| d.strip_suffix("/@v")) {
            let Some((v, ext)) = name.rsplit_once('.') else { return };
            if !matches!(ext, "mod" | "info" | "zip" | "ziphash" | "lock") {
                return;
            }
            format!("{esc_path}@{v}")
        } else if let Some(below) = dir.strip_prefix("cache/download").map(|d| d.trim_start_matches('/')) {
            // A path the store has no version of: the kernel's walk to
            // `cache/download/<path>/@v/<v>.mod` stops at its first missing
            // element, here. (`sumdb/` holds the checksum database, not modules.)
            if below == "sumdb" || below.starts_with("sumdb/") || (below.is_empty() && name == "sumdb") {
                return;
            }
            let esc = match (below.is_empty(), name) {
                (_, "@v") => below.to_string(),
                (true, _) => name.to_string(),
                (false, _) => format!("{below}/{name}"),
            };
            if let Some(p) = crate::gomod::path::unescape(&esc).filter(|p| plausible_module_path(p)) {
                // The store may have gained it since the kernel asked.
                let now_there = self.content.with_store(|s| Ok(!s.module_versions(&p)?.is_empty()));
                if !now_there.unwrap_or(false) {
                    self.missing.note(Wanted::Path(&p), stats, || !self.store_moved_on());
                }
            }
            return;
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
        let (Some(p), Some(v)) = (crate::gomod::path::unescape(p), crate::gomod::path::unescape(v)) else { return };
        if !crate::gomod::version::is_canonical_version(&v) || !plausible_module_path(&p) {
            return;
        }
        if self.content.with_store(|s| s.find_module(&p, &v)).ok().flatten().is_some() {
            // A go.mod-only module: cmd/go checks for its zip or tree (go mod verify
            // does), finds none, and needs none. (Or one imported since the kernel
            // asked: it is there now.)
            return;
        }
        self.missing.note(Wanted::Version { path: &p, version: &v }, stats, || !self.store_moved_on());
    }

    /// Whether a newer state of the store than the one served is on disk (an
    /// import committed; the live poller serves it within a second): a name missed
    /// meanwhile may be in it, so it is not called missing. One small read, only
    /// for a module-shaped miss not noted before.
    fn store_moved_on(&self) -> bool {
        let served = self.content.with_store(|s| Ok(s.generation())).unwrap_or(0);
        crate::store::Store::current_generation(self.content.store_dir()).is_ok_and(|now| now > served)
    }
}

/// Whether a missing name could be a module path cmd/go asks for (a domain first):
/// other misses (editor probes, `.git`) are not worth a hint.
fn plausible_module_path(p: &str) -> bool {
    crate::gomod::path::check_module_path(p).is_ok() && p.split('/').next().is_some_and(|first| first.contains('.'))
}

pub(crate) fn slice(b: &[u8], offset: u64, size: u32) -> &[u8] {
    &b[crate::vfs::content::span(b.len(), offset, size)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_times() {
        assert_eq!(
            crate::gomod::info::unix_time(r#"{"Version":"v1.0.0","Time":"1970-01-02T00:00:01Z"}"#),
            Some(86_401)
        );
        assert_eq!(
            crate::gomod::info::unix_time(r#"{"Version":"v1.0.0","Time":"2009-11-10T23:00:00Z"}"#),
            Some(BASE_TIME)
        );
    }

    #[test]
    fn slicing() {
        assert_eq!(slice(b"hello", 1, 3), b"ell");
        assert_eq!(slice(b"hello", 4, 10), b"o");
        assert_eq!(slice(b"hello", 9, 10), b"");
    }
}
