//! A small stderr logger: `modcachefs: LEVEL message`, level from -v/-q or
//! `MODCACHEFS_LOG` (error, warn, info, debug, trace).
//!
//! Messages name things other people chose (looked-up names, module paths and
//! entry names from a store someone else may write), and the log is often read
//! by root, by tools that grep for `modcachefs: error:`, on a terminal. So every
//! line is made safe here, once, whatever the call site did: control characters
//! (C0, DEL, C1: newline, carriage return, ESC...) and the Unicode line and
//! direction overrides are escaped, and a newline that a message means to print
//! (the multi-line counters report) starts an indented continuation line, which
//! never looks like a line of its own. Call sites also pass names through
//! `printable`, so a name stays on the line it belongs to.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Stderr;

/// Characters that would change how a log line reads rather than what it says.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Renders possibly hostile bytes on one line: invalid UTF-8 as `\xNN`, control
/// characters and line or direction overrides escaped (`\n`, `\u{1b}`).
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid(), false);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// [`printable`] of a string.
pub(crate) fn printable_str(s: &str) -> String {
    printable(s.as_bytes())
}

fn push_escaped(out: &mut String, s: &str, keep_newlines: bool) {
    for c in s.chars() {
        if keep_newlines && c == '\n' {
            out.push_str("\n  ");
        } else if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// One log line as written: the prefix, then the message with every unsafe
/// character escaped and its own newlines turned into indented continuations.
pub(crate) fn format_line(level: &str, message: &str) -> String {
    let mut line = format!("modcachefs: {level}: ");
    push_escaped(&mut line, message.trim_end_matches('\n'), true);
    line.push('\n');
    line
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        // fuser reports every request it has no handler for; that is noise unless debugging.
        let floor = if m.target().starts_with("fuser") { Level::Error } else { Level::Trace };
        m.level() <= log::max_level() && (m.level() <= floor || log::max_level() >= LevelFilter::Debug)
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let message = r.args().to_string();
        let mut level = r.level();
        if r.target().starts_with("fuser") && is_unawaited_reply(&message) {
            level = Level::Debug;
            if log::max_level() < LevelFilter::Debug {
                return;
            }
        }
        let level = match level {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        // One write per line so lines from several threads never interleave.
        let line = format_line(level, &message);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// fuser's error for a reply the kernel no longer waits for (ENOENT): the request
/// was interrupted and answered meanwhile. With several request loops, one loop can
/// answer a request while another answers the kernel's FUSE_INTERRUPT for it (a Go
/// process preempts its goroutines with signals); whichever comes second finds
/// nothing to answer. Nothing is lost, so it is not an error of ours.
fn is_unawaited_reply(message: &str) -> bool {
    message.starts_with("Failed to send FUSE reply") && message.ends_with("(os error 2)")
}

static LOGGER: Stderr = Stderr;

/// `verbosity`: 0 = warnings, 1 = info, 2 = debug, 3+ = trace, negative = errors only.
pub(crate) fn init(verbosity: i32) {
    let from_env = std::env::var("MODCACHEFS_LOG").ok().and_then(|v| v.parse::<LevelFilter>().ok());
    let level = from_env.unwrap_or(match verbosity {
        i32::MIN..=-1 => LevelFilter::Error,
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    });
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_on_their_line() {
        assert_eq!(printable(b"a\nb\0c\xffd\\e"), "a\\nb\\u{0}c\\xffd\\e");
        assert_eq!(printable("x\r\x1b[2J\u{7f}\u{9b}\u{202e}y".as_bytes()), "x\\r\\u{1b}[2J\\u{7f}\\u{9b}\\u{202e}y");
    }

    #[test]
    fn lines_cannot_be_forged() {
        let l = format_line("warning", "missing module a\nmodcachefs: error: forged\x1b[2J\r");
        assert_eq!(l, "modcachefs: warning: missing module a\n  modcachefs: error: forged\\u{1b}[2J\\r\n");
        assert!(!l.lines().skip(1).any(|x| x.starts_with("modcachefs:")), "{l}");
        assert!(!l.contains('\x1b') && !l.contains('\r'));
    }

    #[test]
    fn only_unawaited_replies_are_quieted() {
        assert!(is_unawaited_reply("Failed to send FUSE reply: No such file or directory (os error 2)"));
        assert!(!is_unawaited_reply("Failed to send FUSE reply: Invalid argument (os error 22)"));
        assert!(!is_unawaited_reply("Failed to send FUSE reply: Bad file descriptor (os error 9)"));
    }
}
