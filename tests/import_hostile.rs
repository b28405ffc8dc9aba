//! The importer against hostile input, run as the real binary: adversarial zips
//! (loose and inside a GOPROXY tree) are refused each with its own message and
//! leave the store exactly as it was; recorded hashes (.ziphash, go.sum) that
//! disagree are errors; SIGKILL at any moment never leaves half a module; a store
//! whose index is garbage or truncated is a one-line setup error.

mod common;

use common::zipgen::{self, build, deflated, hostile_zips, module_zip, stored, Hostile};
use common::*;
use modcachefs::gomod::h1::{hash1_gomod, hex, sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// --- running the binary ----------------------------------------------------

fn import_paths(store: &Path, paths: &[&Path]) -> Run {
    run_store(store, &["import"], paths)
}

fn str_field(line: &str, k: &str) -> String {
    json_str(line, k).unwrap_or_else(|| panic!("no {k} in {line}")).to_string()
}

// --- exact store snapshots -------------------------------------------------

fn ro_segment(seg: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(seg, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the index")
}

/// Every row of a query, each column rendered with its SQLite type.
fn dump(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut st = conn.prepare(sql).expect("prepare");
    let n = st.column_count();
    st.query_map([], |r| {
        let cols: Vec<String> = (0..n)
            .map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
            .collect::<Result<_, _>>()?;
        Ok(cols.join(" | "))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// (relative path, sha256) of every file under `dir`, sorted; empty if `dir` is missing.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let files = tree(dir).into_iter().filter(|(_, m)| !m.is_dir());
    files.map(|(rel, _)| (rel.clone(), hex(&sha256(&std::fs::read(dir.join(&rel)).expect("read"))))).collect()
}

/// Everything an import could change, byte for byte.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Snapshot {
    blobs: Vec<(String, String)>,
    tmp: Vec<(String, String)>,
    ls: String,
    modules: Vec<String>,
    sums: Vec<String>,
    entries: i64,
}

impl Snapshot {
    fn take(store: &Path) -> Snapshot {
        let r = run_store(store, &["ls", "--json"], &[]);
        assert_eq!(r.code, 0, "ls: {}", r.stderr);
        // The union over the index segments (each import adds one).
        let (mut modules, mut sums, mut entries) = (Vec::new(), Vec::new(), 0);
        for seg in index_segments(store) {
            let conn = ro_segment(&seg);
            modules.extend(dump(&conn, "SELECT * FROM modules ORDER BY id"));
            sums.extend(dump(&conn, "SELECT * FROM sums"));
            entries +=
                conn.query_row("SELECT count(*) FROM entries", [], |r| r.get::<_, i64>(0)).expect("count entries");
        }
        sums.sort();
        Snapshot {
            blobs: files_under(&store.join("blobs")),
            tmp: files_under(&store.join("tmp")),
            ls: r.stdout,
            modules,
            sums,
            entries,
        }
    }

    /// Panics naming what differs (the blob list alone can be thousands of lines).
    #[track_caller]
    fn assert_same(&self, other: &Snapshot, what: &str) {
        let new_blobs: Vec<_> = other.blobs.iter().filter(|b| !self.blobs.contains(b)).collect();
        let gone_blobs: Vec<_> = self.blobs.iter().filter(|b| !other.blobs.contains(b)).collect();
        assert!(
            new_blobs.is_empty() && gone_blobs.is_empty(),
            "{what}: blobs added {new_blobs:?}, removed {gone_blobs:?}"
        );
        assert_eq!(self.tmp, other.tmp, "{what}: store tmp/ changed");
        assert_eq!(self.ls, other.ls, "{what}: ls --json changed");
        assert_eq!(self.modules, other.modules, "{what}: modules table changed");
        assert_eq!(self.sums, other.sums, "{what}: sums table changed");
        assert_eq!(self.entries, other.entries, "{what}: entries count changed");
    }
}

fn blob_name(data: &[u8]) -> String {
    let h = hex(&sha256(data));
    format!("{}/{}", &h[..2], &h[2..])
}

/// A small valid module zip with a go.mod and one source file.
fn good_zip(module: &str, version: &str, source: &str) -> Vec<u8> {
    module_zip(module, version, source, deflated())
}

// --- 1. adversarial zips -----------------------------------------------------

/// Each case is refused by the validator itself with its needle, and no needle
/// matches another case's message: the messages are distinct.
fn check_catalogue(cases: &[Hostile]) -> BTreeMap<&'static str, String> {
    let mut messages = BTreeMap::new();
    for c in cases {
        let msg = match modcachefs::zip::inspect(&c.zip, &c.module, &c.version) {
            Ok(_) => panic!("{}: accepted by modcachefs::zip::inspect", c.case),
            Err(e) => e.to_string(),
        };
        assert!(msg.contains(c.needle), "{}: {msg:?} lacks {:?}", c.case, c.needle);
        assert!(messages.insert(c.case, msg).is_none(), "case {} twice", c.case);
    }
    for c in cases {
        for (other, msg) in &messages {
            assert!(*other == c.case || !msg.contains(c.needle), "needle of {} also matches {other}: {msg}", c.case);
        }
    }
    messages
}

#[test]
fn hostile_zips_are_refused_and_store_unchanged() {
    let tmp = tempdir("import-hostile");
    let store = corpus_store(tmp.path());
    let before = Snapshot::take(&store);
    assert!(before.blobs.len() > 100 && before.entries > 1000, "corpus store is too small: {before:?}");
    assert!(before.tmp.is_empty(), "tmp/ not empty after a clean import: {:?}", before.tmp);

    // Loose zips, one import each.
    let cases = hostile_zips(|_| zipgen::M.to_string());
    assert!(cases.len() >= 26, "catalogue has {} cases", cases.len());
    // The zip-format attacks, each refused with its own message (check_catalogue).
    for case in [
        "overlap",
        "local-name",
        "local-sizes",
        "zip64-lie",
        "zip64-extra",
        "huge-count",
        "long-name",
        "zip-bomb",
        "honest-bomb",
    ] {
        assert!(cases.iter().any(|c| c.case == case), "no {case:?} case in the catalogue");
    }
    check_catalogue(&cases);
    let anonymous: Vec<&str> =
        cases.iter().filter(|c| modcachefs::zip::module_of(&c.zip).is_none()).map(|c| c.case).collect();
    assert_eq!(
        anonymous,
        ["truncated", "zip64-lie", "zip64-extra", "huge-count"],
        "zips that cannot name their module"
    );
    let loose = tmp.path().join("loose");
    std::fs::create_dir_all(&loose).unwrap();
    for c in &cases {
        let zp = loose.join(format!("{}.zip", c.case));
        std::fs::write(&zp, &c.zip).unwrap();
        let r = import_paths(&store, &[&zp]);
        assert_eq!(r.code, 1, "{}: exit code, stderr:\n{}", c.case, r.stderr);
        // A zip without a readable directory (truncated, lying end records) cannot say
        // which module it is: the message names the file instead, and still says what
        // is wrong with it.
        let who = match modcachefs::zip::module_of(&c.zip) {
            None => zp.display().to_string(),
            Some(_) => format!("{}@{}", c.module, c.version),
        };
        stderr_line(&r.stderr, &who, &[c.needle]);
        for o in cases.iter().filter(|o| o.case != c.case) {
            assert!(
                !r.stderr.contains(o.needle),
                "{}: stderr also says {:?} (of {}):\n{}",
                c.case,
                o.needle,
                o.case,
                r.stderr
            );
        }
        assert!(r.stderr.contains("1 errors"), "{}: summary:\n{}", c.case, r.stderr);
        before.assert_same(&Snapshot::take(&store), c.case);
    }

    // The same cases in a GOPROXY tree, each with a valid .mod, beside one good module.
    let proxy = tmp.path().join("proxy");
    let tree = hostile_zips(|case| format!("example.com/hostile/{case}"));
    check_catalogue(&tree);
    for c in &tree {
        put_proxy_file(&proxy, &c.module, &c.version, "zip", &c.zip);
        put_proxy_file(&proxy, &c.module, &c.version, "mod", format!("module {}\n", c.module).as_bytes());
    }
    let good = "example.com/hostile/good";
    let (good_zip, good_mod) = (good_zip(good, "v1.0.0", "package a\n"), format!("module {good}\n"));
    put_proxy_file(&proxy, good, "v1.0.0", "zip", &good_zip);
    put_proxy_file(&proxy, good, "v1.0.0", "mod", good_mod.as_bytes());
    put_proxy_file(&proxy, good, "v1.0.0", "info", br#"{"Version":"v1.0.0","Time":"2021-01-02T03:04:05Z"}"#);

    let r = import_paths(&store, &[&proxy]);
    assert_eq!(r.code, 1, "a tree with bad modules must exit 1:\n{}", r.stderr);
    for c in &tree {
        if c.case == "non-canonical" {
            // Not a version a proxy can serve: discover() does not even list it.
            continue;
        }
        stderr_line(&r.stderr, &format!("{}@{}", c.module, c.version), &[c.needle]);
    }
    assert!(r.stderr.contains("imported 1 new"), "summary:\n{}", r.stderr);

    let after = Snapshot::take(&store);
    let listed = ls_json(&store);
    let hostile: Vec<_> = listed.keys().filter(|k| k.starts_with("example.com/hostile/")).collect();
    assert_eq!(hostile, [&format!("{good}@v1.0.0")], "only the good module is stored");
    let line = &listed[&format!("{good}@v1.0.0")];
    assert_eq!(json_num(line, "files"), Some(2), "{line}");
    assert_eq!(str_field(line, "zip_h1"), modcachefs::zip::inspect(&good_zip, good, "v1.0.0").unwrap().h1);
    assert_eq!(str_field(line, "mod_h1"), hash1_gomod(good_mod.as_bytes()));

    // Exactly the good module's two blobs are new, nothing else changed.
    let new_blobs: BTreeSet<&str> =
        after.blobs.iter().filter(|b| !before.blobs.contains(b)).map(|(n, _)| n.as_str()).collect();
    let (zb, mb) = (blob_name(&good_zip), blob_name(good_mod.as_bytes()));
    assert_eq!(new_blobs, BTreeSet::from([zb.as_str(), mb.as_str()]));
    assert!(before.blobs.iter().all(|b| after.blobs.contains(b)), "a blob disappeared");
    assert!(after.tmp.is_empty(), "tmp/ left behind: {:?}", after.tmp);
    assert_eq!(after.entries, before.entries + 2);
    assert_eq!(after.sums, before.sums);
    assert_eq!(after.modules.len(), before.modules.len() + 1);
    assert_eq!(after.modules[..before.modules.len()], before.modules[..], "existing rows changed");
}

/// A go.mod-only version (no zip) in a GOPROXY tree passes the same module path and
/// version rules as one with a zip: a path cmd/go would refuse never enters the store.
#[test]
fn mod_only_modules_with_invalid_paths_are_refused() {
    let tmp = tempdir("import-modonly");
    let (proxy, store) = (tmp.path().join("proxy"), tmp.path().join("store"));
    let bad = [
        ("nodot/x", "v1.0.0", "missing dot in first path element"),
        ("Example.com/m", "v1.0.0", "invalid char 'E' in first path element"),
        ("example.com/major", "v2.0.0", "should be v0 or v1, not v2"),
        ("example.com/git~1", "v1.0.0", "trailing tilde and digits"),
    ];
    for (m, v, needle) in bad {
        put_proxy_file(&proxy, m, v, "mod", format!("module {m}\n").as_bytes());
        // With a zip, the zip validator already refuses it with the same rule.
        match modcachefs::zip::inspect(&good_zip(m, v, "package x\n"), m, v) {
            Ok(_) => panic!("{m}@{v}: zip accepted"),
            Err(e) => assert!(e.to_string().contains(needle), "{m}@{v}: {e}"),
        }
    }
    let good = "example.com/modonly";
    put_proxy_file(&proxy, good, "v1.0.0", "mod", format!("module {good}\n").as_bytes());

    let r = import_paths(&store, &[&proxy]);
    assert_eq!(r.code, 1, "invalid module paths must be errors:\n{}", r.stderr);
    for (m, v, needle) in bad {
        stderr_line(&r.stderr, &format!("{m}@{v}"), &[needle]);
    }
    let listed = ls_json(&store);
    assert_eq!(listed.keys().collect::<Vec<_>>(), [&format!("{good}@v1.0.0")], "only the valid module is stored");
}

// --- 2. recorded hashes that disagree ----------------------------------------

#[test]
fn recorded_hash_mismatch_is_an_error() {
    let tmp = tempdir("import-mismatch");
    let t = tmp.path();
    let store = t.join("store");

    // A GOMODCACHE whose .ziphash is wrong.
    let m = "example.com/hm";
    let zip = good_zip(m, "v1.0.0", "package hm\n");
    let right = modcachefs::zip::inspect(&zip, m, "v1.0.0").unwrap().h1;
    let wrong = modcachefs::zip::inspect(&good_zip(m, "v1.0.0", "package hm // other\n"), m, "v1.0.0").unwrap().h1;
    assert_ne!(right, wrong);
    let dl = t.join("gomodcache/cache/download");
    put_proxy_file(&dl, m, "v1.0.0", "mod", format!("module {m}\n").as_bytes());
    put_proxy_file(&dl, m, "v1.0.0", "zip", &zip);
    put_proxy_file(&dl, m, "v1.0.0", "info", br#"{"Version":"v1.0.0","Time":"2021-01-02T03:04:05Z"}"#);
    let ziphash = put_proxy_file(&dl, m, "v1.0.0", "ziphash", wrong.as_bytes());
    let gomodcache = t.join("gomodcache");
    let r = import_paths(&store, &[&gomodcache]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    stderr_line(&r.stderr, &format!("{m}@v1.0.0"), &[".ziphash", &wrong, &right]);
    assert!(ls_json(&store).is_empty(), "module stored despite its .ziphash");
    assert!(files_under(&store.join("blobs")).is_empty(), "blobs written for a refused module");
    assert!(files_under(&store.join("tmp")).is_empty());

    // Corrected, it imports, and the hash is known to come from the .ziphash.
    std::fs::write(&ziphash, format!("{right}\n")).unwrap();
    let r = import_paths(&store, &[&gomodcache]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = ls_json(&store)[&format!("{m}@v1.0.0")].clone();
    assert_eq!(str_field(&line, "zip_h1_origin"), ".ziphash");

    // A go.sum that contradicts the stored module: an error naming the go.sum, no sum kept.
    let bad_sum = t.join("bad/go.sum");
    std::fs::create_dir_all(bad_sum.parent().unwrap()).unwrap();
    let mod_wrong = hash1_gomod(b"module example.com/other\n");
    std::fs::write(&bad_sum, format!("{m} v1.0.0 {wrong}\n{m} v1.0.0/go.mod {mod_wrong}\n")).unwrap();
    let snap = Snapshot::take(&store);
    let r = import_paths(&store, &[&bad_sum]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let sum_name = bad_sum.display().to_string();
    stderr_line(&r.stderr, &format!("{m}@v1.0.0"), &[&sum_name, &wrong, &right]);
    stderr_line(
        &r.stderr,
        &format!("{m}@v1.0.0"),
        &[&sum_name, &mod_wrong, &hash1_gomod(format!("module {m}\n").as_bytes())],
    );
    snap.assert_same(&Snapshot::take(&store), "contradicting go.sum");
    assert!(snap.sums.is_empty());

    // A go.sum imported first; a zip that contradicts it later is refused.
    let g = "example.com/gs";
    let (zip_a, zip_b) = (good_zip(g, "v1.0.0", "package gs\n"), good_zip(g, "v1.0.0", "package gs // tampered\n"));
    let (h_a, h_b) = (
        modcachefs::zip::inspect(&zip_a, g, "v1.0.0").unwrap().h1,
        modcachefs::zip::inspect(&zip_b, g, "v1.0.0").unwrap().h1,
    );
    let trusted = t.join("trusted/go.sum");
    std::fs::create_dir_all(trusted.parent().unwrap()).unwrap();
    let gomod_h1 = hash1_gomod(format!("module {g}\n").as_bytes());
    std::fs::write(&trusted, format!("{g} v1.0.0 {h_a}\n{g} v1.0.0/go.mod {gomod_h1}\n")).unwrap();
    let r = import_paths(&store, &[&trusted]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("2 new sums"), "{}", r.stderr);

    let snap = Snapshot::take(&store);
    assert_eq!(snap.sums.len(), 2);
    let b_path = t.join("b.zip");
    std::fs::write(&b_path, &zip_b).unwrap();
    let r = import_paths(&store, &[&b_path]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    stderr_line(
        &r.stderr,
        &format!("{g}@v1.0.0"),
        &["contradicts the trusted sum", &h_a, &h_b, &trusted.display().to_string()],
    );
    snap.assert_same(&Snapshot::take(&store), "zip contradicting a go.sum");

    // Its go.mod contradicting the go.sum is refused the same way.
    let c_path = t.join("c.zip");
    let p = format!("{g}@v1.0.0/");
    let zip_c = build(
        &[(&format!("{p}go.mod"), b"module example.com/gs // changed\n"), (&format!("{p}a.go"), b"package gs\n")],
        stored(),
    );
    std::fs::write(&c_path, &zip_c).unwrap();
    let r = import_paths(&store, &[&c_path]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    stderr_line(&r.stderr, &format!("{g}@v1.0.0"), &["go.mod hash", "contradicts the trusted sum", &gomod_h1]);
    snap.assert_same(&Snapshot::take(&store), "go.mod contradicting a go.sum");

    // The zip the go.sum names imports, credited to it.
    let a_path = t.join("a.zip");
    std::fs::write(&a_path, &zip_a).unwrap();
    let r = import_paths(&store, &[&a_path]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = ls_json(&store)[&format!("{g}@v1.0.0")].clone();
    assert_eq!(str_field(&line, "zip_h1"), h_a);
    assert_eq!(str_field(&line, "zip_h1_origin"), format!("go.sum:{}", trusted.display()));
    assert_eq!(str_field(&line, "mod_h1_origin"), format!("go.sum:{}", trusted.display()));
}

// --- 3. SIGKILL during import ---------------------------------------------------

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// The store is consistent: `verify` passes, every zip module has exactly its
/// `files` entries, and every blob on disk (referenced or not) matches its name.
#[track_caller]
fn assert_consistent(store: &Path, what: &str) -> BTreeMap<String, String> {
    let r = run_store(store, &["verify"], &[]);
    assert_eq!(r.code, 0, "{what}: verify failed:\n{}", r.stderr);
    let listed = ls_json(store);
    let st = modcachefs::store::Store::open_ro(store).expect("open the store");
    for (mv, line) in &listed {
        let Some(files) = json_num(line, "files") else {
            assert!(line.contains("\"zip_h1\":null"), "{what}: {line}");
            continue;
        };
        let (path, version) = (str_field(line, "path"), str_field(line, "version"));
        let m = st.find_module(&path, &version).expect("find_module").expect("listed module found");
        let rows = st.entries(m.id).expect("entries").len() as u64;
        assert_eq!(rows, files, "{what}: {mv} has {rows} entry rows, ls says {files} files");
    }
    for (name, sum) in files_under(&store.join("blobs")) {
        assert_eq!(name.replace('/', ""), *sum, "{what}: blob {name} does not hold what its name says");
    }
    listed
}

/// Tiny modules `example.com/kill/mNNNN`, enough that an import of them and the
/// corpus commits several batches, so that kills also land between commits.
fn synthetic_tree(root: &Path, n: usize) {
    for i in 0..n {
        let m = format!("example.com/kill/m{i:04}");
        put_module(root, &m, "v1.0.0", &good_zip(&m, "v1.0.0", &format!("package m // {i}\n")));
    }
}

fn start_import(store: &Path, inputs: &[&Path]) -> std::process::Child {
    Command::new(BIN)
        .arg("--store")
        .arg(store)
        .arg("import")
        .args(inputs)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start import")
}

/// SIGKILLs `child` unless it has already exited; whether it was killed. An import
/// that ended by itself must have succeeded.
#[track_caller]
fn kill_or_reap(mut child: std::process::Child, what: &str) -> bool {
    child.kill().expect("SIGKILL import");
    let status = child.wait().expect("wait import");
    if status.code().is_none() {
        return true;
    }
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut err).expect("read stderr");
    assert_eq!(status.code(), Some(0), "{what}: import failed on its own:\n{err}");
    false
}

/// Modules published so far, read while an import may be running; None while
/// there is no index yet.
fn committed(store: &Path) -> Option<i64> {
    let st = modcachefs::store::Store::open_ro(store).ok()?;
    st.module_count().ok().map(|n| n as i64)
}

#[test]
fn kill_during_import_never_leaves_half_a_module() {
    let tmp = tempdir("import-kill");
    let (proxy, synth) = (proxy(), tmp.path().join("synth"));
    synthetic_tree(&synth, 700);
    let inputs = [proxy.as_path(), synth.as_path()];

    let clean_store = tmp.path().join("clean");
    let t0 = Instant::now();
    let r = import_paths(&clean_store, &inputs);
    let full = t0.elapsed();
    assert_eq!(r.code, 0, "clean import: {}", r.stderr);
    let clean = ls_json(&clean_store);
    assert!(clean.len() > 800, "corpus + synthetic modules: only {}", clean.len());

    let store = tmp.path().join("store");
    let mut outcomes = Vec::new();
    // 10 rounds in the normal suite; MODCACHEFS_KILL_ROUNDS=50 for the reliability table.
    let rounds: u64 = std::env::var("MODCACHEFS_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    for round in 0..rounds {
        let mut rng = (round + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let fresh = round % 2 == 0;
        if fresh && store.exists() {
            std::fs::remove_dir_all(&store).unwrap();
        }
        // Anywhere from before it starts to a little after a clean import would end.
        let delay = Duration::from_millis(xorshift(&mut rng) % (full.as_millis() as u64 * 6 / 5).max(1));
        // A reused store may have no index yet either: the round before was killed
        // before it made one.
        let had_index = store.join("index/CURRENT").exists();
        let child = start_import(&store, &inputs);
        std::thread::sleep(delay);
        let what = format!("round {round} ({} store, SIGKILL after {delay:?})", if fresh { "fresh" } else { "reused" });
        let killed = kill_or_reap(child, &what);
        if !store.join("index/CURRENT").exists() {
            // Killed before it published anything: no store, and readers say so.
            assert!(!had_index && killed, "{what}: index/CURRENT vanished");
            let r = run_store(&store, &["ls"], &[]);
            assert_eq!(r.code, 2, "{what}: ls without an index: {}", r.stderr);
            assert!(r.stderr.contains("no modcachefs store here"), "{what}: {}", r.stderr);
            outcomes.push((round, killed, 0));
            continue;
        }
        let listed = assert_consistent(&store, &what);
        for (mv, line) in &listed {
            assert_eq!(clean.get(mv), Some(line), "{what}: {mv} differs from a clean import");
        }
        outcomes.push((round, killed, listed.len()));
    }
    assert!(outcomes.iter().any(|o| o.1), "no round was killed before the import ended: {outcomes:?}");

    // One more kill, right after the first batch is visible: between two commits.
    std::fs::remove_dir_all(&store).unwrap();
    let child = start_import(&store, &inputs);
    let t0 = Instant::now();
    let mut seen = None;
    while t0.elapsed() < full * 10 {
        seen = committed(&store).filter(|&n| n > 0);
        if seen.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(kill_or_reap(child, "mid-import kill"), "the import ended before it could be killed: {seen:?}");
    let listed = assert_consistent(&store, "killed after the first commit");
    assert!(
        !listed.is_empty() && listed.len() < clean.len(),
        "killed after the first commit ({seen:?} seen), yet {} of {} modules are stored",
        listed.len(),
        clean.len()
    );
    for (mv, line) in &listed {
        assert_eq!(clean.get(mv), Some(line), "after the mid-import kill: {mv} differs from a clean import");
    }

    // A normal import finishes the job.
    let r = import_paths(&store, &inputs);
    assert_eq!(r.code, 0, "final import:\n{}", r.stderr);
    let listed = assert_consistent(&store, "after the final import");
    assert_eq!(listed.len(), clean.len());
    assert_eq!(listed, clean, "the killed-and-resumed store differs from a clean import");
    eprintln!("kill rounds (round, killed, modules visible of {}): {outcomes:?}", clean.len());
}

// --- 4. an index that is not an index ----------------------------------------------

#[test]
fn garbage_or_truncated_index_is_a_setup_error() {
    let tmp = tempdir("import-garbage");
    let t = tmp.path();
    let zp = t.join("m.zip");
    std::fs::write(&zp, good_zip("example.com/g", "v1.0.0", "package g\n")).unwrap();

    // A real, small store, then its index cut to its first page.
    let real = t.join("real");
    assert_eq!(import_paths(&real, &[&zp]).code, 0);
    let index = std::fs::read(index_db(&real)).unwrap();
    assert!(index.len() > 4096, "index.db is only {} bytes", index.len());

    let garbage: Vec<u8> = (0..100u32).map(|i| (i * 37 % 251) as u8).collect();
    for (name, bytes) in [("garbage", garbage), ("truncated", index[..4096].to_vec())] {
        let store = t.join(name);
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        let idx = store.join("index.db");
        std::fs::write(&idx, &bytes).unwrap();
        for args in [&["ls"][..], &["ls", "--json"], &["verify"], &["import", zp.to_str().unwrap()]] {
            let r = run_store(&store, args, &[]);
            assert_eq!(r.code, 2, "{name}: {args:?} must be a setup error:\n{}", r.stderr);
            let lines: Vec<&str> = r.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{name}: {args:?}: want one line of error:\n{}", r.stderr);
            assert!(
                lines[0].contains(&idx.display().to_string()),
                "{name}: {args:?}: error does not name index.db: {}",
                lines[0]
            );
            assert!(r.stdout.is_empty(), "{name}: {args:?} printed {}", r.stdout);
            assert_eq!(std::fs::read(&idx).unwrap(), bytes, "{name}: {args:?} changed index.db");
            assert!(files_under(&store.join("blobs")).is_empty(), "{name}: {args:?} wrote blobs");
        }
    }
}
