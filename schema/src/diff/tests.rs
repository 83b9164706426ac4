use super::*;
use crate::model::IndexKind;
use crate::testkit::*;

fn one(live: TableModel, desired: TableModel, exact: bool) -> Vec<Change> {
    let d = diff(&schema(vec![live]), &schema(vec![desired]), exact);
    assert!(d.created.is_empty() && d.dropped.is_empty());
    d.altered.into_iter().flat_map(|a| a.changes).collect()
}

#[test]
fn equal_models_have_no_diff() {
    let t = table("t", vec![col("a", "int(11)")]);
    let d = diff(&schema(vec![t.clone()]), &schema(vec![t]), true);
    assert!(d.is_empty());
    assert!(d.summary().is_empty());
}

#[test]
fn create_sql_is_not_compared() {
    let a = table("t", vec![]);
    let mut b = a.clone();
    b.create_sql = "something else".into();
    assert!(diff(&schema(vec![a]), &schema(vec![b]), true).is_empty());
}

#[test]
fn tables_are_created_and_dropped() {
    let d = diff(
        &schema(vec![table("old", vec![])]),
        &schema(vec![table("new", vec![])]),
        false,
    );
    assert_eq!(d.created.len(), 1);
    assert_eq!(d.dropped.len(), 1);
    assert_eq!(d.summary(), ["missing table new", "extra table old"]);
}

#[test]
fn columns_are_added_at_their_place() {
    let changes = one(
        table("t", vec![col("a", "int(11)")]),
        table(
            "t",
            vec![
                col("x", "int(11)"),
                col("a", "int(11)"),
                col("z", "int(11)"),
            ],
        ),
        false,
    );
    assert_eq!(
        changes,
        [
            Change::AddColumn {
                column: col("x", "int(11)"),
                position: Position::After("id".into())
            },
            Change::AddColumn {
                column: col("z", "int(11)"),
                position: Position::After("a".into())
            },
        ]
    );
}

#[test]
fn columns_are_dropped_and_modified_in_place() {
    let changes = one(
        table("t", vec![col("a", "int(11)"), col("b", "int(11)")]),
        table("t", vec![col("a", "bigint(20)")]),
        false,
    );
    assert_eq!(
        changes,
        [
            Change::DropColumn {
                column: col("b", "int(11)")
            },
            Change::ModifyColumn {
                from: col("a", "int(11)"),
                to: col("a", "bigint(20)"),
                position: None
            },
        ]
    );
}

#[test]
fn a_moved_column_goes_after_its_new_predecessor() {
    let changes = one(
        table(
            "t",
            vec![
                col("a", "int(11)"),
                col("b", "int(11)"),
                col("c", "int(11)"),
            ],
        ),
        table(
            "t",
            vec![
                col("c", "int(11)"),
                col("a", "int(11)"),
                col("b", "int(11)"),
            ],
        ),
        false,
    );
    assert_eq!(
        changes,
        [Change::ModifyColumn {
            from: col("c", "int(11)"),
            to: col("c", "int(11)"),
            position: Some(Position::After("id".into())),
        }]
    );
}

/// Applies column clauses the way MariaDB does (drops, then each positioned clause in order,
/// inserted after its anchor; unpositioned adds at the end).
fn simulate(live: &[&str], changes: &[Change]) -> Vec<String> {
    let mut cols: Vec<String> = live.iter().map(|s| s.to_string()).collect();
    for c in changes {
        if let Change::DropColumn { column } = c {
            cols.retain(|x| x != &column.name);
        }
    }
    for c in changes {
        let (name, pos) = match c {
            Change::AddColumn { column, position } => (column.name.clone(), Some(position)),
            Change::ModifyColumn {
                to,
                position: Some(p),
                ..
            } => {
                cols.retain(|x| x != &to.name);
                (to.name.clone(), Some(p))
            }
            _ => continue,
        };
        match pos {
            Some(Position::First) => cols.insert(0, name),
            Some(Position::After(a)) => {
                let i = cols.iter().position(|x| x == a).expect("anchor exists");
                cols.insert(i + 1, name);
            }
            None => cols.push(name),
        }
    }
    cols
}

fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

#[test]
fn every_reordering_with_adds_and_drops_ends_in_the_desired_order() {
    let live_cols = ["a", "b", "c", "d", "gone"];
    for desired in permutations(&["a", "b", "c", "d", "new"]) {
        let mk = |names: &[&str]| {
            let mut t = table("t", names.iter().map(|n| col(n, "int(11)")).collect());
            t.columns.remove(0); // no fixed `id` first: FIRST must work too
            t
        };
        let changes = one(mk(&live_cols), mk(&desired), false);
        assert_eq!(simulate(&live_cols, &changes), desired, "{changes:#?}");
        // Never more moves than needed: columns in a common subsequence stay.
        let moves = changes
            .iter()
            .filter(|c| {
                matches!(
                    c,
                    Change::ModifyColumn {
                        position: Some(_),
                        ..
                    }
                )
            })
            .count();
        assert!(moves <= 3, "{desired:?}: {moves} moves");
    }
}

#[test]
fn changed_indexes_are_dropped_and_added_again() {
    let mut live = table("t", vec![col("a", "int(11)"), col("b", "int(11)")]);
    live.indexes.push(index("ix", IndexKind::Plain, &["a"]));
    live.indexes.push(index("gone", IndexKind::Unique, &["b"]));
    let mut desired = table("t", vec![col("a", "int(11)"), col("b", "int(11)")]);
    desired
        .indexes
        .push(index("ix", IndexKind::Plain, &["a", "b"]));
    desired
        .indexes
        .push(index("ft", IndexKind::Fulltext, &["b"]));
    let changes = one(live, desired, false);
    assert_eq!(
        changes,
        [
            Change::DropIndex {
                index: index("ix", IndexKind::Plain, &["a"])
            },
            Change::DropIndex {
                index: index("gone", IndexKind::Unique, &["b"])
            },
            Change::AddIndex {
                index: index("ix", IndexKind::Plain, &["a", "b"])
            },
            Change::AddIndex {
                index: index("ft", IndexKind::Fulltext, &["b"])
            },
        ]
    );
}

#[test]
fn index_order_counts_only_in_exact_mode() {
    let mut live = table("t", vec![col("a", "int(11)"), col("b", "int(11)")]);
    live.indexes.push(index("ia", IndexKind::Plain, &["a"]));
    live.indexes.push(index("ib", IndexKind::Plain, &["b"]));
    let mut desired = live.clone();
    desired.indexes.swap(1, 2);
    assert!(one(live.clone(), desired.clone(), false).is_empty());
    let exact = one(live, desired, true);
    assert_eq!(
        exact,
        [
            Change::DropIndex {
                index: index("ia", IndexKind::Plain, &["a"])
            },
            Change::DropIndex {
                index: index("ib", IndexKind::Plain, &["b"])
            },
            Change::AddIndex {
                index: index("ib", IndexKind::Plain, &["b"])
            },
            Change::AddIndex {
                index: index("ia", IndexKind::Plain, &["a"])
            },
        ]
    );
}

#[test]
fn checks_and_options_are_compared() {
    let mut live = table("t", vec![col("a", "int(11)")]);
    live.checks.push(check("c1", "`a` > 0"));
    let mut desired = live.clone();
    desired.checks[0].clause = "`a` > 1".into();
    desired.comment = "new".into();
    desired
        .options
        .insert("row_format".into(), "COMPACT".into());
    let changes = one(live, desired, false);
    assert!(matches!(changes[0], Change::DropCheck { .. }));
    assert!(matches!(changes[1], Change::AddCheck { .. }));
    assert!(matches!(changes[2], Change::Options { .. }));
    assert_eq!(changes.len(), 3);
}

#[test]
fn foreign_keys_on_retyped_columns_are_recreated_on_both_sides() {
    let parent = table("p", vec![]);
    let mut child = table("c", vec![col("p_id", "int(11)")]);
    child
        .indexes
        .push(index("fk_p", IndexKind::Plain, &["p_id"]));
    child.foreign_keys.push(fk("fk_p", &["p_id"], "p", &["id"]));
    let live = schema(vec![parent.clone(), child.clone()]);
    // The parent's key becomes BIGINT, and so does the child's column.
    let mut parent2 = parent;
    parent2.columns[0].column_type = "bigint(20)".into();
    let mut child2 = child.clone();
    child2.columns[1].column_type = "bigint(20)".into();
    let d = diff(&live, &schema(vec![parent2.clone(), child2]), false);
    let c = d.altered.iter().find(|a| a.table == "c").unwrap();
    assert!(matches!(
        c.changes.first(),
        Some(Change::DropForeignKey { .. })
    ));
    assert!(matches!(
        c.changes.last(),
        Some(Change::AddForeignKey { .. })
    ));
    // Only the parent changes: the child's key is still dropped and added again.
    let d = diff(&live, &schema(vec![parent2, child]), false);
    let c = d.altered.iter().find(|a| a.table == "c").unwrap();
    assert_eq!(c.changes.len(), 2, "{:?}", c.changes);
}

#[test]
fn a_changed_foreign_key_is_dropped_and_added() {
    let mut live = table("c", vec![col("p_id", "int(11)")]);
    live.foreign_keys.push(fk("fk_p", &["p_id"], "p", &["id"]));
    let mut desired = live.clone();
    desired.foreign_keys[0].on_delete = "CASCADE".into();
    let changes = one(live, desired, false);
    assert!(matches!(changes[0], Change::DropForeignKey { .. }));
    assert!(matches!(changes[1], Change::AddForeignKey { .. }));
}
