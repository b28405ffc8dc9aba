//! Running modcachefs the way operators run filesystems: the manual page covers
//! the command line; `mount --daemon`, `status`, `env` and `umount`; mount(8) and
//! fstab through the `mount.fuse.modcachefs` helper; one mount shared by several
//! builds in their own mount namespaces ("containers"), one of them unprivileged.
//! Real mounts, real `go`.

mod common;
use common::daemon::*;
use common::*;
use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const MAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/man/modcachefs.1");
const HELPER: &str = "/sbin/mount.fuse.modcachefs";

/// Every `--long-option` in a help text.
fn long_options(help: &str) -> BTreeSet<String> {
    let b = help.as_bytes();
    let mut out = BTreeSet::new();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut i = 0;
    while i + 2 < b.len() {
        if &b[i..i + 2] == b"--" && (i == 0 || !word(b[i - 1])) && b[i + 2].is_ascii_lowercase() {
            let mut j = i + 2;
            while j < b.len() && (b[j].is_ascii_lowercase() || b[j].is_ascii_digit() || b[j] == b'-') {
                j += 1;
            }
            out.insert(help[i..j].to_string());
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).arg("--help").output().expect("run modcachefs --help");
    ok(&out, &format!("modcachefs {} --help", args.join(" ")))
}

/// Does `text` mention `opt` as a whole option name?
fn mentions(text: &str, opt: &str) -> bool {
    text.match_indices(opt)
        .any(|(i, _)| !text[i + opt.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// The manual page documents every subcommand and every long option clap defines,
/// each subcommand's own options in its own section, and renders without warnings.
#[test]
fn man_page_covers_every_long_option() {
    let src = std::fs::read_to_string(MAN).unwrap_or_else(|e| panic!("{MAN}: {e}"));
    // roff spells a minus `\-`; what a reader sees is `-`.
    let man = src.replace("\\-", "-");

    let top = help(&[]);
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    let expected = [
        "import",
        "ls",
        "verify",
        "rm",
        "gc",
        "compact",
        "mount",
        "serve",
        "stats",
        "env",
        "umount",
        "status",
        "completions",
    ];
    assert_eq!(commands, expected, "the subcommands changed: document them in {MAN} and update this test");

    let global = long_options(&top);
    for g in ["--store", "--verbose", "--quiet", "--help", "--version"] {
        assert!(global.contains(g), "{g} missing from `modcachefs --help`:\n{top}");
    }
    let mut missing = Vec::new();
    for g in &global {
        if !mentions(&man, g) {
            missing.push(format!("(global) {g}"));
        }
    }
    let mut checked = global.len();
    for cmd in &commands {
        let opts = long_options(&help(&[cmd]));
        // The section of this subcommand: from its `.SS` to the next heading.
        let start = man
            .find(&format!(".SS \"{cmd} "))
            .or_else(|| man.find(&format!(".SS {cmd}\n")))
            .or_else(|| man.find(&format!(".SS \"{cmd}\"")))
            .unwrap_or_else(|| panic!("{MAN}: no `.SS {cmd}` section"));
        let rest = &man[start + 4..];
        let end = [rest.find("\n.SS "), rest.find("\n.SH ")].into_iter().flatten().min().unwrap_or(rest.len());
        let section = &rest[..end];
        for o in &opts {
            checked += 1;
            if global.contains(o) {
                if !mentions(&man, o) {
                    missing.push(format!("{cmd} {o}"));
                }
            } else if !mentions(section, o) {
                missing.push(format!("{cmd} {o} (not in its section)"));
            }
        }
    }
    assert!(missing.is_empty(), "{MAN} does not document: {missing:?}");
    assert!(checked > 20, "only {checked} options found: is the --help parsing broken?");
    // And the mount(8) helper's options.
    for o in [
        "allow_other",
        "cache_size=",
        "cache_dir=",
        "cache_dir_size=",
        "go_sum=",
        "verify=",
        "workers=",
        "log_file=",
        "pidfile=",
        "stats_access=",
    ] {
        assert!(man.contains(&format!(".BI {o}")) || man.contains(&format!(".B {o}")), "helper option {o} missing");
    }

    let out = Command::new("groff")
        .args(["-ww", "-man", "-z", MAN])
        .output()
        .expect("run groff (apt-get install groff-base)");
    assert!(out.status.success(), "groff failed: {}\n{}", out.status, text(&out.stderr));
    assert!(out.stderr.is_empty(), "groff warns about {MAN}:\n{}", text(&out.stderr));
}

/// `mount --daemon` returns once the mount answers; the app builds on it at once;
/// `status` and `env` describe it; `umount` unmounts it, and the daemon exits and
/// removes its pidfile.
#[test]
fn daemon_mount_build_status_umount() {
    become_subreaper();
    let tmp = tempdir("ops-daemon");
    let rt = runtime_dir();
    let store = corpus_store(tmp.path());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mnt = mnt.canonicalize().unwrap();
    let pidfile = tmp.path().join("modcachefs.pid");
    let mut daemon = Daemon { mnt: mnt.clone(), pid: None };

    run(
        mcfs(rt.path())
            .arg("--store")
            .arg(&store)
            .arg("-v")
            .arg("mount")
            .arg(&mnt)
            .arg("--daemon")
            .arg("--pidfile")
            .arg(&pidfile),
        "mount --daemon",
    );
    // Returned: the pidfile names a live daemon, and the mount is there.
    let pid = read_pid(&pidfile);
    daemon.pid = Some(pid);
    assert!(!gone(pid), "the daemon {pid} named by the pidfile is not running");
    assert!(is_mounted(&mnt), "mount --daemon returned but {} is not mounted", mnt.display());

    // Immediately usable.
    let (_, gobin) = gos().pop().unwrap();
    let app = app_copy(tmp.path());
    let go = Go::new(&gobin, &mnt, &tmp.path().join("gocache"), "off");
    go.run(&app, &["build", "./..."]);

    // status, text and JSON.
    let store_c = store.canonicalize().unwrap();
    // Other mounts on this machine may not answer (then status exits 1): ours must.
    let out = mcfs(rt.path()).arg("status").output().unwrap();
    let plain = text(&out.stdout);
    assert!(matches!(out.status.code(), Some(0 | 1)), "status: {}\n{plain}{}", out.status, text(&out.stderr));
    let want = format!("{}  store {}  responding", mnt.display(), store_c.display());
    let line = plain.lines().find(|l| l.starts_with(&format!("{}  ", mnt.display())));
    let line = line.unwrap_or_else(|| panic!("status does not list {}:\n{plain}", mnt.display()));
    assert!(line.starts_with(&want), "status line {line:?}, wanted it to start with {want:?}");
    // Root's daemons keep sockets and logs in /run/modcachefs (whatever XDG_RUNTIME_DIR
    // says, so systemd's daemons and login shells agree); others in their runtime dir.
    // The name is the mountpoint as `systemd-escape --path` spells it (or a hash of it).
    let log_dir =
        if unsafe { libc::geteuid() } == 0 { PathBuf::from("/run/modcachefs") } else { rt.path().join("modcachefs") };
    let log = modcachefs::ops::daemon::default_log(&mnt).expect("a directory for the default log");
    assert_eq!(log.parent(), Some(log_dir.as_path()), "default log {}", log.display());
    let escaped = modcachefs::ops::statsock::escape_path(&mnt);
    let name = log.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name == format!("{escaped}.log") || name.starts_with('@'), "log {name}, mountpoint escaped {escaped}");
    assert!(
        line.ends_with(&format!("log {}", log.display())),
        "status line {line:?} should name the log {}",
        log.display()
    );
    assert_eq!(run(mcfs(rt.path()).arg("status").arg(&mnt), "status MNT").lines().count(), 1);

    let json = text(&mcfs(rt.path()).args(["status", "--json"]).output().unwrap().stdout);
    let mut found = false;
    for l in json.lines() {
        let obj = modcachefs::gomod::info::object_members(l)
            .unwrap_or_else(|| panic!("status --json: not a JSON object: {l}"));
        let get = |k: &str| {
            obj.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {k} in {l}"))
        };
        let mp = modcachefs::gomod::info::unquote(&get("mountpoint")).expect("mountpoint is a string");
        if Path::new(&mp) != mnt {
            continue;
        }
        found = true;
        assert_eq!(
            modcachefs::gomod::info::unquote(&get("store")).as_deref(),
            Some(&*store_c.to_string_lossy()),
            "{l}"
        );
        assert_eq!(get("responding"), "true", "{l}");
        let stats = modcachefs::gomod::info::object_members(&get("stats"))
            .unwrap_or_else(|| panic!("stats not an object: {l}"));
        let extracted: u64 =
            stats.iter().find(|(k, _)| k == "modules_extracted").expect("modules_extracted").1.parse().unwrap();
        assert!(extracted > 0, "the build extracted no module? {l}");
    }
    assert!(found, "status --json does not list {}:\n{json}", mnt.display());

    // env, evaluated by a shell, points go at the mount.
    let home = tmp.path().join("home-env");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new("sh")
        .args(["-c", "eval \"$(\"$0\" env \"$1\")\" && \"$2\" env GOMODCACHE GOPROXY", BIN])
        .arg(&mnt)
        .arg(&gobin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", rt.path())
        .output()
        .unwrap();
    let printed = ok(&out, "eval \"$(modcachefs env MNT)\"; go env GOMODCACHE GOPROXY");
    assert_eq!(printed.lines().collect::<Vec<_>>(), [&*mnt.to_string_lossy(), "off"]);
    assert!(out.stderr.is_empty(), "env warned about a real mount: {}", text(&out.stderr));

    // umount: the mount goes, the daemon exits, the pidfile is removed.
    run(mcfs(rt.path()).arg("umount").arg(&mnt), "umount");
    wait_until(10, || !is_mounted(&mnt) && gone(pid) && !pidfile.exists());
    assert!(!is_mounted(&mnt), "{} still mounted after umount", mnt.display());
    assert!(gone(pid), "daemon {pid} still running 10 s after umount");
    assert!(!pidfile.exists(), "the daemon left its pidfile {}", pidfile.display());
    daemon.pid = None;
    let logged = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("daemon log {}: {e}", log.display()));
    assert!(logged.contains("serving ") && logged.contains("unmount"), "daemon log:\n{logged}");
    assert!(!logged.contains("error"), "daemon logged errors:\n{logged}");
    let out = mcfs(rt.path()).arg("status").arg(&mnt).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "status of an unmounted directory");
}

/// The symlink that makes mount(8) run modcachefs; removed on drop.
struct HelperLink;

impl HelperLink {
    fn install() -> HelperLink {
        let target = Path::new(BIN);
        match std::fs::symlink_metadata(HELPER) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::os::unix::fs::symlink(target, HELPER).unwrap_or_else(|e| panic!("ln -s {BIN} {HELPER}: {e}"))
            }
            // Left by an earlier run of this very test binary: ours to reuse.
            Ok(m) if m.file_type().is_symlink() && std::fs::read_link(HELPER).ok().as_deref() == Some(target) => {}
            Ok(_) => panic!(
                "{HELPER} already exists and is not a link to {BIN}: refusing to replace it (remove it to run this test)"
            ),
            Err(e) => panic!("{HELPER}: {e}"),
        }
        HelperLink
    }
}

impl Drop for HelperLink {
    fn drop(&mut self) {
        if std::fs::read_link(HELPER).ok().as_deref() == Some(Path::new(BIN)) {
            let _ = std::fs::remove_file(HELPER);
        }
    }
}

/// fstab style: `mount -t fuse.modcachefs STORE DIR -o ro,allow_other,...` through
/// /sbin/mount.fuse.modcachefs; Go 1.19 builds on it; `umount` ends it.
#[test]
fn fstab_style_mount_helper() {
    become_subreaper();
    let tmp = tempdir("ops-fstab");
    let rt = runtime_dir();
    let store = corpus_store(tmp.path());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mnt = mnt.canonicalize().unwrap();
    let pidfile = tmp.path().join("helper.pid");
    let logfile = tmp.path().join("helper.log");
    let _link = HelperLink::install();
    let mut daemon = Daemon { mnt: mnt.clone(), pid: None };

    let opts = format!(
        "ro,allow_other,cache_size=64MiB,verify=on,workers=2,nodev,nosuid,pidfile={},log_file={}",
        pidfile.display(),
        logfile.display()
    );
    run(
        Command::new("mount")
            .args(["-t", "fuse.modcachefs"])
            .arg(&store)
            .arg(&mnt)
            .arg("-o")
            .arg(&opts)
            .env("XDG_RUNTIME_DIR", rt.path()),
        "mount -t fuse.modcachefs",
    );
    let pid = read_pid(&pidfile);
    daemon.pid = Some(pid);

    let MountInfo { options: opt, fstype, source, super_options: sopts, .. } =
        mounts_at(&mnt).pop().unwrap_or_else(|| panic!("{} not in /proc/self/mountinfo after mount(8)", mnt.display()));
    assert_eq!(fstype, "fuse.modcachefs");
    assert_eq!(Path::new(&source), store.canonicalize().unwrap());
    assert!(opt.split(',').any(|o| o == "ro"), "not read-only: {opt}");
    assert!(sopts.split(',').any(|o| o == "allow_other"), "allow_other not in effect: {sopts}");

    let app = app_copy(tmp.path());
    let go = Go::new(&go_old(), &mnt, &tmp.path().join("gocache"), "off");
    go.run(&app, &["build", "./..."]);
    // The helper's daemon is a full modcachefs daemon.
    let stats = run(mcfs(rt.path()).arg("stats").arg("--json").arg(&mnt), "stats");
    assert!(stats.contains("\"verifications_ok\":") && !stats.contains("\"verifications_ok\":0,"), "{stats}");

    run(Command::new("umount").arg(&mnt), "umount");
    wait_until(10, || !is_mounted(&mnt) && gone(pid) && !pidfile.exists());
    assert!(!is_mounted(&mnt), "{} still mounted after umount(8)", mnt.display());
    assert!(gone(pid), "daemon {pid} still running 10 s after umount(8)");
    assert!(!pidfile.exists(), "the daemon left its pidfile");
    daemon.pid = None;
    let logged = std::fs::read_to_string(&logfile).unwrap_or_else(|e| panic!("log_file {}: {e}", logfile.display()));
    assert!(!logged.contains("error"), "daemon logged errors:\n{logged}");
}

/// One `--allow-other` mount, four concurrent builds, each in its own mount
/// namespace with the mount bind-mounted read-only as its GOMODCACHE, the way
/// `docker run -v /srv/gomod:/go/pkg/mod:ro` does; one of them runs as nobody.
#[test]
fn containers_share_one_mount() {
    let tmp = tempdir("ops-containers");
    // nobody must reach its own files and the mount through our scratch directory.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for a in tmp.path().ancestors() {
        let mode = std::fs::metadata(a).unwrap().permissions().mode();
        assert!(
            mode & 0o001 != 0,
            "{}: not searchable by other users (mode {mode:o}); nobody cannot reach the mount",
            a.display()
        );
    }
    let store = corpus_store(tmp.path());
    let m = Mount::new(&store, &tmp.path().join("mnt"), &["--allow-other"]);
    let mnt = m.dir.canonicalize().unwrap();

    const SCRIPT: &str = r#"set -eu
mnt=$1 ct=$2 app=$3 go=$4 uid=$5
mount --make-rprivate /
mkdir -p "$ct"
mount --bind "$mnt" "$ct"
mount -o remount,bind,ro "$ct"
grep -q " $ct ro," /proc/self/mountinfo || { echo "$ct is not a read-only bind mount" >&2; exit 3; }
test -d "$ct/cache/download"
cd "$app"
if [ "$uid" = 0 ]; then exec "$go" build ./...; fi
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups "$go" build ./...
"#;
    let gos = gos();
    let mut running = Vec::new();
    for i in 0..4 {
        let dir = tmp.path().join(format!("ct{i}"));
        let app = app_copy(&dir);
        let ct = dir.join("gomod");
        let (label, gobin) = &gos[i % gos.len()];
        let go = Go::new(gobin, &ct, &dir.join("gocache"), "off");
        let uid = if i == 3 { NOBODY } else { 0 };
        if uid != 0 {
            run(Command::new("chown").arg("-R").arg(format!("{NOBODY}:{NOBODY}")).arg(&dir), "chown");
        }
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c", SCRIPT, "container"]).arg(&mnt).arg(&ct).arg(&app).arg(gobin).arg(uid.to_string());
        c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &go.envs {
            c.env(k, v);
        }
        let child =
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("run unshare");
        running.push((format!("container {i} (go {label}, uid {uid})"), dir, uid, child));
    }
    for (what, dir, uid, child) in running {
        let out = child.wait_with_output().unwrap();
        ok(&out, &what);
        // The build really ran as that user: everything it cached is theirs.
        let mut files = 0;
        let mut stack = vec![dir.join("gocache")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{what}: {}: {e}", d.display())) {
                let e = e.unwrap();
                let meta = e.metadata().unwrap();
                assert_eq!(meta.uid(), uid, "{what}: {} owned by {}", e.path().display(), meta.uid());
                if meta.is_dir() {
                    stack.push(e.path());
                } else {
                    files += 1;
                }
            }
        }
        assert!(files > 10, "{what}: the build cached only {files} files");
    }

    // The namespaces are gone with their bind mounts: here only the mount remains.
    let prefix = format!("{}/", tmp.path().canonicalize().unwrap().display());
    let ours: Vec<String> = mountinfo().into_iter().map(|m| m.mountpoint).filter(|p| p.starts_with(&prefix)).collect();
    assert_eq!(ours, [mnt.to_string_lossy().into_owned()], "mounts left under {prefix}");
    assert!(m.stat("modules_extracted") > 0);
    assert_eq!(m.stat("verifications_failed"), 0);
    assert_eq!(m.stat("errors"), 0);
    let log = m.stop();
    assert!(!log.contains("error"), "daemon logged errors:\n{log}");
}
