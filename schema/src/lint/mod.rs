//! Lint: which plan steps can lose data (refused unless the caller allows each kind or each
//! step explicitly), and advice about the desired tables (warnings, never blocking).
//!
//! Risks: dropping a table or a column; a narrower or lossy column type; a character set
//! change; a NOT NULL column without a default where rows exist (that one depends on the target
//! database's data, so it is checked at apply time: [`Finding::row_check`]); dropping a unique
//! index (or primary key) without adding the same one back.
//! Warnings: a table without a primary key; an index that is a left prefix of another.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::diff::Change;
use crate::model::{Column, Index, IndexKind, TableModel};
use crate::plan::{Action, Plan};
use crate::types::narrowing;

/// A kind of risky change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    DropTable,
    DropColumn,
    NarrowType,
    CharsetChange,
    NotNullWithoutDefault,
    DropUniqueIndex,
}

impl RiskKind {
    /// The kind as written in keys and allow lists.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskKind::DropTable => "drop_table",
            RiskKind::DropColumn => "drop_column",
            RiskKind::NarrowType => "narrow_type",
            RiskKind::CharsetChange => "charset_change",
            RiskKind::NotNullWithoutDefault => "not_null_without_default",
            RiskKind::DropUniqueIndex => "drop_unique_index",
        }
    }
}

/// What must be true of the target's data for a conditional finding to be harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "check", content = "column")]
pub enum RowCheck {
    /// The table must be empty.
    TableEmpty,
    /// The column must hold no NULL.
    NoNulls(String),
}

/// One risky change in one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: RiskKind,
    /// Index of the step in the plan.
    pub step: usize,
    pub table: String,
    /// Column or index name; `None` for the table itself.
    pub element: Option<String>,
    pub message: String,
    /// `Some` when the change is only risky if the data says so (checked at apply time).
    pub row_check: Option<RowCheck>,
}

impl Finding {
    /// A stable name for this change, for allow lists: `drop_column:orders.note`,
    /// `drop_table:legacy`, `charset_change:orders`.
    pub fn key(&self) -> String {
        match &self.element {
            Some(e) => format!("{}:{}.{e}", self.kind.as_str(), self.table),
            None => format!("{}:{}", self.kind.as_str(), self.table),
        }
    }
}

/// Advice that never blocks a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    MissingPrimaryKey,
    RedundantIndex,
}

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub kind: WarningKind,
    pub table: String,
    pub message: String,
}

/// What the caller allows: whole kinds, or single findings by [`Finding::key`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allow {
    pub kinds: BTreeSet<RiskKind>,
    pub items: BTreeSet<String>,
}

impl Allow {
    /// Nothing risky allowed.
    pub fn none() -> Allow {
        Allow::default()
    }

    /// Everything allowed (restores, which go back to a known state by definition).
    pub fn all() -> Allow {
        Allow {
            kinds: [
                RiskKind::DropTable,
                RiskKind::DropColumn,
                RiskKind::NarrowType,
                RiskKind::CharsetChange,
                RiskKind::NotNullWithoutDefault,
                RiskKind::DropUniqueIndex,
            ]
            .into(),
            items: BTreeSet::new(),
        }
    }

    /// Also allows every finding of `kind`.
    pub fn with_kind(mut self, kind: RiskKind) -> Allow {
        self.kinds.insert(kind);
        self
    }

    /// Also allows the finding with this key.
    pub fn with_item(mut self, key: impl Into<String>) -> Allow {
        self.items.insert(key.into());
        self
    }

    /// Whether `f` is allowed.
    pub fn allows(&self, f: &Finding) -> bool {
        self.kinds.contains(&f.kind) || self.items.contains(&f.key())
    }
}

/// Everything lint found in one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub warnings: Vec<Warning>,
}

impl LintReport {
    /// Findings that refuse the plan outright under `allow`.
    pub fn refused<'a>(&'a self, allow: &Allow) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| f.row_check.is_none() && !allow.allows(f))
            .collect()
    }

    /// Findings not allowed under `allow` whose row check must pass on each target.
    pub fn row_checks<'a>(&'a self, allow: &Allow) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| f.row_check.is_some() && !allow.allows(f))
            .collect()
    }
}

/// Lints `plan`.
pub fn lint(plan: &Plan) -> LintReport {
    let mut report = LintReport::default();
    for (step, s) in plan.steps.iter().enumerate() {
        let finding = |kind, element: Option<&str>, message: String, row_check| Finding {
            kind,
            step,
            table: s.table.clone(),
            element: element.map(str::to_string),
            message,
            row_check,
        };
        match &s.action {
            Action::Drop => report.findings.push(finding(
                RiskKind::DropTable,
                None,
                format!("drops table {} and its data", s.table),
                None,
            )),
            Action::Create { .. } => {}
            Action::Alter { changes, .. } => {
                for c in changes {
                    for (kind, element, message, row_check) in change_risks(c, changes) {
                        report
                            .findings
                            .push(finding(kind, element.as_deref(), message, row_check));
                    }
                }
            }
        }
    }
    let touched: BTreeSet<&str> = plan.steps.iter().map(|s| s.table.as_str()).collect();
    for t in plan
        .to
        .tables
        .values()
        .filter(|t| touched.contains(t.name.as_str()))
    {
        report.warnings.extend(table_warnings(t));
    }
    report
}

type Risk = (RiskKind, Option<String>, String, Option<RowCheck>);

fn no_default(c: &Column) -> bool {
    !c.nullable && c.default.is_none() && !c.auto_increment && c.generated.is_none()
}

fn change_risks(c: &Change, all: &[Change]) -> Vec<Risk> {
    let mut out = Vec::new();
    match c {
        Change::DropColumn { column } => out.push((
            RiskKind::DropColumn,
            Some(column.name.clone()),
            format!("drops column {} and its data", column.name),
            None,
        )),
        Change::AddColumn { column, .. } if no_default(column) => out.push((
            RiskKind::NotNullWithoutDefault,
            Some(column.name.clone()),
            format!(
                "adds NOT NULL column {} without a default: existing rows would get an implicit value",
                column.name
            ),
            Some(RowCheck::TableEmpty),
        )),
        Change::ModifyColumn { from, to, .. } => {
            if let Some(why) = narrowing(&from.column_type, &to.column_type) {
                out.push((RiskKind::NarrowType, Some(to.name.clone()), why, None));
            }
            if from.charset.is_some() && to.charset.is_some() && from.charset != to.charset {
                out.push((
                    RiskKind::CharsetChange,
                    Some(to.name.clone()),
                    format!(
                        "converts column {} from {} to {}",
                        to.name,
                        from.charset.as_deref().unwrap_or_default(),
                        to.charset.as_deref().unwrap_or_default()
                    ),
                    None,
                ));
            }
            if from.nullable && no_default(to) {
                out.push((
                    RiskKind::NotNullWithoutDefault,
                    Some(to.name.clone()),
                    format!("makes column {} NOT NULL without a default", to.name),
                    Some(RowCheck::NoNulls(to.name.clone())),
                ));
            }
        }
        Change::DropIndex { index } if matches!(index.kind, IndexKind::Unique | IndexKind::Primary) => {
            let readded = all.iter().any(|a| {
                matches!(a, Change::AddIndex { index: n } if n.kind == index.kind && n.parts == index.parts)
            });
            if !readded {
                out.push((
                    RiskKind::DropUniqueIndex,
                    Some(index.name.clone()),
                    format!("drops unique index {}: duplicates become possible", index.name),
                    None,
                ));
            }
        }
        Change::Options { from, to } if from.charset != to.charset => out.push((
            RiskKind::CharsetChange,
            None,
            format!("changes the table's character set from {} to {}", from.charset, to.charset),
            None,
        )),
        _ => {}
    }
    out
}

fn parts(i: &Index) -> String {
    i.parts
        .iter()
        .map(|p| p.column.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn table_warnings(t: &TableModel) -> Vec<Warning> {
    let mut out = Vec::new();
    if !t.has_primary_key() {
        out.push(Warning {
            kind: WarningKind::MissingPrimaryKey,
            table: t.name.clone(),
            message: format!("table {} has no primary key", t.name),
        });
    }
    let btree = |i: &Index| {
        matches!(
            i.kind,
            IndexKind::Primary | IndexKind::Unique | IndexKind::Plain
        ) && i.index_type == "BTREE"
    };
    for (ai, a) in t.indexes.iter().enumerate() {
        let covering = t.indexes.iter().enumerate().find(|(bi, b)| {
            if *bi == ai || !btree(a) || !btree(b) || a.parts.len() > b.parts.len() {
                return false;
            }
            let prefix = a.parts.iter().zip(&b.parts).all(|(x, y)| {
                x.column.eq_ignore_ascii_case(&y.column)
                    && x.descending == y.descending
                    && (x.sub_part == y.sub_part || y.sub_part.is_none())
            });
            let same = a.parts == b.parts;
            match a.kind {
                // A plain index covered by any other; of two identical ones, warn about the later.
                IndexKind::Plain => prefix && (!same || b.kind != IndexKind::Plain || *bi < ai),
                // A unique index is only redundant when another enforces the same columns.
                IndexKind::Unique => same && (b.kind == IndexKind::Primary || *bi < ai),
                _ => false,
            }
        });
        if let Some((_, b)) = covering {
            out.push(Warning {
                kind: WarningKind::RedundantIndex,
                table: t.name.clone(),
                message: format!(
                    "index {} ({}) is redundant with {} ({})",
                    a.name,
                    parts(a),
                    b.name,
                    parts(b)
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
