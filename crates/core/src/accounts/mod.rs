//! Accounts: sign-up, log-in, sessions, password changes and account deletion.

mod admin;
mod credentials;
mod directory;
mod password;
mod sessions;
mod throttle;

pub use admin::MAX_STANDINGS_PAGE;
pub use credentials::{DisplayName, Handle, Password};
pub(crate) use directory::DirectoryLimits;
pub use directory::{DirectoryPolicy, MAX_RESULTS, MIN_QUERY_CHARS};
pub use password::{HashingCost, PasswordHasher};
pub use sessions::{NewSession, Session, SessionPolicy};
pub use throttle::{LoginThrottle, ThrottlePolicy};

use crate::store::{Member, NewMember};
use crate::{Confidant, Error, MemberId, StoreError};

/// What a sign-up form or `POST /api/v1/accounts` carries, before validation.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub handle: String,
    pub display_name: Option<String>,
    pub password: String,
    pub is_admin: bool,
}

impl Confidant {
    /// Creates a member. The handle is unique case-insensitively (handles are stored lower-case).
    #[tracing::instrument(skip_all, fields(handle = %form.handle))]
    pub async fn sign_up(&self, form: SignUp) -> Result<Member, Error> {
        let handle = Handle::parse(&form.handle)?;
        let display_name = DisplayName::parse_or_handle(form.display_name.as_deref(), &handle)?;
        let password = Password::parse(&form.password)?;
        // Check before paying for the hash; the unique index below is what really guarantees it.
        if self.store.member_by_handle(&handle).await?.is_some() {
            return Err(handle_taken());
        }
        let password_hash = self.hasher.hash(password).await?;
        let new = NewMember {
            handle,
            display_name: display_name.into_inner(),
            password_hash,
            is_admin: form.is_admin,
            created_at: self.clock.now(),
        };
        match self.store.create_member(new).await {
            Err(StoreError::Conflict("handle")) => Err(handle_taken()),
            other => Ok(other?),
        }
    }

    pub async fn member(&self, id: MemberId) -> Result<Member, Error> {
        self.store.member(id).await?.ok_or(Error::NotFound)
    }

    pub async fn member_by_handle(&self, handle: &str) -> Result<Member, Error> {
        let handle = Handle::parse(handle).map_err(|_| Error::NotFound)?;
        self.store
            .member_by_handle(&handle)
            .await?
            .ok_or(Error::NotFound)
    }

    #[tracing::instrument(skip_all, fields(member = %member))]
    pub async fn set_display_name(&self, member: MemberId, name: &str) -> Result<Member, Error> {
        let name = DisplayName::parse(name)?;
        self.store.set_display_name(member, name.as_str()).await?;
        self.member(member).await
    }

    /// Changes the password after checking the current one, and ends every other session.
    #[tracing::instrument(skip_all, fields(member = %session.member.id))]
    pub async fn change_password(
        &self,
        session: &Session,
        current: &str,
        new: &str,
    ) -> Result<(), Error> {
        let new = Password::parse(new).map_err(|error| match error {
            Error::Invalid { code, message, .. } => Error::Invalid {
                field: "new_password",
                code,
                message,
            },
            other => other,
        })?;
        self.confirm_password(session.member.id, current, "current_password")
            .await?;
        let hash = self.hasher.hash(new).await?;
        self.store
            .set_password_hash(session.member.id, &hash)
            .await?;
        self.store
            .delete_sessions_of(session.member.id, Some(&session.token_hash))
            .await?;
        Ok(())
    }

    /// Deletes the account after checking the password. Their messages remain in others'
    /// conversations only as erased messages from "deleted member".
    #[tracing::instrument(skip_all, fields(member = %session.member.id))]
    pub async fn delete_account(&self, session: &Session, password: &str) -> Result<(), Error> {
        self.confirm_password(session.member.id, password, "password")
            .await?;
        self.store.delete_member(session.member.id).await?;
        Ok(())
    }

    async fn confirm_password(
        &self,
        member: MemberId,
        password: &str,
        field: &'static str,
    ) -> Result<(), Error> {
        let hash = self
            .store
            .password_hash(member)
            .await?
            .ok_or(Error::Unauthorized)?;
        if self.hasher.verify(password, hash).await? {
            Ok(())
        } else {
            // Forbidden, not invalid: the input is well-formed, it just does not unlock this.
            Err(Error::Forbidden {
                field: Some(field),
                code: "wrong_password",
                message: "That is not your current password.".to_owned(),
            })
        }
    }
}

fn handle_taken() -> Error {
    Error::conflict(
        Some("handle"),
        "handle_taken",
        "That handle is already taken.",
    )
}
