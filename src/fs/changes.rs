//! What a change of the store does to a running mount: the directories of module
//! paths it touched are read again on their next lookup, and the kernel is told
//! to forget what it cached of them (names, negative entries included, directory
//! listings, `@v/list`'s size and bytes), so that new modules appear and removed
//! ones disappear without a remount. Nodes stay: a file opened before a module
//! was removed keeps reading (by inode) until it is closed.

use super::Fs;
use crate::modpath;
use crate::namespace::ino_of_path;
use crate::store::Changes;
use std::collections::BTreeSet;

/// One FUSE invalidation notification for the kernel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Inval {
    /// `inval_entry(parent, name)`: the name's cached lookup, positive or negative.
    Entry(u64, String),
    /// `inval_inode(ino)`: its attributes and cached contents (a listing, `list`).
    Inode(u64),
}

const DOWNLOAD: &str = "cache/download";

impl Fs {
    /// Forgets what the namespace loaded of the changed module paths (the new
    /// store must already be in place) and returns the notifications that make
    /// the kernel ask again.
    pub fn apply_changes(&self, changes: &Changes) -> Vec<Inval> {
        let mut prefixes: BTreeSet<String> = BTreeSet::new();
        let mut out: BTreeSet<Inval> = BTreeSet::new();
        for (path, version) in changes.added.iter().chain(&changes.removed) {
            self.missing.forget(&format!("{path}@{version}"));
            self.missing.forget(path);
            let (Some(ep), Some(ev)) = (modpath::escape(path), modpath::escape(version)) else { continue };
            let elems: Vec<&str> = path.split('/').collect();
            let esc: Vec<&str> = ep.split('/').collect();
            if elems.len() != esc.len() {
                continue;
            }
            prefixes.insert(String::new());
            for i in 1..=elems.len() {
                prefixes.insert(elems[..i].join("/"));
            }
            for i in 0..esc.len() {
                let under = esc[..i].join("/");
                // The extracted-tree side: `<prefix>/<elem>`, and the module's root.
                let tree = ino_of_path(&under);
                out.insert(Inval::Entry(tree, esc[i].to_string()));
                out.insert(Inval::Inode(tree));
                if i + 1 == esc.len() {
                    out.insert(Inval::Entry(tree, format!("{}@{ev}", esc[i])));
                }
                // The download side: `cache/download/<prefix>/<elem>`.
                let dl =
                    ino_of_path(&if under.is_empty() { DOWNLOAD.to_string() } else { format!("{DOWNLOAD}/{under}") });
                out.insert(Inval::Entry(dl, esc[i].to_string()));
                out.insert(Inval::Inode(dl));
            }
            let module_dir = format!("{DOWNLOAD}/{ep}");
            let at_v = format!("{module_dir}/@v");
            out.insert(Inval::Entry(ino_of_path(&module_dir), "@v".into()));
            out.insert(Inval::Inode(ino_of_path(&module_dir)));
            for ext in ["mod", "info", "zip", "ziphash"] {
                out.insert(Inval::Entry(ino_of_path(&at_v), format!("{ev}.{ext}")));
            }
            out.insert(Inval::Inode(ino_of_path(&at_v)));
            out.insert(Inval::Inode(ino_of_path(&format!("{at_v}/list"))));
        }
        if let Ok(ns) = self.ns.read() {
            ns.drop_dirs(prefixes.iter().map(String::as_str));
        }
        out.into_iter().collect()
    }
}
