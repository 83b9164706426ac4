//! Merging a template chain into one desired schema, and the conflicts a parent's change causes.
//!
//! A chain is ordered root first: the root template's version, each child template's version,
//! then the database's own overlay. Each layer is a child of everything before it merged. A child
//! may add tables, add columns, indexes, foreign keys, checks and table options to a parent's
//! table, or redefine any of them (same name: the child's definition replaces the parent's, in
//! place). A child cannot remove a parent's element: declarative layers only add and override.
//!
//! # Conflicts
//! Merging alone cannot tell "the overlay customises X" from "the parent just changed X, which
//! the overlay also defines". So [`merge_update`] also takes the chain as it was before the
//! change. For each child layer, with `prev`/`next` the merged parent before/after and `child`
//! the layer itself, an element `e` the child defines is in conflict when the parent changed it
//! (`prev[e] != next[e]`) and:
//! - [`ConflictKind::ChangedDifferently`]: the parent now defines `e` (`next[e]` exists, new or
//!   changed) and the child's definition is not the same as the parent's new one. (When both
//!   ended up identical there is nothing to decide.)
//! - [`ConflictKind::ParentDroppedElement`]: the parent no longer has `e` but the child still
//!   redefines it.
//! - [`ConflictKind::ParentDroppedTable`]: the parent no longer has a table the child extends.
//! - [`ConflictKind::ParentDroppedReferenced`]: an element of the child refers to a table or
//!   column the parent no longer has (and the child does not define itself): an index or
//!   foreign key on a dropped column, a foreign key to a dropped table or column.
//!
//! An element the parent did not change is never in conflict, however the child defines it:
//! that is a customisation. The merged schema is returned even when there are conflicts (the
//! child's definitions win), for display; it must not be applied while conflicts remain.

use serde::{Deserialize, Serialize};

use crate::desired::{
    constraint_element, foreign_reference, local_columns, DesiredSchema, DesiredTable, Element,
};

/// What kind of conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    ChangedDifferently,
    ParentDroppedElement,
    ParentDroppedTable,
    ParentDroppedReferenced,
}

/// One conflict between a child layer and its parent's change, with the definitions involved
/// (as canonical SQL fragments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Index of the child layer in the chain (1 is the root's first child; the last index is
    /// the database's overlay when the chain ends with one).
    pub layer: usize,
    pub table: String,
    /// The child's element in conflict.
    pub element: Element,
    pub kind: ConflictKind,
    /// For `ParentDroppedReferenced`: what the parent dropped (`table t`, `column t.c`).
    pub referenced: Option<String>,
    /// The parent's definition before the change (of the referenced thing, for
    /// `ParentDroppedReferenced`).
    pub parent_previous: Option<String>,
    /// The parent's definition after the change (`None` when it dropped it).
    pub parent_next: Option<String>,
    /// The child's definition.
    pub child: Option<String>,
}

/// A merge of a changed chain.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// The merged new chain (children win).
    pub schema: DesiredSchema,
    /// Empty when the change can be applied.
    pub conflicts: Vec<Conflict>,
}

/// Chains that cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("the previous chain has {previous} layers and the new one {next}; they must match")]
    ChainLength { previous: usize, next: usize },
}

impl MergeError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            MergeError::ChainLength { .. } => "chain_length",
        }
    }
}

/// Merges a chain, root first. An empty chain is an empty schema.
pub fn merge(chain: &[DesiredSchema]) -> DesiredSchema {
    let mut iter = chain.iter();
    let Some(first) = iter.next() else {
        return DesiredSchema::default();
    };
    iter.fold(first.clone(), |parent, child| merge_two(&parent, child))
}

/// Merges `next` and reports the conflicts its parents' changes since `previous` cause.
pub fn merge_update(
    previous: &[DesiredSchema],
    next: &[DesiredSchema],
) -> Result<MergeOutcome, MergeError> {
    if previous.len() != next.len() {
        return Err(MergeError::ChainLength {
            previous: previous.len(),
            next: next.len(),
        });
    }
    let mut conflicts = Vec::new();
    let mut prev_parent = DesiredSchema::default();
    let mut next_parent = DesiredSchema::default();
    for (i, (p, n)) in previous.iter().zip(next).enumerate() {
        if i > 0 && prev_parent != next_parent {
            conflicts.extend(layer_conflicts(i, &prev_parent, &next_parent, n));
        }
        prev_parent = if i == 0 {
            p.clone()
        } else {
            merge_two(&prev_parent, p)
        };
        next_parent = if i == 0 {
            n.clone()
        } else {
            merge_two(&next_parent, n)
        };
    }
    Ok(MergeOutcome {
        schema: next_parent,
        conflicts,
    })
}

fn merge_two(parent: &DesiredSchema, child: &DesiredSchema) -> DesiredSchema {
    let mut tables: Vec<DesiredTable> = parent
        .tables()
        .map(|p| match child.table(p.name()) {
            Some(c) => merge_table(p, c),
            None => p.clone(),
        })
        .collect();
    tables.extend(
        child
            .tables()
            .filter(|c| parent.table(c.name()).is_none())
            .cloned(),
    );
    DesiredSchema::from_tables(tables)
}

/// Parent's elements in place (replaced by the child's when redefined), then the child's new
/// ones in the child's order.
fn merge_table(parent: &DesiredTable, child: &DesiredTable) -> DesiredTable {
    fn overlay<T: Clone>(parent: &[T], child: &[T], key: impl Fn(&T) -> Option<Element>) -> Vec<T> {
        let find = |list: &[T], k: &Option<Element>| {
            list.iter()
                .find(|x| k.is_some() && key(x).map(|e| e.key()) == k.as_ref().map(Element::key))
                .cloned()
        };
        let mut out: Vec<T> = parent
            .iter()
            .map(|p| find(child, &key(p)).unwrap_or_else(|| p.clone()))
            .collect();
        out.extend(
            child
                .iter()
                .filter(|c| find(parent, &key(c)).is_none())
                .cloned(),
        );
        out
    }
    DesiredTable {
        name: parent.name.clone(),
        columns: overlay(&parent.columns, &child.columns, |c| {
            Some(Element::Column(c.name.value.clone()))
        }),
        constraints: overlay(&parent.constraints, &child.constraints, |c| {
            constraint_element(c).ok()
        }),
        options: overlay(&parent.options, &child.options, |o| {
            Some(Element::Option(o.key))
        }),
    }
}

/// The definition of `element` in `table`, as canonical SQL.
fn definition(table: &DesiredTable, element: &Element) -> Option<String> {
    let key = element.key();
    match element {
        Element::Table => Some(table.render(None)),
        Element::Column(_) => table
            .columns
            .iter()
            .find(|c| Element::Column(c.name.value.clone()).key() == key)
            .map(|c| c.to_string()),
        Element::Option(k) => table
            .options
            .iter()
            .find(|o| o.key == *k)
            .map(|o| o.render()),
        _ => table
            .constraints
            .iter()
            .find(|c| constraint_element(c).map(|e| e.key()) == Ok(key.clone()))
            .map(|c| c.to_string()),
    }
}

fn layer_conflicts(
    layer: usize,
    prev: &DesiredSchema,
    next: &DesiredSchema,
    child: &DesiredSchema,
) -> Vec<Conflict> {
    let mut out = Vec::new();
    for ct in child.tables() {
        let conflict = |element: Element, kind, prev_def, next_def, child_def| Conflict {
            layer,
            table: ct.name.clone(),
            element,
            kind,
            referenced: None,
            parent_previous: prev_def,
            parent_next: next_def,
            child: child_def,
        };
        let (p, n) = (prev.table(ct.name()), next.table(ct.name()));
        if let (Some(p), None) = (p, n) {
            out.push(conflict(
                Element::Table,
                ConflictKind::ParentDroppedTable,
                Some(p.render(None)),
                None,
                Some(ct.render(None)),
            ));
            continue;
        }
        if let Some(n) = n {
            for e in ct.elements() {
                let pd = p.and_then(|p| definition(p, &e));
                let nd = definition(n, &e);
                let cd = definition(ct, &e);
                if pd == nd {
                    continue;
                }
                match &nd {
                    None => out.push(conflict(e, ConflictKind::ParentDroppedElement, pd, nd, cd)),
                    Some(_) if cd != nd => {
                        out.push(conflict(e, ConflictKind::ChangedDifferently, pd, nd, cd))
                    }
                    Some(_) => {}
                }
            }
        }
        out.extend(dropped_references(layer, ct, prev, next, child));
    }
    out
}

/// Child constraints of `ct` that need a table or column the parent dropped.
fn dropped_references(
    layer: usize,
    ct: &DesiredTable,
    prev: &DesiredSchema,
    next: &DesiredSchema,
    child: &DesiredSchema,
) -> Vec<Conflict> {
    let mut out = Vec::new();
    // A column of `table` the parent dropped and the child does not define itself.
    let dropped_column = |table: &str, column: &str| -> Option<String> {
        let e = Element::Column(column.to_string());
        if child.table(table).and_then(|c| definition(c, &e)).is_some() {
            return None;
        }
        let before = prev.table(table).and_then(|t| definition(t, &e))?;
        let after_table = next.table(table)?;
        definition(after_table, &e).is_none().then_some(before)
    };
    for c in &ct.constraints {
        let Ok(element) = constraint_element(c) else {
            continue;
        };
        let found = |referenced: String, before: String| Conflict {
            layer,
            table: ct.name.clone(),
            element: element.clone(),
            kind: ConflictKind::ParentDroppedReferenced,
            referenced: Some(referenced),
            parent_previous: Some(before),
            parent_next: None,
            child: Some(c.to_string()),
        };
        for col in local_columns(c) {
            if let Some(before) = dropped_column(&ct.name, &col) {
                out.push(found(format!("column {}.{col}", ct.name), before));
            }
        }
        if let Some((rt, rcols)) = foreign_reference(c) {
            if child.table(&rt).is_none() && next.table(&rt).is_none() {
                if let Some(before) = prev.table(&rt) {
                    out.push(found(format!("table {rt}"), before.render(None)));
                    continue;
                }
            }
            for col in rcols {
                if let Some(before) = dropped_column(&rt, &col) {
                    out.push(found(format!("column {rt}.{col}"), before));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
