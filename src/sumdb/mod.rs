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
pub const SUM_GOLANG_ORG_KEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

pub use files::Files;
