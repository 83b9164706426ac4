//! `octodb-proxy`: parses arguments, loads configuration, starts telemetry, calls `run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use octodb_proxy::config::LogFormat;
use octodb_proxy::ProxyConfig;
use tokio_util::sync::CancellationToken;

/// The OctoDB MySQL proxy.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// TOML configuration file (fields can be overridden with OCTODB_* variables).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `listen`).
    #[arg(long)]
    listen: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config: ProxyConfig = octodb_catalog::load_config(args.config.as_deref(), "OCTODB")
        .context("loading the configuration")?;
    init_tracing(config.log_format);
    // This thread runs the background tasks; `prepare` starts the workers
    // (`octodb_proxy::workers`), which accept clients and run their sessions, on threads of
    // their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, config))
}

async fn serve(args: Args, mut config: ProxyConfig) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(addr) = &config.metrics_listen {
        let addr: std::net::SocketAddr = addr.parse().context("metrics_listen")?;
        // Explicit buckets for the latency histograms (see `metrics::STATEMENT_BUCKETS`).
        octodb_proxy::metrics::prometheus_builder()
            .context("metric buckets")?
            .with_http_listener(addr)
            .install()
            .context("starting the metrics endpoint")?;
    }
    let listener = octodb_proxy::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    octodb_proxy::run(listener, config, shutdown).await?;
    Ok(())
}

/// Logs to stdout, filtered by RUST_LOG (default info). `log_format = "json"`
/// (`OCTODB_LOG_FORMAT=json`) writes one JSON object a line, for log shippers: each carries the
/// session span's fields (`session_id`, `peer`, then `tenant` and `user` once known), so a
/// session's lines can be found without parsing text. A session makes its span only when it
/// logs, so a quiet session pays nothing for it.
fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == LogFormat::Json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
