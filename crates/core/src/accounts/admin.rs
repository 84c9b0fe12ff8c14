//! What operators do to members: list them, make and unmake operators, set a new password
//! for someone locked out, and suspend an account.

use super::Password;
use crate::accesslog::Action;
use crate::store::{Member, MemberStanding, NewLogEntry};
use crate::{Confidant, Error, MemberId};

/// The most members one page of the operators' list holds.
pub const MAX_STANDINGS_PAGE: i64 = 500;

use crate::accesslog::OPERATOR_REQUEST;

impl Confidant {
    /// Up to `limit` members after `after`, in the order they joined.
    pub async fn member_standings(
        &self,
        after: Option<MemberId>,
        limit: i64,
    ) -> Result<Vec<MemberStanding>, Error> {
        let limit = crate::limits::page_size(limit, MAX_STANDINGS_PAGE)?;
        Ok(self.store.member_standings(after, limit).await?)
    }

    /// Makes the member an operator, or no longer one. The last operator cannot be
    /// demoted: someone must be able to reach the administration pages.
    #[tracing::instrument(skip(self))]
    pub async fn set_operator(&self, handle: &str, operator: bool) -> Result<Member, Error> {
        let member = self.member_by_handle(handle).await?;
        if !operator && member.is_admin && self.store.count_admins().await? <= 1 {
            return Err(Error::conflict(
                None,
                "last_operator",
                format!(
                    "{} is the only operator; promote someone else first",
                    member.handle
                ),
            ));
        }
        self.store
            .set_admin(member.id, operator)
            .await
            .map_err(Error::from_missing)?;
        tracing::info!(member = %member.id, operator, "operator rights changed");
        self.member(member.id).await
    }

    /// Sets a new password for a member who lost theirs, and ends every session of theirs.
    #[tracing::instrument(skip(self, password))]
    pub async fn reset_password(&self, handle: &str, password: &str) -> Result<Member, Error> {
        let member = self.member_by_handle(handle).await?;
        let hash = self.hasher.hash(Password::parse(password)?).await?;
        self.store.set_password_hash(member.id, &hash).await?;
        self.store.delete_sessions_of(member.id, None).await?;
        tracing::info!(member = %member.id, "password reset by an operator");
        Ok(member)
    }

    /// Suspends a member: they can no longer log in, every session of theirs ends, and every
    /// app they connected loses its access at once (their access log says so). Their
    /// messages stay where they are. Lifting the suspension lets them log in again; apps
    /// must be connected anew.
    #[tracing::instrument(skip(self))]
    pub async fn suspend_member(&self, handle: &str) -> Result<MemberStanding, Error> {
        let member = self.member_by_handle(handle).await?;
        let now = self.clock.now();
        self.store
            .set_suspended(member.id, Some(now))
            .await
            .map_err(Error::from_missing)?;
        for grant in self.store.grants_of(member.id).await? {
            if grant.revoked_at.is_some() {
                continue;
            }
            let entry = NewLogEntry::new(
                member.id,
                now,
                &grant.client_id,
                Action::ConsentRevoke,
                OPERATOR_REQUEST,
            );
            let webhook = self
                .grant_revoked_webhook_for(member.id, &grant.client_id, "member_suspended")
                .await?;
            self.store
                .revoke_grant(member.id, &grant.client_id, now, entry, webhook)
                .await?;
        }
        tracing::info!(member = %member.id, "member suspended");
        Ok(MemberStanding {
            member,
            suspended_at: Some(now),
        })
    }

    /// Lifts a suspension.
    #[tracing::instrument(skip(self))]
    pub async fn unsuspend_member(&self, handle: &str) -> Result<MemberStanding, Error> {
        let member = self.member_by_handle(handle).await?;
        self.store
            .set_suspended(member.id, None)
            .await
            .map_err(Error::from_missing)?;
        tracing::info!(member = %member.id, "suspension lifted");
        Ok(MemberStanding {
            member,
            suspended_at: None,
        })
    }
}
