use super::*;
use crate::model::IndexKind;
use crate::testkit::*;

fn target() -> SchemaName {
    SchemaName::new("t_acme__shop").unwrap()
}

fn plan_sql(live: &SchemaModel, desired: &SchemaModel) -> Vec<String> {
    Plan::new(live, desired).unwrap().statements(&target())
}

#[test]
fn nothing_to_do_is_an_empty_plan() {
    let s = schema(vec![table("t", vec![])]);
    assert!(Plan::new(&s, &s).unwrap().is_empty());
}

#[test]
fn new_tables_use_the_workspace_text_qualified_to_the_target() {
    let mut t = table("we`ird", vec![]);
    t.create_sql = "CREATE TABLE `we``ird` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB".into();
    let sql = plan_sql(&schema(vec![]), &schema(vec![t]));
    assert_eq!(
        sql,
        ["CREATE TABLE `t_acme__shop`.`we``ird` (\n  `id` int(11) NOT NULL\n) ENGINE=InnoDB"]
    );
}

#[test]
fn unexpected_create_text_is_refused() {
    let mut t = table("t", vec![]);
    t.create_sql = "CREATE TABLE `other` (`id` int)".into();
    let e = Plan::new(&schema(vec![]), &schema(vec![t])).unwrap_err();
    assert_eq!(e.kind(), "unexpected_create_text");
}

#[test]
fn alters_render_every_clause_quoted() {
    let mut live = table("t", vec![col("a", "int(11)"), col("old", "int(11)")]);
    live.indexes.push(index("ix", IndexKind::Plain, &["a"]));
    let mut desired = table(
        "t",
        vec![col("n`ew", "varchar(10)"), col("a", "bigint(20)")],
    );
    desired
        .indexes
        .push(index("ix2", IndexKind::Unique, &["n`ew"]));
    desired.comment = "it's".into();
    desired
        .options
        .insert("row_format".into(), "COMPACT".into());
    let sql = plan_sql(&schema(vec![live]), &schema(vec![desired]));
    assert_eq!(
        sql,
        ["ALTER TABLE `t_acme__shop`.`t` DROP INDEX `ix`, DROP COLUMN `old`, \
          ADD COLUMN `n``ew` varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL AFTER `id`, \
          CHANGE COLUMN `a` `a` bigint(20) NULL DEFAULT NULL, \
          ADD UNIQUE INDEX `ix2` (`n``ew`), COMMENT='it''s', ROW_FORMAT=COMPACT"]
    );
}

#[test]
fn removed_options_go_back_to_default_and_charset_changes_together() {
    let mut live = table("t", vec![]);
    live.options.insert("row_format".into(), "COMPACT".into());
    let mut desired = table("t", vec![]);
    desired.charset = "latin1".into();
    desired.collation = "latin1_swedish_ci".into();
    desired.engine = "Aria".into();
    let sql = plan_sql(&schema(vec![live]), &schema(vec![desired]));
    assert_eq!(
        sql,
        ["ALTER TABLE `t_acme__shop`.`t` ENGINE=Aria, DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci, \
          ROW_FORMAT=DEFAULT"]
    );
}

fn child_of(name: &str, parent: &str) -> TableModel {
    let mut t = table(name, vec![col("p_id", "int(11)")]);
    t.indexes
        .push(index(&format!("fk_{name}"), IndexKind::Plain, &["p_id"]));
    t.foreign_keys
        .push(fk(&format!("fk_{name}"), &["p_id"], parent, &["id"]));
    t
}

fn kinds(plan: &Plan) -> Vec<String> {
    plan.steps.iter().map(|s| s.describe()).collect()
}

#[test]
fn new_parents_are_created_before_their_children() {
    let plan = Plan::new(
        &schema(vec![]),
        &schema(vec![
            child_of("a_child", "z_parent"),
            table("z_parent", vec![]),
        ]),
    )
    .unwrap();
    assert_eq!(
        kinds(&plan),
        ["create table z_parent", "create table a_child"]
    );
    assert!(plan.steps.iter().all(|s| matches!(
        s.action,
        Action::Create {
            foreign_key_checks_off: false,
            ..
        }
    )));
}

#[test]
fn cycles_between_new_tables_turn_checks_off_for_the_creates() {
    let plan = Plan::new(
        &schema(vec![]),
        &schema(vec![child_of("x", "y"), child_of("y", "x")]),
    )
    .unwrap();
    assert!(plan.steps.iter().all(|s| matches!(
        s.action,
        Action::Create {
            foreign_key_checks_off: true,
            ..
        }
    )));
}

#[test]
fn a_foreign_key_to_a_new_table_is_added_after_the_table_exists() {
    let live = schema(vec![table("orders", vec![col("p_id", "int(11)")])]);
    let mut orders = child_of("orders", "customers");
    orders.indexes[1].name = "fk_orders".into();
    let desired = schema(vec![orders, table("customers", vec![])]);
    let plan = Plan::new(&live, &desired).unwrap();
    assert_eq!(
        kinds(&plan),
        [
            "alter table orders: add index fk_orders",
            "create table customers",
            "alter table orders: add foreign key fk_orders",
        ]
    );
    assert_eq!(
        plan.steps[2].sql(&target()),
        "ALTER TABLE `t_acme__shop`.`orders` ADD CONSTRAINT `fk_orders` FOREIGN KEY (`p_id`) \
         REFERENCES `t_acme__shop`.`customers` (`id`)"
    );
}

#[test]
fn foreign_keys_are_dropped_before_the_tables_and_indexes_they_need() {
    // Live: parent <- child (fk), and orders -> parent; desired: only orders, without its fk.
    let mut orders = child_of("orders", "parent");
    let live = schema(vec![
        table("parent", vec![]),
        child_of("child", "parent"),
        orders.clone(),
    ]);
    orders.foreign_keys.clear();
    orders.indexes.truncate(1);
    let plan = Plan::new(&live, &schema(vec![orders])).unwrap();
    assert_eq!(
        kinds(&plan),
        [
            "alter table orders: drop foreign key fk_orders",
            "alter table child: drop foreign key fk_child",
            "drop table child",
            "drop table parent",
            "alter table orders: drop index fk_orders",
        ]
    );
}

#[test]
fn retyping_a_referenced_key_drops_and_restores_the_foreign_key_around_it() {
    let live = schema(vec![table("p", vec![]), child_of("c", "p")]);
    let mut p2 = table("p", vec![]);
    p2.columns[0].column_type = "bigint(20)".into();
    let mut c2 = child_of("c", "p");
    c2.columns[1].column_type = "bigint(20)".into();
    let plan = Plan::new(&live, &schema(vec![p2, c2])).unwrap();
    assert_eq!(
        kinds(&plan),
        [
            "alter table c: drop foreign key fk_c",
            "alter table c: modify column p_id",
            "alter table p: modify column id",
            "alter table c: add foreign key fk_c",
        ]
    );
}

#[test]
fn plans_serialize_for_storage() {
    let plan = Plan::new(&schema(vec![]), &schema(vec![table("t", vec![])])).unwrap();
    let json = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
}
