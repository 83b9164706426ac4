//! Comparing two models: which tables to create or drop, and for each kept table, which
//! columns, indexes, foreign keys, checks and options change. Unordered across tables; `plan`
//! puts the changes in an order the server accepts.
//!
//! Columns are matched by name (case-insensitively): a rename is a drop plus an add, which lint
//! then refuses unless allowed. Column order is always compared (it shows in `SELECT *`); index
//! and check order only in exact mode (restores must give back identical SHOW CREATE TABLE text;
//! a normal migration does not care in which order the server lists keys).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{Check, Column, ForeignKey, Index, SchemaModel, TableModel};

/// Where a column goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    First,
    After(String),
}

/// A table's default character set, collation, engine, comment and declared options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableOptions {
    pub engine: String,
    pub charset: String,
    pub collation: String,
    pub comment: String,
    pub options: std::collections::BTreeMap<String, String>,
}

impl TableOptions {
    fn of(t: &TableModel) -> TableOptions {
        TableOptions {
            engine: t.engine.clone(),
            charset: t.charset.clone(),
            collation: t.collation.clone(),
            comment: t.comment.clone(),
            options: t.options.clone(),
        }
    }
}

/// One change to a kept table.
// Plans hold a handful of these; boxing the column variants would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum Change {
    DropForeignKey {
        foreign_key: ForeignKey,
    },
    DropCheck {
        check: Check,
    },
    DropIndex {
        index: Index,
    },
    DropColumn {
        column: Column,
    },
    AddColumn {
        column: Column,
        position: Position,
    },
    /// `position` is set when the column moves.
    ModifyColumn {
        from: Column,
        to: Column,
        position: Option<Position>,
    },
    AddIndex {
        index: Index,
    },
    AddCheck {
        check: Check,
    },
    AddForeignKey {
        foreign_key: ForeignKey,
    },
    Options {
        from: TableOptions,
        to: TableOptions,
    },
}

/// The changes to one kept table, in clause order (drops, columns in table order, adds, options).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDiff {
    pub table: String,
    pub changes: Vec<Change>,
}

/// Everything that differs between a live model and a desired one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SchemaDiff {
    pub created: Vec<TableModel>,
    pub dropped: Vec<TableModel>,
    pub altered: Vec<TableDiff>,
}

impl SchemaDiff {
    /// Whether both models describe the same schema.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.dropped.is_empty() && self.altered.is_empty()
    }

    /// One line per difference, for errors and reports.
    pub fn summary(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .created
            .iter()
            .map(|t| format!("missing table {}", t.name))
            .collect();
        out.extend(
            self.dropped
                .iter()
                .map(|t| format!("extra table {}", t.name)),
        );
        for a in &self.altered {
            for c in &a.changes {
                out.push(format!("{}: {}", a.table, describe(c)));
            }
        }
        out
    }
}

/// A short description of a change.
pub fn describe(c: &Change) -> String {
    match c {
        Change::DropForeignKey { foreign_key } => format!("drop foreign key {}", foreign_key.name),
        Change::DropCheck { check } => format!("drop check {}", check.name),
        Change::DropIndex { index } => format!("drop index {}", index.name),
        Change::DropColumn { column } => format!("drop column {}", column.name),
        Change::AddColumn { column, .. } => format!("add column {}", column.name),
        Change::ModifyColumn { to, .. } => format!("modify column {}", to.name),
        Change::AddIndex { index } => format!("add index {}", index.name),
        Change::AddCheck { check } => format!("add check {}", check.name),
        Change::AddForeignKey { foreign_key } => format!("add foreign key {}", foreign_key.name),
        Change::Options { .. } => "change table options".to_string(),
    }
}

/// Compares `live` with `desired`. `exact` also compares index and check order.
pub fn diff(live: &SchemaModel, desired: &SchemaModel, exact: bool) -> SchemaDiff {
    let mut out = SchemaDiff::default();
    for (name, d) in &desired.tables {
        match live.tables.get(name) {
            None => out.created.push(d.clone()),
            Some(l) => {
                let changes = diff_table(l, d, exact);
                if !changes.is_empty() {
                    out.altered.push(TableDiff {
                        table: name.clone(),
                        changes,
                    });
                }
            }
        }
    }
    out.dropped = live
        .tables
        .iter()
        .filter(|(name, _)| !desired.tables.contains_key(*name))
        .map(|(_, t)| t.clone())
        .collect();
    recreate_foreign_keys_on_retyped_columns(live, &mut out);
    out
}

fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn diff_table(live: &TableModel, desired: &TableModel, exact: bool) -> Vec<Change> {
    let mut drops = Vec::new();
    let mut adds = Vec::new();

    // Foreign keys, by name: changed ones are dropped and added again.
    for fk in &live.foreign_keys {
        match desired
            .foreign_keys
            .iter()
            .find(|d| same_name(&d.name, &fk.name))
        {
            Some(d) if d == fk => {}
            Some(d) => {
                drops.push(Change::DropForeignKey {
                    foreign_key: fk.clone(),
                });
                adds.push(Change::AddForeignKey {
                    foreign_key: d.clone(),
                });
            }
            None => drops.push(Change::DropForeignKey {
                foreign_key: fk.clone(),
            }),
        }
    }
    for d in &desired.foreign_keys {
        if !live
            .foreign_keys
            .iter()
            .any(|l| same_name(&l.name, &d.name))
        {
            adds.push(Change::AddForeignKey {
                foreign_key: d.clone(),
            });
        }
    }

    // Checks and indexes: same rule, plus order in exact mode.
    let (check_drops, check_adds) = keyed(&live.checks, &desired.checks, |c| &c.name, exact);
    drops.extend(
        check_drops
            .into_iter()
            .map(|check| Change::DropCheck { check }),
    );
    let (index_drops, index_adds) = keyed(&live.indexes, &desired.indexes, |i| &i.name, exact);
    drops.extend(
        index_drops
            .into_iter()
            .map(|index| Change::DropIndex { index }),
    );

    let mut changes = drops;
    changes.extend(diff_columns(live, desired));
    changes.extend(
        index_adds
            .into_iter()
            .map(|index| Change::AddIndex { index }),
    );
    changes.extend(
        check_adds
            .into_iter()
            .map(|check| Change::AddCheck { check }),
    );
    changes.extend(adds);
    let (from, to) = (TableOptions::of(live), TableOptions::of(desired));
    if from != to {
        changes.push(Change::Options { from, to });
    }
    changes
}

/// Elements matched by name: (to drop, to add). Changed ones are in both lists. In exact mode,
/// unchanged elements after the first position where the two orders part are dropped and added
/// again too, so that the server lists them in the desired order.
fn keyed<T: Clone + PartialEq>(
    live: &[T],
    desired: &[T],
    name: impl Fn(&T) -> &String,
    exact: bool,
) -> (Vec<T>, Vec<T>) {
    let find = |list: &[T], n: &str| list.iter().find(|x| same_name(name(x), n)).cloned();
    let unchanged = |d: &T| find(live, name(d)).as_ref() == Some(d);
    let mut keep: BTreeSet<String> = desired
        .iter()
        .filter(|d| unchanged(d))
        .map(|d| name(d).to_lowercase())
        .collect();
    if exact {
        let prefix = live.iter().zip(desired).take_while(|(l, d)| l == d).count();
        for d in &desired[prefix..] {
            keep.remove(&name(d).to_lowercase());
        }
    }
    let drops = live
        .iter()
        .filter(|l| !keep.contains(&name(l).to_lowercase()))
        .cloned()
        .collect();
    let adds = desired
        .iter()
        .filter(|d| !keep.contains(&name(d).to_lowercase()))
        .cloned()
        .collect();
    (drops, adds)
}

/// Drops, adds and changes of columns. Columns that keep their relative order (a longest
/// common subsequence of both orders) stay where they are; the others are placed after their
/// desired predecessor, in desired order, which MariaDB applies left to right.
fn diff_columns(live: &TableModel, desired: &TableModel) -> Vec<Change> {
    let mut out: Vec<Change> = live
        .columns
        .iter()
        .filter(|l| desired.column(&l.name).is_none())
        .map(|l| Change::DropColumn { column: l.clone() })
        .collect();
    let kept_live: Vec<String> = live
        .columns
        .iter()
        .filter(|l| desired.column(&l.name).is_some())
        .map(|l| l.name.to_lowercase())
        .collect();
    let kept_desired: Vec<String> = desired
        .columns
        .iter()
        .filter(|d| live.column(&d.name).is_some())
        .map(|d| d.name.to_lowercase())
        .collect();
    let stay = lcs(&kept_live, &kept_desired);
    for (i, d) in desired.columns.iter().enumerate() {
        let position = match i {
            0 => Position::First,
            _ => Position::After(desired.columns[i - 1].name.clone()),
        };
        match live.column(&d.name) {
            None => out.push(Change::AddColumn {
                column: d.clone(),
                position,
            }),
            Some(l) => {
                let moved = !stay.contains(&d.name.to_lowercase());
                if moved || l != d {
                    out.push(Change::ModifyColumn {
                        from: l.clone(),
                        to: d.clone(),
                        position: moved.then_some(position),
                    });
                }
            }
        }
    }
    out
}

/// The names in a longest common subsequence of `a` and `b`.
fn lcs(a: &[String], b: &[String]) -> BTreeSet<String> {
    let (n, m) = (a.len(), b.len());
    let mut len = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i][j] = if a[i] == b[j] {
                len[i + 1][j + 1] + 1
            } else {
                len[i + 1][j].max(len[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, BTreeSet::new());
    while i < n && j < m {
        if a[i] == b[j] {
            out.insert(a[i].clone());
            i += 1;
            j += 1;
        } else if len[i + 1][j] >= len[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// MariaDB refuses to change the type of a column a foreign key uses (on either side) while the
/// key exists. Such keys are dropped first and added again after the change, even when their own
/// definition does not change.
fn recreate_foreign_keys_on_retyped_columns(live: &SchemaModel, out: &mut SchemaDiff) {
    let retyped: BTreeSet<(String, String)> = out
        .altered
        .iter()
        .flat_map(|a| {
            a.changes.iter().filter_map(move |c| match c {
                Change::ModifyColumn { from, to, .. }
                    if from.column_type != to.column_type
                        || from.charset != to.charset
                        || from.collation != to.collation =>
                {
                    Some((a.table.clone(), from.name.to_lowercase()))
                }
                _ => None,
            })
        })
        .collect();
    if retyped.is_empty() {
        return;
    }
    for t in live.tables.values() {
        if out.dropped.iter().any(|d| d.name == t.name) {
            continue;
        }
        for fk in &t.foreign_keys {
            let touches =
                fk.columns
                    .iter()
                    .any(|c| retyped.contains(&(t.name.clone(), c.to_lowercase())))
                    || fk.referenced_columns.iter().any(|c| {
                        retyped.contains(&(fk.referenced_table.clone(), c.to_lowercase()))
                    });
            let Some(diff) = out.altered.iter_mut().find(|a| a.table == t.name) else {
                // The table itself is unchanged: give it a diff of its own.
                if touches {
                    out.altered.push(TableDiff {
                        table: t.name.clone(),
                        changes: vec![
                            Change::DropForeignKey {
                                foreign_key: fk.clone(),
                            },
                            Change::AddForeignKey {
                                foreign_key: fk.clone(),
                            },
                        ],
                    });
                }
                continue;
            };
            let already = diff.changes.iter().any(
                |c| matches!(c, Change::DropForeignKey { foreign_key } if same_name(&foreign_key.name, &fk.name)),
            );
            if touches && !already {
                diff.changes.insert(
                    0,
                    Change::DropForeignKey {
                        foreign_key: fk.clone(),
                    },
                );
                diff.changes.push(Change::AddForeignKey {
                    foreign_key: fk.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
