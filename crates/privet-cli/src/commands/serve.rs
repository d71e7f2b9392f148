//! `privet serve`: the HTTP API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use privet_server::{Metrics, Observer, ServerConfig};
use privet_vault::{Actor, Monitor, Vault};

use crate::DirArg;
use crate::config::Config;
use crate::requests::Notify;

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
    crate::open::resync_ledger(&config).await?;
    let vault = crate::open::open(&config).await?;
    require_signers(&vault, &config, &args.dir.dir)?;
    vault.bind_audit_key().await?;
    serve(vault, &config, |addr| {
        println!("Privet listening on http://{addr}  (API docs: http://{addr}/docs)");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// A server signs checkpoints and receipts: it does not start without both keys (a vault
/// made before they existed gets them from `privet keys create-signing`, never silently,
/// since servers that each made their own key would sign the same log with different keys).
pub(crate) fn require_signers(vault: &Vault, config: &Config, dir: &std::path::Path) -> Result<()> {
    if vault.audit_signer().is_none() || vault.receipt_signer().is_none() {
        anyhow::bail!("{}", crate::open::missing_signing_keys(config, dir));
    }
    Ok(())
}

/// Serves until Ctrl-C or SIGTERM, signing a checkpoint every `checkpoint_interval` when
/// the log grew, and one more on the way out.
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
        metrics: metrics.clone(),
        metrics_access: config.monitoring.metrics.clone(),
        portal: config.portal.clone(),
    };
    let checkpoints = config
        .checkpoint_interval
        .map(|every| tokio::spawn(checkpoint_timer(vault.clone(), every, metrics.clone())));
    let key_reload = tokio::spawn(key_reload_timer(vault.clone()));
    let notifications = match &config.requests.notify {
        Some(Notify::Webhook(notify)) => {
            let sender = privet_server::WebhookSender::new(notify.clone())
                .context("cannot set up the notifications webhook")?;
            Some(tokio::spawn(privet_server::deliver_notifications(
                vault.clone(),
                sender,
                notify.interval,
            )))
        }
        Some(Notify::Smtp { config: smtp, .. }) => {
            let sender = privet_server::SmtpSender::new(smtp)
                .context("requests.notify_smtp_url: cannot set up the mail sender")?;
            Some(tokio::spawn(privet_server::deliver_notifications(
                vault.clone(),
                sender,
                smtp.interval,
            )))
        }
        None => None,
    };
    let purge = config.retention_interval.map(|every| {
        tokio::spawn(super::retention::purge_job(
            vault.clone(),
            every,
            config.retention_batch_size,
        ))
    });
    let router = privet_server::router(vault.clone(), &server_config);
    let served = privet_server::serve(listener, router, shutdown_signal()).await;
    key_reload.abort();
    served?;
    if let Some(task) = purge {
        task.abort();
    }
    if let Some(task) = notifications {
        task.abort();
    }
    if let Some(task) = checkpoints {
        task.abort();
        sign_checkpoint(&vault, &server_config.metrics).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// How often a server re-reads its master keys, so a version added by `privet keys rotate`
/// becomes current here without a restart (a wrapped key of a version it lacks also makes
/// it re-read them at once).
const KEY_RELOAD_EVERY: Duration = Duration::from_secs(10);

async fn key_reload_timer(vault: Vault) {
    let mut tick = tokio::time::interval(KEY_RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        // A failure (a key file being replaced, a wrong key) keeps the keyring in use.
        if let Err(e) = vault.reload_keys().await {
            tracing::warn!(error = %e, "could not re-read the master keys; keeping those in use");
        }
    }
}

async fn checkpoint_timer(vault: Vault, every: Duration, metrics: Metrics) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sign_checkpoint(&vault, &metrics).await;
    }
}

/// Signs a checkpoint if the log grew since the last one; a failure is logged (the next
/// tick retries), never fatal to serving.
async fn sign_checkpoint(vault: &Vault, metrics: &Metrics) {
    match vault.checkpoint(&Actor::cli()).await {
        // The checkpoint in force is now current (signed now, or the log has not grown
        // since the last one), so its age restarts (`privet_checkpoint_age_seconds`).
        Ok(_) => metrics.set_last_checkpoint(time::OffsetDateTime::now_utc()),
        Err(e) => tracing::warn!(error = %e, "could not sign an audit checkpoint"),
    }
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
