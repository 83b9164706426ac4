//! Workspaces on the real MariaDB: built from desired DDL, the server's own message for invalid
//! DDL, shared by key, dropped afterwards, leftovers cleaned.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use mysql_async::prelude::Queryable;
use octodb_schema::{
    cleanup_leftovers, database_defaults, DatabaseDefaults, DesiredSchema, Workspace,
    WorkspaceError, WorkspaceSet, WORKSPACE_PREFIX,
};

fn utf8mb4() -> DatabaseDefaults {
    DatabaseDefaults {
        charset: "utf8mb4".into(),
        collation: "utf8mb4_general_ci".into(),
    }
}

/// Workspaces of this key still on the server.
async fn left_for(c: &mut mysql_async::Conn, key: &str) -> Result<Vec<String>> {
    Ok(c.exec(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
        (format!("octodb\\_ws\\_%\\_{}\\_%", &key[..12]),),
    )
    .await?)
}

#[tokio::test]
async fn a_workspace_holds_the_desired_tables_and_is_dropped_afterwards() -> Result<()> {
    let mut c = conn().await?;
    let desired = DesiredSchema::parse(
        "CREATE TABLE child (id INT PRIMARY KEY, p INT, CONSTRAINT fk FOREIGN KEY (p) REFERENCES parent (id));
         CREATE TABLE parent (id INT PRIMARY KEY, note VARCHAR(10))",
    )?;
    let ws = Workspace::create(&mut c, &desired, &utf8mb4()).await?;
    let name = ws.name().to_string();
    assert!(name.starts_with(WORKSPACE_PREFIX) && !name.starts_with("t_"));
    assert!(exists(&mut c, &name).await?);
    assert_eq!(
        ws.model().tables.keys().collect::<Vec<_>>(),
        ["child", "parent"]
    );
    let child = &ws.model().tables["child"];
    assert_eq!(child.foreign_keys[0].referenced_table, "parent");
    assert!(
        child.create_sql.starts_with("CREATE TABLE `child` ("),
        "{}",
        child.create_sql
    );
    assert_eq!(ws.key(), Workspace::key_for(&desired, &utf8mb4()));
    ws.drop(&mut c).await?;
    assert!(!exists(&mut c, &name).await?);
    c.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn invalid_ddl_returns_the_servers_message_and_leaves_nothing() -> Result<()> {
    let mut c = conn().await?;
    // sqlparser reads these; the server refuses them.
    let cases = [
        (
            "CREATE TABLE t (a INT, KEY k (missing))",
            1072,
            "Key column 'missing' doesn't exist in table",
        ),
        (
            "CREATE TABLE t (a INT AUTO_INCREMENT)",
            1075,
            "there can be only one auto column and it must be defined as a key",
        ),
        (
            "CREATE TABLE t (a INT, b INT AS (c + 1) VIRTUAL)",
            1054,
            "Unknown column 'c'",
        ),
        (
            "CREATE TABLE t (a INT NOT NULL DEFAULT 'abc')",
            1067,
            "Invalid default value for 'a'",
        ),
    ];
    for (sql, code, message) in cases {
        let desired = DesiredSchema::parse(sql)?;
        match Workspace::create(&mut c, &desired, &utf8mb4()).await {
            Err(e @ WorkspaceError::InvalidDdl { .. }) => {
                let WorkspaceError::InvalidDdl {
                    table,
                    code: got,
                    message: text,
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((table.as_str(), *got), ("t", code), "{sql}: {e}");
                assert!(text.contains(message), "{sql}: {text}");
                assert!(!text.contains(WORKSPACE_PREFIX), "{text}");
                assert!(!e.is_retryable());
                assert_eq!(e.kind(), "invalid_ddl");
            }
            other => panic!("{sql}: {other:?}"),
        }
        let key = Workspace::key_for(&desired, &utf8mb4());
        assert!(left_for(&mut c, &key).await?.is_empty(), "{sql}");
    }
    // A foreign key to a table the schema does not define is named before the server is asked.
    let orphan = DesiredSchema::parse(
        "CREATE TABLE c (p INT, CONSTRAINT fk FOREIGN KEY (p) REFERENCES nowhere (id))",
    )?;
    let e = Workspace::create(&mut c, &orphan, &utf8mb4())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    c.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn failed_workspaces_are_dropped() -> Result<()> {
    let mut c = conn().await?;
    // Two tables: the first is created, the second fails; the workspace must not stay.
    let desired = DesiredSchema::parse(
        "CREATE TABLE a_ok (id INT PRIMARY KEY); CREATE TABLE b_bad (x INT, KEY k (nope))",
    )?;
    let key = Workspace::key_for(&desired, &utf8mb4());
    assert!(Workspace::create(&mut c, &desired, &utf8mb4())
        .await
        .is_err());
    let left = left_for(&mut c, &key).await?;
    assert!(left.is_empty(), "{left:?}");
    c.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn workspaces_follow_the_target_defaults() -> Result<()> {
    with_db("", |db| async move {
        let mut c = conn().await?;
        c.query_drop(format!(
            "ALTER DATABASE {} CHARACTER SET latin1 COLLATE latin1_bin",
            db.quoted()
        ))
        .await?;
        let defaults = database_defaults(&mut c, &db).await?.unwrap();
        assert_eq!(defaults.charset, "latin1");
        let desired = DesiredSchema::parse("CREATE TABLE t (s VARCHAR(10))")?;
        let ws = Workspace::create(&mut c, &desired, &defaults).await?;
        let t = &ws.model().tables["t"];
        assert_eq!(
            (t.charset.as_str(), t.collation.as_str()),
            ("latin1", "latin1_bin")
        );
        assert_ne!(ws.key(), Workspace::key_for(&desired, &utf8mb4()));
        ws.drop(&mut c).await?;
        c.disconnect().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn databases_with_the_same_desired_state_share_one_workspace() -> Result<()> {
    let mut c = conn().await?;
    let mut set = WorkspaceSet::new();
    let a = DesiredSchema::parse("CREATE TABLE t (id INT PRIMARY KEY, x INT)")?;
    let same = DesiredSchema::parse(
        "-- spelled differently\ncreate table `t` (`id` int primary key, `x` int);",
    )?;
    let other = DesiredSchema::parse("CREATE TABLE t (id INT PRIMARY KEY)")?;
    let first = set
        .get_or_create(&mut c, &a, &utf8mb4())
        .await?
        .name()
        .clone();
    let second = set
        .get_or_create(&mut c, &same, &utf8mb4())
        .await?
        .name()
        .clone();
    assert_eq!(first, second);
    let third = set
        .get_or_create(&mut c, &other, &utf8mb4())
        .await?
        .name()
        .clone();
    assert_ne!(first, third);
    assert_eq!(set.len(), 2);
    set.drop_all(&mut c).await?;
    assert!(!exists(&mut c, first.as_str()).await?);
    assert!(!exists(&mut c, third.as_str()).await?);
    c.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn leftovers_older_than_the_limit_are_cleaned_and_recent_ones_kept() -> Result<()> {
    let mut c = conn().await?;
    // A workspace "created" in 1970 by a crashed admin, and one of ours right now.
    let old = format!("{WORKSPACE_PREFIX}1000_abcdef012345_{}", &suffix()[..8]);
    c.query_drop(format!("CREATE DATABASE `{old}`")).await?;
    c.query_drop(format!("CREATE TABLE `{old}`.t (a INT)"))
        .await?;
    // Not ours despite the prefix: never touched.
    let foreign = format!("{WORKSPACE_PREFIX}manual_{}", suffix());
    c.query_drop(format!("CREATE DATABASE `{foreign}`")).await?;
    let ws = Workspace::create(
        &mut c,
        &DesiredSchema::parse("CREATE TABLE t (a INT)")?,
        &utf8mb4(),
    )
    .await?;

    let dropped = cleanup_leftovers(&mut c, Duration::from_secs(3600)).await?;
    assert!(dropped.contains(&old), "{dropped:?}");
    assert!(!exists(&mut c, &old).await?);
    assert!(exists(&mut c, ws.name().as_str()).await?);
    assert!(exists(&mut c, &foreign).await?);

    c.query_drop(format!("DROP DATABASE `{foreign}`")).await?;
    ws.drop(&mut c).await?;
    c.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn the_callers_session_mode_is_restored() -> Result<()> {
    let mut c = conn().await?;
    c.query_drop("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES,ANSI_QUOTES'")
        .await?;
    let before: Option<String> = c.query_first("SELECT @@SESSION.sql_mode").await?;
    let desired = DesiredSchema::parse("CREATE TABLE t (a INT) COMMENT='back\\\\slash'")?;
    let ws = Workspace::create(&mut c, &desired, &utf8mb4()).await?;
    // Built with backslash escapes on: the comment is one backslash, as declared.
    assert_eq!(ws.model().tables["t"].comment, "back\\slash");
    let mode: Option<String> = c.query_first("SELECT @@SESSION.sql_mode").await?;
    assert_eq!(mode, before);
    assert!(before.unwrap_or_default().contains("NO_BACKSLASH_ESCAPES"));
    c.query_drop("SET SESSION sql_mode = DEFAULT").await?;
    ws.drop(&mut c).await?;
    c.disconnect().await?;
    Ok(())
}
