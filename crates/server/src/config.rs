//! Configuration: defaults, then the TOML file, then `CONFIDANT_…` environment variables
//! (`CONFIDANT_SECTION__KEY`, e.g. `CONFIDANT_SERVER__LISTEN`), then command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use confidant_core::accounts::{DirectoryPolicy, HashingCost, SessionPolicy, ThrottlePolicy};
use confidant_core::oauth::OAuthPolicy;
use confidant_core::reports::{self, Mechanism, PrivacyPolicy};
use confidant_core::{ReportPolicy, Settings};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database and the access-log signing key live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub accounts: AccountsConfig,
    pub oauth: OAuthConfig,
    pub reports: ReportsConfig,
    pub cluster: ClusterConfig,
    pub push: PushConfig,
    pub media: MediaConfig,
    pub accesslog: AccessLogConfig,
    pub log: LogConfig,
}

/// Witnesses of the server's logs: the log of members' access-log heads and the budget
/// ledger.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessLogConfig {
    /// The witnesses each new checkpoint is submitted to.
    pub witnesses: Vec<WitnessConfig>,
    /// How many of them must cosign a checkpoint before it is served and exported as
    /// witnessed [default: all of them].
    pub quorum: Option<u32>,
    /// How often members' new heads are published and a checkpoint is submitted, seconds
    /// [default: 10].
    pub publish_interval_secs: Option<u64>,
    /// How often an unchanged checkpoint is submitted again, for fresh cosignatures,
    /// seconds [default: 3600].
    pub cosign_refresh_secs: Option<u64>,
}

/// One witness: where it takes checkpoints and the key it cosigns with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The witness's submission prefix: `add-checkpoint` is appended to it.
    pub url: String,
    /// Its verifier key (`confidant witness key` prints it).
    pub key: String,
}

impl AccessLogConfig {
    pub fn quorum(&self) -> u32 {
        self.quorum.unwrap_or(self.witnesses.len() as u32)
    }

    pub fn publish_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.publish_interval_secs.unwrap_or(10).max(1))
    }

    pub fn cosign_refresh(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cosign_refresh_secs.unwrap_or(3600).max(1))
    }
}

/// Pictures and files: the images of recommendation cards, fetched and served by this server,
/// and the files members attach to messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The largest card image fetched, in bytes.
    pub image_max_bytes: u64,
    /// How long fetching a card image may take, in seconds.
    pub image_timeout_secs: u64,
    /// Networks card images may be fetched from although they are not public (an intranet
    /// partner: `["10.20.0.0/16"]`). Loopback, private and link-local addresses are refused
    /// otherwise.
    pub image_allowed_networks: Vec<ipnet::IpNet>,
    /// The largest attachment, in bytes.
    pub max_bytes: u64,
    /// An S3-compatible bucket for attachments, shared by every node; without one they are
    /// kept under the data directory.
    pub s3_bucket: Option<String>,
    /// The store's URL, for anything but AWS itself (MinIO, Garage, Ceph…).
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    /// Credentials for the bucket; without them, the standard `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (or an instance role) are used.
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<S3Secret>,
}

/// The bucket's secret key: `Debug` never shows it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct S3Secret(pub String);

impl std::fmt::Debug for S3Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Secret(***)")
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            image_max_bytes: 5 * 1024 * 1024,
            image_timeout_secs: 10,
            image_allowed_networks: Vec::new(),
            max_bytes: 25 * 1024 * 1024,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
        }
    }
}

/// Web Push notifications, sent by this server straight to each browser's push service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Whether members can turn notifications on.
    pub enabled: bool,
    /// Who push services contact about this server's pushes (VAPID `sub`): a `mailto:` or
    /// `https:` URL. Empty: the public URL.
    pub contact: String,
    /// Networks push services may be reached in although they are not public (a
    /// self-hosted one on the LAN: `["10.20.0.0/16"]`). Loopback, private and link-local
    /// addresses are refused otherwise, so a subscription cannot aim the server inward.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// How long one push may take, in seconds.
    pub timeout_secs: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: true,
            contact: String::new(),
            allowed_networks: Vec::new(),
            timeout_secs: 10,
        }
    }
}

/// Running several nodes on one PostgreSQL database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The NATS server(s) that carry live announcements between nodes (`nats://host:4222`,
    /// several separated by commas). Without one, live delivery stays within this process.
    pub nats_url: Option<String>,
    /// With NATS, how often a node reads the feed heads of the members it has streams for
    /// even without an announcement, in seconds: NATS delivers at most once, so this bounds
    /// how late a lost one makes an event.
    pub resync_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_url: None,
            resync_secs: 2,
        }
    }
}

/// Engagement reports for partner apps, and their privacy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// `discrete_gaussian`, `discrete_laplace`, or `self_test` (no noise; labelled).
    pub noise: Mechanism,
    /// Privacy budget (ρ, zero-concentrated DP) one report spends.
    pub rho_per_report: f64,
    /// ρ all of an app's releases together may spend on any one day of data.
    pub rho_per_data_day: f64,
    /// The δ at which ρ is also stated as (ε, δ) on reports and /apps.
    pub delta: f64,
    /// Days engagement data is kept; older days are deleted and cannot be reported on.
    pub retention_days: i64,
    /// Replaced by `rho_per_data_day`; still read, so that a config file that sets it gets
    /// a clear error rather than a bare "unknown field".
    #[serde(skip_serializing)]
    pub rho_per_year: Option<f64>,
    /// The most one member adds to one report cell per day, in sends and in clicks.
    pub contribution_cap: u32,
    /// The most cells of one app one member adds to per day.
    pub cells_per_member_per_day: u32,
    /// `YYYY-MM-DD`: the first day of the first 14-day period.
    pub schedule_anchor: String,
    /// Whether this server releases and delivers each period's reports by itself.
    pub schedule: bool,
    /// How often the schedule is checked, in seconds.
    pub schedule_poll_secs: u64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        let policy = ReportPolicy::default();
        Self {
            noise: policy.privacy.mechanism,
            rho_per_report: policy.privacy.rho_per_report,
            rho_per_data_day: policy.privacy.rho_per_data_day,
            delta: policy.privacy.delta,
            retention_days: policy.privacy.retention_days,
            rho_per_year: None,
            contribution_cap: policy.privacy.contribution_cap,
            cells_per_member_per_day: policy.privacy.cells_per_day,
            schedule_anchor: reports::format_day(policy.schedule_anchor),
            schedule: true,
            schedule_poll_secs: 300,
        }
    }
}

impl ReportsConfig {
    /// Refuses settings that would make reports meaningless or not private.
    fn check(&self) -> Result<(), String> {
        if reports::parse_day(&self.schedule_anchor).is_none() {
            return Err(format!(
                "reports.schedule_anchor `{}` is not a YYYY-MM-DD date",
                self.schedule_anchor
            ));
        }
        if self.rho_per_year.is_some() {
            return Err(
                "reports.rho_per_year is no longer used: the privacy budget is now \
                 charged to each day of data a report covers (reports.rho_per_data_day, default \
                 one report's rho_per_report). Remove rho_per_year from the configuration."
                    .into(),
            );
        }
        let positive = |value: f64| value.is_finite() && value > 0.0;
        if !positive(self.rho_per_report) || !positive(self.rho_per_data_day) {
            return Err("reports.rho_per_report and rho_per_data_day must be positive".into());
        }
        if self.rho_per_data_day < self.rho_per_report {
            return Err(
                "reports.rho_per_data_day is less than one report's rho_per_report: no report \
                 could ever be released"
                    .into(),
            );
        }
        if !(self.delta > 0.0 && self.delta < 1e-3) {
            return Err("reports.delta must be above 0 and below 0.001".into());
        }
        if !(15..=3650).contains(&self.retention_days) {
            return Err(
                "reports.retention_days must be 15 to 3650: long enough for a 14-day period".into(),
            );
        }
        if self.contribution_cap == 0 || self.cells_per_member_per_day == 0 {
            return Err(
                "reports.contribution_cap and cells_per_member_per_day must be at least 1".into(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://{data_dir}/confidant.db`.
    pub url: Option<DatabaseUrl>,
}

/// A database URL, which may carry a password: `Debug` hides everything after the scheme.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.0.split(':').next().unwrap_or("");
        write!(f, "DatabaseUrl({scheme}://***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The URL members reach this server at; cookies are `Secure` when it is https.
    pub public_url: Option<String>,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How often queued webhooks to partner apps are looked for, in seconds.
    pub webhook_poll_secs: u64,
    /// A bearer token `/metrics` requires; without one, `/metrics` answers loopback peers only.
    pub metrics_token: Option<MetricsToken>,
    /// The reverse proxies in front of this server (CIDRs, e.g. `["10.0.0.0/8"]`). Only
    /// from these peers is `X-Forwarded-For` read, to find the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The token a metrics scraper presents: `Debug` never shows it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct MetricsToken(pub String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub login_failures_per_handle: u32,
    pub login_failures_per_client: u32,
    pub login_window_secs: i64,
    pub browser_session_idle_secs: i64,
    pub browser_session_max_secs: i64,
    pub api_session_idle_secs: i64,
    pub api_session_max_secs: i64,
    /// Member directory searches allowed per member and per client address.
    pub searches_per_member_per_minute: u32,
    pub searches_per_member_per_day: u32,
    pub searches_per_address_per_day: u32,
}

/// The OAuth authorization server for partner apps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    pub access_token_secs: i64,
    /// Absolute lifetime of a refresh token family; rotation does not extend it.
    pub refresh_token_secs: i64,
    /// Failed client authentications allowed per client id within `login_window_secs`.
    pub client_auth_failures: u32,
    /// Partner API: messages one app may send for one member per hour.
    pub sends_per_member_per_hour: u32,
    /// A member's grant to an app ends after this many days without use.
    pub grant_idle_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `confidant=debug,tower_http=info`.
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./confidant-data"),
            database: DatabaseConfig::default(),
            server: ServerConfig::default(),
            accounts: AccountsConfig::default(),
            oauth: OAuthConfig::default(),
            reports: ReportsConfig::default(),
            cluster: ClusterConfig::default(),
            push: PushConfig::default(),
            media: MediaConfig::default(),
            accesslog: AccessLogConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 64 * 1024,
            webhook_poll_secs: 5,
            metrics_token: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        let hashing = HashingCost::default();
        let throttle = ThrottlePolicy::default();
        let sessions = SessionPolicy::default();
        let directory = DirectoryPolicy::default();
        Self {
            argon2_memory_kib: hashing.memory_kib,
            argon2_iterations: hashing.iterations,
            login_failures_per_handle: throttle.per_handle,
            login_failures_per_client: throttle.per_client,
            login_window_secs: throttle.window_secs,
            browser_session_idle_secs: sessions.browser_idle_secs,
            browser_session_max_secs: sessions.browser_absolute_secs,
            api_session_idle_secs: sessions.api_idle_secs,
            api_session_max_secs: sessions.api_absolute_secs,
            searches_per_member_per_minute: directory.per_member_per_minute,
            searches_per_member_per_day: directory.per_member_per_day,
            searches_per_address_per_day: directory.per_address_per_day,
        }
    }
}

impl Default for OAuthConfig {
    fn default() -> Self {
        let policy = OAuthPolicy::default();
        Self {
            access_token_secs: policy.access_token_secs,
            refresh_token_secs: policy.refresh_token_secs,
            client_auth_failures: 10,
            sends_per_member_per_hour: 60,
            grant_idle_days: policy.grant_idle_secs / (24 * 3600),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            filter: "info".into(),
        }
    }
}

/// The commented example printed by `confidant default-config`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default-config.toml");

impl Config {
    /// Merges defaults, the file (if given; it must exist), the environment and `overrides`
    /// (the flags the user actually passed, as a partial document).
    pub fn load(
        file: Option<&Path>,
        overrides: serde_json::Value,
    ) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(Box::new(figment::Error::from(format!(
                    "config file {} does not exist",
                    file.display()
                ))));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("CONFIDANT_").split("__").filter(|key| {
                // Variables that configure tests or pick the config file are not settings.
                let key = key.as_str().to_ascii_lowercase();
                !key.starts_with("test_") && key != "config"
            }))
            .merge(Serialized::defaults(overrides))
            .extract::<Config>()
            .map_err(Box::new)
            .and_then(|config| {
                config.reports.check().map_err(|e| Box::new(e.into()))?;
                Ok(config)
            })
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) if !url.0.is_empty() => url.0.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("confidant.db").display()),
        }
    }

    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn settings(&self) -> Settings {
        let a = &self.accounts;
        Settings {
            sessions: SessionPolicy {
                browser_idle_secs: a.browser_session_idle_secs,
                browser_absolute_secs: a.browser_session_max_secs,
                api_idle_secs: a.api_session_idle_secs,
                api_absolute_secs: a.api_session_max_secs,
            },
            password_hashing: HashingCost {
                memory_kib: a.argon2_memory_kib,
                iterations: a.argon2_iterations,
                parallelism: 1,
            },
            throttle: ThrottlePolicy {
                per_handle: a.login_failures_per_handle,
                per_client: a.login_failures_per_client,
                window_secs: a.login_window_secs,
            },
            oauth: OAuthPolicy {
                access_token_secs: self.oauth.access_token_secs,
                refresh_token_secs: self.oauth.refresh_token_secs,
                grant_idle_secs: self.oauth.grant_idle_days * 24 * 3600,
                ..OAuthPolicy::default()
            },
            client_auth_throttle: ThrottlePolicy {
                per_handle: self.oauth.client_auth_failures,
                per_client: u32::MAX,
                window_secs: a.login_window_secs,
            },
            directory: DirectoryPolicy {
                per_member_per_minute: a.searches_per_member_per_minute,
                per_member_per_day: a.searches_per_member_per_day,
                per_address_per_day: a.searches_per_address_per_day,
            },
            reports: ReportPolicy {
                privacy: PrivacyPolicy {
                    mechanism: self.reports.noise,
                    rho_per_report: self.reports.rho_per_report,
                    rho_per_data_day: self.reports.rho_per_data_day,
                    delta: self.reports.delta,
                    retention_days: self.reports.retention_days,
                    contribution_cap: self.reports.contribution_cap.max(1),
                    cells_per_day: self.reports.cells_per_member_per_day.max(1),
                },
                schedule_anchor: reports::parse_day(&self.reports.schedule_anchor)
                    .unwrap_or_else(|| ReportPolicy::default().schedule_anchor),
                public_url: self.public_url(),
            },
            partner_sends: ThrottlePolicy {
                per_handle: self.oauth.sends_per_member_per_hour,
                per_client: u32::MAX,
                window_secs: 3600,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_config_is_the_default() {
        let parsed: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(DEFAULT_CONFIG_TOML))
            .extract()
            .unwrap();
        let default = Config::default();
        assert_eq!(parsed.server.listen, default.server.listen);
        assert_eq!(parsed.data_dir, default.data_dir);
        assert_eq!(
            parsed.accounts.argon2_memory_kib,
            default.accounts.argon2_memory_kib
        );
        assert_eq!(parsed.log.format, default.log.format);
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::to_value(&default).unwrap()
        );
    }

    #[test]
    fn a_retired_yearly_budget_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("confidant.toml");
        std::fs::write(&file, "[reports]\nrho_per_year = 15.0\n").unwrap();
        let error = Config::load(Some(&file), serde_json::json!({})).unwrap_err();
        assert!(error.to_string().contains("rho_per_data_day"), "{error}");
        std::fs::write(&file, "[reports]\nrho_per_data_day = 0.1\n").unwrap();
        let error = Config::load(Some(&file), serde_json::json!({})).unwrap_err();
        assert!(
            error.to_string().contains("no report could ever"),
            "{error}"
        );
    }

    #[test]
    fn database_url_defaults_to_sqlite_in_the_data_dir_and_hides_in_debug() {
        let mut config = Config::default();
        assert_eq!(
            config.database_url(),
            "sqlite://./confidant-data/confidant.db"
        );
        config.database.url = Some(DatabaseUrl("postgres://u:pa55word@h/db".into()));
        config.media.s3_secret_access_key = Some(S3Secret("s3-pa55word".into()));
        assert!(!format!("{config:?}").contains("pa55word"));
    }
}
