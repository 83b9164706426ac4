//! What a forwarded statement reads and writes, and whether its result may be reused.
//!
//! Guards against a result cache serving what MySQL would not answer now: the proxy's result
//! cache (opt-in per tenant) keys an entry by the rendered text and drops it when the tenant
//! writes to a table the statement read, so it needs the tables, and it must never reuse the
//! result of a statement whose answer depends on more than its text, the session state the
//! proxy replays and the rows of those tables: the clock (`NOW()`), chance (`RAND()`,
//! `UUID()`), the connection (`CONNECTION_ID()`, `LAST_INSERT_ID()`, `FOUND_ROWS()`), user
//! and system variables (`@x`, `@@x`), locking reads (`FOR UPDATE`, `LOCK IN SHARE MODE`),
//! side effects (`INTO`, `SQL_CALC_FOUND_ROWS`) and the catalog (information_schema).
//!
//! Functions are allowed by name from [`DETERMINISTIC`]; any other function makes the statement
//! not cacheable, so a function this list forgets costs a cache miss, never a wrong answer.
//!
//! Runs on the rewritten tree: every table reference is then `<physical db>.<table>`, except
//! CTE names and `DUAL`, which are not tables.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FromTable, ObjectName, ObjectNamePart, Query, Select, Statement, TableFactor, Visit,
    Visitor,
};

use crate::decision::TableRef;

/// Functions whose value depends only on their arguments and the session state the proxy
/// replays on every connection (time zone, sql_mode, character sets, lc_time_names...).
/// Upper case.
#[rustfmt::skip]
const DETERMINISTIC: &[&str] = &[
    // Aggregates and window functions.
    "COUNT", "SUM", "AVG", "MIN", "MAX", "GROUP_CONCAT", "BIT_AND", "BIT_OR", "BIT_XOR", "STD",
    "STDDEV", "STDDEV_POP", "STDDEV_SAMP", "VARIANCE", "VAR_POP", "VAR_SAMP", "JSON_ARRAYAGG",
    "JSON_OBJECTAGG", "ROW_NUMBER", "RANK", "DENSE_RANK", "PERCENT_RANK", "CUME_DIST", "NTILE",
    "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE", "NTH_VALUE",
    // Control flow.
    "IF", "IFNULL", "NULLIF", "COALESCE", "GREATEST", "LEAST", "ISNULL", "NVL", "NVL2",
    // Strings.
    "CONCAT", "CONCAT_WS", "LENGTH", "CHAR_LENGTH", "CHARACTER_LENGTH", "OCTET_LENGTH",
    "BIT_LENGTH", "LOWER", "LCASE", "UPPER", "UCASE", "SUBSTRING", "SUBSTR", "MID", "LEFT",
    "RIGHT", "TRIM", "LTRIM", "RTRIM", "LPAD", "RPAD", "REPLACE", "REVERSE", "REPEAT", "SPACE",
    "INSTR", "LOCATE", "POSITION", "FIELD", "FIND_IN_SET", "ELT", "ASCII", "ORD", "CHAR", "HEX",
    "UNHEX", "QUOTE", "SOUNDEX", "STRCMP", "SUBSTRING_INDEX", "INSERT", "MAKE_SET",
    "EXPORT_SET", "TO_BASE64", "FROM_BASE64", "BIN", "OCT", "CONV", "REGEXP_REPLACE",
    "REGEXP_SUBSTR", "REGEXP_INSTR", "REGEXP_LIKE",
    // Numbers.
    "ABS", "CEIL", "CEILING", "FLOOR", "ROUND", "TRUNCATE", "MOD", "POW", "POWER", "SQRT", "EXP",
    "LN", "LOG", "LOG2", "LOG10", "SIGN", "PI", "SIN", "COS", "TAN", "ASIN", "ACOS", "ATAN",
    "ATAN2", "COT", "DEGREES", "RADIANS", "CRC32", "BIT_COUNT", "MD5", "SHA1", "SHA", "SHA2",
    "INET_ATON", "INET_NTOA",
    // Dates and times computed from their arguments (never from the clock).
    "DATE", "TIME", "YEAR", "MONTH", "DAY", "DAYOFMONTH", "DAYOFWEEK", "DAYOFYEAR", "WEEKDAY",
    "WEEK", "WEEKOFYEAR", "YEARWEEK", "QUARTER", "HOUR", "MINUTE", "SECOND", "MICROSECOND",
    "DATE_ADD", "DATE_SUB", "ADDDATE", "SUBDATE", "ADDTIME", "SUBTIME", "DATEDIFF", "TIMEDIFF",
    "TIMESTAMPDIFF", "TIMESTAMPADD", "DATE_FORMAT", "TIME_FORMAT", "STR_TO_DATE", "MAKEDATE",
    "MAKETIME", "LAST_DAY", "TO_DAYS", "FROM_DAYS", "DAYNAME", "MONTHNAME", "PERIOD_ADD",
    "PERIOD_DIFF", "SEC_TO_TIME", "TIME_TO_SEC", "TIMESTAMP", "FROM_UNIXTIME", "CONVERT_TZ",
    // JSON.
    "JSON_EXTRACT", "JSON_UNQUOTE", "JSON_OBJECT", "JSON_ARRAY", "JSON_CONTAINS",
    "JSON_CONTAINS_PATH", "JSON_LENGTH", "JSON_KEYS", "JSON_VALUE", "JSON_QUOTE", "JSON_TYPE",
    "JSON_VALID", "JSON_DEPTH", "JSON_SEARCH",
];

/// The tables a statement names and whether its result may be cached.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Footprint {
    pub reads: Vec<TableRef>,
    pub writes: Vec<TableRef>,
    pub cacheable: bool,
}

struct Walk {
    tables: Vec<TableRef>,
    /// Something seen makes the result unfit for reuse.
    volatile: bool,
}

impl Walk {
    fn table(&mut self, name: &ObjectName) {
        let parts: Vec<&str> = name
            .0
            .iter()
            .filter_map(ObjectNamePart::as_ident)
            .map(|i| i.value.as_str())
            .collect();
        match parts.as_slice() {
            [db, table] if parts.len() == name.0.len() => {
                if db.eq_ignore_ascii_case("information_schema") {
                    self.volatile = true;
                }
                let t = TableRef::new(db, table);
                if !self.tables.contains(&t) {
                    self.tables.push(t);
                }
            }
            // A CTE name or DUAL (the rewrite qualified every real table).
            [_] if parts.len() == name.0.len() => {}
            _ => self.volatile = true,
        }
    }

    fn tables_of(&mut self, tables: &[sqlparser::ast::TableWithJoins]) {
        for t in tables {
            for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
                if let TableFactor::Table { name, .. } = factor {
                    self.table(name);
                }
            }
        }
    }
}

/// Whether `expr` reads a variable or calls a function not in [`DETERMINISTIC`].
fn volatile_expr(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(i) => i.quote_style.is_none() && i.value.starts_with('@'),
        Expr::CompoundIdentifier(parts) => parts
            .first()
            .is_some_and(|i| i.quote_style.is_none() && i.value.starts_with('@')),
        Expr::Function(f) => match f.name.0.as_slice() {
            [part] => part.as_ident().is_none_or(|name| {
                name.quote_style.is_some()
                    || !DETERMINISTIC
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(&name.value))
            }),
            _ => true,
        },
        _ => false,
    }
}

impl Visitor for Walk {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if !query.locks.is_empty() {
            self.volatile = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        let calc = select
            .select_modifiers
            .as_ref()
            .is_some_and(|m| m.sql_calc_found_rows);
        if select.into.is_some() || calc {
            self.volatile = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.table(relation);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if volatile_expr(expr) {
            self.volatile = true;
        }
        ControlFlow::Continue(())
    }
}

/// The footprint of a rewritten statement. `share_lock`: a `LOCK IN SHARE MODE` / `FOR SHARE`
/// was taken out of the tree (it is appended to the text). Writes list every table a writing
/// statement names (`INSERT ... SELECT` sources too): over-counting only costs an early
/// invalidation.
pub(crate) fn of(stmt: &Statement, share_lock: bool) -> Footprint {
    let mut walk = Walk {
        tables: Vec::new(),
        volatile: share_lock,
    };
    let _ = stmt.visit(&mut walk);
    match stmt {
        Statement::Query(_) => Footprint {
            cacheable: !walk.volatile && !walk.tables.is_empty(),
            reads: walk.tables,
            writes: Vec::new(),
        },
        Statement::Insert(_) | Statement::Update(_) => Footprint {
            reads: walk.tables.clone(),
            writes: walk.tables,
            cacheable: false,
        },
        Statement::Delete(d) => {
            for t in &d.tables {
                walk.table(t);
            }
            match &d.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => walk.tables_of(t),
            }
            if let Some(using) = &d.using {
                walk.tables_of(using);
            }
            Footprint {
                reads: walk.tables.clone(),
                writes: walk.tables,
                cacheable: false,
            }
        }
        _ => Footprint::default(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{check, Decision, Forward, Mapping, SessionContext, TableRef};

    fn forward(sql: &str) -> Forward {
        let mut mapping = Mapping::default();
        mapping.databases.insert("app".into(), "t_1__app".into());
        mapping
            .databases
            .insert("other".into(), "t_1__other".into());
        let ctx = SessionContext {
            mapping: &mapping,
            current_db: Some("app"),
            user: "u",
        };
        match check(sql, &ctx, false) {
            Ok(Decision::Forward(f)) => f,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn t(db: &str, table: &str) -> TableRef {
        TableRef::new(db, table)
    }

    #[test]
    fn plain_selects_are_cacheable_with_their_tables() {
        let f = forward("SELECT a, COUNT(*) FROM t JOIN other.u ON t.id = u.id GROUP BY a");
        assert!(f.cacheable);
        assert_eq!(*f.reads, [t("t_1__app", "t"), t("t_1__other", "u")]);
        assert!(f.writes.is_empty());
        let f = forward(
            "WITH c AS (SELECT id FROM T WHERE id IN (SELECT id FROM v)) \
             SELECT UPPER(name), DATE_FORMAT(d, '%Y') FROM c, w",
        );
        assert!(f.cacheable);
        // Table names are compared case-insensitively (lower_case_table_names may be on).
        assert_eq!(
            *f.reads,
            [t("t_1__app", "t"), t("t_1__app", "v"), t("t_1__app", "w")]
        );
    }

    #[test]
    fn volatile_selects_are_not() {
        for sql in [
            "SELECT NOW(), a FROM t",
            "SELECT a FROM t WHERE d < CURRENT_TIMESTAMP",
            "SELECT RAND() FROM t",
            "SELECT UUID(), a FROM t",
            "SELECT CONNECTION_ID() FROM t",
            "SELECT a FROM t WHERE id = LAST_INSERT_ID()",
            "SELECT a FROM t WHERE id = @x",
            "SELECT @@sql_mode, a FROM t",
            "SELECT a FROM t FOR UPDATE",
            "SELECT a FROM t LOCK IN SHARE MODE",
            "SELECT a FROM t FOR SHARE",
            "SELECT SQL_CALC_FOUND_ROWS a FROM t LIMIT 1",
            "SELECT a INTO @v FROM t",
            "SELECT table_name FROM information_schema.tables",
            "SELECT my_function(a) FROM t",
            "SELECT a FROM t WHERE b IN (SELECT UNIX_TIMESTAMP() FROM u)",
            "SELECT 1",
            "SELECT DATABASE()",
        ] {
            assert!(!forward(sql).cacheable, "{sql}");
        }
    }

    #[test]
    fn writes_name_their_tables() {
        let f = forward("INSERT INTO t (a) SELECT b FROM other.u");
        assert!(!f.cacheable);
        assert_eq!(*f.writes, [t("t_1__app", "t"), t("t_1__other", "u")]);
        let f = forward("UPDATE t JOIN u ON t.id = u.id SET t.a = 1");
        assert_eq!(*f.writes, [t("t_1__app", "t"), t("t_1__app", "u")]);
        let f = forward("DELETE t1 FROM t AS t1 JOIN u ON t1.id = u.id");
        assert_eq!(*f.writes, [t("t_1__app", "t"), t("t_1__app", "u")]);
        let f = forward("DELETE FROM t WHERE id = 1");
        assert_eq!(*f.writes, [t("t_1__app", "t")]);
        let f = forward("REPLACE INTO other.x VALUES (1)");
        assert_eq!(*f.writes, [t("t_1__other", "x")]);
    }

    #[test]
    fn session_statements_name_nothing() {
        for sql in [
            "BEGIN",
            "COMMIT",
            "SET NAMES utf8mb4",
            "SHOW TABLES",
            "SAVEPOINT s",
        ] {
            let f = forward(sql);
            assert!(
                !f.cacheable && f.reads.is_empty() && f.writes.is_empty(),
                "{sql}"
            );
        }
    }
}
