//! The GOMODCACHE namespace: which names exist, what they are, their inode numbers.
//!
//! Everything except the inside of module trees is built at mount time from the
//! module list (in memory, no zip is opened): the escaped-path directories of the
//! extracted trees, `<path>@<version>` roots, and `cache/download/<path>/@v/...`.
//! A module tree's files are added the first time the tree is looked into, from
//! the index's entry list.
//!
//! Inode numbers are a hash of the node's path below the mount, so they are the
//! same on every mount of the same store.

use crate::modpath;
use crate::store::Module;
use crate::zipfmt::Entry;
use std::collections::{BTreeMap, HashMap};

pub const ROOT: u64 = 1;

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
}

impl Kind {
    pub fn is_dir(self) -> bool {
        matches!(self, Kind::Dir | Kind::ModuleRoot(_) | Kind::ModuleDir(_))
    }
}

#[derive(Debug)]
pub struct Node {
    pub parent: u64,
    pub name: Box<str>,
    pub kind: Kind,
    /// Children by name; for a ModuleRoot, empty until `loaded`.
    pub children: BTreeMap<Box<str>, u64>,
    pub subdirs: u32,
    pub loaded: bool,
}

pub struct Namespace {
    nodes: HashMap<u64, Node>,
    /// For each `@v/list`: the modules of that path, in semver order.
    pub lists: Vec<Vec<u32>>,
}

/// FNV-1a, then a mixer so that nearby paths spread over the whole range.
fn ino_of(path: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

impl Namespace {
    /// Builds the namespace of all modules (their trees stay unloaded).
    pub fn build(modules: &[Module]) -> Namespace {
        let mut ns = Namespace { nodes: HashMap::new(), lists: Vec::new() };
        ns.nodes.insert(
            ROOT,
            Node {
                parent: ROOT,
                name: "".into(),
                kind: Kind::Dir,
                children: BTreeMap::new(),
                subdirs: 0,
                loaded: true,
            },
        );
        let download = ns.mkdir_p(ROOT, "", "cache/download");
        let mut list_of: HashMap<&str, u32> = HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            let i = i as u32;
            let (Some(ep), Some(ev)) = (modpath::escape(&m.path), modpath::escape(&m.version)) else {
                log::warn!("{}@{}: cannot be named in a module cache (not escapable); not served", m.path, m.version);
                continue;
            };
            let at_v_path = format!("cache/download/{ep}/@v");
            let at_v = ns.mkdir_p(download, "cache/download", &format!("{ep}/@v"));
            let list = *list_of.entry(m.path.as_str()).or_insert_with(|| {
                ns.lists.push(Vec::new());
                (ns.lists.len() - 1) as u32
            });
            ns.lists[list as usize].push(i);
            ns.add(at_v, &at_v_path, "list", Kind::List(list));
            ns.add(at_v, &at_v_path, &format!("{ev}.mod"), Kind::Mod(i));
            if m.info.is_some() {
                ns.add(at_v, &at_v_path, &format!("{ev}.info"), Kind::Info(i));
            }
            if m.zip.is_some() {
                ns.add(at_v, &at_v_path, &format!("{ev}.zip"), Kind::Zip(i));
                ns.add(at_v, &at_v_path, &format!("{ev}.ziphash"), Kind::ZipHash(i));
                let (dir, base) = match ep.rsplit_once('/') {
                    Some((d, b)) => (d, b),
                    None => ("", ep.as_str()),
                };
                let parent = ns.mkdir_p(ROOT, "", dir);
                let root = ns.add(parent, dir, &format!("{base}@{ev}"), Kind::ModuleRoot(i));
                if let Some(n) = ns.nodes.get_mut(&root) {
                    n.loaded = false;
                }
            }
        }
        for l in &mut ns.lists {
            l.sort_by(|a, b| modpath::compare_versions(&modules[*a as usize].version, &modules[*b as usize].version));
        }
        ns
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn child(&self, parent: u64, name: &str) -> Option<u64> {
        self.nodes.get(&parent)?.children.get(name).copied()
    }

    /// The path of a node below the mount (for inode hashing and messages).
    pub fn path_of(&self, mut ino: u64) -> String {
        let mut parts = Vec::new();
        while ino != ROOT {
            let Some(n) = self.nodes.get(&ino) else { break };
            parts.push(n.name.as_ref());
            ino = n.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// Adds a child (or returns the existing one of that name).
    fn add(&mut self, parent: u64, parent_path: &str, name: &str, kind: Kind) -> u64 {
        if let Some(ino) = self.child(parent, name) {
            return ino;
        }
        let path = if parent_path.is_empty() { name.to_string() } else { format!("{parent_path}/{name}") };
        let mut ino = ino_of(&path);
        // A 64-bit hash collision (or a hash landing on 0/1) is vanishingly rare;
        // probe deterministically rather than alias two nodes.
        let mut salt = 0u32;
        while ino <= ROOT || self.nodes.contains_key(&ino) {
            salt += 1;
            ino = ino_of(&format!("{path}\0{salt}"));
        }
        self.nodes
            .insert(ino, Node { parent, name: name.into(), kind, children: BTreeMap::new(), subdirs: 0, loaded: true });
        if let Some(p) = self.nodes.get_mut(&parent) {
            p.children.insert(name.into(), ino);
            if kind.is_dir() {
                p.subdirs += 1;
            }
        }
        ino
    }

    /// Creates the directories of a slash-separated relative path under `base`.
    fn mkdir_p(&mut self, base: u64, base_path: &str, rel: &str) -> u64 {
        let mut cur = base;
        let mut cur_path = base_path.to_string();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            cur = self.add(cur, &cur_path, part, Kind::Dir);
            cur_path = if cur_path.is_empty() { part.to_string() } else { format!("{cur_path}/{part}") };
        }
        cur
    }

    /// Fills a module root from its entry list (sorted by name). Idempotent.
    pub fn load_module(&mut self, root: u64, module: u32, entries: &[Entry]) {
        match self.nodes.get(&root) {
            Some(n) if !n.loaded => {}
            _ => return,
        }
        let root_path = self.path_of(root);
        for (i, e) in entries.iter().enumerate() {
            let (dir, base) = match e.name.rsplit_once('/') {
                Some((d, b)) => (d, b),
                None => ("", e.name.as_str()),
            };
            let mut parent = root;
            let mut parent_path = root_path.clone();
            for part in dir.split('/').filter(|p| !p.is_empty()) {
                parent = self.add(parent, &parent_path, part, Kind::ModuleDir(module));
                parent_path.push('/');
                parent_path.push_str(part);
            }
            self.add(parent, &parent_path, base, Kind::ModuleFile(module, i as u32));
        }
        if let Some(n) = self.nodes.get_mut(&root) {
            n.loaded = true;
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}
