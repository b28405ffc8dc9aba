//! The per-file digests of a module zip in the index (table `digests`, schema 3).
//!
//! One row per module, not a column of `entries`: a mount reads a module's list in
//! one row, a store of schema 2 gains the table on its next writable open without
//! rewriting `entries`, and a module without a row (imported by an older
//! modcachefs) is told apart from one whose row is damaged.

use super::{Store, Tx};
use crate::error::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// What Hash1 hashes in a module zip beyond the index's entries: the sha256 of
/// each regular file (in the index's order, by name) and the directory entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ZipDigests {
    pub(crate) files: Vec<[u8; 32]>,
    /// Directory entries as named in the zip less the leading `<module>@<version>`:
    /// `/` is the bare root entry, `/sub/` a directory. Hash1 hashes them as empty
    /// files (import refuses directory entries with content).
    pub(crate) dirs: Vec<String>,
}

impl ZipDigests {
    /// From the Hash1 lines import computed (full names, digests, every zip entry),
    /// for `files` (the module's regular files, sorted by name). None if a file has
    /// no line: the caller's lists do not belong together.
    pub(crate) fn from_hashed(
        prefix: &str,
        files: &[crate::zip::Entry],
        hashed: &[(String, [u8; 32])],
    ) -> Option<Self> {
        let root = prefix.strip_suffix('/').unwrap_or(prefix);
        let mut by_name = std::collections::HashMap::with_capacity(hashed.len());
        let mut dirs = Vec::new();
        for (full, d) in hashed {
            let rel = full.strip_prefix(root)?;
            match rel.ends_with('/') {
                true => dirs.push(rel.to_string()),
                false => {
                    by_name.insert(rel.strip_prefix('/')?, *d);
                }
            }
        }
        let files = files.iter().map(|e| by_name.get(e.name.as_str()).copied()).collect::<Option<Vec<_>>>()?;
        Some(ZipDigests { files, dirs })
    }

    fn encode(&self) -> (Vec<u8>, String) {
        let files = self.files.iter().flatten().copied().collect();
        let dirs = self.dirs.iter().map(|d| format!("{d}\n")).collect();
        (files, dirs)
    }

    /// The row as stored; a length that is not a whole number of digests is kept
    /// as an error for the mount to name (the row is not trusted: see content).
    fn decode(files: &[u8], dirs: &str) -> std::result::Result<Self, String> {
        if files.len() % 32 != 0 {
            return Err(format!("the digest list is {} bytes, not a multiple of 32", files.len()));
        }
        let files = files.chunks_exact(32).map(|c| <[u8; 32]>::try_from(c).unwrap_or([0; 32])).collect();
        let dirs = dirs.split_terminator('\n').map(str::to_string).collect();
        Ok(ZipDigests { files, dirs })
    }
}

/// A module's digest row: None when it has none (imported by an older
/// modcachefs, or a store of schema 2 read before any import upgraded it);
/// Some(Err) when the row cannot be a digest list.
pub(super) type Row = Option<std::result::Result<ZipDigests, String>>;

/// Whether segment `c` has the digests table (schema 3; a segment converted
/// from an older store may not).
fn has_table(c: &Connection) -> Result<bool> {
    Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'digests')", [], |r| {
        r.get(0)
    })?)
}

/// Module `module_id`'s digest row in segment `c` (see [`Row`]).
pub(super) fn row(c: &Connection, module_id: i64) -> Result<Row> {
    if !has_table(c)? {
        return Ok(None);
    }
    let mut st = c.prepare_cached("SELECT files, dirs FROM digests WHERE module_id = ?1")?;
    let row = st
        .query_row(params![module_id], |r| {
            let files = match r.get_ref(0)? {
                rusqlite::types::ValueRef::Blob(b) => Ok(b.to_vec()),
                other => Err(format!("the digest list is a {:?}, not a blob", other.data_type())),
            };
            Ok((files, r.get::<_, String>(1)))
        })
        .optional()?;
    Ok(row.map(|(files, dirs)| {
        let dirs = dirs.map_err(|e| format!("the directory list is unreadable: {e}"))?;
        ZipDigests::decode(&files?, &dirs)
    }))
}

/// Copies module `module_id`'s digest row, as stored, from segment `from` into
/// the writer's segment `to` (when a module's row moves to a newer segment).
pub(super) fn copy_row(from: &Connection, to: &Connection, module_id: i64) -> Result<()> {
    if !has_table(from)? {
        return Ok(());
    }
    let row: Option<(rusqlite::types::Value, rusqlite::types::Value)> = from
        .query_row("SELECT files, dirs FROM digests WHERE module_id = ?1", [module_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((files, dirs)) = row {
        to.execute(
            "INSERT OR IGNORE INTO digests (module_id, files, dirs) VALUES (?1, ?2, ?3)",
            params![module_id, files, dirs],
        )?;
    }
    Ok(())
}

impl Store {
    /// Whether every segment of this state has the digests table (schema 3):
    /// else some modules were imported by an older modcachefs.
    pub(crate) fn has_digests(&self) -> Result<bool> {
        for c in self.conns() {
            if !has_table(c)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One module's digests (see [`Row`]), from the segment holding its row.
    pub(crate) fn digests(&self, module_id: i64) -> Result<Row> {
        match self.segment_of_id(module_id)? {
            Some((seg, _)) => row(&self.segs[seg].conn, module_id),
            None => Ok(None),
        }
    }
}

impl Tx<'_> {
    /// Records a module's digests; an existing row is left alone (it describes the
    /// same files: import refuses a zip whose h1 differs from the stored one).
    pub(super) fn set_digests(&self, module_id: i64, d: &ZipDigests) -> Result<bool> {
        let (files, dirs) = d.encode();
        let n = self.tx.execute(
            "INSERT OR IGNORE INTO digests (module_id, files, dirs) VALUES (?1, ?2, ?3)",
            params![module_id, files, dirs],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zip::Entry;

    fn file(name: &str) -> Entry {
        Entry { name: name.into(), data_offset: 0, compressed_size: 0, size: 0, method: 0, crc32: 0 }
    }

    #[test]
    fn from_hashed_splits_files_and_directories_and_round_trips() {
        let hashed = vec![
            ("m@v1/".to_string(), [0u8; 32]),
            ("m@v1/b.go".to_string(), [2u8; 32]),
            ("m@v1/sub/".to_string(), [0u8; 32]),
            ("m@v1/a.go".to_string(), [1u8; 32]),
        ];
        let d = ZipDigests::from_hashed("m@v1/", &[file("a.go"), file("b.go")], &hashed).unwrap();
        assert_eq!(d.files, vec![[1u8; 32], [2u8; 32]]);
        assert_eq!(d.dirs, vec!["/".to_string(), "/sub/".to_string()]);
        let (f, dirs) = d.encode();
        assert_eq!(ZipDigests::decode(&f, &dirs).unwrap(), d);
        assert!(ZipDigests::from_hashed("m@v1/", &[file("c.go")], &hashed).is_none());
        assert!(ZipDigests::decode(&[0; 33], "").is_err());
    }
}
