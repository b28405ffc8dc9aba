//! What the mount believes from the store index (`rows::check_rows`,
//! `rows::check_entries`): module rows with arbitrary paths, versions, sizes and
//! counts, and entry lists with arbitrary names, offsets and sizes. Whatever is
//! accepted must keep the promises the daemon relies on: paths and versions
//! import would accept and that escape both ways, no two rows naming the same
//! files, sizes within Go's limits, every entry's data inside the zip, sizes
//! adding up to the row's; and building the namespace of what was accepted, and
//! loading an accepted entry list into it, never panics.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use modcachefs::gomod::path::check_module_version;
use modcachefs::gomod::path::{escape, unescape};
use modcachefs::gomod::MAX_ZIP_SIZE;
use modcachefs::store::rows::{check_entries, check_rows, MAX_INFO_SIZE};
use modcachefs::store::{Module, ZipInfo};
use modcachefs::vfs::namespace::{Kind, Namespace};
use modcachefs::zip::Entry;
use std::collections::HashSet;
use std::sync::Arc;

const H1: &str = "h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=";

#[derive(Arbitrary, Debug)]
struct Row {
    id: i64,
    /// Picks from a few real-looking paths and versions, or takes the raw string.
    path: (u8, String),
    version: (u8, String),
    blob_ok: bool,
    info_size: u16,
    zip: Option<(u32, u32, u16)>,
}

#[derive(Arbitrary, Debug)]
struct RawEntry {
    name: (u8, String),
    data_offset: u32,
    compressed_size: u32,
    size: u32,
    method: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rows: Vec<Row>,
    entries: Vec<RawEntry>,
}

const PATHS: &[&str] =
    &["golang.org/x/text", "golang.org/x//text", "golang.org/x/text/", "example.com/M", "example.com/m/v2"];
const VERSIONS: &[&str] = &["v0.7.0", "v0.7", "v2.0.0", "v1.0.0-RC1", "v2.0.0+incompatible"];
const NAMES: &[&str] = &["go.mod", "a.go", "A.go", "sub/b.go", "sub", "../x", "LICENSE"];

fn pick(choice: &(u8, String), from: &[&str]) -> String {
    match from.get(choice.0 as usize % (from.len() + 1)) {
        Some(s) => s.to_string(),
        None => choice.1.clone(),
    }
}

fn module(r: &Row) -> Module {
    Module {
        id: r.id,
        path: pick(&r.path, PATHS),
        version: pick(&r.version, VERSIONS),
        mod_blob: if r.blob_ok { "a".repeat(64) } else { "../../etc/passwd".into() },
        mod_h1: H1.into(),
        mod_h1_origin: "computed".into(),
        info: None,
        info_size: r.info_size as u64 * 2,
        zip: r.zip.map(|(size, tree, count)| ZipInfo {
            blob: "b".repeat(64),
            h1: H1.into(),
            h1_origin: "computed".into(),
            size: size as u64 * 4,
            file_count: count as u64,
            tree_size: tree as u64 * 4,
        }),
    }
}

fuzz_target!(|input: Input| {
    let rows: Vec<Module> = input.rows.iter().take(16).map(module).collect();
    let (ok, problems) = check_rows(rows.clone());
    assert_eq!(ok.len() + problems.len(), rows.len());
    assert!(problems.iter().all(|p| !p.chars().any(char::is_control)), "{problems:?}");
    let mut names = HashSet::new();
    for m in &ok {
        assert!(check_module_version(&m.path, &m.version).is_ok(), "{m:?}");
        let (p, v) = (escape(&m.path).expect("escapable"), escape(&m.version).expect("escapable"));
        assert_eq!(unescape(&p).as_deref(), Some(m.path.as_str()));
        assert!(names.insert(format!("{p}@{v}").to_lowercase()), "two rows name {p}@{v}");
        assert!(m.info_size <= MAX_INFO_SIZE && m.mod_blob.len() == 64);
        if let Some(z) = &m.zip {
            assert!(z.size <= MAX_ZIP_SIZE && z.tree_size <= MAX_ZIP_SIZE, "{z:?}");
        }
    }
    let Some(m) = ok.iter().find(|m| m.zip.is_some()) else { return };
    let mut entries: Vec<Entry> = input
        .entries
        .iter()
        .take(64)
        .map(|e| Entry {
            name: pick(&e.name, NAMES),
            data_offset: e.data_offset as u64,
            compressed_size: e.compressed_size as u64,
            size: e.size as u64,
            method: e.method as u16,
            crc32: 0,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let Ok(()) = check_entries(m, &entries) else { return };
    let z = m.zip.as_ref().expect("has a zip");
    assert_eq!(entries.len() as u64, z.file_count);
    assert_eq!(entries.iter().map(|e| e.size).sum::<u64>(), z.tree_size);
    for e in &entries {
        assert!(e.data_offset + e.compressed_size <= z.size, "{e:?} outside a zip of {}", z.size);
        assert!(e.method == 0 || e.method == 8);
    }
    // Load the accepted list into the namespace as a lookup would.
    let idx = ok.iter().position(|x| x.id == m.id).expect("accepted") as u32;
    let (p, v) = (escape(&m.path).expect("escapable"), escape(&m.version).expect("escapable"));
    let (dir, base) = p.rsplit_once('/').unwrap_or(("", p.as_str()));
    // The path directories, then the module root, as lookups make them.
    let mut ns = Namespace::new();
    let mut at = modcachefs::vfs::namespace::ROOT;
    let mut prefix = String::new();
    for part in dir.split('/').filter(|s| !s.is_empty()) {
        prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}/{part}") };
        at = ns.intern(at, part, Kind::TreeDir, Some(prefix.as_str().into())).expect("path directory");
    }
    let root = ns.intern(at, &format!("{base}@{v}"), Kind::ModuleRoot(idx), None).expect("module root");
    ns.load_module(root, idx, m.id, Arc::from(entries));
    assert!(ns.is_loaded(root));
});
