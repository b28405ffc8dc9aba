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
                let hex: String = chars.by_ref().take(4).collect();
                let cp = u32::from_str_radix(&hex, 16).ok()?;
                out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
            }
            _ => return None,
        }
    }
    Some(out)
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

/// Go's time.MarshalJSON (RFC 3339 with nanoseconds, trailing zeros trimmed; a
/// zero UTC offset written as `Z`). Only the forms Go itself produces are accepted.
fn canonical_time(t: &str) -> Option<String> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && digits(5..7) && digits(8..10) && digits(11..13) && digits(14..16) && digits(17..19)) {
        return None;
    }
    let mut rest = &t[19..];
    let mut frac = "";
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        frac = r[..end].trim_end_matches('0');
        rest = &r[end..];
    }
    let zone = match rest {
        "Z" | "+00:00" | "-00:00" => "Z",
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && z.as_bytes()[3] == b':' => z,
        _ => return None,
    };
    let dot = if frac.is_empty() { "" } else { "." };
    Some(format!("{}{dot}{frac}{zone}", &t[..19]))
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

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b<"), r#""a\"b\u003c""#);
        assert_eq!(unquote(r#""a\"b\u003c""#).unwrap(), "a\"b<");
    }
}
