//! The statement allow-list: which statement kinds may reach a tenant's backend at all.
//!
//! Guards against everything MySQL can do beyond reading and writing rows of the tenant's own
//! tables: DDL, privileges, server administration, file access (LOAD DATA), stored programs
//! (CALL), server-side prepared statements by SQL (PREPARE/EXECUTE), locks held across
//! connections (LOCK TABLES), and transaction forms the session cannot track (`AND CHAIN`).

use sqlparser::ast::{Statement, TransactionMode, Use};

use crate::{set, show, Local, Refusal, SessionContext, StatementKind};

/// What the allow-list decided for a parsed statement.
#[derive(Debug)]
pub(crate) enum Classified {
    /// Forward after rewriting and rendering; `remap_names` as in [`crate::Forward`].
    Forward {
        kind: StatementKind,
        remap_names: bool,
    },
    /// Answer locally.
    Local(Local),
}

/// Classifies `stmt`, or refuses it with 1227 naming its kind.
pub(crate) fn classify(stmt: &Statement, ctx: &SessionContext<'_>) -> Result<Classified, Refusal> {
    let fwd = |kind| Classified::Forward {
        kind,
        remap_names: false,
    };
    if let Some(shown) = show::classify(stmt) {
        return shown;
    }
    match stmt {
        Statement::Query(_) => Ok(fwd(StatementKind::Select)),
        Statement::Insert(_) => Ok(fwd(StatementKind::Insert)),
        Statement::Update(_) => Ok(fwd(StatementKind::Update)),
        Statement::Delete(_) => Ok(fwd(StatementKind::Delete)),
        Statement::StartTransaction {
            modes,
            modifier: None,
            statements,
            exception: None,
            has_end_keyword: false,
            ..
        } if statements.is_empty()
            && modes
                .iter()
                .all(|m| matches!(m, TransactionMode::AccessMode(_))) =>
        {
            Ok(fwd(StatementKind::Begin))
        }
        Statement::Commit {
            chain: false,
            end: false,
            modifier: None,
        } => Ok(fwd(StatementKind::Commit)),
        Statement::Commit { chain: true, .. } => Err(Refusal::not_allowed("COMMIT AND CHAIN")),
        Statement::Rollback {
            chain: false,
            savepoint,
        } => Ok(fwd(match savepoint {
            Some(_) => StatementKind::Other,
            None => StatementKind::Rollback,
        })),
        Statement::Rollback { chain: true, .. } => Err(Refusal::not_allowed("ROLLBACK AND CHAIN")),
        Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => {
            Ok(fwd(StatementKind::Other))
        }
        Statement::Set(s) => set::classify(s).map(fwd),
        Statement::Use(u) => use_database(u, ctx).map(Classified::Local),
        other => Err(Refusal::not_allowed(&kind_name(other))),
    }
}

/// `USE db`: only the tenant's own logical databases; answered locally.
fn use_database(u: &Use, ctx: &SessionContext<'_>) -> Result<Local, Refusal> {
    let (Use::Object(name) | Use::Database(name)) = u else {
        return Err(Refusal::not_allowed(&u.to_string()));
    };
    match name.0.as_slice() {
        [part] => {
            let ident = part
                .as_ident()
                .ok_or_else(|| Refusal::syntax("USE needs a database name"))?;
            if ctx.mapping.physical(&ident.value).is_some() {
                Ok(Local::Use(ident.value.clone()))
            } else {
                Err(Refusal::database(ctx.user, &ident.value))
            }
        }
        _ => Err(Refusal::syntax("USE needs a plain database name")),
    }
}

/// Upper-case words from the statement's variant name (`CreateTable` -> `CREATE TABLE`).
pub(crate) fn kind_name(stmt: &Statement) -> String {
    let debug = format!("{stmt:?}");
    let variant: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    match out.as_str() {
        "SHOW VARIABLE" => match stmt {
            Statement::ShowVariable { variable } => {
                let words: Vec<String> = variable
                    .iter()
                    .take(2)
                    .map(|w| w.value.to_ascii_uppercase())
                    .collect();
                format!("SHOW {}", words.join(" "))
            }
            _ => out,
        },
        "DROP" => match stmt {
            Statement::Drop { object_type, .. } => format!("DROP {object_type}"),
            _ => out,
        },
        "" => "statement".to_string(),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_one, tokenize};

    fn name(sql: &str) -> String {
        tokenize(sql)
            .and_then(|t| parse_one(t, sql))
            .map(|s| kind_name(&s))
            .unwrap_or_default()
    }

    #[test]
    fn kind_names() {
        assert_eq!(name("CREATE TABLE t (a INT)"), "CREATE TABLE");
        assert_eq!(name("DROP TABLE t"), "DROP TABLE");
        assert_eq!(name("GRANT SELECT ON *.* TO u"), "GRANT");
        assert_eq!(name("TRUNCATE TABLE t"), "TRUNCATE");
    }
}
