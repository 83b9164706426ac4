use super::*;
use rstest::rstest;

fn s(sql: &str) -> DesiredSchema {
    DesiredSchema::parse(sql).unwrap()
}

const BASE_V1: &str = "
CREATE TABLE customers (id INT NOT NULL, name VARCHAR(50) NOT NULL, note TEXT, PRIMARY KEY (id));
CREATE TABLE orders (id INT NOT NULL, customer_id INT NOT NULL, total DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (id), KEY ix_customer (customer_id),
  CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB;
";

#[test]
fn a_child_adds_tables_columns_indexes_and_overrides_in_place() {
    let child = s("
        CREATE TABLE orders (coupon VARCHAR(20), total DECIMAL(12,2) NOT NULL,
          KEY ix_coupon (coupon)) COMMENT='retail';
        CREATE TABLE coupons (code VARCHAR(20) NOT NULL PRIMARY KEY);
    ");
    let merged = merge(&[s(BASE_V1), child]);
    let orders = merged.table("orders").unwrap();
    assert_eq!(
        orders.column_names(),
        ["id", "customer_id", "total", "coupon"]
    );
    let sql = orders.render(None);
    assert!(sql.contains("`total` DECIMAL(12,2) NOT NULL"), "{sql}");
    assert!(sql.contains("KEY `ix_customer`"), "{sql}");
    assert!(sql.contains("KEY `ix_coupon`"), "{sql}");
    assert!(sql.ends_with("ENGINE=InnoDB COMMENT='retail'"), "{sql}");
    assert!(merged.table("coupons").is_some());
    assert!(merged.table("customers").is_some());
}

#[test]
fn names_match_case_insensitively_when_overriding() {
    let merged = merge(&[
        s("CREATE TABLE t (Amount INT, KEY IX (Amount))"),
        s("CREATE TABLE t (amount BIGINT, KEY ix (amount, Amount))"),
    ]);
    let t = merged.table("t").unwrap();
    assert_eq!(t.column_names(), ["amount"]);
    assert_eq!(t.elements().len(), 2);
}

#[test]
fn merges_three_levels_in_order() {
    let merged = merge(&[
        s("CREATE TABLE t (a INT)"),
        s("CREATE TABLE t (b INT)"),
        s("CREATE TABLE t (c INT, a BIGINT)"),
    ]);
    let t = merged.table("t").unwrap();
    assert_eq!(t.column_names(), ["a", "b", "c"]);
    assert!(t.render(None).contains("`a` BIGINT"));
    assert!(merge(&[]).is_empty());
}

#[test]
fn chains_of_different_lengths_are_refused() {
    let e = merge_update(&[s(BASE_V1)], &[s(BASE_V1), s("")]).unwrap_err();
    assert_eq!(e.kind(), "chain_length");
}

/// (parent before, parent after, overlay, expected conflicts as (kind, table, element)).
#[rstest]
// The parent did not change: the overlay's customisations are never conflicts.
#[case::unchanged_parent(
    "CREATE TABLE t (a INT, b INT, KEY ix (a))",
    "CREATE TABLE t (a INT, b INT, KEY ix (a))",
    "CREATE TABLE t (a BIGINT, c INT, KEY ix (a, b))",
    &[]
)]
// The parent changed something the overlay does not touch.
#[case::parent_changes_other_column(
    "CREATE TABLE t (a INT, b INT)",
    "CREATE TABLE t (a INT, b BIGINT, d INT)",
    "CREATE TABLE t (a INT UNSIGNED, c INT)",
    &[]
)]
// Both define the column; the parent's change differs from the overlay's definition.
#[case::both_change_a_column(
    "CREATE TABLE t (a INT, b INT)",
    "CREATE TABLE t (a INT, b VARCHAR(10))",
    "CREATE TABLE t (b BIGINT)",
    &[(ConflictKind::ChangedDifferently, "t", Element::Column("b".into()))]
)]
// The parent newly adds a column the overlay already had, differently.
#[case::parent_adds_overlay_column_differently(
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t (a INT, note TEXT)",
    "CREATE TABLE t (note VARCHAR(100))",
    &[(ConflictKind::ChangedDifferently, "t", Element::Column("note".into()))]
)]
// ... or identically: converged, nothing to decide.
#[case::parent_adds_overlay_column_identically(
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t (a INT, note TEXT)",
    "CREATE TABLE t (`note` text)",
    &[]
)]
// Same for indexes.
#[case::both_define_an_index(
    "CREATE TABLE t (a INT, b INT)",
    "CREATE TABLE t (a INT, b INT, KEY ix (a))",
    "CREATE TABLE t (KEY ix (b))",
    &[(ConflictKind::ChangedDifferently, "t", Element::Index("ix".into()))]
)]
// The parent drops a column the overlay redefines.
#[case::parent_drops_redefined_column(
    "CREATE TABLE t (a INT, b INT)",
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t (b BIGINT)",
    &[(ConflictKind::ParentDroppedElement, "t", Element::Column("b".into()))]
)]
// The parent drops a table the overlay extends.
#[case::parent_drops_extended_table(
    "CREATE TABLE t (a INT); CREATE TABLE u (x INT)",
    "CREATE TABLE u (x INT)",
    "CREATE TABLE t (extra INT)",
    &[(ConflictKind::ParentDroppedTable, "t", Element::Table)]
)]
// The parent drops a column the overlay's index uses.
#[case::parent_drops_indexed_column(
    "CREATE TABLE t (a INT, b INT)",
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t (c INT, KEY ix_bc (b, c))",
    &[(ConflictKind::ParentDroppedReferenced, "t", Element::Index("ix_bc".into()))]
)]
// The parent drops a table the overlay's own table refers to.
#[case::parent_drops_referenced_table(
    "CREATE TABLE p (id INT PRIMARY KEY); CREATE TABLE q (id INT)",
    "CREATE TABLE q (id INT)",
    "CREATE TABLE mine (p_id INT, CONSTRAINT fk_p FOREIGN KEY (p_id) REFERENCES p (id))",
    &[(ConflictKind::ParentDroppedReferenced, "mine", Element::ForeignKey("fk_p".into()))]
)]
// The parent drops the column the overlay's foreign key refers to.
#[case::parent_drops_referenced_column(
    "CREATE TABLE p (id INT PRIMARY KEY, code INT, UNIQUE KEY uq (code))",
    "CREATE TABLE p (id INT PRIMARY KEY)",
    "CREATE TABLE mine (c INT, CONSTRAINT fk_c FOREIGN KEY (c) REFERENCES p (code))",
    &[(ConflictKind::ParentDroppedReferenced, "mine", Element::ForeignKey("fk_c".into()))]
)]
// A column the overlay defines itself is not "dropped" for its own index.
#[case::overlay_keeps_its_own_copy(
    "CREATE TABLE t (a INT, b INT)",
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t (KEY ix (a))",
    &[]
)]
// Table options are elements too.
#[case::both_change_an_option(
    "CREATE TABLE t (a INT) COMMENT='v1'",
    "CREATE TABLE t (a INT) COMMENT='v2'",
    "CREATE TABLE t (a INT) COMMENT='mine'",
    &[(ConflictKind::ChangedDifferently, "t", Element::Option(crate::desired::TableOptionKey::Comment))]
)]
// The overlay's own table never conflicts with a parent change elsewhere.
#[case::overlay_table_alone(
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t (a BIGINT)",
    "CREATE TABLE mine (x INT)",
    &[]
)]
fn reports_conflicts_of_a_parent_change(
    #[case] before: &str,
    #[case] after: &str,
    #[case] overlay: &str,
    #[case] expected: &[(ConflictKind, &str, Element)],
) {
    let outcome = merge_update(&[s(before), s(overlay)], &[s(after), s(overlay)]).unwrap();
    let got: Vec<(ConflictKind, &str, Element)> = outcome
        .conflicts
        .iter()
        .map(|c| (c.kind, c.table.as_str(), c.element.clone()))
        .collect();
    assert_eq!(got, expected, "{:#?}", outcome.conflicts);
    for c in &outcome.conflicts {
        assert_eq!(c.layer, 1);
        assert!(c.child.is_some(), "{c:?}");
        assert!(
            c.parent_previous.is_some() || c.parent_next.is_some(),
            "{c:?}"
        );
    }
}

#[test]
fn conflicts_carry_both_definitions() {
    let outcome = merge_update(
        &[
            s("CREATE TABLE t (a INT, b INT)"),
            s("CREATE TABLE t (b BIGINT)"),
        ],
        &[
            s("CREATE TABLE t (a INT, b VARCHAR(10))"),
            s("CREATE TABLE t (b BIGINT)"),
        ],
    )
    .unwrap();
    let c = &outcome.conflicts[0];
    assert_eq!(c.parent_previous.as_deref(), Some("`b` INT"));
    assert_eq!(c.parent_next.as_deref(), Some("`b` VARCHAR(10)"));
    assert_eq!(c.child.as_deref(), Some("`b` BIGINT"));
    // The merged schema is still given, the child winning.
    assert!(outcome
        .schema
        .table("t")
        .unwrap()
        .render(None)
        .contains("`b` BIGINT"));
}

#[test]
fn a_middle_template_change_is_checked_against_each_descendant() {
    // base -> retail -> overlay; retail changes a column both it and the overlay define.
    let base = s("CREATE TABLE t (a INT)");
    let retail_v1 = s("CREATE TABLE t (r INT)");
    let retail_v2 = s("CREATE TABLE t (r BIGINT)");
    let overlay = s("CREATE TABLE t (r SMALLINT)");
    let outcome = merge_update(
        &[base.clone(), retail_v1, overlay.clone()],
        &[base, retail_v2, overlay],
    )
    .unwrap();
    assert_eq!(outcome.conflicts.len(), 1);
    assert_eq!(outcome.conflicts[0].layer, 2);
    assert_eq!(outcome.conflicts[0].kind, ConflictKind::ChangedDifferently);
}

#[test]
fn a_root_change_conflicting_with_a_middle_template_is_reported_at_that_layer() {
    let outcome = merge_update(
        &[
            s("CREATE TABLE t (a INT)"),
            s("CREATE TABLE t (a INT UNSIGNED)"),
            s(""),
        ],
        &[
            s("CREATE TABLE t (a BIGINT)"),
            s("CREATE TABLE t (a INT UNSIGNED)"),
            s(""),
        ],
    )
    .unwrap();
    assert_eq!(outcome.conflicts.len(), 1);
    assert_eq!(outcome.conflicts[0].layer, 1);
}
