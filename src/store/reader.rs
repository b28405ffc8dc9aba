//! Reading one state: lookups consult the segments newest first; for each module
//! version the newest row or tombstone decides. Every lookup is an index probe
//! per segment, never a scan of the store.

use super::{module_from_row, Module, Store, Sum, SumKind, MODULE_COLS};
use crate::error::Result;
use crate::zip::Entry;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One name below a directory of module paths (see [`Store::path_children`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChild {
    pub elem: String,
    pub is_module: bool,
    pub has_below: bool,
}

/// What changed between two states: (path, version) pairs. `added` also holds
/// versions whose row changed (completed with a zip or .info, or re-imported
/// under a new id after a removal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
}

fn is_removed(c: &Connection, path: &str, version: &str) -> Result<bool> {
    let mut st = c.prepare_cached("SELECT 1 FROM removed WHERE path = ?1 AND version = ?2")?;
    Ok(st.exists(params![path, version])?)
}

fn row(c: &Connection, path: &str, version: &str) -> Result<Option<Module>> {
    let mut st = c.prepare_cached(&format!("SELECT {MODULE_COLS} FROM modules WHERE path = ?1 AND version = ?2"))?;
    Ok(st.query_row(params![path, version], module_from_row).optional()?)
}

/// The first path in `(lo, hi)` (`lo` inclusive when `incl`), in byte order.
fn next_path(c: &Connection, lo: &str, incl: bool, hi: &str) -> Result<Option<String>> {
    let sql = if incl {
        "SELECT path FROM modules WHERE path >= ?1 AND path < ?2 ORDER BY path LIMIT 1"
    } else {
        "SELECT path FROM modules WHERE path > ?1 AND path < ?2 ORDER BY path LIMIT 1"
    };
    let mut st = c.prepare_cached(sql)?;
    Ok(st.query_row(params![lo, hi], |r| r.get(0)).optional()?)
}

/// `s` with its last byte incremented: the first string after every string that
/// starts with `s` (for a prefix ending in '/', that is the same prefix with '0').
fn after_prefix(s: &str) -> String {
    // Only called with prefixes ending in '/': '/' + 1 = '0'.
    debug_assert!(s.ends_with('/'));
    format!("{}0", &s[..s.len() - 1])
}

impl Store {
    /// The segment index and row of `path@version`, if a live one exists.
    pub(crate) fn locate(&self, path: &str, version: &str) -> Result<Option<(usize, Module)>> {
        for (i, s) in self.segs.iter().enumerate() {
            if s.has_removed && is_removed(&s.conn, path, version)? {
                return Ok(None);
            }
            if let Some(m) = row(&s.conn, path, version)? {
                return Ok(Some((i, m)));
            }
        }
        Ok(None)
    }

    /// One module version (path and version unescaped, as stored).
    pub fn find_module(&self, path: &str, version: &str) -> Result<Option<Module>> {
        Ok(self.locate(path, version)?.map(|(_, m)| m))
    }

    /// Every version of one module path, in no particular order.
    pub fn module_versions(&self, path: &str) -> Result<Vec<Module>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for s in &self.segs {
            if s.has_removed {
                let mut st = s.conn.prepare_cached("SELECT version FROM removed WHERE path = ?1")?;
                for v in st.query_map([path], |r| r.get::<_, String>(0))? {
                    seen.insert(v?);
                }
            }
            let mut st = s.conn.prepare_cached(&format!("SELECT {MODULE_COLS} FROM modules WHERE path = ?1"))?;
            for m in st.query_map([path], module_from_row)? {
                let m = m?;
                if seen.insert(m.version.clone()) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// The segment holding the newest row with this id.
    pub(super) fn segment_of_id(&self, id: i64) -> Result<Option<(usize, Module)>> {
        for (i, s) in self.segs.iter().enumerate() {
            let mut st = s.conn.prepare_cached(&format!("SELECT {MODULE_COLS} FROM modules WHERE id = ?1"))?;
            if let Some(m) = st.query_row([id], module_from_row).optional()? {
                return Ok(Some((i, m)));
            }
        }
        Ok(None)
    }

    /// The module whose `Module::id` this is, if it is live in this state.
    pub fn module_by_id(&self, id: i64) -> Result<Option<Module>> {
        let Some((_, m)) = self.segment_of_id(id)? else { return Ok(None) };
        // A newer tombstone, or a newer row under another id, hides it.
        Ok(self.locate(&m.path, &m.version)?.map(|(_, w)| w).filter(|w| w.id == id))
    }

    /// The zip entries of one module, sorted by name.
    pub fn entries(&self, module_id: i64) -> Result<Vec<Entry>> {
        self.entries_at_most(module_id, i64::MAX as u64)
    }

    /// The first `limit` zip entries of one module, sorted by name: a reader that
    /// knows how many there should be asks for one more and never reads (or holds)
    /// more than that, however many rows a hostile index has. A row's entries are
    /// always in the segment of the row.
    pub(crate) fn entries_at_most(&self, module_id: i64, limit: u64) -> Result<Vec<Entry>> {
        let Some((i, _)) = self.segment_of_id(module_id)? else { return Ok(Vec::new()) };
        read_entries(&self.segs[i].conn, module_id, limit)
    }

    /// All live modules, ordered by path then version (byte order, as SQLite's
    /// BINARY). O(store): only `verify`, `ls`, `gc` and tests call it.
    pub fn modules(&self) -> Result<Vec<Module>> {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut modules = Vec::new();
        let single = self.segs.len() == 1 && !self.segs[0].has_removed;
        for s in &self.segs {
            if s.has_removed {
                let mut st = s.conn.prepare("SELECT path, version FROM removed")?;
                for k in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
                    seen.insert(k?);
                }
            }
            // Read in table order and sort here: walking the (path, version) index
            // would visit the table's pages out of order (one random read per page on
            // a cold page cache instead of one sequential pass).
            let mut st = s.conn.prepare(&format!("SELECT {MODULE_COLS} FROM modules"))?;
            for m in st.query_map([], module_from_row)? {
                let m = m?;
                if single || seen.insert((m.path.clone(), m.version.clone())) {
                    modules.push(m);
                }
            }
        }
        modules
            .sort_unstable_by(|a, b| (a.path.as_str(), a.version.as_str()).cmp(&(b.path.as_str(), b.version.as_str())));
        Ok(modules)
    }

    /// All trusted sums (the union over segments: sums are only ever added).
    pub fn sums(&self) -> Result<Vec<Sum>> {
        let mut all = BTreeSet::new();
        for s in &self.segs {
            let mut st = s.conn.prepare("SELECT path, version, kind, h1, source FROM sums")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
            })?;
            for r in rows {
                all.insert(r?);
            }
        }
        Ok(all
            .into_iter()
            .map(|(path, version, kind, h1, source): (String, String, String, String, String)| Sum {
                path,
                version,
                kind: if kind == "zip" { SumKind::Zip } else { SumKind::Mod },
                h1,
                source,
            })
            .collect())
    }

    /// (h1, source) of the trusted sums for one module version and kind.
    pub(crate) fn sums_for(&self, path: &str, version: &str, kind: SumKind) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        for s in self.segs.iter().rev() {
            let mut st =
                s.conn.prepare_cached("SELECT h1, source FROM sums WHERE path = ?1 AND version = ?2 AND kind = ?3")?;
            for r in st.query_map(params![path, version, kind.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))? {
                let r = r?;
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// The directory `prefix` of module paths ("" for the top, else without a
    /// trailing slash): every distinct next path element below it, sorted. A skip
    /// scan: at most two index probes per child and segment.
    pub fn path_children(&self, prefix: &str) -> Result<Vec<PathChild>> {
        let base = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        // Paths below `base` sort before `hi` (for the top, every path does).
        let hi = if base.is_empty() { "\u{10FFFF}".repeat(2) } else { after_prefix(&base) };
        let mut found: BTreeMap<String, (bool, bool)> = BTreeMap::new();
        for s in &self.segs {
            let mut next = next_path(&s.conn, &base, true, &hi)?;
            while let Some(p) = next {
                let rest = &p[base.len()..];
                let elem = rest.split('/').next().unwrap_or_default().to_string();
                let child = format!("{base}{elem}");
                let e = found.entry(elem.clone()).or_default();
                if rest.len() == elem.len() {
                    e.0 = true;
                    // Anything below it comes next, if there is anything.
                    next = next_path(&s.conn, &child, false, &hi)?;
                    if next.as_deref().is_some_and(|q| q.starts_with(&format!("{child}/"))) {
                        e.1 = true;
                        next = next_path(&s.conn, &after_prefix(&format!("{child}/")), true, &hi)?;
                    }
                } else {
                    e.1 = true;
                    next = next_path(&s.conn, &after_prefix(&format!("{child}/")), true, &hi)?;
                }
            }
        }
        if self.segs.iter().any(|s| s.has_removed) {
            // Tombstones may hide every version a name stood for: check each name.
            let mut kept = BTreeMap::new();
            for (elem, (m, b)) in found {
                let child = format!("{base}{elem}");
                let is_module = m && !self.module_versions(&child)?.is_empty();
                let has_below = b && self.live_below(&format!("{child}/"))?;
                if is_module || has_below {
                    kept.insert(elem, (is_module, has_below));
                }
            }
            found = kept;
        }
        Ok(found.into_iter().map(|(elem, (is_module, has_below))| PathChild { elem, is_module, has_below }).collect())
    }

    /// Whether a live module path starts with `base` (ends in '/'), in a few index
    /// seeks however many paths there are below it. Walks distinct
    /// paths in order and stops at the first live one: only removed paths are
    /// skipped, and compaction drops those.
    pub(crate) fn live_below(&self, base: &str) -> Result<bool> {
        let hi = after_prefix(base);
        let mut lo = base.to_string();
        let mut incl = true;
        loop {
            let mut first: Option<String> = None;
            for s in &self.segs {
                if let Some(p) = next_path(&s.conn, &lo, incl, &hi)? {
                    if first.as_ref().is_none_or(|f| p < *f) {
                        first = Some(p);
                    }
                }
            }
            let Some(p) = first else { return Ok(false) };
            if !self.module_versions(&p)?.is_empty() {
                return Ok(true);
            }
            lo = p;
            incl = false;
        }
    }

    /// What changed from `older` (an earlier state of the same store) to `self`.
    /// Only the keys of segments `older` did not have, and whose changes are newer
    /// than it, are compared: O(changes), not O(store).
    pub fn changes_since(&self, older: &Store) -> Result<Changes> {
        let known: HashSet<String> = older.segs.iter().map(|s| s.name()).collect();
        let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
        for s in &self.segs {
            if known.contains(&s.name()) || s.gen_hi <= older.generation {
                continue;
            }
            let mut st = s.conn.prepare("SELECT path, version FROM modules UNION SELECT path, version FROM removed")?;
            for k in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
                keys.insert(k?);
            }
        }
        let mut ch = Changes::default();
        for (path, version) in keys {
            let new = self.find_module(&path, &version)?;
            let old = older.find_module(&path, &version)?;
            match (old, new) {
                (None, Some(_)) => ch.added.push((path, version)),
                (Some(_), None) => ch.removed.push((path, version)),
                (Some(o), Some(n)) if o.id != n.id => {
                    ch.removed.push((path.clone(), version.clone()));
                    ch.added.push((path, version));
                }
                (Some(o), Some(n)) if o != n => ch.added.push((path, version)),
                _ => {}
            }
        }
        Ok(ch)
    }
}

pub(crate) fn read_entries(c: &Connection, module_id: i64, limit: u64) -> Result<Vec<Entry>> {
    let mut st = c.prepare_cached(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewModule;

    fn add(st: &Store, paths: &[&str]) {
        let tx = st.transaction().unwrap();
        for p in paths {
            let m = NewModule {
                path: p,
                version: "v1.0.0",
                mod_blob: "ab",
                mod_h1: "h1:x",
                mod_h1_origin: "computed",
                info: None,
                zip: None,
                digests: None,
            };
            tx.upsert_module(&m).unwrap();
        }
        tx.commit().unwrap();
    }

    fn children(st: &Store, prefix: &str) -> Vec<(String, bool, bool)> {
        st.path_children(prefix).unwrap().into_iter().map(|c| (c.elem, c.is_module, c.has_below)).collect()
    }

    #[test]
    fn path_children_skip_scan_and_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open_writer(dir.path(), "test", false).unwrap();
        // "b-c" sorts between "b" and "b/x" ('-' < '/'): the scan must not skip it.
        add(&st, &["a/b", "a/b-c", "a/b/x", "a/c/d", "z"]);
        st.publish().unwrap();
        let mut st = Store::open_writer(dir.path(), "test", false).unwrap();
        add(&st, &["a/b.d", "a/b/y/z"]);
        st.checkpoint().unwrap();
        let one = Store::open_ro(dir.path()).unwrap();
        let s = |e: &str, m, b| (e.to_string(), m, b);
        assert_eq!(children(&one, ""), [s("a", false, true), s("z", true, false)]);
        assert_eq!(
            children(&one, "a"),
            [s("b", true, true), s("b-c", true, false), s("b.d", true, false), s("c", false, true)]
        );
        assert_eq!(children(&one, "a/b"), [s("x", true, false), s("y", false, true)]);
        assert_eq!(one.module_count().unwrap(), 7);

        let tx = st.transaction().unwrap();
        let keys = |v: &[&str]| v.iter().map(|p| (p.to_string(), "v1.0.0".to_string())).collect::<Vec<_>>();
        assert_eq!(tx.remove(&keys(&["a/b-c", "a/c/d", "a/b/y/z", "nothing"])).unwrap(), 3);
        tx.commit().unwrap();
        let id = st.find_module("a/b", "v1.0.0").unwrap().unwrap().id;
        st.publish().unwrap();
        let two = Store::open_ro(dir.path()).unwrap();
        assert_eq!(children(&two, "a"), [s("b", true, true), s("b.d", true, false)]);
        assert_eq!(children(&two, "a/b"), [s("x", true, false)]);
        assert_eq!(two.module_count().unwrap(), 4);
        let ch = two.changes_since(&one).unwrap();
        assert_eq!(ch.removed, keys(&["a/b-c", "a/b/y/z", "a/c/d"]));
        assert!(ch.added.is_empty());

        crate::store::compact(dir.path(), false).unwrap();
        let three = Store::open_ro(dir.path()).unwrap();
        assert_eq!(three.segs.len(), 1);
        assert_eq!(three.modules().unwrap(), two.modules().unwrap());
        assert_eq!(three.module_by_id(id).unwrap().map(|m| m.path), Some("a/b".to_string()));
        assert!(three.changes_since(&two).unwrap() == Changes::default());
    }
}
