//! Just enough JSON for what Go writes and reads here: `.info` files
//! (json.Marshal of cmd/go's RevInfo) and our own `--json` output.

/// A JSON string literal, escaped the way encoding/json does (including its
/// HTML-safe escapes, so bytes we emit match what Go would marshal).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Top-level members of a JSON object as (key, raw value text), or None if `text`
/// is not a well-formed object. Values are not interpreted, only delimited.
pub fn object_members(text: &str) -> Option<Vec<(String, String)>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(out);
    }
    loop {
        let kend = scan_value(b, i)?;
        let key = unquote(&text[i..kend])?;
        i = skip_ws(b, kend);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let vend = scan_value(b, i)?;
        out.push((key, text[i..vend].to_string()));
        i = skip_ws(b, vend);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(out),
            _ => return None,
        }
    }
}

/// Decodes a JSON string literal (the escapes Go emits; `\u` outside the BMP via surrogates).
pub fn unquote(lit: &str) -> Option<String> {
    let inner = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let cp = hex4(&mut chars)?;
                // A high surrogate followed by an escaped low one is one character;
                // a lone surrogate becomes U+FFFD, as Go's decoder makes it.
                let c = if (0xD800..0xDC00).contains(&cp) && chars.as_str().starts_with("\\u") {
                    let mut ahead = chars.clone();
                    ahead.nth(1);
                    match hex4(&mut ahead)? {
                        lo @ 0xDC00..0xE000 => {
                            chars = ahead;
                            char::from_u32(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        _ => None,
                    }
                } else {
                    char::from_u32(cp)
                };
                out.push(c.unwrap_or('\u{fffd}'));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Exactly four hex digits (no sign, no fewer), as JSON's `\\uXXXX` has.
fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let hex: String = chars.by_ref().take(4).collect();
    (hex.len() == 4 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| u32::from_str_radix(&hex, 16).ok())?
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End (exclusive) of the JSON value starting at `i`.
fn scan_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            None
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = scan_value(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The bytes cmd/go keeps in `<v>.info`: json.Marshal of its RevInfo
/// (`Version`, `Time`, and `Origin` when present), whatever spacing or extra
/// fields the source had. Go rewrites an .info whose bytes differ from that,
/// which a read-only mount must never provoke.
pub fn canonical_info(text: &str, version: &str) -> Option<Vec<u8>> {
    let members = object_members(text.trim())?;
    let get = |k: &str| members.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let v = unquote(get("Version")?)?;
    if v != version {
        return None;
    }
    let time = canonical_time(&unquote(get("Time")?)?)?;
    let mut out = format!("{{\"Version\":{},\"Time\":{}", quote(&v), quote(&time));
    if let Some(origin) = get("Origin") {
        // `object_members` only delimits values; Go unmarshals Origin into a struct
        // pointer, so anything but a well-formed object (or null) would make the
        // .info unreadable to Go (found by fuzzing: `{"Hash"*"ab"}` passed through).
        if origin != "null" && !(origin.starts_with('{') && is_json(origin)) {
            return None;
        }
        if origin != "null" {
            out.push_str(",\"Origin\":");
            out.push_str(&compact(origin));
        }
    }
    out.push('}');
    Some(out.into_bytes())
}

/// `.info` for a version we have no .info for: only honest when the time is
/// known (pseudo-versions carry it).
pub fn info_for(version: &str, time_rfc3339: &str) -> Vec<u8> {
    format!("{{\"Version\":{},\"Time\":{}}}", quote(version), quote(time_rfc3339)).into_bytes()
}

/// An RFC 3339 time as Go's parser reads it: field ranges and the zone's digits
/// are checked (found by fuzzing: `2019-13-45T99:99:99+ab:cd` used to pass, and
/// Go cannot read such an .info). The one parser of times here: `.info`
/// canonicalisation and the mount's mtimes both use it.
struct Rfc3339<'a> {
    /// `YYYY-MM-DDTHH:MM:SS`, as written.
    date_time: &'a str,
    fields: [u32; 6],
    /// Fraction digits kept (nanoseconds at most), trailing zeros trimmed.
    frac: &'a str,
    /// `Z`, or `+HH:MM` / `-HH:MM` (a zero offset becomes `Z`).
    zone: &'a str,
    /// The zone's offset east of UTC, in seconds.
    offset: i64,
}

fn parse_rfc3339(t: &str) -> Option<Rfc3339<'_>> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = &b[r];
        d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut rest = &t[19..];
    let mut frac = "";
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if end == 0 {
            return None; // Go wants a digit after the dot.
        }
        // Go keeps nanoseconds: digits past the ninth are dropped.
        frac = r[..end.min(9)].trim_end_matches('0');
        rest = &r[end..];
    }
    let (zone, offset) = match rest {
        "Z" | "+00:00" | "-00:00" => ("Z", 0),
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && z.as_bytes()[3] == b':' => {
            let zb = z.as_bytes();
            let two = |i: usize| -> Option<u8> {
                let (h, l) = (zb[i], zb[i + 1]);
                (h.is_ascii_digit() && l.is_ascii_digit()).then(|| (h - b'0') * 10 + (l - b'0'))
            };
            let (h, m) = (two(1)?, two(4)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h) * 3600 + i64::from(m) * 60;
            (z, if z.starts_with('-') { -secs } else { secs })
        }
        _ => return None,
    };
    Some(Rfc3339 { date_time: &t[..19], fields: [year, month, day, hour, min, sec], frac, zone, offset })
}

/// Go's time.MarshalJSON (RFC 3339 with nanoseconds, trailing zeros trimmed; a
/// zero UTC offset written as `Z`), for times Go's parser reads back.
fn canonical_time(t: &str) -> Option<String> {
    let p = parse_rfc3339(t)?;
    let dot = if p.frac.is_empty() { "" } else { "." };
    Some(format!("{}{dot}{}{}", p.date_time, p.frac, p.zone))
}

/// Seconds since the epoch of an `.info`'s `Time` (`"Time":"2019-01-04T21:36:57Z"`),
/// for the mtime of a module's files; None before 1970 or when unreadable.
pub(crate) fn unix_time(info: &str) -> Option<u64> {
    let members = object_members(info)?;
    let t = unquote(&members.iter().find(|(k, _)| k == "Time")?.1)?;
    let p = parse_rfc3339(&t)?;
    let [y, mo, d, h, mi, s] = p.fields.map(i64::from);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s - p.offset).ok()
}

/// Whether `v` is exactly one well-formed JSON value (RFC 8259), surrounded by
/// nothing but whitespace. Nesting is limited (Go's decoder allows 10000 levels).
fn is_json(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = skip_ws(b, 0);
    json_value(b, &mut i, 0) && skip_ws(b, i) == b.len()
}

fn json_value(b: &[u8], i: &mut usize, depth: usize) -> bool {
    if depth > 1000 {
        return false;
    }
    match b.get(*i) {
        Some(b'{') | Some(b'[') => {
            let object = b[*i] == b'{';
            let close = if object { b'}' } else { b']' };
            *i = skip_ws(b, *i + 1);
            if b.get(*i) == Some(&close) {
                *i += 1;
                return true;
            }
            loop {
                if object {
                    if b.get(*i) != Some(&b'"') || !json_string(b, i) {
                        return false;
                    }
                    *i = skip_ws(b, *i);
                    if b.get(*i) != Some(&b':') {
                        return false;
                    }
                    *i = skip_ws(b, *i + 1);
                }
                if !json_value(b, i, depth + 1) {
                    return false;
                }
                *i = skip_ws(b, *i);
                match b.get(*i) {
                    Some(b',') => *i = skip_ws(b, *i + 1),
                    Some(&c) if c == close => {
                        *i += 1;
                        return true;
                    }
                    _ => return false,
                }
            }
        }
        Some(b'"') => json_string(b, i),
        Some(b't') => json_literal(b, i, b"true"),
        Some(b'f') => json_literal(b, i, b"false"),
        Some(b'n') => json_literal(b, i, b"null"),
        Some(_) => json_number(b, i),
        None => false,
    }
}

fn json_literal(b: &[u8], i: &mut usize, lit: &[u8]) -> bool {
    let ok = b.get(*i..).is_some_and(|r| r.starts_with(lit));
    *i += lit.len();
    ok
}

/// A string at `b[*i] == '"'`: no raw control characters, only valid escapes.
fn json_string(b: &[u8], i: &mut usize) -> bool {
    let mut j = *i + 1;
    while let Some(&c) = b.get(j) {
        match c {
            b'"' => {
                *i = j + 1;
                return true;
            }
            b'\\' => match b.get(j + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                Some(b'u') if b.get(j + 2..j + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => j += 6,
                _ => return false,
            },
            0..=0x1f => return false,
            _ => j += 1,
        }
    }
    false
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn json_number(b: &[u8], i: &mut usize) -> bool {
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(*i) == Some(&b'-') {
        *i += 1;
    }
    match b.get(*i) {
        Some(b'0') => *i += 1,
        Some(b'1'..=b'9') => {
            digits(i);
        }
        _ => return false,
    }
    if b.get(*i) == Some(&b'.') {
        *i += 1;
        if digits(i) == 0 {
            return false;
        }
    }
    if matches!(b.get(*i), Some(b'e' | b'E')) {
        *i += 1;
        if matches!(b.get(*i), Some(b'+' | b'-')) {
            *i += 1;
        }
        if digits(i) == 0 {
            return false;
        }
    }
    true
}

/// Removes insignificant whitespace from a JSON value.
fn compact(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut in_str = false;
    let mut esc = false;
    for c in v.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_canonicalized() {
        let got = canonical_info(
            "{\n \"Version\": \"v1.2.3\",\n \"Time\": \"2019-01-04T21:36:57.000+00:00\", \"Short\":\"x\"}\n",
            "v1.2.3",
        )
        .unwrap();
        assert_eq!(got, br#"{"Version":"v1.2.3","Time":"2019-01-04T21:36:57Z"}"#);
        assert!(canonical_info(r#"{"Version":"v1.2.4","Time":"2019-01-04T21:36:57Z"}"#, "v1.2.3").is_none());
        let o = canonical_info(
            r#"{"Version":"v1.0.0","Time":"2020-01-01T00:00:00.5Z","Origin":{"VCS":"git", "Hash":"ab"}}"#,
            "v1.0.0",
        )
        .unwrap();
        assert_eq!(o, br#"{"Version":"v1.0.0","Time":"2020-01-01T00:00:00.5Z","Origin":{"VCS":"git","Hash":"ab"}}"#);
    }

    /// Found by fuzzing (tests/fuzz, target json): malformed Origin objects and
    /// impossible times passed through, giving an .info Go cannot read.
    #[test]
    fn info_must_stay_readable_by_go() {
        let info = |time: &str, origin: &str| {
            let mut t = format!(r#"{{"Version":"v1.2.3","Time":"{time}""#);
            if !origin.is_empty() {
                t.push_str(&format!(r#","Origin":{origin}"#));
            }
            t.push('}');
            canonical_info(&t, "v1.2.3").map(|b| String::from_utf8(b).unwrap())
        };
        let ok = "2019-01-04T21:36:57Z";
        assert_eq!(info(ok, r#"{"VCS":"git","Hash"*"ab"}"#), None);
        for bad_origin in [r#"{"a":tru"e}"#, r#"{"a":01}"#, r#"{"a":"\x"}"#, "[1]", r#""s""#, "{,}", r#"{"a":1,}"#] {
            assert_eq!(info(ok, bad_origin), None, "{bad_origin}");
        }
        assert!(info(ok, r#"{"VCS":"git","N":[1.5e3,-0,true,null,{}],"S":"\u00e9\n"}"#).is_some());
        assert!(info(ok, "null").is_some());
        for bad_time in [
            "2019-13-04T21:36:57Z",
            "2019-02-29T21:36:57Z",
            "2019-01-04T24:00:00Z",
            "2019-01-04T21:60:57Z",
            "2019-01-04T21:36:60Z",
            "2019-01-04T21:36:57.Z",
            "2019-01-04T21:36:57+ab:cd",
            "2019-01-04T21:36:57+24:00",
        ] {
            assert_eq!(info(bad_time, ""), None, "{bad_time}");
        }
        assert!(info("2020-02-29T23:59:59+05:30", "").is_some());
        assert_eq!(
            info("2019-01-04T21:36:57.1234567890Z", "").unwrap(),
            r#"{"Version":"v1.2.3","Time":"2019-01-04T21:36:57.123456789Z"}"#
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b<"), r#""a\"b\u003c""#);
        assert_eq!(unquote(r#""a\"b\u003c""#).unwrap(), "a\"b<");
        // Surrogate pairs are one character; lone surrogates U+FFFD; \u wants 4 hex digits.
        assert_eq!(unquote(r#""\ud83d\ude00x""#).unwrap(), "\u{1f600}x");
        assert_eq!(unquote(r#""\ud83dx\ude00""#).unwrap(), "\u{fffd}x\u{fffd}");
        assert_eq!(unquote(r#""\ud83d\u0041""#).unwrap(), "\u{fffd}A");
        assert_eq!(unquote(r#""\u+041""#), None);
        assert_eq!(unquote(r#""\u41""#), None);
    }
}
