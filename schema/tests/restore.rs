//! Snapshots and restores on the real MariaDB: a plan applied partly (stopped, or failing in the
//! middle), then the snapshot restored, must give back identical SHOW CREATE TABLE text; and a
//! lock held by a tenant turns into a retryable error.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use mysql_async::prelude::Queryable;
use octodb_schema::{
    introspect, restore, Allow, Applier, ApplyError, ApplyOptions, RiskKind, SchemaName, Snapshot,
};

const BEFORE: &str =
    "CREATE TABLE parent (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, code VARCHAR(10) NOT NULL,
  note VARCHAR(100) DEFAULT 'n''a' COMMENT 'a \\\\ note',
  UNIQUE KEY uq_code (code), KEY ix_b (note(5)), KEY ix_a (code, note),
  CONSTRAINT c_two CHECK (note <> 'x'), CONSTRAINT c_one CHECK (code <> '')) COMMENT='parents';
CREATE TABLE child (id INT NOT NULL PRIMARY KEY, parent_id INT NOT NULL, qty INT DEFAULT 1,
  CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE);
CREATE TABLE legacy (id INT NOT NULL PRIMARY KEY, v TEXT);
INSERT INTO parent (code) VALUES ('a'), ('b'), ('c');
INSERT INTO child VALUES (1, 1, 1), (2, 2, 2)";

/// A target with parent's key type, an index and the child's columns changed, a table dropped
/// and one added: every kind of step.
const AFTER: &str = "CREATE TABLE parent (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, code VARCHAR(20) NOT NULL,
  note VARCHAR(100) DEFAULT 'n''a' COMMENT 'a note', extra INT,
  UNIQUE KEY uq_code (code), KEY ix_b (note(8)), KEY ix_a (code, note),
  CONSTRAINT c_two CHECK (note <> 'x'), CONSTRAINT c_one CHECK (code <> '')) COMMENT='parents v2';
CREATE TABLE child (id INT NOT NULL PRIMARY KEY, parent_id BIGINT NOT NULL, qty INT DEFAULT 5, added DATE,
  CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE);
CREATE TABLE fresh (id INT NOT NULL PRIMARY KEY, child_id INT NOT NULL,
  CONSTRAINT fk_child FOREIGN KEY (child_id) REFERENCES child (id))";

async fn show_all(c: &mut mysql_async::Conn, db: &SchemaName) -> Result<Vec<(String, String)>> {
    let model = introspect(c, db).await?;
    let mut out = Vec::new();
    for name in model.tables.keys() {
        out.push((name.clone(), show_create(c, db, name).await?));
    }
    Ok(out)
}

#[tokio::test]
async fn a_partly_applied_plan_is_restored_to_identical_show_create() -> Result<()> {
    with_db(BEFORE, |db| async move {
        let mut c = conn().await?;
        let before = show_all(&mut c, &db).await?;
        assert!(
            before
                .iter()
                .any(|(_, sql)| sql.contains("AUTO_INCREMENT=4")),
            "{before:?}"
        );
        let snapshot = Snapshot::take(&mut c, &db).await?;
        let plan = plan_for(&mut c, &db, AFTER).await?;
        assert!(plan.steps.len() >= 5, "{:?}", plan.statements(&db));
        let allow = Allow::none().with_kind(RiskKind::DropTable);
        let options = ApplyOptions {
            live: Some(&snapshot.model),
            ..ApplyOptions::new(&allow)
        };
        // Every prefix of the plan, restored each time.
        for stop_after in 1..plan.steps.len() {
            let mut applier = Applier::start(&mut c, &db, &plan, &options).await?;
            for _ in 0..stop_after {
                applier.step(&mut c).await?;
            }
            applier.abort(&mut c).await?;
            assert_ne!(
                show_all(&mut c, &db).await?,
                before,
                "after {stop_after} steps"
            );
            let mut restored_steps = 0;
            restore(&mut c, &db, &snapshot, |_| restored_steps += 1).await?;
            assert!(restored_steps > 0);
            assert_eq!(
                show_all(&mut c, &db).await?,
                before,
                "restored after {stop_after} steps"
            );
        }
        // The data in the snapshot's columns is still there.
        let rows: Vec<(i32, String)> = c
            .query(format!(
                "SELECT id, code FROM {}.parent ORDER BY id",
                db.quoted()
            ))
            .await?;
        assert_eq!(rows.len(), 3);
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_plan_failing_in_the_middle_is_restored_from_a_stored_snapshot() -> Result<()> {
    with_db(BEFORE, |db| async move {
        let mut c = conn().await?;
        let before = show_all(&mut c, &db).await?;
        // Keep the snapshot the way a job would: serialized.
        let stored = serde_json::to_string(&Snapshot::take(&mut c, &db).await?)?;
        // Data changes do not matter to a schema snapshot; this one makes a unique index fail.
        c.query_drop(format!("UPDATE {}.child SET qty = 7", db.quoted()))
            .await?;
        let failing = format!("{AFTER};\nCREATE TABLE unused (id INT PRIMARY KEY)")
            .replace("added DATE,", "added DATE, UNIQUE KEY uq_qty (qty),");
        let plan = plan_for(&mut c, &db, &failing).await?;
        let allow = Allow::none().with_kind(RiskKind::DropTable);
        let mut applied = Vec::new();
        let err = octodb_schema::apply(&mut c, &db, &plan, &ApplyOptions::new(&allow), |s| {
            applied.push(s.description.clone())
        })
        .await
        .unwrap_err();
        let ApplyError::Step { step, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(
            *step > 0 && !applied.is_empty(),
            "failed at {step}: {applied:?}"
        );
        assert_eq!(err.server_code(), Some(1062), "{err}");
        assert!(!err.is_retryable());
        let snapshot: Snapshot = serde_json::from_str(&stored)?;
        restore(&mut c, &db, &snapshot, |_| {}).await?;
        assert_eq!(show_all(&mut c, &db).await?, before);
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn restore_puts_index_and_check_order_back() -> Result<()> {
    let setup =
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT, b INT, KEY ix_a (a), KEY ix_b (b),
  CONSTRAINT c1 CHECK (a > 0), CONSTRAINT c2 CHECK (b > 0))";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let before = show_create(&mut c, &db, "t").await?;
        let snapshot = Snapshot::take(&mut c, &db).await?;
        // Recreating ix_a and c1 moves them after ix_b and c2.
        run_in(&mut c, &db, "ALTER TABLE t DROP INDEX ix_a, ADD INDEX ix_a (a), DROP CONSTRAINT c1;\nALTER TABLE t ADD CONSTRAINT c1 CHECK (a > 0)").await?;
        let moved = show_create(&mut c, &db, "t").await?;
        assert_ne!(moved, before);
        restore(&mut c, &db, &snapshot, |_| {}).await?;
        assert_eq!(show_create(&mut c, &db, "t").await?, before);
        // Nothing to do when already there.
        let mut steps = 0;
        restore(&mut c, &db, &snapshot, |_| steps += 1).await?;
        assert_eq!(steps, 0);
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_lock_held_by_a_tenant_is_a_retryable_error() -> Result<()> {
    let setup = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY);\nINSERT INTO t VALUES (1)";
    with_db(setup, |db| async move {
        let mut c = conn().await?;
        let mut tenant = conn().await?;
        let plan = plan_for(
            &mut c,
            &db,
            "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x INT)",
        )
        .await?;
        // An open transaction that read the table holds a metadata lock until it ends.
        tenant.query_drop("START TRANSACTION").await?;
        let _: Vec<i32> = tenant
            .query(format!("SELECT id FROM {}.t", db.quoted()))
            .await?;
        let allow = Allow::none();
        let options = ApplyOptions {
            lock_wait_timeout: Duration::from_secs(1),
            ..ApplyOptions::new(&allow)
        };
        let err = octodb_schema::apply(&mut c, &db, &plan, &options, |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.server_code(), Some(1205), "{err}");
        assert!(err.is_retryable());
        // The caller's session is as it was.
        let wait: Option<u64> = c.query_first("SELECT @@SESSION.lock_wait_timeout").await?;
        assert_ne!(wait, Some(1));
        tenant.query_drop("COMMIT").await?;
        // The retry plans again from the live state and succeeds.
        migrate_ok(
            &mut c,
            &db,
            "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, x INT)",
            &allow,
        )
        .await?;
        tenant.disconnect().await?;
        c.disconnect().await?;
        Ok(())
    })
    .await
}
