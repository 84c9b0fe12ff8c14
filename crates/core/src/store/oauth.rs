//! Storage contract for partner apps, the member's grants to them, and OAuth tokens.

use async_trait::async_trait;

use super::{LogDraft, NewLogEntry, NewWebhook, StoreResult};
use crate::accesslog::Denial;
use crate::oauth::Scopes;
use crate::tokens::TokenHash;
use crate::{ConversationId, MemberId, Timestamp};

/// Whether an app may be used. Only approved apps can start an authorization or use a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppStatus {
    Pending,
    Approved,
    Suspended,
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Pending => "pending",
            AppStatus::Approved => "approved",
            AppStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(AppStatus::Pending),
            "approved" => Some(AppStatus::Approved),
            "suspended" => Some(AppStatus::Suspended),
            _ => None,
        }
    }
}

/// A registered partner app (an OAuth client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub client_id: String,
    pub name: String,
    /// Who answers for the app: a company and a contact address.
    pub owner: String,
    pub homepage: Option<String>,
    pub privacy_policy: Option<String>,
    /// Where the app's webhooks go: member disconnections, biweekly reports.
    pub report_webhook: Option<String>,
    /// Signs the app's webhooks (Standard Webhooks `whsec_…`); set with the webhook URL.
    pub webhook_secret: Option<String>,
    /// Compared by exact string match at authorization time.
    pub redirect_uris: Vec<String>,
    /// Confidential clients hold a secret; public ones (native, single-page) cannot.
    pub confidential: bool,
    pub secret_hash: Option<TokenHash>,
    /// The secret replaced by the last rotation, still accepted until its expiry.
    pub previous_secret: Option<PreviousSecret>,
    /// The most the app may ask a member for.
    pub scopes: Scopes,
    /// Report dimensions the app declared: initiation surfaces and experiment arms.
    pub surfaces: Vec<String>,
    pub variations: Vec<String>,
    /// Where a recommendation of an item leads: an http(s) URL with one `{item_id}`.
    /// Confidant builds every card's link from it, so all recipients of an item get the
    /// same URL. Without one, the app cannot send cards.
    pub item_url_template: Option<String>,
    pub status: AppStatus,
    pub created_at: Timestamp,
}

/// A rotated-out client secret and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: TokenHash,
    pub expires_at: Timestamp,
}

/// A member's standing permission for one app. One row per member and app, kept after
/// revocation so the app's pseudonym for the member stays the same if they reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub member_id: MemberId,
    pub client_id: String,
    /// The member's id as this app sees it; different for every app.
    pub pseudonym: String,
    pub scopes: Scopes,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl Grant {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Read access to one conversation, picked by the member, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadGrant {
    pub grant_id: i64,
    pub conversation_id: ConversationId,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    /// The app may read messages from this moment: `granted_at`, or the beginning if the
    /// member shared the conversation's history too.
    pub readable_from: Timestamp,
}

/// What a consent (or a silent re-authorization) records.
#[derive(Debug, Clone)]
pub struct GrantUpdate {
    pub member_id: MemberId,
    pub client_id: String,
    pub scopes: Scopes,
    /// Used only if the member has never connected this app before.
    pub new_pseudonym: String,
    pub threads: Vec<ConversationId>,
    pub threads_expire_at: Timestamp,
    /// Whether the picked threads' earlier messages are shared too.
    pub threads_history: bool,
    pub at: Timestamp,
}

/// An authorization code, stored by hash until redeemed or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: TokenHash,
    pub grant_id: i64,
    /// The member whose grant it is (read from the grant; ignored when creating).
    pub member_id: MemberId,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub code_challenge: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub redeemed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(TokenKind::Access),
            "refresh" => Some(TokenKind::Refresh),
            _ => None,
        }
    }
}

/// A token with what it needs to be judged: its family, grant and app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_hash: TokenHash,
    pub kind: TokenKind,
    pub family_id: i64,
    pub scopes: Scopes,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// For refresh tokens: when it was exchanged for a new one (it must not be used again).
    pub rotated_at: Option<Timestamp>,
    pub grant: Grant,
    pub app_status: AppStatus,
}

/// An access token and a refresh token, minted together.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_hash: TokenHash,
    pub access_expires_at: Timestamp,
    /// The access token's scopes (possibly narrower than the refresh token's).
    pub access_scopes: Scopes,
    pub refresh_hash: TokenHash,
    /// Also the family's absolute expiry: rotation never extends it.
    pub refresh_expires_at: Timestamp,
    pub refresh_scopes: Scopes,
    pub created_at: Timestamp,
}

/// How redeeming a code went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redemption {
    /// The code was fresh; the tokens are stored under a new family.
    Issued { family_id: i64 },
    /// The code had been redeemed before: everything issued from it is now revoked.
    Replayed,
}

/// How rotating a refresh token went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// The refresh token had been rotated before: its whole family is now revoked.
    Reused,
}

#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Fails with `Conflict("client_id")` if the id is taken.
    async fn create_app(&self, app: App) -> StoreResult<()>;
    async fn app(&self, client_id: &str) -> StoreResult<Option<App>>;
    /// Every app, newest first.
    async fn apps(&self) -> StoreResult<Vec<App>>;
    /// Sets the status; suspending also deletes every token and unredeemed code of the app
    /// in the same transaction. `NotFound` if there is no such app.
    async fn set_app_status(&self, client_id: &str, status: AppStatus) -> StoreResult<()>;
    /// `NotFound` if there is no such app.
    /// Writes every field an operator may change (all but the client id, type, status and
    /// creation time). With `revoke_tokens`, every token and code the app holds is deleted in
    /// the same transaction and recorded as revoked for that reason. `NotFound` if there is
    /// no such app.
    async fn update_app(&self, app: &App, revoke_tokens: Option<Denial>) -> StoreResult<()>;
    /// Deletes the app with everything that is its (grants, tokens, sends, counters,
    /// releases); tokens are recorded as revoked first, so later use is still logged.
    /// Members' access logs keep their entries. Returns whether there was such an app.
    async fn delete_app(&self, client_id: &str) -> StoreResult<bool>;
    async fn set_item_url_template(
        &self,
        client_id: &str,
        template: Option<&str>,
    ) -> StoreResult<()>;

    async fn grant(&self, member: MemberId, client_id: &str) -> StoreResult<Option<Grant>>;
    /// Creates or renews the member's grant to the app with these scopes, and adds (or
    /// extends) the picked thread grants.
    /// The member's log records the consent (`log`) in the same transaction.
    async fn save_grant(&self, update: GrantUpdate, log: NewLogEntry) -> StoreResult<Grant>;
    /// The member's grants, active or not, most recently updated first.
    async fn grants_of(&self, member: MemberId) -> StoreResult<Vec<Grant>>;
    /// Every grant of the app that is not revoked.
    async fn active_grants_of_app(&self, client_id: &str) -> StoreResult<Vec<Grant>>;
    async fn thread_grants(&self, grant_id: i64) -> StoreResult<Vec<ThreadGrant>>;
    /// Active grants last used (or, if never used, last renewed) before `cutoff`.
    async fn idle_grants(&self, cutoff: Timestamp) -> StoreResult<Vec<Grant>>;
    /// Marks the grant revoked and deletes all its tokens, codes and thread grants, in one
    /// transaction, logging `log` and queueing `webhook` in it too. Returns whether there was
    /// an active grant (if not, nothing changes, nothing is logged or queued).
    async fn revoke_grant(
        &self,
        member: MemberId,
        client_id: &str,
        at: Timestamp,
        log: NewLogEntry,
        webhook: Option<NewWebhook>,
    ) -> StoreResult<bool>;

    /// Ends the grant's read access to one conversation, logging `log` in the same
    /// transaction. Returns whether there was such a thread grant (if not, nothing is logged).
    async fn revoke_thread_grant(
        &self,
        grant_id: i64,
        conversation: ConversationId,
        log: NewLogEntry,
    ) -> StoreResult<bool>;

    async fn create_code(&self, code: AuthorizationCode) -> StoreResult<()>;
    async fn code(&self, code_hash: &TokenHash) -> StoreResult<Option<AuthorizationCode>>;
    /// Marks the code redeemed and stores the tokens, unless it was redeemed before, in
    /// which case the tokens it issued are revoked instead. Logs the issue, or the refused
    /// replay, in the same transaction.
    async fn redeem_code(
        &self,
        code_hash: &TokenHash,
        tokens: TokenPair,
        log: &LogDraft,
    ) -> StoreResult<Redemption>;
    /// Revokes the token family a redeemed code started, if any, and logs `log`.
    async fn revoke_tokens_of_code(
        &self,
        code_hash: &TokenHash,
        at: Timestamp,
        log: NewLogEntry,
    ) -> StoreResult<()>;

    async fn token(&self, token_hash: &TokenHash) -> StoreResult<Option<TokenRecord>>;
    /// Marks the refresh token used and stores its successors in the same family, unless
    /// it was used before, in which case the whole family is revoked instead. Logs the
    /// refresh, or the refused reuse, in the same transaction.
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        family_id: i64,
        tokens: TokenPair,
        log: &LogDraft,
    ) -> StoreResult<Rotation>;
    /// Deletes an access token the app gave up, and logs `log`.
    async fn delete_token(&self, token_hash: &TokenHash, log: NewLogEntry) -> StoreResult<()>;
    /// Deletes every token of the family, marks it revoked, and logs `log`.
    async fn revoke_family(
        &self,
        family_id: i64,
        at: Timestamp,
        log: NewLogEntry,
    ) -> StoreResult<()>;
    /// Drops expired codes and tokens and expired thread grants; returns how many rows.
    async fn delete_expired_oauth(&self, now: Timestamp) -> StoreResult<u64>;
}
