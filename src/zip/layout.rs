//! A module zip's layout: every structural rule of `CheckZip` (names, sizes as
//! declared, local headers against the central directory, no overlaps), and
//! [`inspect`], which adds the entries' data (sizes, CRCs, the `h1:` hash).

use std::fs::File;
use std::io;

use sha2::{Digest, Sha256};

use super::decode::{Decoder, Mem};
use super::records::*;
use super::{printable, Entry, ModuleZip, ZipError};
use crate::gomod::filename::{check_file_path, Collisions};
use crate::gomod::h1::hash1;
use crate::gomod::path::check_module_version;
use crate::gomod::{MAX_GO_MOD_SIZE, MAX_LICENSE_SIZE, MAX_ZIP_SIZE};

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
pub(crate) struct LayoutItem {
    /// The full name in the zip (`<module>@<version>/<path>`), as Hash1 names it.
    pub(crate) full: String,
    /// How errors name it.
    pub(crate) label: String,
    /// A regular file (else a directory entry, which has no content).
    pub(crate) is_file: bool,
    /// Where its bytes are; `name` is empty for directory entries.
    pub(crate) entry: Entry,
}

/// A module zip's structure, checked against every rule that does not need the
/// entries' data: everything [`inspect`] checks except sizes, CRCs and the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Every entry, directories included, in central directory order.
    pub(crate) items: Vec<LayoutItem>,
    /// Sum of the declared uncompressed sizes of the regular files.
    pub total_size: u64,
}

impl Layout {
    /// The regular files, sorted by name (byte order): [`ModuleZip::entries`].
    pub(crate) fn files(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.items.iter().filter(|i| i.is_file).map(|i| i.entry.clone()).collect();
        v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// Steps 1-3 of [`inspect`]: names, sizes as declared, local headers, overlaps,
/// central/local agreement. Reads only headers, never entry data, so the serve path
/// can re-check a stored blob without trusting the index built from it.
pub(crate) fn check_layout(zip: &[u8], module: &str, version: &str) -> Result<Layout, ZipError> {
    layout(zip, module, version)
}

/// [`check_layout`] of a zip file, reading only the bytes the checks look at (see
/// [`Pieces`]): the end records, then the central directory, then each entry's
/// local header and data descriptor, in rounds, each round's positions taken from
/// the last. Where a round cannot go on (a broken directory, say), the checks run
/// on what was read and report it exactly as they would on the whole file.
pub(crate) fn check_layout_file(file: &File, module: &str, version: &str) -> io::Result<Result<Layout, ZipError>> {
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
