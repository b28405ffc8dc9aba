//! Writing: everything a writer records goes into its own new segment (the
//! first of `Store::segs`). A change to a module of an older segment is a copy
//! of its row (same id) and entries into the new one, which then hides the old
//! row: nothing published is ever modified.

use super::manifest::WriteLock;
use super::segments::Segment;
use super::{reader, Module, Store, Sum, SumKind, ZipInfo};
use crate::error::{Error, Result};
use crate::zip::Entry;
use rusqlite::{params, Connection};
use std::cell::Cell;

/// What a writer holds besides its segment.
pub(crate) struct Writer {
    _lock: WriteLock,
    next_id: Cell<i64>,
    /// Live module versions added minus removed since the last checkpoint.
    delta: Cell<i64>,
    /// The first generation this writer publishes.
    first_generation: u64,
}

impl Writer {
    pub fn new(lock: WriteLock, next_id: i64, first_generation: u64) -> Writer {
        Writer { _lock: lock, next_id: Cell::new(next_id), delta: Cell::new(0), first_generation }
    }

    pub(crate) fn first_generation(&self) -> u64 {
        self.first_generation
    }

    pub(crate) fn reset_delta(&self) {
        self.delta.set(0);
    }

    pub(crate) fn next_id(&self) -> i64 {
        self.next_id.get()
    }

    pub(crate) fn count_delta(&self) -> i64 {
        self.delta.get()
    }
}

/// A write transaction: everything in it becomes part of the writer's segment
/// together or not at all (and visible to readers only when published).
pub(crate) struct Tx<'a> {
    pub(super) tx: rusqlite::Transaction<'a>,
    store: &'a Store,
}

/// A module version to insert or complete.
pub(crate) struct NewModule<'a> {
    pub path: &'a str,
    pub version: &'a str,
    pub mod_blob: &'a str,
    pub(crate) mod_h1: &'a str,
    pub(crate) mod_h1_origin: &'a str,
    pub(crate) info: Option<&'a [u8]>,
    pub zip: Option<(ZipInfo, &'a [Entry])>,
    /// The sha256 of the zip's files (see [`super::ZipDigests`]), written with the zip.
    pub(crate) digests: Option<&'a super::ZipDigests>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    Added,
    /// An existing row gained what it lacked (a zip, an .info).
    Completed,
    Unchanged,
}

impl Store {
    fn writer(&self) -> Result<&Writer> {
        self.writer.as_ref().ok_or_else(|| Error::Invalid("this store was opened read-only".into()))
    }

    /// Starts a write transaction. Writers run it from one thread, so the
    /// unchecked form (no `&mut`) is safe and lets blob writes and index writes
    /// interleave.
    pub(crate) fn transaction(&self) -> Result<Tx<'_>> {
        self.writer()?;
        Ok(Tx { tx: self.segs[0].conn.unchecked_transaction()?, store: self })
    }
}

const INSERT_MODULE: &str = "INSERT INTO modules (id, path, version, mod_blob, mod_h1, mod_h1_origin, info, \
     zip_blob, zip_h1, zip_h1_origin, zip_size, file_count, tree_size) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

impl Tx<'_> {
    /// Inserts a module, or completes an existing one with a zip or .info it did not
    /// have. Content that contradicts what is stored is an error, never an overwrite.
    pub(crate) fn upsert_module(&self, m: &NewModule<'_>) -> Result<Upsert> {
        let Some((seg, old)) = self.store.locate(m.path, m.version)? else {
            let w = self.store.writer()?;
            let id = w.next_id.get();
            let row = Module {
                id,
                path: m.path.into(),
                version: m.version.into(),
                mod_blob: m.mod_blob.into(),
                mod_h1: m.mod_h1.into(),
                mod_h1_origin: m.mod_h1_origin.into(),
                info: m.info.map(<[u8]>::to_vec),
                info_size: m.info.map_or(0, |i| i.len() as u64),
                zip: m.zip.as_ref().map(|(z, _)| z.clone()),
            };
            self.insert_row(&row, m.zip.as_ref().map(|(_, e)| *e).unwrap_or(&[]))?;
            if let (Some(d), Some(_)) = (m.digests, &m.zip) {
                self.set_digests(id, d)?;
            }
            w.next_id.set(id + 1);
            w.delta.set(w.delta.get() + 1);
            return Ok(Upsert::Added);
        };
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
        let mut new = old.clone();
        if old.info.is_none() && m.info.is_some() {
            new.info = m.info.map(<[u8]>::to_vec);
            new.info_size = new.info.as_ref().map_or(0, |i| i.len() as u64);
        }
        let mut entries = None;
        if old.zip.is_none() {
            if let Some((zi, e)) = &m.zip {
                new.zip = Some(zi.clone());
                entries = Some(*e);
            }
        }
        // A module imported before the store had digests gains them when imported
        // again (its zip's h1 was checked equal above).
        let digests = m.digests.filter(|_| m.zip.is_some() && new.zip.is_some());
        let gains_digests = match digests {
            Some(_) => entries.is_some() || super::digests::row(&self.store.segs[seg].conn, old.id)?.is_none(),
            None => false,
        };
        if new == old && !gains_digests {
            return Ok(Upsert::Unchanged);
        }
        self.rewrite(seg, &old, &new, entries)?;
        if let Some(d) = digests {
            self.set_digests(new.id, d)?;
        }
        Ok(Upsert::Completed)
    }

    fn insert_row(&self, m: &Module, entries: &[Entry]) -> Result<()> {
        let z = m.zip.as_ref();
        self.tx.execute(
            INSERT_MODULE,
            params![
                m.id,
                m.path,
                m.version,
                m.mod_blob,
                m.mod_h1,
                m.mod_h1_origin,
                m.info,
                z.map(|z| &z.blob),
                z.map(|z| &z.h1),
                z.map(|z| &z.h1_origin),
                z.map(|z| z.size as i64),
                z.map(|z| z.file_count as i64),
                z.map(|z| z.tree_size as i64)
            ],
        )?;
        self.insert_entries(m.id, entries)
    }

    /// Records `new` (the same module as `old`, found in segment `seg`) in the
    /// writer's segment: in place when `old` is already there, else as a copy with
    /// its entries (`entries` when it gains a zip now).
    fn rewrite(&self, seg: usize, old: &Module, new: &Module, entries: Option<&[Entry]>) -> Result<()> {
        if seg == 0 {
            self.tx.execute("DELETE FROM modules WHERE id = ?1", [old.id])?;
            self.insert_row(new, &[])?;
            // Its entries (same id) stay; a zip gained now brings its own.
            if let Some(e) = entries {
                self.insert_entries(new.id, e)?;
            }
            return Ok(());
        }
        if entries.is_none() {
            // The copy keeps the digests the older row had (a zip gained now brings its own).
            super::digests::copy_row(&self.store.segs[seg].conn, &self.tx, old.id)?;
        }
        let copied;
        let list = match entries {
            Some(e) => e,
            None => {
                copied = match &old.zip {
                    Some(z) => reader::read_entries(&self.store.segs[seg].conn, old.id, z.file_count + 1)?,
                    None => Vec::new(),
                };
                &copied
            }
        };
        self.insert_row(new, list)
    }

    fn insert_entries(&self, id: i64, entries: &[Entry]) -> Result<()> {
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
    pub(crate) fn add_sum(&self, s: &Sum) -> Result<bool> {
        if self.sums_for(&s.path, &s.version, s.kind)?.iter().any(|(h, src)| *h == s.h1 && *src == s.source) {
            return Ok(false);
        }
        let n = self.tx.execute(
            "INSERT OR IGNORE INTO sums (path, version, kind, h1, source) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.path, s.version, s.kind.as_str(), s.h1, s.source],
        )?;
        Ok(n > 0)
    }

    /// Marks a stored hash as confirmed by a go.sum (only the first confirmation is kept).
    pub(crate) fn confirm_origin(&self, path: &str, version: &str, kind: SumKind, origin: &str) -> Result<()> {
        self.set_origin(path, version, kind, origin, |cur, _| cur == "computed")
    }

    /// Marks a stored hash as confirmed by checksum database `db`, when it is that
    /// hash (a database's signed record is stronger than a go.sum or a .ziphash;
    /// the first database to confirm a hash stays its origin).
    pub(crate) fn confirm_origin_db(&self, path: &str, version: &str, kind: SumKind, h1: &str, db: &str) -> Result<()> {
        self.set_origin(path, version, kind, &format!("sumdb {db}"), |cur, have| {
            have == h1 && !cur.starts_with("sumdb ")
        })
    }

    /// Sets the origin of a module's `kind` hash when `when(current origin, hash)`.
    fn set_origin(
        &self,
        path: &str,
        version: &str,
        kind: SumKind,
        origin: &str,
        when: impl Fn(&str, &str) -> bool,
    ) -> Result<()> {
        let Some((seg, old)) = self.store.locate(path, version)? else { return Ok(()) };
        let mut new = old.clone();
        match kind {
            SumKind::Mod if when(&old.mod_h1_origin, &old.mod_h1) => new.mod_h1_origin = origin.into(),
            SumKind::Zip => match new.zip.as_mut() {
                Some(z) if when(&z.h1_origin, &z.h1) => z.h1_origin = origin.into(),
                _ => return Ok(()),
            },
            _ => return Ok(()),
        }
        self.rewrite(seg, &old, &new, None)
    }

    pub(crate) fn module(&self, path: &str, version: &str) -> Result<Option<Module>> {
        self.store.find_module(path, version)
    }

    /// (h1, source) of the trusted sums for one module version and kind.
    pub(crate) fn sums_for(&self, path: &str, version: &str, kind: SumKind) -> Result<Vec<(String, String)>> {
        self.store.sums_for(path, version, kind)
    }

    /// Removes module versions (tombstones hiding every older row). Returns those
    /// that were live.
    pub(crate) fn remove(&self, keys: &[(String, String)]) -> Result<usize> {
        let now = super::manifest::now_secs() as i64;
        let w = self.store.writer()?;
        let mut n = 0;
        for (path, version) in keys {
            let Some((seg, m)) = self.store.locate(path, version)? else { continue };
            if seg == 0 {
                self.tx.execute("DELETE FROM entries WHERE module_id = ?1", [m.id])?;
                self.tx.execute("DELETE FROM digests WHERE module_id = ?1", [m.id])?;
                self.tx.execute("DELETE FROM modules WHERE id = ?1", [m.id])?;
            }
            self.tx.execute(
                "INSERT OR REPLACE INTO removed (path, version, removed_at) VALUES (?1, ?2, ?3)",
                params![path, version, now],
            )?;
            n += 1;
        }
        w.delta.set(w.delta.get() - n as i64);
        Ok(n)
    }

    /// Starts a nested unit inside the transaction (see `release`, `rollback_to`).
    pub(crate) fn savepoint(&self) -> Result<()> {
        Ok(self.tx.execute_batch("SAVEPOINT module")?)
    }

    /// Keeps what was written since `savepoint`.
    pub(crate) fn release(&self) -> Result<()> {
        Ok(self.tx.execute_batch("RELEASE module")?)
    }

    /// Undoes everything written since `savepoint` (the transaction goes on).
    pub(crate) fn rollback_to(&self) -> Result<()> {
        Ok(self.tx.execute_batch("ROLLBACK TO module; RELEASE module")?)
    }

    pub(crate) fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }

    /// The transaction's connection, for subjects that keep their own tables.
    pub(crate) fn conn(&self) -> &Connection {
        &self.tx
    }
}

/// Drops from the writer's segment what older segments hold already (sums and
/// checksum-database rows written again by a re-import), so that a no-op import
/// publishes nothing.
pub(crate) fn prune(out: &Connection, older: &[Segment]) -> Result<()> {
    for s in older {
        out.execute("ATTACH ?1 AS s", [super::segments::uri(&s.path, true)])?;
        let has_sumdb: bool =
            out.query_row("SELECT EXISTS (SELECT 1 FROM s.sqlite_schema WHERE name = 'sumdb_tiles')", [], |r| {
                r.get(0)
            })?;
        let mut sql = String::from(
            "BEGIN;
             DELETE FROM main.sums WHERE EXISTS (SELECT 1 FROM s.sums o WHERE o.path = sums.path \
               AND o.version = sums.version AND o.kind = sums.kind AND o.h1 = sums.h1 AND o.source = sums.source);",
        );
        if has_sumdb {
            sql.push_str(
                "DELETE FROM main.sumdb_keys WHERE EXISTS (SELECT 1 FROM s.sumdb_keys o WHERE o.db = sumdb_keys.db AND o.vkey = sumdb_keys.vkey);
                 DELETE FROM main.sumdb_trees WHERE EXISTS (SELECT 1 FROM s.sumdb_trees o WHERE o.db = sumdb_trees.db AND o.size = sumdb_trees.size AND o.note = sumdb_trees.note);
                 DELETE FROM main.sumdb_records WHERE EXISTS (SELECT 1 FROM s.sumdb_records o WHERE o.db = sumdb_records.db AND o.path = sumdb_records.path AND o.version = sumdb_records.version AND o.text = sumdb_records.text);
                 DELETE FROM main.sumdb_tiles WHERE EXISTS (SELECT 1 FROM s.sumdb_tiles o WHERE o.db = sumdb_tiles.db AND o.level = sumdb_tiles.level AND o.n = sumdb_tiles.n AND length(o.data) >= length(sumdb_tiles.data));",
            );
        }
        sql.push_str("COMMIT; DETACH s;");
        out.execute_batch(&sql)?;
    }
    Ok(())
}

/// Whether the writer's segment holds nothing at all.
pub(crate) fn is_empty(c: &Connection) -> Result<bool> {
    let n: i64 = c.query_row(
        "SELECT (SELECT count(*) FROM modules) + (SELECT count(*) FROM removed) + (SELECT count(*) FROM sums) \
         + (SELECT count(*) FROM sumdb_keys) + (SELECT count(*) FROM sumdb_trees) \
         + (SELECT count(*) FROM sumdb_records) + (SELECT count(*) FROM sumdb_tiles)",
        [],
        |r| r.get(0),
    )?;
    Ok(n == 0)
}
