//! The `log` host interface: a bounded per-call log sink.
//!
//! # Determinism
//! Logging never influences a result: the guest gets nothing back. The sink keeps at most
//! `max_log_lines` lines of at most `max_log_line_bytes` bytes each and counts the rest, so a
//! chatty or hostile module cannot exhaust host memory through its log.
//!
//! # Pace
//! What reaches the node's log is paced across calls as well ([`LogPace`], shared by every
//! call of a runtime): a module called for every operation of a busy cluster would
//! otherwise write its per-call cap thousands of times a second (64 MB/s of log at the
//! defaults). Lines past the pace stay in the call's report and are counted in a summary
//! line when the pace allows the next one.

use std::sync::Mutex;
use std::time::Instant;

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

/// A token bucket for module lines written to the node's log: `per_second` lines a second
/// on average, bursts of up to [`LogPace::BURST_SECONDS`] seconds' worth.
#[derive(Debug)]
pub struct LogPace {
    per_second: u32,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    tokens: f64,
    last: Option<Instant>,
    suppressed: u64,
}

/// Whether a line may be written now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paced {
    /// Write it; `suppressed` lines were held back since the last written one.
    Write {
        /// Lines held back before this one.
        suppressed: u64,
    },
    /// Over the pace: counted, not written.
    Hold,
}

impl LogPace {
    /// How many seconds of lines a burst may hold.
    pub const BURST_SECONDS: u32 = 10;

    /// A pace of `per_second` lines (0: none), starting with a full burst.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            state: Mutex::new(PaceState {
                tokens: f64::from(per_second) * f64::from(Self::BURST_SECONDS),
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// Whether one line may be written at `now`.
    pub fn admit(&self, now: Instant) -> Paced {
        let Ok(mut state) = self.state.lock() else {
            return Paced::Hold; // poisoned by a panic elsewhere: write nothing more
        };
        let rate = f64::from(self.per_second);
        if let Some(last) = state.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            state.tokens =
                (state.tokens + elapsed * rate).min(rate * f64::from(Self::BURST_SECONDS));
        }
        state.last = Some(now);
        if state.tokens < 1.0 {
            state.suppressed = state.suppressed.saturating_add(1);
            return Paced::Hold;
        }
        state.tokens -= 1.0;
        Paced::Write {
            suppressed: std::mem::take(&mut state.suppressed),
        }
    }
}

impl Host for HostState {
    /// Charged like every host import; truncated and capped *before* anything reaches the
    /// node's log, so a chatty module writes at most `max_log_lines` lines of at most
    /// `max_log_line_bytes` bytes per call there, and all calls together at most the pace.
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.charge(message.len())?;
        let Some(message) = self.log.push(level, message) else {
            return Ok(());
        };
        let module = self.module;
        if let Some(pace) = &self.pace {
            match pace.admit(Instant::now()) {
                Paced::Hold => return Ok(()),
                Paced::Write { suppressed: 0 } => {}
                Paced::Write { suppressed } => {
                    tracing::warn!(target: "spore::module", suppressed, "module log lines held back by the log pace");
                }
            }
        }
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

    /// Lines over the pace are held and counted, whatever the number of calls they come
    /// from; the next line the refilled bucket admits reports how many were held
    /// (control: a pace of 0 writes nothing, a fresh pace writes its burst at once).
    #[test]
    fn the_log_pace_holds_lines_over_the_rate_across_calls() {
        let pace = LogPace::new(2);
        let start = Instant::now();
        let burst = 2 * LogPace::BURST_SECONDS as usize;
        let written = (0..burst + 30)
            .filter(|_| matches!(pace.admit(start), Paced::Write { .. }))
            .count();
        assert_eq!(written, burst);
        // Half a second later one token has come back: the line reports the 30 held.
        let later = start + std::time::Duration::from_millis(500);
        assert_eq!(pace.admit(later), Paced::Write { suppressed: 30 });
        assert_eq!(pace.admit(later), Paced::Hold);
        // A long pause refills no more than the burst.
        let much_later = later + std::time::Duration::from_secs(3600);
        let refilled = (0..burst * 3)
            .filter(|_| matches!(pace.admit(much_later), Paced::Write { .. }))
            .count();
        assert_eq!(refilled, burst);
        let silent = LogPace::new(0);
        assert_eq!(silent.admit(start), Paced::Hold);
    }

    #[test]
    fn truncates_long_lines_at_a_character_boundary() {
        let mut sink = LogSink::new(4, 5);
        sink.push(Level::Warn, "ééééé".to_owned());
        assert_eq!(sink.lines()[0].message, "éé…");
    }
}
