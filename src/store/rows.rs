//! The store index, checked before a mount or `verify` believes it.
//!
//! Import writes only rows that passed Go's rules, but whoever can write the store
//! can write the index too. A row the importer would never have written must not
//! be served: `golang.org/x//text` names the same directories as
//! `golang.org/x/text`, sorts first, and would win over the real module and over
//! the go.sum that pins it. So every module row passes the checks import applies
//! (`module.CheckPath`, a canonical version, an escaping round trip), the limits
//! Go's module rules set (zip and tree 500 MiB, go.mod 16 MiB, and what a zip of
//! the recorded size could hold), and no two rows may name the same files. An
//! entry list passes the zip name rules, and its sizes and offsets must fit in the
//! zip the row describes. The rest of the daemon then relies on these bounds.

use crate::gomod::{MAX_GO_MOD_SIZE, MAX_LICENSE_SIZE, MAX_ZIP_SIZE};
use crate::ops::logger::printable_str;
use crate::store::Module;
use crate::zip::Entry;
use std::collections::HashMap;

/// Largest `.info` served (it is JSON of a version and a time: well under 1 KiB).
pub const MAX_INFO_SIZE: u64 = 64 << 10;
/// Largest `.mod` served: Go's limit on a go.mod.
pub(crate) const MAX_MOD_SIZE: u64 = MAX_GO_MOD_SIZE;
/// Module ids are part of tree files' inode numbers (see `namespace.rs`): larger
/// ids would alias another module's files.
const MAX_ID: i64 = 1 << 38;

/// The smallest number of zip bytes one file of `<path>@<version>/` takes: its
/// local header and central directory record, each with the full name.
fn min_entry_bytes(path: &str, version: &str) -> u64 {
    let name = path.len() as u64 + 1 + version.len() as u64 + 2;
    30 + 46 + 2 * name
}

/// How many files a zip of `zip_size` bytes for this module can hold.
pub(crate) fn max_entries(path: &str, version: &str, zip_size: u64) -> u64 {
    zip_size.min(MAX_ZIP_SIZE) / min_entry_bytes(path, version)
}

fn is_blob_name(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn round_trips(s: &str) -> bool {
    crate::gomod::path::escape(s).and_then(|e| crate::gomod::path::unescape(&e)).as_deref() == Some(s)
}

/// Why a module row is not one import would have written, if it is not.
pub(crate) fn check_module_row(m: &Module) -> Result<(), String> {
    if !(1..MAX_ID).contains(&m.id) {
        return Err(format!("row id {} is out of range", m.id));
    }
    crate::gomod::path::check_module_version(&m.path, &m.version)?;
    if !round_trips(&m.path) || !round_trips(&m.version) {
        return Err("path or version does not survive escaping".into());
    }
    if !is_blob_name(&m.mod_blob) {
        return Err(format!(".mod blob name {:?} is not a sha256", printable_str(&m.mod_blob)));
    }
    if !crate::gomod::h1::is_h1(&m.mod_h1) {
        return Err("go.mod hash is not an h1: hash".into());
    }
    if m.info_size > MAX_INFO_SIZE {
        return Err(format!(".info is {} bytes, over the limit of {MAX_INFO_SIZE}", m.info_size));
    }
    if let Some(z) = &m.zip {
        if !is_blob_name(&z.blob) {
            return Err(format!("zip blob name {:?} is not a sha256", printable_str(&z.blob)));
        }
        if !crate::gomod::h1::is_h1(&z.h1) {
            return Err("zip hash is not an h1: hash".into());
        }
        if z.size > MAX_ZIP_SIZE || z.tree_size > MAX_ZIP_SIZE {
            return Err(format!(
                "zip of {} bytes holding {} bytes of files: over Go's limit of {MAX_ZIP_SIZE}",
                z.size, z.tree_size
            ));
        }
        let most = max_entries(&m.path, &m.version, z.size);
        if z.file_count > most {
            return Err(format!("{} files cannot fit in a zip of {} bytes (at most {most})", z.file_count, z.size));
        }
    }
    Ok(())
}

/// The directory names a row takes in the mount, case-folded: two rows with the
/// same key would serve each other's files (or, on a case-insensitive view of the
/// mount, collide).
fn names_key(m: &Module) -> Option<String> {
    let (p, v) = (crate::gomod::path::escape(&m.path)?, crate::gomod::path::escape(&m.version)?);
    Some(format!("{p}@{v}").to_lowercase())
}

/// The modules a mount may serve: every row passing [`check_module_row`] whose
/// names no other row takes. Returns them (in their order) and one message for
/// each row refused.
pub fn check_rows(modules: Vec<Module>) -> (Vec<Module>, Vec<String>) {
    let mut problems = Vec::new();
    let label = Module::label;
    let mut ok: Vec<Option<Module>> = Vec::with_capacity(modules.len());
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for m in modules {
        match check_module_row(&m) {
            Ok(()) => {
                if let Some(k) = names_key(&m) {
                    by_key.entry(k).or_default().push(ok.len());
                }
                ok.push(Some(m));
            }
            Err(why) => problems.push(format!("{}: store index row {} refused: {why}; not served", label(&m), m.id)),
        }
    }
    let mut clashes: Vec<usize> = by_key.into_values().filter(|v| v.len() > 1).flatten().collect();
    clashes.sort_unstable();
    for i in clashes {
        if let Some(m) = ok[i].take() {
            problems.push(format!(
                "{}: store index row {} refused: another row names the same files; not served",
                label(&m),
                m.id
            ));
        }
    }
    (ok.into_iter().flatten().collect(), problems)
}

/// Why a module's entry list (from the index) is not one import would have
/// written for the zip its row describes: the zip name rules, one entry per file
/// of the row's count, methods, the module rules' size limits, sizes adding up to
/// the row's, and data that lies inside the zip without overlapping.
pub fn check_entries(m: &Module, entries: &[Entry]) -> Result<(), String> {
    let Some(z) = &m.zip else {
        return if entries.is_empty() { Ok(()) } else { Err("entries listed for a module without a zip".into()) };
    };
    if entries.len() as u64 != z.file_count {
        return Err(format!("the index lists {} files, its module row says {}", entries.len(), z.file_count));
    }
    crate::gomod::filename::check_sorted_file_names(entries, |e| e.name.as_str())?;
    if entries.windows(2).any(|w| w[0].name >= w[1].name) {
        return Err("entries are not sorted by name".into());
    }
    let prefix = m.path.len() as u64 + 1 + m.version.len() as u64 + 1;
    let mut total = 0u64;
    let mut spans = Vec::with_capacity(entries.len());
    for e in entries {
        let bad = |why: String| format!("{}: {why}", printable_str(&e.name));
        match e.method {
            0 if e.compressed_size != e.size => return Err(bad("stored, but its sizes differ".into())),
            0 | 8 => {}
            other => return Err(bad(format!("compression method {other}"))),
        }
        let limit = match e.name.as_str() {
            "go.mod" => MAX_GO_MOD_SIZE,
            "LICENSE" => MAX_LICENSE_SIZE,
            _ => MAX_ZIP_SIZE,
        };
        if e.size > limit {
            return Err(bad(format!("{} bytes, over the limit of {limit}", e.size)));
        }
        total = total.saturating_add(e.size);
        // The local header (30 bytes and the full name) comes before the data.
        let header = 30 + prefix + e.name.len() as u64;
        let end = e.data_offset.checked_add(e.compressed_size).filter(|&end| end <= z.size);
        match end {
            Some(end) if e.data_offset >= header => spans.push((e.data_offset - header, end)),
            _ => {
                return Err(bad(format!(
                    "data at {}+{} does not fit in the zip of {} bytes",
                    e.data_offset, e.compressed_size, z.size
                )))
            }
        }
    }
    if total != z.tree_size {
        return Err(format!("files add up to {total} bytes, the module row says {}", z.tree_size));
    }
    // Zips are usually written in name order, so the spans are sorted already.
    if !spans.is_sorted() {
        spans.sort_unstable();
    }
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err("two entries' data overlap".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ZipInfo;

    const H1: &str = "h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=";

    fn row(id: i64, path: &str, version: &str) -> Module {
        Module {
            id,
            path: path.into(),
            version: version.into(),
            mod_blob: "a".repeat(64),
            mod_h1: H1.into(),
            mod_h1_origin: "computed".into(),
            info: None,
            info_size: 0,
            zip: Some(ZipInfo {
                blob: "b".repeat(64),
                h1: H1.into(),
                h1_origin: "computed".into(),
                size: 1000,
                file_count: 1,
                tree_size: 10,
            }),
        }
    }

    #[test]
    fn aliases_and_bad_rows_are_refused() {
        let rows = vec![
            row(1, "golang.org/x//text", "v0.7.0"),
            row(2, "golang.org/x/text", "v0.7.0"),
            row(3, "golang.org/x/text", "v0.7"),
            row(4, "golang.org/x/text\nmodcachefs: error: x", "v0.7.0"),
            row(5, "golang.org/x/Text", "v0.7.0"),
        ];
        let (ok, problems) = check_rows(rows);
        assert_eq!(ok.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 5]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains('\n')), "{problems:?}");
        let mut big = row(6, "example.com/m", "v1.0.0");
        big.info_size = MAX_INFO_SIZE + 1;
        assert!(check_module_row(&big).is_err());
        let mut many = row(7, "example.com/m", "v1.0.0");
        many.zip.as_mut().unwrap().file_count = 2_000_000;
        assert!(check_module_row(&many).unwrap_err().contains("cannot fit"));
    }

    #[test]
    fn rows_naming_the_same_files_are_refused() {
        let mut twin = row(9, "golang.org/x/text", "v0.7.0");
        twin.mod_h1_origin = "planted".into();
        let (ok, problems) = check_rows(vec![row(2, "golang.org/x/text", "v0.7.0"), twin]);
        assert!(ok.is_empty() && problems.len() == 2, "{problems:?}");
    }

    #[test]
    fn entries_must_fit_the_zip() {
        let m = row(1, "example.com/m", "v1.0.0");
        let e = |name: &str, off: u64, size: u64| Entry {
            name: name.into(),
            data_offset: off,
            compressed_size: size,
            size,
            method: 0,
            crc32: 0,
        };
        assert!(check_entries(&m, &[e("a.go", 100, 10)]).is_ok());
        assert!(check_entries(&m, &[e("a.go", 10, 10)]).unwrap_err().contains("does not fit"));
        assert!(check_entries(&m, &[e("a.go", 995, 10)]).unwrap_err().contains("does not fit"));
        assert!(check_entries(&m, &[e("a.go", u64::MAX, 10)]).is_err());
        assert!(check_entries(&m, &[e("a.go", 100, 9)]).unwrap_err().contains("add up"));
        assert!(check_entries(&m, &[e("../a.go", 100, 10)]).is_err());
        let mut two = m.clone();
        two.zip.as_mut().unwrap().file_count = 2;
        two.zip.as_mut().unwrap().tree_size = 20;
        assert!(check_entries(&two, &[e("a.go", 100, 10), e("b.go", 105, 10)]).unwrap_err().contains("overlap"));
        assert!(check_entries(&two, &[e("a.go", 100, 10), e("b.go", 200, 10)]).is_ok());
        // Data out of name order is sorted before the overlap check.
        assert!(check_entries(&two, &[e("a.go", 105, 10), e("b.go", 100, 10)]).unwrap_err().contains("overlap"));
        assert!(check_entries(&two, &[e("a.go", 200, 10), e("b.go", 100, 10)]).is_ok());
    }
}
