//! The structure check of one zip entry at extraction (lazy verification): its
//! local file header must be where the index puts the entry's data, name the
//! entry, and agree with the index on method, CRC-32 and sizes (in the header, or
//! in the data descriptor after the data when the header defers to it).
//!
//! Hand-written rather than a call into the import validator (zip::inspect), which
//! checks all headers of a zip at once from its central directory: here there is
//! one entry, found from the index alone, and reading the central directory would
//! cost a large module what lazy verification saves. The whole-zip rules (overlaps,
//! end records) are left to the whole-module check, which guards every `.zip`.

use crate::zip::Entry;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const LOCAL_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const LOCAL_LEN: u64 = 30;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_exact_at(f: &File, len: u64, at: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, at)?;
    Ok(buf)
}

/// Checks the local header (and data descriptor) of `e`, whose full name in the
/// zip is `full`. `Ok(Err(why))` is a verdict; `Err` a failure to read.
pub(crate) fn check(zip: &File, full: &str, e: &Entry) -> io::Result<Result<(), String>> {
    let Some(header) = find_header(zip, full, e)? else {
        return Ok(Err(format!(
            "no local file header naming {:?} ends where the index puts its data",
            crate::ops::logger::printable_str(full)
        )));
    };
    let flags = u16_at(&header, 6);
    if flags & 1 != 0 {
        return Ok(Err("encrypted entries are not supported".into()));
    }
    if u16_at(&header, 8) != e.method {
        return Ok(Err(format!("local file header method {} disagrees with the index", u16_at(&header, 8))));
    }
    let (crc, csize, size) = (u32_at(&header, 14), u32_at(&header, 18), u32_at(&header, 22));
    let agree = |crc: u32, csize: u64, size: u64| crc == e.crc32 && csize == e.compressed_size && size == e.size;
    // Sizes of 0xFFFFFFFF announce a zip64 extra field (Go writes them only from 4 GiB).
    let zip64 = csize == u32::MAX && size == u32::MAX;
    if flags & 8 == 0 {
        if zip64 && crc == e.crc32 || agree(crc, csize as u64, size as u64) {
            return Ok(Ok(()));
        }
        return Ok(Err("local file header CRC-32 or sizes disagree with the index".into()));
    }
    // The header defers to a data descriptor after the data: optional signature,
    // CRC-32, then 32- or 64-bit sizes.
    let at = e.data_offset.checked_add(e.compressed_size).ok_or_else(|| io::Error::other("offset overflow"))?;
    let len = zip.metadata()?.len();
    let d = read_exact_at(zip, 28.min(len.saturating_sub(at)), at)?;
    let body = if d.len() >= 4 && u32_at(&d, 0) == DESCRIPTOR_SIG { &d[4..] } else { &d[..] };
    let classic = body.len() >= 12 && agree(u32_at(body, 0), u32_at(body, 4) as u64, u32_at(body, 8) as u64);
    let wide = body.len() >= 20 && {
        let wide_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap_or([0; 8]));
        agree(u32_at(body, 0), wide_at(4), wide_at(12))
    };
    match classic || wide {
        true => Ok(Ok(())),
        false => Ok(Err("data descriptor CRC-32 or sizes disagree with the index".into())),
    }
}

/// The local header (30 bytes + name) whose name and extra field end exactly at
/// the entry's data. Go's writer puts no extra field in local headers, so the
/// first guess is almost always right; otherwise up to 64 KiB before the data
/// are searched.
fn find_header(zip: &File, full: &str, e: &Entry) -> io::Result<Option<Vec<u8>>> {
    let n = full.len() as u64;
    let fits = |b: &[u8], extra: u64| {
        u32_at(b, 0) == LOCAL_SIG
            && u16_at(b, 26) as u64 == n
            && u16_at(b, 28) as u64 == extra
            && &b[30..30 + n as usize] == full.as_bytes()
    };
    let Some(start) = e.data_offset.checked_sub(LOCAL_LEN + n) else { return Ok(None) };
    let first = read_exact_at(zip, LOCAL_LEN + n, start)?;
    if fits(&first, 0) {
        return Ok(Some(first));
    }
    let from = start.saturating_sub(0xFFFF);
    let window = read_exact_at(zip, e.data_offset - from, from)?;
    for extra in 1..=(start - from) {
        let at = (start - from - extra) as usize;
        let b = &window[at..at + (LOCAL_LEN + n) as usize];
        if fits(b, extra) {
            return Ok(Some(b.to_vec()));
        }
    }
    Ok(None)
}
