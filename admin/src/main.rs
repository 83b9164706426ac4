//! `octodb-admin`: parses arguments, loads configuration, starts logging, dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use octodb_admin::commands::api_client::{self, ApiClient, KEY_ENV, URL_ENV};
use octodb_admin::commands::rollout_progress::Progress;
use octodb_admin::commands::{
    key_create, rollout_plan, rollout_start, rollout_watch, schema_apply, tenant_create,
};
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
    /// Schema rollouts, through a running admin's HTTP API (an operator key).
    ///
    /// Exit codes: 0 success; 1 the command failed (bad arguments, API unreachable, an error
    /// answer); 2 the rollout did not succeed (stopped, cancelled, or a database failed, was
    /// restored or conflicted), or the plan is not clean.
    Rollout(RolloutArgs),
}

#[derive(Debug, Args)]
struct RolloutArgs {
    /// Base URL of the admin API (default: http:// and the configured listen address).
    #[arg(long, global = true, env = URL_ENV, value_name = "URL")]
    url: Option<String>,
    /// An operator API key. Not an OCTODB_* variable: those are configuration overrides.
    #[arg(long, global = true, env = KEY_ENV, hide_env_values = true, value_name = "KEY")]
    key: Option<String>,
    #[command(subcommand)]
    command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Start a rollout of a template version, then watch it (see `watch`).
    Start {
        /// Template name or id.
        #[arg(long)]
        template: String,
        /// The version to roll out.
        #[arg(long)]
        version: u32,
        /// Databases in the canary wave (server default 1).
        #[arg(long)]
        canary: Option<u32>,
        /// Databases per following wave (server default 10).
        #[arg(long)]
        batch: Option<u32>,
        /// Failed or restored databases a wave may have before the rollout stops (default 0).
        #[arg(long)]
        max_failures: Option<u32>,
        /// Migrations at once per backend server (server default 2).
        #[arg(long)]
        per_backend: Option<u32>,
        /// A risky change to accept: a kind (drop_column) or key (drop_column:items.note).
        /// Repeat for several.
        #[arg(long = "allow", value_name = "KIND")]
        allow: Vec<String>,
        /// Print the rollout id and exit instead of watching.
        #[arg(long)]
        detach: bool,
    },
    /// Show a rollout's progress until it ends: a bar per wave on a terminal, plain lines
    /// otherwise.
    Watch {
        /// The rollout id.
        id: u64,
    },
    /// Dry run of a template version: every database's plan, lint and conflicts.
    Plan {
        /// Template name or id.
        #[arg(long)]
        template: String,
        #[arg(long)]
        version: u32,
        /// A risky change to accept (as for `start`).
        #[arg(long = "allow", value_name = "KIND")]
        allow: Vec<String>,
    },
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
    init_tracing(cli.config.as_deref());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("octodb-admin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Rollout(args) => runtime.block_on(rollout(args, cli.config)),
        command => runtime
            .block_on(dispatch(Cli {
                config: cli.config,
                command,
            }))
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
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
        Command::Key(KeyCommand::Generate) | Command::Rollout(_) => Ok(()),
    }
}

/// Exit code of a rollout that did not succeed, or of a plan that is not clean.
const NOT_SUCCEEDED: u8 = 2;

async fn rollout(args: RolloutArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let url = match args.url {
        Some(url) => url,
        // Only now: with --url, no configuration (nor its environment) is needed.
        None => {
            let config: AdminConfig =
                load_config(config.as_deref(), "OCTODB").context("loading configuration")?;
            api_client::url_for_listen(config.listen)
        }
    };
    let client = ApiClient::new(&url, args.key.as_deref().unwrap_or_default())?;
    let outcome = |ok: bool| {
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(NOT_SUCCEEDED)
        }
    };
    match args.command {
        RolloutCommand::Start {
            template,
            version,
            canary,
            batch,
            max_failures,
            per_backend,
            allow,
            detach,
        } => {
            let req = rollout_start::StartRollout {
                template,
                version,
                canary,
                batch,
                max_failures,
                per_backend,
                allow,
            };
            let id = rollout_start::run(&client, &req).await?;
            if detach {
                return Ok(ExitCode::SUCCESS);
            }
            let ended = rollout_watch::run(&client, id, Progress::for_stdout()).await?;
            Ok(outcome(ended.succeeded))
        }
        RolloutCommand::Watch { id } => {
            let ended = rollout_watch::run(&client, id, Progress::for_stdout()).await?;
            Ok(outcome(ended.succeeded))
        }
        RolloutCommand::Plan {
            template,
            version,
            allow,
        } => Ok(outcome(
            rollout_plan::run(&client, &template, version, &allow).await?,
        )),
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

/// Logs to stderr (stdout carries command output), filtered by RUST_LOG (default info);
/// `log_format = "json"` (`OCTODB_LOG_FORMAT=json`) writes one JSON object a line, with the
/// current span's fields. The configuration is read here for that setting only: a broken one
/// is reported by the command that loads it (in text).
fn init_tracing(config: Option<&std::path::Path>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = load_config::<AdminConfig>(config, "OCTODB").is_ok_and(|c| c.json_logs());
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}
