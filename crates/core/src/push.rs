//! Web Push notifications (RFC 8030): the browsers a member turned them on in, and the
//! pushes that tell those browsers about new messages while the member is not looking.
//!
//! A push is queued with the message, in the same transaction, for every browser of every
//! recipient (not for an app's message to someone who muted the app); the server's push job
//! sends it unless that browser has the conversation's live stream open, encrypted to the
//! browser (RFC 8291) and signed with the deployment's VAPID key (RFC 8292).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::store::{DuePush, NewPushSubscription, PushSubscription};
use crate::{Confidant, Error, MemberId, StoreError, Timestamp};

/// The most browsers one member receives pushes in.
pub const MAX_DEVICES: i64 = 20;
/// The longest push service URL.
pub const MAX_ENDPOINT_BYTES: usize = 2048;
/// How often a push is tried before it is given up.
pub const MAX_ATTEMPTS: u32 = 5;

/// A browser's subscription as `PushSubscription.toJSON()` gives it, checked.
#[derive(Debug, Clone)]
pub struct Subscribing {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub show_text: bool,
}

impl Subscribing {
    fn check(&self) -> Result<(), Error> {
        let endpoint_ok = self.endpoint.len() <= MAX_ENDPOINT_BYTES
            && url::Url::parse(&self.endpoint)
                .is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some());
        if !endpoint_ok {
            return Err(Error::invalid(
                "endpoint",
                "invalid_endpoint",
                "The endpoint is the push service's http(s) URL, at most 2,048 bytes.",
            ));
        }
        // An uncompressed P-256 point.
        let key_ok = URL_SAFE_NO_PAD
            .decode(self.p256dh.trim_end_matches('='))
            .is_ok_and(|key| key.len() == 65 && key[0] == 4);
        if !key_ok {
            return Err(Error::invalid(
                "keys.p256dh",
                "invalid_key",
                "keys.p256dh is the browser's P-256 public key, base64url.",
            ));
        }
        let auth_ok = URL_SAFE_NO_PAD
            .decode(self.auth.trim_end_matches('='))
            .is_ok_and(|auth| auth.len() == 16);
        if !auth_ok {
            return Err(Error::invalid(
                "keys.auth",
                "invalid_key",
                "keys.auth is the browser's 16-byte authentication secret, base64url.",
            ));
        }
        Ok(())
    }
}

impl Confidant {
    /// Turns pushes on in one of `me`'s browsers (or changes whether they carry text).
    pub async fn subscribe_push(
        &self,
        me: MemberId,
        subscribing: Subscribing,
    ) -> Result<PushSubscription, Error> {
        subscribing.check()?;
        let new = NewPushSubscription {
            member_id: me,
            endpoint: subscribing.endpoint,
            p256dh: subscribing.p256dh.trim_end_matches('=').to_owned(),
            auth: subscribing.auth.trim_end_matches('=').to_owned(),
            show_text: subscribing.show_text,
            created_at: self.clock.now(),
        };
        self.store
            .save_push_subscription(new, MAX_DEVICES)
            .await
            .map_err(|error| match error {
                StoreError::Conflict("too_many_devices") => Error::conflict(
                    None,
                    "too_many_devices",
                    format!("Notifications go to at most {MAX_DEVICES} browsers; turn them off in one first."),
                ),
                other => other.into(),
            })
    }

    pub async fn push_subscriptions(&self, me: MemberId) -> Result<Vec<PushSubscription>, Error> {
        Ok(self.store.push_subscriptions(me).await?)
    }

    /// Turns pushes off in one of `me`'s browsers.
    pub async fn unsubscribe_push(&self, me: MemberId, id: i64) -> Result<(), Error> {
        if self.store.delete_push_subscription(id, me).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Says that one of `me`'s browsers has the live stream open until `until` (or no
    /// longer, with `None`); pushes skip it meanwhile. `NotFound` if it is not theirs.
    pub async fn push_streaming(
        &self,
        me: MemberId,
        id: i64,
        until: Option<Timestamp>,
    ) -> Result<(), Error> {
        if self.store.set_push_streaming(id, me, until).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Claims the pushes due now for `lease_secs`, for the push job to send.
    pub async fn claim_due_pushes(
        &self,
        lease_secs: i64,
        limit: i64,
    ) -> Result<Vec<DuePush>, Error> {
        let now = self.clock.now();
        Ok(self
            .store
            .claim_due_pushes(now, now.plus_secs(lease_secs), limit)
            .await?)
    }

    pub async fn finish_push(&self, id: i64) -> Result<(), Error> {
        Ok(self.store.finish_push(id).await?)
    }

    /// Tries the push again after a backoff, or gives it up after [`MAX_ATTEMPTS`].
    pub async fn retry_push(&self, push: &DuePush) -> Result<(), Error> {
        if push.attempts >= MAX_ATTEMPTS {
            return self.finish_push(push.id).await;
        }
        let backoff = 30_i64 << push.attempts.min(8);
        let at = self.clock.now().plus_secs(backoff);
        Ok(self.store.retry_push(push.id, at).await?)
    }

    /// The push service says the browser unsubscribed (404, 410).
    pub async fn drop_push_subscription(&self, id: i64) -> Result<(), Error> {
        Ok(self.store.drop_push_subscription(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribing(endpoint: &str, p256dh: &str, auth: &str) -> Subscribing {
        Subscribing {
            endpoint: endpoint.into(),
            p256dh: p256dh.into(),
            auth: auth.into(),
            show_text: false,
        }
    }

    #[test]
    fn subscriptions_are_checked_before_they_are_stored() {
        let key = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        let auth = "BTBZMqHH6r4Tts7J_aSIgg";
        assert!(
            subscribing("https://push.example/abc", key, auth)
                .check()
                .is_ok()
        );
        assert!(
            subscribing("javascript:alert(1)", key, auth)
                .check()
                .is_err()
        );
        assert!(subscribing("not a url", key, auth).check().is_err());
        assert!(
            subscribing("https://push.example/abc", "AAAA", auth)
                .check()
                .is_err()
        );
        assert!(
            subscribing("https://push.example/abc", key, "AAAA")
                .check()
                .is_err()
        );
    }
}
