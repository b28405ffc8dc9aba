//! Stores as the tests build and inspect them: GOPROXY trees written file by
//! file, the store's index opened directly (to read it, or to plant rows behind
//! the importer's back), and `modcachefs --store S ...` run to completion.

use super::BIN;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Writes `<root>/<escaped module>/@v/<escaped version>.<ext>`; returns its path.
pub fn put_proxy_file(root: &Path, module: &str, version: &str, ext: &str, data: &[u8]) -> PathBuf {
    let at_v = root.join(modcachefs::gomod::path::escape(module).expect("escapable path")).join("@v");
    std::fs::create_dir_all(&at_v).expect("mkdir @v");
    let p = at_v.join(format!("{}.{ext}", modcachefs::gomod::path::escape(version).expect("escapable version")));
    std::fs::write(&p, data).expect("write proxy file");
    p
}

/// `<version>.zip` (the given zip) and `<version>.mod` (`module <path>`) of a module
/// in the GOPROXY tree `root`; returns the `@v` directory.
pub fn put_module(root: &Path, module: &str, version: &str, zip: &[u8]) -> PathBuf {
    put_proxy_file(root, module, version, "zip", zip);
    let p = put_proxy_file(root, module, version, "mod", format!("module {module}\n").as_bytes());
    p.parent().expect("@v").to_path_buf()
}

/// The store's index, for reading and writing (tests that plant rows).
pub fn index(store: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(super::index_db(store)).expect("open the index segment")
}

/// The store's index, read-only.
pub fn index_ro(store: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(super::index_db(store), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the index segment")
}

/// What a run of the binary said: exit code (it must not have been killed),
/// stdout and stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn of(out: Output, what: &str) -> Run {
        Run {
            code: out.status.code().unwrap_or_else(|| panic!("{what}: killed: {}", out.status)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `modcachefs --store STORE ARGS... PATHS...`, to completion (without
/// `MODCACHEFS_LOG` from the environment, so that its output is what users see).
pub fn run_store(store: &Path, args: &[&str], paths: &[&Path]) -> Run {
    let mut c = Command::new(BIN);
    c.arg("--store").arg(store).args(args).args(paths).env_remove("MODCACHEFS_LOG");
    Run::of(c.output().expect("run modcachefs"), &format!("modcachefs {args:?}"))
}

/// `modcachefs ls --json` as `path@version` -> its JSON line.
pub fn ls_json(store: &Path) -> BTreeMap<String, String> {
    let r = run_store(store, &["ls", "--json"], &[]);
    assert_eq!(r.code, 0, "ls: {}", r.stderr);
    r.stdout
        .lines()
        .map(|l| {
            let field = |k: &str| json_str(l, k).unwrap_or_else(|| panic!("no {k} in {l}")).to_string();
            (format!("{}@{}", field("path"), field("version")), l.to_string())
        })
        .collect()
}

/// The string member `k` of a one-line JSON object (no escapes in its value).
pub fn json_str<'a>(line: &'a str, k: &str) -> Option<&'a str> {
    let key = format!("\"{k}\":\"");
    let i = line.find(&key)? + key.len();
    line[i..].split('"').next()
}

/// The number member `k` of a one-line JSON object.
pub fn json_num(line: &str, k: &str) -> Option<u64> {
    let key = format!("\"{k}\":");
    let i = line.find(&key)? + key.len();
    line[i..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
}

/// The stderr line naming `who` and saying each of `what`; panics with all of
/// stderr otherwise.
#[track_caller]
pub fn stderr_line<'a>(stderr: &'a str, who: &str, what: &[&str]) -> &'a str {
    stderr
        .lines()
        .find(|l| l.contains(who) && what.iter().all(|w| l.contains(w)))
        .unwrap_or_else(|| panic!("no stderr line naming {who:?} with {what:?}:\n{stderr}"))
}
