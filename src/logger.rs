//! A small stderr logger: `modcachefs: LEVEL message`, level from -v/-q or
//! `MODCACHEFS_LOG` (error, warn, info, debug, trace).

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Stderr;

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
        let level = match r.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        // One write per line so lines from several threads never interleave.
        let line = format!("modcachefs: {level}: {}\n", r.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// `verbosity`: 0 = warnings, 1 = info, 2 = debug, 3+ = trace, negative = errors only.
pub fn init(verbosity: i32) {
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
