//! Sessions: browser cookies and API bearer tokens, both stored only as hashes, both with
//! idle and absolute expiry.

use super::{Handle, Password};
use crate::store::{Member, SessionKind, SessionRecord};
use crate::tokens::{self, TokenHash};
use crate::{Confidant, Error, Timestamp};

/// Expiry rules, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub browser_idle_secs: i64,
    pub browser_absolute_secs: i64,
    pub api_idle_secs: i64,
    pub api_absolute_secs: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            browser_idle_secs: 7 * 24 * 3600,
            browser_absolute_secs: 30 * 24 * 3600,
            api_idle_secs: 30 * 24 * 3600,
            api_absolute_secs: 90 * 24 * 3600,
        }
    }
}

impl SessionPolicy {
    fn idle_secs(&self, kind: SessionKind) -> i64 {
        match kind {
            SessionKind::Browser => self.browser_idle_secs,
            SessionKind::Api => self.api_idle_secs,
        }
    }

    fn absolute_secs(&self, kind: SessionKind) -> i64 {
        match kind {
            SessionKind::Browser => self.browser_absolute_secs,
            SessionKind::Api => self.api_absolute_secs,
        }
    }
}

/// A live session and its member; what authenticated requests carry around.
#[derive(Debug, Clone)]
pub struct Session {
    pub member: Member,
    pub kind: SessionKind,
    pub token_hash: TokenHash,
    pub csrf_token: String,
}

/// A new session: the secret is shown to the client once.
#[derive(Debug)]
pub struct NewSession {
    pub secret: String,
    pub session: Session,
    pub expires_at: Timestamp,
}

/// How often a session's last-seen time is written; finer tracking costs a write per request.
const TOUCH_EVERY_SECS: i64 = 60;

impl Confidant {
    /// Checks the credentials and opens a session. Throttled per handle and per client, and
    /// an unknown handle costs the same time and gives the same answer as a wrong password.
    #[tracing::instrument(skip_all, fields(kind = kind.as_str()))]
    pub async fn log_in(
        &self,
        handle: &str,
        password: &str,
        kind: SessionKind,
        client: Option<&str>,
    ) -> Result<NewSession, Error> {
        let now = self.clock.now();
        let parsed = Handle::parse(handle);
        // Throttled per member: the handle as it is stored, so " alice", "ALICE" and "alice"
        // share one allowance. Text that is no handle at all names nobody; it is keyed the
        // same normalised way.
        let throttle_key = match &parsed {
            Ok(handle) => handle.as_str().to_owned(),
            Err(_) => handle.trim().to_lowercase(),
        };
        let store = self.store.as_ref();
        if let Some(retry_after_secs) = self
            .throttle
            .check(store, &throttle_key, client, now)
            .await?
        {
            return Err(Error::Throttled { retry_after_secs });
        }
        let credentials = match parsed {
            Ok(parsed) if Password::parse(password).is_ok() => {
                self.store.credentials(&parsed).await?
            }
            _ => None,
        };
        let verified = match credentials {
            Some(credentials) => {
                let suspended = credentials.suspended;
                let member = self
                    .hasher
                    .verify(password, credentials.password_hash)
                    .await?
                    .then_some(credentials.member);
                // Said only to someone who knows the password: to anyone else a suspended
                // account looks like any other.
                if member.is_some() && suspended {
                    return Err(Error::forbidden(
                        "account_suspended",
                        "This account is suspended. Ask the operator of this server.",
                    ));
                }
                member
            }
            None => {
                self.hasher.verify_decoy(password).await?;
                None
            }
        };
        let Some(member) = verified else {
            self.throttle
                .record_failure(store, &throttle_key, client, now)
                .await?;
            return Err(Error::Unauthorized);
        };
        self.throttle.record_success(store, &throttle_key).await?;
        self.open_session(member, kind).await
    }

    /// Opens a session for a member already authenticated (e.g. right after sign-up).
    pub async fn open_session(
        &self,
        member: Member,
        kind: SessionKind,
    ) -> Result<NewSession, Error> {
        let now = self.clock.now();
        let prefix = match kind {
            SessionKind::Browser => "cfd_sess_",
            SessionKind::Api => "cfd_api_",
        };
        let token = tokens::mint(prefix);
        let record = SessionRecord {
            token_hash: token.hash.clone(),
            member_id: member.id,
            kind,
            csrf_token: tokens::random_url_safe(24),
            created_at: now,
            last_seen_at: now,
            expires_at: now.plus_secs(self.sessions.absolute_secs(kind)),
        };
        let expires_at = record.expires_at;
        let session = Session {
            member,
            kind,
            token_hash: record.token_hash.clone(),
            csrf_token: record.csrf_token.clone(),
        };
        self.store.create_session(record).await?;
        Ok(NewSession {
            secret: token.secret,
            session,
            expires_at,
        })
    }

    /// Resolves a cookie or bearer secret to its session, if it is live and of the right kind.
    pub async fn session(&self, secret: &str, kind: SessionKind) -> Result<Session, Error> {
        let now = self.clock.now();
        let hash = tokens::hash(secret);
        let record = self
            .store
            .session(&hash)
            .await?
            .filter(|record| record.kind == kind)
            .ok_or(Error::Unauthorized)?;
        let idle_deadline = record.last_seen_at.plus_secs(self.sessions.idle_secs(kind));
        if record.expires_at <= now || idle_deadline <= now {
            self.store.delete_session(&hash).await?;
            return Err(Error::Unauthorized);
        }
        if now.millis() - record.last_seen_at.millis() >= TOUCH_EVERY_SECS * 1000 {
            self.store.touch_session(&hash, now).await?;
        }
        let member = self
            .store
            .member(record.member_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok(Session {
            member,
            kind,
            token_hash: record.token_hash,
            csrf_token: record.csrf_token,
        })
    }

    pub async fn log_out(&self, session: &Session) -> Result<(), Error> {
        self.store.delete_session(&session.token_hash).await?;
        Ok(())
    }

    /// Removes expired sessions; run periodically by the server.
    pub async fn purge_expired_sessions(&self) -> Result<u64, Error> {
        let now = self.clock.now();
        let policy = self.sessions;
        Ok(self
            .store
            .delete_expired_sessions(
                now,
                now.plus_secs(-policy.browser_idle_secs),
                now.plus_secs(-policy.api_idle_secs),
            )
            .await?)
    }
}
