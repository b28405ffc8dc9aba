//! The store and importer against the real `go` command (Debian Go 1.19) on the
//! small real-code corpus.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// `modcachefs ls --json` as path@version -> the JSON line.
fn ls(store: &Path) -> BTreeMap<String, String> {
    let out = modcachefs(&["--store", &store.to_string_lossy(), "ls", "--json"]);
    assert!(out.status.success(), "ls: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let field = |k: &str| {
                let key = format!("\"{k}\":\"");
                let i = l.find(&key).unwrap_or_else(|| panic!("no {k} in {l}")) + key.len();
                l[i..].split('"').next().unwrap_or_default().to_string()
            };
            (format!("{}@{}", field("path"), field("version")), l.to_string())
        })
        .collect()
}

fn field<'a>(line: &'a str, k: &str) -> Option<&'a str> {
    let key = format!("\"{k}\":\"");
    let i = line.find(&key)? + key.len();
    line[i..].split('"').next()
}

fn counts(report: &str) -> (u64, u64, u64) {
    let n = |k: &str| -> u64 {
        let key = format!("\"{k}\":");
        let i = report.find(&key).unwrap_or_else(|| panic!("no {k} in {report}")) + key.len();
        report[i..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().expect("number")
    };
    (n("added"), n("completed"), n("unchanged"))
}

/// go resolves and builds the app offline from the corpus; the go.sum it writes
/// has exactly the hashes our import computed. Then the GOMODCACHE that go filled
/// imports to the same modules, and re-imports change nothing.
#[test]
fn go_sum_agrees_with_import_and_modcache_import_matches_proxy_import() {
    let tmp = tempdir("store-oracle");
    let store = corpus_store(tmp.path());
    let stored = ls(&store);
    assert!(stored.len() > 100, "small corpus has >100 module versions, got {}", stored.len());

    let app = app_copy(tmp.path());
    let modcache = tmp.path().join("gomodcache");
    let proxy_url = format!("file://{}", proxy().display());
    let go = Go::new(&go_old(), &modcache, &shared_gocache(), &proxy_url);
    go.run(&app, &["build", "./..."]);
    // Every zip-backed module of the corpus (go.mod-only versions have no zip to fetch).
    let zip_modules: Vec<&String> = stored.iter().filter(|(_, l)| l.contains("zip_size")).map(|(k, _)| k).collect();
    let mut args = vec!["mod", "download"];
    args.extend(zip_modules.iter().map(|s| s.as_str()));
    go.run(&app, &args);

    let sum = std::fs::read_to_string(app.join("go.sum")).expect("go wrote go.sum");
    let mut checked = 0;
    for line in sum.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "go.sum line {line:?}");
        let (v, key) = match f[1].strip_suffix("/go.mod") {
            Some(v) => (v, "mod_h1"),
            None => (f[1], "zip_h1"),
        };
        let row = stored
            .get(&format!("{}@{v}", f[0]))
            .unwrap_or_else(|| panic!("go.sum names {} {v}, not in the store", f[0]));
        assert_eq!(field(row, key), Some(f[2]), "hash for {line:?}; store has {row}");
        checked += 1;
    }
    assert!(checked > 50, "only {checked} go.sum lines");

    // Importing the GOMODCACHE go filled: same modules, same hashes and blobs.
    let store2 = tmp.path().join("store2");
    let rep = import(&store2, &[&modcache]);
    let from_cache = ls(&store2);
    assert!(from_cache.len() > 50, "{rep}");
    for (k, line) in &from_cache {
        let want = stored.get(k).unwrap_or_else(|| panic!("{k} from GOMODCACHE is not in the proxy import"));
        for f in ["mod_h1", "zip_h1"] {
            assert_eq!(field(line, f), field(want, f), "{k} {f}");
        }
        assert!(
            line.contains("\"zip_h1_origin\":\".ziphash\"") || !line.contains("zip_h1_origin"),
            "a zip imported from a GOMODCACHE records its .ziphash as origin: {line}"
        );
    }
    let zips_in_cache = from_cache.values().filter(|l| l.contains("zip_size")).count();
    let zips_in_store = stored.values().filter(|l| l.contains("zip_size")).count();
    assert_eq!(zips_in_cache, zips_in_store, "go mod download all fetched every zip of the corpus");

    // Re-importing changes nothing, whichever source.
    let before = std::fs::read(store.join("index.db")).expect("index");
    for src in [proxy(), modcache.clone()] {
        let rep = import(&store, &[&src]);
        let (added, completed, _) = counts(&rep);
        assert_eq!((added, completed), (0, 0), "re-import of {} changed the store: {rep}", src.display());
    }
    assert_eq!(ls(&store), stored);
    let after = std::fs::read(store.join("index.db")).expect("index");
    assert_eq!(before.len(), after.len(), "index grew on a no-op re-import");
}

/// A store opens for serving from a read-only directory, and a store from a
/// newer schema is refused with a clear message.
#[test]
fn read_only_store_and_newer_schema() {
    let tmp = tempdir("store-ro");
    let store = corpus_store(tmp.path());
    // Checkpoint happened at close; make the whole store read-only for everyone
    // but root... root ignores modes, so use a read-only bind mount instead.
    let ro = tmp.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let st = std::process::Command::new("mount").args(["--bind", "-o", "ro"]).arg(&store).arg(&ro).status().unwrap();
    assert!(st.success(), "bind mount");
    let out = modcachefs(&["--store", &ro.to_string_lossy(), "ls", "--json"]);
    let out2 = modcachefs(&["--store", &ro.to_string_lossy(), "verify"]);
    let _ = std::process::Command::new("umount").arg(&ro).status();
    assert!(out.status.success(), "ls on read-only store: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 100);
    assert!(out2.status.success(), "verify on read-only store: {}", String::from_utf8_lossy(&out2.stderr));

    let conn = rusqlite::Connection::open(store.join("index.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let out = modcachefs(&["--store", &store.to_string_lossy(), "ls"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer modcachefs") && err.contains("schema 99"), "{err}");
}

/// `verify` finds a corrupted blob and a missing blob, and says which module.
#[test]
fn verify_reports_damaged_blobs() {
    let tmp = tempdir("store-verify");
    let store = corpus_store(tmp.path());
    let out = modcachefs(&["--store", &store.to_string_lossy(), "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = ls(&store);
    let (victim, line) =
        rows.iter().find(|(k, l)| k.starts_with("github.com/google/uuid@") && l.contains("zip_size")).unwrap();
    let conn = rusqlite::Connection::open(store.join("index.db")).unwrap();
    let blob: String = conn
        .query_row("SELECT zip_blob FROM modules WHERE path || '@' || version = ?1", [victim], |r| r.get(0))
        .unwrap();
    let p = store.join("blobs").join(&blob[..2]).join(&blob[2..]);
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    let out = modcachefs(&["--store", &store.to_string_lossy(), "verify"]);
    assert_eq!(out.status.code(), Some(1), "{line}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(victim.as_str()) && err.contains("corrupt"), "{err}");
    std::fs::remove_file(&p).unwrap();
    let out = modcachefs(&["--store", &store.to_string_lossy(), "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let js = String::from_utf8_lossy(&out.stdout);
    assert!(js.contains(victim.as_str()) && js.contains("missing"), "{js}");
}
