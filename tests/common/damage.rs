//! Damage done to a store behind the daemon's back, for the verification tests.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// (blob path, `path@version`) of a module's zip.
pub fn blob_of(store: &Path, module: &str) -> (PathBuf, String) {
    let conn = rusqlite::Connection::open(super::index_db(store)).unwrap();
    let (blob, version): (String, String) = conn
        .query_row("SELECT zip_blob, version FROM modules WHERE path = ?1 AND zip_blob IS NOT NULL", [module], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap_or_else(|e| panic!("{module} not in store: {e}"));
    (store.join("blobs").join(&blob[..2]).join(&blob[2..]), format!("{module}@{version}"))
}

/// Rewrites a zip blob in place with the same names, one .go file's content changed.
pub fn rewrite_one_go_file(blob: &Path) {
    let mut za = zip::ZipArchive::new(std::io::Cursor::new(std::fs::read(blob).unwrap())).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut changed = false;
    for i in 0..za.len() {
        let mut f = za.by_index(i).unwrap();
        let name = f.name().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        if !changed && name.ends_with(".go") {
            data.extend_from_slice(b"\n// injected\n");
            changed = true;
        }
        out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&data).unwrap();
    }
    std::fs::write(blob, out.finish().unwrap().into_inner()).unwrap();
}
