//! Go's rules and formats, as cmd/go and golang.org/x/mod define them: module paths
//! and versions, file names inside modules, the `h1:` hash, go.sum lines and the
//! Go-identical `.info` bytes. Nothing here touches the store or the filesystem:
//! every function is a pure check or a pure encoding, so import (deciding what may
//! enter the store) and the readers (re-checking what they are given) share them.

pub mod filename;
pub mod gosum;
pub mod h1;
pub mod info;
pub mod path;
pub mod version;

/// Largest module zip, and largest total uncompressed size, cmd/go accepts.
pub const MAX_ZIP_SIZE: u64 = 500 << 20;
/// Largest `go.mod` (at the module root) cmd/go accepts.
pub const MAX_GO_MOD_SIZE: u64 = 16 << 20;
/// Largest `LICENSE` (at the module root) cmd/go accepts.
pub const MAX_LICENSE_SIZE: u64 = 16 << 20;
/// Longest file or directory name (one path element, in bytes): NAME_MAX.
pub const MAX_NAME_ELEMENT: usize = 255;
