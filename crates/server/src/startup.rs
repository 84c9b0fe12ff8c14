//! Building the application from its config, and serving it.
//!
//! `build` opens and migrates the database and assembles the router; `serve` runs it on a
//! listener until the shutdown future resolves. Tests bind `127.0.0.1:0` and call both.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use confidant_core::live::{LiveBus, LocalBus};
use confidant_core::pairwise::PairwiseIds;
use confidant_core::store::{DeploymentStore, setting};
use confidant_core::{Clock, Confidant, SystemClock};
use confidant_log::LogSigner;
use confidant_store::SqlStore;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::{AppState, Shared, WebSettings};

/// A built server, ready to serve.
pub struct Server {
    pub state: AppState,
    pub router: Router,
    store: SqlStore,
    webhook_poll: Duration,
    /// How often the report schedule is checked; `None` when the schedule is off.
    report_poll: Option<Duration>,
    /// Publishes members' log heads and gets the server's logs cosigned.
    pub witnessing: Arc<crate::witnessing::Witnessing>,
}

/// Opens the database (creating the SQLite file on first run), migrates it, and builds the
/// application with the system clock.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn build_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
    let store = open_store(config).await?;
    let app = application(config, &store, clock).await?;
    app.check_report_mode().await?;
    let images =
        crate::images::ImageProxy::new(&config.media, &config.data_dir, app.clock().clone())?;
    let push = crate::push::PushSender::load(&app, &config.push, &config.public_url()).await?;
    let state = AppState::new(Shared {
        app,
        web: Arc::new(
            WebSettings::new(config.public_url(), config.server.max_body_bytes)
                .with_metrics_token(config.server.metrics_token.clone())
                .with_trusted_proxies(config.server.trusted_proxies.clone())
                .with_witnesses(
                    config
                        .accesslog
                        .witnesses
                        .iter()
                        .map(|witness| witness.key.trim().to_owned())
                        .collect(),
                ),
        ),
        metrics: Arc::new(Metrics::new()),
        images: Arc::new(images),
        attachments: Arc::new(crate::attachments::Attachments::new(
            &config.media,
            &config.data_dir,
        )?),
        push: Arc::new(push),
        shutdown: CancellationToken::new(),
    });
    let router = crate::http::router(state.clone());
    Ok(Server {
        witnessing: Arc::new(crate::witnessing::Witnessing::new(&config.accesslog)?),
        state,
        router,
        store,
        webhook_poll: Duration::from_secs(config.server.webhook_poll_secs.max(1)),
        report_poll: config
            .reports
            .schedule
            .then(|| Duration::from_secs(config.reports.schedule_poll_secs.max(1))),
    })
}

/// The use cases over an open store, with the live bus (in-process, or over NATS when
/// `[cluster] nats_url` is set), the deployment's pinned access-log key and its pairwise-id
/// secret.
pub async fn application(
    config: &Config,
    store: &SqlStore,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Confidant> {
    let signer = pinned_log_signer(config, store).await?;
    let pairwise = store
        .init_setting(setting::PAIRWISE_KEY, &PairwiseIds::generate_hex())
        .await?;
    let pairwise = PairwiseIds::from_hex(&pairwise)
        .context("the database's pairwise-id secret is not 64 hex digits")?;
    let live: Arc<dyn LiveBus> = match &config.cluster.nats_url {
        Some(url) if !url.trim().is_empty() => {
            let resync = Duration::from_secs(config.cluster.resync_secs.max(1));
            crate::cluster::NatsBus::connect(url, resync, Arc::new(store.clone()))
                .await
                .with_context(|| format!("cannot use the NATS server at {url}"))?
        }
        _ => Arc::new(LocalBus::default()),
    };
    Ok(Confidant::new(
        Arc::new(store.clone()),
        clock,
        live,
        signer,
        pairwise,
        config.settings(),
    )?
    .with_witness_quorum(config.accesslog.quorum()))
}

/// Where the access-log signing key lives, beside (never inside) the database.
pub fn log_key_path(config: &Config) -> PathBuf {
    config.data_dir.join(LOG_KEY_FILE)
}

const LOG_KEY_FILE: &str = "access-log.key";

/// The access-log signing key, checked against the one the database pinned.
///
/// The first start pins the key's public half in the database. From then on a node whose
/// key differs — another data dir, a lost file replaced by a fresh one — refuses to start,
/// since checkpoints under another key would not verify against what members saved. A
/// missing key file is created only for a database that holds no log yet.
pub async fn pinned_log_signer(config: &Config, store: &SqlStore) -> anyhow::Result<LogSigner> {
    let pinned = store.setting(setting::LOG_PUBLIC_KEY).await?;
    let path = log_key_path(config);
    if !path.exists() {
        if let Some(pinned) = &pinned {
            anyhow::bail!(
                "the access-log key file {} is missing, and this database's logs are signed by \
                 {pinned}. Restore the file from a backup (or copy it from another node); \
                 Confidant will not sign with a new key, since members' saved checkpoints \
                 would stop verifying.",
                path.display()
            );
        }
        if store.has_log_entries().await? {
            anyhow::bail!(
                "the access-log key file {} is missing, and this database already holds access \
                 logs signed by another key. Restore the file from a backup.",
                path.display()
            );
        }
    }
    let signer = log_signer(config)?;
    let stored = store
        .init_setting(setting::LOG_PUBLIC_KEY, signer.public_key())
        .await?;
    if stored != signer.public_key() {
        anyhow::bail!(
            "the access-log key in {} ({}) is not the one this deployment pinned ({stored}). \
             Every node must use the same key file: copy it from the first node.",
            path.display(),
            signer.public_key()
        );
    }
    Ok(signer)
}

/// The access-log checkpoint signing key, read from the data directory or created there,
/// readable by its owner only. Keeping it out of the database means a copy or an edit of the
/// database cannot forge checkpoints. Nodes sharing one database must share this file too;
/// [`pinned_log_signer`] holds them to it.
pub fn log_signer(config: &Config) -> anyhow::Result<LogSigner> {
    let path = log_key_path(config);
    match std::fs::read_to_string(&path) {
        Ok(text) => LogSigner::from_private_key(&text)
            .with_context(|| format!("{} is not an access-log signing key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = key_name(&config.public_url());
            let (signer, private_key) = LogSigner::generate(&name)?;
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(format!("{private_key}\n").as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), public_key = signer.public_key(), "created the access-log signing key");
            Ok(signer)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A key name that identifies this deployment: the public URL's host and port, and a random
/// suffix, e.g. `chat.example.org/k3f9a61c2`. The suffix keeps two installs on the same
/// default address (every `127.0.0.1:8080`) from naming their logs alike.
fn key_name(public_url: &str) -> String {
    let host = url::Url::parse(public_url)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "confidant".to_owned());
    let suffix: String = confidant_core::tokens::random_url_safe(8)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { 'x' })
        .collect();
    format!("{host}/k{suffix}")
}

/// Opens and migrates the configured database.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let store = connect_store(config).await?;
    store.migrate().await?;
    Ok(store)
}

/// The configured database as it is, without migrating it (for SQLite, the file and data
/// directory are created if missing).
pub async fn connect_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    Ok(confidant_store::connect(&url).await?)
}

impl Server {
    /// The database, for tools that run beside the server (benchmarks, tests).
    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// Serves until `shutdown` resolves, then stops accepting, ends live streams, lets
    /// in-flight requests finish, and closes the database (every acknowledged write is
    /// already committed).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let cancel = self.state.shutdown.clone();
        let app = self.state.app.clone();
        let janitor = tokio::spawn(purge_expired_periodically(
            app.clone(),
            self.state.images.clone(),
            cancel.clone(),
        ));
        let attachments = tokio::spawn(
            self.state
                .attachments
                .clone()
                .run_cleanup(app.clone(), cancel.clone()),
        );
        let push = self
            .state
            .push
            .enabled()
            .then(|| tokio::spawn(self.state.push.clone().run(app.clone(), cancel.clone())));
        let schedule = self.report_poll.map(|every| {
            tokio::spawn(release_reports_periodically(
                app.clone(),
                every,
                cancel.clone(),
            ))
        });
        let witnessing = tokio::spawn(self.witnessing.clone().run(app.clone(), cancel.clone()));
        let webhooks = tokio::spawn(crate::webhooks::deliver_periodically(
            app,
            crate::webhooks::HttpWebhooks::new()?,
            self.webhook_poll,
            cancel.clone(),
        ));
        let signal = {
            let cancel = cancel.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                cancel.cancel();
            }
        };
        axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .await?;
        cancel.cancel();
        janitor.abort();
        attachments.abort();
        if let Some(push) = push {
            push.abort();
        }
        webhooks.abort();
        witnessing.abort();
        if let Some(schedule) = schedule {
            schedule.abort();
        }
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Releases each period's reports once it is over, and queues them for delivery. Whatever
/// was released before a restart is found stored, so nothing is released twice.
async fn release_reports_periodically(app: Confidant, every: Duration, cancel: CancellationToken) {
    let mut every = tokio::time::interval(every);
    // A refusal (such as an exhausted budget) is reported once per app and period, not on
    // every pass.
    let mut reported = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {
                let run = match app.run_report_schedule().await {
                    Ok(run) => run,
                    Err(error) => {
                        tracing::warn!(%error, "report schedule pass failed");
                        continue;
                    }
                };
                for released in &run.released {
                    tracing::info!(
                        app = %released.report.app.client_id,
                        report = %released.report.id,
                        from = %released.report.from,
                        "released the period's engagement report",
                    );
                }
                for (client_id, error) in &run.refused {
                    if reported.insert((client_id.clone(), run.first_day)) {
                        tracing::warn!(app = %client_id, %error, "could not release a report");
                    }
                }
            }
        }
    }
}

/// Hourly, and once at start: drops expired sessions, OAuth codes and tokens, thread grants,
/// event-feed entries past retention, ended rate-limit windows, card images cached over a
/// week, and engagement data that is no longer needed (on one node at a time).
async fn purge_expired_periodically(
    app: Confidant,
    images: Arc<crate::images::ImageProxy>,
    cancel: CancellationToken,
) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {
                log_cleanup("removed expired sessions", app.purge_expired_sessions().await);
                log_cleanup("ended grants that went unused", app.expire_idle_grants().await);
                log_cleanup(
                    "removed expired OAuth codes and tokens",
                    app.purge_expired_oauth().await,
                );
                log_cleanup(
                    "removed event-feed entries past retention",
                    app.purge_old_feed().await,
                );
                log_cleanup(
                    "removed ended rate-limit windows",
                    app.purge_ended_budgets().await,
                );
                match images.purge_cache().await {
                    Ok(0) => {}
                    Ok(files) => tracing::info!(files, "removed card images cached over a week"),
                    Err(error) => tracing::warn!(%error, "could not clean the image cache"),
                }
                match app.purge_engagement().await {
                    Ok(Some(purged)) if purged != Default::default() => tracing::info!(
                        member_rows = purged.member_rows,
                        expired_rows = purged.expired_rows,
                        "forgot who contributed on days that are over, and engagement past retention"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "could not purge engagement data"),
                }
            }
        }
    }
}

/// Logs one clean-up of the periodic job: how many rows it touched, if any, or why it failed.
fn log_cleanup(done: &str, result: Result<u64, confidant_core::Error>) {
    match result {
        Ok(0) => {}
        Ok(rows) => tracing::info!(rows, "{done}"),
        Err(error) => tracing::warn!(%error, "clean-up failed ({done})"),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
