//! Real mounts, checked with the real `go` command (Debian Go 1.19 and a current
//! Go): builds, tests, module listing and verification on the mount; the mount as
//! a GOPROXY; byte-for-byte and mode-for-mode equality with what `go mod download`
//! extracts; laziness.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Modules providing packages to the app's build, per `go list -deps`.
fn providing_modules(go: &Go, app: &Path) -> BTreeSet<String> {
    go.run(
        app,
        &["list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}", "./..."],
    )
    .lines()
    .filter(|l| !l.is_empty())
    .map(str::to_string)
    .collect()
}

fn extracted_modules(m: &Mount) -> BTreeSet<String> {
    let s = m.stats();
    let i = s.find("\"extracted\":[").expect("extracted list in stats") + "\"extracted\":[".len();
    let list = &s[i..s[i..].find(']').map(|j| i + j).expect("]")];
    list.split(',').map(|x| x.trim_matches('"').to_string()).filter(|x| !x.is_empty()).collect()
}

/// Both Go versions build, test, list and verify the app on the mount, with
/// GOPROXY=off; nothing under the mount changes; only used modules are extracted.
#[test]
fn go_builds_tests_lists_and_verifies_on_the_mount() {
    let tmp = tempdir("mount-go");
    let store = corpus_store(tmp.path());
    for (label, gobin) in gos() {
        let mnt = tmp.path().join(format!("mnt-{label}"));
        let m = Mount::new(&store, &mnt, &[]);
        let before = snapshot_meta(&mnt);
        let app = app_copy(&tmp.path().join(label));
        let go = Go::new(&gobin, &mnt, &tmp.path().join(format!("gocache-{label}")), "off");
        go.run(&app, &["build", "./..."]);
        let used = providing_modules(&go, &app);
        let extracted = extracted_modules(&m);
        assert!(!used.is_empty());
        for u in &used {
            assert!(
                extracted.contains(u),
                "[{label}] {u} provides packages but was never extracted; extracted: {extracted:?}"
            );
        }
        let all = go.run(&app, &["list", "-m", "all"]);
        let in_graph: BTreeSet<String> = all.lines().skip(1).map(|l| l.replace(' ', "@")).collect();
        for x in &extracted {
            assert!(in_graph.contains(x), "[{label}] extracted {x}, which is not even in the module graph");
        }
        let zips = std::fs::read_dir(&mnt).unwrap().count(); // sanity: root lists
        assert!(zips > 0);
        let total_zips = m.stat("verifications_ok");
        assert_eq!(total_zips as usize, extracted.len(), "[{label}] every extracted module was verified once");
        go.run(&app, &["test", "./..."]);
        go.run(&app, &["list", "-m", "-json", "all"]);
        go.run(&app, &["mod", "verify"]);
        assert_eq!(m.stat("verifications_failed"), 0);
        assert_eq!(snapshot_meta(&mnt), before, "[{label}] the mount's namespace changed");
        let log = m.stop();
        assert!(!log.contains("error"), "[{label}] daemon logged errors:\n{log}");
    }
}

/// Names, modes and sizes of everything under the mount (contents are compared elsewhere).
fn snapshot_meta(root: &Path) -> Vec<(String, u32, u64)> {
    use std::os::unix::fs::MetadataExt;
    tree(root).into_iter().map(|(rel, m)| (rel, m.mode(), m.size())).collect()
}

/// The mount serves as a GOPROXY=file:// for a normal, writable module cache.
#[test]
fn mount_works_as_a_goproxy() {
    let tmp = tempdir("mount-proxy");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let url = format!("file://{}/cache/download", m.dir.display());
    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &tmp.path().join("gomodcache"), &shared_gocache(), &url);
    go.run(&app, &["build", "./..."]);
    go.run(&app, &["mod", "verify"]);
}

/// Every module tree and cache/download file on the mount equals, byte for byte
/// and mode for mode, what `go mod download` makes from the same zips.
#[test]
fn mount_matches_go_mod_download_byte_for_byte() {
    let tmp = tempdir("mount-compare");
    let store = corpus_store(tmp.path());
    let native = tmp.path().join("native");
    let app = app_copy(tmp.path());
    let url = format!("file://{}", proxy().display());
    let go = Go::new(&go_old(), &native, &tmp.path().join("gocache"), &url);
    // Every module of the store: zip-backed ones with their trees, go.mod-only ones
    // with their .mod and .info.
    let out = modcachefs(&["--store", &store.to_string_lossy(), "ls", "--json"]);
    let mut download = vec!["mod".to_string(), "download".to_string()];
    let mut list = vec!["list".to_string(), "-m".to_string(), "-json".to_string()];
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let f = |k: &str| l.split(&format!("\"{k}\":\"")).nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
        let mv = format!("{}@{}", f("path"), f("version"));
        if l.contains("zip_size") {
            download.push(mv);
        } else {
            // go.mod-only: `go list -m` fetches just the .info and .mod.
            list.push(mv);
        }
    }
    for args in [download, list] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        go.run(&app, &args);
    }
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);

    // What go made: drop its bookkeeping (locks, sumdb, the cache lock), which a
    // read-only cache has no use for.
    let keep = |rel: &str| !(rel.ends_with(".lock") || rel.starts_with("cache/download/sumdb") || rel == "cache/lock");
    let theirs: Vec<_> = snapshot(&native).into_iter().filter(|(r, _, _)| keep(r)).collect();
    assert!(theirs.len() > 1000, "go mod download extracted only {} entries", theirs.len());
    let mut compared = 0;
    for (rel, mode, data) in &theirs {
        let ours = m.dir.join(rel);
        let meta =
            std::fs::metadata(&ours).unwrap_or_else(|e| panic!("{rel}: on the native cache but not on the mount: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o7777, *mode, "{rel}: mode");
        if let Some(d) = data {
            let got = std::fs::read(&ours).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(got == *d, "{rel}: contents differ ({} vs {} bytes)", got.len(), d.len());
            compared += 1;
        }
    }
    assert!(compared > 1000);
    // And nothing extra in the trees go extracted.
    for (rel, _, _) in snapshot(&m.dir) {
        let top_module_tree = rel.contains('@') && !rel.starts_with("cache/");
        if top_module_tree {
            assert!(native.join(&rel).exists(), "{rel}: on the mount but not in the native cache");
        }
    }
}

/// Mount errors are one clear line and a non-zero exit.
#[test]
fn mount_errors_are_clear() {
    let tmp = tempdir("mount-errors");
    let missing_store = tmp.path().join("nostore");
    std::fs::create_dir_all(tmp.path().join("mnt")).unwrap();
    let out =
        modcachefs(&["--store", &missing_store.to_string_lossy(), "mount", &tmp.path().join("mnt").to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no modcachefs store"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let store = corpus_store(tmp.path());
    let out =
        modcachefs(&["--store", &store.to_string_lossy(), "mount", &tmp.path().join("nowhere").to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere"), "{err}");

    // Busy: something is already mounted there.
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let out = modcachefs(&["--store", &store.to_string_lossy(), "mount", &m.dir.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already mounted"));
}

/// Writes of every kind fail with EROFS; a missing module is logged with a hint.
#[test]
fn read_only_and_missing_module_logged() {
    let tmp = tempdir("mount-ro");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let root = &m.dir;
    let some_mod = std::fs::read_dir(root.join("cache/download/github.com/google/uuid/@v"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mod"))
        .unwrap();
    let erofs = |r: std::io::Result<()>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{what}: {e}");
    };
    erofs(std::fs::write(root.join("new"), b"x"), "create");
    erofs(std::fs::create_dir(root.join("d")), "mkdir");
    erofs(std::fs::remove_file(&some_mod), "unlink");
    erofs(std::fs::rename(&some_mod, root.join("x")), "rename");
    erofs(std::fs::OpenOptions::new().write(true).open(&some_mod).map(|_| ()), "open for write");
    use std::os::unix::fs::PermissionsExt;
    erofs(std::fs::set_permissions(&some_mod, std::fs::Permissions::from_mode(0o644)), "chmod");

    // cmd/go reads .ziphash under a shared flock; statfs answers (df works).
    let zh = some_mod.with_extension("ziphash");
    let f = std::fs::File::open(&zh).unwrap();
    use std::os::fd::AsRawFd;
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) }, 0, "flock on .ziphash");
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) }, 0);
    drop(f);
    let mut sfs: libc::statvfs = unsafe { std::mem::zeroed() };
    let c = std::ffi::CString::new(root.to_string_lossy().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut sfs) }, 0);
    assert!(sfs.f_blocks > 0 && sfs.f_files > 1000, "statfs reports the store's size and file count");
    assert!(sfs.f_flag & libc::ST_RDONLY != 0, "mounted read-only");

    // SIGUSR1 logs the counters without disturbing the mount.
    unsafe { libc::kill(m.pid() as i32, libc::SIGUSR1) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(m.log_text().contains("counters:"), "SIGUSR1 logs the counters:\n{}", m.log_text());
    assert!(root.join("cache/download").is_dir(), "still serving after SIGUSR1");

    // A module the store lacks, probed the way cmd/go does.
    assert!(!root.join("cache/download/github.com/google/uuid/@v/v9.9.9.mod").exists());
    assert!(!root.join("github.com/google/uuid@v9.9.9").exists());
    let log = m.stop();
    let n = log.matches("missing module github.com/google/uuid@v9.9.9").count();
    assert_eq!(n, 1, "logged once, with the module and version:\n{log}");
    assert!(log.contains("modcachefs import"), "with a hint how to import it:\n{log}");
}

/// A module zip holding symlink entries (as third-party proxies' zips can): the
/// mount serves each as Go extracts it, a 0444 regular file holding the link
/// text, and its .zip, .ziphash and tree equal, byte for byte and mode for mode,
/// what `go mod download` of Go 1.19 and of a current Go makes of the same zip.
#[test]
fn symlink_entries_are_served_as_go_extracts_them() {
    use common::zipgen::{build_with, deflated, stored};
    use std::io::Write;
    let tmp = tempdir("mount-symlink-entry");
    let (module, version) = ("example.com/symlinked", "v1.0.0");
    let p = format!("{module}@{version}/");
    let zip = build_with(|w| {
        w.start_file(format!("{p}go.mod"), deflated()).unwrap();
        w.write_all(format!("module {module}\n").as_bytes()).unwrap();
        w.start_file(format!("{p}a.go"), deflated()).unwrap();
        w.write_all(b"package symlinked\n").unwrap();
        w.add_symlink(format!("{p}link.go"), "a.go", stored()).unwrap();
        w.add_symlink(format!("{p}sub/abs"), "/etc/passwd", deflated()).unwrap();
    });
    let at_v = tmp.path().join("proxy").join(module).join("@v");
    std::fs::create_dir_all(&at_v).unwrap();
    std::fs::write(at_v.join("v1.0.0.zip"), &zip).unwrap();
    std::fs::write(at_v.join("v1.0.0.mod"), format!("module {module}\n")).unwrap();
    std::fs::write(at_v.join("v1.0.0.info"), r#"{"Version":"v1.0.0","Time":"2020-01-01T00:00:00Z"}"#).unwrap();
    std::fs::write(at_v.join("list"), "v1.0.0\n").unwrap();
    let store = tmp.path().join("store");
    import(&store, &[&tmp.path().join("proxy")]);
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let tree = format!("{module}@{version}");
    let dl = format!("cache/download/{module}/@v/{version}");
    for (label, gobin) in gos() {
        let native = tmp.path().join(format!("native-{label}"));
        let url = format!("file://{}", tmp.path().join("proxy").display());
        let go = Go::new(&gobin, &native, &tmp.path().join(format!("gocache-{label}")), &url);
        go.run(tmp.path(), &["mod", "download", &format!("{module}@{version}")]);
        let theirs = snapshot(&native.join(&tree));
        assert_eq!(snapshot(&m.dir.join(&tree)), theirs, "[{label}] the module tree differs from go's");
        let link = theirs.iter().find(|(r, _, _)| r == "link.go").expect("go extracted link.go");
        assert_eq!((link.1, link.2.as_deref()), (0o444, Some(&b"a.go"[..])), "[{label}] go's own extraction");
        for ext in ["zip", "ziphash", "mod", "info"] {
            let (ours, go_made) = (m.dir.join(format!("{dl}.{ext}")), native.join(format!("{dl}.{ext}")));
            assert_eq!(std::fs::read(&ours).unwrap(), std::fs::read(&go_made).unwrap(), "[{label}] .{ext} differs");
        }
        // Go reading the mount as its module cache accepts the module as it is.
        let on_mount = Go::new(&gobin, &m.dir, &tmp.path().join(format!("gocache-{label}")), "off");
        let json = on_mount.run(tmp.path(), &["mod", "download", "-json", &format!("{module}@{version}")]);
        let ziphash = std::fs::read_to_string(native.join(format!("{dl}.ziphash"))).unwrap();
        assert!(json.contains(&format!("\"Sum\": \"{}\"", ziphash.trim())), "[{label}] {json}");
    }
    let log = m.stop();
    assert!(!log.contains("error"), "daemon logged errors:\n{log}");
}
