//! The store while it is written: imports, `rm`, `gc` and `compact` with readers
//! reading at the same time, through the same directory and through a read-only
//! bind mount, and imports killed with SIGKILL. Real processes, small modules.

mod common;
use common::zipgen::{build, deflated};
use common::*;
use modcachefs::store::{self, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const V: &str = "v1.0.0";

/// The zip of a small module: go.mod and `n` source files whose bytes depend on the module.
fn module_zip(path: &str, n: usize) -> Vec<u8> {
    let p = format!("{path}@{V}/");
    let files: Vec<(String, Vec<u8>)> =
        std::iter::once((format!("{p}go.mod"), format!("module {path}\n").into_bytes()))
            .chain(
                (0..n).map(|i| {
                    (format!("{p}f{i}.go"), format!("package m // {path} file {i}\n").repeat(i + 1).into_bytes())
                }),
            )
            .collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    build(&refs, deflated())
}

/// A GOPROXY tree of modules `example.com/live/<tag>/mNNN` (lower case: no escaping),
/// and the zips it holds.
fn proxy_tree(root: &Path, tag: &str, count: usize) -> BTreeMap<String, Vec<u8>> {
    let mut zips = BTreeMap::new();
    for i in 0..count {
        let path = format!("example.com/live/{tag}/m{i:03}");
        let dir = root.join(&path).join("@v");
        std::fs::create_dir_all(&dir).unwrap();
        let zip = module_zip(&path, 1 + i % 3);
        std::fs::write(dir.join(format!("{V}.zip")), &zip).unwrap();
        std::fs::write(dir.join(format!("{V}.mod")), format!("module {path}\n")).unwrap();
        zips.insert(path, zip);
    }
    zips
}

fn import_run(store: &Path, input: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("--store").arg(store).arg("import").args(extra).arg(input).output().unwrap()
}

/// One state read whole: every module's entries are all there and its blobs exist.
/// Returns the number of modules, or why the state is not whole.
fn check_state(dir: &Path) -> Result<usize, String> {
    let st = Store::open_ro(dir).map_err(|e| format!("open: {e}"))?;
    let modules = st.modules().map_err(|e| format!("modules: {e}"))?;
    if st.module_count().map_err(|e| e.to_string())? != modules.len() as u64 {
        return Err(format!("module_count {:?} but {} modules listed", st.module_count(), modules.len()));
    }
    let mut paths = BTreeSet::new();
    for m in &modules {
        let z = m.zip.as_ref().ok_or_else(|| format!("{}: no zip", m.path))?;
        let entries = st.entries(m.id).map_err(|e| format!("{}: entries: {e}", m.path))?;
        if entries.len() as u64 != z.file_count {
            return Err(format!("{}: {} entries of {}", m.path, entries.len(), z.file_count));
        }
        for b in [&m.mod_blob, &z.blob] {
            store::open_blob(dir, b).map_err(|e| format!("{}: blob {b}: {e}", m.path))?;
        }
        let by_id = st.module_by_id(m.id).map_err(|e| e.to_string())?;
        if by_id.as_ref() != Some(m) {
            return Err(format!("{}: module_by_id({}) = {by_id:?}", m.path, m.id));
        }
        paths.insert(m.path.clone());
    }
    // The directory listing agrees with the module list.
    let mut listed = BTreeSet::new();
    for tag in st.path_children("example.com/live").map_err(|e| e.to_string())? {
        for c in st.path_children(&format!("example.com/live/{}", tag.elem)).map_err(|e| e.to_string())? {
            if !c.is_module || c.has_below {
                return Err(format!("{}/{}: {c:?}", tag.elem, c.elem));
            }
            listed.insert(format!("example.com/live/{}/{}", tag.elem, c.elem));
        }
    }
    if listed != paths {
        return Err(format!("path_children lists {} paths, the store holds {}", listed.len(), paths.len()));
    }
    Ok(modules.len())
}

/// Readers in threads until `stop`: the library reader (`check_state`) and
/// `modcachefs ls`. Each records problems, and the module counts it saw.
struct Readers {
    stop: Arc<AtomicBool>,
    problems: Arc<Mutex<Vec<String>>>,
    reads: Arc<Mutex<usize>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Readers {
    fn start(dir: &Path, with_ls: bool) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let reads = Arc::new(Mutex::new(0));
        let mut threads = Vec::new();
        let (d, s, p, r) = (dir.to_path_buf(), stop.clone(), problems.clone(), reads.clone());
        threads.push(std::thread::spawn(move || {
            let mut last = 0;
            while !s.load(Ordering::Relaxed) {
                match check_state(&d) {
                    Ok(n) if n < last => p.lock().unwrap().push(format!("library reader: {n} modules after {last}")),
                    Ok(n) => last = n,
                    Err(e) => p.lock().unwrap().push(format!("library reader: {e}")),
                }
                *r.lock().unwrap() += 1;
            }
        }));
        if with_ls {
            let (d, s, p, r) = (dir.to_path_buf(), stop.clone(), problems.clone(), reads.clone());
            threads.push(std::thread::spawn(move || {
                let mut last = 0;
                while !s.load(Ordering::Relaxed) {
                    let out = Command::new(BIN).arg("--store").arg(&d).args(["ls", "--json"]).output().unwrap();
                    let n = String::from_utf8_lossy(&out.stdout).lines().count();
                    if !out.status.success() || n < last {
                        p.lock().unwrap().push(format!(
                            "ls: {} with {n} modules after {last}: {}",
                            out.status,
                            text(&out.stderr)
                        ));
                    }
                    last = last.max(n);
                    *r.lock().unwrap() += 1;
                }
            }));
        }
        Readers { stop, problems, reads, threads }
    }

    /// Stops the readers; their problems, and how many states they read.
    fn finish(self) -> (Vec<String>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let p = self.problems.lock().unwrap().clone();
        let n = *self.reads.lock().unwrap();
        (p, n)
    }
}

fn tmp_files(store: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(store.join("tmp")).map(|rd| rd.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
}

/// Files in index/ that the manifest neither names as a segment nor lists as retired.
fn stray_index_files(store: &Path) -> Vec<String> {
    let cur = std::fs::read_to_string(store.join("index/CURRENT")).unwrap();
    std::fs::read_dir(store.join("index"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "CURRENT" && !cur.lines().any(|l| l.split(' ').nth(1) == Some(n.as_str())))
        .collect()
}

/// 20 imports back to back while readers read: every import exits 0, and every
/// state a reader opens is whole (all entries, all blobs, the listing agrees) and
/// never has fewer modules than one read before.
#[test]
fn imports_while_readers_read_always_succeed() {
    let tmp = tempdir("live-imports");
    let store = tmp.path().join("store");
    let inputs: Vec<PathBuf> = (0..20).map(|i| tmp.path().join(format!("in{i:02}"))).collect();
    for (i, p) in inputs.iter().enumerate() {
        proxy_tree(p, &format!("t{i:02}"), 3);
    }
    let out = import_run(&store, &inputs[0], &[]);
    assert!(out.status.success(), "first import: {}", text(&out.stderr));
    let readers = Readers::start(&store, true);
    let t0 = Instant::now();
    let mut times = Vec::new();
    for p in &inputs[1..] {
        let t = Instant::now();
        let out = import_run(&store, p, &["--json"]);
        times.push(t.elapsed());
        assert_eq!(out.status.code(), Some(0), "import of {} while readers read: {}", p.display(), text(&out.stderr));
        assert!(text(&out.stdout).contains("\"added\":3,"), "{}", text(&out.stdout));
    }
    let took = t0.elapsed();
    // Let the readers see the last state too.
    std::thread::sleep(Duration::from_millis(200));
    let (problems, reads) = readers.finish();
    assert!(problems.is_empty(), "{} reader problems, first: {:?}", problems.len(), &problems[..problems.len().min(5)]);
    assert!(reads > 20, "the readers read only {reads} states in {took:?}");
    assert_eq!(check_state(&store), Ok(60));
    ok(&modcachefs(&["--store", &store.to_string_lossy(), "verify"]), "verify");
    let segments = index_segments(&store).len();
    assert!(segments < 8, "{segments} index segments after 20 imports: small ones are not merged");
    eprintln!(
        "19 imports in {took:?} (slowest {:?}) while readers read {reads} states; {segments} segments",
        times.iter().max()
    );
}

/// Two readers and a mount read the store through a read-only bind mount, every
/// byte of every module's zip checked against the reference, while imports, an
/// `rm` and a `gc` run on the writable path: no error, no wrong byte, and the new
/// modules are seen through the read-only side.
#[test]
fn readers_through_a_read_only_bind_mount_see_every_byte() {
    let tmp = tempdir("live-robind");
    let store = tmp.path().join("store");
    let mut reference: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let inputs: Vec<PathBuf> = (0..7).map(|i| tmp.path().join(format!("in{i}"))).collect();
    for (i, p) in inputs.iter().enumerate() {
        reference.extend(proxy_tree(p, &format!("r{i}"), 5));
    }
    let out = import_run(&store, &inputs[0], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ro = tmp.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let bind = |args: &[&str], what: &str| {
        let st = Command::new("mount").args(args).status().unwrap();
        assert!(st.success(), "{what}");
    };
    bind(&["--bind", &store.to_string_lossy(), &ro.to_string_lossy()], "bind mount");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(ro.clone());
    bind(&["-o", "remount,bind,ro", &ro.to_string_lossy()], "remount read-only");
    assert!(std::fs::write(ro.join("probe"), b"x").is_err(), "the bind mount is writable");

    // A real mount of the read-only side, started on the first state.
    let mount = Mount::new(&ro, &tmp.path().join("mnt"), &[]);
    let first: Vec<String> = reference.keys().filter(|p| p.contains("/r0/")).cloned().collect();

    let reference = Arc::new(reference);
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(Mutex::new(Vec::<String>::new()));
    let checked = Arc::new(Mutex::new(0u64));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (ro, reference, stop, bad, checked) =
            (ro.clone(), reference.clone(), stop.clone(), bad.clone(), checked.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let st = match Store::open_ro(&ro) {
                    Ok(st) => st,
                    Err(e) => {
                        bad.lock().unwrap().push(format!("open: {e}"));
                        continue;
                    }
                };
                for m in st.modules().unwrap_or_default() {
                    let want = &reference[&m.path];
                    let Some(z) = &m.zip else { continue };
                    match store::read_blob_limited(&ro, &z.blob, 1 << 30) {
                        Ok(got) if got == *want => *checked.lock().unwrap() += got.len() as u64,
                        Ok(got) => bad.lock().unwrap().push(format!("{}: {} wrong bytes", m.path, got.len())),
                        Err(e) => bad.lock().unwrap().push(format!("{}: {e}", m.path)),
                    }
                    if st.entries(m.id).map(|e| e.len() as u64).ok() != Some(z.file_count) {
                        bad.lock().unwrap().push(format!("{}: entries incomplete", m.path));
                    }
                }
            }
        }));
    }
    {
        let (dir, first, reference, stop, bad, checked) =
            (mount.dir.clone(), first.clone(), reference.clone(), stop.clone(), bad.clone(), checked.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // Not the module `rm` removes below: the mount follows the store,
                // so it disappears (checked after the readers stop).
                for p in &first[1..] {
                    let f = dir.join(format!("cache/download/{p}/@v/{V}.zip"));
                    match std::fs::read(&f) {
                        Ok(got) if got == reference[p] => *checked.lock().unwrap() += got.len() as u64,
                        Ok(_) => bad.lock().unwrap().push(format!("mount: {p}: wrong bytes")),
                        Err(e) => bad.lock().unwrap().push(format!("mount: {p}: {e}")),
                    }
                }
            }
        }));
    }
    let s = store.to_string_lossy().into_owned();
    for (i, p) in inputs[1..].iter().enumerate() {
        let out = import_run(&store, p, &[]);
        assert_eq!(out.status.code(), Some(0), "import {i}: {}", text(&out.stderr));
        if i == 2 {
            let victim = format!("{}@{V}", first[0]);
            ok(&modcachefs(&["--store", &s, "rm", &victim]), "rm");
            ok(&modcachefs(&["--store", &s, "gc"]), "gc");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let bad = bad.lock().unwrap().clone();
    let checked = *checked.lock().unwrap();
    assert!(bad.is_empty(), "{} errors or wrong reads, first: {:?}", bad.len(), &bad[..bad.len().min(5)]);
    assert!(checked > 1 << 20, "only {checked} bytes checked");
    // The read-only side sees the new modules, and the removal.
    let st = Store::open_ro(&ro).unwrap();
    assert_eq!(st.module_count().unwrap(), 7 * 5 - 1);
    assert!(st.find_module(&first[0], V).unwrap().is_none());
    assert!(st.find_module("example.com/live/r6/m004", V).unwrap().is_some());
    // The mount of the read-only side follows: the new modules appear, the removed one goes.
    let at_v = |p: &str| mount.dir.join(format!("cache/download/{p}/@v/{V}.mod"));
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while (at_v(&first[0]).exists() || !at_v("example.com/live/r6/m004").exists())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!at_v(&first[0]).exists(), "the removed module is gone from the mount of the read-only side");
    assert!(at_v("example.com/live/r6/m004").exists(), "the last import is served by the mount of the read-only side");
    let log = mount.stop();
    assert!(!log.contains("error"), "the mount logged errors:\n{log}");
    eprintln!("{checked} bytes checked through the read-only bind mount, no errors");
}

/// SIGKILL of imports at random points while a reader reads: every state stays
/// whole, and the next import cleans up what the killed ones left in tmp/.
#[test]
fn kill_9_of_imports_leaves_whole_states_and_the_next_import_cleans_up() {
    let tmp = tempdir("live-kill");
    let store = tmp.path().join("store");
    let small = tmp.path().join("small");
    proxy_tree(&small, "k0", 3);
    assert!(import_run(&store, &small, &[]).status.success());
    let big = tmp.path().join("big");
    proxy_tree(&big, "k1", 900);
    let t0 = Instant::now();
    let clean = tmp.path().join("clean");
    assert!(import_run(&clean, &big, &[]).status.success());
    let full = t0.elapsed();

    let readers = Readers::start(&store, false);
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut killed = 0;
    let mut left = 0;
    for round in 0..6 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // The first kill comes early, so that one import surely dies however fast
        // the machine is at that moment (an import that ends makes the later
        // rounds' imports quick no-ops); the others anywhere in a whole import.
        let delay = match round {
            0 => full / 10,
            _ => Duration::from_millis(rng % (full.as_millis() as u64).max(1)),
        };
        let mut child = Command::new(BIN)
            .arg("--store")
            .arg(&store)
            .arg("import")
            .arg(&big)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed += 1;
        } else {
            assert_eq!(status.code(), Some(0), "round {round}: import ended by itself, but not well");
        }
        left += tmp_files(&store).len();
        check_state(&store).unwrap_or_else(|e| panic!("round {round}, killed after {delay:?}: {e}"));
    }
    let (problems, reads) = readers.finish();
    assert!(problems.is_empty(), "{problems:?}");
    assert!(killed > 0, "no import was killed before it ended ({full:?} for a whole one)");
    // The next import finishes the job and leaves nothing behind.
    let out = import_run(&store, &big, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(tmp_files(&store).is_empty(), "left in tmp/: {:?}", tmp_files(&store));
    assert!(stray_index_files(&store).is_empty(), "stray index files: {:?}", stray_index_files(&store));
    assert_eq!(check_state(&store), Ok(903));
    ok(&modcachefs(&["--store", &store.to_string_lossy(), "verify"]), "verify");
    eprintln!("{killed} of 6 imports killed, {left} temp files seen after kills, {reads} states read");
}

/// A second writer waits for the first, saying which process holds the store;
/// with --no-wait it fails at once saying so; two imports started together both
/// succeed, one after the other.
#[test]
fn concurrent_writers_serialise_or_say_who_holds_the_store() {
    use std::os::fd::AsRawFd;
    let tmp = tempdir("live-lock");
    let store = tmp.path().join("store");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    proxy_tree(&a, "la", 200);
    proxy_tree(&b, "lb", 200);
    assert!(import_run(&store, &a, &[]).status.success());

    // Hold the writers' lock as a writer would, from this process.
    let lock = std::fs::OpenOptions::new().read(true).write(true).open(store.join("lock")).unwrap();
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    std::fs::write(store.join("lock"), format!("{} import\n", std::process::id())).unwrap();
    let out = import_run(&store, &b, &["--no-wait"]);
    assert_eq!(out.status.code(), Some(2), "--no-wait while another holds the store");
    let err = text(&out.stderr);
    assert!(err.contains(&format!("another modcachefs import (pid {}) holds", std::process::id())), "{err}");
    for cmd in [&["rm", "--no-wait", "example.com/live/la/m000"][..], &["gc", "--no-wait"], &["compact", "--no-wait"]] {
        let out = modcachefs(&[&["--store", &store.to_string_lossy()][..], cmd].concat());
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("holds"), "{cmd:?}: {}", text(&out.stderr));
    }
    let child = Command::new(BIN)
        .arg("--store")
        .arg(&store)
        .arg("import")
        .arg(&b)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(check_state(&store), Ok(200), "the waiting import wrote before it had the lock");
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_UN) };
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("waiting for another modcachefs import (pid {}) that holds", std::process::id())),
        "{err}"
    );
    assert_eq!(check_state(&store), Ok(400));

    // Two real imports at once: both succeed.
    let (c, d) = (tmp.path().join("c"), tmp.path().join("d"));
    proxy_tree(&c, "lc", 300);
    proxy_tree(&d, "ld", 300);
    let spawn = |p: &Path| {
        Command::new(BIN).arg("--store").arg(&store).arg("import").arg(p).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (x, y) = (spawn(&c), spawn(&d));
    let (x, y) = (x.wait_with_output().unwrap(), y.wait_with_output().unwrap());
    assert_eq!(x.status.code(), Some(0), "{}", text(&x.stderr));
    assert_eq!(y.status.code(), Some(0), "{}", text(&y.stderr));
    assert_eq!(check_state(&store), Ok(1000));
}

/// `rm` hides a module from new readers while an older state still reads it;
/// `gc --dry-run --json` lists what gc would drop and drops nothing; gc keeps the
/// blobs of recent states for its grace period and drops only blobs no module
/// refers to; `compact` keeps every module's id.
#[test]
fn rm_gc_and_compact() {
    let tmp = tempdir("live-rm");
    let store = tmp.path().join("store");
    let s = store.to_string_lossy().into_owned();
    let input = tmp.path().join("in");
    let zips = proxy_tree(&input, "g", 4);
    assert!(import_run(&store, &input, &[]).status.success());
    let old = Store::open_ro(&store).unwrap();
    let victim = "example.com/live/g/m001";
    let gone = old.find_module(victim, V).unwrap().expect("imported");
    let gone_zip = gone.zip.clone().unwrap().blob;
    // A blob no module refers to (as a killed import leaves).
    let stray = store::digest_hex(b"stray");
    std::fs::create_dir_all(store.join("blobs").join(&stray[..2])).unwrap();
    std::fs::write(store::blob_path(&store, &stray), b"stray").unwrap();

    let out = modcachefs(&["--store", &s, "rm", "--dry-run", "--json", victim]);
    assert!(text(&out.stdout).contains(victim) && out.status.success(), "{}", text(&out.stderr));
    assert!(Store::open_ro(&store).unwrap().find_module(victim, V).unwrap().is_some(), "--dry-run removed");
    let out = modcachefs(&["--store", &s, "rm", "--json", victim, "example.com/nothing/here"]);
    assert_eq!(out.status.code(), Some(1), "an argument naming nothing: {}", text(&out.stderr));
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(js["removed"][0]["path"], victim);
    assert_eq!(js["missing"][0], "example.com/nothing/here");

    let new = Store::open_ro(&store).unwrap();
    assert!(new.find_module(victim, V).unwrap().is_none());
    assert!(new.module_versions(victim).unwrap().is_empty());
    assert!(new.module_by_id(gone.id).unwrap().is_none());
    assert_eq!(new.module_count().unwrap(), 3);
    assert!(!new.path_children("example.com/live/g").unwrap().iter().any(|c| c.elem == "m001"));
    assert!(new.generation() > old.generation());
    let ch = new.changes_since(&old).unwrap();
    assert_eq!(ch.removed, [(victim.to_string(), V.to_string())]);
    assert!(ch.added.is_empty(), "{ch:?}");
    // The older state still reads it whole.
    assert_eq!(old.find_module(victim, V).unwrap().as_ref(), Some(&gone));
    assert_eq!(old.entries(gone.id).unwrap().len() as u64, gone.zip.as_ref().unwrap().file_count);

    let blobs_before = std::fs::read_dir(store.join("blobs")).unwrap().count();
    let out = modcachefs(&["--store", &s, "gc", "--dry-run", "--json", "--grace", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: BTreeSet<String> =
        js["blobs"].as_array().unwrap().iter().map(|b| b["blob"].as_str().unwrap().into()).collect();
    let mod_blob = store::digest_hex(format!("module {victim}\n").as_bytes());
    assert_eq!(listed, BTreeSet::from([stray.clone(), gone_zip.clone(), mod_blob.clone()]), "{js}");
    assert!(
        store::blob_path(&store, &stray).exists() && store::blob_path(&store, &gone_zip).exists(),
        "--dry-run deleted"
    );
    assert_eq!(std::fs::read_dir(store.join("blobs")).unwrap().count(), blobs_before);

    // Within the grace period the removed module's blobs stay (the old state may read them).
    let out = modcachefs(&["--store", &s, "gc", "--json"]);
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(js["blobs"].as_array().unwrap().len(), 1, "{js}");
    assert_eq!(js["blobs"][0]["blob"], stray.as_str());
    assert!(js["blobs_in_grace"].as_u64().unwrap() >= 2, "{js}");
    assert!(!store::blob_path(&store, &stray).exists());
    assert!(store::read_blob_limited(&store, &gone_zip, 1 << 20).is_ok_and(|b| b == zips[victim]));

    // compact: one segment, the same modules under the same ids.
    let before: Vec<_> = new.modules().unwrap();
    let out = modcachefs(&["--store", &s, "compact", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = Store::open_ro(&store).unwrap();
    assert_eq!(index_segments(&store).len(), 1);
    assert_eq!(after.modules().unwrap(), before);
    for m in &before {
        assert_eq!(after.module_by_id(m.id).unwrap().as_ref(), Some(m));
    }
    assert!(after.find_module(victim, V).unwrap().is_none(), "compact brought a removed module back");
    // Past the grace period: the removed module's blobs go, every other blob stays.
    let out = modcachefs(&["--store", &s, "gc", "--json", "--grace", "0"]);
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dropped: BTreeSet<String> =
        js["blobs"].as_array().unwrap().iter().map(|b| b["blob"].as_str().unwrap().into()).collect();
    assert_eq!(dropped, BTreeSet::from([gone_zip, mod_blob]), "{js}");
    assert!(!js["segments"].as_array().unwrap().is_empty(), "merged-away segments not deleted: {js}");
    ok(&modcachefs(&["--store", &s, "verify"]), "verify after gc");
    assert_eq!(check_state(&store), Ok(3));

    // Imported again, it comes back under a new id (ids are never reused).
    let out = import_run(&store, &input, &["--json"]);
    assert!(text(&out.stdout).contains("\"added\":1,"), "{}", text(&out.stdout));
    let back = Store::open_ro(&store).unwrap().find_module(victim, V).unwrap().unwrap();
    assert!(back.id > before.iter().map(|m| m.id).max().unwrap(), "id {} reused", back.id);
}
