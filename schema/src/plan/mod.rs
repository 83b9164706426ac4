//! An ordered plan: the statements that take a live schema to a desired one, computed once and
//! rendered for any target database with the same live state.
//!
//! Order, chosen so that foreign keys never block a step:
//! 1. drop the foreign keys that go away or change (and those between tables being dropped),
//! 2. drop tables,
//! 3. alter kept tables (one ALTER TABLE each: drops, then columns in table order, then new
//!    indexes and checks, then table options),
//! 4. create tables, parents before children (the workspace's SHOW CREATE TABLE text),
//! 5. add foreign keys, once every table and column they need exists.

use serde::{Deserialize, Serialize};

use crate::diff::{describe, diff, Change, Position, SchemaDiff, TableOptions};
use crate::ident::{qualified, quote_ident, quote_string, SchemaName};
use crate::model::{IndexKind, SchemaModel, TableModel};
use crate::order::dependency_order;
use crate::render::{
    check_definition, column_definition, foreign_key_definition, index_definition,
};

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// `CREATE TABLE <target>.<table> <body>`, `body` being the desired SHOW CREATE TABLE text
    /// after the table's name. With `foreign_key_checks_off` when new tables refer to each other
    /// in a cycle (they are empty, nothing is left unchecked).
    Create {
        body: String,
        foreign_key_checks_off: bool,
    },
    Drop,
    Alter {
        engine: String,
        changes: Vec<Change>,
    },
}

/// One statement of a plan, on one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub table: String,
    pub action: Action,
}

impl Step {
    /// The statement, aimed at `target`.
    pub fn sql(&self, target: &SchemaName) -> String {
        let table = qualified(target, &self.table);
        match &self.action {
            Action::Create { body, .. } => format!("CREATE TABLE {table} {body}"),
            Action::Drop => format!("DROP TABLE {table}"),
            Action::Alter { engine, changes } => {
                let clauses: Vec<String> = changes
                    .iter()
                    .filter_map(|c| clause(c, engine, target))
                    .collect();
                format!("ALTER TABLE {table} {}", clauses.join(", "))
            }
        }
    }

    /// A short description (`create table t`, `alter table t: add column c, ...`).
    pub fn describe(&self) -> String {
        match &self.action {
            Action::Create { .. } => format!("create table {}", self.table),
            Action::Drop => format!("drop table {}", self.table),
            Action::Alter { changes, .. } => {
                let what: Vec<String> = changes.iter().map(describe).collect();
                format!("alter table {}: {}", self.table, what.join(", "))
            }
        }
    }
}

/// A plan from one live state to one desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The live state the plan was computed from: applying checks the target still has it.
    pub from: SchemaModel,
    /// The desired state: applying verifies the target reached it.
    pub to: SchemaModel,
    /// Whether index and check order count (restores).
    pub exact: bool,
    pub steps: Vec<Step>,
}

/// A plan that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// SHOW CREATE TABLE text that does not start the way the server always starts it.
    #[error("unexpected SHOW CREATE TABLE text for table {table}")]
    UnexpectedCreateText { table: String },
}

impl PlanError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PlanError::UnexpectedCreateText { .. } => "unexpected_create_text",
        }
    }
}

impl Plan {
    /// The plan from `live` to `desired` (index order does not matter).
    pub fn new(live: &SchemaModel, desired: &SchemaModel) -> Result<Plan, PlanError> {
        build(live, desired, false)
    }

    /// The plan from `live` back to `snapshot`, index and check order included, so that SHOW
    /// CREATE TABLE gives the snapshot's text again.
    pub fn exact(live: &SchemaModel, snapshot: &SchemaModel) -> Result<Plan, PlanError> {
        build(live, snapshot, true)
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Every statement, aimed at `target`.
    pub fn statements(&self, target: &SchemaName) -> Vec<String> {
        self.steps.iter().map(|s| s.sql(target)).collect()
    }
}

fn build(live: &SchemaModel, desired: &SchemaModel, exact: bool) -> Result<Plan, PlanError> {
    let d: SchemaDiff = diff(live, desired, exact);
    let engine_of = |name: &str| {
        desired
            .tables
            .get(name)
            .or_else(|| live.tables.get(name))
            .map(|t| t.engine.clone())
            .unwrap_or_default()
    };
    let alter = |table: &str, changes: Vec<Change>| Step {
        table: table.to_string(),
        action: Action::Alter {
            engine: engine_of(table),
            changes,
        },
    };
    let is_fk = |c: &Change| {
        matches!(
            c,
            Change::DropForeignKey { .. } | Change::AddForeignKey { .. }
        )
    };
    let mut steps = Vec::new();

    // 1. Foreign keys that go away, and those between two tables being dropped.
    for a in &d.altered {
        let drops: Vec<Change> = a
            .changes
            .iter()
            .filter(|c| matches!(c, Change::DropForeignKey { .. }))
            .cloned()
            .collect();
        if !drops.is_empty() {
            steps.push(alter(&a.table, drops));
        }
    }
    for t in &d.dropped {
        let drops: Vec<Change> = t
            .foreign_keys
            .iter()
            .filter(|fk| {
                fk.referenced_table != t.name
                    && d.dropped.iter().any(|o| o.name == fk.referenced_table)
            })
            .map(|fk| Change::DropForeignKey {
                foreign_key: fk.clone(),
            })
            .collect();
        if !drops.is_empty() {
            steps.push(alter(&t.name, drops));
        }
    }

    // 2. Tables that go away, children first.
    let (order, _) = dependency_order(&references(&d.dropped));
    steps.extend(order.into_iter().rev().map(|table| Step {
        table,
        action: Action::Drop,
    }));

    // 3. Everything else on kept tables; an engine change on its own first (see below).
    for a in &d.altered {
        let rest: Vec<Change> = a.changes.iter().filter(|c| !is_fk(c)).cloned().collect();
        let follow_up = split_engine_change(&rest);
        if !rest.is_empty() {
            steps.push(alter(&a.table, rest));
        }
        if let Some(options) = follow_up {
            steps.push(alter(&a.table, vec![options]));
        }
    }

    // 4. New tables, parents first.
    let (order, cycle) = dependency_order(&references(&d.created));
    for name in order {
        let Some(t) = d.created.iter().find(|t| t.name == name) else {
            continue;
        };
        steps.push(Step {
            table: name.clone(),
            action: Action::Create {
                body: create_body(t)?,
                foreign_key_checks_off: cycle,
            },
        });
    }

    // 5. Foreign keys that are new or changed.
    for a in &d.altered {
        let adds: Vec<Change> = a
            .changes
            .iter()
            .filter(|c| matches!(c, Change::AddForeignKey { .. }))
            .cloned()
            .collect();
        if !adds.is_empty() {
            steps.push(alter(&a.table, adds));
        }
    }

    Ok(Plan {
        from: live.clone(),
        to: desired.clone(),
        exact,
        steps,
    })
}

/// Options an engine leaves behind when a table leaves it: MariaDB keeps Aria's
/// `PAGE_CHECKSUM=1` on a table converted to InnoDB even when the converting statement resets it.
const STICKY_ENGINE_OPTIONS: &[(&str, &str)] =
    &[("Aria", "page_checksum"), ("Aria", "transactional")];

/// When `changes` move a table off an engine that leaves options behind, a second ALTER that
/// resets them (the switch itself must carry the other options: `ROW_FORMAT=PAGE` is invalid
/// for InnoDB, so they cannot all move to a later statement).
fn split_engine_change(changes: &[Change]) -> Option<Change> {
    let (from, to) = changes.iter().find_map(|c| match c {
        Change::Options { from, to } if from.engine != to.engine => Some((from, to)),
        _ => None,
    })?;
    let mut left_behind = to.clone();
    for (engine, k) in STICKY_ENGINE_OPTIONS {
        if from.engine.eq_ignore_ascii_case(engine) && !to.options.contains_key(*k) {
            left_behind.options.insert(k.to_string(), String::new());
        }
    }
    (left_behind != *to).then(|| Change::Options {
        from: left_behind,
        to: to.clone(),
    })
}

/// table -> tables its foreign keys refer to.
fn references(tables: &[TableModel]) -> std::collections::BTreeMap<String, Vec<String>> {
    tables
        .iter()
        .map(|t| {
            let refs = t
                .foreign_keys
                .iter()
                .map(|fk| fk.referenced_table.clone())
                .collect();
            (t.name.clone(), refs)
        })
        .collect()
}

/// The SHOW CREATE TABLE text after `CREATE TABLE `name` `. The server always starts it so; the
/// check makes sure we never aim a statement at the wrong table.
fn create_body(t: &TableModel) -> Result<String, PlanError> {
    let prefix = format!("CREATE TABLE {} ", quote_ident(&t.name));
    t.create_sql
        .strip_prefix(&prefix)
        .filter(|rest| rest.starts_with('('))
        .map(str::to_string)
        .ok_or_else(|| PlanError::UnexpectedCreateText {
            table: t.name.clone(),
        })
}

fn position(p: &Position) -> String {
    match p {
        Position::First => "FIRST".to_string(),
        Position::After(c) => format!("AFTER {}", quote_ident(c)),
    }
}

/// One ALTER TABLE clause (`None` for a change that needs none).
fn clause(c: &Change, engine: &str, target: &SchemaName) -> Option<String> {
    Some(match c {
        Change::DropForeignKey { foreign_key } => {
            format!("DROP FOREIGN KEY {}", quote_ident(&foreign_key.name))
        }
        Change::DropCheck { check } => format!("DROP CONSTRAINT {}", quote_ident(&check.name)),
        Change::DropIndex { index } if index.kind == IndexKind::Primary => {
            "DROP PRIMARY KEY".to_string()
        }
        Change::DropIndex { index } => format!("DROP INDEX {}", quote_ident(&index.name)),
        Change::DropColumn { column } => format!("DROP COLUMN {}", quote_ident(&column.name)),
        Change::AddColumn {
            column,
            position: p,
        } => {
            format!("ADD COLUMN {} {}", column_definition(column), position(p))
        }
        Change::ModifyColumn {
            from,
            to,
            position: p,
        } => {
            let mut s = format!(
                "CHANGE COLUMN {} {}",
                quote_ident(&from.name),
                column_definition(to)
            );
            if let Some(p) = p {
                s.push(' ');
                s.push_str(&position(p));
            }
            s
        }
        Change::AddIndex { index } => format!("ADD {}", index_definition(index, engine)),
        Change::AddCheck { check } => format!("ADD {}", check_definition(check)),
        Change::AddForeignKey { foreign_key } => {
            format!("ADD {}", foreign_key_definition(foreign_key, target))
        }
        Change::Options { from, to } => return options_clause(from, to),
    })
}

/// `ENGINE=..., DEFAULT CHARSET=... COLLATE=..., COMMENT=..., ROW_FORMAT=...` for what changed;
/// a declared option that goes away is set back to `DEFAULT`.
fn options_clause(from: &TableOptions, to: &TableOptions) -> Option<String> {
    let mut parts = Vec::new();
    if from.engine != to.engine {
        parts.push(format!("ENGINE={}", to.engine));
    }
    if from.charset != to.charset || from.collation != to.collation {
        parts.push(format!(
            "DEFAULT CHARSET={} COLLATE={}",
            to.charset, to.collation
        ));
    }
    if from.comment != to.comment {
        parts.push(format!("COMMENT={}", quote_string(&to.comment)));
    }
    for (k, v) in &to.options {
        if from.options.get(k) != Some(v) {
            parts.push(format!("{}={v}", k.to_ascii_uppercase()));
        }
    }
    for k in from.options.keys() {
        if !to.options.contains_key(k) {
            parts.push(format!("{}=DEFAULT", k.to_ascii_uppercase()));
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests;
