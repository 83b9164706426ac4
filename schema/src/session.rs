//! Session settings while this crate runs DDL on a caller's connection, and putting the caller's
//! own values back afterwards (the connection goes back to the caller's pool).
//!
//! - `sql_mode` without the flags that change how statements are quoted or how SHOW CREATE TABLE
//!   prints: `NO_BACKSLASH_ESCAPES` (SHOW CREATE TABLE and `quote_string` write `\\`),
//!   `ANSI_QUOTES`, `NO_*_OPTIONS`, and the compatibility modes that imply them. Everything else
//!   in the caller's mode (strictness above all) is kept, so the workspace and the live database
//!   are built under the same rules.
//! - `lock_wait_timeout` bounded while applying a plan: DDL waits for metadata locks, and the
//!   server's default is a year; a tenant's long transaction must turn into error 1205 (transient,
//!   retried later) instead of a migration that hangs.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::ident::quote_string;

/// `sql_mode` flags removed for the duration.
const STRIPPED_MODES: &[&str] = &[
    "NO_BACKSLASH_ESCAPES",
    "ANSI_QUOTES",
    "ANSI",
    "PIPES_AS_CONCAT",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "ORACLE",
    "MSSQL",
    "DB2",
    "POSTGRESQL",
    "MAXDB",
    "MYSQL323",
    "MYSQL40",
];

/// The caller's settings we changed, to restore.
#[derive(Debug)]
pub(crate) struct Saved {
    sql_mode: Option<String>,
    lock_wait_timeout: Option<u64>,
}

/// `mode` without the stripped flags.
fn cleaned(mode: &str) -> String {
    mode.split(',')
        .filter(|f| !f.is_empty() && !STRIPPED_MODES.iter().any(|s| s.eq_ignore_ascii_case(f)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Puts `conn` in the state DDL rendering needs; `lock_wait_timeout` (seconds) when given.
pub(crate) async fn prepare(
    conn: &mut Conn,
    lock_wait_timeout: Option<u64>,
) -> Result<Saved, mysql_async::Error> {
    let (mode, wait): (String, u64) = conn
        .query_first("SELECT @@SESSION.sql_mode, @@SESSION.lock_wait_timeout")
        .await?
        .unwrap_or_default();
    let mut saved = Saved {
        sql_mode: None,
        lock_wait_timeout: None,
    };
    let clean = cleaned(&mode);
    if clean != mode {
        conn.query_drop(format!("SET SESSION sql_mode = {}", quote_string(&clean)))
            .await?;
        saved.sql_mode = Some(mode);
    }
    if let Some(t) = lock_wait_timeout {
        if t != wait {
            conn.query_drop(format!("SET SESSION lock_wait_timeout = {t}"))
                .await?;
            saved.lock_wait_timeout = Some(wait);
        }
    }
    Ok(saved)
}

/// Puts the caller's settings back.
pub(crate) async fn restore(conn: &mut Conn, saved: Saved) -> Result<(), mysql_async::Error> {
    if let Some(mode) = saved.sql_mode {
        conn.query_drop(format!("SET SESSION sql_mode = {}", quote_string(&mode)))
            .await?;
    }
    if let Some(t) = saved.lock_wait_timeout {
        conn.query_drop(format!("SET SESSION lock_wait_timeout = {t}"))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_quoting_and_printing_flags() {
        assert_eq!(
            cleaned("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES,ANSI_QUOTES,NO_ENGINE_SUBSTITUTION"),
            "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"
        );
        assert_eq!(
            cleaned("REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI"),
            "REAL_AS_FLOAT,IGNORE_SPACE"
        );
        assert_eq!(cleaned(""), "");
        assert_eq!(cleaned("STRICT_ALL_TABLES"), "STRICT_ALL_TABLES");
    }
}
