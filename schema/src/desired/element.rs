//! The elements of a desired table (columns, indexes, foreign keys, checks, table options) and
//! their identities. Merging works element by element, so each one needs a stable name: MySQL
//! compares column, index and constraint names case-insensitively, and so do we.

use serde::{Deserialize, Serialize};
use sqlparser::ast::{Expr, Ident, IndexColumn, TableConstraint};

use super::options::TableOptionKey;

/// One element of a table, named as declared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Element {
    /// The table as a whole (a parent dropped it, a parent and a child both create it).
    Table,
    Column(String),
    /// Any index, `PRIMARY` included (indexes share one namespace in MySQL).
    Index(String),
    ForeignKey(String),
    Check(String),
    Option(TableOptionKey),
}

impl Element {
    /// The identity used for lookups: the kind plus the lower-cased name.
    pub fn key(&self) -> Element {
        match self {
            Element::Column(n) => Element::Column(n.to_lowercase()),
            Element::Index(n) => Element::Index(n.to_lowercase()),
            Element::ForeignKey(n) => Element::ForeignKey(n.to_lowercase()),
            Element::Check(n) => Element::Check(n.to_lowercase()),
            other => other.clone(),
        }
    }
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Element::Table => write!(f, "table"),
            Element::Column(n) => write!(f, "column {n}"),
            Element::Index(n) => write!(f, "index {n}"),
            Element::ForeignKey(n) => write!(f, "foreign key {n}"),
            Element::Check(n) => write!(f, "check {n}"),
            Element::Option(k) => write!(f, "option {}", k.keyword()),
        }
    }
}

/// The element a table constraint defines, or what is missing to name it.
pub(crate) fn constraint_element(c: &TableConstraint) -> Result<Element, &'static str> {
    let name = |n: &Option<Ident>| n.as_ref().map(|i| i.value.clone());
    match c {
        TableConstraint::PrimaryKey(_) => Ok(Element::Index("PRIMARY".into())),
        TableConstraint::Unique(u) => name(&u.index_name)
            .or_else(|| name(&u.name))
            .map(Element::Index)
            .ok_or("a UNIQUE index"),
        TableConstraint::Index(i) => name(&i.name).map(Element::Index).ok_or("an index"),
        TableConstraint::FulltextOrSpatial(f) => name(&f.opt_index_name)
            .map(Element::Index)
            .ok_or("a FULLTEXT or SPATIAL index"),
        TableConstraint::ForeignKey(fk) => name(&fk.name)
            .map(Element::ForeignKey)
            .ok_or("a FOREIGN KEY (use CONSTRAINT <name> FOREIGN KEY ...)"),
        TableConstraint::Check(ck) => name(&ck.name)
            .map(Element::Check)
            .ok_or("a CHECK constraint (use CONSTRAINT <name> CHECK ...)"),
        _ => Err("this kind of constraint"),
    }
}

/// The column an index part names: `col`, or `col(10)` for a prefix (sqlparser reads the
/// prefix as a call). `None` for anything else (functional key parts).
pub(crate) fn index_part_column(part: &IndexColumn) -> Option<&Ident> {
    match &part.column.expr {
        Expr::Identifier(i) => Some(i),
        Expr::Function(f) if f.name.0.len() == 1 => f.name.0[0].as_ident(),
        _ => None,
    }
}

/// The index parts of an index constraint.
pub(crate) fn index_parts(c: &TableConstraint) -> &[IndexColumn] {
    match c {
        TableConstraint::PrimaryKey(p) => &p.columns,
        TableConstraint::Unique(u) => &u.columns,
        TableConstraint::Index(i) => &i.columns,
        TableConstraint::FulltextOrSpatial(f) => &f.columns,
        _ => &[],
    }
}

/// The table's own columns a constraint needs (index parts, a foreign key's local columns).
pub(crate) fn local_columns(c: &TableConstraint) -> Vec<String> {
    match c {
        TableConstraint::ForeignKey(fk) => fk.columns.iter().map(|i| i.value.clone()).collect(),
        _ => index_parts(c)
            .iter()
            .filter_map(index_part_column)
            .map(|i| i.value.clone())
            .collect(),
    }
}

/// The table and columns a foreign key refers to.
pub(crate) fn foreign_reference(c: &TableConstraint) -> Option<(String, Vec<String>)> {
    match c {
        TableConstraint::ForeignKey(fk) => {
            let table = fk.foreign_table.0.last()?.as_ident()?.value.clone();
            let cols = fk
                .referred_columns
                .iter()
                .map(|i| i.value.clone())
                .collect();
            Some((table, cols))
        }
        _ => None,
    }
}
