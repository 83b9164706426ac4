//! Why sessions hold on to a backend connection between statements, and how many do.
//!
//! A pinned session keeps its connection until the state that cannot move is cleared; the
//! counts are the `octodb_proxy_pinned_sessions{reason}` gauge, kept here too so that tests and
//! the admin can read them without a metrics recorder.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::metrics;

/// A reason to keep a backend connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinReason {
    /// An open transaction (BEGIN, or autocommit off with statements run).
    Transaction,
    /// User variables (`SET @x`, `INTO @x`, `@x :=`) live on the connection.
    UserVariables,
    /// `SQL_CALC_FOUND_ROWS`: FOUND_ROWS() is known only to that connection, until the next
    /// statement.
    FoundRows,
    /// The statement left warnings, which SHOW WARNINGS reads from that connection, until the
    /// next statement.
    Warnings,
    /// A `SET` the session could not record for replay.
    SessionState,
    /// Multiplexing is off: the session keeps its connection for its whole life.
    Disabled,
}

impl PinReason {
    pub const ALL: [PinReason; 6] = [
        PinReason::Transaction,
        PinReason::UserVariables,
        PinReason::FoundRows,
        PinReason::Warnings,
        PinReason::SessionState,
        PinReason::Disabled,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            PinReason::Transaction => "transaction",
            PinReason::UserVariables => "user_variables",
            PinReason::FoundRows => "found_rows",
            PinReason::Warnings => "warnings",
            PinReason::SessionState => "session_state",
            PinReason::Disabled => "multiplexing_off",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Whether the connection must be reset (or closed) before another session may use it.
    pub fn dirties(self) -> bool {
        matches!(
            self,
            PinReason::Transaction
                | PinReason::UserVariables
                | PinReason::SessionState
                | PinReason::Disabled
        )
    }
}

/// A set of reasons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pins(u8);

impl Pins {
    pub fn with(self, r: PinReason, on: bool) -> Pins {
        if on {
            Pins(self.0 | r.bit())
        } else {
            Pins(self.0 & !r.bit())
        }
    }

    pub fn has(self, r: PinReason) -> bool {
        self.0 & r.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether another session must not get the connection as it is.
    pub fn dirty(self) -> bool {
        PinReason::ALL.iter().any(|r| r.dirties() && self.has(*r))
    }
}

/// Pinned sessions per reason (a session pinned for two reasons counts under both).
#[derive(Debug, Default)]
pub struct PinCounts {
    counts: [AtomicI64; 6],
}

impl PinCounts {
    /// Moves a session from pins `from` to pins `to`.
    pub fn change(&self, from: Pins, to: Pins) {
        if from == to {
            return;
        }
        for r in PinReason::ALL {
            let delta = i64::from(to.has(r)) - i64::from(from.has(r));
            if delta != 0 {
                let n = self.counts[r as usize].fetch_add(delta, Ordering::Relaxed) + delta;
                metrics::pinned_sessions(r.label(), n);
            }
        }
    }

    /// Sessions currently pinned for `r`.
    pub fn get(&self, r: PinReason) -> i64 {
        self.counts[r as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_changes() {
        let c = PinCounts::default();
        let a = Pins::default().with(PinReason::Transaction, true);
        let b = a.with(PinReason::UserVariables, true);
        c.change(Pins::default(), a);
        c.change(Pins::default(), b);
        assert_eq!(c.get(PinReason::Transaction), 2);
        assert_eq!(c.get(PinReason::UserVariables), 1);
        c.change(b, b.with(PinReason::Transaction, false));
        assert_eq!(c.get(PinReason::Transaction), 1);
        assert!(b.dirty());
        assert!(!Pins::default().with(PinReason::Warnings, true).dirty());
        assert!(Pins::default().is_empty());
    }
}
