//! The partner API's use cases: checking a partner's token and the scope each action needs,
//! and recording every outcome that concerns a member in that member's access log.
//!
//! Nothing here releases a member's data before its log entry has been committed: reads
//! append their entry first, writes append it inside their own transaction (with the
//! [`LogDraft`] that [`Confidant::partner_authorize`] hands back).

mod controls;
mod friends;
mod item_url;
mod promises;
mod send;
mod share;
mod threads;

pub use friends::{MAX_FRIENDS_PAGE, PartnerFriend, PartnerFriends};
pub use item_url::{ITEM_ID_PLACEHOLDER, ItemUrlTemplate};
pub use promises::app_limits;
pub use send::{CardInput, INTERFACES, MAX_RECIPIENTS, MAX_TEXT_BYTES, PartnerSend, SendInput};
pub use share::{ShareDialog, ShareParams};
pub use threads::{MAX_THREAD_PAGE, SharedThread, ThreadMessage};

use crate::accesslog::{Action, Denial};
use crate::oauth::{Scope, Scopes};
use crate::pairwise::PairwiseIds;
use crate::store::{AppStatus, Grant, LogDraft, Member, NewLogEntry, TokenKind};
use crate::{Confidant, Error, MemberId, Timestamp, tokens};

/// How often a grant's "last used" time is written; finer tracking costs a write per call.
const TOUCH_EVERY_SECS: i64 = 60;

/// A partner's HTTP request, as far as the use cases need it.
#[derive(Debug, Clone, Default)]
pub struct PartnerRequest {
    /// The bearer token, if the request carried one.
    pub token: Option<String>,
    /// The request's id, recorded with the log entry.
    pub request_id: String,
}

/// A partner request's verified access: whose data, which app, which scopes.
#[derive(Debug, Clone)]
pub struct PartnerAccess {
    pub member: Member,
    pub grant: Grant,
    pub client_id: String,
    /// What this token may do: its own scopes, within what the grant still allows.
    pub scopes: Scopes,
}

#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    /// No token, or one that is malformed, expired, revoked or unknown.
    #[error("the access token is missing, expired or revoked")]
    InvalidToken,
    #[error("this call needs the `{0}` scope")]
    InsufficientScope(Scope),
    /// What the partner may not know exists.
    #[error("not found")]
    NotFound,
    /// Too many sends for this member from this app; try again later.
    #[error("too many requests; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<crate::StoreError> for PartnerError {
    fn from(error: crate::StoreError) -> Self {
        PartnerError::Core(error.into())
    }
}

/// The member as the app knows them.
#[derive(Debug, Clone)]
pub struct PartnerProfile {
    /// The member's pairwise pseudonym for this app.
    pub id: String,
    pub display_name: String,
}

/// The entry to log for `member`, another member whom the access described by `entry`
/// reached, about `objects`.
pub(crate) fn about_other(
    entry: &NewLogEntry,
    member: MemberId,
    action: Action,
    objects: Vec<String>,
) -> NewLogEntry {
    NewLogEntry {
        member_id: member,
        action,
        objects,
        ..entry.clone()
    }
}

impl Action {
    /// The scope a partner token needs for this action, if it is a partner API call.
    pub fn required_scope(self) -> Option<Scope> {
        match self {
            Action::ProfileRead => Some(Scope::Profile),
            Action::FriendsList => Some(Scope::FriendsRead),
            Action::MessageSend => Some(Scope::MessagesSend),
            Action::MessageStatus => Some(Scope::MessagesReadApp),
            _ => None,
        }
    }
}

impl Confidant {
    /// Checks the token and the scope `action` needs. A refusal that can be tied to a member
    /// (an expired or revoked token, a missing scope) is logged, about `objects`, before this
    /// returns; on success the caller gets the draft of the entry its access must log.
    #[tracing::instrument(skip_all, fields(action = action.as_str()))]
    pub async fn partner_authorize(
        &self,
        request: &PartnerRequest,
        action: Action,
        objects: Vec<String>,
    ) -> Result<(PartnerAccess, LogDraft), PartnerError> {
        let now = self.clock.now();
        let token = request.token.as_deref().ok_or(PartnerError::InvalidToken)?;
        let hash = tokens::hash(token);
        let scope = action.required_scope();
        let draft = |member: MemberId, app: &str| {
            let entry = NewLogEntry::new(member, now, app, action, &request.request_id)
                .with_objects(objects.clone());
            LogDraft(match scope {
                Some(scope) => entry.with_scope(scope),
                None => entry,
            })
        };
        let Some(record) = self
            .store
            .token(&hash)
            .await?
            .filter(|record| record.kind == TokenKind::Access)
        else {
            // A token revoked before its time still names its member: record the attempt.
            if let Some(revoked) = self.store.revoked_token(&hash).await?
                && revoked.expires_at > now
            {
                let entry = draft(revoked.member_id, &revoked.client_id).denied(revoked.reason);
                self.store.append_log(entry, None).await?;
            }
            return Err(PartnerError::InvalidToken);
        };
        let draft = draft(record.grant.member_id, &record.grant.client_id);
        if record.grant.is_active() && self.is_idle(&record.grant, now) {
            self.expire_grant(&record.grant, &request.request_id)
                .await?;
            self.store
                .append_log(draft.denied(Denial::GrantRevoked), None)
                .await?;
            return Err(PartnerError::InvalidToken);
        }
        let refusal = if record.expires_at <= now {
            Some(Denial::TokenExpired)
        } else if !record.grant.is_active() {
            Some(Denial::GrantRevoked)
        } else if record.app_status != AppStatus::Approved {
            Some(Denial::AppSuspended)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.store.append_log(draft.denied(reason), None).await?;
            return Err(PartnerError::InvalidToken);
        }
        let member = self
            .store
            .member(record.grant.member_id)
            .await?
            .ok_or(PartnerError::InvalidToken)?;
        let scopes = record.scopes.intersection(&record.grant.scopes);
        if let Some(scope) = scope.filter(|scope| !scopes.contains(*scope)) {
            self.store
                .append_log(draft.denied(Denial::InsufficientScope), None)
                .await?;
            return Err(PartnerError::InsufficientScope(scope));
        }
        Ok((
            PartnerAccess {
                client_id: record.grant.client_id.clone(),
                grant: record.grant,
                member,
                scopes,
            },
            draft,
        ))
    }

    /// What an id in a partner request names, read with `parse` under the pairwise key of
    /// the app the token belongs to (live or revoked early), before anything is decided:
    /// `None` if it names nothing for that app, or the token names no app.
    pub(crate) async fn partner_id<T>(
        &self,
        request: &PartnerRequest,
        parse: impl FnOnce(&PairwiseIds, &str) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let Some(token) = request.token.as_deref() else {
            return Ok(None);
        };
        let hash = tokens::hash(token);
        let client_id = match self.store.token(&hash).await? {
            Some(record) => Some(record.grant.client_id),
            None => self
                .store
                .revoked_token(&hash)
                .await?
                .map(|revoked| revoked.client_id),
        };
        Ok(client_id.and_then(|client_id| parse(&self.pairwise, &client_id)))
    }

    /// A partner call refused before its use case could run — a body, query or path that
    /// does not parse — recorded in the member's log like any other refusal. Fails with the
    /// token's own refusal when the token is no good (which is logged too, where it names a
    /// member).
    pub async fn partner_refuse_malformed(
        &self,
        request: &PartnerRequest,
        action: Action,
    ) -> Result<(), PartnerError> {
        let (_, draft) = self.partner_authorize(request, action, Vec::new()).await?;
        self.store
            .append_log(draft.denied(Denial::InvalidRequest), None)
            .await?;
        Ok(())
    }

    /// Refuses an authorized call whose input breaks a rule: logs it as a malformed request,
    /// then answers with `error`.
    pub(crate) async fn refuse_malformed<T>(
        &self,
        draft: &LogDraft,
        error: Error,
    ) -> Result<T, PartnerError> {
        self.store
            .append_log(draft.denied(Denial::InvalidRequest), None)
            .await?;
        Err(error.into())
    }

    /// Logs an allowed read before its data is released, and marks the grant used.
    pub(crate) async fn log_partner_read(
        &self,
        access: &PartnerAccess,
        entry: NewLogEntry,
    ) -> Result<(), Error> {
        self.log_partner_read_about(access, entry, Vec::new()).await
    }

    /// As [`Confidant::log_partner_read`], and logs the read in the log of every other
    /// member whose data it releases too (`about_others`), in the same transaction.
    pub(crate) async fn log_partner_read_about(
        &self,
        access: &PartnerAccess,
        entry: NewLogEntry,
        about_others: Vec<NewLogEntry>,
    ) -> Result<(), Error> {
        let touch = stale(access.grant.last_used_at, entry.at).then_some(access.grant.id);
        self.store
            .append_log_about(entry, about_others, touch)
            .await?;
        Ok(())
    }

    /// `GET /partner/v1/me`: the member's pseudonym for the app and display name.
    pub async fn partner_profile(
        &self,
        request: &PartnerRequest,
    ) -> Result<PartnerProfile, PartnerError> {
        let (access, draft) = self
            .partner_authorize(request, Action::ProfileRead, Vec::new())
            .await?;
        self.log_partner_read(&access, draft.allowed()).await?;
        Ok(PartnerProfile {
            id: access.grant.pseudonym,
            display_name: access.member.display_name,
        })
    }
}

fn stale(last_used_at: Option<Timestamp>, now: Timestamp) -> bool {
    last_used_at.is_none_or(|at| now.millis() - at.millis() >= TOUCH_EVERY_SECS * 1000)
}
