//! The command line: `serve`, `migrate`, `default-config`, `users …`, `apps …`,
//! `log verify`, `report`, `backup`, `restore`, `seed-demo`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value, json};

use confidant_core::accounts::SignUp;
use confidant_core::demo::{self, DemoSeed, SeedProgress};
use confidant_core::oauth::AppChanges;
use confidant_core::oauth::AppRegistration;
use confidant_core::reports::{self, Mechanism, ReportRequest};
use confidant_core::store::App;
use confidant_core::store::Member;
use confidant_core::{MemberId, SystemClock, Timestamp};
use confidant_log::ledger::LedgerFile;
use confidant_log::{Cosignatures, CosignerVerifier, Export, PublicKey, WitnessPolicy};

use crate::backup;
use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::reports::{ReportFormat, render};
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
        /// NATS server(s) that carry live events between nodes (nats://host:4222)
        #[arg(long)]
        nats_url: Option<String>,
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
    /// Manage partner apps (OAuth clients).
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Work with exported access logs, offline.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Work with the public budget ledger of report releases, offline.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Run a witness that cosigns the logs of Confidant servers.
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Release an app's engagement report for a period, or print the release already made
    /// for it (a period is released once; its noise is never drawn again).
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Report {
        #[command(subcommand)]
        action: Option<ReportAction>,
        /// The app's client id.
        #[arg(long, required = true)]
        app: Option<String>,
        /// First day, YYYY-MM-DD.
        #[arg(long, required = true)]
        from: Option<String>,
        /// How many days the report covers.
        #[arg(long, default_value_t = 14)]
        days: i64,
        #[arg(long, value_enum, default_value = "csv")]
        format: ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exact counts without noise, labelled as a self-test: to check a deployment.
        #[arg(long)]
        self_test: bool,
    },
    /// Take a consistent backup while the server runs: the database, attachment files kept
    /// under the data directory, and a signed checkpoint of every member's access log.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        action: Option<BackupAction>,
        /// The backup file to write (a zip); it must not exist yet.
        #[arg(long, required = true)]
        out: Option<PathBuf>,
        /// Also include the access-log signing key. Whoever holds the backup can then sign
        /// checkpoints in this deployment's name: keep such a file as safe as the key.
        #[arg(long)]
        with_key: bool,
    },
    /// Restore a backup into an empty data directory or database, after verifying it.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// Fill an empty database with demo data: a partner app, members with friends, and a
    /// period of recommendation sends and clicks (recorded as the engagement counters that
    /// reports read). Every demo member's password is `demo-password`.
    SeedDemo {
        #[arg(long, default_value_t = 1000)]
        members: usize,
        /// Sends plus clicks.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Days the events spread over, ending yesterday.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// The same seed makes the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Let a deployment that has made private (noisy) releases switch to
    /// `reports.noise = "self_test"`. From then on reports are exact and go to the partners.
    /// Days that private releases already cover stay private: exact reports of them are
    /// refused, since they would undo that noise. Without this, such a server refuses to start.
    AllowSelfTest,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Check a backup: every file's hash, the database's integrity, and every member's access
    /// log recomputed to the checkpoint signed when the backup was taken. A PostgreSQL backup
    /// is loaded into a scratch database on the configured server and dropped afterwards.
    Verify {
        /// The backup file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Verify an exported access log: recompute its Merkle root, check the checkpoint's
    /// signature, and check it only grew since an earlier checkpoint.
    Verify {
        /// The export file (Settings → Access log → Download, or
        /// GET /api/v1/me/access-log/export).
        file: PathBuf,
        /// The server's public key (`name+id+key`, from /.well-known/confidant-log-key or
        /// /apps), or a file holding it. Required: a key taken from the file itself proves
        /// nothing, since whoever wrote the file chose it.
        #[arg(long)]
        public_key: Option<String>,
        /// Check against the key written in the export instead of a pinned one; proves only
        /// that the file is self-consistent, and says so.
        #[arg(long, conflicts_with = "public_key")]
        trust_embedded_key: bool,
        /// A checkpoint saved earlier (a file): the log must be consistent with it.
        #[arg(long)]
        previous: Option<PathBuf>,
        #[command(flatten)]
        witnesses: WitnessArgs,
    },
}

/// Which witnesses' cosignatures a verification requires.
#[derive(Debug, clap::Args)]
pub struct WitnessArgs {
    /// A witness's verifier key (`confidant witness key` prints it), or a file holding one;
    /// repeat for each witness. With witnesses, the log's published head must be in the
    /// server's log of heads under a checkpoint they cosigned.
    #[arg(long = "witness")]
    pub witnesses: Vec<String>,
    /// How many of the witnesses must have cosigned [default: all of them].
    #[arg(long, requires = "witnesses")]
    pub quorum: Option<usize>,
    /// A cosignature older than this many hours is stale and does not count.
    #[arg(long, default_value_t = 24)]
    pub max_age_hours: u64,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Verify the public budget ledger (GET /transparency/ledger): recompute its Merkle
    /// root, check the checkpoint's signature and witnesses, that it only grew since an
    /// earlier checkpoint, and every app's spending per day of data against the cap.
    Verify {
        /// The ledger file.
        file: PathBuf,
        /// The server's public key (as for `log verify`), or a file holding it.
        #[arg(long)]
        public_key: String,
        /// A ledger checkpoint saved earlier (a file): the ledger must extend it.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// The cap of ρ per app and day of data to check against [default: the one the file
        /// states].
        #[arg(long)]
        rho_per_day: Option<f64>,
        /// A release id that must be in the ledger (a partner checking its report).
        #[arg(long)]
        release: Option<String>,
        /// A report as downloaded in JSON (GET /partner/v1/reports/{id}): it must be in the
        /// ledger with exactly these numbers.
        #[arg(long)]
        report: Option<PathBuf>,
        #[command(flatten)]
        witnesses: WitnessArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Run a C2SP tlog-witness that cosigns checkpoints of the logs whose keys it is given.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CONFIDANT_WITNESS_LISTEN")]
        listen: SocketAddr,
        /// Where the witness keeps its key and the latest checkpoint of each log.
        #[arg(long, env = "CONFIDANT_WITNESS_DATA_DIR")]
        data_dir: PathBuf,
        /// The public key of a log to follow (a Confidant server's is at
        /// /.well-known/confidant-log-key); repeat for several.
        #[arg(
            long = "log-key",
            env = "CONFIDANT_WITNESS_LOG_KEYS",
            value_delimiter = ','
        )]
        log_keys: Vec<String>,
        /// The witness's name, used when its key is made [default: confidant-witness].
        #[arg(long, default_value = "confidant-witness")]
        name: String,
    },
    /// Print the witness's verifier key, making the key if the data directory has none.
    Key {
        #[arg(long, env = "CONFIDANT_WITNESS_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long, default_value = "confidant-witness")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register an app; it starts pending. Prints JSON with the client_id and, for
    /// confidential apps, the client_secret, which is shown only this once.
    Create {
        #[arg(long)]
        name: String,
        /// Exact redirect URI; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A public client (native or single-page app) that cannot keep a secret.
        #[arg(long)]
        public: bool,
        /// Space-separated scopes the app may ask for [default: all]
        #[arg(long)]
        scopes: Option<String>,
        /// Who answers for the app, e.g. "Streamflix Inc. <dev@streamflix.example>"
        #[arg(long, default_value = "")]
        owner: String,
        #[arg(long)]
        homepage: Option<String>,
        #[arg(long)]
        privacy_policy: Option<String>,
        /// Where biweekly engagement reports are delivered.
        #[arg(long)]
        report_webhook: Option<String>,
        /// Space-separated initiation surfaces for reports, e.g. "title_page player_end".
        #[arg(long, default_value = "")]
        surfaces: String,
        /// Space-separated experiment arms for reports, e.g. "arm_a arm_b".
        #[arg(long, default_value = "")]
        variations: String,
        /// Where recommendations lead, with {item_id} once, e.g.
        /// "https://streamflix.example/title/{item_id}". Needed to send cards.
        #[arg(long)]
        item_url_template: Option<String>,
    },
    /// Change a registered app; options not given stay as they are. Prints the app.
    Update {
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// Exact redirect URI; repeat for several. Replaces the whole list.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Space-separated scopes the app may ask for. Removing one ends every token the
        /// app holds, so that it asks members again.
        #[arg(long)]
        scopes: Option<String>,
        /// "" removes it.
        #[arg(long)]
        homepage: Option<String>,
        /// "" removes it.
        #[arg(long)]
        privacy_policy: Option<String>,
        /// Where reports and disconnections are delivered ("" stops delivery).
        #[arg(long)]
        report_webhook: Option<String>,
        /// Space-separated initiation surfaces.
        #[arg(long)]
        surfaces: Option<String>,
        /// Space-separated experiment arms.
        #[arg(long)]
        variations: Option<String>,
        /// The new item-URL template ("" removes it: the app can no longer send cards).
        #[arg(long)]
        item_url_template: Option<String>,
    },
    /// Give a confidential app a new client secret, printed once. The old secret keeps
    /// working for the grace period, so the partner can deploy the new one first.
    RotateSecret {
        client_id: String,
        /// How long the old secret keeps working, in hours (0 ends it at once; at most 720).
        #[arg(long, default_value_t = 24)]
        grace_hours: i64,
    },
    /// Delete an app with its grants, tokens, sends and reports. Members' access logs keep
    /// the history, and record the disconnection.
    Delete {
        client_id: String,
        /// Required: deleting cannot be undone.
        #[arg(long, required = true)]
        yes: bool,
    },
    /// List every app as JSON.
    List,
    /// Approve an app so members can connect it.
    Approve { client_id: String },
    /// Suspend an app: it can no longer authorize, and its tokens stop working at once.
    Suspend { client_id: String },
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
    /// List members as JSON, in the order they joined.
    List {
        /// Only members who joined after this member id (for paging).
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 500)]
        limit: i64,
    },
    /// Make a member an operator.
    Promote { handle: String },
    /// Make an operator a plain member again (not the last one).
    Demote { handle: String },
    /// Set a new password for a member, read from standard input; ends their sessions.
    ResetPassword {
        handle: String,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Suspend a member: they cannot log in, their sessions end, and every app they
    /// connected loses access.
    Suspend { handle: String },
    /// Lift a suspension.
    Unsuspend { handle: String },
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
        if let Command::Serve {
            listen,
            public_url,
            nats_url,
        } = &self.command
        {
            if let Some(url) = nats_url {
                root.insert("cluster".into(), json!({ "nats_url": url }));
            }
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
    match cli.command {
        Command::DefaultConfig => {
            std::io::stdout().write_all(DEFAULT_CONFIG_TOML.as_bytes())?;
            return Ok(());
        }
        // Verification needs no server, database or configuration: an auditor runs it
        // anywhere.
        Command::Log {
            command:
                LogCommand::Verify {
                    file,
                    public_key,
                    trust_embedded_key,
                    previous,
                    witnesses,
                },
        } => {
            let key = match (public_key, trust_embedded_key) {
                (Some(key), _) => VerifyKey::Pinned(key),
                (None, true) => VerifyKey::Embedded,
                (None, false) => {
                    return Err(UsageError(
                        "log verify needs the server's key: pass --public-key KEY (from \
                         /.well-known/confidant-log-key or the server's /apps page). A key \
                         taken from the file itself proves nothing; --trust-embedded-key checks \
                         only that the file is self-consistent."
                            .into(),
                    )
                    .into());
                }
            };
            let witnesses = witnesses.policy()?;
            return verify_log(&file, key, previous.as_deref(), witnesses.as_ref());
        }
        Command::Ledger {
            command:
                LedgerCommand::Verify {
                    file,
                    public_key,
                    previous,
                    rho_per_day,
                    release,
                    report,
                    witnesses,
                },
        } => {
            let witnesses = witnesses.policy()?;
            return verify_ledger(
                &file,
                &public_key,
                previous.as_deref(),
                rho_per_day,
                release.as_deref(),
                report.as_deref(),
                witnesses.as_ref(),
            );
        }
        Command::Witness { command } => return witness(command),
        _ => {}
    }
    let config = Config::load(cli.global.config.as_deref(), cli.overrides())
        .context("invalid configuration")?;
    let mut log = config.log.clone();
    if !matches!(cli.command, Command::Serve { .. }) {
        // A one-shot command prints its result on stdout; its stderr carries only warnings
        // (and sqlx's notices of slow statements are no news to an operator running one).
        log.filter = "warn,sqlx=error".into();
    }
    crate::telemetry::init(&log);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve(config).await,
            Command::Migrate => {
                startup::open_store(&config).await?.close().await;
                report(&format!("migrated {}", redact(&config.database_url())))
            }
            Command::DefaultConfig
            | Command::Log { .. }
            | Command::Ledger { .. }
            | Command::Witness { .. } => Ok(()),
            Command::Users { command } => users(config, command).await,
            Command::Apps { command } => apps(config, command).await,
            Command::Report {
                action: Some(ReportAction::AllowSelfTest),
                ..
            } => allow_self_test(config).await,
            Command::Report {
                action: None,
                app,
                from,
                days,
                format,
                out,
                self_test,
            } => {
                let request = ReportCommand {
                    client_id: app.unwrap_or_default(),
                    from: from.unwrap_or_default(),
                    days,
                    format,
                    out,
                    self_test,
                };
                report_command(config, request).await
            }
            Command::Backup {
                action: Some(BackupAction::Verify { file }),
                ..
            } => {
                let spinner = Spinner::start();
                let verified = backup::verify(&config, &file, &|step| spinner.step(step))
                    .await
                    .with_context(|| format!("{} did not verify", file.display()))?;
                drop(spinner);
                report(&serde_json::to_string_pretty(&verified)?)
            }
            Command::Backup {
                action: None,
                out,
                with_key,
            } => {
                let out = out.unwrap_or_default();
                if with_key {
                    eprintln!(
                        "warning: the backup includes the access-log signing key; anyone who \
                         holds it can sign checkpoints in this deployment's name"
                    );
                }
                let spinner = Spinner::start();
                let summary =
                    backup::create(&config, &out, with_key, &|step| spinner.step(step)).await?;
                drop(spinner);
                report(&serde_json::to_string_pretty(&summary)?)
            }
            Command::Restore { file } => {
                let spinner = Spinner::start();
                let restored = backup::restore(&config, &file, &|step| spinner.step(step))
                    .await
                    .with_context(|| format!("cannot restore {}", file.display()))?;
                drop(spinner);
                if let Some(warning) = backup::missing_key_warning(&config) {
                    eprintln!("warning: {warning}");
                }
                report(&serde_json::to_string_pretty(&restored)?)
            }
            Command::SeedDemo {
                members,
                events,
                days,
                seed,
            } => {
                let seed = DemoSeed {
                    members,
                    events,
                    days,
                    seed,
                };
                seed_demo(config, seed).await
            }
        }
    })
}

/// A spinner on standard error naming a long command's current step; drawn only on a
/// terminal, and cleared when dropped.
struct Spinner(indicatif::ProgressBar);

impl Spinner {
    fn start() -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(bar)
    }

    fn step(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
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
    // Passwords come from standard input, read before the database is opened.
    let password = match &command {
        UsersCommand::Create { .. } | UsersCommand::ResetPassword { .. } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            password.trim_end_matches(['\n', '\r']).to_owned()
        }
        _ => String::new(),
    };
    let store = startup::open_store(&config).await?;
    let app = startup::application(&config, &store, Arc::new(SystemClock)).await?;
    let result = match command {
        UsersCommand::Create {
            handle,
            display_name,
            password_stdin: _,
            admin,
        } => app
            .sign_up(SignUp {
                handle,
                display_name,
                password,
                is_admin: admin,
            })
            .await
            .map(|member| member_json(&member, None)),
        UsersCommand::List { after, limit } => app
            .member_standings(after.map(MemberId), limit)
            .await
            .map(|members| {
                Value::Array(
                    members
                        .iter()
                        .map(|s| member_json(&s.member, Some(s.suspended_at)))
                        .collect(),
                )
            }),
        UsersCommand::Promote { handle } => app
            .set_operator(&handle, true)
            .await
            .map(|member| member_json(&member, None)),
        UsersCommand::Demote { handle } => app
            .set_operator(&handle, false)
            .await
            .map(|member| member_json(&member, None)),
        UsersCommand::ResetPassword { handle, .. } => app
            .reset_password(&handle, &password)
            .await
            .map(|member| member_json(&member, None)),
        UsersCommand::Suspend { handle } => app
            .suspend_member(&handle)
            .await
            .map(|s| member_json(&s.member, Some(s.suspended_at))),
        UsersCommand::Unsuspend { handle } => app
            .unsuspend_member(&handle)
            .await
            .map(|s| member_json(&s.member, Some(s.suspended_at))),
    };
    store.close().await;
    let json = result.map_err(|e| match e {
        confidant_core::Error::NotFound => anyhow::anyhow!("no such member"),
        other => anyhow::anyhow!("{other}"),
    })?;
    report(&serde_json::to_string_pretty(&json)?)
}

/// A member as the CLI prints it; with `standing`, whether they are suspended.
fn member_json(member: &Member, standing: Option<Option<Timestamp>>) -> Value {
    let mut json = json!({
        "id": member.id,
        "handle": member.handle,
        "display_name": member.display_name,
        "admin": member.is_admin,
        "created_at": confidant_log::entry::format_millis(member.created_at.millis()),
    });
    if let Some(suspended_at) = standing {
        json["suspended_at"] =
            json!(suspended_at.map(|at| confidant_log::entry::format_millis(at.millis())));
    }
    json
}

async fn apps(config: Config, command: AppsCommand) -> anyhow::Result<()> {
    let store = startup::open_store(&config).await?;
    let app = startup::application(&config, &store, Arc::new(SystemClock)).await?;
    let result = match command {
        AppsCommand::Create {
            name,
            redirect_uris,
            public,
            scopes,
            owner,
            homepage,
            privacy_policy,
            report_webhook,
            surfaces,
            variations,
            item_url_template,
        } => app
            .register_app(AppRegistration {
                name,
                owner,
                redirect_uris,
                public,
                scopes,
                homepage,
                privacy_policy,
                report_webhook,
                surfaces: vec![surfaces],
                variations: vec![variations],
                item_url_template,
            })
            .await
            .map(|registered| {
                let mut json = app_json(&registered.app);
                if let Some(secret) = registered.client_secret {
                    json["client_secret"] = json!(secret);
                }
                if let Some(secret) = registered.webhook_secret {
                    json["webhook_secret"] = json!(secret);
                }
                json
            }),
        AppsCommand::List => app
            .apps()
            .await
            .map(|apps| Value::Array(apps.iter().map(app_json).collect())),
        AppsCommand::Update {
            client_id,
            name,
            owner,
            redirect_uris,
            scopes,
            homepage,
            privacy_policy,
            report_webhook,
            surfaces,
            variations,
            item_url_template,
        } => app
            .update_app(
                &client_id,
                AppChanges {
                    name,
                    owner,
                    redirect_uris: (!redirect_uris.is_empty()).then_some(redirect_uris),
                    scopes,
                    homepage,
                    privacy_policy,
                    report_webhook,
                    surfaces: surfaces.map(|s| vec![s]),
                    variations: variations.map(|v| vec![v]),
                    item_url_template,
                },
            )
            .await
            .map(|updated| {
                let mut json = app_json(&updated.app);
                json["tokens_revoked"] = json!(updated.tokens_revoked);
                if let Some(secret) = updated.webhook_secret {
                    json["webhook_secret"] = json!(secret);
                }
                json
            }),
        AppsCommand::RotateSecret {
            client_id,
            grace_hours,
        } => app
            .rotate_client_secret(&client_id, grace_hours.saturating_mul(3600))
            .await
            .map(|rotated| {
                let mut json = app_json(&rotated.app);
                json["client_secret"] = json!(rotated.client_secret);
                json["previous_secret_valid_until"] =
                    json!(
                        (grace_hours > 0).then(|| confidant_log::entry::format_millis(
                            rotated.previous_valid_until.millis()
                        ))
                    );
                json
            }),
        AppsCommand::Delete { client_id, yes: _ } => {
            app.delete_app(&client_id).await.map(|disconnected| {
                json!({
                    "deleted": client_id,
                    "members_disconnected": disconnected,
                })
            })
        }
        AppsCommand::Approve { client_id } => {
            app.approve_app(&client_id).await.map(|a| app_json(&a))
        }
        AppsCommand::Suspend { client_id } => {
            app.suspend_app(&client_id).await.map(|a| app_json(&a))
        }
    };
    store.close().await;
    let json = result.map_err(|e| match e {
        confidant_core::Error::NotFound => anyhow::anyhow!("no such app"),
        other => anyhow::anyhow!("{other}"),
    })?;
    report(&serde_json::to_string_pretty(&json)?)
}

struct ReportCommand {
    client_id: String,
    from: String,
    days: i64,
    format: ReportFormat,
    out: Option<PathBuf>,
    self_test: bool,
}

async fn report_command(config: Config, command: ReportCommand) -> anyhow::Result<()> {
    let first_day = reports::parse_day(&command.from)
        .with_context(|| format!("--from `{}` is not a YYYY-MM-DD date", command.from))?;
    let store = startup::open_store(&config).await?;
    let app = startup::application(&config, &store, Arc::new(SystemClock)).await?;
    app.check_report_mode().await?;
    // Reading the counts takes a while only on long ranges; the bar is drawn only on a
    // terminal.
    let bar = indicatif::ProgressBar::new(u64::try_from(command.days).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} days ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("reading counts");
    if command.days < 60 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = |done: i64, _total: i64| bar.set_position(u64::try_from(done).unwrap_or(0));
    let released = app
        .release_report(ReportRequest {
            client_id: &command.client_id,
            first_day,
            days: command.days,
            mechanism: command.self_test.then_some(Mechanism::SelfTest),
            progress: &progress,
        })
        .await;
    bar.finish_and_clear();
    store.close().await;
    let released = released.map_err(|e| match e {
        confidant_core::Error::NotFound => anyhow::anyhow!("no such app"),
        other => anyhow::anyhow!("{other}"),
    })?;
    let text = render(&released.report, command.format).map_err(anyhow::Error::msg)?;
    let origin = if released.fresh {
        "released"
    } else {
        "served the release made earlier"
    };
    match &command.out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            report(&format!(
                "{origin}: report {} ({} to {}) written to {}",
                released.report.id,
                released.report.from,
                released.report.to,
                path.display()
            ))?;
        }
        None => {
            // The report itself is the output; which release it is goes beside it.
            std::io::stdout().write_all(text.as_bytes())?;
            eprintln!("{origin}: report {}", released.report.id);
        }
    }
    if released.report.self_test {
        eprintln!("note: a self-test report has no privacy noise; do not share it");
    }
    Ok(())
}

async fn allow_self_test(config: Config) -> anyhow::Result<()> {
    let store = startup::open_store(&config).await?;
    let app = startup::application(&config, &store, Arc::new(SystemClock)).await?;
    let private = app.allow_exact_reports().await;
    store.close().await;
    let private = private.map_err(|e| anyhow::anyhow!("{e}"))?;
    report(&format!(
        "self-test reports allowed: with reports.noise = \"self_test\" this deployment now \
         releases exact counts to partners. Its {private} private releases stay private, and \
         exact reports of the days they cover are refused."
    ))
}

async fn seed_demo(config: Config, seed: DemoSeed) -> anyhow::Result<()> {
    let store = startup::open_store(&config).await?;
    let app = startup::application(&config, &store, Arc::new(SystemClock)).await?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:12} [{bar:40}] {human_pos}/{human_len} ({eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let progress = |step: SeedProgress| {
        if bar.length() != Some(step.total) {
            bar.set_length(step.total);
            bar.set_message(step.stage);
        }
        bar.set_position(step.done);
    };
    let seeded = app.seed_demo(seed, &progress).await;
    bar.finish_and_clear();
    store.close().await;
    let seeded = seeded.map_err(|e| anyhow::anyhow!("{e}"))?;
    report(&serde_json::to_string_pretty(&json!({
        "app": {
            "client_id": seeded.client_id,
            "client_secret": seeded.client_secret,
        },
        "members": seeded.members,
        "member_handles": format!("demo000000 to demo{:06}", seeded.members - 1),
        "member_password": demo::DEMO_PASSWORD,
        "friendships": seeded.friendships,
        "sends": seeded.sends,
        "clicks": seeded.clicks,
        "counted_under_the_caps": { "sends": seeded.counted_sends, "clicks": seeded.counted_clicks },
        "from": reports::format_day(seeded.first_day),
        "to": reports::format_day(seeded.first_day + seeded.days - 1),
    }))?)
}

/// An app as the CLI prints it (never its secret hash).
fn app_json(app: &App) -> Value {
    json!({
        "client_id": app.client_id,
        "name": app.name,
        "owner": app.owner,
        "status": app.status.as_str(),
        "client_type": if app.confidential { "confidential" } else { "public" },
        "redirect_uris": app.redirect_uris,
        "scopes": app.scopes.to_string(),
        "homepage": app.homepage,
        "privacy_policy": app.privacy_policy,
        "report_webhook": app.report_webhook,
        "surfaces": app.surfaces,
        "variations": app.variations,
        "item_url_template": app.item_url_template,
    })
}

/// Which key `log verify` checks the checkpoint with.
enum VerifyKey {
    /// Given by the user: a key or a file holding one.
    Pinned(String),
    /// The one written in the export: explicitly asked for, and warned about.
    Embedded,
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A key given on the command line (`name+id+base64`), or a file holding one.
fn key_text(key: &str) -> anyhow::Result<String> {
    if Path::new(key).is_file() {
        read_file(Path::new(key))
    } else {
        Ok(key.to_owned())
    }
}

impl WitnessArgs {
    fn policy(self) -> anyhow::Result<Option<WitnessPolicy>> {
        if self.witnesses.is_empty() {
            return Ok(None);
        }
        let witnesses = self
            .witnesses
            .iter()
            .map(|key| {
                CosignerVerifier::parse(&key_text(key)?)
                    .with_context(|| format!("invalid --witness {key:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quorum = self.quorum.unwrap_or(witnesses.len());
        if quorum == 0 || quorum > witnesses.len() {
            return Err(UsageError(format!(
                "--quorum must be between 1 and the {} witnesses given",
                witnesses.len()
            ))
            .into());
        }
        Ok(Some(WitnessPolicy {
            witnesses,
            quorum,
            now_secs: now_secs(),
            max_age_secs: self.max_age_hours.saturating_mul(3600),
        }))
    }
}

/// Seconds since the Unix epoch, what cosignature times count in.
fn now_secs() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64
}

/// Prints who cosigned, and who was stale.
fn report_cosignatures(cosignatures: &Cosignatures, what: &str) -> anyhow::Result<()> {
    let now = now_secs();
    for (name, at) in &cosignatures.cosigned_by {
        report(&format!(
            "cosigned by {name} {} ago",
            confidant_log::export::age(now.saturating_sub(*at))
        ))?;
    }
    for (name, at) in &cosignatures.stale {
        report(&format!(
            "warning: {name}'s cosignature is stale ({} old)",
            confidant_log::export::age(now.saturating_sub(*at))
        ))?;
    }
    report(what)
}

fn verify_log(
    file: &Path,
    key: VerifyKey,
    previous: Option<&Path>,
    witnesses: Option<&WitnessPolicy>,
) -> anyhow::Result<()> {
    let export = Export::parse(&read_file(file)?)
        .with_context(|| format!("{} is not an access-log export", file.display()))?;
    let public_key = match key {
        VerifyKey::Pinned(key) => {
            Some(PublicKey::parse(&key_text(&key)?).context("invalid --public-key")?)
        }
        VerifyKey::Embedded => {
            eprintln!(
                "warning: checking with the key written in the file (--trust-embedded-key): this \
                 shows only that the file is self-consistent, not that the server signed it"
            );
            None
        }
    };
    let previous = previous.map(read_file).transpose()?;
    let verified = confidant_log::export::verify_witnessed(
        &export,
        public_key.as_ref(),
        previous.as_deref(),
        witnesses,
    )
    .map_err(|e| anyhow::anyhow!("verification failed: {e}"))?;
    let scope = if verified.complete {
        String::new()
    } else {
        format!(" (with inclusion proofs; the log has {})", verified.size)
    };
    report(&format!("verified {} entries{scope}", verified.entries))?;
    report(&format!(
        "log: {} (size {})",
        verified.origin, verified.size
    ))?;
    if !verified.complete {
        report(&format!("note: {}", confidant_log::export::SELECTION_NOTE))?;
    }
    if let Some(size) = verified.consistent_with {
        report(&format!(
            "consistent with the earlier checkpoint of {size} entries: nothing was changed or removed"
        ))?;
    }
    if let Some(witnessing) = verified.witnessed {
        let (size, heads_size) = (witnessing.size, witnessing.heads_size);
        report_cosignatures(
            &Cosignatures {
                cosigned_by: witnessing.cosigned_by,
                stale: witnessing.stale,
            },
            &format!(
                "witnessed: the first {} entries are the head published in the log of heads \
                 (size {}); newer entries are witnessed at the next publication",
                size, heads_size
            ),
        )?;
    }
    Ok(())
}

fn verify_ledger(
    file: &Path,
    public_key: &str,
    previous: Option<&Path>,
    rho_per_day: Option<f64>,
    release: Option<&str>,
    report_file: Option<&Path>,
    witnesses: Option<&WitnessPolicy>,
) -> anyhow::Result<()> {
    let ledger: LedgerFile = serde_json::from_str(&read_file(file)?)
        .with_context(|| format!("{} is not a budget ledger", file.display()))?;
    let key = PublicKey::parse(&key_text(public_key)?).context("invalid --public-key")?;
    let previous = previous.map(read_file).transpose()?;
    let cap = rho_per_day.unwrap_or(ledger.rho_per_data_day);
    let summary = confidant_log::ledger::verify(&ledger, &key, previous.as_deref(), cap)
        .map_err(|e| anyhow::anyhow!("verification failed: {e}"))?;
    let cosignatures = witnesses
        .map(|policy| confidant_log::export::check_cosigned(&ledger.checkpoint, policy))
        .transpose()
        .map_err(|e| anyhow::anyhow!("verification failed: {e}"))?;
    if let Some(release) = release
        && !ledger.entries.iter().any(|entry| entry.release == release)
    {
        anyhow::bail!("verification failed: the release {release} is not in the ledger");
    }
    let report_release = report_file
        .map(|path| report_in_ledger(path, &ledger))
        .transpose()?;
    report(&format!(
        "verified {} releases of {} apps; no app spent more than rho = {cap} on any day of data",
        summary.size, summary.apps
    ))?;
    if let Some((app, day, spent)) = &summary.most_spent {
        report(&format!("the most spent: {app} on {day}, rho = {spent}"))?;
    }
    if let Some(size) = summary.consistent_with {
        report(&format!(
            "consistent with the earlier checkpoint of {size} releases: none was removed or changed"
        ))?;
    }
    if let Some(release) = release {
        report(&format!("the release {release} is in the ledger"))?;
    }
    if let Some(release) = report_release {
        report(&format!(
            "the report is the release {release} in the ledger, with the same numbers"
        ))?;
    }
    if let Some(cosignatures) = &cosignatures {
        report_cosignatures(cosignatures, "the ledger's checkpoint is witnessed")?;
    }
    Ok(())
}

/// Checks that the report in `path` (JSON, as a partner downloads it) is a release in the
/// ledger with the body the ledger hashed; returns its release id. The server stores a
/// release as compact JSON and serves it indented: the report is hashed in the stored form.
fn report_in_ledger(path: &Path, ledger: &LedgerFile) -> anyhow::Result<String> {
    let text = read_file(path)?;
    let parsed: confidant_core::reports::Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a report in JSON", path.display()))?;
    let digest = confidant_log::ledger::body_sha256(&serde_json::to_string(&parsed)?);
    let entry = ledger
        .entries
        .iter()
        .find(|entry| entry.release == parsed.id)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "verification failed: the report's release {} is not in the ledger",
                parsed.id
            )
        })?;
    if entry.body_sha256 != digest {
        anyhow::bail!(
            "verification failed: the report differs from the release {} the ledger holds (its \
             SHA-256 is {digest}, the ledger's {})",
            parsed.id,
            entry.body_sha256
        );
    }
    Ok(parsed.id)
}

fn witness(command: WitnessCommand) -> anyhow::Result<()> {
    match command {
        WitnessCommand::Key { data_dir, name } => {
            let key = crate::witness::load_or_create_key(&data_dir, &name)?;
            report(&key.verifier_key())
        }
        WitnessCommand::Serve {
            listen,
            data_dir,
            log_keys,
            name,
        } => {
            crate::telemetry::init(&crate::config::LogConfig::default());
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                crate::witness::serve(listener, &data_dir, &name, &log_keys).await
            })
        }
    }
}

/// A command used wrongly: `main` exits with status 2, as for a usage error of the parser.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// What a command prints for its user (not a log line).
fn report(line: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}

/// A database URL without its password, for printing.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
