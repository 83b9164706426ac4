//! The admin's own connection to a backend server (its administrative account from
//! configuration): the schema engine builds workspaces and applies plans through it.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use octodb_catalog::BackendAdmin;
use octodb_schema::DatabaseDefaults;

/// A direct (unpooled) connection over TCP. Migrations change session settings (lock wait
/// timeout, foreign key checks); a connection of its own keeps them away from everything else.
pub(crate) async fn connect(admin: &BackendAdmin) -> Result<Conn, mysql_async::Error> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(admin.host.as_str())
        .tcp_port(admin.port)
        .user(Some(admin.user.as_str()))
        .pass(Some(admin.password.as_str()))
        .prefer_socket(false);
    Conn::new(opts).await
}

/// The server's default character set and collation: what a tenant database created without
/// options gets, so a version validated with them builds like it will on a tenant.
pub(crate) async fn server_defaults(
    conn: &mut Conn,
) -> Result<DatabaseDefaults, mysql_async::Error> {
    let row: Option<(String, String)> = conn
        .query_first("SELECT @@character_set_server, @@collation_server")
        .await?;
    let (charset, collation) =
        row.unwrap_or_else(|| ("utf8mb4".into(), "utf8mb4_general_ci".into()));
    Ok(DatabaseDefaults { charset, collation })
}
