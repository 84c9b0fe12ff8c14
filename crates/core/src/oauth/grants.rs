//! A member's connected apps and disconnecting them.

use crate::accesslog::Action;
use crate::store::{App, ConversationSummary, Grant, NewLogEntry, NewWebhook, ThreadGrant};
use crate::{Confidant, ConversationId, Error, MemberId, Timestamp};

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
    /// deleted before this returns, so the app's next call gets 401. The member's log records
    /// it in the same transaction.
    #[tracing::instrument(skip(self))]
    pub async fn disconnect_app(
        &self,
        me: MemberId,
        client_id: &str,
        request_id: &str,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let entry = NewLogEntry::new(me, now, client_id, Action::ConsentRevoke, request_id);
        let webhook = self
            .grant_revoked_webhook_for(me, client_id, "disconnected")
            .await?;
        if self
            .store
            .revoke_grant(me, client_id, now, entry, webhook)
            .await?
        {
            tracing::info!("app disconnected");
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Ends an app's read access to one conversation the member shared with it; the rest of
    /// what the member granted stays. Logged in the same transaction.
    #[tracing::instrument(skip(self))]
    pub async fn drop_thread_grant(
        &self,
        me: MemberId,
        client_id: &str,
        conversation: ConversationId,
        request_id: &str,
    ) -> Result<(), Error> {
        let grant = self
            .store
            .grant(me, client_id)
            .await?
            .filter(Grant::is_active)
            .ok_or(Error::NotFound)?;
        let entry = NewLogEntry::new(
            me,
            self.clock.now(),
            client_id,
            Action::ConsentRevoke,
            request_id,
        )
        .with_objects(vec![format!("conversation:{}", conversation.0)]);
        if self
            .store
            .revoke_thread_grant(grant.id, conversation, entry)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Whether the app has left the grant unused for longer than the policy allows.
    pub(crate) fn is_idle(&self, grant: &Grant, now: Timestamp) -> bool {
        let last = grant.last_used_at.unwrap_or(grant.updated_at);
        now.millis() - last.millis() > self.oauth.grant_idle_secs * 1000
    }

    /// Ends a grant that went unused: its tokens stop working, and the member's log says why.
    pub(crate) async fn expire_grant(&self, grant: &Grant, request_id: &str) -> Result<(), Error> {
        let now = self.clock.now();
        let entry = NewLogEntry::new(
            grant.member_id,
            now,
            &grant.client_id,
            Action::ConsentExpire,
            request_id,
        );
        let webhook = self
            .grant_revoked_webhook_for(grant.member_id, &grant.client_id, "expired")
            .await?;
        self.store
            .revoke_grant(grant.member_id, &grant.client_id, now, entry, webhook)
            .await?;
        tracing::info!(grant = grant.id, "grant expired after going unused");
        Ok(())
    }

    /// The webhook telling the app to forget the member, if it has a webhook URL.
    pub(crate) async fn grant_revoked_webhook_for(
        &self,
        member: MemberId,
        client_id: &str,
        reason: &str,
    ) -> Result<Option<NewWebhook>, Error> {
        let (Some(app), Some(grant)) = (
            self.store.app(client_id).await?,
            self.store.grant(member, client_id).await?,
        ) else {
            return Ok(None);
        };
        Ok(self.grant_revoked_webhook(&app, &grant.pseudonym, reason))
    }

    /// Ends every grant unused for longer than the policy allows; run periodically.
    pub async fn expire_idle_grants(&self) -> Result<u64, Error> {
        let cutoff = self.clock.now().plus_secs(-self.oauth.grant_idle_secs);
        let idle = self.store.idle_grants(cutoff).await?;
        for grant in &idle {
            self.expire_grant(grant, "-").await?;
        }
        Ok(idle.len() as u64)
    }

    /// Removes expired codes, tokens and thread grants; run periodically by the server.
    pub async fn purge_expired_oauth(&self) -> Result<u64, Error> {
        Ok(self.store.delete_expired_oauth(self.clock.now()).await?)
    }
}
