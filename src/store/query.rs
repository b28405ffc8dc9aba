//! Provisional: replaced by the segment store. The reader API of CONTRACT-17
//! (what a lazy, live mount asks of the store), implemented over today's single
//! `index.db` so that the mount side can be built and tested before the new store
//! format lands. Only the contract's signatures are public here, plus
//! [`Store::sums_for`], which the lazy mount needs too (the contract lets the
//! store add it): the trusted sums of one module, not of the whole store.
//!
//! Limits of this provisional version, which the segment store does not have:
//! - A `Store` does not pin a state: its queries read whatever is committed now.
//!   Only [`Store::generation`] and the bounds [`Store::changes_since`] uses are
//!   taken at open.
//! - The generation is the index files' modification times and sizes: it changes
//!   with every commit but is not strictly monotone (a clock set back), so callers
//!   compare generations for inequality.
//! - `changes_since` sees rows added since the older state (by row id), not rows
//!   removed or completed in place (today's store has no `rm`).

use super::{module_from_row, Module, Store, Sum, SumKind, INDEX, MODULE_COLS};
use crate::error::{Error, Result};
use rusqlite::{params, OptionalExtension};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What an open `Store` remembers of the state it opened (see the header).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pin {
    generation: u64,
    max_id: i64,
}

impl Pin {
    /// Taken right after the connection opened: the generation first, so that a
    /// commit landing meanwhile makes the next poll differ.
    pub(crate) fn read(conn: &rusqlite::Connection, dir: &Path) -> Result<Pin> {
        let generation = Store::current_generation(dir)?;
        let max_id: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM modules", [], |r| r.get(0))?;
        Ok(Pin { generation, max_id })
    }
}

/// One element of a directory of module paths (see [`Store::path_children`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChild {
    pub elem: String,
    pub is_module: bool,
    pub has_below: bool,
}

/// What changed between two states of a store: (path, version) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
}

impl Store {
    /// The generation this Store reads; every committed change makes another one.
    pub fn generation(&self) -> u64 {
        self.pin.generation
    }

    /// Cheap (two stats, no SQLite): the generation on disk now.
    pub fn current_generation(dir: &Path) -> Result<u64> {
        let index = dir.join(INDEX);
        let main = std::fs::metadata(&index).map_err(|e| Error::io(&index, e))?;
        let wal = std::fs::metadata(dir.join(format!("{INDEX}-wal"))).ok();
        let stamp = |m: &std::fs::Metadata| (m.mtime() as u64).wrapping_mul(1_000_000_000) + m.mtime_nsec() as u64;
        // Modification times in ns (the newer of the two files), with the sizes and
        // the inode folded into the low bits: two commits in one clock tick still
        // differ by their sizes.
        let newest = wal.as_ref().map_or(stamp(&main), |w| stamp(w).max(stamp(&main)));
        let extra = main.size() ^ main.ino().rotate_left(17) ^ wal.map_or(0, |w| w.size().rotate_left(31));
        Ok((newest & !0xffff) | (extra & 0xffff))
    }

    /// One module version (path and version unescaped, as stored).
    pub fn find_module(&self, path: &str, version: &str) -> Result<Option<Module>> {
        let sql = format!("SELECT {MODULE_COLS} FROM modules WHERE path = ?1 AND version = ?2");
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st.query_row(params![path, version], module_from_row).optional()?)
    }

    /// Every version of one module path, in no particular order.
    pub fn module_versions(&self, path: &str) -> Result<Vec<Module>> {
        let sql = format!("SELECT {MODULE_COLS} FROM modules WHERE path = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params![path], module_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The module whose `Module::id` this is.
    pub fn module_by_id(&self, id: i64) -> Result<Option<Module>> {
        let sql = format!("SELECT {MODULE_COLS} FROM modules WHERE id = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st.query_row(params![id], module_from_row).optional()?)
    }

    /// The distinct next path elements below `prefix` ("" for the top), sorted.
    /// A skip scan over the (path, version) index: a few index seeks per child,
    /// never a walk over everything below the prefix.
    pub fn path_children(&self, prefix: &str) -> Result<Vec<PathChild>> {
        let base = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        // Every path below `prefix/` sorts before `prefix0` ('0' follows '/').
        let end = if prefix.is_empty() { None } else { Some(format!("{prefix}0")) };
        let mut out = Vec::new();
        // The next path >= lo (or > lo) and < hi.
        let mut lo = (base.clone(), true);
        loop {
            let Some(p) = self.first_path(&lo.0, lo.1, end.as_deref())? else { break };
            let rest = &p[base.len()..];
            let elem = rest.split('/').next().unwrap_or("").to_string();
            // (An empty element, from `a//b` or `a/`, is listed like any other: no
            // module path has one, but the caller must hear of its rows.)
            let at = format!("{base}{elem}");
            if out.last().is_some_and(|c: &PathChild| c.elem >= elem) {
                // Back in the subtree of an element already listed (`foo/x` after
                // `foo`, `foo-bar`, `foo.y`): everything up to `foo0` is in it.
                lo = (format!("{at}0"), true);
                continue;
            }
            let is_module = rest == elem;
            let has_below = !is_module || self.first_path(&format!("{at}/"), true, Some(&format!("{at}0")))?.is_some();
            out.push(PathChild { elem, is_module, has_below });
            // Paths that start with `at` but are other elements (`at-x`, `at.y`)
            // sort before `at/`; the rest after `at0`.
            lo = match self.first_path(&at, false, Some(&format!("{at}/")))? {
                Some(_) => (at, false),
                None => (format!("{at}0"), true),
            };
            if let Some(e) = &end {
                if lo.0 >= *e {
                    break;
                }
            }
        }
        out.sort_by(|a, b| a.elem.cmp(&b.elem));
        Ok(out)
    }

    fn first_path(&self, lo: &str, inclusive: bool, hi: Option<&str>) -> Result<Option<String>> {
        let cmp = if inclusive { ">=" } else { ">" };
        let sql = match hi {
            Some(_) => format!("SELECT path FROM modules WHERE path {cmp} ?1 AND path < ?2 ORDER BY path LIMIT 1"),
            None => format!("SELECT path FROM modules WHERE path {cmp} ?1 ORDER BY path LIMIT 1"),
        };
        let mut st = self.conn.prepare_cached(&sql)?;
        let r = match hi {
            Some(h) => st.query_row(params![lo, h], |r| r.get(0)).optional()?,
            None => st.query_row(params![lo], |r| r.get(0)).optional()?,
        };
        Ok(r)
    }

    /// Number of module versions (for logs and stats).
    pub fn module_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT count(*) FROM modules", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// What changed from `older` to `self` (provisional: rows added, see the header).
    pub fn changes_since(&self, older: &Store) -> Result<Changes> {
        let mut st = self
            .conn
            .prepare_cached("SELECT path, version FROM modules WHERE id > ?1 AND id <= ?2 ORDER BY path, version")?;
        let rows = st.query_map(params![older.pin.max_id, self.pin.max_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Changes { added: rows.collect::<rusqlite::Result<_>>()?, removed: Vec::new() })
    }

    /// The trusted sums (from go.sum files) of one module version.
    pub fn sums_for(&self, path: &str, version: &str) -> Result<Vec<Sum>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT path, version, kind, h1, source FROM sums WHERE path = ?1 AND version = ?2")?;
        let rows = st.query_map(params![path, version], |r| {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::changes::tests::store_with;

    /// Elements that share a prefix with a sibling (`foo`, `foo-bar`, `foo.y`,
    /// `foo0`) are each listed once, in byte order, with the right flags.
    #[test]
    fn path_children_skip_scan() {
        let tmp = tempfile::tempdir().unwrap();
        let mods = [
            ("example.com/foo", "v1.0.0"),
            ("example.com/foo", "v1.1.0"),
            ("example.com/foo-bar", "v1.0.0"),
            ("example.com/foo/x", "v1.0.0"),
            ("example.com/foo.y/z", "v1.0.0"),
            ("example.com/foo0", "v1.0.0"),
            ("example.org/a", "v1.0.0"),
            ("example.org//b", "v1.0.0"),
            ("example.org/", "v1.0.0"),
        ];
        store_with(tmp.path(), &mods);
        let st = Store::open_ro(tmp.path()).unwrap();
        let flags = |p: &str| -> Vec<(String, bool, bool)> {
            st.path_children(p).unwrap().into_iter().map(|c| (c.elem, c.is_module, c.has_below)).collect()
        };
        let t = |e: &str, m, b| (e.to_string(), m, b);
        assert_eq!(flags(""), vec![t("example.com", false, true), t("example.org", false, true)]);
        assert_eq!(
            flags("example.com"),
            vec![t("foo", true, true), t("foo-bar", true, false), t("foo.y", false, true), t("foo0", true, false)]
        );
        assert_eq!(flags("example.com/foo"), vec![t("x", true, false)]);
        assert_eq!(flags("example.com/foo/x"), vec![]);
        assert_eq!(st.module_versions("example.com/foo").unwrap().len(), 2);
        assert!(st.find_module("example.com/foo0", "v1.0.0").unwrap().is_some());
        assert_eq!(flags("example.org"), vec![t("", true, true), t("a", true, false)]);
        assert_eq!(flags("example.org/"), vec![t("b", true, false)]);
        assert_eq!(st.module_count().unwrap(), 9);
    }

    /// Rows added after an older state are its changes; the generation moves.
    #[test]
    fn changes_since_an_older_state() {
        let tmp = tempfile::tempdir().unwrap();
        store_with(tmp.path(), &[("example.com/a", "v1.0.0")]);
        let old = Store::open_ro(tmp.path()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        store_with(tmp.path(), &[("example.com/b", "v1.0.0"), ("example.com/a", "v1.1.0")]);
        assert_ne!(Store::current_generation(tmp.path()).unwrap(), old.generation());
        let new = Store::open_ro(tmp.path()).unwrap();
        let c = new.changes_since(&old).unwrap();
        let pair = |p: &str, v: &str| (p.to_string(), v.to_string());
        assert_eq!(c.added, vec![pair("example.com/a", "v1.1.0"), pair("example.com/b", "v1.0.0")]);
        assert!(new.changes_since(&new).unwrap().added.is_empty());
    }
}
