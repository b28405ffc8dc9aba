//! Entry data: inflating (or copying) one entry, bounded by its declared size + 1
//! byte, its CRC-32 and length checked, from memory at import time or from the blob
//! file at serve time.
//!
//! Two inflaters. An entry whose whole output fits one buffer (every file the
//! mount extracts into memory, and any entry up to [`WHOLE`] that is only hashed)
//! is inflated in one call by libdeflate, about twice as fast as zlib-rs on module
//! zips (1.9 against 1.0 GB/s on 360 MB of real entries), and inflating was the
//! largest part of the daemon's CPU in a cold read. libdeflate cannot stream, so larger entries
//! go through zlib-rs in 64 KiB chunks, in bounded memory. Only libdeflate's
//! successes count (the right size and CRC): whatever it refuses, zlib-rs decodes
//! again and words the error, so every refusal reads as before libdeflate came in,
//! and data is refused only if zlib-rs refuses it too.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use flate2::{Decompress, FlushDecompress, Status};
use libdeflater::Decompressor;

use super::records::{range, METHOD_DEFLATE, METHOD_STORED};
use super::Entry;
use crate::gomod::MAX_ZIP_SIZE;

/// Where compressed bytes come from: memory at import time, a file at serve time.
pub(super) trait Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The bytes themselves when they are in memory already (no copy).
    fn slice(&self, _offset: u64, _len: u64) -> Option<&[u8]> {
        None
    }
}

pub(super) struct Mem<'a>(pub(super) &'a [u8]);

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

    fn slice(&self, offset: u64, len: u64) -> Option<&[u8]> {
        range(self.0, offset, len)
    }
}

impl Source for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

#[derive(Debug)]
pub(super) enum DecodeError {
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

pub(super) const CHUNK: usize = 64 << 10;

/// Entries up to this size are inflated whole even when only hashed.
pub(super) const WHOLE: u64 = 1 << 20;

/// What a thread's decoder keeps of its one-call buffers between entries; larger
/// ones are freed after use, so idle threads hold little.
const KEEP: usize = 128 << 10;

/// Compressed bytes read from a file into memory for one call, at most: beyond
/// this (files of some 16 MiB and more) the streaming inflater's 64 KiB buffers
/// keep a thread's memory outside the cache's bound small.
const ONE_CALL_INPUT: u64 = 4 << 20;

/// Whether an entry's compressed bytes are few enough to read in one piece: deflate
/// never needs more than 5 bytes per 64 KiB beyond the data itself (stored blocks).
/// More is possible (bytes after the end of the stream, which Go ignores), and is
/// left to the streaming inflater rather than read whole.
fn one_call(e: &Entry) -> bool {
    e.method == METHOD_DEFLATE && e.compressed_size <= e.size.saturating_add(e.size / 64).saturating_add(1024)
}

thread_local! {
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::new());
}

pub(super) fn out_of_range() -> DecodeError {
    DecodeError::Io(io::Error::new(io::ErrorKind::InvalidData, "entry data offset overflows"))
}

/// Reusable decoding state: the two inflaters (about 40 KiB each) and two buffers
/// (at most [`KEEP`] kept), so that a zip of many small files does not allocate per
/// entry.
pub(super) struct Decoder {
    inflater: Option<Decompress>,
    whole: Option<Decompressor>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Decoder {
    pub(super) fn new() -> Self {
        Decoder { inflater: None, whole: None, input: Vec::new(), output: Vec::new() }
    }

    /// Hands an entry's uncompressed bytes to `sink`, checking that exactly `size`
    /// bytes come out and that their CRC-32 matches: in one piece, after the checks,
    /// up to [`WHOLE`] bytes; else in chunks of at most 64 KiB, inflating at most
    /// `size + 1` bytes (a lying size is caught after one extra byte) and never
    /// handing `sink` more than `size` bytes in total.
    pub(super) fn decode(
        &mut self,
        src: &dyn Source,
        e: &Entry,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DecodeError> {
        if e.size <= WHOLE && one_call(e) {
            let mut out = std::mem::take(&mut self.output);
            out.clear();
            out.resize(e.size as usize, 0);
            let result = self.decode_into(src, e, &mut out);
            if result.is_ok() {
                sink(&out);
            }
            if out.capacity() <= KEEP {
                self.output = out;
            }
            return result;
        }
        self.stream(src, e, sink)
    }

    /// Extracts an entry into `out`, which is exactly its declared size: in one
    /// call when it is deflated, else (or when libdeflate refuses it) streamed
    /// into it.
    pub(super) fn decode_into(&mut self, src: &dyn Source, e: &Entry, out: &mut [u8]) -> Result<(), DecodeError> {
        if out.len() as u64 != e.size {
            return Err(DecodeError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("buffer of {} bytes for an entry of {}", out.len(), e.size),
            )));
        }
        if one_call(e) {
            if let Some(result) = self.inflate_whole(src, e, out) {
                return result;
            }
        }
        let mut at = 0;
        // The streaming inflater may hand over one byte past the declared size
        // before it fails the entry: never write past the buffer.
        self.stream(src, e, &mut |chunk| {
            let n = chunk.len().min(out.len() - at);
            out[at..at + n].copy_from_slice(&chunk[..n]);
            at += n;
        })
    }

    /// The entry inflated by libdeflate with its size and CRC right; `None` when
    /// anything is wrong with it (the streaming inflater then decides, and says why)
    /// or when the compressed bytes are too many to read whole. `Some(Err)` only for
    /// a failure to read them.
    fn inflate_whole(&mut self, src: &dyn Source, e: &Entry, out: &mut [u8]) -> Option<Result<(), DecodeError>> {
        let mut owned = Vec::new();
        let input = match src.slice(e.data_offset, e.compressed_size) {
            Some(bytes) => bytes,
            None if e.compressed_size > ONE_CALL_INPUT => return None,
            None => {
                owned = std::mem::take(&mut self.input);
                owned.clear();
                let len = match usize::try_from(e.compressed_size) {
                    Ok(len) => len,
                    Err(_) => return Some(Err(out_of_range())),
                };
                if let Err(err) = owned.try_reserve_exact(len) {
                    return Some(Err(DecodeError::Io(io::Error::new(io::ErrorKind::OutOfMemory, err))));
                }
                owned.resize(len, 0);
                if let Err(err) = src.read_at(&mut owned, e.data_offset) {
                    return Some(Err(err.into()));
                }
                &owned[..]
            }
        };
        let inflater = self.whole.get_or_insert_with(Decompressor::new);
        // Only a success is final: every refusal is decoded again by zlib-rs, which
        // then words it (and would accept what it accepted before).
        let result = match inflater.deflate_decompress(input, out) {
            Ok(n) if n as u64 == e.size && crc32fast::hash(out) == e.crc32 => Some(Ok(())),
            _ => None,
        };
        if owned.capacity() <= KEEP && owned.capacity() >= self.input.capacity() {
            self.input = owned;
        }
        result
    }

    /// The streaming decoder (zlib-rs), in chunks of at most 64 KiB.
    fn stream(&mut self, src: &dyn Source, e: &Entry, sink: &mut dyn FnMut(&[u8])) -> Result<(), DecodeError> {
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
pub(super) fn stream_from(src: &dyn Source, entry: &Entry, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    with_decoder(entry, |d| d.decode(src, entry, &mut *sink))
}

fn with_decoder(entry: &Entry, mut decode: impl FnMut(&mut Decoder) -> Result<(), DecodeError>) -> io::Result<()> {
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

pub(super) fn entry_error(entry: &Entry, kind: io::ErrorKind, msg: &dyn fmt::Display) -> io::Error {
    io::Error::new(kind, format!("zip entry {:?}: {msg}", entry.name))
}

pub(super) fn read_entry_from(src: &dyn Source, entry: &Entry) -> io::Result<Vec<u8>> {
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
pub(crate) fn read_entry_into(file: &File, entry: &Entry, out: &mut [u8]) -> io::Result<()> {
    fill_from(file, entry, out)
}

pub(super) fn fill_from(src: &dyn Source, entry: &Entry, out: &mut [u8]) -> io::Result<()> {
    with_decoder(entry, |d| d.decode_into(src, entry, out))
}

/// What each inflater makes of `entry`'s data in `zip`: libdeflate's one call (the
/// bytes, or `None` where it hands over to zlib-rs) and zlib-rs's stream (the bytes
/// or the error). For the differential fuzz target (`inflate_agree`): whatever
/// libdeflate accepts, zlib-rs must accept too, with the same bytes.
#[doc(hidden)]
pub fn inflaters_verdicts(zip: &[u8], entry: &Entry) -> (Option<Vec<u8>>, Result<Vec<u8>, String>) {
    let mut d = Decoder::new();
    let one = match usize::try_from(entry.size) {
        Ok(n) if n <= WHOLE as usize => {
            let mut out = vec![0; n];
            matches!(d.inflate_whole(&Mem(zip), entry, &mut out), Some(Ok(()))).then_some(out)
        }
        _ => None,
    };
    let mut streamed = Vec::new();
    let stream = d.stream(&Mem(zip), entry, &mut |c| streamed.extend_from_slice(c)).map(|()| streamed);
    (one, stream.map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut w = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn entry(data: &[u8], compressed: &[u8]) -> Entry {
        Entry {
            name: "f".into(),
            data_offset: 0,
            compressed_size: compressed.len() as u64,
            size: data.len() as u64,
            method: METHOD_DEFLATE,
            crc32: crc32fast::hash(data),
        }
    }

    /// Text-like data that compresses as source does, `n` bytes.
    fn sample(n: usize) -> Vec<u8> {
        let mut x: u32 = 7;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 61 == 60 {
                    b'\n'
                } else {
                    b"func return if err != nil {}"[(x >> 16) as usize % 28]
                }
            })
            .collect()
    }

    fn streamed(src: &dyn Source, e: &Entry) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        Decoder::new().stream(src, e, &mut |c| out.extend_from_slice(c)).map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn one_call(src: &dyn Source, e: &Entry) -> Result<Vec<u8>, String> {
        let mut out = vec![0; e.size as usize];
        Decoder::new().decode_into(src, e, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn both_inflaters_agree_on_good_data() {
        for n in [0, 1, 100, 70_000, WHOLE as usize, WHOLE as usize + 1, 3 << 20] {
            let data = sample(n);
            let z = deflate(&data);
            let e = entry(&data, &z);
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&z).unwrap();
            for src in [&Mem(&z) as &dyn Source, &file] {
                // libdeflate itself, not the fallback.
                let mut out = vec![0; n];
                assert!(matches!(Decoder::new().inflate_whole(src, &e, &mut out), Some(Ok(()))), "{n} bytes");
                assert_eq!(out, data, "{n} bytes");
                assert_eq!(one_call(src, &e).unwrap(), data, "{n} bytes");
                assert_eq!(streamed(src, &e).unwrap(), data, "{n} bytes");
                let mut whole = Vec::new();
                Decoder::new().decode(src, &e, &mut |c| whole.extend_from_slice(c)).unwrap();
                assert_eq!(whole, data, "{n} bytes");
            }
        }
    }

    #[test]
    fn both_inflaters_give_the_same_verdicts() {
        let data = sample(200_000);
        let z = deflate(&data);
        let good = entry(&data, &z);
        let mut corrupt = z.clone();
        corrupt[z.len() / 2] ^= 0x55;
        let mut trailing = z.clone();
        trailing.extend_from_slice(b"ignored, as Go ignores it");
        let cases: Vec<(&[u8], Entry)> = vec![
            (&z, Entry { size: good.size - 1, ..good.clone() }),
            (&z, Entry { size: good.size + 1, ..good.clone() }),
            (&z, Entry { crc32: good.crc32 ^ 1, ..good.clone() }),
            (&z[..z.len() - 10], Entry { compressed_size: z.len() as u64 - 10, ..good.clone() }),
            (&corrupt, good.clone()),
            (&trailing, Entry { compressed_size: trailing.len() as u64, ..good.clone() }),
        ];
        for (bytes, e) in cases {
            assert!(one_call(&Mem(bytes), &e).is_ok() == (bytes.len() > z.len()), "{e:?}");
            assert_eq!(one_call(&Mem(bytes), &e), streamed(&Mem(bytes), &e), "{e:?}");
        }
    }

    #[test]
    fn big_buffers_are_not_kept() {
        let data = sample(WHOLE as usize);
        let z = deflate(&data);
        let e = entry(&data, &z);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&z).unwrap();
        let mut d = Decoder::new();
        d.decode(&file, &e, &mut |_| ()).unwrap();
        assert!(d.input.capacity() <= KEEP && d.output.capacity() <= KEEP);
        let small = sample(1000);
        let zs = deflate(&small);
        d.decode(&Mem(&zs), &entry(&small, &zs), &mut |_| ()).unwrap();
        assert!(d.output.capacity() >= 1000 && d.output.capacity() <= KEEP);
    }
}
