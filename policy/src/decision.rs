//! The typed outcome of a policy check.

/// What the session must do with a statement the policy accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send `Forward::sql` to the tenant's backend.
    Forward(Forward),
    /// Answer without the backend.
    Local(Local),
}

/// A statement to run on the backend, rendered from the approved (rewritten) syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The rewritten statement text. Re-parsing it gives exactly the approved tree.
    pub sql: String,
    /// What kind of statement it is, so the session can track its own state.
    pub kind: StatementKind,
    /// The result names databases (information_schema, SHOW statements, SHOW CREATE TABLE):
    /// the session maps physical database names in result values back to logical ones.
    pub remap_names: bool,
    /// Running it leaves a user variable on the connection (`SET @x`, `INTO @x`, `@x := ...`):
    /// the session is pinned to that connection. Decided once per statement text, so the
    /// session never re-reads the text.
    pub sets_user_variable: bool,
    /// It may call `LAST_INSERT_ID()`, `ROW_COUNT()` or `FOUND_ROWS()`: the session writes its
    /// own values in before running it (a false positive only costs a parse).
    pub uses_session_values: bool,
    /// A SELECT with `SQL_CALC_FOUND_ROWS`: `FOUND_ROWS()` is left to the connection that ran it.
    pub calc_found_rows: bool,
    /// The tables a query reads (and a writing statement names): what the result cache
    /// checks for writes since an entry was filled. Empty for special and SHOW statements.
    pub reads: std::sync::Arc<[TableRef]>,
    /// The tables an INSERT/UPDATE/DELETE/REPLACE may change (every table it names): the
    /// result cache drops entries that read them.
    pub writes: std::sync::Arc<[TableRef]>,
    /// A plain SELECT whose result depends only on its text, the replayed session state and
    /// the rows of `reads` (see the policy's `footprint` pass): the result cache may reuse it.
    pub cacheable: bool,
    /// The digest of the tenant's own text (logical names, literals as `?`), for per-statement
    /// statistics. Computed once per distinct text by `check` from the tokens it already has;
    /// shared, so executions only clone the pointer.
    pub digest: std::sync::Arc<crate::Digest>,
}

/// A table as the rendered statement names it: physical database and table name, both lower
/// case (so a write to `T` drops entries that read `t` whatever `lower_case_table_names` is:
/// at worst an early invalidation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    pub db: String,
    pub table: String,
}

impl TableRef {
    pub fn new(db: &str, table: &str) -> Self {
        TableRef {
            db: db.to_ascii_lowercase(),
            table: table.to_ascii_lowercase(),
        }
    }
}

impl Forward {
    /// A statement to forward as it is; what the policy learns about it from the tree is
    /// added by the caller that has the tree. The session facts (user variables, session-value
    /// functions, SQL_CALC_FOUND_ROWS) are read from the rendered text here, once per distinct
    /// statement (decisions are cached), instead of on every execution.
    pub fn new(sql: String, kind: StatementKind, remap_names: bool) -> Self {
        let facts = crate::session_values::TextFacts::of_text(&sql);
        Self::with_facts(sql, kind, remap_names, facts)
    }

    /// [`Forward::new`] with the session-value facts already read (from the statement's
    /// tokens, which `check` has in hand: cheaper than scanning the text again).
    pub(crate) fn with_facts(
        sql: String,
        kind: StatementKind,
        remap_names: bool,
        facts: crate::session_values::TextFacts,
    ) -> Self {
        let sets_user_variable = crate::session_values::sets_user_variable(&sql);
        let uses_session_values = facts.session_function;
        let calc_found_rows = facts.calc_found_rows;
        Forward {
            sql,
            kind,
            remap_names,
            sets_user_variable,
            uses_session_values,
            calc_found_rows,
            reads: std::sync::Arc::default(),
            writes: std::sync::Arc::default(),
            cacheable: false,
            // `check` replaces it with the digest of the tenant's text, which only it has.
            digest: crate::digest::Digest::unset(),
        }
    }
}

/// The kinds of forwarded statements the session tracks state for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    /// BEGIN / START TRANSACTION (any modifiers).
    Begin,
    /// COMMIT (without RELEASE / AND CHAIN variants changing that).
    Commit,
    /// ROLLBACK (not ROLLBACK TO SAVEPOINT).
    Rollback,
    /// `SET autocommit = 0|1` (also `@@autocommit`, `@@session.autocommit`, ON/OFF, TRUE/FALSE).
    SetAutocommit(bool),
    /// `SET NAMES charset [COLLATE collation]` / `SET CHARACTER SET charset`.
    SetNames {
        charset: String,
        collation: Option<String>,
    },
    /// Any other allowed SET of a session variable (the session pins its backend connection).
    SetSession,
    /// SHOW WARNINGS / SHOW ERRORS / SHOW COUNT(*) WARNINGS: must run on the connection that ran
    /// the previous statement.
    ShowWarnings,
    /// Anything else that is forwarded (savepoints, SHOW/DESCRIBE of own tables...).
    Other,
}

/// Answers the session gives itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// `USE db`: switch the session's current logical database (already checked to be the
    /// tenant's own).
    Use(String),
    /// `SHOW DATABASES [LIKE 'pattern']` / `SHOW SCHEMAS`: the tenant's logical databases,
    /// filtered with the LIKE pattern (MySQL LIKE semantics, case-insensitive) when given.
    ShowDatabases { like: Option<String> },
}

/// A refused statement: the MySQL error the client receives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({sqlstate}): {message}")]
pub struct Refusal {
    pub code: u16,
    pub sqlstate: &'static str,
    pub message: String,
}

impl Refusal {
    /// 1227 (42000): a statement kind OctoDB does not let through.
    pub fn not_allowed(what: &str) -> Self {
        Refusal {
            code: 1227,
            sqlstate: "42000",
            message: format!(
                "{what} is not allowed through OctoDB: only single SELECT, INSERT, UPDATE, DELETE \
                 and session statements are"
            ),
        }
    }

    /// 1044 (42000): a database that is not one of the tenant's.
    pub fn database(user: &str, db: &str) -> Self {
        Refusal {
            code: 1044,
            sqlstate: "42000",
            message: format!("Access denied for user '{user}' to database '{db}'"),
        }
    }

    /// 1064 (42000): the statement does not parse.
    pub fn syntax(detail: &str) -> Self {
        Refusal {
            code: 1064,
            sqlstate: "42000",
            message: format!("You have an error in your SQL syntax: {detail}"),
        }
    }

    /// 1227 (42000) with a specific message: something inside an otherwise allowed statement
    /// (a function, a SET value, a construct) that OctoDB does not let through.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Refusal {
            code: 1227,
            sqlstate: "42000",
            message: message.into(),
        }
    }

    /// 1227 (42000): a construct inside an otherwise allowed statement (a function, a clause, a
    /// kind of table reference), named by `what`.
    pub fn forbidden_construct(what: &str) -> Self {
        Self::forbidden(format!("{what} is not allowed through OctoDB"))
    }

    /// 1227 (42000): more than one statement in one COM_QUERY / COM_STMT_PREPARE.
    pub fn multiple_statements() -> Self {
        Self::forbidden(
            "multiple statements are not allowed through OctoDB: send one statement at a time",
        )
    }

    /// 1227 (42000): MariaDB/MySQL executable comments (`/*! */`, `/*M! */`).
    pub fn executable_comment() -> Self {
        Self::forbidden(
            "executable comments (/*! ... */, /*M! ... */) are not allowed through OctoDB: \
             write the statement without them",
        )
    }

    /// 1227 (42000): the approved tree does not survive rendering back to SQL unchanged, so
    /// nothing is forwarded.
    pub fn unsafe_render() -> Self {
        Self::forbidden(
            "statement cannot be rendered safely by OctoDB: it was not forwarded (try writing \
             string literals or identifiers differently)",
        )
    }

    /// The same refusal with another MySQL error code (same SQLSTATE).
    pub fn with_code(mut self, code: u16) -> Self {
        self.code = code;
        self
    }

    /// 1046 (3D000): an unqualified table with no current database.
    pub fn no_database() -> Self {
        Refusal {
            code: 1046,
            sqlstate: "3D000",
            message: "No database selected".to_string(),
        }
    }
}
