use super::*;
use crate::model::{IndexPart, SchemaModel};
use crate::testkit::*;
use rstest::rstest;

fn report(live: SchemaModel, desired: SchemaModel) -> LintReport {
    lint(&Plan::new(&live, &desired).unwrap())
}

fn keys(r: &LintReport) -> Vec<String> {
    r.findings.iter().map(Finding::key).collect()
}

fn t1(cols: Vec<crate::model::Column>) -> SchemaModel {
    schema(vec![table("t", cols)])
}

#[rstest]
#[case::drop_table(schema(vec![table("t", vec![]), table("old", vec![])]), schema(vec![table("t", vec![])]), &["drop_table:old"])]
#[case::drop_column(t1(vec![col("a", "int(11)")]), t1(vec![]), &["drop_column:t.a"])]
#[case::narrow_varchar(t1(vec![col("a", "varchar(100)")]), t1(vec![col("a", "varchar(50)")]), &["narrow_type:t.a"])]
#[case::narrow_int(t1(vec![col("a", "int(11)")]), t1(vec![col("a", "smallint(6)")]), &["narrow_type:t.a"])]
#[case::narrow_bigint(t1(vec![col("a", "bigint(20)")]), t1(vec![col("a", "int(11)")]), &["narrow_type:t.a"])]
#[case::widen_is_fine(t1(vec![col("a", "varchar(50)")]), t1(vec![col("a", "varchar(100)")]), &[])]
#[case::add_nullable_is_fine(t1(vec![]), t1(vec![col("a", "int(11)")]), &[])]
#[case::add_not_null(t1(vec![]), t1(vec![not_null(col("a", "int(11)"))]), &["not_null_without_default:t.a"])]
#[case::make_not_null(t1(vec![col("a", "int(11)")]), t1(vec![not_null(col("a", "int(11)"))]), &["not_null_without_default:t.a"])]
#[case::new_table_is_fine(schema(vec![]), schema(vec![table("t", vec![not_null(col("a", "int(11)"))])]), &[])]
fn classifies_risky_steps(
    #[case] live: SchemaModel,
    #[case] desired: SchemaModel,
    #[case] expected: &[&str],
) {
    assert_eq!(keys(&report(live, desired)), expected);
}

#[test]
fn charset_changes_are_found_on_columns_and_tables() {
    let live = t1(vec![col("a", "varchar(10)")]);
    let mut desired = t1(vec![col("a", "varchar(10)")]);
    let t = desired.tables.get_mut("t").unwrap();
    t.charset = "latin1".into();
    t.collation = "latin1_swedish_ci".into();
    t.columns[1].charset = Some("latin1".into());
    t.columns[1].collation = Some("latin1_swedish_ci".into());
    assert_eq!(
        keys(&report(live, desired)),
        ["charset_change:t.a", "charset_change:t"]
    );
}

#[test]
fn collation_only_changes_are_not_charset_changes() {
    let live = t1(vec![col("a", "varchar(10)")]);
    let mut desired = live.clone();
    desired.tables.get_mut("t").unwrap().columns[1].collation = Some("utf8mb4_bin".into());
    assert!(report(live, desired).findings.is_empty());
}

#[test]
fn dropping_a_unique_index_is_risky_unless_it_comes_back_the_same() {
    let mut live = t1(vec![col("a", "int(11)")]);
    live.tables
        .get_mut("t")
        .unwrap()
        .indexes
        .push(index("uq", IndexKind::Unique, &["a"]));
    // Gone.
    assert_eq!(
        keys(&report(live.clone(), t1(vec![col("a", "int(11)")]))),
        ["drop_unique_index:t.uq"]
    );
    // Recreated with a new comment: same columns, nothing lost.
    let mut desired = live.clone();
    desired.tables.get_mut("t").unwrap().indexes[1].comment = "why".into();
    assert!(report(live.clone(), desired).findings.is_empty());
    // Recreated on other columns: uniqueness changes.
    let mut desired = t1(vec![col("a", "int(11)"), col("b", "int(11)")]);
    desired
        .tables
        .get_mut("t")
        .unwrap()
        .indexes
        .push(index("uq", IndexKind::Unique, &["a", "b"]));
    assert_eq!(keys(&report(live, desired)), ["drop_unique_index:t.uq"]);
}

#[test]
fn allow_lists_name_kinds_or_single_steps() {
    let r = report(
        t1(vec![col("a", "int(11)"), col("b", "varchar(100)")]),
        t1(vec![col("b", "varchar(10)")]),
    );
    assert_eq!(keys(&r), ["drop_column:t.a", "narrow_type:t.b"]);
    assert_eq!(r.refused(&Allow::none()).len(), 2);
    assert_eq!(
        r.refused(&Allow::none().with_kind(RiskKind::DropColumn))
            .len(),
        1
    );
    assert_eq!(
        r.refused(&Allow::none().with_item("narrow_type:t.b")).len(),
        1
    );
    assert!(r
        .refused(
            &Allow::none()
                .with_item("narrow_type:t.b")
                .with_kind(RiskKind::DropColumn)
        )
        .is_empty());
    assert!(r.refused(&Allow::all()).is_empty());
    // A key for another table or column allows nothing here.
    assert_eq!(
        r.refused(&Allow::none().with_item("drop_column:u.a")).len(),
        2
    );
    assert!(r.findings.iter().all(|f| f.step == 0));
}

#[test]
fn not_null_without_default_waits_for_a_row_check() {
    let r = report(t1(vec![]), t1(vec![not_null(col("a", "int(11)"))]));
    assert!(r.refused(&Allow::none()).is_empty());
    let checks = r.row_checks(&Allow::none());
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].row_check, Some(RowCheck::TableEmpty));
    assert!(r
        .row_checks(&Allow::none().with_kind(RiskKind::NotNullWithoutDefault))
        .is_empty());
    let r = report(
        t1(vec![col("a", "int(11)")]),
        t1(vec![not_null(col("a", "int(11)"))]),
    );
    assert_eq!(r.findings[0].row_check, Some(RowCheck::NoNulls("a".into())));
}

#[test]
fn warns_about_missing_primary_keys_and_redundant_indexes() {
    let mut t = table("t", vec![col("a", "int(11)"), col("b", "int(11)")]);
    t.indexes.push(index("ab", IndexKind::Plain, &["a", "b"]));
    t.indexes.push(index("a_only", IndexKind::Plain, &["a"]));
    t.indexes
        .push(index("ab_again", IndexKind::Plain, &["a", "b"]));
    t.indexes.push(index("b_unique", IndexKind::Unique, &["b"]));
    let mut prefix = index("a_prefix", IndexKind::Plain, &["a"]);
    prefix.parts[0] = IndexPart {
        column: "a".into(),
        sub_part: None,
        descending: true,
    };
    t.indexes.push(prefix);
    let mut nopk = table("nopk", vec![]);
    nopk.indexes.clear();
    let r = report(schema(vec![]), schema(vec![t, nopk]));
    let msgs: Vec<&str> = r.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "table nopk has no primary key",
            "index a_only (a) is redundant with ab (a, b)",
            "index ab_again (a, b) is redundant with ab (a, b)",
        ]
    );
}

#[test]
fn untouched_tables_are_not_warned_about() {
    let mut nopk = table("nopk", vec![]);
    nopk.indexes.clear();
    let s = schema(vec![nopk]);
    assert!(report(s.clone(), s).warnings.is_empty());
}
