//! `octodb-admin`: parses arguments, loads configuration, starts logging, dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use octodb_admin::commands::{key_create, schema_apply, tenant_create};
use octodb_admin::AdminConfig;
use octodb_catalog::{load_config, Catalog, DatabaseName, SecretKey, TenantName, UserName};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// OctoDB admin: HTTP API and provisioning commands.
///
/// Configuration: an optional TOML file, overridden by OCTODB_<FIELD> and
/// OCTODB_<SECTION>__<FIELD> environment variables (e.g. OCTODB_CATALOG__KEY).
#[derive(Debug, Parser)]
#[command(name = "octodb-admin", version)]
struct Cli {
    /// TOML configuration file (optional: defaults and environment otherwise).
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (/v1, /healthz, /readyz) until SIGINT or SIGTERM.
    Serve,
    /// Create the catalog schema if needed, apply pending migrations, exit.
    Migrate,
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Tenant schemas.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Catalog keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant (idempotent): its databases, backend user and proxy user.
    Create {
        /// Tenant name: [a-z][a-z0-9_]{0,29}, no "__", not ending in "_".
        #[arg(long)]
        name: TenantName,
        /// A logical database of the tenant (repeat for several).
        #[arg(long = "database", required = true)]
        databases: Vec<DatabaseName>,
        /// The proxy user applications log in as.
        #[arg(long)]
        user: UserName,
        /// The proxy user's password; generated and printed once when omitted.
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Apply CREATE TABLE statements to a tenant's database.
    Apply {
        #[arg(long)]
        tenant: TenantName,
        #[arg(long)]
        database: DatabaseName,
        /// SQL file, or "-" for stdin.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print a new random catalog key (64 hex digits) for OCTODB_CATALOG__KEY.
    Generate,
    /// Create an API key and print its secret (shown once). The first operator key is made
    /// here; further keys through `POST /v1/keys`.
    Create {
        /// An operator key (manages everything).
        #[arg(long, conflicts_with = "tenant", required_unless_present = "tenant")]
        operator: bool,
        /// A key of this tenant only (by tenant name).
        #[arg(long)]
        tenant: Option<TenantName>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("octodb-admin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("octodb-admin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if let Command::Key(KeyCommand::Generate) = cli.command {
        println!("{}", SecretKey::generate().to_hex());
        return Ok(());
    }
    let config: AdminConfig =
        load_config(cli.config.as_deref(), "OCTODB").context("loading configuration")?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let applied = Catalog::migrate(&config.catalog).await?;
            print_json(&serde_json::json!({ "applied_migrations": applied }))
        }
        Command::Tenant(TenantCommand::Create {
            name,
            databases,
            user,
            password,
        }) => {
            let req = tenant_create::CreateTenant {
                name,
                databases,
                user,
                password,
            };
            print_json(&tenant_create::run(&config, req).await?)
        }
        Command::Schema(SchemaCommand::Apply {
            tenant,
            database,
            file,
        }) => {
            let sql = schema_apply::read_schema(&file)?;
            print_json(&schema_apply::run(&config, tenant, database, &sql).await?)
        }
        Command::Key(KeyCommand::Create { operator, tenant }) => {
            print_json(&key_create::run(&config, operator, tenant).await?)
        }
        Command::Key(KeyCommand::Generate) => Ok(()),
    }
}

async fn serve(config: AdminConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    octodb_admin::run(listener, config, shutdown).await?;
    Ok(())
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
    token.cancel();
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Logs to stderr (stdout carries command output), filtered by RUST_LOG (default info).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
