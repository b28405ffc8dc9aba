//! The end of a hand-written zip: its central directory, then the end records.
//! Shared by the tests' zip generator (tests/common/zipgen.rs) and the fuzz
//! targets (tests/fuzz/src/lib.rs), which include this file by path.

/// Appends the central directory `cd` (of `n` entries) to `out`, then the end
/// records: with `zip64_end`, as Go's writer does from 65535 entries (a zip64
/// record and locator, then a classic end record with saturated fields).
pub fn finish(mut out: Vec<u8>, cd: &[u8], n: u64, zip64_end: bool, comment: &[u8]) -> Vec<u8> {
    let (cd_offset, cd_size) = (out.len() as u64, cd.len() as u64);
    out.extend_from_slice(cd);
    if zip64_end {
        let rec = out.len() as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&rec.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let (n16, size32, off32) = if zip64_end {
        (0xFFFFu16, 0xFFFF_FFFFu32, 0xFFFF_FFFFu32)
    } else {
        (n as u16, cd_size as u32, cd_offset as u32)
    };
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&size32.to_le_bytes());
    out.extend_from_slice(&off32.to_le_bytes());
    out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    out.extend_from_slice(comment);
    out
}
