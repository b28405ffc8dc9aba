//! ZIP records: the end of central directory (and its zip64 forms), the central
//! directory, local headers, zip64 extra fields; bounds-checked reads over a zip in
//! memory or over the pieces of a zip file that the checks look at.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::printable;

pub(super) const SIG_LOCAL: u32 = 0x0403_4b50;
pub(super) const SIG_CENTRAL: u32 = 0x0201_4b50;
pub(super) const SIG_EOCD: u32 = 0x0605_4b50;
pub(super) const SIG_EOCD64: u32 = 0x0606_4b50;
pub(super) const SIG_EOCD64_LOCATOR: u32 = 0x0706_4b50;
pub(super) const SIG_DATA_DESCRIPTOR: u32 = 0x0807_4b50;

pub(super) const LOCAL_LEN: u64 = 30;
pub(super) const CENTRAL_LEN: usize = 46;
pub(super) const EOCD_LEN: usize = 22;
pub(super) const EOCD64_LOCATOR_LEN: usize = 20;
pub(super) const EOCD64_LEN: u64 = 56;
pub(super) const ZIP64_EXTRA_ID: u16 = 0x0001;

/// General purpose flags: bit 0 traditional encryption, bit 6 strong encryption,
/// bit 13 encrypted central directory.
pub(super) const FLAG_ENCRYPTED: u16 = 1 | 1 << 6 | 1 << 13;
/// Bit 3: CRC and sizes follow the data in a data descriptor.
pub(super) const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;

pub(super) const METHOD_STORED: u16 = 0;
pub(super) const METHOD_DEFLATE: u16 = 8;

/// A little-endian reader over a byte slice; every read is bounds-checked and
/// returns `None` past the end instead of panicking.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub(super) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    pub(super) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

/// The bytes of a zip at their offsets in the file: the whole zip in memory, or
/// just the pieces of a zip file that the structure checks read ([`Pieces`]).
pub(super) trait ZipView {
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
/// directory and the local headers are all that `check_layout` looks at, so a
/// stored blob is re-checked while reading (and holding) only those, never the
/// file's data; a memory map would put the whole blob in the daemon's RSS.
pub(super) struct Pieces {
    pub(super) size: u64,
    /// Disjoint, sorted by offset.
    pub(super) pieces: Vec<(u64, Vec<u8>)>,
}

impl Pieces {
    pub(super) fn load(file: &File, size: u64, mut ranges: Vec<(u64, u64)>) -> io::Result<Pieces> {
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
pub(super) fn range<Z: ZipView + ?Sized>(zip: &Z, off: u64, len: u64) -> Option<&[u8]> {
    zip.bytes(off, len)
}

pub(super) fn u32_at<Z: ZipView + ?Sized>(zip: &Z, off: u64) -> Option<u32> {
    Reader::new(range(zip, off, 4)?).u32()
}

/// Where the central directory is, from the end record(s).
#[derive(Debug)]
pub(super) struct Directory {
    pub(super) records: u64,
    pub(super) offset: u64,
    pub(super) size: u64,
    /// Where the central directory must end: the zip64 end record if there is one,
    /// else the end record.
    pub(super) end: u64,
}

/// Finds and checks the end of central directory record (and its zip64 twin).
pub(super) fn read_directory_end<Z: ZipView + ?Sized>(zip: &Z) -> Result<Directory, String> {
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
pub(super) struct CentralEntry<'a> {
    pub(super) name: &'a [u8],
    pub(super) made_by: u16,
    pub(super) flags: u16,
    pub(super) method: u16,
    pub(super) crc32: u32,
    pub(super) compressed_size: u64,
    pub(super) size: u64,
    pub(super) header_offset: u64,
    pub(super) external_attrs: u32,
}

/// Parses the whole central directory. It must hold exactly `dir.records` records
/// filling exactly `dir.size` bytes.
pub(super) fn read_central_directory<'a, Z: ZipView + ?Sized>(
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
pub(super) fn apply_zip64_extra(e: &mut CentralEntry<'_>, extra: &[u8]) -> Result<(), String> {
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
pub(super) fn local_zip64_sizes(extra: &[u8]) -> Option<(u64, u64)> {
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

/// A file's type from its external attributes, read the way Go's
/// `FileHeader.Mode` does: Unix mode for Unix and macOS creators, MS-DOS attributes
/// for FAT, NTFS and VFAT; unknown creators carry no type.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FileType {
    Regular,
    Dir,
    Symlink,
    Other(u32),
}

pub(super) fn file_type(e: &CentralEntry<'_>) -> FileType {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0201));
        assert_eq!(r.u16(), None);
        assert_eq!(r.bytes(usize::MAX), None);
        assert_eq!(range(&[0u8; 4][..], u64::MAX, 2), None);
        assert_eq!(range(&[0u8; 4][..], 2, u64::MAX), None);
        assert_eq!(range(&[0u8; 4][..], 2, 2), Some(&[0u8, 0][..]));
    }
}
