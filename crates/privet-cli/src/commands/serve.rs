//! `privet serve`: the HTTP API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use privet_server::{Metrics, Observer, ServerConfig};
use privet_vault::{Monitor, Vault};

use crate::DirArg;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    dir: DirArg,
    /// Address to listen on (default: server.listen of the config, 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode> {
    let mut config = Config::load(&args.dir.dir)?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let vault = crate::open::open(&config).await?;
    serve(vault, &config, |addr| {
        println!("Privet listening on http://{addr}  (API docs: http://{addr}/docs)");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Serves until Ctrl-C or SIGTERM.
pub(crate) async fn serve(
    vault: Vault,
    config: &Config,
    on_listen: impl FnOnce(SocketAddr),
) -> Result<()> {
    let metrics = Metrics::new();
    let observer = Observer::new(metrics.clone(), config.monitoring.webhook.clone())
        .context("cannot set up the alert webhook")?;
    let vault = vault.with_monitor(Monitor::new(
        config.monitoring.monitor.clone(),
        Arc::new(observer),
    ));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    on_listen(listener.local_addr()?);
    let server_config = ServerConfig {
        body_limit: config.body_limit,
        batch_body_limit: config.batch_body_limit,
        metrics,
        metrics_access: config.monitoring.metrics.clone(),
    };
    let router = privet_server::router(vault, &server_config);
    privet_server::serve(listener, router, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
