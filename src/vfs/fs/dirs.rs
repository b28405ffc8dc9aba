//! The directories of module paths, answered from the store as they are looked
//! up: `<path>/` and `<path>@<version>` on the extracted-tree side,
//! `cache/download/<path>/` and its `@v/` files on the download side.
//!
//! Both sides of one module path prefix come from one [`PathDir`]: the store's
//! `path_children(prefix)` (the next path elements) and `module_versions(prefix)`
//! (registered with the content layer, which checks each row). A lookup of
//! `elem` below `prefix` reads the child's directory (`prefix/elem`), not the
//! parent's, unless the parent's is loaded already: a build walks down the
//! paths of the modules it uses, and `github.com/` may have hundreds of
//! thousands of children it never lists. Only `readdir` reads a whole directory.

use super::{lock_err, Fs};
use crate::error::Result;
use crate::vfs::namespace::{Kind, Namespace, PathDir};
use std::sync::Arc;

/// Store queries spent on the rows below one directory's unnameable elements.
const ODD_ROWS_WALKED: u32 = 64;

fn join(prefix: &str, elem: &str) -> String {
    if prefix.is_empty() {
        elem.to_string()
    } else {
        format!("{prefix}/{elem}")
    }
}

/// One escaped path element as named below the mount, unescaped (None for names
/// no module path element can have).
fn unescape_elem(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '@']) {
        return None;
    }
    crate::gomod::path::unescape(name)
}

impl Fs {
    /// The directory of module paths below `prefix`, from the LRU or the store.
    pub(super) fn path_dir(&self, ns: &Namespace, prefix: &str) -> Result<Arc<PathDir>> {
        if let Some(d) = ns.cached_dir(prefix) {
            return Ok(d);
        }
        let epoch = ns.epoch();
        let c = &self.content;
        let (mut children, slots) = c.with_store(|st| {
            let mut children = st.path_children(prefix)?;
            // A name no module cache could spell (an empty element, a control
            // character) is not served: the rows below it are refused (and logged) now.
            let (kept, odd): (Vec<_>, Vec<_>) = children
                .drain(..)
                .partition(|ch| !ch.elem.is_empty() && crate::gomod::path::escape(&ch.elem).is_some());
            children = kept;
            let mut budget = ODD_ROWS_WALKED;
            for ch in odd {
                self.refuse_below(st, &join(prefix, &ch.elem), &mut budget)?;
            }
            let versions = if prefix.is_empty() { Vec::new() } else { st.module_versions(prefix)? };
            let slots = c.register(st, versions)?;
            Ok((children, slots))
        })?;
        children.sort_by(|a, b| a.elem.cmp(&b.elem));
        children.dedup_by(|a, b| a.elem == b.elem);
        let mut versions: Vec<(u32, &str)> =
            slots.iter().filter_map(|&s| c.modules.get(s as usize).map(|m| (s, m.version.as_str()))).collect();
        versions.sort_by(|a, b| crate::gomod::version::compare_versions(a.1, b.1));
        versions.dedup_by(|a, b| a.0 == b.0);
        let d = Arc::new(PathDir { children, versions: versions.into_iter().map(|(s, _)| s).collect() });
        ns.put_dir(prefix, d.clone(), epoch);
        Ok(d)
    }

    /// Registers (so refuses, logging each once: see content/lazy.rs) the rows at
    /// and below a module path no module cache can name, within a budget of
    /// store queries.
    fn refuse_below(&self, st: &crate::store::Store, path: &str, budget: &mut u32) -> Result<()> {
        if *budget == 0 {
            return Ok(());
        }
        *budget -= 1;
        self.content.register(st, st.module_versions(path)?)?;
        for ch in st.path_children(path)? {
            self.refuse_below(st, &format!("{path}/{}", ch.elem), budget)?;
        }
        Ok(())
    }

    /// The slot of `version` among a directory's versions.
    fn version_slot(&self, d: &PathDir, version: &str) -> Option<u32> {
        d.versions.iter().copied().find(|&s| self.content.modules.get(s as usize).is_some_and(|m| m.version == version))
    }

    /// Whether `prefix/elem` is a directory: on the tree side when some module
    /// path is below it, on the download side when it is a module path too.
    ///
    /// Answered from a loaded directory when there is one, else by asking the
    /// store about this one path: listing the whole directory for one lookup
    /// costs a seek per child (some 1,000 under `github.com` in Debian's Go
    /// packages: 3 ms on a cold mount), probing costs a few.
    fn child_exists(&self, ns: &Namespace, prefix: &str, elem: &str, tree: bool) -> Result<bool> {
        if let Some(d) = ns.cached_dir(prefix) {
            return Ok(d.child(elem).is_some_and(|c| c.has_below || (!tree && c.is_module)));
        }
        let path = join(prefix, elem);
        if let Some(d) = ns.cached_dir(&path) {
            return Ok(!d.children.is_empty() || (!tree && !d.versions.is_empty()));
        }
        self.content.with_store(|st| {
            Ok(st.live_below(&format!("{path}/"))? || (!tree && !st.module_versions(&path)?.is_empty()))
        })
    }

    /// What `name` below the path directory `prefix` is, if the store has it.
    fn resolve(
        &self,
        ns: &Namespace,
        kind: Kind,
        prefix: &str,
        name: &str,
    ) -> Result<Option<(Kind, Option<Arc<str>>)>> {
        let c = &self.content;
        Ok(match kind {
            Kind::TreeDir => match name.split_once('@') {
                Some((elem, v)) => {
                    let (Some(e), Some(v)) = (unescape_elem(elem), crate::gomod::path::unescape(v)) else {
                        return Ok(None);
                    };
                    let d = self.path_dir(ns, &join(prefix, &e))?;
                    self.version_slot(&d, &v)
                        .filter(|&s| c.modules.get(s as usize).is_some_and(|m| m.zip.is_some()))
                        .map(|s| (Kind::ModuleRoot(s), None))
                }
                None => {
                    let Some(e) = unescape_elem(name) else { return Ok(None) };
                    let path = join(prefix, &e);
                    self.child_exists(ns, prefix, &e, true)?.then(|| (Kind::TreeDir, Some(path.into())))
                }
            },
            Kind::DlDir if name == "@v" => (!prefix.is_empty() && !self.path_dir(ns, prefix)?.versions.is_empty())
                .then(|| (Kind::AtV, Some(prefix.into()))),
            Kind::DlDir => {
                let Some(e) = unescape_elem(name) else { return Ok(None) };
                let path = join(prefix, &e);
                self.child_exists(ns, prefix, &e, false)?.then(|| (Kind::DlDir, Some(path.into())))
            }
            Kind::AtV => {
                let d = self.path_dir(ns, prefix)?;
                if d.versions.is_empty() {
                    return Ok(None);
                }
                if name == "list" {
                    return Ok(Some((Kind::List, None)));
                }
                let Some((v, ext)) = name.rsplit_once('.') else { return Ok(None) };
                let Some(slot) = crate::gomod::path::unescape(v).and_then(|v| self.version_slot(&d, &v)) else {
                    return Ok(None);
                };
                let Some(m) = c.modules.get(slot as usize) else { return Ok(None) };
                match ext {
                    "mod" => Some((Kind::Mod(slot), None)),
                    "info" if m.info.is_some() => Some((Kind::Info(slot), None)),
                    "zip" if m.zip.is_some() => Some((Kind::Zip(slot), None)),
                    "ziphash" if m.zip.is_some() => Some((Kind::ZipHash(slot), None)),
                    _ => None,
                }
            }
            _ => None,
        })
    }

    /// The child `name` of directory `parent`, making its node if the store has it.
    pub(super) fn find_child(&self, parent: u64, name: &str) -> Result<Option<u64>> {
        let found = {
            let ns = self.ns.read().map_err(|_| lock_err())?;
            if let Some(c) = ns.child(parent, name) {
                return Ok(Some(c));
            }
            let (Some(kind), Some(prefix)) = (ns.kind(parent), ns.dir_path(parent)) else { return Ok(None) };
            if !kind.is_path_dir() {
                return Ok(None);
            }
            self.resolve(&ns, kind, &prefix, name)?
        };
        let Some((kind, path)) = found else { return Ok(None) };
        Ok(self.ns.write().map_err(|_| lock_err())?.intern(parent, name, kind, path))
    }

    /// The entries of a path directory: (inode, is_dir, name), sorted by name.
    pub(super) fn path_dir_children(&self, ns: &Namespace, dir: u64, kind: Kind) -> Result<Vec<(u64, bool, String)>> {
        let mut names: Vec<(String, bool)> =
            ns.children(dir).unwrap_or_default().into_iter().map(|(_, d, n)| (n, d)).collect();
        let Some(prefix) = ns.dir_path(dir) else { return Ok(Vec::new()) };
        let d = self.path_dir(ns, &prefix)?;
        let c = &self.content;
        match kind {
            Kind::TreeDir => {
                for ch in &d.children {
                    let Some(esc) = crate::gomod::path::escape(&ch.elem) else { continue };
                    if ch.is_module {
                        let sub = self.path_dir(ns, &join(&prefix, &ch.elem))?;
                        for m in sub.versions.iter().filter_map(|&s| c.modules.get(s as usize)) {
                            if let (Some(_), Some(ev)) = (&m.zip, crate::gomod::path::escape(&m.version)) {
                                names.push((format!("{esc}@{ev}"), true));
                            }
                        }
                    }
                    if ch.has_below {
                        names.push((esc, true));
                    }
                }
            }
            Kind::DlDir => {
                names
                    .extend(d.children.iter().filter_map(|ch| crate::gomod::path::escape(&ch.elem)).map(|e| (e, true)));
                if !prefix.is_empty() && !d.versions.is_empty() {
                    names.push(("@v".into(), true));
                }
            }
            Kind::AtV => {
                if !d.versions.is_empty() {
                    names.push(("list".into(), false));
                }
                for m in d.versions.iter().filter_map(|&s| c.modules.get(s as usize)) {
                    let Some(ev) = crate::gomod::path::escape(&m.version) else { continue };
                    names.push((format!("{ev}.mod"), false));
                    if m.info.is_some() {
                        names.push((format!("{ev}.info"), false));
                    }
                    if m.zip.is_some() {
                        names.push((format!("{ev}.zip"), false));
                        names.push((format!("{ev}.ziphash"), false));
                    }
                }
            }
            _ => {}
        }
        names.sort();
        names.dedup_by(|a, b| a.0 == b.0);
        Ok(names.into_iter().filter_map(|(n, is_dir)| Some((ns.child_ino(dir, &n)?, is_dir, n))).collect())
    }

    /// The content slot of module `path@version`, if the store has it (for
    /// frontends that name modules directly: `serve`).
    pub(crate) fn module_slot(&self, path: &str, version: &str) -> Result<Option<u32>> {
        let ns = self.ns.read().map_err(|_| lock_err())?;
        let d = self.path_dir(&ns, path)?;
        Ok(self.version_slot(&d, version))
    }

    /// `@v/list`: the versions of the module path of the list's directory, in
    /// semver order, one a line.
    pub(super) fn list_bytes(&self, ns: &Namespace, list: u64) -> Result<Vec<u8>> {
        let Some(prefix) = ns.parent(list).and_then(|p| ns.dir_path(p)) else { return Ok(Vec::new()) };
        let d = self.path_dir(ns, &prefix)?;
        Ok(self.versions_text(&d))
    }

    /// As `list_bytes`, only from a directory already loaded.
    pub(super) fn list_bytes_cached(&self, ns: &Namespace, list: u64) -> Option<Vec<u8>> {
        let prefix = ns.parent(list).and_then(|p| ns.dir_path(p))?;
        let d = ns.cached_dir(&prefix)?;
        Some(self.versions_text(&d))
    }

    fn versions_text(&self, d: &PathDir) -> Vec<u8> {
        let mut out = String::new();
        for m in d.versions.iter().filter_map(|&s| self.content.modules.get(s as usize)) {
            out.push_str(&m.version);
            out.push('\n');
        }
        out.into_bytes()
    }
}
