//! Module zips: our own strict ZIP reader, and the checks `golang.org/x/mod/zip` applies
//! to a zip as a whole (the name rules they use are Go's, in [`crate::gomod`]).
//!
//! This is the door through which untrusted module zips enter the store, and the
//! index it produces ([`Entry`]: data offset, sizes, method, CRC) is later used to
//! serve file bytes with `pread` + inflate. So the reader is written for control,
//! not convenience: every offset is bounds-checked with checked arithmetic, every
//! header is cross-checked against the central directory, entry data may not overlap,
//! and every entry is fully inflated once at import time (never more than its
//! declared size + 1 byte) so that the CRC, the size and the hash are known good.
//!
//! Go semantics this mirrors (checked against x/mod v0.7 `zip.go` / `module.go` /
//! `dirhash`, and against Go 1.19's `archive/zip` and `cmd/go/internal/modfetch`):
//!
//! - **Hash.** cmd/go writes `.ziphash` (and checks go.sum) with `dirhash.HashZip`,
//!   which hashes *every* `zip.File` by its full name — directory entries included
//!   (as the hash of their, empty, content). Verified with `go mod download` of a zip
//!   holding a `sub/` entry: the Sum includes the `m@v/sub/` line. So `h1` here
//!   hashes directory entries too; they are not in [`ModuleZip::entries`] (which
//!   lists regular files only, as `Unzip` extracts only those). A tree extracted from
//!   such a zip hashes differently under `dirhash.HashDir` (`go mod verify` has the
//!   same quirk); go-created zips (`modzip.Create`) never contain directory entries.
//! - **Directories.** `CheckZip`/`Unzip` tolerate directory entries (`name/`) and
//!   the bare `<module>@<version>/` entry, still subject to the path and collision
//!   rules, and skip them on extraction. We refuse directory entries with content
//!   (Go would hash bytes it never extracts).
//! - **Nested go.mod.** `CheckZip` refuses any file whose base name equals `go.mod`
//!   ignoring case outside the root ("go.mod file not in module root directory"),
//!   and a root `GO.MOD` ("go.mod files must have lowercase names"). A *directory*
//!   named `go.mod` is fine.
//! - **zip64.** Go's writer emits a zip64 end of central directory whenever there are
//!   65535 entries or more (per-file zip64 fields only from 4 GiB, impossible within
//!   the limits), so a legitimate module zip can be zip64. We support zip64 end records
//!   and zip64 extra fields the way Go's reader does.
//! - **Symlinks.** `modzip.Create` omits them, so Go-made zips never hold them, but
//!   other tools' zips can (a repository with a symlink, zipped by a third-party
//!   proxy). `CheckZip`, `Unzip` and `dirhash` do not look at modes: Go 1.19 and
//!   current Go's `go mod download` accept such a zip and extract the link as a
//!   0444 regular file whose content is the link text (checked with
//!   scripts/zipcheck and `go mod download` via GOPROXY=file://). So do we: a
//!   symlink entry is a regular file here, hashed and served as its bytes.
//! - **Other irregular files** (FIFO, device, socket modes; directory attributes on
//!   a file name): refused, a stricter policy (Go would extract them as regular
//!   files; no tool we know makes such zips).
//! - **Windows short names** (`GIT~1`): `module.CheckFilePath` deliberately allows them
//!   in file paths; they are refused in module paths only. We do the same.
//! - **Case folding** uses full-string equivalence under Unicode simple case folding
//!   (`strings.EqualFold`); see `gomod::filename`.
//!
//! Stricter than Go on purpose (none of these occur in zips Go writes): the CRC is
//! always checked (Go skips a zero CRC); local headers must agree with the central
//! directory; entries (header, data, descriptor) must not overlap each other or the
//! central directory; the end record must end the file (no trailing bytes) and the
//! central directory must end exactly where the (zip64) end record begins, so
//! prepended data (Go's "baseOffset" for self-extracting archives) is refused; the
//! deflate stream must end within the entry's compressed bytes (bytes after its end
//! are ignored, as Go does); a path element may not be longer than 255 bytes.
//!
//! Memory: [`inspect`] streams each entry through a fixed buffer; its bookkeeping is
//! linear in the number of entries, which the 500 MiB limit bounds.

mod decode;
mod layout;
mod records;

use std::fmt;

pub(crate) use decode::read_entry_into;
pub use decode::{inflaters_verdicts, read_entry, read_entry_mem, stream_entry};
pub(crate) use layout::{check_layout_file, LayoutItem};
pub use layout::{directory_error, inspect, module_of};

/// One regular file of a module zip, as the serve path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the module, without the `<module>@<version>/` prefix.
    pub name: String,
    /// Offset in the zip file of the entry's (compressed) data.
    pub data_offset: u64,
    pub compressed_size: u64,
    /// Uncompressed size.
    pub size: u64,
    /// 0 = stored, 8 = deflate; nothing else is accepted.
    pub method: u16,
    pub crc32: u32,
}

/// A validated module zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleZip {
    /// Regular files only, sorted by name (byte order).
    pub entries: Vec<Entry>,
    /// `dirhash.HashZip` of the zip: what cmd/go writes to `.ziphash` and go.sum.
    pub h1: String,
    /// Sum of the uncompressed sizes of `entries`.
    pub total_size: u64,
    /// What `h1` hashed: every entry's full name and sha256, directories included
    /// (the index keeps them, so a mount can check the list without inflating).
    pub hashed: Vec<(String, [u8; 32])>,
}

/// Why a module zip was refused: the module, the entry (when one is to blame) and
/// the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipError {
    pub module: String,
    pub version: String,
    /// The path inside the module (or the whole zip name when it lacks the module
    /// prefix), made printable: control characters and invalid UTF-8 are escaped.
    pub entry: Option<String>,
    pub rule: String,
}

impl fmt::Display for ZipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}: ", printable(self.module.as_bytes()), printable(self.version.as_bytes()))?;
        if let Some(e) = &self.entry {
            write!(f, "{}: ", printable(e.as_bytes()))?;
        }
        f.write_str(&printable(self.rule.as_bytes()))
    }
}

impl std::error::Error for ZipError {}

/// One escaping rule for every name that reaches a message or the log (moved to
/// the logger, kept under its old name here).
pub(crate) use crate::ops::logger::printable;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_is_one_line() {
        assert_eq!(printable(b"a\nb\0c\xffd\\e"), "a\\nb\\u{0}c\\xffd\\e");
        let e = ZipError { module: "m".into(), version: "v".into(), entry: Some("x\\ny".into()), rule: "r\nr".into() };
        assert_eq!(e.to_string(), "m@v: x\\ny: r\\nr");
    }
}
