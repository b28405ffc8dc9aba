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

use crate::store::{Module, ZipDigests};
use crate::zip::Entry;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

/// Ok when `entries` (the namespace's list) with `d` hash to `want`.
pub(crate) fn check_list(module: &Module, entries: &[Entry], d: &ZipDigests, want: &str) -> Result<(), String> {
    if d.files.len() != entries.len() {
        return Err(format!("the index has {} file digests for {} files", d.files.len(), entries.len()));
    }
    let root = format!("{}@{}", module.path, module.version);
    if let Some(bad) = d.dirs.iter().find(|n| !(n.starts_with('/') && n.ends_with('/'))) {
        return Err(format!("the index lists {:?} as a directory entry", crate::ops::logger::printable_str(bad)));
    }
    let got = list_h1(&root, entries, &d.files, &d.dirs);
    match got == want {
        true => Ok(()),
        false => Err(format!("the index's file list (names and digests) hashes to {got}, not to the trusted {want}")),
    }
}

/// Hash1 of the list, as `crate::gomod::h1::hash1` computes it, without building the names: the
/// entries are in byte order already (the index's order, which `rows::check_entries`
/// checks), so the directory entries are merged in and each line goes straight to
/// the hash. (A module's first read pays for this: half a millisecond less for
/// 2,600 files.)
fn list_h1(root: &str, entries: &[Entry], files: &[[u8; 32]], dirs: &[String]) -> String {
    if !entries.windows(2).all(|w| w[0].name.as_bytes() < w[1].name.as_bytes()) {
        // Not in order (a damaged index): the general form, which sorts.
        let empty = crate::gomod::h1::sha256(b"");
        let mut named: Vec<(String, [u8; 32])> = Vec::with_capacity(entries.len() + dirs.len());
        named.extend(entries.iter().zip(files).map(|(e, digest)| (format!("{root}/{}", e.name), *digest)));
        named.extend(dirs.iter().map(|dir| (format!("{root}{dir}"), empty)));
        return crate::gomod::h1::hash1(&named);
    }
    let mut dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    dirs.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let empty = crate::gomod::h1::sha256(b"");
    let mut summary = Sha256::new();
    let mut line = Vec::with_capacity(256);
    let mut add = |digest: &[u8; 32], sep: &[u8], tail: &[u8]| {
        line.clear();
        line.extend_from_slice(crate::gomod::h1::hex(digest).as_bytes());
        line.extend_from_slice(b"  ");
        line.extend_from_slice(root.as_bytes());
        line.extend_from_slice(sep);
        line.extend_from_slice(tail);
        line.push(b'\n');
        summary.update(&line);
    };
    // Full names are `root + "/" + name` and `root + dir` (dir begins with "/"):
    // their order is that of `name` against `dir` less its "/".
    let (mut files_at, mut dirs_at) = (entries.iter().zip(files).peekable(), dirs.iter().peekable());
    loop {
        let file_first = match (files_at.peek(), dirs_at.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((e, _)), Some(dir)) => e.name.as_bytes().cmp(&dir.as_bytes()[1..]) != Ordering::Greater,
        };
        if file_first {
            if let Some((e, digest)) = files_at.next() {
                add(digest, b"/", e.name.as_bytes());
            }
        } else if let Some(dir) = dirs_at.next() {
            add(&empty, b"", dir.as_bytes());
        }
    }
    format!("h1:{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, summary.finalize()))
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
        let mz = crate::zip::inspect(&zip, M, V).unwrap();
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

    /// The merged form equals Hash1 of the names, directories anywhere in the order.
    #[test]
    fn streamed_hash_equals_hash1() {
        let names = ["a.go", "a/x.go", "b", "sub/x.go", "sub2"];
        let entries: Vec<Entry> = names
            .iter()
            .map(|n| Entry { name: n.to_string(), data_offset: 0, compressed_size: 0, size: 0, method: 0, crc32: 0 })
            .collect();
        let files: Vec<[u8; 32]> = (0..names.len()).map(|i| [i as u8; 32]).collect();
        let dirs: Vec<String> = ["/sub/", "/", "/a/", "/zz/"].iter().map(|d| d.to_string()).collect();
        let mut named: Vec<(String, [u8; 32])> =
            names.iter().zip(&files).map(|(n, d)| (format!("m@v1/{n}"), *d)).collect();
        named.extend(dirs.iter().map(|d| (format!("m@v1{d}"), crate::gomod::h1::sha256(b""))));
        assert_eq!(list_h1("m@v1", &entries, &files, &dirs), crate::gomod::h1::hash1(&named));
        let mut unsorted = entries.clone();
        unsorted.swap(0, 1);
        let mut named2 = named.clone();
        named2[0].0 = "m@v1/a/x.go".into();
        named2[1].0 = "m@v1/a.go".into();
        assert_eq!(list_h1("m@v1", &unsorted, &files, &dirs), crate::gomod::h1::hash1(&named2));
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
