//! The command line: `serve`, `migrate`, `default-config`, `users create`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value, json};

use confidant_core::SystemClock;
use confidant_core::accounts::SignUp;

use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::startup;

#[derive(Debug, Parser)]
#[command(
    name = "confidant",
    version,
    about = "A self-hostable messaging server with a partner API people can trust"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts. Each also reads from the config file and from
/// `CONFIDANT_…` environment variables.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory for the SQLite database [default: ./confidant-data]
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… [default: sqlite://<data-dir>/confidant.db]
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// A TOML config file (see `confidant default-config`)
    #[arg(long, global = true, env = "CONFIDANT_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The URL members reach the server at [default: http://<listen>]
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print a commented example configuration file.
    DefaultConfig,
    /// Manage members.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a member; the password is read from standard input.
    Create {
        #[arg(long)]
        handle: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the member an operator (admin).
        #[arg(long)]
        admin: bool,
    },
}

impl Cli {
    /// The flags actually given, as a partial config document that overrides the rest.
    fn overrides(&self) -> Value {
        let mut root = Map::new();
        if let Some(dir) = &self.global.data_dir {
            root.insert("data_dir".into(), json!(dir));
        }
        if let Some(url) = &self.global.database_url {
            root.insert("database".into(), json!({ "url": url }));
        }
        if let Command::Serve { listen, public_url } = &self.command {
            let mut server = Map::new();
            if let Some(listen) = listen {
                server.insert("listen".into(), json!(listen.to_string()));
            }
            if let Some(url) = public_url {
                server.insert("public_url".into(), json!(url));
            }
            if !server.is_empty() {
                root.insert("server".into(), Value::Object(server));
            }
        }
        Value::Object(root)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::DefaultConfig = cli.command {
        std::io::stdout().write_all(DEFAULT_CONFIG_TOML.as_bytes())?;
        return Ok(());
    }
    let config = Config::load(cli.global.config.as_deref(), cli.overrides())
        .context("invalid configuration")?;
    crate::telemetry::init(&config.log);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve(config).await,
            Command::Migrate => {
                startup::open_store(&config).await?.close().await;
                report(&format!("migrated {}", redact(&config.database_url())))
            }
            Command::DefaultConfig => Ok(()),
            Command::Users { command } => users(config, command).await,
        }
    })
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let address = listener.local_addr()?;
    // With `--listen 127.0.0.1:0` the real port is known only now.
    config.server.listen = address;
    let server = startup::build(&config).await?;
    tracing::info!(%address, database = %redact(&config.database_url()), "confidant is listening");
    report(&format!("Confidant is running at {}", config.public_url()))?;
    server.serve(listener, startup::shutdown_signal()).await
}

async fn users(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::Create {
        handle,
        display_name,
        password_stdin: _,
        admin,
    } = command;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    let store = startup::open_store(&config).await?;
    let app = startup::application(&config, &store, Arc::new(SystemClock))?;
    let created = app
        .sign_up(SignUp {
            handle,
            display_name,
            password,
            is_admin: admin,
        })
        .await;
    store.close().await;
    let member = created.map_err(|e| anyhow::anyhow!("{e}"))?;
    report(&serde_json::to_string(&json!({
        "id": member.id,
        "handle": member.handle,
        "display_name": member.display_name,
        "admin": member.is_admin,
    }))?)
}

/// What a command prints for its user (not a log line).
fn report(line: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}

/// A database URL without its password, for printing.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
