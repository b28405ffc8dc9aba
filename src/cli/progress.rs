//! Progress on a terminal: a one-line bar for `import`, a counter for `verify`.
//! Nothing is drawn when stderr is not a terminal (logs and CI stay clean).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// A one-line progress display on stderr, only when stderr is a terminal.
pub(crate) struct Bar {
    pub(crate) on: bool,
    pub(crate) last: Option<Instant>,
}

impl Bar {
    pub fn new(enabled: bool) -> Bar {
        Bar { on: enabled && std::io::stderr().is_terminal(), last: None }
    }

    pub(crate) fn show(&mut self, done: usize, total: usize, what: &str) {
        if !self.on {
            return;
        }
        // Redrawing every module would cost more than importing small ones.
        if done != total && self.last.is_some_and(|t| t.elapsed().as_millis() < 100) {
            return;
        }
        self.last = Some(Instant::now());
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(width);
        let mut what = what.to_string();
        what.truncate(50);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K[{}{}] {done}/{total} {what}",
            "#".repeat(filled),
            " ".repeat(width - filled)
        );
        if done == total {
            let _ = writeln!(std::io::stderr());
        }
    }
}
