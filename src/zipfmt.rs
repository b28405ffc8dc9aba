//! Module zips: our own ZIP reader, and the checks `golang.org/x/mod/zip` applies.
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
//!   (`strings.EqualFold`); see [`fold_char`].
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

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use flate2::{Decompress, FlushDecompress, Status};
use sha2::{Digest, Sha256};

use crate::hash::hash1;
use crate::modpath;

/// Largest module zip, and largest total uncompressed size, cmd/go accepts.
pub const MAX_ZIP_SIZE: u64 = 500 << 20;
/// Largest `go.mod` (at the module root) cmd/go accepts.
pub const MAX_GO_MOD_SIZE: u64 = 16 << 20;
/// Largest `LICENSE` (at the module root) cmd/go accepts.
pub const MAX_LICENSE_SIZE: u64 = 16 << 20;
/// Longest file or directory name (one path element, in bytes): NAME_MAX.
pub const MAX_NAME_ELEMENT: usize = 255;

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
pub(crate) use crate::logger::printable;

// ---------------------------------------------------------------------------
// ZIP records
// ---------------------------------------------------------------------------

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_EOCD64_LOCATOR: u32 = 0x0706_4b50;
const SIG_DATA_DESCRIPTOR: u32 = 0x0807_4b50;

const LOCAL_LEN: u64 = 30;
const CENTRAL_LEN: usize = 46;
const EOCD_LEN: usize = 22;
const EOCD64_LOCATOR_LEN: usize = 20;
const EOCD64_LEN: u64 = 56;
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// General purpose flags: bit 0 traditional encryption, bit 6 strong encryption,
/// bit 13 encrypted central directory.
const FLAG_ENCRYPTED: u16 = 1 | 1 << 6 | 1 << 13;
/// Bit 3: CRC and sizes follow the data in a data descriptor.
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;

/// A little-endian reader over a byte slice; every read is bounds-checked and
/// returns `None` past the end instead of panicking.
#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

/// The bytes of a zip at their offsets in the file: the whole zip in memory, or
/// just the pieces of a zip file that the structure checks read ([`Pieces`]).
trait ZipView {
    /// Size of the whole zip file.
    fn size(&self) -> u64;
    /// `zip[off..off+len]`, or `None` when any part of it is not at hand.
    fn bytes(&self, off: u64, len: u64) -> Option<&[u8]>;
}

impl ZipView for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn bytes(&self, off: u64, len: u64) -> Option<&[u8]> {
        let start = usize::try_from(off).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.get(start..end)
    }
}

/// Some byte ranges of a zip file, read with pread: the end records, the central
/// directory and the local headers are all that [`check_layout`] looks at, so a
/// stored blob is re-checked while reading (and holding) only those, never the
/// file's data; a memory map would put the whole blob in the daemon's RSS.
struct Pieces {
    size: u64,
    /// Disjoint, sorted by offset.
    pieces: Vec<(u64, Vec<u8>)>,
}

impl Pieces {
    fn load(file: &File, size: u64, mut ranges: Vec<(u64, u64)>) -> io::Result<Pieces> {
        ranges.retain(|&(_, len)| len > 0);
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (off, len) in ranges {
            let (off, end) = (off.min(size), off.saturating_add(len).min(size));
            match merged.last_mut() {
                Some((_, last_end)) if off <= *last_end => *last_end = (*last_end).max(end),
                _ => merged.push((off, end)),
            }
        }
        let mut pieces = Vec::with_capacity(merged.len());
        for (off, end) in merged.into_iter().filter(|(o, e)| e > o) {
            let mut buf = vec![0u8; usize::try_from(end - off).map_err(io::Error::other)?];
            file.read_exact_at(&mut buf, off)?;
            pieces.push((off, buf));
        }
        Ok(Pieces { size, pieces })
    }
}

impl ZipView for Pieces {
    fn size(&self) -> u64 {
        self.size
    }

    fn bytes(&self, off: u64, len: u64) -> Option<&[u8]> {
        let i = self.pieces.partition_point(|(start, _)| *start <= off).checked_sub(1)?;
        let (start, buf) = &self.pieces[i];
        buf[..].bytes(off - start, len)
    }
}

/// `zip[off..off+len]`, or `None` when any part lies outside the zip.
fn range<Z: ZipView + ?Sized>(zip: &Z, off: u64, len: u64) -> Option<&[u8]> {
    zip.bytes(off, len)
}

fn u32_at<Z: ZipView + ?Sized>(zip: &Z, off: u64) -> Option<u32> {
    Reader::new(range(zip, off, 4)?).u32()
}

/// Where the central directory is, from the end record(s).
#[derive(Debug)]
struct Directory {
    records: u64,
    offset: u64,
    size: u64,
    /// Where the central directory must end: the zip64 end record if there is one,
    /// else the end record.
    end: u64,
}

/// Finds and checks the end of central directory record (and its zip64 twin).
fn read_directory_end<Z: ZipView + ?Sized>(zip: &Z) -> Result<Directory, String> {
    let len = usize::try_from(zip.size()).unwrap_or(usize::MAX);
    // The end record is the last thing in the file, followed only by its comment
    // (at most 65535 bytes). Scan backwards for a signature whose comment length
    // reaches exactly the end of the file: that also copes with a comment that
    // itself contains the signature bytes.
    let mut found = None;
    let mut saw_signature = false;
    if len >= EOCD_LEN {
        let lowest = len.saturating_sub(EOCD_LEN + 0xFFFF);
        let mut pos = len - EOCD_LEN;
        loop {
            if u32_at(zip, pos as u64) == Some(SIG_EOCD) {
                saw_signature = true;
                let comment_len =
                    range(zip, pos as u64 + 20, 2).and_then(|b| Reader::new(b).u16()).map_or(usize::MAX, usize::from);
                if pos.checked_add(EOCD_LEN).and_then(|p| p.checked_add(comment_len)) == Some(len) {
                    found = Some(pos);
                    break;
                }
            }
            if pos == lowest {
                break;
            }
            pos -= 1;
        }
    }
    let Some(pos) = found else {
        return Err(if saw_signature {
            "end of central directory record does not end the file (truncated archive or trailing data)".into()
        } else if u32_at(zip, 0) == Some(SIG_LOCAL) {
            "truncated zip archive: no end of central directory record".into()
        } else {
            "not a zip archive: no end of central directory record".into()
        });
    };

    let truncated = || "truncated end of central directory record".to_string();
    let mut r = Reader::new(range(zip, pos as u64 + 4, (len - pos - 4) as u64).unwrap_or_default());
    let disk = r.u16().ok_or_else(truncated)?;
    let dir_disk = r.u16().ok_or_else(truncated)?;
    let records_here = r.u16().ok_or_else(truncated)?;
    let records = r.u16().ok_or_else(truncated)?;
    let size = r.u32().ok_or_else(truncated)?;
    let offset = r.u32().ok_or_else(truncated)?;
    let mut dir = Directory { records: records.into(), offset: offset.into(), size: size.into(), end: pos as u64 };
    let mut disks = (u32::from(disk), u32::from(dir_disk), u64::from(records_here));

    // A zip64 end record is announced by a locator right before the end record.
    // Go's writer emits one once there are 65535 entries or more.
    if let Some(loc) = pos.checked_sub(EOCD64_LOCATOR_LEN) {
        if u32_at(zip, loc as u64) == Some(SIG_EOCD64_LOCATOR) {
            let bad = |what: &str| format!("invalid zip64 end of central directory: {what}");
            let mut r = Reader::new(range(zip, loc as u64 + 4, (pos - loc - 4) as u64).unwrap_or_default());
            let (Some(loc_disk), Some(rec_off), Some(total_disks)) = (r.u32(), r.u64(), r.u32()) else {
                return Err(bad("truncated locator"));
            };
            if loc_disk != 0 || total_disks != 1 {
                return Err("multi-disk (split) zip archives are not supported".into());
            }
            let rec = range(zip, rec_off, EOCD64_LEN).ok_or_else(|| bad("record out of range"))?;
            let mut r = Reader::new(rec);
            let field = |v: Option<u64>| v.ok_or_else(|| bad("truncated record"));
            if r.u32() != Some(SIG_EOCD64) {
                return Err(bad("bad record signature"));
            }
            let rec_size = field(r.u64())?;
            // Record body (44 bytes of fields, then optional extensible data) must run
            // exactly up to the locator: nothing hidden in between.
            if rec_size < EOCD64_LEN - 12
                || rec_off.checked_add(12).and_then(|e| e.checked_add(rec_size)) != Some(loc as u64)
            {
                return Err(bad("record does not end at the locator"));
            }
            let _versions = field(r.u32().map(u64::from))?;
            let disk64 = field(r.u32().map(u64::from))?;
            let dir_disk64 = field(r.u32().map(u64::from))?;
            let records_here64 = field(r.u64())?;
            let records64 = field(r.u64())?;
            let size64 = field(r.u64())?;
            let offset64 = field(r.u64())?;
            // The 32-bit fields are either saturated or must agree with the 64-bit ones.
            let agree = |v32: u64, max: u64, v64: u64| v32 == max || v32 == v64;
            if !agree(dir.records, 0xFFFF, records64)
                || !agree(dir.size, 0xFFFF_FFFF, size64)
                || !agree(dir.offset, 0xFFFF_FFFF, offset64)
            {
                return Err(bad("zip64 and classic end records disagree"));
            }
            dir = Directory { records: records64, offset: offset64, size: size64, end: rec_off };
            disks = (
                u32::try_from(disk64).unwrap_or(u32::MAX),
                u32::try_from(dir_disk64).unwrap_or(u32::MAX),
                records_here64,
            );
        }
    }
    if disks.0 != 0 || disks.1 != 0 || disks.2 != dir.records {
        return Err("multi-disk (split) zip archives are not supported".into());
    }
    match dir.offset.checked_add(dir.size) {
        Some(end) if end == dir.end => Ok(dir),
        Some(end) if end < dir.end => {
            Err(format!("{} unaccounted bytes between the central directory and the end record", dir.end - end))
        }
        _ => Err(format!(
            "central directory out of range (offset {}, size {}, but the end record is at {})",
            dir.offset, dir.size, dir.end
        )),
    }
}

/// A central directory record.
#[derive(Debug)]
struct CentralEntry<'a> {
    name: &'a [u8],
    made_by: u16,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    size: u64,
    header_offset: u64,
    external_attrs: u32,
}

/// Parses the whole central directory. It must hold exactly `dir.records` records
/// filling exactly `dir.size` bytes.
fn read_central_directory<'a, Z: ZipView + ?Sized>(
    zip: &'a Z,
    dir: &Directory,
) -> Result<Vec<CentralEntry<'a>>, (Option<String>, String)> {
    let cd = range(zip, dir.offset, dir.size).ok_or_else(|| (None, "central directory out of range".to_string()))?;
    let mut r = Reader::new(cd);
    // Don't trust the record count for preallocation: every record takes >= 46 bytes.
    let mut entries = Vec::with_capacity(usize::try_from(dir.records).unwrap_or(0).min(cd.len() / CENTRAL_LEN));
    let count_mismatch = |n: usize| {
        (
            None,
            format!(
                "entry count mismatch: the end record declares {} entries, the central directory holds {n}",
                dir.records
            ),
        )
    };
    while (entries.len() as u64) < dir.records {
        let Some(fixed) = r.bytes(CENTRAL_LEN) else {
            return Err(count_mismatch(entries.len()));
        };
        let mut h = Reader::new(fixed);
        // `fixed` is exactly CENTRAL_LEN bytes, so the reads below cannot fail;
        // the defaults only keep this free of unwrap.
        if h.u32() != Some(SIG_CENTRAL) {
            return Err(count_mismatch(entries.len()));
        }
        let made_by = h.u16().unwrap_or_default();
        let _needed = h.u16();
        let flags = h.u16().unwrap_or_default();
        let method = h.u16().unwrap_or_default();
        let _time_date = h.u32();
        let crc32 = h.u32().unwrap_or_default();
        let csize32 = h.u32().unwrap_or_default();
        let usize32 = h.u32().unwrap_or_default();
        let name_len = usize::from(h.u16().unwrap_or_default());
        let extra_len = usize::from(h.u16().unwrap_or_default());
        let comment_len = usize::from(h.u16().unwrap_or_default());
        let _disk_start = h.u16();
        let _internal_attrs = h.u16();
        let external_attrs = h.u32().unwrap_or_default();
        let offset32 = h.u32().unwrap_or_default();
        let (Some(name), Some(extra), Some(_comment)) = (r.bytes(name_len), r.bytes(extra_len), r.bytes(comment_len))
        else {
            return Err((
                None,
                format!("central directory record {} runs past the end of the central directory", entries.len() + 1),
            ));
        };
        let mut e = CentralEntry {
            name,
            made_by,
            flags,
            method,
            crc32,
            compressed_size: csize32.into(),
            size: usize32.into(),
            header_offset: offset32.into(),
            external_attrs,
        };
        apply_zip64_extra(&mut e, extra).map_err(|rule| (Some(printable(name)), rule))?;
        entries.push(e);
    }
    if r.pos != cd.len() {
        // More records than announced, or junk inside the directory.
        if Reader::new(cd.get(r.pos..).unwrap_or_default()).u32() == Some(SIG_CENTRAL) {
            return Err((
                None,
                format!(
                    "entry count mismatch: the end record declares {} entries, the central directory holds more",
                    dir.records
                ),
            ));
        }
        return Err((
            None,
            format!(
                "central directory size mismatch: {} bytes left over after {} records",
                cd.len() - r.pos,
                dir.records
            ),
        ));
    }
    Ok(entries)
}

/// Replaces saturated 32-bit fields with their zip64 extra field values, exactly as
/// Go's reader does: only saturated fields are consulted, in the order uncompressed
/// size, compressed size, header offset. A saturated uncompressed size without a
/// zip64 field is taken literally (Go does so for 42.zip); the other two are errors.
fn apply_zip64_extra(e: &mut CentralEntry<'_>, extra: &[u8]) -> Result<(), String> {
    let mut need_size = e.size == 0xFFFF_FFFF;
    let mut need_csize = e.compressed_size == 0xFFFF_FFFF;
    let mut need_offset = e.header_offset == 0xFFFF_FFFF;
    let malformed = || "malformed zip64 extra field".to_string();
    let mut r = Reader::new(extra);
    while let (Some(tag), Some(len)) = (r.u16(), r.u16()) {
        let Some(body) = r.bytes(usize::from(len)) else { break };
        if tag != ZIP64_EXTRA_ID {
            continue;
        }
        let mut f = Reader::new(body);
        if need_size {
            e.size = f.u64().ok_or_else(malformed)?;
            need_size = false;
        }
        if need_csize {
            e.compressed_size = f.u64().ok_or_else(malformed)?;
            need_csize = false;
        }
        if need_offset {
            e.header_offset = f.u64().ok_or_else(malformed)?;
            need_offset = false;
        }
    }
    if need_csize || need_offset {
        return Err("zip64 sizes or offset announced but no zip64 extra field".into());
    }
    Ok(())
}

/// The sizes a local header's zip64 extra field carries (both are present there).
fn local_zip64_sizes(extra: &[u8]) -> Option<(u64, u64)> {
    let mut r = Reader::new(extra);
    while let (Some(tag), Some(len)) = (r.u16(), r.u16()) {
        let body = r.bytes(usize::from(len))?;
        if tag == ZIP64_EXTRA_ID {
            let mut f = Reader::new(body);
            return Some((f.u64()?, f.u64()?));
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Module path, version and file path rules (golang.org/x/mod/module)
// ---------------------------------------------------------------------------

/// `module.Check` plus `module.CanonicalVersion(v) == v`, as `CheckZip` does first.
/// Also what every module version, with or without a zip, must pass to be imported.
pub fn check_module_version(module: &str, version: &str) -> Result<(), String> {
    if !modpath::is_canonical_version(version) {
        return Err(format!("version {version:?} is not canonical"));
    }
    let path_major = check_go_module_path(module)?;
    check_path_major(version, path_major)
}

/// `module.CheckPath`. Returns the path's major version suffix (`/v2`, `.v1`, or "").
fn check_go_module_path(module: &str) -> Result<&str, String> {
    modpath::check_module_path(module)?;
    check_module_path_extra(module)?;
    split_path_version(module)
        .map(|(_, path_major)| path_major)
        .ok_or_else(|| format!("malformed module path {module:?}: invalid version suffix"))
}

/// The parts of `module.CheckPath` that `modpath::check_module_path` leaves out:
/// a lower-case LDH first element containing a dot, no Windows-reserved or
/// Windows-short-name elements, a well-formed major version suffix.
fn check_module_path_extra(module: &str) -> Result<(), String> {
    let first = module.split('/').next().unwrap_or_default();
    if !first.contains('.') {
        return Err(format!("malformed module path {module:?}: missing dot in first path element"));
    }
    if let Some(c) = first.chars().find(|&c| !(c == '-' || c == '.' || c.is_ascii_digit() || c.is_ascii_lowercase())) {
        return Err(format!("malformed module path {module:?}: invalid char {c:?} in first path element"));
    }
    for elem in module.split('/') {
        if elem.ends_with('.') {
            return Err(format!("malformed module path {module:?}: trailing dot in path element"));
        }
        let short = elem.split('.').next().unwrap_or_default();
        if is_windows_reserved(short) {
            return Err(format!(
                "malformed module path {module:?}: {short:?} disallowed as path element component on Windows"
            ));
        }
        // Windows short names: a trailing tilde followed by digits.
        if let Some((_, digits)) = short.rsplit_once('~') {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("malformed module path {module:?}: trailing tilde and digits in path element"));
            }
        }
    }
    Ok(())
}

/// `module.SplitPathVersion`: `(prefix, pathMajor)`, `None` when the suffix is malformed.
fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let b = path.as_bytes();
    let mut i = b.len();
    let mut dot = false;
    while let Some(&c) = i.checked_sub(1).and_then(|j| b.get(j)) {
        if !(c.is_ascii_digit() || c == b'.') {
            break;
        }
        dot |= c == b'.';
        i -= 1;
    }
    let at = |j: Option<usize>| j.and_then(|j| b.get(j)).copied();
    if i <= 1 || i == b.len() || at(i.checked_sub(1)) != Some(b'v') || at(i.checked_sub(2)) != Some(b'/') {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at_checked(i - 2)?;
    if dot || major.len() <= 2 || major.as_bytes().get(2) == Some(&b'0') || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let mut i = b.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    while i > 0 && b.get(i - 1).is_some_and(u8::is_ascii_digit) {
        i -= 1;
    }
    if i <= 1 || b.get(i - 1) != Some(&b'v') || b.get(i - 2) != Some(&b'.') {
        return None;
    }
    let (prefix, major) = path.split_at_checked(i - 2)?;
    if major.len() <= 2 || (major.as_bytes().get(2) == Some(&b'0') && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

/// `module.CheckPathMajor`: the version's major must match the path's `/vN` (or
/// gopkg.in `.vN`) suffix; without one, v0/v1 or `+incompatible`.
fn check_path_major(version: &str, path_major: &str) -> Result<(), String> {
    let mut path_major = path_major;
    if path_major.starts_with(".v") {
        path_major = path_major.strip_suffix("-unstable").unwrap_or(path_major);
    }
    if version.starts_with("v0.0.0-") && path_major == ".v1" {
        // An old bug in pseudo-versions for gopkg.in/...v1 that Go still allows.
        return Ok(());
    }
    // semver.Major: "v" and the leading digits (the version is canonical by now).
    let digits = version.get(1..).unwrap_or_default();
    let major_len = 1 + digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    let major = version.get(..major_len).unwrap_or(version);
    if path_major.is_empty() {
        if major == "v0" || major == "v1" || version.ends_with("+incompatible") {
            return Ok(());
        }
        return Err(format!(
            "invalid version: should be v0 or v1, not {major} (a major version >= 2 needs a /{major} module path suffix or +incompatible)"
        ));
    }
    let want = path_major.get(1..).unwrap_or_default();
    if want == major {
        return Ok(());
    }
    Err(format!("invalid version: should be {want}, not {major} (to match the module path)"))
}

const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Whether `short` (a path element up to its first dot) is a reserved device name on
/// Windows. Go compares with `strings.EqualFold`; no non-ASCII character folds to a
/// letter of these names, so ASCII case-insensitivity is exact.
fn is_windows_reserved(short: &str) -> bool {
    WINDOWS_RESERVED.iter().any(|bad| bad.eq_ignore_ascii_case(short))
}

/// `module.fileNameOK`: ASCII letters, digits and `!#$%&()+,-.=@[]^_{}~ `, or a
/// Unicode letter.
fn file_name_char_ok(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c);
    }
    is_go_letter(c)
}

/// Go's `unicode.IsLetter` (general category L). Rust's `char::is_alphabetic` is
/// Alphabetic = L + Nl + Other_Alphabetic, so subtract the latter two, taken from Go
/// 1.19's tables (Unicode 13). Letters added in later Unicode versions are accepted,
/// as newer Go releases accept them. Verified against Go 1.19: no Go letter is
/// refused. The table is sorted boundaries `[start, end)`, generated with
/// `unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r)`.
fn is_go_letter(c: char) -> bool {
    let u = u32::from(c);
    c.is_alphabetic() && ALPHABETIC_NON_LETTERS.partition_point(|&b| b <= u) % 2 == 0
}

/// The key Go's `strToFold` would give one character: two strings are equal under
/// `strings.EqualFold` iff their per-character keys are equal. The keys differ from
/// Go's (Go picks the smallest member of each simple-fold orbit, we pick the lower
/// case of the upper case), but the equivalence classes are the same: checked
/// exhaustively against Go 1.19 for every code point (the only differences are
/// pairs added in Unicode 14+, which newer Go releases fold the same way we do).
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    // İ (U+0130) and ı (U+0131) only fold in Turkic locales: no simple folding.
    if c == '\u{130}' || c == '\u{131}' {
        return c;
    }
    // Upper then lower case joins orbits such as {Σ, σ, ς}, {S, s, ſ}, {K, k, K}.
    if let Some(l) = single(c.to_uppercase()).and_then(|u| single(u.to_lowercase())) {
        return l;
    }
    single(c.to_lowercase()).unwrap_or(c)
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

fn fold(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().map(fold_char).collect())
    }
}

/// Go's `collisionChecker`: case-insensitive collisions, duplicates, and paths that
/// are both a file and a directory (a file's parents count as directories).
#[derive(Default)]
struct Collisions {
    seen: HashMap<String, (String, bool)>,
}

impl Collisions {
    fn check(&mut self, path: &str, is_dir: bool) -> Result<(), String> {
        let (mut p, mut is_dir) = (path, is_dir);
        loop {
            let key = fold(p);
            if let Some((other, other_is_dir)) = self.seen.get(key.as_ref()) {
                if other != p {
                    return Err(format!("case-insensitive file name collision: {other:?} and {p:?}"));
                }
                if *other_is_dir != is_dir {
                    return Err(format!("entry {p:?} is both a file and a directory"));
                }
                if !is_dir {
                    return Err(format!("multiple entries for file {p:?}"));
                }
                // A directory seen before: its parents were checked then.
                return Ok(());
            }
            self.seen.insert(key.into_owned(), (p.to_string(), is_dir));
            match p.rsplit_once('/') {
                Some((parent, _)) => (p, is_dir) = (parent, true),
                None => return Ok(()),
            }
        }
    }
}

/// What a zip entry is, once its name is validated.
#[derive(Debug, Clone, Copy)]
enum Kind<'a> {
    /// The bare `<module>@<version>/` entry.
    Root,
    /// `<module>@<version>/<path>/`.
    Dir(&'a str),
    /// `<module>@<version>/<path>`.
    File(&'a str),
}

/// A central directory entry whose name passed the rules.
struct Named<'a> {
    full: &'a str,
    kind: Kind<'a>,
    /// How errors name it.
    label: String,
}

/// The name rules of `CheckZip`: UTF-8, module prefix, `module.CheckFilePath`.
/// Errors carry `(entry label, rule)`.
fn classify<'a>(raw: &'a [u8], prefix: &str) -> Result<Named<'a>, (String, String)> {
    let full = std::str::from_utf8(raw).map_err(|_| (printable(raw), "invalid UTF-8 in file name".to_string()))?;
    let Some(rest) = full.strip_prefix(prefix) else {
        return Err((printable(raw), format!("path does not have prefix {prefix:?}")));
    };
    let label = printable(rest.as_bytes());
    if rest.is_empty() {
        return Ok(Named { full, kind: Kind::Root, label: "./".into() });
    }
    let (path, is_dir) = match rest.strip_suffix('/') {
        Some(p) => (p, true),
        None => (rest, false),
    };
    if let Err(rule) = check_file_path(path) {
        return Err((label, rule));
    }
    let kind = if is_dir { Kind::Dir(path) } else { Kind::File(path) };
    Ok(Named { full, kind, label })
}

/// `path.Clean(p) == p` and `module.CheckFilePath(p)`, with a distinct message for
/// each way to fail.
fn check_file_path(path: &str) -> Result<(), String> {
    if path.contains('\0') {
        return Err("NUL byte in file name".into());
    }
    if path.contains('\\') {
        return Err("backslash in file name (module zips use only '/' as separator)".into());
    }
    if path.starts_with('/') {
        return Err("absolute path (file paths must be relative to the module root)".into());
    }
    for (i, elem) in path.split('/').enumerate() {
        match elem {
            "" => return Err("empty path element (\"//\" or trailing slash: path is not clean)".into()),
            "." => return Err("\".\" path element (path is not clean)".into()),
            ".." if i == 0 => return Err("path escapes the module directory (leading \"..\": zip-slip)".into()),
            ".." => return Err("\"..\" path element (path is not clean)".into()),
            _ => check_file_path_element(elem)?,
        }
    }
    Ok(())
}

/// `module.checkElem` for file paths: in Go's order, without the Windows short-name
/// rule, which Go applies to import and module paths only.
fn check_file_path_element(elem: &str) -> Result<(), String> {
    // Stricter than Go, which has no limit: no Linux or macOS file system can hold
    // a longer name, so cmd/go could never extract it, and a mount could not serve it.
    if elem.len() > MAX_NAME_ELEMENT {
        return Err(format!(
            "path element too long ({} bytes; file systems allow at most {MAX_NAME_ELEMENT})",
            elem.len()
        ));
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if elem.ends_with('.') {
        return Err(format!("trailing dot in path element {elem:?}"));
    }
    if let Some(c) = elem.chars().find(|&c| !file_name_char_ok(c)) {
        return Err(format!("invalid char {c:?} in file path"));
    }
    let short = elem.split('.').next().unwrap_or_default();
    if is_windows_reserved(short) {
        return Err(format!("{short:?} is a reserved file name on Windows"));
    }
    Ok(())
}

/// A file's type from its external attributes, read the way Go's
/// `FileHeader.Mode` does: Unix mode for Unix and macOS creators, MS-DOS attributes
/// for FAT, NTFS and VFAT; unknown creators carry no type.
#[derive(Debug, PartialEq, Eq)]
enum FileType {
    Regular,
    Dir,
    Symlink,
    Other(u32),
}

fn file_type(e: &CentralEntry<'_>) -> FileType {
    const S_IFMT: u32 = 0o170000;
    match e.made_by >> 8 {
        3 | 19 => match (e.external_attrs >> 16) & S_IFMT {
            // No type bits at all: only permissions were recorded.
            0 | 0o100000 => FileType::Regular,
            0o040000 => FileType::Dir,
            0o120000 => FileType::Symlink,
            t => FileType::Other(t),
        },
        0 | 11 | 14 if e.external_attrs & 0x10 != 0 => FileType::Dir,
        _ => FileType::Regular,
    }
}

// ---------------------------------------------------------------------------
// Entry data
// ---------------------------------------------------------------------------

/// Where compressed bytes come from: memory at import time, a file at serve time.
trait Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

struct Mem<'a>(&'a [u8]);

impl Source for Mem<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let src = range(self.0, offset, buf.len() as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("bytes {offset}..+{} lie outside the zip ({} bytes)", buf.len(), self.0.len()),
            )
        })?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl Source for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

#[derive(Debug)]
enum DecodeError {
    TooLarge { declared: u64 },
    TooSmall { declared: u64, actual: u64 },
    Crc { declared: u32, actual: u32 },
    Corrupt(String),
    Truncated,
    Unsupported(u16),
    Io(io::Error),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { declared } => write!(
                f,
                "uncompressed data is larger than the declared size of {declared} bytes (zip bomb or corrupt archive)"
            ),
            DecodeError::TooSmall { declared, actual } => {
                write!(f, "uncompressed data is smaller than declared: {actual} bytes, header says {declared}")
            }
            DecodeError::Crc { declared, actual } => {
                write!(f, "CRC-32 mismatch: data has {actual:08x}, header says {declared:08x}")
            }
            DecodeError::Corrupt(m) => write!(f, "corrupt deflate data: {m}"),
            DecodeError::Truncated => f.write_str("deflate stream is truncated"),
            DecodeError::Unsupported(m) => write!(f, "unsupported compression method {m}"),
            DecodeError::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

impl From<io::Error> for DecodeError {
    fn from(e: io::Error) -> Self {
        DecodeError::Io(e)
    }
}

const CHUNK: usize = 64 << 10;

thread_local! {
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::new());
}

fn out_of_range() -> DecodeError {
    DecodeError::Io(io::Error::new(io::ErrorKind::InvalidData, "entry data offset overflows"))
}

/// Reusable decoding state: the inflater (about 40 KiB) and two buffers of at most
/// 64 KiB, so that a zip of many small files does not allocate per entry.
struct Decoder {
    inflater: Option<Decompress>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Decoder {
    fn new() -> Self {
        Decoder { inflater: None, input: Vec::new(), output: Vec::new() }
    }

    /// Streams an entry's uncompressed bytes into `sink`, in chunks, checking that
    /// exactly `size` bytes come out and that their CRC-32 matches. Never inflates
    /// more than `size + 1` bytes, so a lying size is caught after one extra byte,
    /// and never hands `sink` more than `size` bytes in total.
    fn decode(&mut self, src: &dyn Source, e: &Entry, sink: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
        let mut crc = crc32fast::Hasher::new();
        let mut produced: u64 = 0;
        // Buffers sized for the entry (module zips are mostly small files), at most CHUNK.
        let fit = |n: u64| usize::try_from(n).unwrap_or(CHUNK).min(CHUNK);
        match e.method {
            METHOD_STORED => {
                if e.compressed_size != e.size {
                    return Err(if e.compressed_size > e.size {
                        DecodeError::TooLarge { declared: e.size }
                    } else {
                        DecodeError::TooSmall { declared: e.size, actual: e.compressed_size }
                    });
                }
                let buf = &mut self.output;
                buf.resize(fit(e.size), 0);
                while produced < e.size {
                    let n = fit(e.size - produced);
                    let chunk = buf.get_mut(..n).ok_or_else(out_of_range)?;
                    src.read_at(chunk, e.data_offset.checked_add(produced).ok_or_else(out_of_range)?)?;
                    crc.update(chunk);
                    sink(chunk);
                    produced += n as u64;
                }
            }
            METHOD_DEFLATE => {
                let inflater = match &mut self.inflater {
                    Some(d) => {
                        d.reset(false);
                        d
                    }
                    slot => slot.insert(Decompress::new(false)),
                };
                let (input, output) = (&mut self.input, &mut self.output);
                input.resize(fit(e.compressed_size), 0);
                output.resize(fit(e.size.saturating_add(1)), 0);
                // input[in_start..in_end] is pending; `fetched` compressed bytes were read.
                let (mut in_start, mut in_end) = (0usize, 0usize);
                let mut fetched: u64 = 0;
                loop {
                    if in_start == in_end && fetched < e.compressed_size {
                        let n = usize::try_from(e.compressed_size - fetched).unwrap_or(CHUNK).min(input.len());
                        let chunk = input.get_mut(..n).ok_or_else(out_of_range)?;
                        src.read_at(chunk, e.data_offset.checked_add(fetched).ok_or_else(out_of_range)?)?;
                        fetched += n as u64;
                        (in_start, in_end) = (0, n);
                    }
                    // Room for at most size + 1 bytes in total: one byte past the declared
                    // size is enough to know it lied.
                    let room = usize::try_from(e.size.saturating_add(1) - produced).unwrap_or(CHUNK).min(output.len());
                    let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
                    // FlushDecompress::None throughout: Finish on a first call would make
                    // miniz_oxide demand the whole output in one buffer.
                    let status = inflater
                        .decompress(
                            input.get(in_start..in_end).ok_or_else(out_of_range)?,
                            output.get_mut(..room).ok_or_else(out_of_range)?,
                            FlushDecompress::None,
                        )
                        .map_err(|err| DecodeError::Corrupt(err.to_string()))?;
                    let consumed = usize::try_from(inflater.total_in() - before_in).unwrap_or(usize::MAX);
                    let made = usize::try_from(inflater.total_out() - before_out).unwrap_or(usize::MAX);
                    in_start = in_start.checked_add(consumed).filter(|&s| s <= in_end).ok_or_else(out_of_range)?;
                    produced = produced.saturating_add(made as u64);
                    if produced > e.size {
                        return Err(DecodeError::TooLarge { declared: e.size });
                    }
                    let out = output.get(..made).ok_or_else(out_of_range)?;
                    crc.update(out);
                    sink(out);
                    match status {
                        // Like Go, compressed bytes after the end of the stream are ignored.
                        Status::StreamEnd => break,
                        _ if consumed == 0 && made == 0 => {
                            return Err(if fetched == e.compressed_size && in_start == in_end {
                                DecodeError::Truncated
                            } else {
                                DecodeError::Corrupt("inflater made no progress".into())
                            });
                        }
                        _ => {}
                    }
                }
            }
            m => return Err(DecodeError::Unsupported(m)),
        }
        if produced != e.size {
            return Err(DecodeError::TooSmall { declared: e.size, actual: produced });
        }
        let actual = crc.finalize();
        if actual != e.crc32 {
            return Err(DecodeError::Crc { declared: e.crc32, actual });
        }
        Ok(())
    }
}

/// Reads one entry's bytes from a zip file with `pread`, inflating if needed and
/// checking size and CRC. Memory is bounded by `entry.size` (refused above
/// [`MAX_ZIP_SIZE`]), plus a per-thread decoder of under 200 KiB that is reused
/// across calls. Never panics; errors name the entry.
pub fn read_entry(file: &File, entry: &Entry) -> io::Result<Vec<u8>> {
    read_entry_from(file, entry)
}

/// [`read_entry`] from a zip held in memory.
pub fn read_entry_mem(zip: &[u8], entry: &Entry) -> io::Result<Vec<u8>> {
    read_entry_from(&Mem(zip), entry)
}

/// Streams one entry's bytes from a zip file into `sink` in chunks of at most 64 KiB,
/// with the same checks as [`read_entry`] (size, CRC, bounded inflation), so large
/// files can be hashed or copied in constant memory. `sink` sees every byte before
/// the final check; on `Err` the caller must discard what it received.
pub fn stream_entry(file: &File, entry: &Entry, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    stream_from(file, entry, sink)
}

/// Decodes with this thread's reusable decoder (a fresh one if that one is
/// unavailable, e.g. during thread teardown: never a panic); errors name the entry.
fn stream_from(src: &dyn Source, entry: &Entry, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    let mut decode = |d: &mut Decoder| d.decode(src, entry, &mut *sink);
    let reused = DECODER.try_with(|cell| cell.try_borrow_mut().ok().map(|mut d| decode(&mut d))).ok().flatten();
    let result = match reused {
        Some(result) => result,
        None => decode(&mut Decoder::new()),
    };
    result.map_err(|e| match e {
        DecodeError::Io(io) => entry_error(entry, io.kind(), &io),
        other => entry_error(entry, io::ErrorKind::InvalidData, &other),
    })
}

fn entry_error(entry: &Entry, kind: io::ErrorKind, msg: &dyn fmt::Display) -> io::Error {
    io::Error::new(kind, format!("zip entry {:?}: {msg}", entry.name))
}

fn read_entry_from(src: &dyn Source, entry: &Entry) -> io::Result<Vec<u8>> {
    if entry.size > MAX_ZIP_SIZE {
        return Err(entry_error(
            entry,
            io::ErrorKind::InvalidData,
            &format_args!("size {} is over the module zip limit", entry.size),
        ));
    }
    let capacity = usize::try_from(entry.size).map_err(|e| entry_error(entry, io::ErrorKind::InvalidData, &e))?;
    let mut out = Vec::new();
    out.try_reserve_exact(capacity).map_err(|e| entry_error(entry, io::ErrorKind::OutOfMemory, &e))?;
    out.resize(capacity, 0);
    fill_from(src, entry, &mut out)?;
    Ok(out)
}

/// Extracts one entry into `out`, which must be exactly the entry's size (so the
/// caller can decompress straight into memory it already owns, with no copy).
pub fn read_entry_into(file: &File, entry: &Entry, out: &mut [u8]) -> io::Result<()> {
    fill_from(file, entry, out)
}

fn fill_from(src: &dyn Source, entry: &Entry, out: &mut [u8]) -> io::Result<()> {
    if out.len() as u64 != entry.size {
        let msg = format_args!("buffer of {} bytes for an entry of {}", out.len(), entry.size);
        return Err(entry_error(entry, io::ErrorKind::InvalidInput, &msg));
    }
    let mut at = 0;
    // The decoder may hand over one byte past the declared size before it fails
    // the entry: never write past the buffer.
    stream_from(src, entry, &mut |chunk| {
        let n = chunk.len().min(out.len() - at);
        out[at..at + n].copy_from_slice(&chunk[..n]);
        at += n;
    })
}

// ---------------------------------------------------------------------------
// inspect
// ---------------------------------------------------------------------------

/// What a local file header says, and where its entry's bytes are.
struct Local<'a> {
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: u32,
    size: u32,
    name: &'a [u8],
    extra: &'a [u8],
    data_offset: u64,
    data_end: u64,
}

/// Parses and fully validates a module zip held in memory: structure, names, sizes,
/// and every entry's data (inflated, bounded by its declared size + 1 byte, CRC and
/// length checked). Returns the regular files and the zip's `h1:` hash.
pub fn inspect(zip: &[u8], module: &str, version: &str) -> Result<ModuleZip, ZipError> {
    let layout = check_layout(zip, module, version)?;
    // 4. Inflate everything: sizes, CRCs, and the hash of every zip entry (as
    //    dirhash.HashZip: directories included, named in full).
    let src = Mem(zip);
    let mut decoder = Decoder::new();
    let mut pairs = Vec::with_capacity(layout.items.len());
    for item in &layout.items {
        let mut sha = Sha256::new();
        decoder.decode(&src, &item.entry, &mut |chunk| sha.update(chunk)).map_err(|d| ZipError {
            module: module.to_string(),
            version: version.to_string(),
            entry: Some(item.label.clone()),
            rule: d.to_string(),
        })?;
        pairs.push((item.full.clone(), <[u8; 32]>::from(sha.finalize())));
    }
    let h1 = hash1(&pairs);
    Ok(ModuleZip { entries: layout.files(), h1, total_size: layout.total_size, hashed: pairs })
}

/// One entry of a module zip whose structure passed [`check_layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutItem {
    /// The full name in the zip (`<module>@<version>/<path>`), as Hash1 names it.
    pub full: String,
    /// How errors name it.
    pub label: String,
    /// A regular file (else a directory entry, which has no content).
    pub is_file: bool,
    /// Where its bytes are; `name` is empty for directory entries.
    pub entry: Entry,
}

/// A module zip's structure, checked against every rule that does not need the
/// entries' data: everything [`inspect`] checks except sizes, CRCs and the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Every entry, directories included, in central directory order.
    pub items: Vec<LayoutItem>,
    /// Sum of the declared uncompressed sizes of the regular files.
    pub total_size: u64,
}

impl Layout {
    /// The regular files, sorted by name (byte order): [`ModuleZip::entries`].
    pub fn files(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.items.iter().filter(|i| i.is_file).map(|i| i.entry.clone()).collect();
        v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// Steps 1-3 of [`inspect`]: names, sizes as declared, local headers, overlaps,
/// central/local agreement. Reads only headers, never entry data, so the serve path
/// can re-check a stored blob without trusting the index built from it.
pub fn check_layout(zip: &[u8], module: &str, version: &str) -> Result<Layout, ZipError> {
    layout(zip, module, version)
}

/// [`check_layout`] of a zip file, reading only the bytes the checks look at (see
/// [`Pieces`]): the end records, then the central directory, then each entry's
/// local header and data descriptor, in rounds, each round's positions taken from
/// the last. Where a round cannot go on (a broken directory, say), the checks run
/// on what was read and report it exactly as they would on the whole file.
pub fn check_layout_file(file: &File, module: &str, version: &str) -> io::Result<Result<Layout, ZipError>> {
    let size = file.metadata()?.len();
    if size > MAX_ZIP_SIZE {
        return Ok(layout(&Pieces { size, pieces: Vec::new() }, module, version));
    }
    let tail = size.min((EOCD_LEN + 0xFFFF + EOCD64_LOCATOR_LEN) as u64 + EOCD64_LEN);
    let mut ranges = vec![(0, 4), (size - tail, tail)];
    let ends = Pieces::load(file, size, ranges.clone())?;
    let Ok(dir) = read_directory_end(&ends) else { return Ok(layout(&ends, module, version)) };
    ranges.push((dir.offset, dir.size));
    let with_dir = Pieces::load(file, size, ranges.clone())?;
    let Ok(central) = read_central_directory(&with_dir, &dir) else { return Ok(layout(&with_dir, module, version)) };
    let fixed: Vec<(u64, u64)> = central.iter().map(|e| (e.header_offset, LOCAL_LEN)).collect();
    let headers = Pieces::load(file, size, fixed)?;
    for e in &central {
        let lh = e.header_offset;
        let field = |at: u64| range(&headers, lh + at, 2).and_then(|b| Reader::new(b).u16()).map_or(0, u64::from);
        let variable = field(26) + field(28);
        ranges.push((lh, LOCAL_LEN + variable));
        if e.flags & FLAG_DATA_DESCRIPTOR != 0 {
            ranges.push((lh.saturating_add(LOCAL_LEN + variable).saturating_add(e.compressed_size), 16));
        }
    }
    drop(central);
    Ok(layout(&Pieces::load(file, size, ranges)?, module, version))
}

fn layout<Z: ZipView + ?Sized>(zip: &Z, module: &str, version: &str) -> Result<Layout, ZipError> {
    let err = |entry: Option<String>, rule: String| ZipError {
        module: module.to_string(),
        version: version.to_string(),
        entry,
        rule,
    };
    check_module_version(module, version).map_err(|rule| err(None, rule))?;
    if zip.size() > MAX_ZIP_SIZE {
        return Err(err(
            None,
            format!("module zip file is too large ({} bytes; limit is {MAX_ZIP_SIZE} bytes)", zip.size()),
        ));
    }
    let dir = read_directory_end(zip).map_err(|rule| err(None, rule))?;
    let central = read_central_directory(zip, &dir).map_err(|(entry, rule)| err(entry, rule))?;
    let prefix = format!("{module}@{version}/");

    // 1. Per-entry rules, in central directory order like CheckZip.
    let mut collisions = Collisions::default();
    let mut total: u64 = 0;
    let mut named = Vec::with_capacity(central.len());
    for e in &central {
        let n = classify(e.name, &prefix).map_err(|(label, rule)| err(Some(label), rule))?;
        let fail = |rule: String| err(Some(n.label.clone()), rule);
        if e.flags & FLAG_ENCRYPTED != 0 {
            return Err(fail("encrypted entries are not supported".into()));
        }
        if e.method != METHOD_STORED && e.method != METHOD_DEFLATE {
            return Err(fail(format!(
                "unsupported compression method {} (only 0, stored, and 8, deflate, are allowed)",
                e.method
            )));
        }
        let file_type = file_type(e);
        match n.kind {
            Kind::Root | Kind::Dir(_) => {
                if let Kind::Dir(path) = n.kind {
                    collisions.check(path, true).map_err(fail)?;
                }
                match file_type {
                    FileType::Other(t) => {
                        return Err(fail(format!("not a regular file or directory (file type {t:o})")))
                    }
                    // A name ending in "/" is a directory to Go, whatever its mode.
                    FileType::Regular | FileType::Dir | FileType::Symlink => {}
                }
                // Go skips directory entries when extracting but hashes their bytes.
                if e.size != 0 {
                    return Err(fail(format!("directory entry has content ({} bytes)", e.size)));
                }
            }
            Kind::File(path) => {
                collisions.check(path, false).map_err(fail)?;
                match file_type {
                    // Extracted by Go as a regular file holding the link text.
                    FileType::Regular | FileType::Symlink => {}
                    FileType::Dir => {
                        return Err(fail("not a regular file (directory attributes on a file name)".into()))
                    }
                    FileType::Other(t) => return Err(fail(format!("not a regular file (file type {t:o})"))),
                }
                let base = path.rsplit('/').next().unwrap_or(path);
                if base.eq_ignore_ascii_case("go.mod") {
                    if base.len() != path.len() {
                        return Err(fail(
                            "go.mod file not in module root directory (nested modules are not allowed)".into(),
                        ));
                    }
                    if path != "go.mod" {
                        return Err(fail("go.mod files must have lowercase names".into()));
                    }
                }
                total = total.checked_add(e.size).filter(|&t| t <= MAX_ZIP_SIZE).ok_or_else(|| {
                    err(
                        None,
                        format!(
                            "total uncompressed size of module contents too large (max size is {MAX_ZIP_SIZE} bytes)"
                        ),
                    )
                })?;
                if path == "go.mod" && e.size > MAX_GO_MOD_SIZE {
                    return Err(fail(format!(
                        "go.mod file too large ({} bytes; max size is {MAX_GO_MOD_SIZE} bytes)",
                        e.size
                    )));
                }
                if path == "LICENSE" && e.size > MAX_LICENSE_SIZE {
                    return Err(fail(format!(
                        "LICENSE file too large ({} bytes; max size is {MAX_LICENSE_SIZE} bytes)",
                        e.size
                    )));
                }
            }
        }
        if e.method == METHOD_STORED && e.compressed_size != e.size {
            return Err(fail(format!(
                "stored entry's compressed size ({}) differs from its size ({})",
                e.compressed_size, e.size
            )));
        }
        named.push(n);
    }

    // 2. Local headers: where each entry's bytes are. Entries live before the
    //    central directory and may not overlap (no shared headers, no quines).
    let mut locals = Vec::with_capacity(central.len());
    let mut spans = Vec::with_capacity(central.len());
    for (i, (e, n)) in central.iter().zip(&named).enumerate() {
        let fail = |rule: String| err(Some(n.label.clone()), rule);
        let lh = e.header_offset;
        let header = lh
            .checked_add(LOCAL_LEN)
            .filter(|&end| end <= dir.offset)
            .and_then(|_| range(zip, lh, LOCAL_LEN))
            .ok_or_else(|| fail(format!("local file header out of range (offset {lh})")))?;
        let mut r = Reader::new(header);
        if r.u32() != Some(SIG_LOCAL) {
            return Err(fail(format!("bad local file header signature at offset {lh}")));
        }
        // `header` is exactly LOCAL_LEN bytes: the defaults are never used.
        let _needed = r.u16();
        let flags = r.u16().unwrap_or_default();
        let method = r.u16().unwrap_or_default();
        let _time_date = r.u32();
        let crc32 = r.u32().unwrap_or_default();
        let compressed_size = r.u32().unwrap_or_default();
        let size = r.u32().unwrap_or_default();
        let name_len = u64::from(r.u16().unwrap_or_default());
        let extra_len = u64::from(r.u16().unwrap_or_default());
        let name_off = lh + LOCAL_LEN;
        let data_offset = name_off + name_len + extra_len; // < 2^64: lh < zip.len()
        let data_end = data_offset
            .checked_add(e.compressed_size)
            .filter(|&end| end <= dir.offset)
            .ok_or_else(|| fail("entry data out of range (runs into the central directory)".into()))?;
        let (Some(name), Some(extra)) = (range(zip, name_off, name_len), range(zip, name_off + name_len, extra_len))
        else {
            return Err(fail("local file header out of range".into()));
        };
        let mut span_end = data_end;
        if e.flags & FLAG_DATA_DESCRIPTOR != 0 {
            // [signature] crc32 compressed-size size; Go's writer includes the signature.
            let sig = u32_at(zip, data_end) == Some(SIG_DATA_DESCRIPTOR);
            span_end = data_end + if sig { 16 } else { 12 };
            if span_end > dir.offset {
                return Err(fail("data descriptor out of range".into()));
            }
        }
        spans.push((lh, span_end, i));
        locals.push(Local { flags, method, crc32, compressed_size, size, name, extra, data_offset, data_end });
    }
    spans.sort_unstable();
    for pair in spans.windows(2) {
        if let [(_, prev_end, prev), (start, _, this)] = *pair {
            if start < prev_end {
                let label = |i: usize| named.get(i).map(|n| n.label.clone());
                return Err(err(
                    label(this),
                    format!(
                        "entry data overlaps that of {:?} (shared or overlapping local headers)",
                        label(prev).unwrap_or_default()
                    ),
                ));
            }
        }
    }

    // 3. Local headers must agree with the central directory.
    for ((e, n), l) in central.iter().zip(&named).zip(&locals) {
        let fail = |rule: String| err(Some(n.label.clone()), rule);
        if l.name != e.name {
            return Err(fail(format!(
                "local file header name {:?} disagrees with the central directory",
                printable(l.name)
            )));
        }
        if l.flags & FLAG_ENCRYPTED != 0 {
            return Err(fail("encrypted entries are not supported".into()));
        }
        if l.method != e.method {
            return Err(fail(format!(
                "local file header compression method {} disagrees with the central directory ({})",
                l.method, e.method
            )));
        }
        if (l.flags ^ e.flags) & FLAG_DATA_DESCRIPTOR != 0 {
            return Err(fail("local file header and central directory disagree about the data descriptor flag".into()));
        }
        if e.flags & FLAG_DATA_DESCRIPTOR == 0 {
            let (size, compressed_size) = if l.size == u32::MAX || l.compressed_size == u32::MAX {
                local_zip64_sizes(l.extra).unwrap_or((u64::MAX, u64::MAX))
            } else {
                (l.size.into(), l.compressed_size.into())
            };
            if l.crc32 != e.crc32 || size != e.size || compressed_size != e.compressed_size {
                return Err(fail("local file header CRC-32 or sizes disagree with the central directory".into()));
            }
        } else {
            // Go's reader checks the descriptor's CRC against the directory's.
            let at = if u32_at(zip, l.data_end) == Some(SIG_DATA_DESCRIPTOR) { l.data_end + 4 } else { l.data_end };
            if u32_at(zip, at) != Some(e.crc32) {
                return Err(fail("data descriptor CRC-32 disagrees with the central directory".into()));
            }
        }
    }

    let items = central
        .iter()
        .zip(&named)
        .zip(&locals)
        .map(|((e, n), l)| LayoutItem {
            full: n.full.to_string(),
            label: n.label.clone(),
            is_file: matches!(n.kind, Kind::File(_)),
            entry: Entry {
                name: match n.kind {
                    Kind::File(path) => path.to_string(),
                    Kind::Dir(_) | Kind::Root => String::new(),
                },
                data_offset: l.data_offset,
                compressed_size: e.compressed_size,
                size: e.size,
                method: e.method,
                crc32: e.crc32,
            },
        })
        .collect();
    Ok(Layout { items, total_size: total })
}

/// Why a zip's directory cannot be read, or `None` when it can: for messages about
/// a zip whose module is unknown (see [`module_of`]).
pub fn directory_error(zip: &[u8]) -> Option<String> {
    let dir = match read_directory_end(zip) {
        Ok(dir) => dir,
        Err(rule) => return Some(rule),
    };
    read_central_directory(zip, &dir).err().map(|(entry, rule)| match entry {
        Some(entry) => format!("{entry}: {rule}"),
        None => rule,
    })
}

/// The name rules a module zip's files pass (`module.CheckFilePath`, case-fold
/// collisions, duplicates, files that are also directories, go.mod only at the root),
/// for file names that come from elsewhere than a zip: the store index, which a mount
/// does not take on trust. Names are relative to the module root.
pub fn check_file_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut collisions = Collisions::default();
    for name in names {
        let fail = |rule: String| format!("{}: {rule}", printable(name.as_bytes()));
        check_file_path(name).map_err(fail)?;
        collisions.check(name, false).map_err(fail)?;
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.eq_ignore_ascii_case("go.mod") && name != "go.mod" {
            return Err(fail("go.mod file not in module root directory, or not lowercase".into()));
        }
    }
    Ok(())
}

/// The `(module, version)` a zip claims, read from its first entry's name
/// `<module>@<version>/...` (module paths cannot contain `@`). Not validated:
/// pass the result to [`inspect`].
pub fn module_of(zip: &[u8]) -> Option<(String, String)> {
    let dir = read_directory_end(zip).ok()?;
    let central = read_central_directory(zip, &dir).ok()?;
    let name = std::str::from_utf8(central.first()?.name).ok()?;
    let (module, rest) = name.split_once('@')?;
    let (version, _) = rest.split_once('/')?;
    (!module.is_empty() && !version.is_empty()).then(|| (module.to_string(), version.to_string()))
}

/// Code points in Nl or Other_Alphabetic (Go 1.19, Unicode 13) as sorted `[start, end)`
/// boundaries; see [`is_go_letter`].
#[rustfmt::skip]
const ALPHABETIC_NON_LETTERS: &[u32] = &[
    0x345, 0x346, 0x5B0, 0x5BE, 0x5BF, 0x5C0, 0x5C1, 0x5C3, 0x5C4, 0x5C6, 0x5C7, 0x5C8, 0x610,
    0x61B, 0x64B, 0x658, 0x659, 0x660, 0x670, 0x671, 0x6D6, 0x6DD, 0x6E1, 0x6E5, 0x6E7, 0x6E9,
    0x6ED, 0x6EE, 0x711, 0x712, 0x730, 0x740, 0x7A6, 0x7B1, 0x816, 0x818, 0x81B, 0x824, 0x825,
    0x828, 0x829, 0x82D, 0x8D4, 0x8E0, 0x8E3, 0x8EA, 0x8F0, 0x904, 0x93A, 0x93C, 0x93E, 0x94D,
    0x94E, 0x950, 0x955, 0x958, 0x962, 0x964, 0x981, 0x984, 0x9BE, 0x9C5, 0x9C7, 0x9C9, 0x9CB,
    0x9CD, 0x9D7, 0x9D8, 0x9E2, 0x9E4, 0xA01, 0xA04, 0xA3E, 0xA43, 0xA47, 0xA49, 0xA4B, 0xA4D,
    0xA51, 0xA52, 0xA70, 0xA72, 0xA75, 0xA76, 0xA81, 0xA84, 0xABE, 0xAC6, 0xAC7, 0xACA, 0xACB,
    0xACD, 0xAE2, 0xAE4, 0xAFA, 0xAFD, 0xB01, 0xB04, 0xB3E, 0xB45, 0xB47, 0xB49, 0xB4B, 0xB4D,
    0xB56, 0xB58, 0xB62, 0xB64, 0xB82, 0xB83, 0xBBE, 0xBC3, 0xBC6, 0xBC9, 0xBCA, 0xBCD, 0xBD7,
    0xBD8, 0xC00, 0xC04, 0xC3E, 0xC45, 0xC46, 0xC49, 0xC4A, 0xC4D, 0xC55, 0xC57, 0xC62, 0xC64,
    0xC81, 0xC84, 0xCBE, 0xCC5, 0xCC6, 0xCC9, 0xCCA, 0xCCD, 0xCD5, 0xCD7, 0xCE2, 0xCE4, 0xD00,
    0xD04, 0xD3E, 0xD45, 0xD46, 0xD49, 0xD4A, 0xD4D, 0xD57, 0xD58, 0xD62, 0xD64, 0xD81, 0xD84,
    0xDCF, 0xDD5, 0xDD6, 0xDD7, 0xDD8, 0xDE0, 0xDF2, 0xDF4, 0xE31, 0xE32, 0xE34, 0xE3B, 0xE4D,
    0xE4E, 0xEB1, 0xEB2, 0xEB4, 0xEBA, 0xEBB, 0xEBD, 0xECD, 0xECE, 0xF71, 0xF82, 0xF8D, 0xF98,
    0xF99, 0xFBD, 0x102B, 0x1037, 0x1038, 0x1039, 0x103B, 0x103F, 0x1056, 0x105A, 0x105E, 0x1061,
    0x1062, 0x1065, 0x1067, 0x106E, 0x1071, 0x1075, 0x1082, 0x108E, 0x108F, 0x1090, 0x109A, 0x109E,
    0x16EE, 0x16F1, 0x1712, 0x1714, 0x1732, 0x1734, 0x1752, 0x1754, 0x1772, 0x1774, 0x17B6, 0x17C9,
    0x1885, 0x1887, 0x18A9, 0x18AA, 0x1920, 0x192C, 0x1930, 0x1939, 0x1A17, 0x1A1C, 0x1A55, 0x1A5F,
    0x1A61, 0x1A75, 0x1ABF, 0x1AC1, 0x1B00, 0x1B05, 0x1B35, 0x1B44, 0x1B80, 0x1B83, 0x1BA1, 0x1BAA,
    0x1BAC, 0x1BAE, 0x1BE7, 0x1BF2, 0x1C24, 0x1C37, 0x1DE7, 0x1DF5, 0x2160, 0x2183, 0x2185, 0x2189,
    0x24B6, 0x24EA, 0x2DE0, 0x2E00, 0x3007, 0x3008, 0x3021, 0x302A, 0x3038, 0x303B, 0xA674, 0xA67C,
    0xA69E, 0xA6A0, 0xA6E6, 0xA6F0, 0xA802, 0xA803, 0xA80B, 0xA80C, 0xA823, 0xA828, 0xA880, 0xA882,
    0xA8B4, 0xA8C4, 0xA8C5, 0xA8C6, 0xA8FF, 0xA900, 0xA926, 0xA92B, 0xA947, 0xA953, 0xA980, 0xA984,
    0xA9B4, 0xA9C0, 0xA9E5, 0xA9E6, 0xAA29, 0xAA37, 0xAA43, 0xAA44, 0xAA4C, 0xAA4E, 0xAA7B, 0xAA7E,
    0xAAB0, 0xAAB1, 0xAAB2, 0xAAB5, 0xAAB7, 0xAAB9, 0xAABE, 0xAABF, 0xAAEB, 0xAAF0, 0xAAF5, 0xAAF6,
    0xABE3, 0xABEB, 0xFB1E, 0xFB1F, 0x10140, 0x10175, 0x10341, 0x10342, 0x1034A, 0x1034B, 0x10376,
    0x1037B, 0x103D1, 0x103D6, 0x10A01, 0x10A04, 0x10A05, 0x10A07, 0x10A0C, 0x10A10, 0x10D24,
    0x10D28, 0x10EAB, 0x10EAD, 0x11000, 0x11003, 0x11038, 0x11046, 0x11082, 0x11083, 0x110B0,
    0x110B9, 0x11100, 0x11103, 0x11127, 0x11133, 0x11145, 0x11147, 0x11180, 0x11183, 0x111B3,
    0x111C0, 0x111CE, 0x111D0, 0x1122C, 0x11235, 0x11237, 0x11238, 0x1123E, 0x1123F, 0x112DF,
    0x112E9, 0x11300, 0x11304, 0x1133E, 0x11345, 0x11347, 0x11349, 0x1134B, 0x1134D, 0x11357,
    0x11358, 0x11362, 0x11364, 0x11435, 0x11442, 0x11443, 0x11446, 0x114B0, 0x114C2, 0x115AF,
    0x115B6, 0x115B8, 0x115BF, 0x115DC, 0x115DE, 0x11630, 0x1163F, 0x11640, 0x11641, 0x116AB,
    0x116B6, 0x1171D, 0x1172B, 0x1182C, 0x11839, 0x11930, 0x11936, 0x11937, 0x11939, 0x1193B,
    0x1193D, 0x11940, 0x11941, 0x11942, 0x11943, 0x119D1, 0x119D8, 0x119DA, 0x119E0, 0x119E4,
    0x119E5, 0x11A01, 0x11A0B, 0x11A35, 0x11A3A, 0x11A3B, 0x11A3F, 0x11A51, 0x11A5C, 0x11A8A,
    0x11A98, 0x11C2F, 0x11C37, 0x11C38, 0x11C3F, 0x11C92, 0x11CA8, 0x11CA9, 0x11CB7, 0x11D31,
    0x11D37, 0x11D3A, 0x11D3B, 0x11D3C, 0x11D3E, 0x11D3F, 0x11D42, 0x11D43, 0x11D44, 0x11D47,
    0x11D48, 0x11D8A, 0x11D8F, 0x11D90, 0x11D92, 0x11D93, 0x11D97, 0x11EF3, 0x11EF7, 0x12400,
    0x1246F, 0x16F4F, 0x16F50, 0x16F51, 0x16F88, 0x16F8F, 0x16F93, 0x16FF0, 0x16FF2, 0x1BC9E,
    0x1BC9F, 0x1E000, 0x1E007, 0x1E008, 0x1E019, 0x1E01B, 0x1E022, 0x1E023, 0x1E025, 0x1E026,
    0x1E02B, 0x1E947, 0x1E948, 0x1F130, 0x1F14A, 0x1F150, 0x1F16A, 0x1F170, 0x1F18A,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// golang.org/x/mod/module's checkPathTests: (path, CheckPath ok, CheckFilePath ok).
    #[test]
    fn go_check_path_vectors() {
        let cases: &[(&str, bool, bool)] = &[
            ("x.y/z", true, true),
            ("x.y", true, true),
            ("", false, false),
            ("/x.y/z", false, false),
            ("x./z", false, false),
            (".x/z", false, true),
            ("-x/z", false, true),
            ("x..y/z", true, true),
            ("x.y/z/../../w", false, false),
            ("x.y//z", false, false),
            ("x.y/z//w", false, false),
            ("x.y/z/", false, false),
            ("x.y/z/v0", false, true),
            ("x.y/z/v1", false, true),
            ("x.y/z/v2", true, true),
            ("x.y/z/v2.0", false, true),
            ("X.y/z", false, true),
            ("!x.y/z", false, true),
            ("_x.y/z", false, true),
            ("x.y!/z", false, true),
            ("x.y\"/z", false, false),
            ("x.y#/z", false, true),
            ("x.y$/z", false, true),
            ("x.y%/z", false, true),
            ("x.y&/z", false, true),
            ("x.y'/z", false, false),
            ("x.y(/z", false, true),
            ("x.y)/z", false, true),
            ("x.y*/z", false, false),
            ("x.y+/z", false, true),
            ("x.y,/z", false, true),
            ("x.y-/z", true, true),
            ("x.y./zt", false, false),
            ("x.y:/z", false, false),
            ("x.y;/z", false, false),
            ("x.y</z", false, false),
            ("x.y=/z", false, true),
            ("x.y>/z", false, false),
            ("x.y?/z", false, false),
            ("x.y@/z", false, true),
            ("x.y[/z", false, true),
            ("x.y\\/z", false, false),
            ("x.y]/z", false, true),
            ("x.y^/z", false, true),
            ("x.y_/z", false, true),
            ("x.y`/z", false, false),
            ("x.y{/z", false, true),
            ("x.y}/z", false, true),
            ("x.y~/z", false, true),
            ("x.y/z!", false, true),
            ("x.y/z\"", false, false),
            ("x.y/z#", false, true),
            ("x.y/z$", false, true),
            ("x.y/z%", false, true),
            ("x.y/z&", false, true),
            ("x.y/z'", false, false),
            ("x.y/z(", false, true),
            ("x.y/z)", false, true),
            ("x.y/z*", false, false),
            ("x.y/z++", false, true),
            ("x.y/z,", false, true),
            ("x.y/z-", true, true),
            ("x.y/z.t", true, true),
            ("x.y/z/t", true, true),
            ("x.y/z:", false, false),
            ("x.y/z;", false, false),
            ("x.y/z<", false, false),
            ("x.y/z=", false, true),
            ("x.y/z>", false, false),
            ("x.y/z?", false, false),
            ("x.y/z@", false, true),
            ("x.y/z[", false, true),
            ("x.y/z\\", false, false),
            ("x.y/z]", false, true),
            ("x.y/z^", false, true),
            ("x.y/z_", true, true),
            ("x.y/z`", false, false),
            ("x.y/z{", false, true),
            ("x.y/z}", false, true),
            ("x.y/z~", true, true),
            ("x.y/x.foo", true, true),
            ("x.y/aux.foo", false, false),
            ("x.y/prn", false, false),
            ("x.y/prn2", true, true),
            ("x.y/com", true, true),
            ("x.y/com1", false, false),
            ("x.y/com1.txt", false, false),
            ("x.y/calm1", true, true),
            ("x.y/z~", true, true),
            ("x.y/z~0", false, true),
            ("x.y/z~09", false, true),
            ("x.y/z09", true, true),
            ("x.y/z09~", true, true),
            ("x.y/z09~09z", true, true),
            ("x.y/z09~09z~09", false, true),
            ("github.com/!123/logrus", false, true),
            ("github.com/user/unicode/испытание", false, true),
            ("../x", false, false),
            ("./y", false, false),
            ("x:y", false, false),
            (".gitignore", false, true),
            (".github/ISSUE_TEMPLATE", false, true),
            ("x☺y", false, false),
        ];
        for &(path, module_ok, file_ok) in cases {
            assert_eq!(check_go_module_path(path).is_ok(), module_ok, "module path {path:?}");
            assert_eq!(check_file_path(path).is_ok(), file_ok, "file path {path:?}");
        }
    }

    #[test]
    fn split_path_version_vectors() {
        for (prefix, major) in [
            ("x.y/z", ""),
            ("x.y/z", "/v2"),
            ("x.y/z", "/v3"),
            ("x.y/v", ""),
            ("gopkg.in/yaml", ".v0"),
            ("gopkg.in/yaml", ".v1"),
            ("gopkg.in/yaml", ".v2"),
            ("gopkg.in/yaml", ".v3"),
        ] {
            assert_eq!(split_path_version(&format!("{prefix}{major}")), Some((prefix, major)));
        }
        assert_eq!(split_path_version("gopkg.in/yaml.v2-unstable"), Some(("gopkg.in/yaml", ".v2-unstable")));
        for bad in ["x.y/z/v1", "x.y/z/v0", "x.y/z/v2.0", "x.y/z/v02", "gopkg.in/yaml", "gopkg.in/yaml.v01"] {
            assert_eq!(split_path_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn path_major() {
        assert!(check_path_major("v1.2.3", "").is_ok());
        assert!(check_path_major("v0.1.0", "").is_ok());
        assert!(check_path_major("v2.0.0+incompatible", "").is_ok());
        assert!(check_path_major("v2.0.0", "").is_err());
        assert!(check_path_major("v2.0.0", "/v2").is_ok());
        assert!(check_path_major("v10.0.0", "/v10").is_ok());
        assert!(check_path_major("v1.0.0", "/v2").is_err());
        assert!(check_path_major("v2.1.0", ".v2").is_ok());
        assert!(check_path_major("v2.1.0", ".v2-unstable").is_ok());
        assert!(check_path_major("v0.0.0-20161208181325-20d25e280405", ".v1").is_ok());
        assert!(check_path_major("v1.0.0", ".v2").is_err());
    }

    #[test]
    fn letters_like_go() {
        for c in ['a', 'é', 'ß', 'Σ', 'ǅ', 'ª', '日', 'ـ'] {
            assert!(file_name_char_ok(c), "{c:?}");
        }
        // Marks, Nl letter-numbers, other numbers, symbols, format characters.
        for c in
            ['\u{345}', '\u{93e}', 'Ⅰ', '²', '\u{660}', '😀', '\u{200d}', '\u{ad}', '*', '?', '"', '<', '|', '`', ':']
        {
            assert!(!file_name_char_ok(c), "{c:?}");
        }
        assert!(ALPHABETIC_NON_LETTERS.len() % 2 == 0);
        assert!(ALPHABETIC_NON_LETTERS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn folding_like_strings_equal_fold() {
        let same = |a: &str, b: &str| fold(a) == fold(b);
        assert!(same("Go.MOD", "go.mod"));
        assert!(same("ſ", "S") && same("ſ", "s"));
        assert!(same("ς", "Σ") && same("σ", "ς"));
        assert!(same("\u{212a}", "k"));
        assert!(same("\u{212b}", "å"));
        assert!(same("ǅ", "Ǆ") && same("ǆ", "ǅ"));
        assert!(same("µ", "Μ"));
        assert!(!same("ß", "ss"));
        assert!(!same("ı", "i") && !same("İ", "i") && !same("ı", "I"));
        assert!(!same("ﬀ", "ff"));
    }

    #[test]
    fn collisions_like_go() {
        let mut c = Collisions::default();
        assert!(c.check("a/b/c.go", false).is_ok());
        assert!(c.check("a/b", true).is_ok()); // an explicit entry for an implied directory
        assert!(c.check("a/d.go", false).is_ok());
        assert!(c.check("a/b/c.go", false).unwrap_err().contains("multiple entries"));
        assert!(c.check("A/x.go", false).unwrap_err().contains("collision"));
        assert!(c.check("a/d.go/e", false).unwrap_err().contains("both a file and a directory"));
        assert!(c.check("a", false).unwrap_err().contains("both a file and a directory"));
    }

    #[test]
    fn printable_is_one_line() {
        assert_eq!(printable(b"a\nb\0c\xffd\\e"), "a\\nb\\u{0}c\\xffd\\e");
        let e = ZipError { module: "m".into(), version: "v".into(), entry: Some("x\\ny".into()), rule: "r\nr".into() };
        assert_eq!(e.to_string(), "m@v: x\\ny: r\\nr");
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0201));
        assert_eq!(r.u16(), None);
        assert_eq!(r.bytes(usize::MAX), None);
        assert_eq!(range(&[0u8; 4][..], u64::MAX, 2), None);
        assert_eq!(range(&[0u8; 4][..], 2, u64::MAX), None);
        assert_eq!(range(&[0u8; 4][..], 2, 2), Some(&[0u8, 0][..]));
    }
}

#[cfg(test)]
mod layout_file_tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])], comment: &str) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in files {
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            w.start_file(format!("example.com/m@v1.0.0/{name}"), opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.set_comment(comment);
        w.finish().unwrap().into_inner()
    }

    /// Reading only the headers of a zip file gives the same verdict, word for word,
    /// as checking the whole zip in memory: on good zips and on broken ones.
    #[test]
    fn file_check_equals_memory_check() {
        let good = zip_of(&[("go.mod", b"module example.com/m\n"), ("a/b.go", &[7u8; 70_000][..])], "");
        let commented = zip_of(&[("go.mod", b"module example.com/m\n")], "a comment PK\x05\x06 inside");
        let mut cases = vec![good.clone(), commented, good[..good.len() - 5].to_vec(), b"not a zip".to_vec()];
        let mut bad_local = good.clone();
        bad_local[0] = b'X';
        cases.push(bad_local);
        let mut bad_offset = good.clone();
        let eocd = bad_offset.len() - EOCD_LEN;
        bad_offset[eocd + 16] ^= 1;
        cases.push(bad_offset);
        for (i, z) in cases.iter().enumerate() {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(z).unwrap();
            let from_file = check_layout_file(&f, "example.com/m", "v1.0.0").unwrap();
            let in_memory = check_layout(z, "example.com/m", "v1.0.0");
            assert_eq!(format!("{from_file:?}"), format!("{in_memory:?}"), "case {i}");
        }
        assert!(check_layout(&good, "example.com/m", "v1.0.0").is_ok());
    }
}
