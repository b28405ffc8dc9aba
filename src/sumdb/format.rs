//! The text formats of the checksum database (golang.org/x/mod/sumdb/tlog's
//! note.go): a tree note's text and a lookup answer.
//!
//! A lookup answer is `<record id>\n`, the record's text (its go.sum lines, each
//! ending in "\n"), a blank line, then the signed tree note.

#[cfg(test)]
use super::tlog::b64;
use super::tlog::{parse_hash, Tree};

const TREE_PREFIX: &str = "go.sum database tree\n";

/// The text a database signs for a tree: `go.sum database tree\nN\nHASH\n`.
#[cfg(test)]
pub(crate) fn format_tree(t: &Tree) -> String {
    format!("{TREE_PREFIX}{}\n{}\n", t.n, b64(&t.hash))
}

/// Parses a tree note's text (anything after the hash line is ignored, as in x/mod).
pub(crate) fn parse_tree(text: &str) -> Option<Tree> {
    let rest = text.strip_prefix(TREE_PREFIX)?;
    if text.len() > 1_000_000 || text.matches('\n').count() < 3 {
        return None;
    }
    let mut lines = rest.splitn(3, '\n');
    let n_s = lines.next()?;
    let n: i64 = n_s.parse().ok().filter(|n: &i64| *n >= 0 && n.to_string() == n_s)?;
    let hash = parse_hash(lines.next()?)?;
    Some(Tree { n, hash })
}

/// Record text as x/mod accepts it: UTF-8, no control characters but newlines,
/// no empty line, ends in a newline.
fn is_valid_record_text(text: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(text) else { return false };
    s.ends_with('\n') && !s.contains("\n\n") && !s.starts_with('\n') && !s.chars().any(|c| c < ' ' && c != '\n')
}

/// Splits a lookup answer into (record id, record text, the rest: the tree note).
pub(crate) fn parse_record(msg: &[u8]) -> Option<(i64, &[u8], &[u8])> {
    let i = msg.iter().position(|&b| b == b'\n')?;
    let id: i64 = std::str::from_utf8(&msg[..i]).ok()?.parse().ok().filter(|&n: &i64| n >= 0)?;
    let msg = &msg[i + 1..];
    let j = msg.windows(2).position(|w| w == b"\n\n")?;
    let (text, rest) = (&msg[..j + 1], &msg[j + 2..]);
    is_valid_record_text(text).then_some((id, text, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sumdb::tlog::record_hash;

    // From golang.org/x/mod/sumdb/tlog/note_test.go.
    #[test]
    fn trees() {
        let t = Tree { n: 123456789012, hash: record_hash(b"hello world") };
        let golden = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        assert_eq!(format_tree(&t), golden);
        assert_eq!(parse_tree(golden), Some(t));
        assert_eq!(parse_tree(&format!("{golden}JOE\n")), Some(t));
        for bad in [
            format!("not-{golden}"),
            "go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n".into(),
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n".into(),
        ] {
            assert_eq!(parse_tree(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn records() {
        let (id, text, rest) = parse_record(b"123456789012\nhello, world\n\njunk on end\x01\xff").unwrap();
        assert_eq!((id, text, rest), (123456789012, &b"hello, world\n"[..], &b"junk on end\x01\xff"[..]));
        for bad in [
            &b"not-123456789012\nhello, world\n\njunk"[..],
            b"123456789012\nhello, world\n",
            b"123456789012\nhello\x01 world\n\n",
            b"123456789012\n\n\n",
            b"123456789012\nhello\xffworld\n\n",
        ] {
            assert!(parse_record(bad).is_none(), "{bad:?}");
        }
    }
}
