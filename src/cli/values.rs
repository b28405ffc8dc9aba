//! Parsers for option values that must make sense before anything starts: sizes,
//! counts and timeouts, each refused outside the range that can work, with that
//! range in the message.
//!
//! Hand-written rather than `bytesize`/`parse-size`: those accept what an operator
//! did not mean (`5iB`, decimal and binary units mixed by case, whitespace inside),
//! and the grammar here is one line: `DIGITS[.DIGITS][K|M|G|T][i][B]`, binary units,
//! letters in either case.

/// The smallest memory cache that works: files over a sixteenth of it go to
/// `--cache-dir`, and a cache of a few KiB would send every file there.
const MIN_CACHE: u64 = 1 << 20;
const MAX_SIZE: u64 = 1 << 50;

/// `512MiB`, `2G`, `1.5G`, `64m`, `1048576`: a number (with an optional fraction)
/// and an optional binary unit K, M, G or T, optionally followed by `iB` or `B`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("not a size: {s:?} (a number with an optional unit K, M, G or T, as in 512MiB, 1.5G, 64M)");
    let b = s.as_bytes();
    let int_end = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
    if int_end == 0 {
        return Err(bad());
    }
    let mut i = int_end;
    let mut frac = "";
    if b.get(i) == Some(&b'.') {
        let end = b[i + 1..].iter().position(|c| !c.is_ascii_digit()).map_or(b.len(), |n| i + 1 + n);
        if end == i + 1 {
            return Err(bad());
        }
        frac = &s[i + 1..end];
        i = end;
    }
    let shift = match b.get(i).map(u8::to_ascii_lowercase) {
        None => 0,
        Some(b'b') if i + 1 == b.len() => 0,
        Some(c) => {
            let shift = match c {
                b'k' => 10,
                b'm' => 20,
                b'g' => 30,
                b't' => 40,
                _ => return Err(bad()),
            };
            match s[i + 1..].to_ascii_lowercase().as_str() {
                "" | "b" | "ib" => shift,
                _ => return Err(bad()),
            }
        }
    };
    let too_large = || format!("size too large: {s:?}");
    let whole: u64 = s[..int_end].parse().map_err(|_| too_large())?;
    let mut n = whole.checked_mul(1u64 << shift).ok_or_else(too_large)?;
    if !frac.is_empty() {
        if shift == 0 {
            return Err(format!("not a whole number of bytes: {s:?}"));
        }
        // Fractions of a unit, rounded down to a byte: 1.5G is 1610612736.
        let digits = &frac[..frac.len().min(12)];
        let f: u128 = digits.parse().map_err(|_| bad())?;
        n = n.checked_add(((f << shift) / 10u128.pow(digits.len() as u32)) as u64).ok_or_else(too_large)?;
    }
    Ok(n)
}

fn in_range(s: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if n < min || n > max {
        return Err(format!("{what} must be between {} and {}, not {s}", show(min), show(max)));
    }
    Ok(n)
}

fn show(n: u64) -> String {
    match n.trailing_zeros() {
        40.. => format!("{}TiB", n >> 40),
        30.. => format!("{}GiB", n >> 30),
        20.. => format!("{}MiB", n >> 20),
        _ => format!("{n} bytes"),
    }
}

/// `--cache-size`: 1 MiB to 1 PiB.
pub(crate) fn cache_size(s: &str) -> Result<u64, String> {
    in_range(s, MIN_CACHE, MAX_SIZE, "the memory cache")
}

/// `--cache-dir-size`: 1 MiB to 1 PiB.
pub(crate) fn disk_size(s: &str) -> Result<u64, String> {
    in_range(s, MIN_CACHE, MAX_SIZE, "the disk space for large files")
}

fn count(s: &str, max: usize) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {max}, not {s:?}")),
    }
}

/// `--workers`: 1 to 256 threads.
pub(crate) fn workers(s: &str) -> Result<usize, String> {
    count(s, 256)
}

/// `--threads`: 1 to 1024.
pub(crate) fn threads(s: &str) -> Result<usize, String> {
    count(s, 1024)
}

/// `--timeout`, `--grace`: seconds, 0.1 to 3600.
pub(crate) fn seconds(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.1..=3600.0).contains(&x) => Ok(std::time::Duration::from_secs_f64(x)),
        _ => Err(format!("expected seconds from 0.1 to 3600, not {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_grammar() {
        for (s, want) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("512MiB", 512 << 20),
            ("512mib", 512 << 20),
            ("2G", 2 << 30),
            ("2g", 2 << 30),
            ("64M", 64 << 20),
            ("64MB", 64 << 20),
            ("4GiB", 4 << 30),
            ("1K", 1024),
            ("1T", 1 << 40),
            ("1.5G", 3 << 29),
            ("0.5M", 1 << 19),
            ("1.25K", 1280),
            ("100B", 100),
            ("100b", 100),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
        for s in [
            "",
            "5iB",
            "iB",
            "1mbbb",
            "1MiBB",
            "1KiBx",
            "1 G",
            " 1G",
            "1G ",
            "G",
            "-1",
            "+1",
            "1.",
            ".5G",
            "1.5",
            "1.5B",
            "1X",
            "1E",
            "1P",
            "1Mi",
            "1,5G",
            "１G",
            "99999999999999999999",
            "20000000T",
        ] {
            assert!(parse_size(s).is_err(), "{s:?} accepted as {:?}", parse_size(s));
        }
    }

    #[test]
    fn ranges() {
        assert!(cache_size("0").unwrap_err().contains("between 1MiB and 1024TiB"), "{:?}", cache_size("0"));
        assert!(cache_size("1K").is_err());
        assert_eq!(cache_size("1M"), Ok(1 << 20));
        assert_eq!(cache_size("1.5G"), Ok(3 << 29));
        assert!(disk_size("0").is_err());
        assert!(workers("0").unwrap_err().contains("from 1 to 256"));
        assert_eq!(workers("4"), Ok(4));
        assert!(workers("257").is_err() && workers("-1").is_err() && workers("4x").is_err());
        assert!(threads("0").is_err());
        assert!(seconds("0").is_err() && seconds("nan").is_err() && seconds("inf").is_err());
        assert_eq!(seconds("1.5"), Ok(std::time::Duration::from_millis(1500)));
    }
}
