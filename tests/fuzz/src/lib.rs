//! Shared checks for the fuzz targets: what must hold of any zip `zipfmt` accepts,
//! and a raw zip writer the structured target builds its inputs with.

use std::cell::RefCell;
use std::fs::File;
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::FileExt;

#[path = "../../common/zipend.rs"]
mod zipend;

use modcachefs::gomod::h1::{hash1, sha256};
use modcachefs::zip::ModuleZip;

pub const M: &str = "example.com/m";
pub const V: &str = "v1.0.0";

thread_local! {
    /// An unlinked temporary file, reused to exercise the `pread` read path.
    static SCRATCH: RefCell<Option<File>> = const { RefCell::new(None) };
}

fn with_file<T>(bytes: &[u8], f: impl FnOnce(&File) -> T) -> T {
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        let file = slot.get_or_insert_with(|| {
            let path = std::env::temp_dir().join(format!("modcachefs-fuzz-{}", std::process::id()));
            let file = File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            file
        });
        file.set_len(0).unwrap();
        file.write_all_at(bytes, 0).unwrap();
        f(file)
    })
}

/// Inspects `zip` as `module@version` and, when that module/version pair is the
/// one the zip claims (`module_of`), as that too; checks every invariant below.
pub fn check_zip_both(zip: &[u8], module: &str, version: &str) -> Option<ModuleZip> {
    let fixed = check_zip(zip, module, version);
    if let Some((m, v)) = modcachefs::zip::module_of(zip) {
        if (m.as_str(), v.as_str()) != (module, version) {
            check_zip(zip, &m, &v);
        }
    }
    fixed
}

/// Everything that must hold whatever `zip` is: no panic, one-line errors that
/// name the module; and when `inspect` accepts, every entry reads back (from
/// memory, from a file, streamed) with exactly its declared size and CRC, the
/// `h1` is dirhash.HashZip of what an independent reader (the zip crate) finds.
pub fn check_zip(zip: &[u8], module: &str, version: &str) -> Option<ModuleZip> {
    let dir_err = modcachefs::zip::directory_error(zip);
    let claimed = modcachefs::zip::module_of(zip);
    let mz = match modcachefs::zip::inspect(zip, module, version) {
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n') && !msg.contains('\r'), "multi-line error {msg:?}");
            assert_eq!((e.module.as_str(), e.version.as_str()), (module, version));
            return None;
        }
        Ok(mz) => mz,
    };
    modcachefs::gomod::path::check_module_version(module, version).expect("accepted with an invalid module version");
    assert_eq!(dir_err, None, "accepted, but directory_error complains");

    // Entries: sorted, unique, within the zip, not overlapping, sizes summing up.
    assert!(mz.entries.windows(2).all(|w| w[0].name < w[1].name), "entries not sorted/unique");
    let total: u64 = mz.entries.iter().map(|e| e.size).sum();
    assert_eq!(total, mz.total_size);
    assert!(mz.total_size <= modcachefs::gomod::MAX_ZIP_SIZE);
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for e in &mz.entries {
        assert!(!e.name.is_empty() && !e.name.ends_with('/'), "bad entry name {:?}", e.name);
        assert!(e.method == 0 || e.method == 8);
        let end = e.data_offset.checked_add(e.compressed_size).expect("data end overflows");
        assert!(end <= zip.len() as u64, "entry {:?} data beyond the zip", e.name);
        spans.push((e.data_offset, end));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0 || w[0].0 == w[0].1 || w[1].0 == w[1].1, "entry data overlaps: {w:?}");
    }

    // Every entry reads back identically three ways, with its size and CRC.
    let mut contents = Vec::with_capacity(mz.entries.len());
    with_file(zip, |file| {
        for e in &mz.entries {
            let mem = modcachefs::zip::read_entry_mem(zip, e).expect("accepted entry does not read back");
            assert_eq!(mem.len() as u64, e.size);
            assert_eq!(crc32fast::hash(&mem), e.crc32);
            let from_file = modcachefs::zip::read_entry(file, e).expect("accepted entry does not read from a file");
            assert!(from_file == mem, "file and memory reads differ for {:?}", e.name);
            let mut streamed = Vec::new();
            let mut chunks_ok = true;
            modcachefs::zip::stream_entry(file, e, &mut |c| {
                // Whole up to 1 MiB (one libdeflate call), else 64 KiB chunks.
                chunks_ok &= c.len() as u64 <= e.size.clamp(64 << 10, 1 << 20);
                streamed.extend_from_slice(c)
            })
            .expect("accepted entry does not stream");
            assert!(chunks_ok, "stream_entry chunk over 64 KiB, or over 1 MiB for a small entry");
            assert!(streamed == mem, "streamed and memory reads differ for {:?}", e.name);
            contents.push(mem);
        }
    });

    // The claimed module is the one it was accepted as (if it has any entry).
    if let Some((m, v)) = claimed {
        assert_eq!((m.as_str(), v.as_str()), (module, version));
    } else {
        assert!(mz.entries.is_empty(), "accepted, but module_of finds no module");
    }

    // An independent reader must see the same files; h1 is the hash of every
    // entry it lists (directories included), named in full. The zip crate refuses
    // some zips Go (and we) read, e.g. over a malformed extended-timestamp extra
    // field, which Go ignores: then there is nothing to compare with.
    let prefix = format!("{module}@{version}/");
    let Some((pairs, mut files)) = zip_crate_view(zip, &prefix) else {
        return Some(mz);
    };
    if let Some(path) = std::env::var_os("MODCACHEFS_FUZZ_DUMP") {
        std::fs::write(path, zip).unwrap();
    }
    // The zip crate keeps one entry per name, while Go (whose dirhash.HashZip hashes
    // every entry) and so `inspect` accept repeated directory entries, the
    // `<module>@<version>/` one included: only compare the hash when no entry was
    // folded away.
    if central_records(zip) != Some(pairs.len() as u64) {
        return Some(mz);
    }
    assert_eq!(
        mz.h1,
        hash1(&pairs),
        "h1 differs from the hash of what the zip crate reads: {:?} vs ours {:?}",
        pairs.iter().map(|p| &p.0).collect::<Vec<_>>(),
        mz.entries.iter().map(|e| (&e.name, e.size)).collect::<Vec<_>>()
    );
    files.sort();
    assert_eq!(files.len(), mz.entries.len());
    for ((name, data), (e, mine)) in files.iter().zip(mz.entries.iter().zip(&contents)) {
        assert_eq!(name, &e.name);
        assert!(data == mine, "contents of {name:?} differ from the zip crate's");
    }

    Some(mz)
}

/// The number of central directory records the end record declares (zip64 aware).
fn central_records(zip: &[u8]) -> Option<u64> {
    let le16 = |at: usize| Some(u16::from_le_bytes(zip.get(at..at + 2)?.try_into().ok()?));
    let le32 = |at: usize| Some(u32::from_le_bytes(zip.get(at..at + 4)?.try_into().ok()?));
    let le64 = |at: usize| Some(u64::from_le_bytes(zip.get(at..at + 8)?.try_into().ok()?));
    let eocd = (0..=zip.len().checked_sub(22)?)
        .rev()
        .find(|&p| le32(p) == Some(0x0605_4b50) && le16(p + 20).map(|c| p + 22 + usize::from(c)) == Some(zip.len()))?;
    let count = le16(eocd + 10)?;
    if let Some(loc) = eocd.checked_sub(20).filter(|&l| le32(l) == Some(0x0706_4b50)) {
        let rec = usize::try_from(le64(loc + 8)?).ok()?;
        return le64(rec + 32);
    }
    Some(u64::from(count))
}

/// `(full name, sha256)` of every entry and `(path, content)` of every file, as the
/// zip crate reads `zip`; `None` if it cannot.
#[allow(clippy::type_complexity)]
fn zip_crate_view(zip: &[u8], prefix: &str) -> Option<(Vec<(String, [u8; 32])>, Vec<(String, Vec<u8>)>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).ok()?;
    let mut pairs = Vec::new();
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).ok()?;
        let name = std::str::from_utf8(f.name_raw()).expect("accepted a non-UTF-8 name").to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).ok()?;
        assert!(name.starts_with(prefix), "accepted {name:?} without the prefix {prefix:?}");
        if !name.ends_with('/') {
            files.push((name[prefix.len()..].to_string(), data.clone()));
        } else {
            assert!(data.is_empty(), "directory {name:?} has content");
        }
        pairs.push((name, sha256(&data)));
    }
    Some((pairs, files))
}

/// One entry for [`raw_zip`]: every header field the reader looks at is settable.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    pub deflate: bool,
    /// 0..=9; deflate level.
    pub level: u32,
    /// Go's writer style: flag bit 3, zero CRC/sizes locally, then a descriptor.
    pub descriptor: bool,
    /// Whether the descriptor carries its (optional) signature.
    pub descriptor_sig: bool,
    pub made_by: u16,
    pub external_attrs: u32,
    /// Write sizes (and offset) as zip64 extra fields, with saturated 32-bit fields.
    pub zip64: bool,
    /// Bytes of an extra field of another kind, prepended in both headers.
    pub other_extra: Vec<u8>,
    pub comment: Vec<u8>,
}

fn extra_field(id: u16, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + body.len());
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&(body.len() as u16).to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// A zip as Go's or another writer would lay it out: local header, data,
/// [descriptor], ..., central directory, [zip64 end record + locator], end record.
pub fn raw_zip(entries: &[RawEntry], zip64_end: bool, comment: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for e in entries {
        let body = if e.deflate {
            let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(e.level.min(9)));
            enc.write_all(&e.data).unwrap();
            enc.finish().unwrap()
        } else {
            e.data.clone()
        };
        let crc = crc32fast::hash(&e.data);
        let (flags, method) = (if e.descriptor { 8u16 } else { 0 }, if e.deflate { 8u16 } else { 0 });
        let offset = out.len() as u64;
        let (csize, usize_) = (body.len() as u64, e.data.len() as u64);
        let other = if e.other_extra.is_empty() { Vec::new() } else { extra_field(0xCAFE, &e.other_extra) };

        let mut local_extra = other.clone();
        let (lcrc, lc, lu) = if e.descriptor {
            (0, 0, 0)
        } else if e.zip64 {
            let mut b = usize_.to_le_bytes().to_vec();
            b.extend_from_slice(&csize.to_le_bytes());
            local_extra.extend(extra_field(1, &b));
            (crc, u32::MAX, u32::MAX)
        } else {
            (crc, csize as u32, usize_ as u32)
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&if e.zip64 { 45u16 } else { 20u16 }.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&lcrc.to_le_bytes());
        out.extend_from_slice(&lc.to_le_bytes());
        out.extend_from_slice(&lu.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(local_extra.len() as u16).to_le_bytes());
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&local_extra);
        out.extend_from_slice(&body);
        if e.descriptor {
            if e.descriptor_sig {
                out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            }
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(csize as u32).to_le_bytes());
            out.extend_from_slice(&(usize_ as u32).to_le_bytes());
        }

        let mut central_extra = other;
        let (cc, cu, coff) = if e.zip64 {
            let mut b = usize_.to_le_bytes().to_vec();
            b.extend_from_slice(&csize.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
            central_extra.extend(extra_field(1, &b));
            (u32::MAX, u32::MAX, u32::MAX)
        } else {
            (csize as u32, usize_ as u32, offset as u32)
        };
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&e.made_by.to_le_bytes());
        cd.extend_from_slice(&20u16.to_le_bytes());
        cd.extend_from_slice(&flags.to_le_bytes());
        cd.extend_from_slice(&method.to_le_bytes());
        cd.extend_from_slice(&[0; 4]);
        cd.extend_from_slice(&crc.to_le_bytes());
        cd.extend_from_slice(&cc.to_le_bytes());
        cd.extend_from_slice(&cu.to_le_bytes());
        cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&(central_extra.len() as u16).to_le_bytes());
        cd.extend_from_slice(&(e.comment.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0; 4]); // disk, internal attrs
        cd.extend_from_slice(&e.external_attrs.to_le_bytes());
        cd.extend_from_slice(&coff.to_le_bytes());
        cd.extend_from_slice(&e.name);
        cd.extend_from_slice(&central_extra);
        cd.extend_from_slice(&e.comment);
    }
    zipend::finish(out, &cd, entries.len() as u64, zip64_end, comment)
}

/// Arbitrary bytes as an entry's deflate data, its declared size and CRC either
/// arbitrary or the true ones (so that good data is reached too): what libdeflate
/// accepts, zlib-rs accepts too, byte for byte (libdeflate's refusals are decoded
/// again by zlib-rs, so they need not agree).
pub fn check_inflaters(data: &[u8]) {
    let [mode, a, b, rest @ ..] = data else { return };
    let truth = {
        let mut d = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        match d.decompress_vec(rest, &mut out, flate2::FlushDecompress::Finish) {
            Ok(flate2::Status::StreamEnd) => Some(out),
            _ => None,
        }
    };
    let size = match (&truth, mode & 1) {
        (Some(t), 1) => t.len() as u64,
        _ => u64::from(u16::from_le_bytes([*a, *b])),
    };
    let crc32 = match (&truth, mode & 2) {
        (Some(t), 2) => crc32fast::hash(t),
        _ => u32::from_le_bytes([*a, *b, *mode, 0]),
    };
    let entry = modcachefs::zip::Entry {
        name: "f".into(),
        data_offset: 3,
        compressed_size: rest.len() as u64,
        size,
        method: 8,
        crc32,
    };
    let (one, streamed) = modcachefs::zip::inflaters_verdicts(data, &entry);
    if let Some(one) = one {
        assert_eq!(Ok(one), streamed, "libdeflate accepts what zlib-rs does not make: {entry:?}");
    }
    if let (Some(t), 3) = (&truth, mode & 3) {
        assert_eq!(streamed.as_ref().ok(), Some(t), "zlib-rs refuses what flate2 inflates");
    }
}
