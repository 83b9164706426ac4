//! The session's own view of its transaction state, for the status flags of every OK and EOF
//! packet the proxy sends.
//!
//! The server's flags, when the backend reports them, are the truth (they also cover a
//! deadlock rolling a transaction back); between statements, and for statements answered by
//! the proxy itself, the session derives the state from the statements it forwarded: BEGIN and
//! START TRANSACTION open a transaction, COMMIT and ROLLBACK close it, `SET autocommit = 1`
//! commits, and with autocommit off any statement opens one.

use mysql_common::constants::StatusFlags;
use octodb_policy::StatementKind;

/// Transaction and autocommit state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxState {
    pub autocommit: bool,
    pub in_transaction: bool,
}

impl Default for TxState {
    fn default() -> Self {
        TxState {
            autocommit: true,
            in_transaction: false,
        }
    }
}

impl TxState {
    /// The state after `kind` ran successfully.
    pub fn after(self, kind: &StatementKind) -> TxState {
        let mut s = self;
        match kind {
            StatementKind::Begin => s.in_transaction = true,
            StatementKind::Commit | StatementKind::Rollback => s.in_transaction = false,
            StatementKind::SetAutocommit(on) => {
                s.autocommit = *on;
                if *on {
                    // Switching autocommit on commits the open transaction.
                    s.in_transaction = false;
                }
            }
            StatementKind::Select
            | StatementKind::Insert
            | StatementKind::Update
            | StatementKind::Delete => {
                if !s.autocommit {
                    s.in_transaction = true;
                }
            }
            StatementKind::SetNames { .. }
            | StatementKind::SetSession
            | StatementKind::ShowWarnings
            | StatementKind::Other => {}
        }
        s
    }

    /// The state after a statement failed with server error `code`: a deadlock (1213) rolls
    /// the whole transaction back; other errors leave it as it was.
    pub fn after_error(self, code: u16) -> TxState {
        let mut s = self;
        if code == 1213 {
            s.in_transaction = false;
        }
        s
    }

    /// Adopts the server's view.
    pub fn sync(&mut self, server: StatusFlags) {
        self.autocommit = server.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT);
        self.in_transaction = server.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
    }

    /// Status flags for packets the proxy writes.
    pub fn flags(self) -> StatusFlags {
        let mut f = StatusFlags::empty();
        if self.autocommit {
            f |= StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        }
        if self.in_transaction {
            f |= StatusFlags::SERVER_STATUS_IN_TRANS;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kinds: &[StatementKind]) -> TxState {
        kinds.iter().fold(TxState::default(), |s, k| s.after(k))
    }

    #[test]
    fn begin_commit_rollback() {
        use StatementKind::*;
        assert!(run(&[Begin]).in_transaction);
        assert!(run(&[Begin, Insert]).in_transaction);
        assert!(!run(&[Begin, Insert, Commit]).in_transaction);
        assert!(!run(&[Begin, Update, Rollback]).in_transaction);
        assert!(!run(&[Insert, Select]).in_transaction);
    }

    #[test]
    fn autocommit_off_opens_transactions_and_on_commits() {
        use StatementKind::*;
        let s = run(&[SetAutocommit(false)]);
        assert!(!s.autocommit && !s.in_transaction);
        assert!(run(&[SetAutocommit(false), Select]).in_transaction);
        assert!(!run(&[SetAutocommit(false), Insert, Commit]).in_transaction);
        assert!(run(&[SetAutocommit(false), Insert, Commit, Delete]).in_transaction);
        let s = run(&[SetAutocommit(false), Insert, SetAutocommit(true)]);
        assert!(s.autocommit && !s.in_transaction);
        // Savepoints and SET NAMES change nothing.
        assert!(
            !run(&[
                Other,
                SetNames {
                    charset: "utf8mb4".into(),
                    collation: None
                }
            ])
            .in_transaction
        );
    }

    #[test]
    fn deadlock_ends_the_transaction_and_flags_follow() {
        let s = TxState::default().after(&StatementKind::Begin);
        assert_eq!(
            s.flags(),
            StatusFlags::SERVER_STATUS_AUTOCOMMIT | StatusFlags::SERVER_STATUS_IN_TRANS
        );
        assert!(s.after_error(1062).in_transaction);
        assert!(!s.after_error(1213).in_transaction);
        let mut t = TxState::default();
        t.sync(StatusFlags::SERVER_STATUS_IN_TRANS);
        assert!(!t.autocommit && t.in_transaction);
    }
}
