//! Stores of the single-index format (`<store>/index.db`, schema 1 and 2): read
//! as one segment, and migrated into the first segment by the first writer.

use super::manifest::{self, Manifest, SegRef};
use super::segments::{self, Segment};
use super::Store;
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::fs;
use std::path::Path;

pub(crate) const INDEX: &str = "index.db";

/// The old store read as one segment (generation 0), or None when there is none.
pub fn open_ro(dir: &Path) -> Result<Option<Store>> {
    let index = dir.join(INDEX);
    if index.exists() && !index.is_file() {
        // Not "missing": something else is in its place (a directory, a device).
        return Err(Error::Store(format!("{}: unreadable store index: not a regular file", index.display())));
    }
    if !index.is_file() {
        return Ok(None);
    }
    let writable = dir_writable(dir);
    if writable {
        roll_back_hot_journal(&index)?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // This file may still be written by an older modcachefs: immutable only where
    // nothing can write it.
    let conn = Connection::open_with_flags(segments::uri(&index, !writable), flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    segments::check_schema_version(&conn, &index)?;
    let seg: Segment = segments::finish_open(index.clone(), conn, 0)?;
    let count: i64 = seg
        .conn
        .query_row("SELECT count(*) FROM modules", [], |r| r.get(0))
        .map_err(|e| Error::Store(format!("{}: unreadable store index: {e}", index.display())))?;
    Ok(Some(Store {
        dir: dir.to_path_buf(),
        generation: 0,
        module_count: count as u64,
        segs: vec![seg],
        manifest: None,
        writer: None,
    }))
}

/// Turns an old store into the first segment of the new format, atomically: the
/// old index (and any write-ahead log of it) is copied into a new segment, which
/// is published with the first manifest; only then is the old index removed.
/// A reader sees the old index or the manifest, and both hold the same modules.
/// Called with the writers' lock held.
pub(crate) fn migrate(dir: &Path) -> Result<Option<Manifest>> {
    let index = dir.join(INDEX);
    if !index.is_file() {
        return Ok(None);
    }
    let tmp = dir.join("tmp").join(format!("migrate-{}.db", std::process::id()));
    let _ = fs::remove_file(&tmp);
    {
        // A writable open rolls back a hot journal and reads the WAL, if any.
        let unreadable = |e: rusqlite::Error| Error::Store(format!("{}: unreadable store index: {e}", index.display()));
        let old = Connection::open(&index).map_err(unreadable)?;
        old.busy_timeout(std::time::Duration::from_secs(30))?;
        segments::check_schema_version(&old, &index)?;
        let copied = old.execute("VACUUM INTO ?1", [tmp.to_string_lossy()]).map_err(unreadable);
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    }
    let conn = Connection::open(&tmp)?;
    conn.execute_batch(&format!(
        "BEGIN;\n{}\nPRAGMA user_version = {};\nCOMMIT;",
        super::SCHEMA,
        super::SCHEMA_VERSION
    ))?;
    let (count, max_id): (i64, i64) =
        conn.query_row("SELECT count(*), coalesce(max(id), 0) FROM modules", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    conn.close().map_err(|(_, e)| Error::from(e))?;
    let name = manifest::segment_name(0);
    let dest = manifest::index_dir(dir).join(&name);
    let go = || -> std::io::Result<()> {
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &dest)?;
        manifest::sync_dir(&manifest::index_dir(dir))
    };
    go().map_err(|e| Error::io(&dest, e))?;
    let m = Manifest {
        generation: 0,
        next_id: max_id + 1,
        modules: count as u64,
        segments: vec![SegRef { name, gen_lo: 0, gen_hi: 0 }],
        retired: Vec::new(),
    };
    manifest::write(dir, &m)?;
    for f in ["index.db", "index.db-wal", "index.db-shm", "index.db-journal"] {
        let _ = fs::remove_file(dir.join(f));
    }
    log::info!("{}: index migrated to the segment format ({count} modules)", dir.display());
    Ok(Some(m))
}

/// A rollback journal left by an old import killed in the middle of a write must
/// be rolled back before a read-only connection can read the index; SQLite does
/// that on the first read of a writable connection. Nothing to do, and nothing
/// written, when there is none.
fn roll_back_hot_journal(index: &Path) -> Result<()> {
    let journal = index.with_extension("db-journal");
    if fs::metadata(&journal).map(|m| m.len() > 0).unwrap_or(false) {
        log::warn!("{}: rolling back an interrupted write", journal.display());
        let conn = Connection::open_with_flags(index, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
            .map_err(|e| Error::Store(format!("{}: unreadable store index: {e}", index.display())))?;
    }
    Ok(())
}

fn dir_writable(dir: &Path) -> bool {
    // access(2) also answers EROFS for a read-only mount, which is the case that matters.
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
}
