//! Entry data: inflating (or copying) one entry, bounded by its declared size + 1
//! byte, its CRC-32 and length checked, from memory at import time or from the blob
//! file at serve time.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use flate2::{Decompress, FlushDecompress, Status};

use super::records::{range, METHOD_DEFLATE, METHOD_STORED};
use super::Entry;
use crate::gomod::MAX_ZIP_SIZE;

/// Where compressed bytes come from: memory at import time, a file at serve time.
pub(super) trait Source {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
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

thread_local! {
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::new());
}

pub(super) fn out_of_range() -> DecodeError {
    DecodeError::Io(io::Error::new(io::ErrorKind::InvalidData, "entry data offset overflows"))
}

/// Reusable decoding state: the inflater (about 40 KiB) and two buffers of at most
/// 64 KiB, so that a zip of many small files does not allocate per entry.
pub(super) struct Decoder {
    pub(super) inflater: Option<Decompress>,
    pub(super) input: Vec<u8>,
    pub(super) output: Vec<u8>,
}

impl Decoder {
    pub(super) fn new() -> Self {
        Decoder { inflater: None, input: Vec::new(), output: Vec::new() }
    }

    /// Streams an entry's uncompressed bytes into `sink`, in chunks, checking that
    /// exactly `size` bytes come out and that their CRC-32 matches. Never inflates
    /// more than `size + 1` bytes, so a lying size is caught after one extra byte,
    /// and never hands `sink` more than `size` bytes in total.
    pub(super) fn decode(
        &mut self,
        src: &dyn Source,
        e: &Entry,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DecodeError> {
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
