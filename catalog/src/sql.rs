//! Quoting for the few statements that cannot take placeholders (DDL, account management).
//! Inputs are validated names or generated passwords; quoting is the second line of defence.

use mysql_async::prelude::FromValue;
use mysql_async::Row;

use crate::CatalogError;

/// A backtick-quoted identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A single-quoted string literal, correct with and without `NO_BACKSLASH_ESCAPES` for inputs
/// without backslashes (rejected: none of our literals need one).
pub(crate) fn literal(value: &str) -> Result<String, CatalogError> {
    if value.contains('\\') || value.contains('\0') {
        return Err(CatalogError::Invalid(
            "backslashes and NUL are not allowed here".to_string(),
        ));
    }
    Ok(format!("'{}'", value.replace('\'', "''")))
}

/// A database name for `GRANT ... ON <db>.*`, where `_` and `%` are wildcards: escaped so the
/// grant covers exactly this database. (Unescaped, `t_a_b__c` would also match tenant `axb`'s
/// `t_axb__c`.)
pub(crate) fn grant_db(name: &str) -> String {
    let escaped = name
        .replace('\\', "\\\\")
        .replace('_', "\\_")
        .replace('%', "\\%");
    ident(&escaped)
}

/// `'user'@'host'`.
pub(crate) fn account(user: &str, host: &str) -> Result<String, CatalogError> {
    Ok(format!("{}@{}", literal(user)?, literal(host)?))
}

/// Column `idx` of `row` as `T`, or a `Corrupt` error naming the column.
pub(crate) fn take<T: FromValue>(row: &mut Row, idx: usize, what: &str) -> Result<T, CatalogError> {
    match row.take_opt::<T, usize>(idx) {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(CatalogError::Corrupt(format!("{what}: {e}"))),
        None => Err(CatalogError::Corrupt(format!("{what}: missing column"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(literal("it's").unwrap(), "'it''s'");
        assert!(literal("a\\b").is_err());
        assert_eq!(grant_db("t_a_b__c"), "`t\\_a\\_b\\_\\_c`");
        assert_eq!(account("t_demo", "%").unwrap(), "'t_demo'@'%'");
    }
}
