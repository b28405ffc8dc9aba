//! The filesystem core in-process, with no FUSE and no `go`: a small store is
//! imported (through the library, from a GOPROXY tree of zips made by
//! tests/common/zipgen.rs), the core is built as a mount builds it (`Content`,
//! then `Fs`), and its answers are checked: lookup (hits, misses, bad escapes),
//! getattr, readdir of every kind of directory, the `cache/download/.../@v/`
//! files, reads of tree files at any offset (from memory and from spill files),
//! and verification verdicts (a tampered blob, a hash that contradicts a go.sum
//! given at mount), each failing its own module alone with EIO.
//!
//! Runs under a plain `cargo test`; the same behaviour through a real mount and
//! the real `go` is the real-mount suite's (`scripts/test`).

mod common;

use common::zipgen::{build, deflated, h1_of, stored};
use modcachefs::error::Error;
use modcachefs::gomod::h1::hash1_gomod;
use modcachefs::import;
use modcachefs::ops::stats::Stats;
use modcachefs::store::{self, Store, Sum, SumKind};
use modcachefs::vfs::content::{Content, Options, Verify};
use modcachefs::vfs::fs::{Attr, Fs};
use modcachefs::vfs::namespace::ROOT;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// The `.info` time of every module of the fixture, and the same instant in
/// HTTP-date form (parsed by `httpdate`, not by the code under test).
const INFO_TIME: &str = "2023-01-02T03:04:05Z";
const INFO_TIME_HTTP: &str = "Mon, 02 Jan 2023 03:04:05 GMT";

/// The memory cache of the fixture's core: files over a sixteenth of it (64 KiB)
/// are extracted to spill files instead.
const CACHE_SIZE: u64 = 1 << 20;

/// One module of the fixture: its files (names relative to `<path>@<version>/`),
/// or None for a go.mod-only module.
struct Module {
    path: &'static str,
    version: &'static str,
    files: Option<Vec<(String, Vec<u8>)>>,
}

impl Module {
    fn gomod(&self) -> Vec<u8> {
        format!("module {}\n", self.path).into_bytes()
    }

    fn full_names(&self) -> Vec<(String, Vec<u8>)> {
        let files = self.files.as_ref().expect("a module with a zip");
        files.iter().map(|(n, d)| (format!("{}@{}/{n}", self.path, self.version), d.clone())).collect()
    }

    fn zip(&self) -> Vec<u8> {
        let full = self.full_names();
        let refs: Vec<(&str, &[u8])> = full.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        build(&refs, deflated())
    }

    fn h1(&self) -> String {
        let full = self.full_names();
        let refs: Vec<(&str, &[u8])> = full.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        h1_of(&refs)
    }

    fn info(&self) -> Vec<u8> {
        format!("{{\"Version\":\"{}\",\"Time\":\"{INFO_TIME}\"}}", self.version).into_bytes()
    }
}

/// 300 KB of distinct lines: larger than a sixteenth of the cache (served from a
/// spill file), and no two offsets read alike.
fn big_text() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..6000)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("line {i:05} {x:016x} {:032x}\n", x.rotate_left(17) as u128 * 31)
        })
        .collect::<String>()
        .into_bytes()
}

fn tree(path: &str, extra: &[(&str, &[u8])]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut files = vec![
        ("go.mod".to_string(), format!("module {path}\n").into_bytes()),
        ("a.go".to_string(), format!("package a // {path}\n").into_bytes()),
    ];
    files.extend(extra.iter().map(|(n, d)| (n.to_string(), d.to_vec())));
    Some(files)
}

fn modules() -> Vec<Module> {
    let big = big_text();
    let hello = |version| Module {
        path: "example.com/hello",
        version,
        files: tree(
            "example.com/hello",
            &[("sub/deep/x.go", b"package deep\n"), ("big.txt", &big), ("empty.txt", b"")],
        ),
    };
    vec![
        hello("v1.0.0"),
        hello("v1.1.0"),
        // Upper case: `example.com/!caps` in every name on the mount.
        Module { path: "example.com/Caps", version: "v0.1.0", files: tree("example.com/Caps", &[]) },
        Module { path: "example.com/modonly", version: "v1.0.0", files: None },
        Module { path: "example.com/tamper", version: "v1.0.0", files: tree("example.com/tamper", &[]) },
        Module { path: "example.com/pinned", version: "v1.0.0", files: tree("example.com/pinned", &[]) },
    ]
}

fn module<'a>(all: &'a [Module], path: &str, version: &str) -> &'a Module {
    all.iter().find(|m| m.path == path && m.version == version).expect("a fixture module")
}

/// A store imported from a GOPROXY tree of the fixture's modules.
struct Fixture {
    tmp: tempfile::TempDir,
    store: PathBuf,
    modules: Vec<Module>,
}

fn fixture(name: &str) -> Fixture {
    fixture_of(name, modules())
}

fn fixture_of(name: &str, modules: Vec<Module>) -> Fixture {
    let tmp = common::tempdir(name);
    let proxy = tmp.path().join("proxy");
    for m in &modules {
        common::put_proxy_file(&proxy, m.path, m.version, "mod", &m.gomod());
        common::put_proxy_file(&proxy, m.path, m.version, "info", &m.info());
        if m.files.is_some() {
            common::put_proxy_file(&proxy, m.path, m.version, "zip", &m.zip());
        }
    }
    let store = tmp.path().join("store");
    let mut st = Store::open_writer(&store, "import", true).expect("create the store");
    let inputs = import::discover(&[proxy]).expect("discover the proxy tree");
    let report = import::import(&mut st, &inputs, 2, &mut |_, _, _| {}).expect("import");
    assert!(report.errors.is_empty(), "import errors: {:?}", report.errors);
    assert_eq!(report.added, modules.len(), "{report:?}");
    st.publish().expect("publish the import");
    Fixture { tmp, store, modules }
}

impl Fixture {
    /// The core as a mount builds it, with `go_sum` as the sums given by `--go-sum`.
    fn core(&self, go_sum: &[Sum]) -> Fs {
        let spill = self.tmp.path().join("spill");
        std::fs::create_dir_all(&spill).expect("spill dir");
        let opts = Options { verify: Verify::Lazy, cache_size: CACHE_SIZE, spill_dir: spill, spill_size: 16 << 20 };
        let st = Store::open_ro(&self.store).expect("open the store");
        let content = Content::new(st, go_sum, opts, Arc::new(Stats::default())).expect("content");
        Fs::new(content)
    }

    /// The zip blob of a module, as stored, and the offset of the compressed data
    /// of its file `name`.
    fn zip_blob(&self, path: &str, version: &str, name: &str) -> (PathBuf, u64) {
        let st = Store::open_ro(&self.store).expect("open the store");
        let m = st.modules().expect("modules").into_iter().find(|m| m.path == path && m.version == version);
        let m = m.unwrap_or_else(|| panic!("{path}@{version}: not in the store"));
        let entries = st.entries(m.id).expect("entries");
        let e = entries.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name}: no entry"));
        let zip = m.zip.unwrap_or_else(|| panic!("{path}@{version}: no zip in the store"));
        (store::blob_path(&self.store, &zip.blob), e.data_offset)
    }
}

/// Looks up every element of `path` from the root; None at the first miss.
fn walk(fs: &Fs, path: &str) -> Option<Attr> {
    let mut at = fs.getattr(ROOT).expect("getattr of the root").expect("a root");
    for name in path.split('/').filter(|n| !n.is_empty()) {
        at = fs.lookup(at.ino, name).unwrap_or_else(|e| panic!("lookup {name:?} in {path}: {e}"))?;
    }
    Some(at)
}

#[track_caller]
fn found(fs: &Fs, path: &str) -> Attr {
    walk(fs, path).unwrap_or_else(|| panic!("{path}: not found"))
}

/// A whole file, read in `chunk`-byte reads at increasing offsets, as the kernel
/// reads; the read at the end of the file is empty.
fn read_all(fs: &Fs, path: &str, chunk: u32) -> Result<Vec<u8>, Error> {
    let a = found(fs, path);
    let mut out = Vec::new();
    loop {
        let got = fs.read(a.ino, out.len() as u64, chunk)?.unwrap_or_else(|| panic!("{path}: not a file"));
        if got.is_empty() {
            break;
        }
        assert!(got.len() <= chunk as usize, "{path}: read {} bytes for {chunk}", got.len());
        out.extend_from_slice(&got);
    }
    assert_eq!(out.len() as u64, a.size, "{path}: bytes read vs the size getattr gave");
    Ok(out)
}

fn names(fs: &Fs, path: &str) -> BTreeSet<String> {
    let a = found(fs, path);
    let entries = fs.readdir(a.ino).expect("readdir").unwrap_or_else(|| panic!("{path}: not a directory"));
    for e in &entries {
        let looked = fs
            .lookup(a.ino, &e.name)
            .expect("lookup")
            .unwrap_or_else(|| panic!("{path}/{}: listed, not found", e.name));
        assert_eq!((looked.ino, looked.is_dir), (e.ino, e.is_dir), "{path}/{}: readdir and lookup disagree", e.name);
    }
    entries.into_iter().map(|e| e.name).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[track_caller]
fn assert_eio(r: Result<Vec<u8>, Error>, what: &str, module: &str) -> String {
    let e = match r {
        Ok(b) => panic!("{what}: served {} bytes of a refused module", b.len()),
        Err(e) => e,
    };
    assert_eq!(e.errno(), libc::EIO, "{what}: {e}");
    let msg = e.to_string();
    assert!(msg.contains(module), "{what}: the error does not name {module}: {msg}");
    msg
}

#[test]
fn lookup_finds_every_name_and_nothing_else() {
    let f = fixture("core-lookup");
    let fs = f.core(&[]);
    for p in [
        "cache/download/example.com/hello/@v/list",
        "cache/download/example.com/hello/@v/v1.1.0.ziphash",
        "cache/download/example.com/!caps/@v/v0.1.0.zip",
        "cache/download/example.com/modonly/@v/v1.0.0.mod",
        "example.com/hello@v1.0.0/sub/deep/x.go",
        "example.com/!caps@v0.1.0/go.mod",
    ] {
        assert!(walk(&fs, p).is_some(), "{p}: not found");
    }
    // Misses: versions and paths the store lacks, a go.mod-only module's tree and
    // zip, names with upper case or broken escapes, and what cmd/go probes for on
    // a miss (lock and .partial files).
    for p in [
        "example.com/hello@v9.9.9",
        "example.com/nothere@v1.0.0",
        "example.com/modonly@v1.0.0",
        "cache/download/example.com/modonly/@v/v1.0.0.zip",
        "cache/download/example.com/hello/@v/v9.9.9.mod",
        "cache/download/example.com/hello/@v/v1.0.0.lock",
        "example.com/hello@v1.0.0.partial",
        "example.com/Caps@v0.1.0",
        "example.com/!Caps@v0.1.0",
        "example.com/!!caps@v0.1.0",
        "example.com/!caps@V0.1.0",
        "cache/download/example.com/Caps/@v/list",
        "cache/download/example.com/!/@v/list",
        "example.com/hello@v1.0.0/sub/deep/X.go",
        "example.com/hello@v1.0.0/a.go/x",
        "Example.com",
    ] {
        assert_eq!(walk(&fs, p), None, "{p}: found");
    }
    // A lookup below a file is a miss, not an error.
    let file = found(&fs, "example.com/hello@v1.0.0/a.go");
    assert_eq!(fs.lookup(file.ino, "x").expect("lookup below a file"), None);
    // Inode numbers are the same for the same name, and the same in a second core
    // of the same store (the kernel may remember them across remounts).
    let again = f.core(&[]);
    for p in ["cache/download/example.com/hello/@v/list", "example.com/hello@v1.1.0/sub/deep/x.go"] {
        assert_eq!(found(&fs, p).ino, found(&fs, p).ino, "{p}");
        assert_eq!(found(&fs, p).ino, found(&again, p).ino, "{p}: another inode in a second core");
    }
}

#[test]
fn getattr_gives_go_modes_sizes_and_info_times() {
    let f = fixture("core-getattr");
    let fs = f.core(&[]);
    let info_time = httpdate::parse_http_date(INFO_TIME_HTTP).expect("an HTTP date");
    let root = fs.getattr(ROOT).expect("getattr").expect("the root");
    assert!(root.is_dir && root.perm == 0o755, "{root:?}");
    let hello = module(&f.modules, "example.com/hello", "v1.0.0");
    for (p, is_dir, perm, size) in [
        ("example.com", true, 0o755, None),
        ("example.com/hello@v1.0.0", true, 0o555, None),
        ("example.com/hello@v1.0.0/sub", true, 0o555, None),
        ("example.com/hello@v1.0.0/a.go", false, 0o444, Some(b"package a // example.com/hello\n".len() as u64)),
        ("example.com/hello@v1.0.0/big.txt", false, 0o444, Some(big_text().len() as u64)),
        ("example.com/hello@v1.0.0/empty.txt", false, 0o444, Some(0)),
        ("cache/download/example.com/hello/@v", true, 0o755, None),
        ("cache/download/example.com/hello/@v/v1.0.0.info", false, 0o644, Some(hello.info().len() as u64)),
        ("cache/download/example.com/hello/@v/v1.0.0.mod", false, 0o644, Some(hello.gomod().len() as u64)),
        ("cache/download/example.com/hello/@v/v1.0.0.zip", false, 0o644, Some(hello.zip().len() as u64)),
        ("cache/download/example.com/hello/@v/v1.0.0.ziphash", false, 0o644, Some(hello.h1().len() as u64)),
        ("cache/download/example.com/hello/@v/list", false, 0o644, Some(b"v1.0.0\nv1.1.0\n".len() as u64)),
    ] {
        let a = found(&fs, p);
        assert_eq!((a.is_dir, a.perm), (is_dir, perm), "{p}: {a:?}");
        if let Some(size) = size {
            assert_eq!(a.size, size, "{p}");
        }
        assert_eq!(fs.getattr(a.ino).expect("getattr"), Some(a), "{p}: getattr and lookup disagree");
    }
    // A module's files carry its .info time; directories count their subdirectories.
    for p in
        ["example.com/hello@v1.0.0/a.go", "example.com/hello@v1.0.0", "cache/download/example.com/hello/@v/v1.0.0.zip"]
    {
        assert_eq!(found(&fs, p).mtime, info_time, "{p}");
    }
    assert_eq!(found(&fs, "example.com/hello@v1.0.0").nlink, 3, "2 + its one subdirectory (sub)");
    assert_eq!(found(&fs, "example.com/hello@v1.0.0/sub/deep").nlink, 2);
    assert!(found(&fs, "cache").mtime > UNIX_EPOCH + Duration::from_secs(1), "directories have a fixed, real time");
    // An inode the core never gave out.
    assert_eq!(fs.getattr(0x7654_3210).expect("getattr of an unknown inode"), None);
}

#[test]
fn readdir_lists_root_paths_trees_and_download_dirs() {
    let f = fixture("core-readdir");
    let fs = f.core(&[]);
    assert_eq!(names(&fs, ""), set(&["cache", "example.com"]));
    assert_eq!(names(&fs, "cache"), set(&["download"]));
    // Trees of the modules with a zip (not of the go.mod-only one).
    assert_eq!(
        names(&fs, "example.com"),
        set(&["!caps@v0.1.0", "hello@v1.0.0", "hello@v1.1.0", "pinned@v1.0.0", "tamper@v1.0.0"])
    );
    assert_eq!(names(&fs, "cache/download/example.com"), set(&["!caps", "hello", "modonly", "pinned", "tamper"]));
    assert_eq!(names(&fs, "example.com/hello@v1.1.0"), set(&["a.go", "big.txt", "empty.txt", "go.mod", "sub"]));
    assert_eq!(names(&fs, "example.com/hello@v1.1.0/sub"), set(&["deep"]));
    assert_eq!(names(&fs, "example.com/hello@v1.1.0/sub/deep"), set(&["x.go"]));
    assert_eq!(
        names(&fs, "cache/download/example.com/hello/@v"),
        set(&[
            "list",
            "v1.0.0.info",
            "v1.0.0.mod",
            "v1.0.0.zip",
            "v1.0.0.ziphash",
            "v1.1.0.info",
            "v1.1.0.mod",
            "v1.1.0.zip",
            "v1.1.0.ziphash"
        ])
    );
    assert_eq!(names(&fs, "cache/download/example.com/modonly/@v"), set(&["list", "v1.0.0.info", "v1.0.0.mod"]));
    // readdir of a file: not a directory.
    let file = found(&fs, "example.com/hello@v1.1.0/a.go");
    assert_eq!(fs.readdir(file.ino).expect("readdir of a file"), None);
}

#[test]
fn download_files_are_the_imported_bytes() {
    let f = fixture("core-download");
    let fs = f.core(&[]);
    let at_v = |p: &str| format!("cache/download/{p}/@v");
    assert_eq!(read_all(&fs, &format!("{}/list", at_v("example.com/hello")), 4096).unwrap(), b"v1.0.0\nv1.1.0\n");
    assert_eq!(read_all(&fs, &format!("{}/list", at_v("example.com/modonly")), 4096).unwrap(), b"v1.0.0\n");
    for m in &f.modules {
        let (dir, v) = (at_v(&modcachefs::gomod::path::escape(m.path).unwrap()), m.version);
        let what = format!("{}@{v}", m.path);
        assert_eq!(read_all(&fs, &format!("{dir}/{v}.info"), 4096).unwrap(), m.info(), "{what} .info");
        if m.path == "example.com/pinned" || m.path == "example.com/tamper" {
            continue; // (served too; their verdicts are the tests below)
        }
        assert_eq!(read_all(&fs, &format!("{dir}/{v}.mod"), 4096).unwrap(), m.gomod(), "{what} .mod");
        if m.files.is_none() {
            continue;
        }
        // The .zip in odd-sized reads: the very bytes imported.
        assert!(read_all(&fs, &format!("{dir}/{v}.zip"), 1000).unwrap() == m.zip(), "{what} .zip differs");
        assert_eq!(read_all(&fs, &format!("{dir}/{v}.ziphash"), 4096).unwrap(), m.h1().into_bytes(), "{what}");
    }
}

#[test]
fn tree_files_read_at_any_offset() {
    let f = fixture("core-read");
    let fs = f.core(&[]);
    let hello = module(&f.modules, "example.com/hello", "v1.1.0");
    for (name, data) in hello.files.as_ref().unwrap() {
        let p = format!("example.com/hello@v1.1.0/{name}");
        for chunk in [1 << 17, 4096, 333] {
            assert!(read_all(&fs, &p, chunk).unwrap() == *data, "{p}: read in {chunk}-byte pieces differs");
        }
    }
    // Reads that start anywhere, end past the end, or start past it.
    let big = big_text();
    let ino = found(&fs, "example.com/hello@v1.1.0/big.txt").ino;
    let len = big.len() as u64;
    for (offset, size) in [(0, 10), (1, 4096), (65_535, 70_000), (len - 5, 4096), (len, 4096), (len + 100, 10)] {
        let got = fs.read(ino, offset, size).expect("read").expect("a file");
        let (start, end) = (offset.min(len) as usize, (offset + size as u64).min(len) as usize);
        assert!(got == big[start..end], "big.txt at {offset}+{size}");
    }
    // A directory has no bytes.
    assert_eq!(fs.read(found(&fs, "example.com/hello@v1.1.0/sub").ino, 0, 10).expect("read a dir"), None);
}

/// A zip blob changed after import (one byte of a file's data): every byte of
/// that module fails with EIO (tree files, .zip, .ziphash), naming it, and stays
/// failed; the other modules keep being served.
#[test]
fn tampered_blob_fails_its_module_alone_with_eio() {
    let f = fixture("core-tamper");
    let (blob, at) = f.zip_blob("example.com/tamper", "v1.0.0", "a.go");
    let mut b = std::fs::read(&blob).expect("read the blob");
    b[at as usize] ^= 0x20;
    std::fs::write(&blob, &b).expect("write the blob");
    let fs = f.core(&[]);
    let who = "example.com/tamper@v1.0.0";
    let dl = "cache/download/example.com/tamper/@v";
    let msg = assert_eio(read_all(&fs, "example.com/tamper@v1.0.0/a.go", 4096), "a.go", who);
    assert!(msg.contains("corrupt") || msg.contains("mismatch"), "the error says why: {msg}");
    assert_eio(read_all(&fs, "example.com/tamper@v1.0.0/go.mod", 4096), "go.mod", who);
    assert_eio(read_all(&fs, &format!("{dl}/v1.0.0.zip"), 4096), ".zip", who);
    assert_eio(read_all(&fs, &format!("{dl}/v1.0.0.ziphash"), 4096), ".ziphash", who);
    assert_eq!(fs.open(found(&fs, "example.com/tamper@v1.0.0/a.go").ino).map_err(|e| e.errno()), Err(libc::EIO));
    // Names and attributes still answer; only bytes are refused.
    assert!(found(&fs, "example.com/tamper@v1.0.0/a.go").size > 0);
    // A verdict stays: the second read fails the same way.
    assert_eio(read_all(&fs, "example.com/tamper@v1.0.0/a.go", 4096), "a.go again", who);
    // Everything else is served.
    let hello = module(&f.modules, "example.com/hello", "v1.0.0");
    assert_eq!(read_all(&fs, "example.com/hello@v1.0.0/go.mod", 4096).unwrap(), hello.gomod());
    let caps = module(&f.modules, "example.com/Caps", "v0.1.0");
    assert!(read_all(&fs, "cache/download/example.com/!caps/@v/v0.1.0.zip", 4096).unwrap() == caps.zip());
}

/// Hashes given at mount (`--go-sum`) that contradict the store's: the module's
/// zip (and so its tree) is refused, or its .mod, naming the module and both
/// hashes; the other modules are served. Sums that agree change nothing.
#[test]
fn hash_contradicting_go_sum_is_refused() {
    let f = fixture("core-gosum");
    let pinned = module(&f.modules, "example.com/pinned", "v1.0.0");
    let hello = module(&f.modules, "example.com/hello", "v1.0.0");
    let modonly = module(&f.modules, "example.com/modonly", "v1.0.0");
    let wrong_zip = module(&f.modules, "example.com/tamper", "v1.0.0").h1();
    let wrong_mod = hash1_gomod(b"module example.com/other\n");
    let sum = |m: &Module, kind, h1: String| Sum {
        path: m.path.into(),
        version: m.version.into(),
        kind,
        h1,
        source: "/srv/test/go.sum".into(),
    };
    let go_sum = [
        sum(pinned, SumKind::Zip, wrong_zip.clone()),
        sum(modonly, SumKind::Mod, wrong_mod.clone()),
        sum(hello, SumKind::Zip, hello.h1()),
        sum(hello, SumKind::Mod, hash1_gomod(&hello.gomod())),
    ];
    let fs = f.core(&go_sum);
    let who = "example.com/pinned@v1.0.0";
    let msg = assert_eio(read_all(&fs, "example.com/pinned@v1.0.0/a.go", 4096), "pinned a.go", who);
    assert!(msg.contains(&wrong_zip) && msg.contains(&pinned.h1()), "the error gives both hashes: {msg}");
    assert_eio(read_all(&fs, "cache/download/example.com/pinned/@v/v1.0.0.zip", 4096), "pinned .zip", who);
    let msg = assert_eio(
        read_all(&fs, "cache/download/example.com/modonly/@v/v1.0.0.mod", 4096),
        "modonly .mod",
        "example.com/modonly@v1.0.0",
    );
    assert!(msg.contains(&wrong_mod), "the error gives the go.sum's hash: {msg}");
    // Agreeing sums, and modules no sum names, are served.
    assert_eq!(read_all(&fs, "example.com/hello@v1.0.0/a.go", 4096).unwrap(), b"package a // example.com/hello\n");
    assert_eq!(read_all(&fs, "cache/download/example.com/hello/@v/v1.0.0.mod", 4096).unwrap(), hello.gomod());
    assert_eq!(read_all(&fs, "example.com/!caps@v0.1.0/go.mod", 4096).unwrap(), b"module example.com/Caps\n");
    let tamper = module(&f.modules, "example.com/tamper", "v1.0.0");
    assert_eq!(read_all(&fs, "example.com/tamper@v1.0.0/go.mod", 4096).unwrap(), tamper.gomod());
}

/// A zip of stored (not deflated) entries, and a module with no `.info`: served
/// as well, from the entry's bytes in place.
#[test]
fn stored_entries_are_served_too() {
    let tmp = common::tempdir("core-stored");
    let proxy = tmp.path().join("proxy");
    let files: [(&str, &[u8]); 2] = [
        ("example.com/plain@v1.0.0/go.mod", b"module example.com/plain\n"),
        ("example.com/plain@v1.0.0/p.go", b"package p\n"),
    ];
    common::put_module(&proxy, "example.com/plain", "v1.0.0", &build(&files, stored()));
    let store_dir = tmp.path().join("store");
    let mut st = Store::open_writer(&store_dir, "import", true).unwrap();
    let report = import::import(&mut st, &import::discover(&[proxy]).unwrap(), 1, &mut |_, _, _| {}).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    st.publish().unwrap();
    let opts = Options {
        verify: Verify::Lazy,
        cache_size: CACHE_SIZE,
        spill_dir: tmp.path().to_path_buf(),
        spill_size: 1 << 20,
    };
    let content = Content::new(Store::open_ro(&store_dir).unwrap(), &[], opts, Arc::new(Stats::default())).unwrap();
    let fs = Fs::new(content);
    assert_eq!(read_all(&fs, "example.com/plain@v1.0.0/p.go", 3).unwrap(), b"package p\n");
    assert_eq!(
        read_all(&fs, "cache/download/example.com/plain/@v/v1.0.0.ziphash", 4096).unwrap(),
        h1_of(&files).into_bytes()
    );
}

/// A module of 300 files in nested directories: enough that its list's checks,
/// its tree and its hash run side by side on its first look (content/load.rs).
fn wide(path: &'static str) -> Module {
    let extra: Vec<(String, Vec<u8>)> = (0..298)
        .map(|i| (format!("d{}/s{}/f{i:03}.go", i % 7, i % 3), format!("package s // {i}\n").into_bytes()))
        .collect();
    let refs: Vec<(&str, &[u8])> = extra.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    Module { path, version: "v1.0.0", files: tree(path, &refs) }
}

/// Modules large enough to be loaded side by side: the tree is the one a lookup
/// walks, a digest list edited in the index refuses the module at its first read
/// (nothing served), and a list whose names break the zip rules never reaches
/// the namespace; a healthy one is served whole, and each fails alone.
#[test]
fn wide_modules_are_loaded_side_by_side_and_refused_alone() {
    let f =
        fixture_of("core-wide", vec![wide("example.com/ok"), wide("example.com/digests"), wide("example.com/names")]);
    let ids: Vec<(String, i64)> = {
        let st = Store::open_ro(&f.store).expect("open the store");
        st.modules().expect("modules").into_iter().map(|m| (m.path, m.id)).collect()
    };
    let id = |p: &str| ids.iter().find(|(q, _)| q == p).map(|(_, i)| *i).expect("imported");
    let conn = common::index(&f.store);
    let mut files: Vec<u8> = conn
        .query_row("SELECT files FROM digests WHERE module_id = ?1", [id("example.com/digests")], |r| r.get(0))
        .expect("a digest row");
    files[100] ^= 1;
    conn.execute(
        "UPDATE digests SET files = ?1 WHERE module_id = ?2",
        rusqlite::params![files, id("example.com/digests")],
    )
    .expect("edit the digest row");
    // Two names that differ only in case: no module zip may hold both.
    let n = conn
        .execute(
            "UPDATE entries SET name = 'D0/s0/f000.go' WHERE module_id = ?1 AND name = 'd0/s0/f000.go'",
            [id("example.com/names")],
        )
        .expect("edit a name");
    assert_eq!(n, 1);
    drop(conn);
    let fs = f.core(&[]);

    let ok = module(&f.modules, "example.com/ok", "v1.0.0");
    let want = ok.files.as_ref().expect("files");
    assert_eq!(names(&fs, "example.com/ok@v1.0.0"), set(&["a.go", "d0", "d1", "d2", "d3", "d4", "d5", "d6", "go.mod"]));
    assert_eq!(names(&fs, "example.com/ok@v1.0.0/d3"), set(&["s0", "s1", "s2"]));
    for (name, data) in want {
        assert_eq!(&read_all(&fs, &format!("example.com/ok@v1.0.0/{name}"), 4096).unwrap(), data, "{name}");
    }

    let who = "example.com/digests@v1.0.0";
    assert!(found(&fs, "example.com/digests@v1.0.0/d1/s1/f001.go").size > 0, "names still answer");
    let msg = assert_eio(read_all(&fs, "example.com/digests@v1.0.0/a.go", 4096), "a.go", who);
    assert!(msg.contains("file list"), "the error says why: {msg}");
    assert_eio(read_all(&fs, "example.com/digests@v1.0.0/d1/s1/f001.go", 4096), "f001.go", who);

    // Looking at the module's root loads its list: refused, it has no tree.
    let parent = found(&fs, "example.com");
    for _ in 0..2 {
        let e = fs.lookup(parent.ino, "names@v1.0.0").expect_err("a list that breaks the rules is not served");
        assert_eq!(e.errno(), libc::EIO, "{e}");
        assert!(e.to_string().contains("collision"), "the error says why: {e}");
    }

    // The healthy module is still served after its neighbours were refused.
    assert_eq!(read_all(&fs, "example.com/ok@v1.0.0/go.mod", 4096).unwrap(), ok.gomod());
}
