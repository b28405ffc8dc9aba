//! The checksum-database tables of the store index (schema.sql, `sumdb_*`).
//! A store made before schema 2 has none of them: readers see no database.
//! Each index segment holds what one writer added; readers take the union.

use super::tlog::{self, Tile};
use super::verify::{Record, Verified};
use crate::error::Result;
use crate::store::Store;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet};

fn has_tables(c: &Connection) -> Result<bool> {
    Ok(c.query_row("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sumdb_trees'", [], |_| Ok(()))
        .optional()?
        .is_some())
}

/// (database, verifier key) pairs the store verified with.
pub(crate) fn keys(store: &Store) -> Result<Vec<(String, String)>> {
    let mut all = BTreeSet::new();
    for c in store.conns() {
        if !has_tables(c)? {
            continue;
        }
        let mut st = c.prepare("SELECT db, vkey FROM sumdb_keys")?;
        for r in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
            all.insert(r?);
        }
    }
    Ok(all.into_iter().collect())
}

/// Everything stored for one database.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub(crate) notes: Vec<Vec<u8>>,
    pub(crate) records: Vec<Record>,
    pub(crate) tiles: Vec<(Tile, Vec<u8>)>,
}

/// Names of the databases the store holds trees of.
pub(crate) fn databases(store: &Store) -> Result<Vec<String>> {
    let mut all = BTreeSet::new();
    for c in store.conns() {
        if !has_tables(c)? {
            continue;
        }
        let mut st = c.prepare("SELECT DISTINCT db FROM sumdb_trees")?;
        for r in st.query_map([], |r| r.get(0))? {
            all.insert(r?);
        }
    }
    Ok(all.into_iter().collect())
}

/// Everything stored for one database, over all segments: notes and records
/// once each (the newest segment's record of a module version), the widest of
/// each tile.
pub(crate) fn load(store: &Store, db: &str) -> Result<Stored> {
    let mut notes: BTreeMap<(i64, Vec<u8>), ()> = BTreeMap::new();
    let mut records: BTreeMap<(String, String), Record> = BTreeMap::new();
    let mut tiles: BTreeMap<(i32, i64), Vec<u8>> = BTreeMap::new();
    for c in store.conns() {
        if !has_tables(c)? {
            continue;
        }
        let mut st = c.prepare("SELECT size, note FROM sumdb_trees WHERE db = ?1")?;
        for r in st.query_map([db], |r| Ok((r.get(0)?, r.get(1)?)))? {
            notes.insert(r?, ());
        }
        let mut st = c.prepare("SELECT path, version, id, text FROM sumdb_records WHERE db = ?1")?;
        let rows =
            st.query_map([db], |r| Ok(Record { path: r.get(0)?, version: r.get(1)?, id: r.get(2)?, text: r.get(3)? }))?;
        for r in rows {
            let r = r?;
            records.entry((r.path.clone(), r.version.clone())).or_insert(r);
        }
        let mut st = c.prepare("SELECT level, n, data FROM sumdb_tiles WHERE db = ?1")?;
        let rows = st.query_map([db], |r| Ok((r.get::<_, i32>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))?;
        for row in rows {
            let (l, n, data) = row?;
            let e = tiles.entry((l, n)).or_default();
            if data.len() > e.len() {
                *e = data;
            }
        }
    }
    let mut s = Stored { notes: notes.into_keys().map(|(_, n)| n).collect(), ..Stored::default() };
    s.records = records.into_values().collect();
    for ((l, n), data) in tiles {
        // A stored tile of any other length fails verification as truncated.
        let w = (data.len() / tlog::HASH_SIZE).clamp(1, 256) as u32;
        s.tiles.push((Tile { h: tlog::TILE_HEIGHT, l, n, w }, data));
    }
    Ok(s)
}

/// Records what passed verification (in the caller's transaction). Returns the
/// number of new records.
pub(crate) fn save(c: &Connection, db: &str, v: &Verified, keys: &[String]) -> Result<usize> {
    for k in keys {
        c.execute("INSERT OR IGNORE INTO sumdb_keys (db, vkey) VALUES (?1, ?2)", params![db, k])?;
    }
    for (n, (h, note)) in &v.trees {
        c.execute(
            "INSERT OR IGNORE INTO sumdb_trees (db, size, hash, note) VALUES (?1, ?2, ?3, ?4)",
            params![db, n, tlog::b64(h), note],
        )?;
    }
    let mut added = 0;
    for r in &v.records {
        added += c.execute(
            "INSERT OR IGNORE INTO sumdb_records (db, path, version, id, text) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![db, r.path, r.version, r.id, r.text],
        )?;
    }
    for ((l, n), data) in &v.tiles {
        c.execute(
            "INSERT INTO sumdb_tiles (db, level, n, data) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (db, level, n) DO UPDATE SET data = excluded.data \
             WHERE length(excluded.data) > length(sumdb_tiles.data)",
            params![db, l, n, data],
        )?;
    }
    Ok(added)
}
