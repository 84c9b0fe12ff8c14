//! Building the application from its config, and serving it.
//!
//! `build` opens and migrates the database and assembles the router; `serve` runs it on a
//! listener until the shutdown future resolves. Tests bind `127.0.0.1:0` and call both.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use confidant_core::live::LocalBus;
use confidant_core::{Clock, Confidant, SystemClock};
use confidant_store::SqlStore;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::{AppState, WebSettings};

/// A built server, ready to serve.
pub struct Server {
    pub state: AppState,
    pub router: Router,
    store: SqlStore,
}

/// Opens the database (creating the SQLite file on first run), migrates it, and builds the
/// application with the system clock.
pub async fn build(config: &Config) -> anyhow::Result<Server> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn build_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
    let store = open_store(config).await?;
    let app = application(config, &store, clock)?;
    let state = AppState {
        app,
        web: Arc::new(WebSettings::new(
            config.public_url(),
            config.server.max_body_bytes,
        )),
        metrics: Arc::new(Metrics::new()),
        shutdown: CancellationToken::new(),
    };
    let router = crate::http::router(state.clone());
    Ok(Server {
        state,
        router,
        store,
    })
}

/// The use cases over an open store, with the single-node live bus.
pub fn application(
    config: &Config,
    store: &SqlStore,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Confidant> {
    Ok(Confidant::new(
        Arc::new(store.clone()),
        clock,
        Arc::new(LocalBus::default()),
        config.settings(),
    )?)
}

/// Opens and migrates the configured database.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    let store = confidant_store::connect(&url).await?;
    store.migrate().await?;
    Ok(store)
}

impl Server {
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
        let janitor = tokio::spawn(purge_expired_periodically(app, cancel.clone()));
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
        self.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Hourly: drops expired sessions, OAuth codes and tokens, and thread grants.
async fn purge_expired_periodically(app: Confidant, cancel: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = every.tick() => {
                match app.purge_expired_sessions().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "removed expired sessions"),
                    Err(error) => tracing::warn!(%error, "could not remove expired sessions"),
                }
                match app.purge_expired_oauth().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "removed expired OAuth codes and tokens"),
                    Err(error) => tracing::warn!(%error, "could not remove expired OAuth rows"),
                }
            }
        }
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
