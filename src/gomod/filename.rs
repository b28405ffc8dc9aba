//! File names inside modules (`module.CheckFilePath`): allowed characters, Windows
//! reserved names, element lengths, and Go's case-fold collision rules.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::MAX_NAME_ELEMENT;
use crate::ops::logger::printable;

const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Whether `short` (a path element up to its first dot) is a reserved device name on
/// Windows. Go compares with `strings.EqualFold`; no non-ASCII character folds to a
/// letter of these names, so ASCII case-insensitivity is exact.
pub(crate) fn is_windows_reserved(short: &str) -> bool {
    // Every reserved name is 3 or 4 bytes: most elements are ruled out by length.
    matches!(short.len(), 3 | 4) && WINDOWS_RESERVED.iter().any(|bad| bad.eq_ignore_ascii_case(short))
}

/// The ASCII bytes `module.fileNameOK` allows (letters, digits and
/// `!#$%&()+,-.=@[]^_{}~ `), as a bit set: a mount checks every name of a
/// module's index list on first access, so this is a table, not a search.
const ASCII_OK: u128 = {
    let mut set = 0u128;
    let mut b = 0u8;
    while b < 128 {
        let c = b as char;
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                '!' | '#'
                    | '$'
                    | '%'
                    | '&'
                    | '('
                    | ')'
                    | '+'
                    | ','
                    | '-'
                    | '.'
                    | '='
                    | '@'
                    | '['
                    | ']'
                    | '^'
                    | '_'
                    | '{'
                    | '}'
                    | '~'
                    | ' '
            )
        {
            set |= 1 << b;
        }
        b += 1;
    }
    set
};

/// `module.fileNameOK`: ASCII letters, digits and `!#$%&()+,-.=@[]^_{}~ `, or a
/// Unicode letter.
fn file_name_char_ok(c: char) -> bool {
    if c.is_ascii() {
        return ASCII_OK & (1 << c as u32) != 0;
    }
    is_go_letter(c)
}

/// Go's `unicode.IsLetter` (general category L). Rust's `char::is_alphabetic` is
/// Alphabetic = L + Nl + Other_Alphabetic, so subtract the latter two, taken from Go
/// 1.19's tables (Unicode 13). Letters added in later Unicode versions are accepted,
/// as newer Go releases accept them. Verified against Go 1.19: no Go letter is
/// refused. The table is sorted boundaries `[start, end)`, generated with
/// `unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r)`.
fn is_go_letter(c: char) -> bool {
    let u = u32::from(c);
    c.is_alphabetic() && ALPHABETIC_NON_LETTERS.partition_point(|&b| b <= u) % 2 == 0
}

/// The key Go's `strToFold` would give one character: two strings are equal under
/// `strings.EqualFold` iff their per-character keys are equal. The keys differ from
/// Go's (Go picks the smallest member of each simple-fold orbit, we pick the lower
/// case of the upper case), but the equivalence classes are the same: checked
/// exhaustively against Go 1.19 for every code point (the only differences are
/// pairs added in Unicode 14+, which newer Go releases fold the same way we do).
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    // İ (U+0130) and ı (U+0131) only fold in Turkic locales: no simple folding.
    if c == '\u{130}' || c == '\u{131}' {
        return c;
    }
    // Upper then lower case joins orbits such as {Σ, σ, ς}, {S, s, ſ}, {K, k, K}.
    if let Some(l) = single(c.to_uppercase()).and_then(|u| single(u.to_lowercase())) {
        return l;
    }
    single(c.to_lowercase()).unwrap_or(c)
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

fn fold(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().map(fold_char).collect())
    }
}

/// Go's `collisionChecker`: case-insensitive collisions, duplicates, and paths that
/// are both a file and a directory (a file's parents count as directories).
///
/// Keys and names borrow the paths checked (only names with upper case or
/// non-ASCII letters are folded into new strings), and the hasher is foldhash's
/// randomly seeded one: a mount runs this over every name of a module's index
/// list on its first access (2,600 names of aws-sdk-go: SipHash and two
/// allocations per name made it a millisecond).
#[derive(Default)]
pub(crate) struct Collisions<'a> {
    seen: HashMap<Cow<'a, str>, (&'a str, bool), foldhash::fast::RandomState>,
    /// The parent directory of the last path checked (it passed, with its own
    /// parents): names in sorted order mostly share it, so their walk ends there.
    last_dir: Option<&'a str>,
}

impl<'a> Collisions<'a> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Collisions { seen: HashMap::with_capacity_and_hasher(n, Default::default()), last_dir: None }
    }

    pub(crate) fn check(&mut self, path: &'a str, is_dir: bool) -> Result<(), String> {
        let parent = path.rsplit_once('/').map(|(d, _)| d);
        self.walk(path, is_dir)?;
        self.last_dir = parent;
        Ok(())
    }

    fn walk(&mut self, path: &'a str, is_dir: bool) -> Result<(), String> {
        let (mut p, mut is_dir) = (path, is_dir);
        loop {
            if is_dir && self.last_dir == Some(p) {
                return Ok(());
            }
            let key = fold(p);
            if let Some((other, other_is_dir)) = self.seen.get(key.as_ref()) {
                if *other != p {
                    return Err(format!("case-insensitive file name collision: {other:?} and {p:?}"));
                }
                if *other_is_dir != is_dir {
                    return Err(format!("entry {p:?} is both a file and a directory"));
                }
                if !is_dir {
                    return Err(format!("multiple entries for file {p:?}"));
                }
                // A directory seen before: its parents were checked then.
                return Ok(());
            }
            self.seen.insert(key, (p, is_dir));
            match p.rsplit_once('/') {
                Some((parent, _)) => (p, is_dir) = (parent, true),
                None => return Ok(()),
            }
        }
    }
}

/// `path.Clean(p) == p` and `module.CheckFilePath(p)`, with a distinct message for
/// each way to fail.
pub(crate) fn check_file_path(path: &str) -> Result<(), String> {
    if is_plain_file_path(path) {
        return Ok(());
    }
    if path.contains('\0') {
        return Err("NUL byte in file name".into());
    }
    if path.contains('\\') {
        return Err("backslash in file name (module zips use only '/' as separator)".into());
    }
    if path.starts_with('/') {
        return Err("absolute path (file paths must be relative to the module root)".into());
    }
    for (i, elem) in path.split('/').enumerate() {
        match elem {
            "" => return Err("empty path element (\"//\" or trailing slash: path is not clean)".into()),
            "." => return Err("\".\" path element (path is not clean)".into()),
            ".." if i == 0 => return Err("path escapes the module directory (leading \"..\": zip-slip)".into()),
            ".." => return Err("\"..\" path element (path is not clean)".into()),
            _ => check_file_path_element(elem)?,
        }
    }
    Ok(())
}

/// Byte classes for [`plain_file_path`]: bit 0 for a byte no plain path has (not
/// in [`ASCII_OK`] and not `/`), bit 1 for ASCII upper case.
const PLAIN_CLASS: [u8; 256] = {
    let mut t = [1u8; 256];
    let mut b = 0usize;
    while b < 128 {
        if ASCII_OK & (1 << b) != 0 || b == b'/' as usize {
            t[b] = 0;
        }
        if (b as u8).is_ascii_uppercase() {
            t[b] |= 2;
        }
        b += 1;
    }
    t
};

/// The common case of [`check_file_path`]: only ASCII bytes Go allows, and
/// elements that are not empty, not too long, do not end in a dot (so are not `.`
/// or `..`) and are not reserved. False sends the path to the rule-by-rule check,
/// which also says which rule it breaks.
fn is_plain_file_path(path: &str) -> bool {
    plain_file_path(path).is_some()
}

/// [`is_plain_file_path`], and whether the path has upper case (Some(true)): it is
/// then not its own case fold. One table lookup per byte, then a few tests per
/// element (a mount runs this over every name of a module's list on first access).
fn plain_file_path(path: &str) -> Option<bool> {
    let class = path.as_bytes().iter().fold(0u8, |acc, &b| acc | PLAIN_CLASS[b as usize]);
    if class & 1 != 0 {
        return None;
    }
    for elem in path.split('/') {
        let e = elem.as_bytes();
        if e.is_empty() || e.len() > MAX_NAME_ELEMENT || e.ends_with(b".") {
            return None;
        }
        // Reserved names are 3 or 4 bytes before the first dot: an element with no
        // dot in its first 5 bytes is longer than any.
        let short = e.iter().take(5).position(|&b| b == b'.').unwrap_or(e.len().min(5));
        if matches!(short, 3 | 4) && is_windows_reserved(&elem[..short]) {
            return None;
        }
    }
    Some(class & 2 != 0)
}

/// `module.checkElem` for file paths: in Go's order, without the Windows short-name
/// rule, which Go applies to import and module paths only.
fn check_file_path_element(elem: &str) -> Result<(), String> {
    // Stricter than Go, which has no limit: no Linux or macOS file system can hold
    // a longer name, so cmd/go could never extract it, and a mount could not serve it.
    if elem.len() > MAX_NAME_ELEMENT {
        return Err(format!(
            "path element too long ({} bytes; file systems allow at most {MAX_NAME_ELEMENT})",
            elem.len()
        ));
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if elem.ends_with('.') {
        return Err(format!("trailing dot in path element {elem:?}"));
    }
    // ASCII names (nearly all) byte by byte; others char by char, as Go does.
    if !elem.bytes().all(|b| b < 128 && ASCII_OK & (1 << b) != 0) {
        if let Some(c) = elem.chars().find(|&c| !file_name_char_ok(c)) {
            return Err(format!("invalid char {c:?} in file path"));
        }
    }
    let short = elem.split('.').next().unwrap_or_default();
    if is_windows_reserved(short) {
        return Err(format!("{short:?} is a reserved file name on Windows"));
    }
    Ok(())
}

/// The name rules a module zip's files pass (`module.CheckFilePath`, case-fold
/// collisions, duplicates, files that are also directories, go.mod only at the root),
/// for file names that come from elsewhere than a zip: the store index, which a mount
/// does not take on trust. Names are relative to the module root.
pub fn check_file_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let names = names.into_iter();
    let mut collisions = Collisions::with_capacity(names.size_hint().0 * 5 / 4);
    for name in names {
        let fail = |rule: String| format!("{}: {rule}", printable(name.as_bytes()));
        check_file_path(name).map_err(fail)?;
        collisions.check(name, false).map_err(fail)?;
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.eq_ignore_ascii_case("go.mod") && name != "go.mod" {
            return Err(fail("go.mod file not in module root directory, or not lowercase".into()));
        }
    }
    Ok(())
}

/// [`check_file_names`] for a list in strictly increasing byte order, as the store
/// index keeps a module's files: the same verdict, about three times faster, which
/// a mount's first look into a module waits for (azure-sdk-for-go: 16,000 names).
///
/// Order makes most of the general check unnecessary. Two different paths can
/// fold to one key only if one of them is not its own fold (has upper case), so
/// only such paths need a key; the others are looked up as they are, the files in
/// the list itself (binary search) and the directories in a set built once per
/// directory change. Names that are not plain ASCII paths, and any list this finds
/// a problem in, go to the general check, which names the problem.
pub(crate) fn check_sorted_file_names<'a, T>(
    items: &'a [T],
    name: impl Fn(&'a T) -> &'a str + Copy,
) -> Result<(), String> {
    if sorted_plain_names_pass(items, name) {
        return Ok(());
    }
    check_file_names(items.iter().map(name))
}

/// Whether every rule of [`check_file_names`] surely holds (false: not sure).
fn sorted_plain_names_pass<'a, T>(items: &'a [T], name: impl Fn(&'a T) -> &'a str + Copy) -> bool {
    let mut dirs: HashSet<&str, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(items.len() / 4 + 1, Default::default());
    // Paths with upper case: files here, directories found below.
    let mut upper: Vec<&str> = Vec::new();
    let (mut prev, mut last_parent): (Option<&str>, Option<&str>) = (None, None);
    for item in items {
        let n = name(item);
        let Some(has_upper) = plain_file_path(n).filter(|_| prev.is_none_or(|p| p < n)) else { return false };
        prev = Some(n);
        let (parent, base) = match n.rsplit_once('/') {
            Some((d, b)) => (Some(d), b),
            None => (None, n),
        };
        if base.eq_ignore_ascii_case("go.mod") && n != "go.mod" {
            return false;
        }
        if has_upper {
            upper.push(n);
        }
        if parent != last_parent {
            // The parent and its ancestors, up to the first one already known.
            let mut d = parent;
            while let Some(dir) = d {
                if !dirs.insert(dir) {
                    break;
                }
                d = dir.rsplit_once('/').map(|(up, _)| up);
            }
            last_parent = parent;
        }
    }
    // A file that is also a directory.
    if items.iter().any(|item| dirs.contains(name(item))) {
        return false;
    }
    upper.extend(dirs.iter().copied().filter(|d| d.bytes().any(|b| b.is_ascii_uppercase())));
    // Plain paths are ASCII: their fold is their ASCII lower case.
    let mut keys: HashSet<String, foldhash::fast::RandomState> = HashSet::default();
    for p in upper {
        let key = p.to_ascii_lowercase();
        let is_file = items.binary_search_by(|item| name(item).cmp(key.as_str())).is_ok();
        if is_file || dirs.contains(key.as_str()) || !keys.insert(key) {
            return false;
        }
    }
    true
}

/// Code points in Nl or Other_Alphabetic (Go 1.19, Unicode 13) as sorted `[start, end)`
/// boundaries; see [`is_go_letter`].
#[rustfmt::skip]
const ALPHABETIC_NON_LETTERS: &[u32] = &[
    0x345, 0x346, 0x5B0, 0x5BE, 0x5BF, 0x5C0, 0x5C1, 0x5C3, 0x5C4, 0x5C6, 0x5C7, 0x5C8, 0x610,
    0x61B, 0x64B, 0x658, 0x659, 0x660, 0x670, 0x671, 0x6D6, 0x6DD, 0x6E1, 0x6E5, 0x6E7, 0x6E9,
    0x6ED, 0x6EE, 0x711, 0x712, 0x730, 0x740, 0x7A6, 0x7B1, 0x816, 0x818, 0x81B, 0x824, 0x825,
    0x828, 0x829, 0x82D, 0x8D4, 0x8E0, 0x8E3, 0x8EA, 0x8F0, 0x904, 0x93A, 0x93C, 0x93E, 0x94D,
    0x94E, 0x950, 0x955, 0x958, 0x962, 0x964, 0x981, 0x984, 0x9BE, 0x9C5, 0x9C7, 0x9C9, 0x9CB,
    0x9CD, 0x9D7, 0x9D8, 0x9E2, 0x9E4, 0xA01, 0xA04, 0xA3E, 0xA43, 0xA47, 0xA49, 0xA4B, 0xA4D,
    0xA51, 0xA52, 0xA70, 0xA72, 0xA75, 0xA76, 0xA81, 0xA84, 0xABE, 0xAC6, 0xAC7, 0xACA, 0xACB,
    0xACD, 0xAE2, 0xAE4, 0xAFA, 0xAFD, 0xB01, 0xB04, 0xB3E, 0xB45, 0xB47, 0xB49, 0xB4B, 0xB4D,
    0xB56, 0xB58, 0xB62, 0xB64, 0xB82, 0xB83, 0xBBE, 0xBC3, 0xBC6, 0xBC9, 0xBCA, 0xBCD, 0xBD7,
    0xBD8, 0xC00, 0xC04, 0xC3E, 0xC45, 0xC46, 0xC49, 0xC4A, 0xC4D, 0xC55, 0xC57, 0xC62, 0xC64,
    0xC81, 0xC84, 0xCBE, 0xCC5, 0xCC6, 0xCC9, 0xCCA, 0xCCD, 0xCD5, 0xCD7, 0xCE2, 0xCE4, 0xD00,
    0xD04, 0xD3E, 0xD45, 0xD46, 0xD49, 0xD4A, 0xD4D, 0xD57, 0xD58, 0xD62, 0xD64, 0xD81, 0xD84,
    0xDCF, 0xDD5, 0xDD6, 0xDD7, 0xDD8, 0xDE0, 0xDF2, 0xDF4, 0xE31, 0xE32, 0xE34, 0xE3B, 0xE4D,
    0xE4E, 0xEB1, 0xEB2, 0xEB4, 0xEBA, 0xEBB, 0xEBD, 0xECD, 0xECE, 0xF71, 0xF82, 0xF8D, 0xF98,
    0xF99, 0xFBD, 0x102B, 0x1037, 0x1038, 0x1039, 0x103B, 0x103F, 0x1056, 0x105A, 0x105E, 0x1061,
    0x1062, 0x1065, 0x1067, 0x106E, 0x1071, 0x1075, 0x1082, 0x108E, 0x108F, 0x1090, 0x109A, 0x109E,
    0x16EE, 0x16F1, 0x1712, 0x1714, 0x1732, 0x1734, 0x1752, 0x1754, 0x1772, 0x1774, 0x17B6, 0x17C9,
    0x1885, 0x1887, 0x18A9, 0x18AA, 0x1920, 0x192C, 0x1930, 0x1939, 0x1A17, 0x1A1C, 0x1A55, 0x1A5F,
    0x1A61, 0x1A75, 0x1ABF, 0x1AC1, 0x1B00, 0x1B05, 0x1B35, 0x1B44, 0x1B80, 0x1B83, 0x1BA1, 0x1BAA,
    0x1BAC, 0x1BAE, 0x1BE7, 0x1BF2, 0x1C24, 0x1C37, 0x1DE7, 0x1DF5, 0x2160, 0x2183, 0x2185, 0x2189,
    0x24B6, 0x24EA, 0x2DE0, 0x2E00, 0x3007, 0x3008, 0x3021, 0x302A, 0x3038, 0x303B, 0xA674, 0xA67C,
    0xA69E, 0xA6A0, 0xA6E6, 0xA6F0, 0xA802, 0xA803, 0xA80B, 0xA80C, 0xA823, 0xA828, 0xA880, 0xA882,
    0xA8B4, 0xA8C4, 0xA8C5, 0xA8C6, 0xA8FF, 0xA900, 0xA926, 0xA92B, 0xA947, 0xA953, 0xA980, 0xA984,
    0xA9B4, 0xA9C0, 0xA9E5, 0xA9E6, 0xAA29, 0xAA37, 0xAA43, 0xAA44, 0xAA4C, 0xAA4E, 0xAA7B, 0xAA7E,
    0xAAB0, 0xAAB1, 0xAAB2, 0xAAB5, 0xAAB7, 0xAAB9, 0xAABE, 0xAABF, 0xAAEB, 0xAAF0, 0xAAF5, 0xAAF6,
    0xABE3, 0xABEB, 0xFB1E, 0xFB1F, 0x10140, 0x10175, 0x10341, 0x10342, 0x1034A, 0x1034B, 0x10376,
    0x1037B, 0x103D1, 0x103D6, 0x10A01, 0x10A04, 0x10A05, 0x10A07, 0x10A0C, 0x10A10, 0x10D24,
    0x10D28, 0x10EAB, 0x10EAD, 0x11000, 0x11003, 0x11038, 0x11046, 0x11082, 0x11083, 0x110B0,
    0x110B9, 0x11100, 0x11103, 0x11127, 0x11133, 0x11145, 0x11147, 0x11180, 0x11183, 0x111B3,
    0x111C0, 0x111CE, 0x111D0, 0x1122C, 0x11235, 0x11237, 0x11238, 0x1123E, 0x1123F, 0x112DF,
    0x112E9, 0x11300, 0x11304, 0x1133E, 0x11345, 0x11347, 0x11349, 0x1134B, 0x1134D, 0x11357,
    0x11358, 0x11362, 0x11364, 0x11435, 0x11442, 0x11443, 0x11446, 0x114B0, 0x114C2, 0x115AF,
    0x115B6, 0x115B8, 0x115BF, 0x115DC, 0x115DE, 0x11630, 0x1163F, 0x11640, 0x11641, 0x116AB,
    0x116B6, 0x1171D, 0x1172B, 0x1182C, 0x11839, 0x11930, 0x11936, 0x11937, 0x11939, 0x1193B,
    0x1193D, 0x11940, 0x11941, 0x11942, 0x11943, 0x119D1, 0x119D8, 0x119DA, 0x119E0, 0x119E4,
    0x119E5, 0x11A01, 0x11A0B, 0x11A35, 0x11A3A, 0x11A3B, 0x11A3F, 0x11A51, 0x11A5C, 0x11A8A,
    0x11A98, 0x11C2F, 0x11C37, 0x11C38, 0x11C3F, 0x11C92, 0x11CA8, 0x11CA9, 0x11CB7, 0x11D31,
    0x11D37, 0x11D3A, 0x11D3B, 0x11D3C, 0x11D3E, 0x11D3F, 0x11D42, 0x11D43, 0x11D44, 0x11D47,
    0x11D48, 0x11D8A, 0x11D8F, 0x11D90, 0x11D92, 0x11D93, 0x11D97, 0x11EF3, 0x11EF7, 0x12400,
    0x1246F, 0x16F4F, 0x16F50, 0x16F51, 0x16F88, 0x16F8F, 0x16F93, 0x16FF0, 0x16FF2, 0x1BC9E,
    0x1BC9F, 0x1E000, 0x1E007, 0x1E008, 0x1E019, 0x1E01B, 0x1E022, 0x1E023, 0x1E025, 0x1E026,
    0x1E02B, 0x1E947, 0x1E948, 0x1F130, 0x1F14A, 0x1F150, 0x1F16A, 0x1F170, 0x1F18A,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass check passes exactly the paths the rule-by-rule one does.
    #[test]
    fn the_quick_path_check_agrees_with_the_rules() {
        let paths = [
            "a.go",
            "a/b/c.go",
            "x!#$%&()+,-.=@[]^_{}~ y",
            "",
            "/a",
            "a//b",
            "a/",
            "./a",
            "a/./b",
            "../a",
            "a/..",
            "a/b..",
            "a.",
            "...",
            "CON",
            "con.go",
            "x/Aux.txt/y",
            "COM1",
            "COM10",
            "LPT9.go",
            "nul",
            "a\\b",
            "a\0b",
            "a:b",
            "a*b",
            "a\"b",
            "é.go",
            "a/\u{1F600}",
            "\u{345}",
            "go.mod",
            &"x".repeat(255),
            &"x".repeat(256),
            "con/",
            "prn.x/a",
            "a b/c d",
        ];
        for p in paths {
            let rules = {
                let mut ok = !p.contains('\0') && !p.contains('\\') && !p.starts_with('/');
                for e in p.split('/') {
                    ok &= !matches!(e, "" | "." | "..") && check_file_path_element(e).is_ok();
                }
                ok
            };
            assert_eq!(check_file_path(p).is_ok(), rules, "{p:?}");
            if is_plain_file_path(p) {
                assert!(rules, "{p:?} passed the quick check only");
            }
        }
    }

    #[test]
    fn letters_like_go() {
        for c in ['a', 'é', 'ß', 'Σ', 'ǅ', 'ª', '日', 'ـ'] {
            assert!(file_name_char_ok(c), "{c:?}");
        }
        // Marks, Nl letter-numbers, other numbers, symbols, format characters.
        for c in
            ['\u{345}', '\u{93e}', 'Ⅰ', '²', '\u{660}', '😀', '\u{200d}', '\u{ad}', '*', '?', '"', '<', '|', '`', ':']
        {
            assert!(!file_name_char_ok(c), "{c:?}");
        }
        assert!(ALPHABETIC_NON_LETTERS.len() % 2 == 0);
        assert!(ALPHABETIC_NON_LETTERS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn folding_like_strings_equal_fold() {
        let same = |a: &str, b: &str| fold(a) == fold(b);
        assert!(same("Go.MOD", "go.mod"));
        assert!(same("ſ", "S") && same("ſ", "s"));
        assert!(same("ς", "Σ") && same("σ", "ς"));
        assert!(same("\u{212a}", "k"));
        assert!(same("\u{212b}", "å"));
        assert!(same("ǅ", "Ǆ") && same("ǆ", "ǅ"));
        assert!(same("µ", "Μ"));
        assert!(!same("ß", "ss"));
        assert!(!same("ı", "i") && !same("İ", "i") && !same("ı", "I"));
        assert!(!same("ﬀ", "ff"));
    }

    /// The sorted-list check never passes a list the general check refuses, and it
    /// does pass clean lists (else it would only cost time): every sorted list of up
    /// to three names from a pool of colliding, nested and reserved names.
    #[test]
    fn the_sorted_check_agrees_with_the_general_one() {
        let pool = [
            "a", "A", "a.go", "a/b", "a/B", "A/b", "a/b/c", "a/b.go", "b", "B/c", "go.mod", "x/go.mod", "x/GO.MOD",
            "con.go", "d\u{e9}", "D\u{c9}", "\u{212a}", "k",
        ];
        let mut lists: Vec<Vec<&str>> = Vec::new();
        for i in 0..pool.len() {
            lists.push(vec![pool[i]]);
            for j in 0..pool.len() {
                lists.push(vec![pool[i], pool[j]]);
                for k in 0..pool.len() {
                    lists.push(vec![pool[i], pool[j], pool[k]]);
                }
            }
        }
        let (mut passed, mut refused) = (0, 0);
        for mut l in lists {
            l.sort_unstable();
            l.dedup();
            let fast = sorted_plain_names_pass(&l, |n| n);
            let general = check_file_names(l.iter().copied());
            assert!(
                !fast || general.is_ok(),
                "{l:?}: the sorted check passed what the general one refuses: {general:?}"
            );
            assert_eq!(check_sorted_file_names(&l, |n| n), general, "{l:?}");
            if fast {
                passed += 1;
            } else if general.is_err() {
                refused += 1;
            }
        }
        assert!(passed > 100 && refused > 100, "{passed} passed, {refused} refused");
        let colliding = ["LICENSE", "README.md", "a/B/c.go", "a/b/c.go", "a/b.go", "go.mod", "z/y/x.go"];
        assert!(!sorted_plain_names_pass(&colliding, |n| n));
        let clean = ["LICENSE", "README.md", "a/b.go", "a/b/c.go", "a/b/d/e.go", "go.mod", "z/Y/x.go"];
        assert!(sorted_plain_names_pass(&clean, |n| n));
        // Out of order or repeated: left to the general check (and the caller's order check).
        assert!(!sorted_plain_names_pass(&["b", "a"], |n| n) && !sorted_plain_names_pass(&["a", "a"], |n| n));
    }

    #[test]
    fn collisions_like_go() {
        let mut c = Collisions::default();
        assert!(c.check("a/b/c.go", false).is_ok());
        assert!(c.check("a/b", true).is_ok()); // an explicit entry for an implied directory
        assert!(c.check("a/d.go", false).is_ok());
        assert!(c.check("a/b/c.go", false).unwrap_err().contains("multiple entries"));
        assert!(c.check("A/x.go", false).unwrap_err().contains("collision"));
        assert!(c.check("a/d.go/e", false).unwrap_err().contains("both a file and a directory"));
        assert!(c.check("a", false).unwrap_err().contains("both a file and a directory"));
    }
}
