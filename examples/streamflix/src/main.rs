//! Streamflix: a small film catalogue whose members recommend films to their friends through
//! Confidant — the reference partner integration. See `examples/streamflix/README.md`.

mod catalogue;
mod confidant;
mod copies;
mod store;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "streamflix",
    about = "A film catalogue that shares through Confidant"
)]
struct Args {
    #[arg(long, env = "STREAMFLIX_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Where members reach Streamflix [default: http://<listen>]
    #[arg(long, env = "STREAMFLIX_PUBLIC_URL")]
    public_url: Option<String>,
    /// Where Confidant is.
    #[arg(
        long,
        env = "STREAMFLIX_CONFIDANT_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    confidant_url: String,
    /// Streamflix's client id at Confidant (`confidant apps create`).
    #[arg(long, env = "STREAMFLIX_CLIENT_ID")]
    client_id: String,
    #[arg(long, env = "STREAMFLIX_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// The `whsec_…` secret Confidant signs its webhooks with.
    #[arg(long, env = "STREAMFLIX_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Where Streamflix keeps its own SQLite database.
    #[arg(long, env = "STREAMFLIX_DATA_DIR", default_value = "./streamflix-data")]
    data_dir: PathBuf,
    /// How often finished days' off-platform shares are reported to Confidant, in seconds.
    #[arg(long, default_value_t = 600)]
    report_every_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{address}"))
        .trim_end_matches('/')
        .to_owned();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let store = store::Store::open(&args.data_dir.join("streamflix.db")).await?;
    let confidant = confidant::Confidant::discover(
        &args.confidant_url,
        &args.client_id,
        &args.client_secret,
        &format!("{public_url}/callback"),
    )
    .await?;
    let app = web::App {
        store,
        confidant: Arc::new(confidant),
        catalogue: Arc::new(catalogue::Catalogue::load()?),
        public_url: public_url.clone(),
        webhook_secret: args.webhook_secret,
    };
    let reporter = app.clone();
    let every = Duration::from_secs(args.report_every_secs.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match copies::report_copies(&reporter, &web::today()).await {
                Ok(0) => {}
                Ok(days) => tracing::info!(days, "reported off-platform shares to Confidant"),
                Err(error) => tracing::warn!(%error, "could not report off-platform shares"),
            }
        }
    });
    tracing::info!(%address, confidant = %args.confidant_url, "streamflix is listening");
    #[allow(
        clippy::print_stdout,
        reason = "the address is what the user runs it for"
    )]
    {
        println!("Streamflix is running at {public_url}");
    }
    axum::serve(listener, web::router(app)).await?;
    Ok(())
}
