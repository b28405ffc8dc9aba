//! A running mount follows its store: modules imported while it serves appear
//! within 2 s (names the kernel had cached as missing included), `@v/list` and
//! directory listings update, builds on the mount are not disturbed, a mount
//! reading the store through a read-only bind mount follows too, and SIGHUP
//! re-reads the store instead of unmounting.

mod common;
use common::daemon::wait_until;
use common::zipgen::{build_with, deflated};
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Within this long of an import's exit, a running mount serves what it added.
const VISIBLE_WITHIN: Duration = Duration::from_secs(2);

/// A GOPROXY directory holding one small module `path@version` (package `name`).
fn module_proxy(dir: &Path, path: &str, version: &str) -> PathBuf {
    let name = path.rsplit('/').next().unwrap_or(path).replace(['-', '.'], "_");
    let p = format!("{path}@{version}/");
    let gomod = format!("module {path}\n\ngo 1.19\n");
    let zip = build_with(|w| {
        w.start_file(format!("{p}go.mod"), deflated()).unwrap();
        w.write_all(gomod.as_bytes()).unwrap();
        w.start_file(format!("{p}{name}.go"), deflated()).unwrap();
        w.write_all(format!("package {name}\n\nfunc Version() string {{ return {version:?} }}\n").as_bytes()).unwrap();
    });
    let at_v = dir.join(path).join("@v");
    std::fs::create_dir_all(&at_v).unwrap();
    std::fs::write(at_v.join(format!("{version}.zip")), &zip).unwrap();
    std::fs::write(at_v.join(format!("{version}.mod")), &gomod).unwrap();
    std::fs::write(
        at_v.join(format!("{version}.info")),
        format!(r#"{{"Version":"{version}","Time":"2024-01-01T00:00:00Z"}}"#),
    )
    .unwrap();
    let list = at_v.join("list");
    let mut old = std::fs::read_to_string(&list).unwrap_or_default();
    old.push_str(&format!("{version}\n"));
    std::fs::write(list, old).unwrap();
    dir.to_path_buf()
}

/// Imports, asserting exit 0, and returns when it exited.
fn import_now(store: &Path, proxy: &Path) -> Instant {
    let out = Command::new(BIN).arg("--store").arg(store).arg("import").arg(proxy).output().expect("run import");
    assert!(out.status.success(), "import exited {}:\n{}", out.status, text(&out.stderr));
    Instant::now()
}

/// Polls `p` until it exists; the time it took after `since`, or a failure.
fn appears(p: &Path, since: Instant, what: &str) -> Duration {
    assert!(wait_until(10, || p.exists()), "{what}: {} never appeared", p.display());
    let took = since.elapsed();
    assert!(took <= VISIBLE_WITHIN, "{what}: {} appeared only after {took:?}", p.display());
    took
}

/// A module looked up (and missed) on a running mount is served by that mount
/// within 2 s of the import that adds it; `@v/list` shows a version added
/// later; Go 1.19 builds a program using it on the same mount, no remount;
/// the daemon never calls it missing once it is there.
#[test]
fn imported_module_appears_on_the_running_mount() {
    let tmp = tempdir("live-appears");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let (path, v1, v2) = ("example.com/live/greet", "v1.0.0", "v1.1.0");
    let tree = m.dir.join(format!("{path}@{v1}"));
    let at_v = m.dir.join(format!("cache/download/{path}/@v"));
    // Missed first, the ways the kernel and cmd/go ask: negative entries cached.
    for _ in 0..2 {
        assert!(!tree.exists());
        assert!(!at_v.join(format!("{v1}.mod")).exists());
        assert!(!m.dir.join("example.com").exists());
    }
    let t = import_now(&store, &module_proxy(&tmp.path().join("p1"), path, v1));
    let took = appears(&at_v.join(format!("{v1}.mod")), t, "the .mod");
    eprintln!("visible {:.0} ms after the import exited", took.as_secs_f64() * 1e3);
    assert!(tree.join("greet.go").is_file(), "the tree is served too");
    assert_eq!(std::fs::read_to_string(at_v.join("list")).unwrap(), format!("{v1}\n"));
    let listed: Vec<String> = std::fs::read_dir(m.dir.join("example.com/live"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(listed, vec![format!("greet@{v1}")], "the path directory lists the new module");

    // A second version: `@v/list` (already read, so cached by the kernel) updates.
    let t = import_now(&store, &module_proxy(&tmp.path().join("p2"), path, v2));
    appears(&at_v.join(format!("{v2}.zip")), t, "the second version's zip");
    assert!(
        wait_until(2, || std::fs::read_to_string(at_v.join("list")).unwrap() == format!("{v1}\n{v2}\n")),
        "@v/list shows both versions: {:?}",
        std::fs::read_to_string(at_v.join("list"))
    );

    // Go 1.19 builds a program using it, offline, on the same mount.
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("go.mod"), format!("module example.com/app\n\ngo 1.19\n\nrequire {path} {v2}\n")).unwrap();
    std::fs::write(
        app.join("main.go"),
        format!("package main\n\nimport \"{path}\"\n\nfunc main() {{ println(greet.Version()) }}\n"),
    )
    .unwrap();
    let go = Go::new(&go_old(), &m.dir, &tmp.path().join("gocache"), "off");
    go.run(&app, &["build", "-o", "app", "."]);
    let log = m.stop();
    assert!(log.contains("store changed") && log.contains(&format!("{path}@{v1}")), "the change is logged:\n{log}");
    assert!(!log.contains(&format!("missing module {path}@{v2}")), "never called missing once imported:\n{log}");
    assert!(!log.contains("error"), "{log}");
}

/// The test application builds on a mount while imports add modules to the
/// same store: the build passes and every import exits 0.
#[test]
fn build_passes_while_imports_run() {
    let tmp = tempdir("live-build");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &m.dir, &tmp.path().join("gocache"), "off");
    let proxies: Vec<PathBuf> = (0..6)
        .map(|i| module_proxy(&tmp.path().join(format!("p{i}")), &format!("example.com/busy/m{i}"), "v1.0.0"))
        .collect();
    let importer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for p in &proxies {
                import_now(&store, p);
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };
    go.run(&app, &["build", "./..."]);
    importer.join().expect("every import exited 0");
    for i in 0..6 {
        let p = m.dir.join(format!("cache/download/example.com/busy/m{i}/@v/v1.0.0.mod"));
        assert!(wait_until(2, || p.exists()), "{} not served", p.display());
    }
    go.run(&app, &["build", "./..."]);
    let log = m.stop();
    assert!(!log.contains("error"), "{log}");
}

/// A mount reading the store through a read-only bind mount sees modules
/// imported on the writable path within 2 s.
#[test]
fn read_only_bind_mount_reader_follows() {
    let tmp = tempdir("live-robind");
    let store = corpus_store(tmp.path());
    let ro = tmp.path().join("ro-store");
    std::fs::create_dir_all(&ro).unwrap();
    let ok = |c: &mut Command, what: &str| {
        let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
    };
    ok(Command::new("mount").arg("--bind").arg(&store).arg(&ro), "bind mount");
    struct Unbind(PathBuf);
    impl Drop for Unbind {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unbind = Unbind(ro.clone());
    ok(Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&ro), "remount read-only");
    assert!(std::fs::write(ro.join("probe"), b"x").is_err(), "the bind mount is read-only");
    let m = Mount::new(&ro, &tmp.path().join("mnt"), &[]);
    let path = "example.com/live/ro";
    let mod_file = m.dir.join(format!("cache/download/{path}/@v/v1.0.0.mod"));
    assert!(!mod_file.exists());
    let t = import_now(&store, &module_proxy(&tmp.path().join("p"), path, "v1.0.0"));
    appears(&mod_file, t, "through the read-only bind mount");
    assert_eq!(std::fs::read_to_string(&mod_file).unwrap(), format!("module {path}\n\ngo 1.19\n"));
    let log = m.stop();
    assert!(!log.contains("error"), "{log}");
}

/// SIGHUP re-reads the store at once (and does not unmount); SIGTERM still
/// unmounts cleanly.
#[test]
fn sighup_rereads_and_sigterm_unmounts() {
    let tmp = tempdir("live-hup");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    unsafe { libc::kill(m.pid() as i32, libc::SIGHUP) };
    assert!(wait_until(5, || m.log_text().contains("SIGHUP: re-reading the store")), "{}", m.log_text());
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_mounted(&m.dir) && m.dir.join("cache/download").is_dir(), "still serving after SIGHUP");
    let dir = m.dir.clone();
    let log = m.stop();
    assert!(!is_mounted(&dir), "SIGTERM unmounted:\n{log}");
    assert!(log.contains("unmounting"), "{log}");
}
