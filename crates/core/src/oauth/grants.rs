//! A member's connected apps, disconnecting them, and checking partner access tokens.

use super::Scopes;
use crate::store::{App, AppStatus, ConversationSummary, Grant, Member, ThreadGrant, TokenKind};
use crate::{Confidant, Error, MemberId, tokens};

/// How often a grant's "last used" time is written; finer tracking costs a write per call.
const TOUCH_EVERY_SECS: i64 = 60;

/// An app the member has connected, with everything it may do.
#[derive(Debug, Clone)]
pub struct ConnectedApp {
    pub app: App,
    pub grant: Grant,
    pub threads: Vec<ConnectedThread>,
}

/// A conversation the member let an app read, and until when.
#[derive(Debug, Clone)]
pub struct ConnectedThread {
    pub grant: ThreadGrant,
    /// `None` if the member has since left the conversation.
    pub conversation: Option<ConversationSummary>,
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

impl Confidant {
    /// The apps the member has connected (active grants only), most recent first.
    pub async fn connected_apps(&self, me: MemberId) -> Result<Vec<ConnectedApp>, Error> {
        let now = self.clock.now();
        let mut connected = Vec::new();
        for grant in self.store.grants_of(me).await? {
            if !grant.is_active() {
                continue;
            }
            let Some(app) = self.store.app(&grant.client_id).await? else {
                continue;
            };
            let mut threads = Vec::new();
            for thread in self.live_threads(grant.id, now).await? {
                let conversation = self.store.conversation(thread.conversation_id, me).await?;
                threads.push(ConnectedThread {
                    grant: thread,
                    conversation,
                });
            }
            connected.push(ConnectedApp {
                app,
                grant,
                threads,
            });
        }
        Ok(connected)
    }

    /// Disconnects an app: its grant is revoked and every token and code it holds is
    /// deleted before this returns, so the app's next call gets 401.
    #[tracing::instrument(skip(self))]
    pub async fn disconnect_app(&self, me: MemberId, client_id: &str) -> Result<(), Error> {
        if self
            .store
            .revoke_grant(me, client_id, self.clock.now())
            .await?
        {
            tracing::info!("app disconnected");
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Checks a partner's bearer token. Anything but a live access token of an approved
    /// app, under an active grant, is `Unauthorized`.
    pub async fn partner_access(&self, access_token: &str) -> Result<PartnerAccess, Error> {
        let now = self.clock.now();
        let record = self
            .store
            .token(&tokens::hash(access_token))
            .await?
            .filter(|record| {
                record.kind == TokenKind::Access
                    && record.expires_at > now
                    && record.grant.is_active()
                    && record.app_status == AppStatus::Approved
            })
            .ok_or(Error::Unauthorized)?;
        let member = self
            .store
            .member(record.grant.member_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let stale = record
            .grant
            .last_used_at
            .is_none_or(|at| now.millis() - at.millis() >= TOUCH_EVERY_SECS * 1000);
        if stale {
            self.store.touch_grant(record.grant.id, now).await?;
        }
        Ok(PartnerAccess {
            scopes: record.scopes.intersection(&record.grant.scopes),
            client_id: record.grant.client_id.clone(),
            grant: record.grant,
            member,
        })
    }

    /// Removes expired codes, tokens and thread grants; run periodically by the server.
    pub async fn purge_expired_oauth(&self) -> Result<u64, Error> {
        Ok(self.store.delete_expired_oauth(self.clock.now()).await?)
    }
}
