//! Proxy users over HTTP: create (given or generated password), rotate, delete. The proxy's view
//! is checked through `Catalog::login` and `verify_native_password` with a fresh scramble; only
//! the verifier is stored; every change bumps the catalog version and is audited; tenant keys
//! act only on their tenant.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{proxy_login, root_conn, tenant_key, Fixture, Server};
use mysql_async::prelude::Queryable;
use octodb_catalog::native_password_verifier;

#[tokio::test]
async fn create_rotate_delete_users() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("usr");
            let id = server.ready_tenant(&op, &name).await?;
            let users = format!("/v1/tenants/{id}/users");
            let user = format!("app.{name}");

            // Given password.
            let v0 = catalog.catalog_version().await?;
            let body = format!(r#"{{"username":"{user}","password":"s3cret pw"}}"#);
            let r = server.call("POST", &users, Some(&op), Some(&body)).await?;
            ensure!(r.status == 201, "{r:?}");
            let created = r.json()?;
            ensure!(
                created == serde_json::json!({ "username": user, "password": "s3cret pw" }),
                "{created}"
            );
            ensure!(catalog.catalog_version().await? > v0);
            ensure!(proxy_login(&catalog, &user, "s3cret pw").await? == Some(id));
            ensure!(proxy_login(&catalog, &user, "s3cret PW").await?.is_none());

            // Only the verifier is stored.
            let mut conn = root_conn(&fx.config).await?;
            let stored: Vec<Vec<u8>> = conn
                .exec(
                    format!(
                        "SELECT verifier FROM `{}`.users WHERE username = ?",
                        fx.catalog_db
                    ),
                    (&user,),
                )
                .await?;
            ensure!(stored == [native_password_verifier(b"s3cret pw").to_vec()]);
            conn.disconnect().await?;

            // Generated password, shown once.
            let gen_user = format!("gen.{name}");
            let body = format!(r#"{{"username":"{gen_user}"}}"#);
            let r = server.call("POST", &users, Some(&op), Some(&body)).await?;
            ensure!(r.status == 201, "{r:?}");
            let generated = r.json()?["password"].as_str().unwrap().to_string();
            ensure!(generated.len() >= 20, "{generated}");
            ensure!(proxy_login(&catalog, &gen_user, &generated).await? == Some(id));

            // Duplicate (409), invalid input (422).
            let body = format!(r#"{{"username":"{user}"}}"#);
            let r = server.call("POST", &users, Some(&op), Some(&body)).await?;
            r.problem(409)?;
            for bad in [
                r#"{"username":"bad name"}"#.to_string(),
                r#"{"username":""}"#.to_string(),
                format!(r#"{{"username":"x{name}","password":""}}"#),
                format!(
                    r#"{{"username":"x{name}","password":"{}"}}"#,
                    "p".repeat(200)
                ),
                format!(r#"{{"username":"x{name}","extra":1}}"#),
            ] {
                let r = server.call("POST", &users, Some(&op), Some(&bad)).await?;
                r.problem(422)?;
            }
            ensure!(catalog.login(&format!("x{name}")).await?.is_none());

            // Rotate: the old password stops working, the new one works.
            let v1 = catalog.catalog_version().await?;
            let r = server
                .call("POST", &format!("{users}/{user}/rotate"), Some(&op), None)
                .await?;
            ensure!(r.status == 200, "{r:?}");
            let rotated = r.json()?;
            let new_pw = rotated["password"].as_str().unwrap();
            ensure!(rotated["username"] == user.as_str() && new_pw != "s3cret pw");
            ensure!(catalog.catalog_version().await? > v1);
            ensure!(proxy_login(&catalog, &user, "s3cret pw").await?.is_none());
            ensure!(proxy_login(&catalog, &user, new_pw).await? == Some(id));
            let r = server
                .call("POST", &format!("{users}/nobody/rotate"), Some(&op), None)
                .await?;
            r.problem(404)?;

            // Delete.
            let v2 = catalog.catalog_version().await?;
            let r = server
                .call("DELETE", &format!("{users}/{user}"), Some(&op), None)
                .await?;
            ensure!(r.status == 204 && r.body.is_empty(), "{r:?}");
            ensure!(catalog.catalog_version().await? > v2);
            ensure!(catalog.login(&user).await?.is_none());
            let r = server
                .call("DELETE", &format!("{users}/{user}"), Some(&op), None)
                .await?;
            r.problem(404)?;
            let r = server
                .call("DELETE", &format!("{users}/bad%20name"), Some(&op), None)
                .await?;
            r.problem(404)?;
            let tenant = server
                .call("GET", &format!("/v1/tenants/{id}"), Some(&op), None)
                .await?
                .json()?;
            ensure!(tenant["users"] == serde_json::json!([gen_user]), "{tenant}");

            // Audited, with failures.
            let audit = server
                .call(
                    "GET",
                    &format!("/v1/tenants/{id}/audit?action=user.create"),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            let outcomes: Vec<_> = audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["outcome"].as_str().unwrap())
                .collect();
            ensure!(
                outcomes[..3] == ["success", "success", "failure"],
                "{audit}"
            );
            for action in ["user.rotate", "user.delete"] {
                let audit = server
                    .call(
                        "GET",
                        &format!("/v1/tenants/{id}/audit?action={action}"),
                        Some(&op),
                        None,
                    )
                    .await?
                    .json()?;
                let first = &audit["items"][0];
                ensure!(
                    first["outcome"] == "success"
                        && first["target"] == format!("user/{user}").as_str(),
                    "{audit}"
                );
            }
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn tenant_keys_manage_only_their_users() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let (a, b) = (fx.tenant_name("ua"), fx.tenant_name("ub"));
            let a_id = server.ready_tenant(&op, &a).await?;
            let b_id = server.ready_tenant(&op, &b).await?;
            let a_key = tenant_key(&catalog, a_id).await?;
            let body = format!(r#"{{"username":"own.{a}"}}"#);

            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{a_id}/users"),
                    None,
                    Some(&body),
                )
                .await?;
            r.problem(401)?;
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{b_id}/users"),
                    Some(&a_key),
                    Some(&body),
                )
                .await?;
            r.problem(403)?;
            ensure!(catalog.login(&format!("own.{a}")).await?.is_none());

            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{a_id}/users"),
                    Some(&a_key),
                    Some(&body),
                )
                .await?;
            ensure!(r.status == 201, "{r:?}");
            let pw = r.json()?["password"].as_str().unwrap().to_string();
            ensure!(proxy_login(&catalog, &format!("own.{a}"), &pw).await? == Some(a_id));

            // Another tenant's path with this user: 403 before anything else; own path fine.
            for (method, path) in [
                ("POST", format!("/v1/tenants/{b_id}/users/own.{a}/rotate")),
                ("DELETE", format!("/v1/tenants/{b_id}/users/own.{a}")),
            ] {
                let r = server.call(method, &path, Some(&a_key), None).await?;
                r.problem(403)?;
            }
            // The operator naming the wrong tenant finds no such user there.
            let r = server
                .call(
                    "DELETE",
                    &format!("/v1/tenants/{b_id}/users/own.{a}"),
                    Some(&op),
                    None,
                )
                .await?;
            r.problem(404)?;
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{a_id}/users/own.{a}/rotate"),
                    Some(&a_key),
                    None,
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            // A user name is unique across tenants.
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{b_id}/users"),
                    Some(&op),
                    Some(&body),
                )
                .await?;
            r.problem(409)?;
            let r = server
                .call("POST", "/v1/tenants/999999/users", Some(&op), Some(&body))
                .await?;
            r.problem(404)?;
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}
