//! Offline builds with GOSUMDB on: a real checksum database on loopback
//! (scripts/sumdb-test-server, golang.org/x/mod's sumdb server over a fixed tree
//! of the corpus's go.sum records), the real `go` online once, then offline
//! through the mount and through `modcachefs serve`; and what import refuses,
//! leaving the store unchanged.

mod common;
#[path = "common/http.rs"]
mod http;

use common::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const DB: &str = "sumdb.test";
/// Filler records after the corpus's: the tree then spans three level-0 tiles and
/// a level-1 tile, so proofs cross tiles and levels.
const PAD: &str = "600";

/// Builds the test database in GOPATH mode, as scripts/zipcheck is built.
fn server_bin(tmp: &Path) -> PathBuf {
    let out = tmp.join("sumdb-test-server");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sumdb-test-server");
    let st = Command::new(go_old())
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", shared_gocache())
        .env("GOFLAGS", "")
        .output()
        .expect("go build sumdb-test-server");
    ok(&st, "go build scripts/sumdb-test-server (needs golang-golang-x-mod-dev)");
    out
}

/// Writes a database's files (`supported`, `lookup/...`, `tile/...`) into `dir`;
/// returns its verifier key.
fn dump(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).arg("-corpus").arg(proxy()).arg("-dump").arg(dir).args(args).output().expect("dump");
    let s = ok(&out, "sumdb-test-server -dump");
    s.trim().strip_prefix("key ").expect("key line").to_string()
}

/// A running test database, killed on drop.
struct Server {
    child: std::process::Child,
    key: String,
    url: String,
}

impl Server {
    fn start(bin: &Path) -> Server {
        let mut child = Command::new(bin)
            .arg("-corpus")
            .arg(proxy())
            .args(["-name", DB, "-pad", PAD])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start sumdb-test-server");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut next = |p: &str| {
            let l = lines.next().expect("server output").expect("read");
            l.strip_prefix(p).unwrap_or_else(|| panic!("server said {l:?}")).to_string()
        };
        let key = next("key ");
        let url = next("url ");
        Server { child, key, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mcfs(store: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("--store").arg(store).args(args).output().expect("run modcachefs")
}

fn app_without_go_sum(dir: &Path) -> PathBuf {
    let app = app_copy(dir);
    let _ = std::fs::remove_file(app.join("go.sum"));
    app
}

/// Online once with the database up, then offline through the mount, with
/// GOSUMDB on and an empty go.sum: both Go versions build and write the online go.sum.
#[test]
fn offline_build_keeps_gosumdb_on() {
    let tmp = tempdir("sumdb-offline");
    let t = tmp.path();
    let bin = server_bin(t);
    let online_sum = {
        let server = Server::start(&bin);
        let cache = t.join("online-modcache");
        let mut go = Go::new(&go_old(), &cache, &shared_gocache(), &format!("file://{}", proxy().display()));
        go.envs.retain(|(k, _)| !matches!(k.as_str(), "GONOSUMDB" | "GOSUMDB" | "GOPATH"));
        go.envs.push(("GOSUMDB".into(), format!("{} {}", server.key, server.url)));
        go.envs.push(("GOPATH".into(), t.join("online-gopath").to_string_lossy().into_owned()));
        let app = app_without_go_sum(&t.join("online"));
        go.run(&app, &["build", "./..."]);
        let sum = std::fs::read_to_string(app.join("go.sum")).expect("online go.sum");
        assert!(sum.lines().count() > 20, "online go.sum too small:\n{sum}");
        let lookups = cache.join("cache/download/sumdb").join(DB).join("lookup");
        assert!(lookups.is_dir(), "go kept no lookups in {}", lookups.display());
        // Database stopped; import that cache.
        let key = server.key.clone();
        drop(server);
        let store = t.join("store");
        let out = mcfs(&store, &["import", "--sumdb-key", &key, &cache.to_string_lossy()]);
        ok(&out, "import the online cache");
        (sum, store, key)
    };
    let (online_sum, store, key) = online_sum;

    // Every module's hashes come from the database.
    let ls = ok(&mcfs(&store, &["ls", "--json"]), "ls");
    let n = ls.lines().count();
    assert!(n > 20);
    let from_db = format!("\"sumdb {DB}\"");
    for l in ls.lines() {
        assert!(l.contains(&format!("\"mod_h1_origin\":{from_db}")), "go.mod hash not from the database: {l}");
        assert!(l.contains(&format!("\"zip_h1_origin\":{from_db}")), "zip hash not from the database: {l}");
    }
    let v = ok(&mcfs(&store, &["verify", "--json"]), "verify");
    assert!(v.contains(&format!("\"sumdb_records\":{n},")), "{v}");

    let mnt = t.join("mnt");
    let m = Mount::new(&store, &mnt, &[]);
    assert!(mnt.join("cache/download/sumdb").join(DB).join("supported").is_file());
    let env = ok(&mcfs(&store, &["env", &mnt.to_string_lossy()]), "env");
    assert!(env.contains(&format!("export GOSUMDB='{key}'")), "{env}");
    for (label, gobin) in gos() {
        let dir = t.join(format!("offline-{label}"));
        let app = app_without_go_sum(&dir);
        // A fresh GOPATH (no `latest` tree yet); the build cache is shared, but
        // module loading and its go.sum checks happen before any of it is used.
        let gopath = dir.join("gopath");
        let mut go = Go::new(&gobin, &mnt, &shared_gocache(), "off");
        go.envs.retain(|(k, _)| !matches!(k.as_str(), "GONOSUMDB" | "GOSUMDB" | "GOPATH"));
        go.envs.push(("GOSUMDB".into(), key.clone()));
        go.envs.push(("GOPATH".into(), gopath.to_string_lossy().into_owned()));
        go.run(&app, &["build", "./..."]);
        let sum = std::fs::read_to_string(app.join("go.sum")).expect("offline go.sum");
        assert_eq!(sum, online_sum, "go {label} wrote another go.sum offline");
        let latest = gopath.join("pkg/sumdb").join(DB).join("latest");
        assert!(latest.is_file(), "go {label} verified nothing against the database ({} missing)", latest.display());
    }
    // The mount as a GOPROXY for a writable cache serves the database too.
    let dir = t.join("via-proxy");
    let app = app_without_go_sum(&dir);
    let mut go = Go::new(
        &go_old(),
        &dir.join("modcache"),
        &shared_gocache(),
        &format!("file://{}/cache/download", mnt.display()),
    );
    go.envs.retain(|(k, _)| !matches!(k.as_str(), "GONOSUMDB" | "GOSUMDB" | "GOPATH"));
    go.envs.push(("GOSUMDB".into(), key.clone()));
    go.envs.push(("GOPATH".into(), dir.join("gopath").to_string_lossy().into_owned()));
    go.run(&app, &["list", "-deps", "./..."]);
    assert_eq!(std::fs::read_to_string(app.join("go.sum")).expect("go.sum"), online_sum, "through GOPROXY=file://");
    let _ = Command::new("chmod").arg("-R").arg("u+w").arg(dir.join("modcache")).status();
    // `serve` proxies the database too: an empty module cache, GOPROXY=http://...,
    // GOSUMDB on, an empty go.sum, both Go versions (go asks /sumdb/<db>/supported,
    // then lookups and tiles through the proxy).
    let srv = http::Serve::start(&store, &t.join("serve.log"), &[]);
    assert_eq!(http::get(&srv.addr, &format!("/sumdb/{DB}/supported")).status, 200);
    assert_eq!(http::get(&srv.addr, "/sumdb/no.such.db/supported").status, 404);
    for (label, gobin) in gos() {
        let dir = t.join(format!("serve-{label}"));
        let app = app_without_go_sum(&dir);
        let mut go = Go::new(&gobin, &dir.join("modcache"), &shared_gocache(), &srv.url());
        go.envs.retain(|(k, _)| !matches!(k.as_str(), "GONOSUMDB" | "GOSUMDB" | "GOPATH"));
        go.envs.push(("GOSUMDB".into(), key.clone()));
        go.envs.push(("GOPATH".into(), dir.join("gopath").to_string_lossy().into_owned()));
        go.run(&app, &["build", "./..."]);
        let sum = std::fs::read_to_string(app.join("go.sum")).expect("go.sum through serve");
        assert_eq!(sum, online_sum, "go {label} wrote another go.sum through serve");
        assert!(
            dir.join("gopath/pkg/sumdb").join(DB).join("latest").is_file(),
            "go {label} verified nothing against the database through serve"
        );
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(dir.join("modcache")).status();
    }
    srv.stop();
    // Control: go does check the database through the mount (another key fails).
    let other = dump(&bin, &t.join("other"), &["-name", DB, "-seed", "other"]);
    let dir = t.join("offline-wrong-key");
    let app = app_without_go_sum(&dir);
    let mut go = Go::new(&go_old(), &mnt, &shared_gocache(), "off");
    go.envs.retain(|(k, _)| !matches!(k.as_str(), "GONOSUMDB" | "GOSUMDB" | "GOPATH"));
    go.envs.push(("GOSUMDB".into(), other));
    go.envs.push(("GOPATH".into(), dir.join("gopath").to_string_lossy().into_owned()));
    let out = go.try_run(&app, &["list", "-deps", "./..."]);
    assert!(!out.status.success(), "go accepted the database with a wrong key");
    assert!(text(&out.stderr).contains("verifying"), "{}", text(&out.stderr));
    m.stop();
}

/// What a store holds, as its readers see it: modules, trusted sums, and every
/// checksum-database file it serves.
fn logical(store: &Path) -> String {
    let st = modcachefs::store::Store::open_ro(store).expect("open store");
    let mut s = format!("{:?}\n{:?}\n", st.modules().expect("modules"), st.sums().expect("sums"));
    let files = modcachefs::sumdb::Files::load(&st).expect("sumdb files");
    for (db, rel) in files.paths() {
        s.push_str(&format!("{db} {rel} {:?}\n", files.get(&db, &rel)));
    }
    s
}

fn copy(src: &Path, dst: &Path) -> PathBuf {
    copy_tree(src, dst);
    dst.to_path_buf()
}

/// Imports `input` and expects a refusal whose message has all of `want`.
fn refused(store: &Path, key: &str, input: &Path, want: &[&str]) {
    let out = mcfs(store, &["import", "--sumdb-key", key, &input.to_string_lossy()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "import of {} did not fail:\n{err}", input.display());
    let line = err.lines().find(|l| want.iter().all(|w| l.contains(w)));
    assert!(line.is_some(), "no refusal with {want:?}:\n{err}");
}

/// Refused at import, store unchanged: a record with one hash changed, a lookup
/// signed by another key, a truncated or altered tile, a record contradicting
/// the module's zip, a forked tree; accepted: a newer, consistent tree. The
/// database's files come as a GOPROXY tree mirroring it (`sumdb/<db>/...`).
#[test]
fn import_refuses_what_does_not_verify() {
    let tmp = tempdir("sumdb-refuse");
    let t = tmp.path();
    let bin = server_bin(t);
    let good = t.join("good");
    let db_dir = |root: &Path| root.join("sumdb").join(DB);
    let key = dump(&bin, &db_dir(&good), &["-name", DB, "-pad", PAD]);
    let store = t.join("store");
    ok(&mcfs(&store, &["import", "--sumdb-key", &key, &good.to_string_lossy(), &proxy().to_string_lossy()]), "import");
    let ls = ok(&mcfs(&store, &["ls", "golang.org/x/text"]), "ls");
    assert!(ls.contains(&format!("sumdb {DB}")), "{ls}");
    let before = logical(&store);
    assert!(before.contains("lookup/golang.org/x/text@v0.7.0"), "no lookups stored");

    let lookup = |root: &Path| db_dir(root).join("lookup/golang.org/x/text@v0.7.0");
    let tile = |root: &Path| db_dir(root).join("tile/8/0/000");

    // One hash of the record changed (the note still verifies).
    let b = copy(&good, &t.join("b1"));
    let s = std::fs::read_to_string(lookup(&b)).unwrap();
    let i = s.find("h1:").unwrap() + 5;
    let flipped = if &s[i..i + 1] == "A" { "B" } else { "A" };
    std::fs::write(lookup(&b), format!("{}{flipped}{}", &s[..i], &s[i + 1..])).unwrap();
    refused(&store, &key, &b, &[DB, "golang.org/x/text@v0.7.0", "does not match signed tree"]);
    assert_eq!(logical(&store), before);

    // Signed by another key of the same name.
    let other = t.join("other");
    dump(&bin, &db_dir(&other), &["-name", DB, "-pad", PAD, "-seed", "other"]);
    let b = copy(&good, &t.join("b2"));
    std::fs::copy(lookup(&other), lookup(&b)).unwrap();
    refused(&store, &key, &b, &[DB, "golang.org/x/text@v0.7.0", "no verifiable signatures"]);
    assert_eq!(logical(&store), before);

    // A truncated tile, an altered tile.
    let b = copy(&good, &t.join("b3"));
    let data = std::fs::read(tile(&b)).unwrap();
    std::fs::write(tile(&b), &data[..data.len() - 100]).unwrap();
    refused(&store, &key, &b, &[DB, "tile/8/0/000", "want 8192"]);
    assert_eq!(logical(&store), before);
    let b = copy(&good, &t.join("b4"));
    let mut data = std::fs::read(tile(&b)).unwrap();
    data[100] ^= 1;
    std::fs::write(tile(&b), &data).unwrap();
    refused(&store, &key, &b, &[DB, "tile/8/0/000", "differs from the verified tile"]);
    assert_eq!(logical(&store), before);
    // The same tile into an empty store: the proofs through it fail.
    let fresh = t.join("fresh");
    refused(&fresh, &key, &b, &[DB, "tile/8/0/000 does not hash to the signed tree"]);

    // A record that contradicts the module's zip (a database of its own name).
    let bad = t.join("bad");
    let bad_key = dump(&bin, &bad.join("sumdb/bad.test"), &["-name", "bad.test", "-wrong", "golang.org/x/text@v0.7.0"]);
    // Only that record (the others are true and would be kept).
    let only = t.join("bad-only");
    copy_tree(&bad.join("sumdb/bad.test/tile"), &only.join("sumdb/bad.test/tile"));
    let l = only.join("sumdb/bad.test/lookup/golang.org/x/text@v0.7.0");
    std::fs::create_dir_all(l.parent().unwrap()).unwrap();
    std::fs::copy(bad.join("sumdb/bad.test/lookup/golang.org/x/text@v0.7.0"), &l).unwrap();
    refused(&store, &bad_key, &only, &["bad.test", "golang.org/x/text@v0.7.0", "stored module hashes to"]);
    assert_eq!(logical(&store), before);
    // ... and into an empty store with the module: the module is refused.
    let fresh = t.join("fresh2");
    let out = mcfs(&fresh, &["import", "--sumdb-key", &bad_key, &bad.to_string_lossy(), &proxy().to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("golang.org/x/text@v0.7.0: zip hash"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("from sumdb bad.test; not imported"), "{}", text(&out.stderr));
    let ls = ok(&mcfs(&fresh, &["ls", "golang.org/x/text"]), "ls");
    assert!(!ls.contains("v0.7.0"), "{ls}");

    // A forked tree: same key and size, another record.
    let fork = t.join("fork");
    dump(&bin, &db_dir(&fork), &["-name", DB, "-pad", PAD, "-wrong", "golang.org/x/sys@v0.5.0"]);
    let b = copy(&good, &t.join("b5"));
    std::fs::copy(
        db_dir(&fork).join("lookup/golang.org/x/sys@v0.5.0"),
        db_dir(&b).join("lookup/golang.org/x/sys@v0.5.0"),
    )
    .unwrap();
    refused(&store, &key, &b, &[DB, "SECURITY ERROR", "different hashes"]);
    assert_eq!(logical(&store), before);

    // A newer tree that extends the stored one is proved consistent and accepted.
    let newer = t.join("newer");
    dump(&bin, &db_dir(&newer), &["-name", DB, "-pad", "700"]);
    ok(&mcfs(&store, &["import", "--sumdb-key", &key, &newer.to_string_lossy()]), "import a newer tree");
    ok(&mcfs(&store, &["verify"]), "verify");
    let after = logical(&store);
    assert_ne!(after, before);
    assert!(after.contains("tile/8/0/003.p/"), "the newer tree's tiles were not stored");

    // A record changed in the store behind import's back: `verify` says so, and
    // the mount does not serve it (the others it does).
    // (In whichever index segment holds it.)
    let mut n = 0;
    for seg in index_segments(&store) {
        let conn = rusqlite::Connection::open(seg).unwrap();
        n += conn
            .execute(
                "UPDATE sumdb_records SET text = replace(text, 'h1:', 'h1:A') WHERE path = 'golang.org/x/text' AND version = 'v0.7.0'",
                [],
            )
            .unwrap();
    }
    assert_eq!(n, 1);
    let out = mcfs(&store, &["verify"]);
    assert_eq!(out.status.code(), Some(1), "verify passed a changed record");
    assert!(text(&out.stderr).contains("golang.org/x/text@v0.7.0: record"), "{}", text(&out.stderr));
    let mnt = t.join("mnt");
    let m = Mount::new(&store, &mnt, &[]);
    let dir = mnt.join("cache/download/sumdb").join(DB).join("lookup/golang.org/x");
    let e = std::fs::read(dir.join("text@v0.7.0")).expect_err("a changed record was served");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    let good = std::fs::read_to_string(dir.join("sys@v0.5.0")).expect("an intact lookup");
    assert!(good.starts_with(|c: char| c.is_ascii_digit()) && good.contains("golang.org/x/sys v0.5.0 h1:"), "{good}");
    let log = m.stop();
    assert!(log.contains("golang.org/x/text@v0.7.0") && log.contains("not served"), "{log}");
}
