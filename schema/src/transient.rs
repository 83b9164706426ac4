//! Which backend errors are worth retrying. One table, pinned by a test, used by every error type
//! of this crate: a rollout retries transient failures through the job queue (with backoff) and
//! restores the snapshot after permanent ones.

use mysql_async::{DriverError, Error};

/// Server error codes that say "try again later", not "this statement is wrong".
pub const TRANSIENT_CODES: &[(u16, &str)] = &[
    (1040, "ER_CON_COUNT_ERROR: too many connections"),
    (1053, "ER_SERVER_SHUTDOWN: server shutdown in progress"),
    (
        1205,
        "ER_LOCK_WAIT_TIMEOUT: lock wait timeout (also metadata locks held by a tenant)",
    ),
    (1213, "ER_LOCK_DEADLOCK: deadlock"),
    (1158, "ER_NET_READ_ERROR"),
    (1159, "ER_NET_READ_INTERRUPTED"),
    (1160, "ER_NET_ERROR_ON_WRITE"),
    (1161, "ER_NET_WRITE_INTERRUPTED"),
    (1927, "ER_CONNECTION_KILLED"),
    (2006, "CR_SERVER_GONE_ERROR: server has gone away"),
    (2013, "CR_SERVER_LOST: lost connection during query"),
];

/// Whether `code` is in [`TRANSIENT_CODES`].
pub fn is_transient_code(code: u16) -> bool {
    TRANSIENT_CODES.iter().any(|(c, _)| *c == code)
}

/// Whether retrying after `e` may succeed: a transient server error, or the connection itself
/// failing (I/O errors, a closed connection, a pool shut down under us).
pub fn is_transient(e: &Error) -> bool {
    match e {
        Error::Server(s) => is_transient_code(s.code),
        Error::Io(_) => true,
        Error::Driver(d) => matches!(
            d,
            DriverError::ConnectionClosed | DriverError::PoolDisconnected
        ),
        Error::Other(_) | Error::Url(_) => false,
    }
}

/// The server error code, if `e` is a server error.
pub fn server_code(e: &Error) -> Option<u16> {
    match e {
        Error::Server(s) => Some(s.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::ServerError;

    fn server(code: u16) -> Error {
        Error::Server(ServerError {
            code,
            message: "m".into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn the_transient_table_is_pinned() {
        let codes: Vec<u16> = TRANSIENT_CODES.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            codes,
            [1040, 1053, 1205, 1213, 1158, 1159, 1160, 1161, 1927, 2006, 2013]
        );
    }

    #[test]
    fn classifies_errors() {
        for code in [1205, 1213, 2006, 2013] {
            assert!(is_transient(&server(code)), "{code}");
        }
        // Syntax, duplicate column, data truncated, unknown table, FK errors: permanent.
        for code in [1064, 1060, 1265, 1146, 1215, 1553, 1091] {
            assert!(!is_transient(&server(code)), "{code}");
        }
        assert!(is_transient(&Error::Driver(DriverError::ConnectionClosed)));
        assert!(!is_transient(&Error::Driver(DriverError::MixedParams)));
        assert_eq!(server_code(&server(1205)), Some(1205));
        assert_eq!(
            server_code(&Error::Driver(DriverError::ConnectionClosed)),
            None
        );
    }
}
