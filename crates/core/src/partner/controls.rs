//! What recipients control about partner apps: muting an app (its messages are kept aside,
//! without notifications; the app cannot tell), and opting out of click counting.

use crate::store::ViaApp;
use crate::{Confidant, Error, MemberId, StoreError};

impl Confidant {
    pub async fn mute_app(&self, me: MemberId, client_id: &str) -> Result<(), Error> {
        self.store
            .mute_app(me, client_id, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => Error::NotFound,
                other => other.into(),
            })
    }

    pub async fn unmute_app(&self, me: MemberId, client_id: &str) -> Result<(), Error> {
        if self.store.unmute_app(me, client_id).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    pub async fn muted_apps(&self, me: MemberId) -> Result<Vec<ViaApp>, Error> {
        Ok(self.store.muted_apps(me).await?)
    }

    /// Whether the member's message came through an app they muted (their own messages never
    /// count as muted).
    pub async fn is_muted_for(
        &self,
        me: MemberId,
        message: &crate::store::Message,
    ) -> Result<bool, Error> {
        let Some(via) = &message.via_app else {
            return Ok(false);
        };
        if message
            .sender
            .as_ref()
            .is_some_and(|sender| sender.id == me)
        {
            return Ok(false);
        }
        Ok(self
            .muted_apps(me)
            .await?
            .iter()
            .any(|muted| muted.client_id == via.client_id))
    }

    /// Whether the member's clicks on recommendation links may be counted in reports.
    pub async fn count_clicks(&self, me: MemberId) -> Result<bool, Error> {
        Ok(self.store.count_clicks(me).await?)
    }

    pub async fn set_count_clicks(&self, me: MemberId, count: bool) -> Result<(), Error> {
        Ok(self.store.set_count_clicks(me, count).await?)
    }
}
