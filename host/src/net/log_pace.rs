//! Warnings that anyone can cause, paced: at most one line per interval, with the count
//! of those left out since the last line.
//!
//! A refused TLS handshake can come from anyone who reaches the port, a bad frame or a
//! stopped stream from any member, a refused request from any client: one warning each
//! let them fill the node's log (and its disk). The counters in [`super::NetMetrics`]
//! still count every one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Time between two warnings of one kind.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// The pace of one kind of warning.
#[derive(Debug, Default)]
pub struct LogPace {
    state: Mutex<Pace>,
}

#[derive(Debug, Default)]
struct Pace {
    last: Option<Instant>,
    left_out: u64,
}

impl LogPace {
    /// A pace with no warning written yet (for statics).
    pub const fn new() -> Self {
        LogPace {
            state: Mutex::new(Pace {
                last: None,
                left_out: 0,
            }),
        }
    }

    /// Whether a warning may be written at `now`, and how many were left out since the
    /// last one; `None` counts this one as left out.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut pace = match self.state.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        if pace
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < WARN_INTERVAL)
        {
            pace.left_out = pace.left_out.saturating_add(1);
            return None;
        }
        pace.last = Some(now);
        Some(std::mem::take(&mut pace.left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_with_the_count_left_out() {
        let pace = LogPace::default();
        let t0 = Instant::now();
        assert_eq!(pace.allow(t0), Some(0));
        for i in 1..=100u64 {
            assert_eq!(pace.allow(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(pace.allow(t0 + WARN_INTERVAL), Some(100));
        assert_eq!(pace.allow(t0 + WARN_INTERVAL), None);
    }
}
