//! Confidant's domain and use cases.
//!
//! Everything here is independent of HTTP and of SQL: the server calls the use cases on
//! [`Confidant`], and the use cases reach the database only through the traits in [`store`].

pub mod accesslog;
pub mod accounts;
pub mod attachments;
pub mod clicks;
pub mod clock;
pub mod demo;
pub mod error;
pub mod ids;
pub mod integers;
pub mod limits;
pub mod live;
pub mod messaging;
pub mod oauth;
pub mod pairwise;
pub mod partner;
pub mod patterns;
pub mod push;
pub mod reports;
pub mod social;
pub mod store;
pub mod tokens;
pub mod webhooks;

use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Error, StoreError};
pub use ids::{AttachmentId, ConversationId, MemberId, MessageId};
pub use reports::ReportPolicy;

use confidant_log::LogSigner;

use accounts::{LoginThrottle, PasswordHasher, SessionPolicy};
use live::LiveBus;
use store::Store;

/// Limits and costs that an operator may tune.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub sessions: SessionPolicy,
    pub password_hashing: accounts::HashingCost,
    pub throttle: accounts::ThrottlePolicy,
    pub oauth: oauth::OAuthPolicy,
    /// Failed client authentications at the OAuth endpoints allowed per client id
    /// within the window, before further attempts are refused.
    pub client_auth_throttle: accounts::ThrottlePolicy,
    /// Messages one app may send for one member within the window (`per_handle`).
    pub partner_sends: accounts::ThrottlePolicy,
    /// Directory searches allowed per member and per client address.
    pub directory: accounts::DirectoryPolicy,
    pub reports: ReportPolicy,
}

/// The application: every use case is a method on this type, grouped by module
/// (`accounts`, `social`, `messaging`, `oauth`, `partner`, `accesslog`).
#[derive(Clone)]
pub struct Confidant {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    live: Arc<dyn LiveBus>,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    client_throttle: LoginThrottle,
    /// Partner sends per app and member.
    partner_sends: limits::Allowance,
    /// Directory searches per member and per client address.
    directory: accounts::DirectoryLimits,
    sessions: SessionPolicy,
    oauth: oauth::OAuthPolicy,
    /// Signs access-log checkpoints; the key lives outside the database.
    log_signer: Arc<LogSigner>,
    /// Derives the ids apps see for threads and messages; different for every app.
    pairwise: Arc<pairwise::PairwiseIds>,
    reports: ReportPolicy,
    /// Names this process when it takes a lease on a periodic job.
    node_id: String,
    /// Cosignatures a checkpoint of the server's logs needs before it is served.
    witness_quorum: u32,
}

impl Confidant {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        live: Arc<dyn LiveBus>,
        log_signer: LogSigner,
        pairwise: pairwise::PairwiseIds,
        settings: Settings,
    ) -> Result<Self, Error> {
        Ok(Self {
            log_signer: Arc::new(log_signer),
            pairwise: Arc::new(pairwise),
            node_id: tokens::random_url_safe(12),
            witness_quorum: 0,
            reports: settings.reports,
            hasher: PasswordHasher::new(settings.password_hashing)?,
            throttle: LoginThrottle::new("login", settings.throttle),
            client_throttle: LoginThrottle::new("client_secret", settings.client_auth_throttle),
            partner_sends: limits::Allowance {
                name: "partner_send",
                limit: settings.partner_sends.per_handle,
                window_secs: settings.partner_sends.window_secs,
            },
            directory: accounts::DirectoryLimits::new(settings.directory),
            sessions: settings.sessions,
            oauth: settings.oauth,
            store,
            clock,
            live,
        })
    }

    /// The store, for read-only checks such as readiness probes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn live(&self) -> &Arc<dyn LiveBus> {
        &self.live
    }

    pub fn session_policy(&self) -> &SessionPolicy {
        &self.sessions
    }

    pub fn oauth_policy(&self) -> &oauth::OAuthPolicy {
        &self.oauth
    }

    pub fn report_policy(&self) -> &ReportPolicy {
        &self.reports
    }
}
