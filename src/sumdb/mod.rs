//! Checksum databases (sum.golang.org and private ones) kept in the store, so that
//! offline builds keep GOSUMDB on.
//!
//! `import` reads a database's files (lookup answers and tiles) from a GOMODCACHE
//! or a GOPROXY tree, `verify` checks them offline (signed notes, record inclusion,
//! tiles against the signed tree, consistency between tree heads), `db` keeps the
//! verified parts in the index, and `files` serves them back as the files cmd/go
//! reads (the mount, and `serve`'s `/sumdb/<db>/...`).

pub mod db;
pub mod files;
pub mod format;
pub mod import;
pub mod note;
pub mod tlog;
pub mod verify;

/// sum.golang.org's published verifier key, as cmd/go has it built in
/// (cmd/go/internal/modfetch/key.go).
pub(crate) const SUM_GOLANG_ORG_KEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

pub use files::Files;

/// The GOSUMDB value for builds on the mount at `mnt`: the database the mount
/// serves (`cache/download/sumdb/<db>/supported`), sum.golang.org by name (cmd/go
/// knows its key), a private one as `name+hash+key` from the store's keys. None
/// when the mount serves no database whose key is known.
pub(crate) fn gosumdb_for_mount(mnt: &std::path::Path, store_dir: &std::path::Path) -> Option<String> {
    let dir = mnt.join("cache/download/sumdb");
    let mut served: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("supported").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    served.sort();
    if served.iter().any(|d| d == "sum.golang.org") {
        return Some("sum.golang.org".into());
    }
    let keys = crate::store::Store::open_ro(store_dir).ok().and_then(|s| db::keys(&s).ok()).unwrap_or_default();
    let found = served.iter().find_map(|d| keys.iter().find(|(k, _)| k == d).map(|(_, v)| v.clone()));
    if found.is_none() && !served.is_empty() {
        log::warn!(
            "{} serves checksum database {} but {} holds no key for it (give the mount's --store)",
            mnt.display(),
            served.join(", "),
            store_dir.display()
        );
    }
    found
}
