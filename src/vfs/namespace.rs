//! The GOMODCACHE namespace: which names exist, what they are, their inode numbers.
//!
//! Nothing is built from the module list at mount: the directories of module
//! paths (the extracted trees' `<path>/` and `cache/download/<path>/`) and the
//! `@v` directories are answered from the store as they are looked up, one
//! directory at a time (`PathDir`, kept in a bounded LRU; see fs/dirs.rs). A node
//! exists only for a name the kernel was given (it may come back with that inode
//! number), and for the fixed directories (`cache`, the checksum database). A
//! module tree's directories are added the first time the tree is looked into,
//! from the index's entry list.
//!
//! Files inside module trees have no node of their own: their inode number encodes
//! the module's store id and the entry's index, and their name is the last element
//! of the entry's name. That keeps the daemon's memory for a fully read store to a
//! few bytes per file beyond the entry list itself.
//!
//! Inode numbers are stable across mounts of the same store and do not depend on
//! the order names are looked up in: directories and `cache/download` files hash
//! their path below the mount (top bit clear), tree files are
//! `1<<63 | store id << 24 | entry index`.

use crate::store::PathChild;
use crate::zip::Entry;
use lru::LruCache;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const ROOT: u64 = 1;
const FILE_BIT: u64 = 1 << 63;
const ENTRY_BITS: u32 = 24;
/// Directories of module paths kept loaded (each one store query's worth).
const PATH_DIRS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<escaped prefix>/`: module trees and path directories below a module
    /// path prefix (the root: ""). Children come from the store.
    TreeDir,
    /// `cache/download/<escaped prefix>/` (`cache/download` itself: "").
    DlDir,
    /// `cache/download/<escaped path>/@v`.
    AtV,
    /// A directory whose children are fixed (`cache`, the checksum database's).
    Dir,
    /// `<path>@<version>`: its children come from the module's entries, loaded lazily.
    ModuleRoot(u32),
    /// A directory inside a module tree.
    ModuleDir(u32),
    /// A file inside a module tree: module and index into its (sorted) entries.
    ModuleFile(u32, u32),
    /// `@v/list`: the versions of its parent's module path.
    List,
    Info(u32),
    Mod(u32),
    Zip(u32),
    ZipHash(u32),
    /// `cache/download/sumdb/<db>/...`: a checksum-database file (index into the
    /// list given to `add_sumdb`).
    Sumdb(u32),
}

impl Kind {
    pub fn is_dir(self) -> bool {
        matches!(self, Kind::TreeDir | Kind::DlDir | Kind::AtV | Kind::Dir | Kind::ModuleRoot(_) | Kind::ModuleDir(_))
    }

    /// A directory whose children come from the store's module paths.
    pub(crate) fn is_path_dir(self) -> bool {
        matches!(self, Kind::TreeDir | Kind::DlDir | Kind::AtV)
    }
}

/// A directory, or a file outside the module trees.
#[derive(Debug)]
struct Node {
    parent: u64,
    name: Box<str>,
    kind: Kind,
    /// Children known without the store, sorted by name: a module tree's, a fixed
    /// directory's, and the fixed extras of path directories (`cache`, `sumdb`).
    children: Vec<u64>,
    subdirs: u32,
    loaded: bool,
    /// FNV-1a state over this node's path (before the final mix), so a child's
    /// inode number is computed from its name alone, without building its path.
    fnv: u64,
    /// The module path prefix (unescaped) of a path directory.
    path: Option<Arc<str>>,
}

impl Node {
    /// A node with no children yet; only a module root waits for its entries.
    fn new(parent: u64, name: &str, kind: Kind, fnv: u64, path: Option<Arc<str>>) -> Node {
        let loaded = !matches!(kind, Kind::ModuleRoot(_));
        Node { parent, name: name.into(), kind, children: Vec::new(), subdirs: 0, loaded, fnv, path }
    }
}

/// One directory of module paths as the store answered it: the next path
/// elements below the prefix, and the servable versions of the prefix itself
/// (content slots, in semver order).
#[derive(Debug, Default)]
pub(crate) struct PathDir {
    pub(crate) children: Vec<PathChild>,
    pub(crate) versions: Vec<u32>,
}

impl PathDir {
    pub(crate) fn child(&self, elem: &str) -> Option<&PathChild> {
        self.children.binary_search_by(|c| c.elem.as_str().cmp(elem)).ok().map(|i| &self.children[i])
    }
}

/// Node keys are already well-mixed hashes: use them as they are instead of
/// hashing them again with SipHash.
#[derive(Default)]
struct InoHasher(u64);

impl Hasher for InoHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; keep any other input well-defined anyway.
        self.0 = bytes.iter().fold(self.0, |h, &b| fnv_step(h, b));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type NodeMap = HashMap<u64, Node, BuildHasherDefault<InoHasher>>;

pub struct Namespace {
    nodes: NodeMap,
    /// Entry lists of the modules whose trees are loaded, by slot; the store id
    /// of each (tree files' inode numbers carry it), and back.
    trees: HashMap<u32, Arc<[Entry]>>,
    ids: HashMap<u32, i64>,
    by_id: HashMap<i64, u32>,
    /// Directories of module paths read from the store, by unescaped prefix.
    dirs: Mutex<LruCache<Arc<str>, Arc<PathDir>>>,
    /// Bumped whenever the store changes: a directory read from an older state
    /// is not cached (see `put_dir`).
    epoch: AtomicU64,
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
}

fn fnv(h: u64, s: &str) -> u64 {
    s.bytes().fold(h, fnv_step)
}

/// The inode number of a path below the mount: FNV-1a of the path, then a mixer so
/// that nearby paths spread over the whole range (0 and 1 are never given out).
fn ino_of(fnv_state: u64) -> u64 {
    let mut h = fnv_state;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    let ino = h & !FILE_BIT;
    if ino <= ROOT {
        ino + 2
    } else {
        ino
    }
}

fn child_state(parent_fnv: u64, parent: u64, name: &str) -> u64 {
    if parent == ROOT {
        fnv(parent_fnv, name)
    } else {
        fnv(fnv_step(parent_fnv, b'/'), name)
    }
}

/// The inode number of a path below the mount (escaped, as named there; "" is
/// the root), computed without any node.
pub(crate) fn ino_of_path(path: &str) -> u64 {
    if path.is_empty() {
        return ROOT;
    }
    let mut state = FNV_BASIS;
    let mut first = true;
    for part in path.split('/') {
        state = if first { fnv(state, part) } else { fnv(fnv_step(state, b'/'), part) };
        first = false;
    }
    ino_of(state)
}

fn base_name(entry_name: &str) -> &str {
    entry_name.rsplit('/').next().unwrap_or(entry_name)
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new()
    }
}

impl Namespace {
    /// The fixed part: the root, `cache` and `cache/download`. Everything else
    /// is looked up in the store on demand.
    pub fn new() -> Namespace {
        let mut ns = Namespace {
            nodes: NodeMap::default(),
            trees: HashMap::new(),
            ids: HashMap::new(),
            by_id: HashMap::new(),
            dirs: Mutex::new(LruCache::new(NonZeroUsize::new(PATH_DIRS).unwrap_or(NonZeroUsize::MIN))),
            epoch: AtomicU64::new(0),
        };
        ns.nodes.insert(ROOT, Node::new(ROOT, "", Kind::TreeDir, FNV_BASIS, Some("".into())));
        let cache = ns.add(ROOT, "cache", Kind::Dir);
        let download = ns.add(cache, "download", Kind::DlDir);
        if let Some(n) = ns.nodes.get_mut(&download) {
            n.path = Some("".into());
        }
        ns
    }

    /// Records the store id of a module slot (tree files' inode numbers carry it).
    pub(crate) fn set_id(&mut self, module: u32, id: i64) {
        self.ids.insert(module, id);
        self.by_id.insert(id, module);
    }

    /// The module path prefix of a path directory.
    pub(crate) fn dir_path(&self, ino: u64) -> Option<Arc<str>> {
        self.nodes.get(&ino)?.path.clone()
    }

    /// The inode number `name` has (or would have) below directory `parent`.
    pub(crate) fn child_ino(&self, parent: u64, name: &str) -> Option<u64> {
        let p = self.nodes.get(&parent)?;
        Some(ino_of(child_state(p.fnv, parent, name)))
    }

    /// The node of a name found in the store below a path directory: made, or
    /// brought up to date (a module removed and imported again has a new slot).
    /// None on a hash collision with another name (logged; never seen in practice).
    pub fn intern(&mut self, parent: u64, name: &str, kind: Kind, path: Option<Arc<str>>) -> Option<u64> {
        let p = self.nodes.get(&parent)?;
        let state = child_state(p.fnv, parent, name);
        let ino = ino_of(state);
        match self.nodes.get_mut(&ino) {
            Some(n) if n.parent == parent && &*n.name == name => {
                if n.kind != kind {
                    n.kind = kind;
                    n.children.clear();
                    n.subdirs = 0;
                    n.loaded = !matches!(kind, Kind::ModuleRoot(_));
                }
                n.path = path;
                Some(ino)
            }
            Some(n) => {
                log::error!(
                    "inode number {ino:#x} of {:?} collides with {:?}; the first is not served",
                    crate::ops::logger::printable_str(name),
                    crate::ops::logger::printable_str(&n.name)
                );
                None
            }
            None => {
                self.nodes.insert(ino, Node::new(parent, name, kind, state, path));
                Some(ino)
            }
        }
    }

    /// A directory of module paths, if it is loaded.
    pub(crate) fn cached_dir(&self, prefix: &str) -> Option<Arc<PathDir>> {
        self.dirs.lock().ok()?.get(prefix).cloned()
    }

    /// The store's state as of now, for `put_dir`.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Keeps a directory read from the store, unless the store changed since
    /// `epoch` (then the next lookup reads it again).
    pub(crate) fn put_dir(&self, prefix: &str, dir: Arc<PathDir>, epoch: u64) {
        if let Ok(mut d) = self.dirs.lock() {
            if self.epoch() == epoch {
                d.put(prefix.into(), dir);
            }
        }
    }

    /// Forgets the loaded directories of these prefixes: the store changed there.
    pub(crate) fn drop_dirs<'a>(&self, prefixes: impl IntoIterator<Item = &'a str>) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut d) = self.dirs.lock() {
            for p in prefixes {
                d.pop(p);
            }
        }
    }

    /// (module, entry) of a tree file's inode number.
    fn file_of(&self, ino: u64) -> Option<(u32, u32)> {
        if ino & FILE_BIT == 0 {
            return None;
        }
        let id = ((ino & !FILE_BIT) >> ENTRY_BITS) as i64;
        let entry = (ino & ((1 << ENTRY_BITS) - 1)) as u32;
        let m = *self.by_id.get(&id)?;
        self.trees.get(&m).filter(|t| (entry as usize) < t.len())?;
        Some((m, entry))
    }

    pub fn kind(&self, ino: u64) -> Option<Kind> {
        match self.file_of(ino) {
            Some((m, e)) => Some(Kind::ModuleFile(m, e)),
            None => self.nodes.get(&ino).map(|n| n.kind),
        }
    }

    fn name(&self, ino: u64) -> Option<&str> {
        match self.file_of(ino) {
            Some((m, e)) => self.trees.get(&m)?.get(e as usize).map(|en| base_name(&en.name)),
            None => self.nodes.get(&ino).map(|n| &*n.name),
        }
    }

    /// The parent of a directory (the root is its own parent).
    pub(crate) fn parent(&self, ino: u64) -> Option<u64> {
        self.nodes.get(&ino).map(|n| n.parent)
    }

    /// Whether a directory's children are known (false for unopened module roots).
    pub fn is_loaded(&self, ino: u64) -> bool {
        self.nodes.get(&ino).is_none_or(|n| n.loaded)
    }

    /// Number of subdirectories (for nlink).
    pub(crate) fn subdirs(&self, ino: u64) -> u32 {
        self.nodes.get(&ino).map_or(0, |n| n.subdirs)
    }

    pub(crate) fn child(&self, parent: u64, name: &str) -> Option<u64> {
        let kids = &self.nodes.get(&parent)?.children;
        kids.binary_search_by(|&c| self.name(c).unwrap_or("").cmp(name)).ok().map(|i| kids[i])
    }

    /// (inode, is_dir, name) of each child, in name order; None if not a directory.
    pub(crate) fn children(&self, dir: u64) -> Option<Vec<(u64, bool, String)>> {
        let n = self.nodes.get(&dir)?;
        if !n.kind.is_dir() {
            return None;
        }
        Some(
            n.children
                .iter()
                .map(|&c| (c, self.kind(c).is_some_and(Kind::is_dir), self.name(c).unwrap_or("").to_string()))
                .collect(),
        )
    }

    /// The path of a directory below the mount (for messages).
    pub(crate) fn path_of(&self, mut ino: u64) -> String {
        let mut parts = Vec::new();
        while ino != ROOT {
            let Some(n) = self.nodes.get(&ino) else { break };
            parts.push(&*n.name);
            ino = n.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// Adds a fixed node (or returns the existing one of that path). Children are sorted later.
    fn add(&mut self, parent: u64, name: &str, kind: Kind) -> u64 {
        let Some(p) = self.nodes.get(&parent) else { return parent };
        let state = child_state(p.fnv, parent, name);
        let ino = ino_of(state);
        match self.nodes.get(&ino) {
            Some(n) if n.parent == parent && &*n.name == name => return ino,
            Some(_) => {
                log::error!(
                    "inode number {ino:#x} of {:?} collides; not served",
                    crate::ops::logger::printable_str(name)
                );
                return parent;
            }
            None => {}
        }
        self.nodes.insert(ino, Node::new(parent, name, kind, state, None));
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children.push(ino);
            if kind.is_dir() {
                p.subdirs += 1;
            }
        }
        ino
    }

    /// Creates the directories of a slash-separated relative path under `base`.
    fn mkdir_p(&mut self, base: u64, rel: &str) -> u64 {
        rel.split('/').filter(|p| !p.is_empty()).fold(base, |cur, part| self.add(cur, part, Kind::Dir))
    }

    fn sort_children(&mut self, dirs: &[u64]) {
        // Sort with the names at hand (one lookup per child, not per comparison),
        // then store the results.
        let sorted: Vec<(u64, Vec<u64>)> = dirs
            .iter()
            .filter_map(|d| {
                let kids = &self.nodes.get(d)?.children;
                let mut named: Vec<(&str, u64)> = kids.iter().map(|&k| (self.name(k).unwrap_or(""), k)).collect();
                named.sort_unstable();
                Some((*d, named.into_iter().map(|(_, k)| k).collect()))
            })
            .collect();
        for (d, kids) in sorted {
            if let Some(n) = self.nodes.get_mut(&d) {
                n.children = kids;
            }
        }
    }

    /// Adds the checksum-database files, (database, path below its directory), as
    /// `cache/download/sumdb/<db>/<path>`. Names that are not plain relative paths
    /// are skipped.
    pub(crate) fn add_sumdb(&mut self, files: &[(String, String)]) {
        if files.is_empty() {
            return;
        }
        let base = self.mkdir_p(ROOT, "cache/download/sumdb");
        let mut dirs = vec![base];
        for (i, (db, rel)) in files.iter().enumerate() {
            let plain = |s: &str| !s.is_empty() && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
            if !plain(db) || db.contains('/') || !plain(rel) {
                continue;
            }
            let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            let db_dir = self.mkdir_p(base, db);
            let d = self.mkdir_p(db_dir, dir);
            self.add(d, name, Kind::Sumdb(i as u32));
            let mut cur = d;
            while cur != base && !dirs.contains(&cur) {
                dirs.push(cur);
                cur = self.parent(cur).unwrap_or(base);
            }
        }
        if let Some(download) = self.parent(base) {
            dirs.push(download);
        }
        self.sort_children(&dirs);
    }

    /// Fills a module root from its entry list (sorted by name). Idempotent.
    pub fn load_module(&mut self, root: u64, module: u32, id: i64, entries: Arc<[Entry]>) {
        if let Some(fnv) = self.unloaded_root(root) {
            let tree = ModuleTree::build(root, fnv, id, &entries);
            self.insert_tree(root, module, id, entries, tree);
        }
    }

    /// The FNV state of a module root whose tree is not loaded yet (what
    /// [`ModuleTree::build`] needs), or None.
    pub(crate) fn unloaded_root(&self, root: u64) -> Option<u64> {
        self.nodes.get(&root).filter(|n| !n.loaded && matches!(n.kind, Kind::ModuleRoot(_))).map(|n| n.fnv)
    }

    /// Puts a tree built off the lock in place below its root. Idempotent: a root
    /// loaded meanwhile (by another request) keeps its tree.
    pub(crate) fn insert_tree(&mut self, root: u64, module: u32, id: i64, entries: Arc<[Entry]>, tree: ModuleTree) {
        if self.unloaded_root(root).is_none() {
            return;
        }
        self.set_id(module, id);
        if tree.too_many {
            log::error!("module #{module}: {} files is more than a mount can name; tree left empty", entries.len());
            return;
        }
        self.trees.insert(module, entries);
        for (ino, mut node) in tree.dirs {
            node.kind = Kind::ModuleDir(module);
            match self.nodes.get(&ino) {
                None => {
                    self.nodes.insert(ino, node);
                }
                Some(n) if n.parent == node.parent && n.name == node.name => {}
                Some(_) => log::error!(
                    "inode number {ino:#x} of {:?} collides; not served",
                    crate::ops::logger::printable_str(&node.name)
                ),
            }
        }
        if let Some(n) = self.nodes.get_mut(&root) {
            n.children = tree.root_children;
            n.subdirs = tree.root_subdirs;
            n.loaded = true;
        }
    }
}

/// A directory of a tree being built: its inode number, its node, and its
/// children with their names (sorted once all are known).
type Building<'a> = (u64, Node, Vec<(&'a str, u64)>);

/// A module's tree built from its entry list, without the namespace (and its
/// lock): its directories, each with its children in name order, and the
/// root's children. `Content::load_entries` builds it beside the index checks.
pub(crate) struct ModuleTree {
    dirs: Vec<(u64, Node)>,
    root_children: Vec<u64>,
    root_subdirs: u32,
    too_many: bool,
}

impl ModuleTree {
    /// The tree of `entries` (sorted by name) below the module root `root`, whose
    /// FNV state is `root_fnv`; tree files are numbered by the module's store `id`.
    pub(crate) fn build(root: u64, root_fnv: u64, id: i64, entries: &[Entry]) -> ModuleTree {
        let mut tree = ModuleTree { dirs: Vec::new(), root_children: Vec::new(), root_subdirs: 0, too_many: false };
        if entries.len() >= 1 << ENTRY_BITS {
            tree.too_many = true;
            return tree;
        }
        // Each directory's children with their names, sorted at the end; index 0 is
        // the root. Sorted names mostly share the directory of the one before: it
        // is walked (and its parents found or made) only when it changes.
        let mut dirs: Vec<Building<'_>> = Vec::new();
        let mut at: HashMap<u64, usize, BuildHasherDefault<InoHasher>> = HashMap::default();
        let mut root_kids: Vec<(&str, u64)> = Vec::with_capacity(entries.len().min(64));
        let mut last: Option<(&str, Option<usize>)> = None;
        for (i, e) in entries.iter().enumerate() {
            let (dir, base) = e.name.rsplit_once('/').unwrap_or(("", &e.name));
            let slot = match last {
                Some((d, slot)) if d == dir => slot,
                _ => {
                    let (mut slot, mut ino, mut state) = (None, root, root_fnv);
                    for part in dir.split('/').filter(|p| !p.is_empty()) {
                        let child = child_state(state, ino, part);
                        let child_ino = ino_of(child);
                        let found = at.get(&child_ino).copied();
                        match found {
                            Some(k) if dirs[k].1.parent == ino && &*dirs[k].1.name == part => slot = Some(k),
                            Some(_) => {
                                log::error!(
                                    "inode number {child_ino:#x} of {:?} collides; not served",
                                    crate::ops::logger::printable_str(part)
                                );
                                continue;
                            }
                            None => {
                                let node = Node::new(ino, part, Kind::ModuleDir(0), child, None);
                                dirs.push((child_ino, node, Vec::new()));
                                at.insert(child_ino, dirs.len() - 1);
                                match slot {
                                    Some(p) => {
                                        dirs[p].2.push((part, child_ino));
                                        dirs[p].1.subdirs += 1;
                                    }
                                    None => {
                                        root_kids.push((part, child_ino));
                                        tree.root_subdirs += 1;
                                    }
                                }
                                slot = Some(dirs.len() - 1);
                            }
                        }
                        (ino, state) = (child_ino, child);
                    }
                    last = Some((dir, slot));
                    slot
                }
            };
            let file = FILE_BIT | ((id as u64) << ENTRY_BITS) | i as u64;
            match slot {
                Some(k) => dirs[k].2.push((base, file)),
                None => root_kids.push((base, file)),
            }
        }
        let sorted = |mut kids: Vec<(&str, u64)>| -> Vec<u64> {
            if !kids.is_sorted() {
                kids.sort_unstable();
            }
            kids.into_iter().map(|(_, k)| k).collect()
        };
        tree.root_children = sorted(root_kids);
        tree.dirs = dirs
            .into_iter()
            .map(|(ino, mut node, kids)| {
                node.children = sorted(kids);
                (ino, node)
            })
            .collect();
        tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry { name: name.into(), data_offset: 0, compressed_size: 0, size: 0, method: 0, crc32: 0 }
    }

    /// A tree built off the lock names its directories as the namespace would
    /// (their paths' inode numbers), files by store id and index, and lists each
    /// directory's children in name order, which is not the entries' order when a
    /// name sorts between a directory and its contents ("x.go" and "x/").
    #[test]
    fn a_tree_built_off_the_lock_is_named_and_sorted() {
        let mut names = ["a/b/c.go", "x!.go", "x.go", "x/a.go", "x/b/z.go", "x-y/b.go", "y.go", "x/b.go"];
        names.sort_unstable();
        let entries: Vec<Entry> = names.iter().map(|n| entry(n)).collect();
        let root_fnv = fnv(FNV_BASIS, "m@v1.0.0");
        let root = ino_of(root_fnv);
        let id = 7;
        let tree = ModuleTree::build(root, root_fnv, id, &entries);
        let name_of = |ino: u64| -> String {
            if ino & FILE_BIT != 0 {
                let i = (ino & ((1 << ENTRY_BITS) - 1)) as usize;
                assert_eq!(ino >> ENTRY_BITS & ((1 << 39) - 1), id as u64, "{ino:#x} carries the store id");
                base_name(&entries[i].name).to_string()
            } else {
                tree.dirs
                    .iter()
                    .find(|(d, _)| *d == ino)
                    .map(|(_, n)| n.name.to_string())
                    .expect("a directory of the tree")
            }
        };
        let kids = |list: &[u64]| list.iter().map(|&k| name_of(k)).collect::<Vec<_>>();
        assert_eq!(kids(&tree.root_children), ["a", "x", "x!.go", "x-y", "x.go", "y.go"]);
        assert_eq!(tree.root_subdirs, 3);
        let x = tree.dirs.iter().find(|(_, n)| &*n.name == "x" && n.parent == root).expect("x/");
        assert_eq!(x.0, ino_of_path("m@v1.0.0/x"));
        assert_eq!(kids(&x.1.children), ["a.go", "b", "b.go"]);
        assert_eq!(x.1.subdirs, 1);
        let b = tree.dirs.iter().find(|(_, n)| &*n.name == "b" && n.parent == x.0).expect("x/b/");
        assert_eq!(b.0, ino_of_path("m@v1.0.0/x/b"));
        assert_eq!(kids(&b.1.children), ["z.go"]);
        assert_eq!(tree.dirs.len(), 5, "a, a/b, x, x/b, x-y");
    }
}
