//! The GOMODCACHE namespace: which names exist, what they are, their inode numbers.
//!
//! Everything except the inside of module trees is built at mount time from the
//! module list (in memory, no zip is opened): the escaped-path directories of the
//! extracted trees, `<path>@<version>` roots, and `cache/download/<path>/@v/...`.
//! A module tree's directories are added the first time the tree is looked into,
//! from the index's entry list.
//!
//! Files inside module trees have no node of their own: their inode number encodes
//! the module's store id and the entry's index, and their name is the last element
//! of the entry's name. That keeps the daemon's memory for a fully read store to a
//! few bytes per file beyond the entry list itself.
//!
//! Inode numbers are stable across mounts of the same store: directories and
//! `cache/download` files hash their path below the mount (top bit clear), tree
//! files are `1<<63 | store id << 24 | entry index`.

use crate::modpath;
use crate::store::Module;
use crate::zipfmt::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

pub const ROOT: u64 = 1;
const FILE_BIT: u64 = 1 << 63;
const ENTRY_BITS: u32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory whose children are all known.
    Dir,
    /// `<path>@<version>`: its children come from the module's entries, loaded lazily.
    ModuleRoot(u32),
    /// A directory inside a module tree.
    ModuleDir(u32),
    /// A file inside a module tree: module and index into its (sorted) entries.
    ModuleFile(u32, u32),
    /// `cache/download/<path>/@v/list` of one module path (index into `Namespace::lists`).
    List(u32),
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
        matches!(self, Kind::Dir | Kind::ModuleRoot(_) | Kind::ModuleDir(_))
    }
}

/// A directory, or a file outside the module trees.
#[derive(Debug)]
struct Node {
    parent: u64,
    name: Box<str>,
    kind: Kind,
    /// Children, sorted by name.
    children: Vec<u64>,
    subdirs: u32,
    loaded: bool,
    /// FNV-1a state over this node's path (before the final mix), so a child's
    /// inode number is computed from its name alone, without building its path.
    fnv: u64,
}

/// Node keys are already well-mixed hashes: use them as they are instead of
/// hashing them again with SipHash (a third of the mount's start-up time).
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
    /// Store id of each module (by index), and back.
    ids: Vec<i64>,
    by_id: HashMap<i64, u32>,
    /// Entry lists of the modules whose trees are loaded.
    trees: HashMap<u32, Arc<[Entry]>>,
    /// For each `@v/list`: the modules of that path, in semver order.
    pub lists: Vec<Vec<u32>>,
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
}

fn fnv(h: u64, s: &str) -> u64 {
    s.bytes().fold(h, fnv_step)
}

/// The inode number of a path below the mount: FNV-1a of the path, then a mixer so
/// that nearby paths spread over the whole range.
fn ino_of(fnv_state: u64) -> u64 {
    let mut h = fnv_state;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h & !FILE_BIT
}

fn base_name(entry_name: &str) -> &str {
    entry_name.rsplit('/').next().unwrap_or(entry_name)
}

impl Namespace {
    /// Builds the namespace of all modules (their trees stay unloaded).
    pub fn build(modules: &[Module]) -> Namespace {
        let mut ns = Namespace {
            nodes: NodeMap::default(),
            ids: modules.iter().map(|m| m.id).collect(),
            by_id: modules.iter().enumerate().map(|(i, m)| (m.id, i as u32)).collect(),
            trees: HashMap::new(),
            lists: Vec::new(),
        };
        // About five nodes per module (its @v files, root and path directories):
        // reserving up front saves rehashing a table that ends up megabytes large.
        ns.nodes.reserve(modules.len() * 6 + 16);
        ns.nodes.insert(
            ROOT,
            Node {
                parent: ROOT,
                name: "".into(),
                kind: Kind::Dir,
                children: Vec::new(),
                subdirs: 0,
                loaded: true,
                fnv: FNV_BASIS,
            },
        );
        let download = ns.mkdir_p(ROOT, "cache/download");
        let mut list_of: HashMap<&str, u32> = HashMap::new();
        let mut prev: Option<(&str, u64, Option<u64>)> = None;
        for (i, m) in modules.iter().enumerate() {
            let i = i as u32;
            let (Some(ep), Some(ev)) = (modpath::escape(&m.path), modpath::escape(&m.version)) else {
                log::warn!(
                    "{}: cannot be named in a module cache (not escapable); not served",
                    crate::logger::printable_str(&format!("{}@{}", m.path, m.version))
                );
                continue;
            };
            // Modules come sorted by path: the versions of one path share its
            // directories, so walk them only once per path.
            let (at_v, tree_dir) = match prev {
                Some((path, at_v, tree_dir)) if path == m.path => (at_v, tree_dir),
                _ => {
                    let at_v = ns.mkdir_p(download, &format!("{ep}/@v"));
                    let list = *list_of.entry(m.path.as_str()).or_insert_with(|| {
                        ns.lists.push(Vec::new());
                        (ns.lists.len() - 1) as u32
                    });
                    ns.add(at_v, "list", Kind::List(list));
                    (at_v, None)
                }
            };
            if let Some(&list) = list_of.get(m.path.as_str()) {
                ns.lists[list as usize].push(i);
            }
            ns.add(at_v, &format!("{ev}.mod"), Kind::Mod(i));
            if m.info.is_some() {
                ns.add(at_v, &format!("{ev}.info"), Kind::Info(i));
            }
            if m.zip.is_some() {
                ns.add(at_v, &format!("{ev}.zip"), Kind::Zip(i));
                ns.add(at_v, &format!("{ev}.ziphash"), Kind::ZipHash(i));
                let (dir, base) = ep.rsplit_once('/').unwrap_or(("", ep.as_str()));
                let parent = tree_dir.unwrap_or_else(|| ns.mkdir_p(ROOT, dir));
                let root = ns.add(parent, &format!("{base}@{ev}"), Kind::ModuleRoot(i));
                if let Some(n) = ns.nodes.get_mut(&root) {
                    n.loaded = false;
                }
                prev = Some((m.path.as_str(), at_v, Some(parent)));
            } else {
                prev = Some((m.path.as_str(), at_v, tree_dir));
            }
        }
        for l in &mut ns.lists {
            l.sort_by(|a, b| modpath::compare_versions(&modules[*a as usize].version, &modules[*b as usize].version));
        }
        let dirs: Vec<u64> = ns.nodes.iter().filter(|(_, n)| n.children.len() > 1).map(|(&k, _)| k).collect();
        ns.sort_children(&dirs);
        ns
    }

    fn file_ino(&self, module: u32, entry: u32) -> u64 {
        let id = self.ids.get(module as usize).copied().unwrap_or(0) as u64;
        FILE_BIT | (id << ENTRY_BITS) | entry as u64
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
    pub fn parent(&self, ino: u64) -> Option<u64> {
        self.nodes.get(&ino).map(|n| n.parent)
    }

    /// Whether a directory's children are known (false for unopened module roots).
    pub fn is_loaded(&self, ino: u64) -> bool {
        self.nodes.get(&ino).is_none_or(|n| n.loaded)
    }

    /// Number of subdirectories (for nlink).
    pub fn subdirs(&self, ino: u64) -> u32 {
        self.nodes.get(&ino).map_or(0, |n| n.subdirs)
    }

    pub fn child(&self, parent: u64, name: &str) -> Option<u64> {
        let kids = &self.nodes.get(&parent)?.children;
        kids.binary_search_by(|&c| self.name(c).unwrap_or("").cmp(name)).ok().map(|i| kids[i])
    }

    /// (inode, is_dir, name) of each child, in name order; None if not a directory.
    pub fn children(&self, dir: u64) -> Option<Vec<(u64, bool, String)>> {
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
    pub fn path_of(&self, mut ino: u64) -> String {
        let mut parts = Vec::new();
        while ino != ROOT {
            let Some(n) = self.nodes.get(&ino) else { break };
            parts.push(&*n.name);
            ino = n.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// Adds a node (or returns the existing one of that path). Children are sorted later.
    fn add(&mut self, parent: u64, name: &str, kind: Kind) -> u64 {
        let Some(p) = self.nodes.get(&parent) else { return parent };
        let state = if parent == ROOT { fnv(p.fnv, name) } else { fnv(fnv_step(p.fnv, b'/'), name) };
        let mut ino = ino_of(state);
        let mut salt = 0u32;
        loop {
            match self.nodes.get(&ino) {
                Some(n) if n.parent == parent && &*n.name == name => return ino,
                // A 64-bit hash collision (or a hash landing on 0/1) is vanishingly
                // rare; probe deterministically rather than alias two nodes.
                Some(_) => {}
                None if ino > ROOT => break,
                None => {}
            }
            salt += 1;
            ino = ino_of(fnv(fnv_step(state, 0), &salt.to_string()));
        }
        self.nodes.insert(
            ino,
            Node { parent, name: name.into(), kind, children: Vec::new(), subdirs: 0, loaded: true, fnv: state },
        );
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
    pub fn add_sumdb(&mut self, files: &[(String, String)]) {
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
    pub fn load_module(&mut self, root: u64, module: u32, entries: Arc<[Entry]>) {
        match self.nodes.get(&root) {
            Some(n) if !n.loaded => {}
            _ => return,
        }
        if entries.len() >= 1 << ENTRY_BITS {
            log::error!("module #{module}: {} files is more than a mount can name; tree left empty", entries.len());
            return;
        }
        self.trees.insert(module, entries.clone());
        let mut dirs = vec![root];
        for (i, e) in entries.iter().enumerate() {
            let dir = e.name.rsplit_once('/').map_or("", |(d, _)| d);
            let mut parent = root;
            for part in dir.split('/').filter(|p| !p.is_empty()) {
                let before = self.nodes.len();
                parent = self.add(parent, part, Kind::ModuleDir(module));
                if self.nodes.len() > before {
                    dirs.push(parent);
                }
            }
            let ino = self.file_ino(module, i as u32);
            if let Some(p) = self.nodes.get_mut(&parent) {
                p.children.push(ino);
            }
        }
        self.sort_children(&dirs);
        if let Some(n) = self.nodes.get_mut(&root) {
            n.loaded = true;
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}
