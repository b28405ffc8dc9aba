//! Module zip builders shared by the tests: well-formed zips (through the zip crate
//! or a hand-rolled writer for what it won't write), raw header surgery, and a
//! catalogue of adversarial zips with the message each must be refused with.
//! Built at test time, never committed as binaries.

use std::io::{Cursor, Write};

#[path = "zipend.rs"]
mod zipend;

use modcachefs::gomod::h1::{hash1, sha256};
use modcachefs::gomod::MAX_GO_MOD_SIZE;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

pub const M: &str = "example.com/m";
pub const V: &str = "v1.0.0";

pub fn full(name: &str) -> String {
    format!("{M}@{V}/{name}")
}

pub fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

pub fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
}

/// A zip with the given full names and contents, written by the zip crate.
pub fn build(files: &[(&str, &[u8])], opts: SimpleFileOptions) -> Vec<u8> {
    build_with(|w| {
        for (name, data) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    })
}

pub fn build_with(f: impl FnOnce(&mut ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    f(&mut w);
    w.finish().unwrap().into_inner()
}

/// A small valid module zip of `module@version`: its `go.mod` (`module <path>`)
/// and `a.go` holding `source`.
pub fn module_zip(module: &str, version: &str, source: &str, opts: SimpleFileOptions) -> Vec<u8> {
    let p = format!("{module}@{version}/");
    build(
        &[(&format!("{p}go.mod"), format!("module {module}\n").as_bytes()), (&format!("{p}a.go"), source.as_bytes())],
        opts,
    )
}

/// A small valid module zip with two files.
pub fn two_files() -> Vec<u8> {
    build(&[(&full("a.go"), b"package m\n"), (&full("b.go"), b"package m // b\n")], stored())
}

// --- raw zip surgery -------------------------------------------------------

pub fn le16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

pub fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn eocd(zip: &[u8]) -> usize {
    (0..=zip.len() - 22).rev().find(|&i| zip[i..i + 4] == [0x50, 0x4b, 5, 6]).unwrap()
}

/// Offsets of the central directory headers.
pub fn centrals(zip: &[u8]) -> Vec<usize> {
    let e = eocd(zip);
    let (count, mut at) = (le16(zip, e + 10), le32(zip, e + 16));
    (0..count)
        .map(|_| {
            let here = at;
            at += 46 + le16(zip, at + 28) + le16(zip, at + 30) + le16(zip, at + 32);
            here
        })
        .collect()
}

/// Offset of the local header a central header points at.
pub fn local_of(zip: &[u8], central: usize) -> usize {
    le32(zip, central + 42)
}

/// Byte ranges of entry `i`'s name in the central and local headers.
pub fn name_ranges(zip: &[u8], i: usize) -> [std::ops::Range<usize>; 2] {
    let c = centrals(zip)[i];
    let l = local_of(zip, c);
    [c + 46..c + 46 + le16(zip, c + 28), l + 30..l + 30 + le16(zip, l + 26)]
}

/// Replaces the first occurrence of `from` in entry `i`'s names (both headers).
pub fn patch_name(zip: &mut [u8], i: usize, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    for r in name_ranges(zip, i) {
        let name = &mut zip[r];
        let at = name.windows(from.len()).position(|w| w == from).unwrap();
        name[at..at + to.len()].copy_from_slice(to);
    }
}

/// Sets a 16-bit field at `central_off`/`local_off` of entry `i` in both headers.
pub fn patch16_both(zip: &mut [u8], i: usize, central_off: usize, local_off: usize, v: u16) {
    let c = centrals(zip)[i];
    let l = local_of(zip, c);
    put16(zip, c + central_off, v);
    put16(zip, l + local_off, v);
}

pub fn patch32_both(zip: &mut [u8], i: usize, central_off: usize, local_off: usize, v: u32) {
    let c = centrals(zip)[i];
    let l = local_of(zip, c);
    put32(zip, c + central_off, v);
    put32(zip, l + local_off, v);
}

// --- a hand-rolled writer, for what the zip crate won't write ---------------

pub struct Raw<'a> {
    pub name: &'a [u8],
    pub data: &'a [u8],
    pub deflate: bool,
    /// Go's writer style: flag bit 3, zero CRC/sizes locally, then a descriptor.
    pub descriptor: bool,
}

pub fn raw_zip(entries: &[Raw<'_>], zip64_end: bool, comment: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for e in entries {
        let body = if e.deflate {
            let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(e.data).unwrap();
            enc.finish().unwrap()
        } else {
            e.data.to_vec()
        };
        let crc = crc32fast::hash(e.data);
        let (flags, method) = (if e.descriptor { 8u16 } else { 0 }, if e.deflate { 8u16 } else { 0 });
        let offset = out.len() as u32;
        let local_fields = if e.descriptor { (0, 0, 0) } else { (crc, body.len() as u32, e.data.len() as u32) };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&local_fields.0.to_le_bytes());
        out.extend_from_slice(&local_fields.1.to_le_bytes());
        out.extend_from_slice(&local_fields.2.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(e.name);
        out.extend_from_slice(&body);
        if e.descriptor {
            out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        }
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&20u16.to_le_bytes()); // made by: FAT, 2.0 (as Go's writer)
        cd.extend_from_slice(&20u16.to_le_bytes());
        cd.extend_from_slice(&flags.to_le_bytes());
        cd.extend_from_slice(&method.to_le_bytes());
        cd.extend_from_slice(&[0; 4]);
        cd.extend_from_slice(&crc.to_le_bytes());
        cd.extend_from_slice(&(body.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attrs
        cd.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        cd.extend_from_slice(&offset.to_le_bytes());
        cd.extend_from_slice(e.name);
    }
    zipend::finish(out, &cd, entries.len() as u64, zip64_end, comment)
}

pub fn h1_of(files: &[(&str, &[u8])]) -> String {
    let pairs: Vec<(String, [u8; 32])> = files.iter().map(|(n, d)| (n.to_string(), sha256(d))).collect();
    hash1(&pairs)
}

// --- a catalogue of hostile zips --------------------------------------------

/// One adversarial module zip and how it must be refused.
pub struct Hostile {
    /// Short name of the case, usable as a module path element.
    pub case: &'static str,
    pub module: String,
    /// The version the zip claims (its file name in a GOPROXY tree).
    pub version: String,
    pub zip: Vec<u8>,
    /// A part of the refusal message that this case alone produces.
    pub needle: &'static str,
}

/// Every adversarial zip of the catalogue, each for the module path `module(case)`
/// at [`V`] (one case claims a non-canonical version instead). The first entry of
/// every zip names the module and version correctly, so that an importer can tell
/// which module a loose zip claims to be (except the truncated archive, which has
/// no readable directory at all).
pub fn hostile_zips(module: impl Fn(&str) -> String) -> Vec<Hostile> {
    let mut out = Vec::new();
    let mut add = |case: &'static str, needle: &'static str, version: &str, make: &dyn Fn(&str) -> Vec<u8>| {
        let m = module(case);
        let prefix = format!("{m}@{version}/");
        out.push(Hostile { case, module: m, version: version.to_string(), zip: make(&prefix), needle });
    };
    let f = |prefix: &str, name: &str| format!("{prefix}{name}");
    add("zip-slip", "path escapes the module directory", V, &|p| build(&[(&f(p, "../x"), b"x")], stored()));
    add("absolute", "absolute path", V, &|p| build(&[(&f(p, "/etc/passwd"), b"x")], stored()));
    add("dotdot", "\"..\" path element", V, &|p| build(&[(&f(p, "a/../b.go"), b"x")], stored()));
    add("backslash", "backslash in file name", V, &|p| build(&[(&f(p, "a\\b.go"), b"x")], stored()));
    // (A symlink entry is accepted, as Go extracts it: a file holding the link text.)
    add("fifo-entry", "not a regular file (file type 10000)", V, &|p| {
        let mut zip =
            build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "fifo"), b"x")], stored().unix_permissions(0o644));
        let c = centrals(&zip)[1];
        put32(&mut zip, c + 38, 0o010644u32 << 16); // S_IFIFO
        zip
    });
    add("duplicate", "multiple entries for file \"a.go\"", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"x"), (&f(p, "b.go"), b"y")], stored());
        patch_name(&mut zip, 1, b"b.go", b"a.go");
        zip
    });
    add("case-collision", "case-insensitive file name collision", V, &|p| {
        build(&[(&f(p, "m.go"), b"x"), (&f(p, "M.GO"), b"y")], stored())
    });
    add("file-dir-clash", "is both a file and a directory", V, &|p| {
        build(&[(&f(p, "a.go"), b"x"), (&f(p, "a.go/b.go"), b"y")], stored())
    });
    add("wrong-prefix", "path does not have prefix", V, &|p| {
        build(&[(&f(p, "a.go"), b"x"), ("example.com/other@v1.0.0/x.go", b"y")], stored())
    });
    add("non-canonical", "is not canonical", "v1.0", &|p| build(&[(&f(p, "x.go"), b"x")], stored()));
    add("oversize-go-mod", "go.mod file too large", V, &|p| {
        build(&[(&f(p, "go.mod"), &vec![b'\n'; MAX_GO_MOD_SIZE as usize + 1])], deflated())
    });
    add("zip-bomb", "larger than the declared size of 100 bytes (zip bomb", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "bomb.go"), &vec![0u8; 32 << 20])], deflated());
        patch32_both(&mut zip, 1, 24, 22, 100); // declared uncompressed size: 100
        zip
    });
    add("bad-crc", "CRC-32 mismatch", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"package a\n")], stored());
        let at = zip.windows(9).position(|w| w == b"package a").unwrap();
        zip[at] = b'P';
        zip
    });
    add("truncated", "truncated zip archive", V, &|p| {
        let zip = build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "b.go"), b"package a // b\n")], stored());
        zip[..zip.len() / 2].to_vec()
    });
    add("encrypted", "encrypted entries are not supported", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "b.go"), b"package a // b\n")], stored());
        let flags = le16(&zip, centrals(&zip)[1] + 8) as u16;
        patch16_both(&mut zip, 1, 8, 6, flags | 1);
        zip
    });
    add("nested-go-mod", "go.mod file not in module root directory", V, &|p| {
        build(&[(&f(p, "go.mod"), b"module m\n"), (&f(p, "sub/go.mod"), b"module m/sub\n")], stored())
    });
    add("invalid-utf8", "invalid UTF-8 in file name", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"x"), (&f(p, "aXb.go"), b"y")], stored());
        patch_name(&mut zip, 1, b"X", b"\xff");
        zip
    });
    add("nul-byte", "NUL byte in file name", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"x"), (&f(p, "aXb.go"), b"y")], stored());
        patch_name(&mut zip, 1, b"X", b"\0");
        zip
    });
    // Two names, one body: the second central record points at the first local
    // header (the overlapping-entries trick behind non-recursive zip bombs).
    add("overlap", "entry data overlaps", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "b.go"), b"package a\n")], stored());
        let [c0, c1] = centrals(&zip)[..] else { unreachable!("two entries") };
        let first = local_of(&zip, c0) as u32;
        put32(&mut zip, c1 + 42, first);
        zip
    });
    // Central directory and local header disagree: readers that trust one or the
    // other see different archives.
    add("local-name", "local file header name", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "b.go"), b"package a // b\n")], stored());
        let [_, local] = name_ranges(&zip, 1);
        zip[local.end - 4] = b'c'; // local "c.go", central "b.go"
        zip
    });
    add("local-sizes", "local file header CRC-32 or sizes disagree", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "b.go"), b"package a // b\n")], stored());
        let l = local_of(&zip, centrals(&zip)[1]);
        put32(&mut zip, l + 18, 5); // local compressed size and size: 5, central: 15
        put32(&mut zip, l + 22, 5);
        zip
    });
    // zip64 end record and classic end record tell different stories.
    add("zip64-lie", "zip64 and classic end records disagree", V, &|p| {
        let (a, b) = (f(p, "a.go"), f(p, "b.go"));
        let raws = [
            Raw { name: a.as_bytes(), data: b"package a\n", deflate: false, descriptor: false },
            Raw { name: b.as_bytes(), data: b"package a // b\n", deflate: true, descriptor: false },
        ];
        let mut zip = raw_zip(&raws, true, b"");
        let e = eocd(&zip);
        put16(&mut zip, e + 8, 1); // classic: 1 entry (not saturated), zip64: 2
        put16(&mut zip, e + 10, 1);
        zip
    });
    add("zip64-extra", "zip64 sizes or offset announced but no zip64 extra field", V, &|p| {
        let mut zip = build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, "b.go"), b"package a // b\n")], stored());
        let c = centrals(&zip)[1];
        put32(&mut zip, c + 20, u32::MAX); // compressed size saturated, no extra field
        zip
    });
    // A zip64 end record claiming 2^40 entries for a directory holding two.
    add("huge-count", "entry count mismatch", V, &|p| {
        let (a, b) = (f(p, "a.go"), f(p, "b.go"));
        let raws = [
            Raw { name: a.as_bytes(), data: b"package a\n", deflate: false, descriptor: false },
            Raw { name: b.as_bytes(), data: b"package a // b\n", deflate: false, descriptor: false },
        ];
        let mut zip = raw_zip(&raws, true, b"");
        let rec = zip.windows(4).rposition(|w| w == [0x50, 0x4b, 6, 6]).expect("zip64 end record");
        zip[rec + 24..rec + 32].copy_from_slice(&(1u64 << 40).to_le_bytes()); // entries on this disk
        zip[rec + 32..rec + 40].copy_from_slice(&(1u64 << 40).to_le_bytes()); // entries in total
        zip
    });
    add("long-name", "path element too long", V, &|p| {
        let long = format!("{}.go", "x".repeat(300));
        build(&[(&f(p, "a.go"), b"package a\n"), (&f(p, &long), b"package a\n")], stored())
    });
    // Honest headers, just too much: 520 MiB of zeros in about 520 KiB.
    add("honest-bomb", "total uncompressed size of module contents too large", V, &|p| {
        zeros_zip(&[(&f(p, "a.go"), b"package a\n")], &f(p, "zeros.go"), 520)
    });
    out
}

/// A zip holding `small` (stored) and then `name`: `mib` MiB of zeros, deflated, with
/// honest sizes and CRC. Built from one flushed 1 MiB deflate block repeated, so a
/// huge file costs milliseconds.
pub fn zeros_zip(small: &[(&str, &[u8])], name: &str, mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let chunk = vec![0u8; 1 << 20];
    let mut block = Vec::with_capacity(64 << 10);
    let mut c = Compress::new(Compression::default(), false);
    c.compress_vec(&chunk, &mut block, FlushCompress::Full).unwrap();
    assert_eq!(c.total_in(), chunk.len() as u64, "one call compresses the whole chunk");
    let mut end = Vec::with_capacity(64);
    let mut fin = Compress::new(Compression::default(), false);
    fin.compress_vec(&[], &mut end, FlushCompress::Finish).unwrap(); // a final empty block
    let mut body = Vec::with_capacity(block.len() * mib + end.len());
    let mut crc = crc32fast::Hasher::new();
    for _ in 0..mib {
        body.extend_from_slice(&block);
        crc.update(&chunk);
    }
    body.extend_from_slice(&end);
    let size = (mib as u64) << 20;
    assert!(size < u32::MAX as u64);
    // (name, body, method, crc, size)
    type File<'a> = (&'a [u8], Vec<u8>, u16, u32, u32);
    let mut files: Vec<File<'_>> =
        small.iter().map(|(n, d)| (n.as_bytes(), d.to_vec(), 0, crc32fast::hash(d), d.len() as u32)).collect();
    files.push((name.as_bytes(), body, 8, crc.finalize(), size as u32));
    let (mut out, mut cd) = (Vec::new(), Vec::new());
    for (name, body, method, crc, size) in &files {
        let offset = out.len() as u32;
        for (buf, central) in [(&mut out, false), (&mut cd, true)] {
            buf.extend_from_slice(&(if central { 0x0201_4b50u32 } else { 0x0403_4b50 }).to_le_bytes());
            if central {
                buf.extend_from_slice(&20u16.to_le_bytes());
            }
            buf.extend_from_slice(&20u16.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // flags
            buf.extend_from_slice(&method.to_le_bytes());
            buf.extend_from_slice(&[0; 4]);
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                buf.extend_from_slice(&[0; 6]); // comment, disk, internal attrs
                buf.extend_from_slice(&0u32.to_le_bytes());
                buf.extend_from_slice(&offset.to_le_bytes());
            }
            buf.extend_from_slice(name);
        }
        out.extend_from_slice(body);
    }
    let (cd_offset, n) = (out.len() as u32, files.len() as u16);
    out.extend_from_slice(&cd);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}
