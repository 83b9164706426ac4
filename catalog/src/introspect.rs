//! The metadata view of one logical database: tables, columns, indexes and foreign keys, read
//! from the backend's information_schema with the backend admin's account and reported under
//! logical names only.
//!
//! Every query filters on the physical schema name as a bound parameter (never spliced). The
//! physical name never leaves this module: a foreign key into one of the tenant's other
//! databases names it by its logical name, and one pointing anywhere else (only the backend
//! admin could have made it) names no database at all rather than leak another schema's name.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use serde::Serialize;

use crate::provision::{admin_conn, close};
use crate::sql::take;
use crate::{BackendAdmin, CatalogError, DatabaseName, PhysicalName, Tenant};

/// One logical database's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseSchema {
    /// The logical name.
    pub database: String,
    /// Ordered by name.
    pub tables: Vec<TableInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableInfo {
    pub name: String,
    /// `BASE TABLE`, `VIEW`, `SEQUENCE`, `SYSTEM VERSIONED`... as the server reports it.
    pub kind: String,
    pub engine: Option<String>,
    /// The engine's estimate (InnoDB: approximate), not a count.
    pub row_estimate: Option<u64>,
    pub data_bytes: Option<u64>,
    pub index_bytes: Option<u64>,
    pub collation: Option<String>,
    pub comment: String,
    /// Ordered by position.
    pub columns: Vec<ColumnInfo>,
    /// Ordered by name, `PRIMARY` first.
    pub indexes: Vec<IndexInfo>,
    /// Ordered by name.
    pub foreign_keys: Vec<ForeignKeyInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    /// 1-based.
    pub ordinal: u64,
    /// The full column type, e.g. `varchar(64)`, `int(10) unsigned`.
    #[serde(rename = "type")]
    pub column_type: String,
    pub nullable: bool,
    /// The default as the server reports it: an SQL expression (MariaDB quotes string literals
    /// and reports an explicit `DEFAULT NULL` as `NULL`); `None` when there is no default.
    pub default: Option<String>,
    /// `PRI`, `UNI`, `MUL` or empty.
    pub key: String,
    /// e.g. `auto_increment`, `on update current_timestamp()`.
    pub extra: String,
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexInfo {
    pub name: String,
    pub unique: bool,
    /// `BTREE`, `HASH`, `FULLTEXT`, `SPATIAL`...
    #[serde(rename = "type")]
    pub index_type: String,
    /// In index order.
    pub columns: Vec<IndexColumn>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexColumn {
    /// `None` for an expression key part (MySQL 8 functional indexes).
    pub name: Option<String>,
    /// Indexed prefix length, for prefix indexes.
    pub sub_part: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKeyInfo {
    pub name: String,
    pub columns: Vec<String>,
    /// The logical database of the referenced table; `None` if it is not one of the tenant's.
    pub referenced_database: Option<String>,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
}

const TABLES: &str = "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, DATA_LENGTH, \
     INDEX_LENGTH, TABLE_COLLATION, TABLE_COMMENT FROM information_schema.TABLES \
     WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME";

const COLUMNS: &str = "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, \
     IS_NULLABLE, COLUMN_DEFAULT, COLUMN_KEY, EXTRA, CHARACTER_SET_NAME, COLLATION_NAME, \
     COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
     ORDER BY TABLE_NAME, ORDINAL_POSITION";

const INDEXES: &str = "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, \
     INDEX_TYPE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? \
     ORDER BY TABLE_NAME, INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX";

const FOREIGN_KEYS: &str = "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, \
     k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, \
     r.UPDATE_RULE, r.DELETE_RULE \
     FROM information_schema.KEY_COLUMN_USAGE k \
     JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
       ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME \
      AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     WHERE k.TABLE_SCHEMA = ? AND r.CONSTRAINT_SCHEMA = ? \
       AND k.REFERENCED_TABLE_NAME IS NOT NULL \
     ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

/// The schema of `tenant`'s logical database `db`, read on the backend as `admin` (which must
/// be the tenant's backend). `NotFound` if the tenant has no such database.
pub async fn describe_database(
    admin: &BackendAdmin,
    tenant: &Tenant,
    db: &DatabaseName,
) -> Result<DatabaseSchema, CatalogError> {
    let physical = tenant
        .databases
        .iter()
        .find(|(logical, _)| logical == db)
        .map(|(_, physical)| physical.clone())
        .ok_or_else(|| {
            CatalogError::NotFound(format!("tenant {} has no database {db}", tenant.name))
        })?;
    if (admin.host.as_str(), admin.port) != (tenant.backend_host.as_str(), tenant.backend_port) {
        return Err(CatalogError::Invalid(format!(
            "tenant {} lives on {}:{}, but the admin credentials are for {}:{}",
            tenant.name, tenant.backend_host, tenant.backend_port, admin.host, admin.port
        )));
    }
    let mut conn = admin_conn(admin, None).await?;
    let result = read(&mut conn, tenant, db, &physical).await;
    close(conn).await;
    result
}

async fn read(
    conn: &mut Conn,
    tenant: &Tenant,
    db: &DatabaseName,
    physical: &PhysicalName,
) -> Result<DatabaseSchema, CatalogError> {
    let schema = physical.as_str();
    let mut tables = Vec::new();
    for mut row in conn.exec::<Row, _, _>(TABLES, (schema,)).await? {
        tables.push(table(&mut row)?);
    }
    let at: HashMap<String, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    // Rows of a table created between two queries have no table entry: skipped.
    for mut row in conn.exec::<Row, _, _>(COLUMNS, (schema,)).await? {
        let name: String = take(&mut row, 0, "COLUMNS.TABLE_NAME")?;
        if let Some(&i) = at.get(&name) {
            tables[i].columns.push(column(&mut row)?);
        }
    }
    for mut row in conn.exec::<Row, _, _>(INDEXES, (schema,)).await? {
        let name: String = take(&mut row, 0, "STATISTICS.TABLE_NAME")?;
        if let Some(&i) = at.get(&name) {
            add_index_part(&mut tables[i].indexes, &mut row)?;
        }
    }
    for mut row in conn
        .exec::<Row, _, _>(FOREIGN_KEYS, (schema, schema))
        .await?
    {
        let name: String = take(&mut row, 0, "KEY_COLUMN_USAGE.TABLE_NAME")?;
        if let Some(&i) = at.get(&name) {
            add_foreign_key_part(&mut tables[i].foreign_keys, &mut row, tenant)?;
        }
    }
    Ok(DatabaseSchema {
        database: db.to_string(),
        tables,
    })
}

fn table(row: &mut Row) -> Result<TableInfo, CatalogError> {
    Ok(TableInfo {
        name: take(row, 0, "TABLES.TABLE_NAME")?,
        kind: take(row, 1, "TABLES.TABLE_TYPE")?,
        engine: take(row, 2, "TABLES.ENGINE")?,
        row_estimate: take(row, 3, "TABLES.TABLE_ROWS")?,
        data_bytes: take(row, 4, "TABLES.DATA_LENGTH")?,
        index_bytes: take(row, 5, "TABLES.INDEX_LENGTH")?,
        collation: take(row, 6, "TABLES.TABLE_COLLATION")?,
        comment: take::<Option<String>>(row, 7, "TABLES.TABLE_COMMENT")?.unwrap_or_default(),
        columns: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
    })
}

fn column(row: &mut Row) -> Result<ColumnInfo, CatalogError> {
    Ok(ColumnInfo {
        name: take(row, 1, "COLUMNS.COLUMN_NAME")?,
        ordinal: take(row, 2, "COLUMNS.ORDINAL_POSITION")?,
        column_type: take(row, 3, "COLUMNS.COLUMN_TYPE")?,
        nullable: take::<String>(row, 4, "COLUMNS.IS_NULLABLE")? == "YES",
        default: take(row, 5, "COLUMNS.COLUMN_DEFAULT")?,
        key: take::<Option<String>>(row, 6, "COLUMNS.COLUMN_KEY")?.unwrap_or_default(),
        extra: take::<Option<String>>(row, 7, "COLUMNS.EXTRA")?.unwrap_or_default(),
        charset: take(row, 8, "COLUMNS.CHARACTER_SET_NAME")?,
        collation: take(row, 9, "COLUMNS.COLLATION_NAME")?,
        comment: take::<Option<String>>(row, 10, "COLUMNS.COLUMN_COMMENT")?.unwrap_or_default(),
    })
}

/// Adds one STATISTICS row (one key part) to `indexes`; rows come in index order.
fn add_index_part(indexes: &mut Vec<IndexInfo>, row: &mut Row) -> Result<(), CatalogError> {
    let name: String = take(row, 1, "STATISTICS.INDEX_NAME")?;
    let part = IndexColumn {
        name: take(row, 3, "STATISTICS.COLUMN_NAME")?,
        sub_part: take(row, 4, "STATISTICS.SUB_PART")?,
    };
    match indexes.last_mut() {
        Some(last) if last.name == name => last.columns.push(part),
        _ => indexes.push(IndexInfo {
            name,
            unique: take::<i64>(row, 2, "STATISTICS.NON_UNIQUE")? == 0,
            index_type: take(row, 5, "STATISTICS.INDEX_TYPE")?,
            columns: vec![part],
        }),
    }
    Ok(())
}

/// Adds one KEY_COLUMN_USAGE row (one column pair) to `fks`; rows come in key order.
fn add_foreign_key_part(
    fks: &mut Vec<ForeignKeyInfo>,
    row: &mut Row,
    tenant: &Tenant,
) -> Result<(), CatalogError> {
    let name: String = take(row, 1, "KEY_COLUMN_USAGE.CONSTRAINT_NAME")?;
    let column: String = take(row, 2, "KEY_COLUMN_USAGE.COLUMN_NAME")?;
    let referenced: String = take(row, 5, "KEY_COLUMN_USAGE.REFERENCED_COLUMN_NAME")?;
    match fks.last_mut() {
        Some(last) if last.name == name => {
            last.columns.push(column);
            last.referenced_columns.push(referenced);
        }
        _ => {
            let schema: String = take(row, 3, "KEY_COLUMN_USAGE.REFERENCED_TABLE_SCHEMA")?;
            fks.push(ForeignKeyInfo {
                name,
                columns: vec![column],
                referenced_database: logical_name(tenant, &schema),
                referenced_table: take(row, 4, "KEY_COLUMN_USAGE.REFERENCED_TABLE_NAME")?,
                referenced_columns: vec![referenced],
                on_update: take(row, 6, "REFERENTIAL_CONSTRAINTS.UPDATE_RULE")?,
                on_delete: take(row, 7, "REFERENTIAL_CONSTRAINTS.DELETE_RULE")?,
            });
        }
    }
    Ok(())
}

/// The logical name of `physical` if it is one of `tenant`'s databases.
fn logical_name(tenant: &Tenant, physical: &str) -> Option<String> {
    tenant
        .databases
        .iter()
        .find(|(_, p)| p.as_str() == physical)
        .map(|(logical, _)| logical.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TenantName, TenantStatus};

    #[test]
    fn only_the_tenants_own_databases_are_named() {
        let name = TenantName::parse("acme").unwrap();
        let main = DatabaseName::parse("main").unwrap();
        let tenant = Tenant {
            id: 1,
            name: name.clone(),
            status: TenantStatus::Ready,
            mapping_version: 1,
            backend_host: "127.0.0.1".into(),
            backend_port: 3306,
            backend_user: None,
            databases: vec![(main.clone(), PhysicalName::new(&name, &main))],
            users: Vec::new(),
        };
        assert_eq!(
            logical_name(&tenant, "t_acme__main").as_deref(),
            Some("main")
        );
        assert_eq!(logical_name(&tenant, "t_other__main"), None);
        assert_eq!(logical_name(&tenant, "main"), None);
    }
}
