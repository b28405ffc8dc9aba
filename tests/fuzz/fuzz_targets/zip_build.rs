//! Structured module zips: entries (names from a dictionary of legal and illegal
//! path elements, contents, stored/deflate, descriptors, zip64, attributes) are
//! laid out by a real writer, then byte-level mutations are applied, so the fuzzer
//! spends its time past the end-record parsing. What is accepted must read back
//! consistently (`check_zip`); unmutated, exactly the contents written.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use modcachefs_fuzz::{check_zip_both, raw_zip, RawEntry};

const MODULES: [(&str, &str); 5] = [
    ("example.com/m", "v1.0.0"),
    ("example.com/m/v2", "v2.3.4-pre.1"),
    ("gopkg.in/yaml.v2", "v2.4.0"),
    ("github.com/BurntSushi/toml", "v0.0.0-20210604000000-d5e0c0615ace"),
    ("example.com/x", "v3.0.0+incompatible"),
];

#[rustfmt::skip]
const ELEMS: [&str; 28] = [
    "a", "A", "b.go", "B.GO", "go.mod", "GO.MOD", "Go.mod", "LICENSE", "sub", "SUB", ".", "..", "", "x.", "con",
    "aux.txt", "com1", "a~1", "ſ", "S", "s", "é", "É", "\u{212a}", "k", "x:y", "@v", ".gitignore",
];

#[derive(Arbitrary, Debug)]
enum Elem {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    File(Vec<Elem>),
    Dir(Vec<Elem>),
    Root,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Spec {
    name: Name,
    data: Vec<u8>,
    /// Repeat `data` this many times (cheap large or compressible files).
    repeat: u8,
    deflate: bool,
    level: u8,
    descriptor: bool,
    descriptor_sig: bool,
    made_by: u8,
    attrs: Attrs,
    zip64: bool,
    other_extra: Vec<u8>,
    comment: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Attrs {
    None,
    UnixFile,
    UnixDir,
    UnixLink,
    UnixOther(u16),
    DosDir,
    Any(u32),
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Set { at: u32, byte: u8 },
    Xor { at: u32, mask: u8 },
    SetU16 { at: u32, value: u16 },
    SetU32 { at: u32, value: Interesting },
    Insert { at: u32, bytes: Vec<u8> },
    Remove { at: u32, len: u16 },
    Truncate { len: u32 },
}

#[derive(Arbitrary, Debug)]
enum Interesting {
    Zero,
    Max,
    Max16,
    Small(u8),
    Any(u32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    module: u8,
    entries: Vec<Spec>,
    zip64_end: bool,
    comment: Vec<u8>,
    mutations: Vec<Mutation>,
}

fn elem(e: &Elem) -> String {
    match e {
        Elem::Known(i) => ELEMS[usize::from(*i) % ELEMS.len()].to_string(),
        Elem::Other(s) => s.clone(),
    }
}

fn path(elems: &[Elem]) -> String {
    elems.iter().map(elem).collect::<Vec<_>>().join("/")
}

fn apply(zip: &mut Vec<u8>, m: &Mutation) {
    let at = |a: u32, len: usize| if len == 0 { 0 } else { a as usize % len };
    match m {
        Mutation::Set { at: a, byte } if !zip.is_empty() => {
            let i = at(*a, zip.len());
            zip[i] = *byte;
        }
        Mutation::Xor { at: a, mask } if !zip.is_empty() => {
            let i = at(*a, zip.len());
            zip[i] ^= *mask;
        }
        Mutation::SetU16 { at: a, value } if zip.len() >= 2 => {
            let i = at(*a, zip.len() - 1);
            zip[i..i + 2].copy_from_slice(&value.to_le_bytes());
        }
        Mutation::SetU32 { at: a, value } if zip.len() >= 4 => {
            let v = match value {
                Interesting::Zero => 0,
                Interesting::Max => u32::MAX,
                Interesting::Max16 => 0xFFFF,
                Interesting::Small(s) => u32::from(*s),
                Interesting::Any(v) => *v,
            };
            let i = at(*a, zip.len() - 3);
            zip[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        Mutation::Insert { at: a, bytes } => {
            let i = at(*a, zip.len() + 1);
            zip.splice(i..i, bytes.iter().copied());
        }
        Mutation::Remove { at: a, len } if !zip.is_empty() => {
            let i = at(*a, zip.len());
            let end = (i + usize::from(*len)).min(zip.len());
            zip.drain(i..end);
        }
        Mutation::Truncate { len } => {
            let n = at(*len, zip.len() + 1);
            zip.truncate(n);
        }
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    let (module, version) = MODULES[usize::from(input.module) % MODULES.len()];
    let prefix = format!("{module}@{version}/");
    let mut entries = Vec::new();
    let mut written = Vec::new();
    for s in input.entries.iter().take(64) {
        let name = match &s.name {
            Name::File(e) => format!("{prefix}{}", path(e)).into_bytes(),
            Name::Dir(e) => format!("{prefix}{}/", path(e)).into_bytes(),
            Name::Root => prefix.clone().into_bytes(),
            Name::Raw(b) => b.clone(),
        };
        let data = s.data.repeat(usize::from(s.repeat).max(1));
        let (made_by_os, external_attrs) = match s.attrs {
            Attrs::None => (0, 0),
            Attrs::UnixFile => (3, 0o100644 << 16),
            Attrs::UnixDir => (3, 0o040755 << 16),
            Attrs::UnixLink => (3, 0o120777 << 16),
            Attrs::UnixOther(m) => (3, u32::from(m) << 16),
            Attrs::DosDir => (0, 0x10),
            Attrs::Any(a) => (s.made_by, a),
        };
        written.push((name.clone(), data.clone()));
        entries.push(RawEntry {
            name,
            data,
            deflate: s.deflate,
            level: u32::from(s.level % 10),
            descriptor: s.descriptor,
            descriptor_sig: s.descriptor_sig,
            made_by: u16::from(made_by_os) << 8 | 20,
            external_attrs,
            zip64: s.zip64,
            other_extra: s.other_extra.clone(),
            comment: s.comment.clone(),
        });
    }
    let mut zip = raw_zip(&entries, input.zip64_end, &input.comment);
    for m in input.mutations.iter().take(16) {
        apply(&mut zip, m);
    }
    let accepted = check_zip_both(&zip, module, version);
    if input.mutations.is_empty() {
        if let Some(mz) = accepted {
            // Unmutated: every file reads back as written.
            for e in &mz.entries {
                let full = format!("{prefix}{}", e.name).into_bytes();
                let (_, data) = written.iter().find(|(n, _)| *n == full).expect("accepted a file never written");
                assert!(modcachefs::zip::read_entry_mem(&zip, e).unwrap() == *data);
            }
        }
    }
});
