//! The `log` host interface: a bounded per-call log sink.
//!
//! # Determinism
//! Logging never influences a result: the guest gets nothing back. The sink keeps at most
//! `max_log_lines` lines of at most `max_log_line_bytes` bytes each and counts the rest, so a
//! chatty or hostile module cannot exhaust host memory through its log.

use super::bindings::log_iface::{Host, Level};
use super::host_state::HostState;

/// One line a module logged during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity chosen by the module.
    pub level: Level,
    /// The message (truncated to the configured length at a character boundary).
    pub message: String,
}

/// The bounded log of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSink {
    lines: Vec<LogLine>,
    dropped: u64,
    max_lines: usize,
    max_line_bytes: usize,
}

impl LogSink {
    /// A sink keeping at most `max_lines` lines of at most `max_line_bytes` bytes.
    pub fn new(max_lines: usize, max_line_bytes: usize) -> Self {
        Self {
            lines: Vec::new(),
            dropped: 0,
            max_lines,
            max_line_bytes,
        }
    }

    /// Record one line (or count it as dropped when the sink is full); the kept,
    /// escaped and truncated line, if any.
    ///
    /// Control characters are written as escapes (`\n`, `\u{1b}`): the line goes to the
    /// node's log and to terminals, and a module must not be able to start a forged log
    /// line of the node with a newline, nor send escape sequences to an operator's
    /// terminal.
    pub fn push(&mut self, level: Level, message: String) -> Option<&str> {
        if self.lines.len() >= self.max_lines {
            self.dropped = self.dropped.saturating_add(1);
            return None;
        }
        let message = crate::text::printable(message, self.max_line_bytes);
        self.lines.push(LogLine { level, message });
        self.lines.last().map(|l| l.message.as_str())
    }

    /// The kept lines, in order.
    pub fn lines(&self) -> &[LogLine] {
        &self.lines
    }

    /// How many lines were dropped because the sink was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Take the kept lines and the dropped count.
    pub fn into_parts(self) -> (Vec<LogLine>, u64) {
        (self.lines, self.dropped)
    }
}

impl Host for HostState {
    /// Charged like every host import; truncated and capped *before* anything reaches the
    /// node's log, so a chatty module writes at most `max_log_lines` lines of at most
    /// `max_log_line_bytes` bytes per call there.
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.charge(message.len())?;
        let Some(message) = self.log.push(level, message) else {
            return Ok(());
        };
        let module = self.module;
        match level {
            Level::Trace => tracing::trace!(target: "spore::module", module = %module, "{message}"),
            Level::Debug => tracing::debug!(target: "spore::module", module = %module, "{message}"),
            Level::Info => tracing::info!(target: "spore::module", module = %module, "{message}"),
            Level::Warn => tracing::warn!(target: "spore::module", module = %module, "{message}"),
            Level::Error => tracing::error!(target: "spore::module", module = %module, "{message}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_bounded_number_of_lines_and_counts_the_rest() {
        let mut sink = LogSink::new(2, 100);
        for i in 0..5 {
            sink.push(Level::Info, format!("line {i}"));
        }
        assert_eq!(sink.lines().len(), 2);
        assert_eq!(sink.lines()[1].message, "line 1");
        assert_eq!(sink.dropped(), 3);
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut sink = LogSink::new(4, 100);
        let line = sink.push(
            Level::Info,
            "ok\n2026-12-02T00:00:00Z ERROR forged\u{1b}[2J\r\tend".to_owned(),
        );
        assert_eq!(
            line,
            Some("ok\\n2026-12-02T00:00:00Z ERROR forged\\u{1b}[2J\\r\\tend")
        );
        assert!(!sink.lines()[0].message.chars().any(char::is_control));
    }

    #[test]
    fn truncates_long_lines_at_a_character_boundary() {
        let mut sink = LogSink::new(4, 5);
        sink.push(Level::Warn, "ééééé".to_owned());
        assert_eq!(sink.lines()[0].message, "éé…");
    }
}
