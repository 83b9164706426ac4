//! Round trips on the real MariaDB: a live database migrated to a desired schema through a
//! workspace, a plan and apply; apply's verification must pass and a second plan be empty.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::Result;
use common::*;
use mysql_async::prelude::Queryable;
use octodb_schema::{apply, introspect, Allow, ApplyError, ApplyOptions, Plan, RiskKind, RowCheck};

const SHOP: &str = "
CREATE TABLE customers (
  id INT NOT NULL AUTO_INCREMENT,
  email VARCHAR(190) NOT NULL,
  name VARCHAR(100) NOT NULL DEFAULT '' COMMENT 'display name, it''s shown',
  prefs JSON,
  created TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_email (email)
) ENGINE=InnoDB COMMENT='who buys';
CREATE TABLE products (
  id INT NOT NULL,
  title VARCHAR(200) NOT NULL,
  body TEXT,
  price DECIMAL(10,2) NOT NULL DEFAULT 0.00,
  kind ENUM('book','it''s other') NOT NULL DEFAULT 'book',
  price_cents BIGINT AS (price * 100) VIRTUAL,
  secret INT INVISIBLE,
  PRIMARY KEY (id),
  KEY ix_title (title(20) DESC, price),
  FULLTEXT KEY ft_body (body),
  CONSTRAINT chk_price CHECK (price >= 0)
);
CREATE TABLE orders (
  id INT NOT NULL AUTO_INCREMENT,
  customer_id INT NOT NULL,
  total DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE TABLE order_items (
  order_id INT NOT NULL,
  product_id INT NOT NULL,
  qty INT NOT NULL DEFAULT 1,
  PRIMARY KEY (order_id, product_id),
  CONSTRAINT fk_order FOREIGN KEY (order_id) REFERENCES orders (id),
  CONSTRAINT fk_product FOREIGN KEY (product_id) REFERENCES products (id) ON UPDATE CASCADE
);
";

#[tokio::test]
async fn an_empty_database_gets_the_whole_desired_schema() -> Result<()> {
    with_db("", |db| async move {
        let mut c = conn().await?;
        let steps = migrate_ok(&mut c, &db, SHOP, &Allow::none()).await?;
        // Parents before children.
        let pos = |t: &str| {
            steps
                .iter()
                .position(|s| s.contains(&format!("`{t}` (")))
                .unwrap()
        };
        assert!(pos("customers") < pos("orders"));
        assert!(pos("orders") < pos("order_items"));
        assert!(pos("products") < pos("order_items"));
        assert!(steps
            .iter()
            .all(|s| s.starts_with(&format!("CREATE TABLE {}.", db.quoted()))));
        let items = show_create(&mut c, &db, "order_items").await?;
        assert!(items.contains("REFERENCES `orders` (`id`)"), "{items}");
        let products = show_create(&mut c, &db, "products").await?;
        assert!(
            products.contains("KEY `ix_title` (`title`(20) DESC,`price`)"),
            "{products}"
        );
        assert!(
            products.contains("FULLTEXT KEY `ft_body` (`body`)"),
            "{products}"
        );
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn columns_and_indexes_are_added_and_data_kept() -> Result<()> {
    let setup = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a VARCHAR(20));
INSERT INTO t VALUES (1, 'x'), (2, 'y')";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let steps = migrate_ok(
            &mut c,
            &db,
            "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, n INT NOT NULL DEFAULT 7,
               a VARCHAR(20), b INT, KEY ix_ab (a, b), UNIQUE KEY uq_b (b))",
            &Allow::none(),
        )
        .await?;
        assert_eq!(steps.len(), 1, "one ALTER for one table: {steps:?}");
        assert!(
            steps[0].contains("ADD COLUMN `n` int(11) NOT NULL DEFAULT 7 AFTER `id`"),
            "{}",
            steps[0]
        );
        let rows: Vec<(i32, i32, String)> = c
            .query(format!(
                "SELECT id, n, a FROM {}.t ORDER BY id",
                db.quoted()
            ))
            .await?;
        assert_eq!(rows, [(1, 7, "x".to_string()), (2, 7, "y".to_string())]);
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn columns_are_modified_defaults_comments_and_nullability() -> Result<()> {
    let setup = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a VARCHAR(20) DEFAULT 'old', n INT);
INSERT INTO t VALUES (1, 'x', 5)";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        migrate_ok(
            &mut c,
            &db,
            "CREATE TABLE t (id INT NOT NULL PRIMARY KEY,
               a VARCHAR(50) DEFAULT 'it''s new' COMMENT 'widened',
               n BIGINT NOT NULL)",
            &Allow::none(),
        )
        .await?;
        let t = show_create(&mut c, &db, "t").await?;
        assert!(
            t.contains("`a` varchar(50) DEFAULT 'it''s new' COMMENT 'widened'"),
            "{t}"
        );
        assert!(t.contains("`n` bigint(20) NOT NULL"), "{t}");
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn drops_are_refused_unless_allowed() -> Result<()> {
    let setup = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, legacy TEXT, keep INT);
CREATE TABLE old (id INT NOT NULL PRIMARY KEY);
INSERT INTO t VALUES (1, 'data', 1)";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let desired = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, keep INT)";
        let before = show_create(&mut c, &db, "t").await?;
        let (_, steps, outcome) = migrate(&mut c, &db, desired, &Allow::none()).await?;
        match outcome {
            Err(ApplyError::Refused { findings }) => {
                let keys: Vec<String> = findings.iter().map(|f| f.key()).collect();
                assert_eq!(keys, ["drop_table:old", "drop_column:t.legacy"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(steps.is_empty());
        assert_eq!(
            show_create(&mut c, &db, "t").await?,
            before,
            "nothing applied"
        );
        // Allowing one kind is not enough.
        let only_columns = Allow::none().with_kind(RiskKind::DropColumn);
        let (_, _, outcome) = migrate(&mut c, &db, desired, &only_columns).await?;
        assert!(
            matches!(outcome, Err(ApplyError::Refused { ref findings }) if findings.len() == 1)
        );
        // The kind plus the single table by key.
        let allow = only_columns.with_item("drop_table:old");
        migrate_ok(&mut c, &db, desired, &allow).await?;
        let tables = introspect(&mut c, &db).await?;
        assert_eq!(tables.tables.keys().collect::<Vec<_>>(), ["t"]);
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn narrowing_is_refused_unless_allowed() -> Result<()> {
    let setup = "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, s VARCHAR(100));
INSERT INTO t VALUES (1, 'short')";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let desired = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, s VARCHAR(50))";
        let (_, _, outcome) = migrate(&mut c, &db, desired, &Allow::none()).await?;
        let Err(ApplyError::Refused { findings }) = outcome else {
            panic!("{outcome:?}")
        };
        let keys: Vec<String> = findings.iter().map(|f| f.key()).collect();
        assert_eq!(keys, ["narrow_type:t.id", "narrow_type:t.s"]);
        migrate_ok(
            &mut c,
            &db,
            desired,
            &Allow::none().with_kind(RiskKind::NarrowType),
        )
        .await?;
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn not_null_without_default_depends_on_the_rows() -> Result<()> {
    let setup = "CREATE TABLE full_t (id INT NOT NULL PRIMARY KEY);
CREATE TABLE empty_t (id INT NOT NULL PRIMARY KEY);
CREATE TABLE nulls (id INT NOT NULL PRIMARY KEY, v INT);
INSERT INTO full_t VALUES (1);
INSERT INTO nulls VALUES (1, NULL)";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let desired = "CREATE TABLE full_t (id INT NOT NULL PRIMARY KEY, req INT NOT NULL);
CREATE TABLE empty_t (id INT NOT NULL PRIMARY KEY, req INT NOT NULL);
CREATE TABLE nulls (id INT NOT NULL PRIMARY KEY, v INT NOT NULL)";
        let (_, _, outcome) = migrate(&mut c, &db, desired, &Allow::none()).await?;
        let Err(ApplyError::Refused { findings }) = outcome else {
            panic!("{outcome:?}")
        };
        let keys: Vec<(String, Option<RowCheck>)> = findings
            .iter()
            .map(|f| (f.key(), f.row_check.clone()))
            .collect();
        assert_eq!(
            keys,
            [
                (
                    "not_null_without_default:full_t.req".to_string(),
                    Some(RowCheck::TableEmpty)
                ),
                (
                    "not_null_without_default:nulls.v".to_string(),
                    Some(RowCheck::NoNulls("v".into()))
                ),
            ]
        );
        // Once the data allows it, no allow is needed; the empty table never needed one.
        c.query_drop(format!("DELETE FROM {}.full_t", db.quoted()))
            .await?;
        c.query_drop(format!("UPDATE {}.nulls SET v = 0", db.quoted()))
            .await?;
        migrate_ok(&mut c, &db, desired, &Allow::none()).await?;
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn foreign_keys_are_added_and_dropped_in_a_valid_order() -> Result<()> {
    let setup = "CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, customer_id INT NOT NULL);
INSERT INTO orders VALUES (1, 10)";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        // A new parent table and a foreign key to it from an existing table.
        let v2 = "CREATE TABLE customers (id INT NOT NULL PRIMARY KEY);
CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, customer_id INT NOT NULL,
  CONSTRAINT fk_c FOREIGN KEY (customer_id) REFERENCES customers (id))";
        // The existing row has no parent: adding the key fails (permanent), nothing half-done
        // but the new table.
        let (_, steps, outcome) = migrate(&mut c, &db, v2, &Allow::none()).await?;
        let err = outcome.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert!(steps[0].contains("ADD INDEX `fk_c`"), "{steps:?}");
        assert!(steps[1].starts_with("CREATE TABLE"), "{steps:?}");
        c.query_drop(format!("INSERT INTO {}.customers VALUES (10)", db.quoted()))
            .await?;
        migrate_ok(&mut c, &db, v2, &Allow::none()).await?;
        // Retype the referenced key on both sides: the key is dropped first and added last.
        let v3 = "CREATE TABLE customers (id BIGINT NOT NULL PRIMARY KEY);
CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, customer_id BIGINT NOT NULL,
  CONSTRAINT fk_c FOREIGN KEY (customer_id) REFERENCES customers (id))";
        let steps = migrate_ok(&mut c, &db, v3, &Allow::none()).await?;
        assert!(
            steps.first().unwrap().contains("DROP FOREIGN KEY `fk_c`"),
            "{steps:?}"
        );
        assert!(
            steps.last().unwrap().contains("ADD CONSTRAINT `fk_c`"),
            "{steps:?}"
        );
        // Drop the parent and the key: the key goes first.
        let v4 = "CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, customer_id BIGINT NOT NULL)";
        let steps = migrate_ok(
            &mut c,
            &db,
            v4,
            &Allow::none().with_kind(RiskKind::DropTable),
        )
        .await?;
        assert!(steps[0].contains("DROP FOREIGN KEY `fk_c`"), "{steps:?}");
        assert!(steps[1].starts_with("DROP TABLE"), "{steps:?}");
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn fulltext_and_prefix_indexes_are_managed() -> Result<()> {
    let setup = "CREATE TABLE docs (id INT NOT NULL PRIMARY KEY, title VARCHAR(200), body TEXT, KEY ix_title (title))";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let desired =
            "CREATE TABLE docs (id INT NOT NULL PRIMARY KEY, title VARCHAR(200), body TEXT,
  KEY ix_title (title(10) DESC), KEY ix_body (body(32)), FULLTEXT KEY ft (title, body))";
        let steps = migrate_ok(&mut c, &db, desired, &Allow::none()).await?;
        assert!(steps[0].contains("DROP INDEX `ix_title`"), "{steps:?}");
        let t = show_create(&mut c, &db, "docs").await?;
        assert!(t.contains("KEY `ix_title` (`title`(10) DESC)"), "{t}");
        assert!(t.contains("KEY `ix_body` (`body`(32))"), "{t}");
        assert!(t.contains("FULLTEXT KEY `ft` (`title`,`body`)"), "{t}");
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn charset_changes_need_an_allow_and_collations_do_not() -> Result<()> {
    let setup = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, s VARCHAR(20), u VARCHAR(20))";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let collation = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY,
  s VARCHAR(20) COLLATE utf8mb4_bin, u VARCHAR(20))";
        migrate_ok(&mut c, &db, collation, &Allow::none()).await?;
        assert!(show_create(&mut c, &db, "t").await?.contains("COLLATE utf8mb4_bin"));
        let charset = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY,
  s VARCHAR(20) COLLATE utf8mb4_bin, u VARCHAR(20)) DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci";
        let (_, _, outcome) = migrate(&mut c, &db, charset, &Allow::none()).await?;
        let Err(ApplyError::Refused { findings }) = outcome else {
            panic!("{outcome:?}")
        };
        let keys: Vec<String> = findings.iter().map(|f| f.key()).collect();
        assert_eq!(keys, ["charset_change:t.u", "charset_change:t"]);
        migrate_ok(&mut c, &db, charset, &Allow::none().with_kind(RiskKind::CharsetChange)).await?;
        let t = show_create(&mut c, &db, "t").await?;
        assert!(t.contains("DEFAULT CHARSET=latin1"), "{t}");
        assert!(t.contains("`s` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"), "{t}");
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn table_options_are_set_and_reset() -> Result<()> {
    with_db("CREATE TABLE t (id INT NOT NULL PRIMARY KEY)", |db| async move {
        let mut c = conn().await?;
        let v2 = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY) ENGINE=Aria COMMENT='it''s \\\\ here' ROW_FORMAT=PAGE";
        migrate_ok(&mut c, &db, v2, &Allow::none()).await?;
        let t = show_create(&mut c, &db, "t").await?;
        assert!(t.contains("ENGINE=Aria"), "{t}");
        assert!(t.contains("ROW_FORMAT=PAGE"), "{t}");
        assert!(t.contains("COMMENT='it''s \\\\ here'"), "{t}");
        let v3 = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY) ENGINE=InnoDB STATS_PERSISTENT=0";
        let steps = migrate_ok(&mut c, &db, v3, &Allow::none()).await?;
        assert!(steps[0].contains("ROW_FORMAT=DEFAULT"), "{steps:?}");
        let t = show_create(&mut c, &db, "t").await?;
        assert!(!t.contains("ROW_FORMAT") && !t.contains("COMMENT"), "{t}");
        assert!(t.contains("ENGINE=InnoDB") && t.contains("STATS_PERSISTENT=0"), "{t}");
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn columns_are_reordered_exactly() -> Result<()> {
    let setup = "CREATE TABLE t (a INT, b INT, c INT, d INT, gone INT);
INSERT INTO t VALUES (1, 2, 3, 4, 5)";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let orders = [
            "d, new, c, b, a",
            "b, a, new, d, c",
            "new, a, b, c, d",
            "c, d, a, b, new",
        ];
        for (i, order) in orders.iter().enumerate() {
            let cols: Vec<String> = order.split(", ").map(|n| format!("{n} INT")).collect();
            let desired = format!("CREATE TABLE t ({})", cols.join(", "));
            // Every round starts again from (a, b, c, d, gone).
            if i > 0 {
                run_in(&mut c, &db, "DROP TABLE t;\nCREATE TABLE t (a INT, b INT, c INT, d INT, gone INT);\nINSERT INTO t VALUES (1, 2, 3, 4, 5)").await?;
            }
            migrate_ok(&mut c, &db, &desired, &Allow::none().with_kind(RiskKind::DropColumn)).await?;
            let got: Vec<String> = c
                .exec(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
                     AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION",
                    (db.as_str(),),
                )
                .await?;
            assert_eq!(got.join(", "), *order);
            let row: Option<(i32, i32, i32, i32)> = c
                .query_first(format!("SELECT a, b, c, d FROM {}.t", db.quoted()))
                .await?;
            assert_eq!(row, Some((1, 2, 3, 4)), "data follows its column");
        }
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn one_plan_serves_every_database_with_the_same_live_state() -> Result<()> {
    let setup = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY)";
    with_db(setup, |a| async move {
        with_db(setup, |b| async move {
            with_db(
                "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, other INT)",
                |odd| async move {
                    let mut c = conn().await?;
                    let plan = plan_for(
                        &mut c,
                        &a,
                        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x INT, KEY ix (x))",
                    )
                    .await?;
                    let allow = Allow::none();
                    for target in [&a, &b] {
                        apply(&mut c, target, &plan, &ApplyOptions::new(&allow), |_| {}).await?;
                    }
                    assert_eq!(
                        show_create(&mut c, &a, "t").await?,
                        show_create(&mut c, &b, "t").await?
                    );
                    assert_eq!(
                        introspect(&mut c, &a).await?.fingerprint(),
                        introspect(&mut c, &b).await?.fingerprint()
                    );
                    // A database whose live state differs is refused before anything runs.
                    let before = show_create(&mut c, &odd, "t").await?;
                    let err = apply(&mut c, &odd, &plan, &ApplyOptions::new(&allow), |_| {})
                        .await
                        .unwrap_err();
                    assert_eq!(err.kind(), "stale_live_state", "{err}");
                    assert_eq!(show_create(&mut c, &odd, "t").await?, before);
                    c.disconnect().await?;
                    Ok(())
                },
            )
            .await
        })
        .await
    })
    .await
}

#[tokio::test]
async fn verification_catches_a_plan_that_does_not_reach_the_desired_state() -> Result<()> {
    with_db(
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY)",
        |db| async move {
            let mut c = conn().await?;
            let mut plan = plan_for(
                &mut c,
                &db,
                "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x INT)",
            )
            .await?;
            // Tamper with the plan: drop its only step.
            plan.steps.clear();
            let allow = Allow::none();
            let err = apply(&mut c, &db, &plan, &ApplyOptions::new(&allow), |_| {})
                .await
                .unwrap_err();
            match err {
                ApplyError::VerifyFailed { differences } => {
                    assert_eq!(differences, ["t: add column x"]);
                }
                other => panic!("{other:?}"),
            }
            let _ = Plan::new(&introspect(&mut c, &db).await?, &plan.to)?;
            c.disconnect().await?;
            Ok(())
        },
    )
    .await
}

#[tokio::test]
async fn new_tables_referring_to_each_other_are_created() -> Result<()> {
    with_db("", |db| async move {
        let mut c = conn().await?;
        let desired = "CREATE TABLE a (id INT NOT NULL PRIMARY KEY, b_id INT,
  CONSTRAINT fk_ab FOREIGN KEY (b_id) REFERENCES b (id));
CREATE TABLE b (id INT NOT NULL PRIMARY KEY, a_id INT,
  CONSTRAINT fk_ba FOREIGN KEY (a_id) REFERENCES a (id))";
        let steps = migrate_ok(&mut c, &db, desired, &Allow::none()).await?;
        assert_eq!(steps.len(), 2);
        // Foreign key checks are back on for the caller.
        let checks: Option<u8> = c.query_first("SELECT @@SESSION.foreign_key_checks").await?;
        assert_eq!(checks, Some(1));
        assert!(show_create(&mut c, &db, "a")
            .await?
            .contains("REFERENCES `b` (`id`)"));
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_template_chain_with_an_overlay_follows_a_parent_change() -> Result<()> {
    use octodb_schema::{merge, merge_update, DesiredSchema};
    with_db("", |db| async move {
        let mut c = conn().await?;
        let base_v1 = DesiredSchema::parse("CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL)")?;
        let overlay = DesiredSchema::parse("CREATE TABLE items (color VARCHAR(20), KEY ix_color (color))")?;
        let v1 = merge(&[base_v1.clone(), overlay.clone()]);
        migrate_ok(&mut c, &db, &v1.normalized_sql(), &Allow::none()).await?;
        // The parent adds a table and a column; the overlay's own column and index stay.
        let base_v2 = DesiredSchema::parse(
            "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, sku VARCHAR(20));
             CREATE TABLE tags (id INT NOT NULL PRIMARY KEY)",
        )?;
        let outcome = merge_update(&[base_v1, overlay.clone()], &[base_v2, overlay])?;
        assert!(outcome.conflicts.is_empty(), "{:?}", outcome.conflicts);
        migrate_ok(&mut c, &db, &outcome.schema.normalized_sql(), &Allow::none()).await?;
        let items = show_create(&mut c, &db, "items").await?;
        assert!(items.contains("`sku` varchar(20)") && items.contains("KEY `ix_color` (`color`)"), "{items}");
        let cols: Vec<String> = c
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
                 AND TABLE_NAME = 'items' ORDER BY ORDINAL_POSITION",
                (db.as_str(),),
            )
            .await?;
        assert_eq!(cols, ["id", "name", "sku", "color"]);
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn every_kind_of_column_can_be_added_to_an_existing_table() -> Result<()> {
    let setup = "CREATE TABLE customers (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY);
CREATE TABLE products (id INT NOT NULL PRIMARY KEY)";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        // customers and products of SHOP: JSON (a column check), TIMESTAMP(3) ON UPDATE, a
        // quoted enum value, generated and invisible columns, a table check, FULLTEXT, a
        // descending prefix key, comments with quotes.
        let tables: Vec<&str> = SHOP
            .split(";\n")
            .filter(|s| {
                let s = s.trim_start();
                s.starts_with("CREATE TABLE customers") || s.starts_with("CREATE TABLE products")
            })
            .collect();
        let desired = tables.join(";\n");
        let steps = migrate_ok(&mut c, &db, &desired, &Allow::none()).await?;
        assert_eq!(steps.len(), 2, "{steps:#?}");
        assert!(
            steps.iter().all(|s| s.starts_with("ALTER TABLE")),
            "{steps:#?}"
        );
        let products = show_create(&mut c, &db, "products").await?;
        assert!(
            products.contains("`kind` enum('book','it''s other') NOT NULL DEFAULT 'book'"),
            "{products}"
        );
        assert!(
            products.contains("GENERATED ALWAYS AS (`price` * 100) VIRTUAL"),
            "{products}"
        );
        let customers = show_create(&mut c, &db, "customers").await?;
        assert!(
            customers.contains("CHECK (json_valid(`prefs`))"),
            "{customers}"
        );
        c.disconnect().await?;
        Ok(())
    })
    .await
}
