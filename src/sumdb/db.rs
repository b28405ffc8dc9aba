//! The checksum-database tables of the store index (schema.sql, `sumdb_*`).
//! A store made before schema 2 has none of them: readers see no database.

use super::tlog::{self, Tile};
use super::verify::{Record, Verified};
use crate::error::Result;
use rusqlite::{params, Connection, OptionalExtension};

fn has_tables(c: &Connection) -> Result<bool> {
    Ok(c.query_row("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sumdb_trees'", [], |_| Ok(()))
        .optional()?
        .is_some())
}

/// (database, verifier key) pairs the store verified with.
pub(crate) fn keys(c: &Connection) -> Result<Vec<(String, String)>> {
    if !has_tables(c)? {
        return Ok(Vec::new());
    }
    let mut st = c.prepare("SELECT db, vkey FROM sumdb_keys ORDER BY db, vkey")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Everything stored for one database.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub(crate) notes: Vec<Vec<u8>>,
    pub(crate) records: Vec<Record>,
    pub(crate) tiles: Vec<(Tile, Vec<u8>)>,
}

/// Names of the databases the store holds trees of.
pub(crate) fn databases(c: &Connection) -> Result<Vec<String>> {
    if !has_tables(c)? {
        return Ok(Vec::new());
    }
    let mut st = c.prepare("SELECT DISTINCT db FROM sumdb_trees ORDER BY db")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn load(c: &Connection, db: &str) -> Result<Stored> {
    let mut s = Stored::default();
    if !has_tables(c)? {
        return Ok(s);
    }
    let mut st = c.prepare("SELECT note FROM sumdb_trees WHERE db = ?1 ORDER BY size")?;
    s.notes = st.query_map([db], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare("SELECT path, version, id, text FROM sumdb_records WHERE db = ?1 ORDER BY path, version")?;
    s.records = st
        .query_map([db], |r| Ok(Record { path: r.get(0)?, version: r.get(1)?, id: r.get(2)?, text: r.get(3)? }))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = c.prepare("SELECT level, n, data FROM sumdb_tiles WHERE db = ?1 ORDER BY level, n")?;
    let rows = st.query_map([db], |r| Ok((r.get::<_, i32>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))?;
    for row in rows {
        let (l, n, data) = row?;
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

/// Marks a stored module's hash as confirmed by database `db`, when it is that hash
/// (a database's signed record is stronger than a go.sum or a .ziphash).
pub(crate) fn confirm_origin(c: &Connection, path: &str, version: &str, zip: bool, h1: &str, db: &str) -> Result<()> {
    // The first database to confirm a hash stays its origin.
    let sql = if zip {
        "UPDATE modules SET zip_h1_origin = ?1 WHERE path = ?2 AND version = ?3 AND zip_h1 = ?4 \
         AND zip_h1_origin NOT LIKE 'sumdb %'"
    } else {
        "UPDATE modules SET mod_h1_origin = ?1 WHERE path = ?2 AND version = ?3 AND mod_h1 = ?4 \
         AND mod_h1_origin NOT LIKE 'sumdb %'"
    };
    c.execute(sql, params![format!("sumdb {db}"), path, version, h1])?;
    Ok(())
}
