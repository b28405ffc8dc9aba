//! What an operator runs into: the environment `env` prints (go workspaces), option
//! values and directories checked before anything starts, the stats socket (its
//! name, modes, owner, who may read it, clients that misbehave, a second daemon at
//! the same path), `status` exit codes, pidfiles and logs in directories others can
//! write, systemd readiness and a stop that leaves no dead mount. Real mounts, the
//! real `go`, `nobody` where the behaviour is about other users.

mod common;
use common::daemon::*;
use common::*;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

/// The stats socket this test process (root) would find for a mount at `mnt`.
fn socket_of(mnt: &Path) -> PathBuf {
    modcachefs::ops::statsock::socket_path(mnt).expect("a directory for stats sockets")
}

/// The report of the daemon serving `mnt`, as JSON.
fn report(mnt: &Path) -> serde_json::Value {
    let out = output_within(Command::new(BIN).args(["stats", "--format", "json"]).arg(mnt), 20, "stats --format json");
    let text = ok(&out, "stats --format json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stats --format json: not JSON ({e}): {text}"))
}

/// `modcachefs env` output evaluated by a shell, then `go build` in a go workspace:
/// the environment must not set `GOFLAGS=-mod=mod`, which workspaces refuse. Both
/// Go versions. The memory cache size is given with a fraction (1.5G).
#[test]
fn env_output_builds_a_go_workspace() {
    let tmp = tempdir("op-env");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--cache-size", "1.5G"]);
    let mnt = m.dir.canonicalize().unwrap();
    for (label, gobin) in gos() {
        let ws = tmp.path().join(format!("ws-{label}"));
        let app = app_copy(&ws);
        // A complete go.sum, as a project keeps one: -mod=mod may write it once.
        let go = Go::new(&gobin, &mnt, &shared_gocache(), "off");
        go.run(&app, &["build", "./..."]);
        assert!(app.join("go.sum").is_file(), "go build -mod=mod wrote no go.sum");
        std::fs::write(ws.join("go.work"), "go 1.19\n\nuse ./app\n").unwrap();
        let home = ws.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let script = r#"eval "$("$0" env "$1")" && cd "$2" && "$3" env GOWORK GOFLAGS && exec "$3" build ./..."#;
        let out = output_within(
            Command::new("sh")
                .args(["-c", script, BIN])
                .arg(&mnt)
                .arg(&app)
                .arg(&gobin)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", &home)
                .env("GOPATH", home.join("gopath"))
                .env("GOCACHE", shared_gocache())
                .env("GOENV", "off")
                .env("CGO_ENABLED", "0")
                // The app sits inside this git checkout; go would try to stamp it.
                .env("GOFLAGS", "-buildvcs=false"),
            300,
            "env + go build in a workspace",
        );
        let printed = ok(&out, &format!("go {label}: eval \"$(modcachefs env MNT)\"; go build in a go workspace"));
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.first().copied(), Some(&*ws.join("go.work").to_string_lossy()), "not in workspace mode");
        assert_eq!(lines.get(1).copied(), Some("-buildvcs=false"), "env changed GOFLAGS: {printed}");
    }
    let env = ok(&modcachefs(&["env", &mnt.to_string_lossy()]), "env");
    assert!(!env.contains("GOFLAGS"), "env prints GOFLAGS:\n{env}");
    assert_eq!(m.stat("verifications_failed"), 0);
}

/// Option values that cannot work are refused before anything starts, with the
/// accepted range; nothing is mounted.
#[test]
fn nonsense_option_values_are_refused() {
    let tmp = tempdir("op-values");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let m = mnt.to_string_lossy().into_owned();
    let cases: &[(&[&str], &str)] = &[
        (&["--cache-size", "0"], "between 1MiB and"),
        (&["--cache-size", "1K"], "between 1MiB and"),
        (&["--cache-size", "5iB"], "not a size"),
        (&["--cache-size", "1mbbb"], "not a size"),
        (&["--cache-size", "1.5"], "not a whole number of bytes"),
        (&["--cache-dir-size", "0"], "between 1MiB and"),
        (&["--workers", "0"], "from 1 to 256"),
        (&["--workers", "1000"], "from 1 to 256"),
        (&["--stats-access", "world"], "owner, group=NAME or all"),
        (&["--stats-access", "all"], "for --allow-other mounts"),
    ];
    for (args, want) in cases {
        let mut all = vec!["--store", "/nonexistent-store", "mount", &m];
        all.extend_from_slice(args);
        let out = modcachefs(&all);
        assert_eq!(code(&out), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(want), "{args:?}: wanted {want:?} in:\n{}", text(&out.stderr));
    }
    for args in [&["import", "--threads", "0", "/x"][..], &["verify", "--threads", "0"]] {
        let out = modcachefs(args);
        assert_eq!(code(&out), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("from 1 to 1024"), "{args:?}: {}", text(&out.stderr));
    }
    assert!(!is_mounted(&mnt));
}

/// A `--cache-dir` that large files could not be extracted to fails the mount
/// (exit 2, naming it and why), checked by the code that extracts them.
#[test]
fn bad_cache_dir_fails_the_mount() {
    let tmp = tempdir("op-cachedir");
    let store = corpus_store(tmp.path());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // Read-only for root too: a read-only bind mount of a directory.
    let ro = tmp.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    run(Command::new("mount").arg("--bind").arg(&ro).arg(&ro), "mount --bind");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _ro = Unmount(ro.clone());
    run(Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&ro), "remount ro");
    let cases = [
        (tmp.path().join("missing"), "does not exist"),
        (file.clone(), "not a directory"),
        (ro.clone(), "Read-only file system"),
    ];
    for (dir, want) in cases {
        for daemon in [false, true] {
            let mut c = Command::new(BIN);
            c.arg("--store").arg(&store).arg("mount").arg(&mnt).arg("--cache-dir").arg(&dir);
            if daemon {
                c.arg("--daemon").arg("--log-file").arg(tmp.path().join("d.log"));
            }
            let out = output_within(&mut c, 30, "mount with a bad --cache-dir");
            let err = text(&out.stderr);
            assert_eq!(code(&out), Some(2), "--cache-dir {}: {err}", dir.display());
            assert!(
                err.contains(&format!("--cache-dir {}", dir.display())) && err.contains(want),
                "--cache-dir {}: wanted {want:?} in: {err}",
                dir.display()
            );
            assert!(!is_mounted(&mnt), "mounted despite --cache-dir {}", dir.display());
        }
    }
}

/// A missing mountpoint is named as such; a mistyped `--store` on import is said
/// to start a new store, and a non-empty directory that is not a store is refused.
#[test]
fn missing_mountpoint_and_mistyped_store() {
    let tmp = tempdir("op-paths");
    let missing = tmp.path().join("no-such-dir");
    let out = modcachefs(&["--store", "/nonexistent-store", "mount", &missing.to_string_lossy()]);
    assert_eq!(code(&out), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&*missing.to_string_lossy()) && err.contains("mountpoint does not exist"), "{err}");

    let zip = tmp.path().join("m.zip");
    std::fs::write(&zip, zipgen::two_files()).unwrap();
    // Not a store, not empty: refused, left as it was.
    let notstore = tmp.path().join("notstore");
    std::fs::create_dir_all(&notstore).unwrap();
    std::fs::write(notstore.join("notes.txt"), "mine").unwrap();
    let out = Command::new(BIN).arg("--store").arg(&notstore).arg("import").arg(&zip).output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a modcachefs store"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&notstore).unwrap().count(), 1, "import wrote into {}", notstore.display());
    // A new store is announced (at info level when stderr is not a terminal).
    let fresh = tmp.path().join("fresh");
    let out = Command::new(BIN).arg("--store").arg(&fresh).arg("-v").arg("import").arg(&zip).output().unwrap();
    let err = ok(&out, "import into a new store").to_string() + &text(&out.stderr);
    assert!(err.contains(&format!("creating a new store at {}", fresh.display())), "{err}");
    let out = Command::new(BIN).arg("--store").arg(&fresh).arg("import").arg(&zip).output().unwrap();
    ok(&out, "import into the existing store");
    assert!(!text(&out.stderr).contains("creating"), "{}", text(&out.stderr));
}

/// After `umount --lazy` and a new mount at the same path, the old daemon exits
/// when its last file is closed, and leaves the new daemon's socket alone.
#[test]
fn lazy_unmount_and_remount_keeps_the_new_socket() {
    let tmp = tempdir("op-swap");
    let store = corpus_store(tmp.path());
    let dir = tmp.path().join("mnt");
    let old = Mount::new(&store, &dir, &[]);
    let mnt = dir.canonicalize().unwrap();
    assert_eq!(report(&mnt)["pid"], old.pid());
    let held = std::fs::File::open(mnt.join("cache/download/github.com/kr/fs/@v/list")).expect("open a file");
    run(Command::new("umount").arg("-l").arg(&mnt), "umount -l");
    let new = Mount::new(&store, &dir, &[]);
    assert_eq!(report(&mnt)["pid"], new.pid(), "stats reached the old daemon");
    drop(held);
    let old_pid = old.pid();
    assert!(wait_until(10, || exited(old_pid)), "the old daemon did not exit");
    assert!(socket_of(&mnt).exists(), "the old daemon removed the new daemon's socket");
    assert_eq!(report(&mnt)["pid"], new.pid());
    let status = output_within(Command::new(BIN).arg("status").arg(&mnt), 20, "status");
    assert!(ok(&status, "status MNT").contains("  responding"));
    let log = old.stop();
    assert!(log.contains("replaced by another daemon's socket"), "old daemon's log:\n{log}");
}

/// A stopped daemon: `status` says NOT RESPONDING and exits 1 within its timeout
/// (`status MNT` too), `stats` fails; once it runs again both exit 0.
#[test]
fn status_exit_code_with_a_stopped_daemon() {
    let tmp = tempdir("op-stopped");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let mnt = m.dir.canonicalize().unwrap();
    let ms = mnt.to_string_lossy().into_owned();
    let status = |args: &[&str]| output_within(Command::new(BIN).arg("status").args(args), 20, "status");
    assert_eq!(code(&status(&[&ms])), Some(0));
    struct Cont(i32);
    impl Drop for Cont {
        fn drop(&mut self) {
            unsafe { libc::kill(self.0, libc::SIGCONT) };
        }
    }
    let pid = m.pid() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let cont = Cont(pid);
    let t0 = Instant::now();
    let one = status(&["--timeout", "1", &ms]);
    assert!(t0.elapsed() < Duration::from_secs(5), "status took {:?}", t0.elapsed());
    assert_eq!(code(&one), Some(1), "status MNT of a stopped daemon: {}", text(&one.stdout));
    assert!(text(&one.stdout).contains("NOT RESPONDING"), "{}", text(&one.stdout));
    assert!(text(&one.stderr).contains("does not answer"), "{}", text(&one.stderr));
    let all = status(&["--timeout", "1"]);
    assert_eq!(code(&all), Some(1), "status of all mounts: {}", text(&all.stdout));
    let json = status(&["--json", "--timeout", "1", &ms]);
    assert_eq!(code(&json), Some(1));
    let line: serde_json::Value = serde_json::from_str(text(&json.stdout).trim()).expect("status --json line");
    assert_eq!(line["responding"], false, "{line}");
    let stats = output_within(Command::new(BIN).args(["stats", "--timeout", "1"]).arg(&mnt), 20, "stats");
    assert_eq!(code(&stats), Some(2));
    drop(cont);
    assert_eq!(code(&status(&[&ms])), Some(0), "after SIGCONT");
}

/// `nobody` finds a root daemon's socket in /run/modcachefs and reads it when the
/// daemon grants its group access (`--stats-access group=nogroup`); a default
/// daemon's socket is 0600 and refuses nobody with a message saying so, even
/// under umask 000 (its log 0640, its directory not writable by others); `env` warns
/// nobody about a mount without allow_other.
#[test]
fn other_users_and_socket_modes() {
    become_subreaper();
    let tmp = tempdir("op-nobody");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = corpus_store(tmp.path());
    let shared = Mount::new(&store, &tmp.path().join("shared"), &["--allow-other", "--stats-access", "group=nogroup"]);
    let shared_mnt = shared.dir.canonicalize().unwrap();
    // The private one is a --daemon started under umask 000.
    let private_mnt = tmp.path().join("private");
    std::fs::create_dir_all(&private_mnt).unwrap();
    let private_mnt = private_mnt.canonicalize().unwrap();
    let pidfile = tmp.path().join("private.pid");
    let mut daemon = Daemon { mnt: private_mnt.clone(), pid: None };
    let mut c = Command::new("sh");
    c.args(["-c", "umask 000 && exec \"$@\"", "sh", BIN, "--store"]).arg(&store).arg("mount").arg(&private_mnt);
    c.arg("--daemon").arg("--pidfile").arg(&pidfile);
    ok(&output_within(&mut c, 30, "mount --daemon under umask 000"), "mount --daemon under umask 000");
    daemon.pid = Some(read_pid(&pidfile));

    let sock = socket_of(&private_mnt);
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket_like(), "{} is not a socket", sock.display());
    assert_eq!(meta.mode() & 0o777, 0o600, "socket mode under umask 000");
    let log = modcachefs::ops::daemon::default_log(&private_mnt).unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().mode() & 0o777, 0o640, "log mode under umask 000");
    let dir = std::fs::metadata(sock.parent().unwrap()).unwrap();
    assert_eq!(dir.mode() & 0o022, 0, "socket directory writable by others: {:o}", dir.mode());
    let shared_sock = std::fs::metadata(socket_of(&shared_mnt)).unwrap();
    assert_eq!((shared_sock.mode() & 0o777, shared_sock.gid()), (0o660, NOBODY), "--stats-access group=nogroup");

    let rt = tempdir("op-nobody-rt");
    std::fs::set_permissions(rt.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(rt.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let nobody = |args: &[&std::ffi::OsStr]| {
        let mut c = Command::new(BIN);
        c.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        c.env("XDG_RUNTIME_DIR", rt.path());
        output_within(&mut setpriv_nobody(&c), 20, "as nobody")
    };
    let s = shared_mnt.as_os_str();
    let p = private_mnt.as_os_str();
    let out = nobody(&["stats".as_ref(), s]);
    assert!(ok(&out, "stats as nobody (group access)").contains("lookups"), "{}", text(&out.stdout));
    assert_eq!(code(&nobody(&["status".as_ref(), s])), Some(0));
    let out = nobody(&["stats".as_ref(), p]);
    assert_eq!(code(&out), Some(2));
    assert!(text(&out.stderr).contains("not open to this user"), "{}", text(&out.stderr));
    let out = nobody(&["status".as_ref(), p]);
    assert_eq!(code(&out), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("stats not readable by this user"), "{}", text(&out.stdout));
    let out = nobody(&["env".as_ref(), p]);
    ok(&out, "env as nobody");
    assert!(text(&out.stderr).contains("without --allow-other"), "env did not warn: {}", text(&out.stderr));
    let out = nobody(&["env".as_ref(), s]);
    ok(&out, "env as nobody");
    assert!(out.stderr.is_empty(), "env warned about an allow_other mount: {}", text(&out.stderr));

    run(Command::new(BIN).arg("umount").arg(&private_mnt), "umount");
    let pid = daemon.pid.take().unwrap();
    assert!(wait_until(10, || gone(pid)), "daemon still running");
    assert!(!pidfile.exists() && !sock.exists(), "the daemon left its pidfile or socket");
}

/// `Path::is_socket()` without the extension trait noise.
trait IsSocket {
    fn is_socket_like(&self) -> bool;
}

impl IsSocket for std::fs::FileType {
    fn is_socket_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_socket()
    }
}

/// `stats` as text lists the extracted modules one per line; `--format prometheus`
/// is valid text exposition format: every line a `# HELP`, a `# TYPE`, or a sample
/// `name{labels} value` of a declared metric.
#[test]
fn stats_text_json_and_prometheus() {
    let tmp = tempdir("op-formats");
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let mnt = m.dir.canonicalize().unwrap();
    let file = mnt.join("github.com/kr/fs@v0.1.0/go.mod");
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let out = ok(&modcachefs(&["stats", &mnt.to_string_lossy()]), "stats");
    assert!(out.contains("\nextracted (1 modules):\n  github.com/kr/fs@v0.1.0\n"), "{out}");
    assert!(!out.contains('['), "a JSON array in the text form:\n{out}");
    let r = report(&mnt);
    assert_eq!(r["modules_extracted"], 1);
    assert_eq!(r["extracted"], serde_json::json!(["github.com/kr/fs@v0.1.0"]));
    let legacy = ok(&modcachefs(&["stats", "--json", &mnt.to_string_lossy()]), "stats --json");
    assert!(serde_json::from_str::<serde_json::Value>(&legacy).is_ok(), "{legacy}");

    let prom = ok(&modcachefs(&["stats", "--format", "prometheus", &mnt.to_string_lossy()]), "stats prometheus");
    let mut typed = std::collections::BTreeMap::new();
    let mut samples = std::collections::BTreeMap::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && !n.starts_with(|c: char| c.is_ascii_digit())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in prom.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("bad HELP: {line}"));
            assert!(name_ok(name) && !help.is_empty(), "bad HELP: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE: {line}"));
            assert!(name_ok(name) && ["counter", "gauge"].contains(&kind), "bad TYPE: {line}");
            assert!(typed.insert(name.to_string(), kind.to_string()).is_none(), "TYPE twice: {line}");
        } else {
            let (name, rest) = line.split_once('{').unwrap_or_else(|| panic!("not a sample: {line:?}"));
            let (labels, value) = rest.rsplit_once("} ").unwrap_or_else(|| panic!("not a sample: {line:?}"));
            assert!(name_ok(name), "bad metric name: {line}");
            assert!(typed.contains_key(name), "sample before its TYPE: {line}");
            let want = format!("mountpoint=\"{}\"", mnt.display());
            assert_eq!(labels, want, "labels of {line}");
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
            samples.insert(name.to_string(), v);
        }
    }
    for (name, kind) in &typed {
        assert_eq!(name.ends_with("_total"), kind == "counter", "{name} is a {kind}");
        assert!(samples.contains_key(name), "{name} has no sample");
    }
    assert_eq!(samples.get("modcachefs_modules_extracted_total"), Some(&1.0), "{prom}");
    assert_eq!(typed.get("modcachefs_cache_bytes").map(String::as_str), Some("gauge"));
    assert!(samples.len() >= 20, "only {} metrics:\n{prom}", samples.len());
}

/// `help --help`; a second `mount --daemon` on a served mountpoint fails without
/// writing into the running daemon's log; `comment=` passes through mount(8).
#[test]
fn help_help_and_a_second_daemon() {
    become_subreaper();
    let out = modcachefs(&["help", "--help"]);
    assert!(ok(&out, "help --help").contains("Usage:"), "{}", text(&out.stdout));
    let out = modcachefs(&["help", "mount", "--help"]);
    assert!(ok(&out, "help mount --help").contains("--cache-dir"));

    let tmp = tempdir("op-second");
    let store = corpus_store(tmp.path());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mnt = mnt.canonicalize().unwrap();
    let pidfile = tmp.path().join("d.pid");
    let mut daemon = Daemon { mnt: mnt.clone(), pid: None };
    // Through mount(8)'s convention, with an fstab comment= option.
    let opts = format!("ro,comment=x-gvfs-hide,pidfile={}", pidfile.display());
    let mut first = Command::new(BIN);
    first.arg(&store).arg(&mnt).arg("-o").arg(&opts);
    ok(&output_within(&mut first, 30, "first mount"), "mount with comment=");
    daemon.pid = Some(read_pid(&pidfile));
    let log = modcachefs::ops::daemon::default_log(&mnt).unwrap();
    let before = std::fs::read_to_string(&log).unwrap();
    let second = output_within(
        Command::new(BIN).arg("--store").arg(&store).arg("mount").arg(&mnt).arg("--daemon"),
        30,
        "second mount",
    );
    assert_eq!(code(&second), Some(2), "{}", text(&second.stderr));
    assert!(text(&second.stderr).contains("already mounted"), "{}", text(&second.stderr));
    let after = std::fs::read_to_string(&log).unwrap();
    assert_eq!(before, after, "the second mount wrote into the running daemon's log");
    assert_eq!(report(&mnt)["pid"], daemon.pid.unwrap());
}

/// Planted symlinks in a directory anyone can write: the pidfile and the log are
/// never written through them (the root-owned 0600 target stays as it was) and
/// the mount refuses, saying why; a log of another user, or with a second name, is
/// refused; a stale pidfile is replaced by a new file, not written in place.
#[test]
fn pidfile_and_log_are_not_followed() {
    become_subreaper();
    let tmp = tempdir("op-symlinks");
    let store = corpus_store(tmp.path());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mnt = mnt.canonicalize().unwrap();
    let open = tmp.path().join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let secret = tmp.path().join("authorized_keys");
    std::fs::write(&secret, "ssh-ed25519 AAAA root@host\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let snapshot = || (std::fs::read(&secret).unwrap(), std::fs::metadata(&secret).unwrap().mode());
    let before = snapshot();
    let link = |name: &str| {
        let p = open.join(name);
        std::os::unix::fs::symlink(&secret, &p).unwrap();
        p
    };
    let mount = |extra: &[&std::ffi::OsStr]| {
        let mut c = Command::new(BIN);
        c.arg("--store").arg(&store).arg("mount").arg(&mnt).arg("--daemon").args(extra);
        output_within(&mut c, 30, "mount --daemon")
    };
    let good_log = open.join("good.log");
    let pid_link = link("mcfs.pid");
    let log_link = link("mcfs.log");
    let out = mount(&["--pidfile".as_ref(), pid_link.as_os_str(), "--log-file".as_ref(), good_log.as_os_str()]);
    assert_eq!(code(&out), Some(2), "symlinked pidfile: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("pidfile exists and is not a regular file"), "{}", text(&out.stderr));
    assert!(wait_until(10, || !is_mounted(&mnt)), "mounted despite a symlinked pidfile");
    let out = mount(&["--log-file".as_ref(), log_link.as_os_str()]);
    assert_eq!(code(&out), Some(2), "symlinked log: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("log file is a symbolic link"), "{}", text(&out.stderr));
    assert!(!is_mounted(&mnt));
    assert_eq!(snapshot(), before, "{} was changed through a symlink", secret.display());
    // Someone else's log file, and a hard link to one of root's files.
    let theirs = open.join("theirs.log");
    std::fs::write(&theirs, "").unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let hard = open.join("hard.log");
    std::fs::hard_link(&secret, &hard).unwrap();
    for log in [&theirs, &hard] {
        let out = mount(&["--log-file".as_ref(), log.as_os_str()]);
        assert_eq!(code(&out), Some(2), "{}: {}", log.display(), text(&out.stderr));
        assert!(text(&out.stderr).contains("refusing to append"), "{}", text(&out.stderr));
    }
    assert_eq!(snapshot(), before, "{} was changed through a hard link", secret.display());
    // A stale pidfile (a pid that is no modcachefs) with a second name: replaced by
    // a new file; the old inode keeps its bytes.
    let stale = open.join("stale.pid");
    std::fs::write(&stale, format!("{}\n", std::process::id())).unwrap();
    let keep = open.join("stale-other-name");
    std::fs::hard_link(&stale, &keep).unwrap();
    let mut daemon = Daemon { mnt: mnt.clone(), pid: None };
    let out = mount(&["--pidfile".as_ref(), stale.as_os_str(), "--log-file".as_ref(), good_log.as_os_str()]);
    ok(&out, "mount --daemon over a stale pidfile");
    let pid = read_pid(&stale);
    daemon.pid = Some(pid);
    assert_ne!(pid as u32, std::process::id());
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), format!("{}\n", std::process::id()), "old pidfile rewritten");
    assert_eq!(std::fs::metadata(&good_log).unwrap().mode() & 0o777, 0o640);
    // And a live daemon's pidfile is not taken over.
    let out = Command::new(BIN)
        .arg("--store")
        .arg(&store)
        .arg("mount")
        .arg(tmp.path())
        .arg("--daemon")
        .arg("--pidfile")
        .arg(&stale)
        .arg("--log-file")
        .arg(open.join("other.log"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("names a running modcachefs"), "{}", text(&out.stderr));
    assert_eq!(read_pid(&stale), pid);
    run(Command::new(BIN).arg("umount").arg(&mnt), "umount");
    assert!(wait_until(10, || gone(pid) && !stale.exists()), "daemon or pidfile left");
    daemon.pid = None;
}

/// Whether a child of ours has exited (is gone, or a zombie not reaped yet).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A report larger than a socket buffer (1,500 modules with long paths, all
/// extracted): a client that connects and never reads does not hold up `stats`
/// for others; out of descriptors (EMFILE), the daemon backs off instead of
/// spinning, and answers again once it has descriptors.
#[test]
fn stats_socket_holds_against_bad_clients() {
    let tmp = tempdir("op-clients");
    let zips = tmp.path().join("zips");
    std::fs::create_dir_all(&zips).unwrap();
    let n = 1500;
    let long = "p".repeat(200);
    let paths: Vec<String> = (0..n).map(|i| format!("example.com/{long}/m{i}")).collect();
    for (i, p) in paths.iter().enumerate() {
        std::fs::write(
            zips.join(format!("m{i}.zip")),
            zipgen::module_zip(p, "v1.0.0", "package m\n", zipgen::stored()),
        )
        .unwrap();
    }
    let store = tmp.path().join("store");
    let files: Vec<PathBuf> = (0..n).map(|i| zips.join(format!("m{i}.zip"))).collect();
    import(&store, &files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &[]);
    let mnt = m.dir.canonicalize().unwrap();
    for p in &paths {
        std::fs::read(mnt.join(format!("{p}@v1.0.0/a.go"))).unwrap();
    }
    let full = ok(&modcachefs(&["stats", "--format", "json", &mnt.to_string_lossy()]), "stats");
    assert!(full.len() > 300_000, "report of {} bytes: not larger than a socket buffer", full.len());

    // Clients that connect and never read.
    let sock = socket_of(&mnt);
    let idle: Vec<_> = (0..3).map(|_| std::os::unix::net::UnixStream::connect(&sock).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let out = output_within(Command::new(BIN).args(["stats", "--timeout", "10"]).arg(&mnt), 20, "stats");
    ok(&out, "stats while clients do not read");
    assert!(t0.elapsed() < Duration::from_secs(2), "stats took {:?} beside clients that do not read", t0.elapsed());
    drop(idle);

    // No descriptors left: accept fails with EMFILE while a client waits.
    // The limit is on descriptor numbers: below 3, no new descriptor can be made.
    let pid = m.pid();
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let tight = libc::rlimit { rlim_cur: 3, rlim_max: libc::RLIM_INFINITY };
    let r = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old) };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
    let tight = libc::rlimit { rlim_max: old.rlim_max, ..tight };
    struct Restore(i32, libc::rlimit);
    impl Drop for Restore {
        fn drop(&mut self) {
            unsafe { libc::prlimit(self.0, libc::RLIMIT_NOFILE, &self.1, std::ptr::null_mut()) };
        }
    }
    assert_eq!(unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &tight, std::ptr::null_mut()) }, 0);
    let restore = Restore(pid as i32, old);
    let mut waiting = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let cpu0 = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_seconds(pid) - cpu0;
    eprintln!("daemon CPU in 2 s without descriptors: {spent:.2} s");
    assert!(spent < 0.3, "the daemon used {spent:.2} s of CPU in 2 s while out of descriptors");
    drop(restore);
    waiting.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = String::new();
    waiting.read_to_string(&mut got).expect("the waiting client's report");
    assert!(got.len() > 300_000, "the waiting client got {} bytes", got.len());
    assert!(m.log_text().contains("accept failed"), "{}", m.log_text());
}

/// Two mounts whose paths differ only in `/` against `_` have their own sockets
/// and logs.
#[test]
fn socket_names_are_injective() {
    let tmp = tempdir("op-names");
    let store = corpus_store(tmp.path());
    let a = Mount::new(&store, &tmp.path().join("x_y"), &[]);
    let b = Mount::new(&store, &tmp.path().join("x/y"), &[]);
    let (am, bm) = (a.dir.canonicalize().unwrap(), b.dir.canonicalize().unwrap());
    assert_ne!(socket_of(&am), socket_of(&bm));
    assert_eq!(report(&am)["pid"], a.pid());
    assert_eq!(report(&bm)["pid"], b.pid());
    assert_ne!(modcachefs::ops::daemon::default_log(&am), modcachefs::ops::daemon::default_log(&bm));
}

/// Under systemd (`Type=notify`): READY=1 arrives once the mount answers.
/// `umount --grace` of a busy mount detaches
/// it after the grace period: open files keep working, the path is free, and the
/// daemon exits when the last one is closed. The unit's hardening scores at most
/// 6.0 in `systemd-analyze security`.
#[test]
fn systemd_readiness_and_graceful_stop() {
    let tmp = tempdir("op-systemd");
    let store = corpus_store(tmp.path());
    let notify_path = tmp.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let dir = tmp.path().join("mnt");
    std::fs::create_dir_all(&dir).unwrap();
    let mnt = dir.canonicalize().unwrap();
    let child = Command::new(BIN)
        .arg("--store")
        .arg(&store)
        .arg("mount")
        .arg(&mnt)
        .env("NOTIFY_SOCKET", &notify_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(Option<std::process::Child>, PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Some(c) = self.0.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if is_mounted(&self.1) {
                let _ = Command::new("umount").arg("-l").arg(&self.1).status();
            }
        }
    }
    let pid = child.id();
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("a READY=1 notification");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(mnt.join("cache/download").is_dir(), "READY=1 sent before the mount answers");
    assert!(msg.lines().any(|l| l == "READY=1") && msg.contains(&format!("MAINPID={pid}")), "{msg:?}");
    let held = std::fs::File::open(mnt.join("cache/download/github.com/kr/fs/@v/list")).unwrap();
    let mut guard = Kill(Some(child), mnt.clone());

    let t0 = Instant::now();
    let out = output_within(Command::new(BIN).args(["umount", "--grace", "1"]).arg(&mnt), 30, "umount --grace");
    ok(&out, "umount --grace 1 of a busy mount");
    assert!(t0.elapsed() >= Duration::from_secs(1), "did not wait for the grace period");
    assert!(text(&out.stderr).contains("detached"), "{}", text(&out.stderr));
    assert!(!is_mounted(&mnt), "still mounted after umount --grace");
    let mut content = String::new();
    (&held).read_to_string(&mut content).expect("read a file left open on the detached mount");
    assert!(content.contains("v0.1.0"), "{content:?}");
    // SIGTERM (systemd's, after ExecStop) does not cut the open file off.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!exited(pid), "the daemon exited with a file still open");
    drop(held);
    let mut c = guard.0.take().unwrap();
    let status = wait_until(10, || matches!(c.try_wait(), Ok(Some(_))));
    assert!(status, "the daemon did not exit after the last file was closed");

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=60"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/modcachefs@.service"))
        .output()
        .expect("run systemd-analyze (apt-get install systemd)");
    let report = text(&out.stdout);
    let line = report.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{report}"));
    let score: f64 = line.split(": ").nth(1).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).unwrap();
    assert!(score <= 6.0 && out.status.success(), "exposure {score} > 6.0:\n{report}{}", text(&out.stderr));
}
