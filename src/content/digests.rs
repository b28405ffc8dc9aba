//! The digest-list check of lazy verification: a module's file list in the index
//! (names, and the sha256 import recorded for each) must hash to the trusted
//! `h1:`, checked without opening the zip. Hash1 is the sha256 of the sorted
//! `hex(sha256(file))  name` lines, so a list that hashes right names exactly
//! the files (and bytes) cmd/go would hash; each file is then checked against its
//! digest as it is extracted.
//!
//! cmd/go's `HashZip` hashes every zip entry, directory entries included (as empty
//! files: import refuses directories with content), which are not extracted and
//! so are not in the namespace: the index keeps their names beside the digests,
//! and they enter the hash here. Each must end in `/`, so a file of the zip cannot
//! be passed off as a directory (and hidden from the tree) even when empty.

use crate::hash;
use crate::store::{Module, ZipDigests};
use crate::zipfmt::Entry;

/// Ok when `entries` (the namespace's list) with `d` hash to `want`.
pub(crate) fn check_list(module: &Module, entries: &[Entry], d: &ZipDigests, want: &str) -> Result<(), String> {
    if d.files.len() != entries.len() {
        return Err(format!("the index has {} file digests for {} files", d.files.len(), entries.len()));
    }
    let root = format!("{}@{}", module.path, module.version);
    if let Some(bad) = d.dirs.iter().find(|n| !(n.starts_with('/') && n.ends_with('/'))) {
        return Err(format!("the index lists {:?} as a directory entry", crate::logger::printable_str(bad)));
    }
    let empty = hash::sha256(b"");
    let mut named: Vec<(String, [u8; 32])> = Vec::with_capacity(entries.len() + d.dirs.len());
    named.extend(entries.iter().zip(&d.files).map(|(e, digest)| (format!("{root}/{}", e.name), *digest)));
    named.extend(d.dirs.iter().map(|dir| (format!("{root}{dir}"), empty)));
    let got = hash::hash1(&named);
    match got == want {
        true => Ok(()),
        false => Err(format!("the index's file list (names and digests) hashes to {got}, not to the trusted {want}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ZipInfo;
    use std::io::Write;

    const M: &str = "example.com/m";
    const V: &str = "v1.0.0";

    fn module() -> Module {
        Module {
            id: 1,
            path: M.into(),
            version: V.into(),
            mod_blob: String::new(),
            mod_h1: String::new(),
            mod_h1_origin: String::new(),
            info: None,
            info_size: 0,
            zip: None::<ZipInfo>,
        }
    }

    /// A module zip with a directory entry, the bare root entry and an empty file,
    /// as inspected at import (the h1 cmd/go computes for it: tests/zip_rules.rs).
    fn imported() -> (Vec<Entry>, ZipDigests, String) {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.add_directory(format!("{M}@{V}/"), opts).unwrap();
        for (name, data) in [("go.mod", &b"module example.com/m\n"[..]), ("a.go", b"package m\n"), ("empty", b"")] {
            w.start_file(format!("{M}@{V}/{name}"), opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.add_directory(format!("{M}@{V}/sub/"), opts).unwrap();
        w.start_file(format!("{M}@{V}/sub/x.go"), opts).unwrap();
        w.write_all(b"package sub\n").unwrap();
        let zip = w.finish().unwrap().into_inner();
        let mz = crate::zipfmt::inspect(&zip, M, V).unwrap();
        let d = ZipDigests::from_hashed(&format!("{M}@{V}/"), &mz.entries, &mz.hashed).unwrap();
        (mz.entries, d, mz.h1)
    }

    #[test]
    fn the_imported_list_hashes_to_the_zips_h1_directories_included() {
        let (entries, d, h1) = imported();
        assert_eq!(d.dirs, vec!["/".to_string(), "/sub/".to_string()]);
        check_list(&module(), &entries, &d, &h1).unwrap();
        // Without its directory entries the list is not what cmd/go hashed.
        let bare = ZipDigests { dirs: Vec::new(), ..d.clone() };
        assert!(check_list(&module(), &entries, &bare, &h1).unwrap_err().contains("hashes to"));
    }

    #[test]
    fn any_edit_of_the_list_is_refused() {
        let (entries, d, h1) = imported();
        let m = module();
        let refused = |entries: &[Entry], d: &ZipDigests| check_list(&m, entries, d, &h1).unwrap_err();
        // A digest changed.
        let mut x = d.clone();
        x.files[1][0] ^= 1;
        assert!(refused(&entries, &x).contains("hashes to"));
        // A file renamed in the namespace.
        let mut e = entries.clone();
        e[0].name = "b.go".into();
        assert!(refused(&e, &d).contains("hashes to"));
        // A file dropped from the namespace (with its digest).
        let i = entries.iter().position(|e| e.name == "empty").unwrap();
        let (mut e, mut x) = (entries.clone(), d.clone());
        e.remove(i);
        x.files.remove(i);
        assert!(refused(&e, &x).contains("hashes to"));
        // ... or passed off as a directory entry: not named like one.
        x.dirs.push("/empty".into());
        assert!(refused(&e, &x).contains("as a directory entry"));
        // A file added, digests and names out of step, a directory added.
        let mut e = entries.clone();
        e.push(Entry { name: "z.go".into(), ..entries[0].clone() });
        assert!(refused(&e, &d).contains("3 file digests") || refused(&e, &d).contains("file digests for"));
        let mut x = d.clone();
        x.dirs.push("/other/".into());
        assert!(refused(&entries, &x).contains("hashes to"));
        // The trusted h1 of another module.
        assert!(check_list(&m, &entries, &d, "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").is_err());
    }
}
