//! Web Push delivery: each queued push is encrypted to its browser (RFC 8291), signed with
//! the deployment's VAPID key (RFC 8292) and posted to the browser's push service (RFC 8030)
//! by this server, with no relay in between. A push service that says the subscription is
//! gone (404, 410) has it deleted; other failures are retried with a growing backoff.
//!
//! Push services are reached only at public addresses (or networks the operator allowed),
//! checked as names resolve, and redirects are not followed: a subscription's endpoint is
//! the member's input, and must not aim the server at anything inside its network.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ipnet::IpNet;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::{Auth, WebPushBuilder, p256};

use confidant_core::store::{DuePush, Message, setting};
use confidant_core::{Confidant, Error};

use crate::config::PushConfig;
use crate::images::{PublicOnly, check_url};

/// Pushes claimed per pass, and how long a claim holds before another node may retry it.
const BATCH: i64 = 50;
const LEASE_SECS: i64 = 120;
/// How often the job looks for pushes due for a retry, between wake-ups.
const POLL: Duration = Duration::from_secs(10);
/// The least time between two passes. Every send wakes the job, and a pass claims through
/// the database's writer: under a stream of sends, one pass per gap serves them all instead
/// of one claim per send. A message after a quiet spell is still pushed at once.
const PASS_GAP: Duration = Duration::from_millis(100);
/// The characters of a message a push carries, when the member wants the text.
const TEXT_CHARS: usize = 200;

pub struct PushSender {
    key: ES256KeyPair,
    /// The VAPID public key, base64url, for browsers to subscribe with.
    public_key: String,
    contact: String,
    allowed: Arc<Vec<IpNet>>,
    client: reqwest::Client,
    enabled: bool,
    wake: Notify,
}

/// What a push service made of a push.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The browser unsubscribed: delete the subscription.
    Gone,
    Failed(String),
}

/// What the service worker shows: who wrote, the text only if the member asked for it, and
/// where a click leads.
#[derive(Debug, Serialize)]
pub struct Payload {
    pub title: String,
    pub body: String,
    pub url: String,
    /// Notifications of one conversation replace each other.
    pub tag: String,
}

impl Payload {
    pub fn of(message: &Message, show_text: bool) -> Self {
        let sender = message
            .sender
            .as_ref()
            .map_or("Someone", |sender| sender.display_name.as_str());
        let title = match &message.via_app {
            Some(app) => format!("{sender} via {}", app.name),
            None => sender.to_owned(),
        };
        let body = if !show_text {
            "New message".to_owned()
        } else if let Some(card) = &message.card {
            format!("Recommended: {}", card.title)
        } else if message.body.is_empty() {
            "Sent a file".to_owned()
        } else {
            let mut text: String = message.body.chars().take(TEXT_CHARS).collect();
            if message.body.chars().count() > TEXT_CHARS {
                text.push('…');
            }
            text
        };
        Payload {
            title,
            body,
            url: format!("/c/{}#m{}", message.conversation_id, message.id),
            tag: format!("conversation-{}", message.conversation_id),
        }
    }
}

impl PushSender {
    /// The sender with the deployment's VAPID key, made on first start.
    pub async fn load(
        app: &Confidant,
        config: &PushConfig,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        let fresh = URL_SAFE_NO_PAD.encode(ES256KeyPair::generate().to_bytes());
        let stored = app
            .store()
            .init_setting(setting::VAPID_PRIVATE_KEY, &fresh)
            .await
            .context("cannot read or store the VAPID key")?;
        let key = URL_SAFE_NO_PAD
            .decode(&stored)
            .ok()
            .and_then(|bytes| ES256KeyPair::from_bytes(&bytes).ok())
            .context("the stored VAPID key is not a P-256 private key")?;
        let contact = if config.contact.is_empty() {
            public_url.to_owned()
        } else {
            config.contact.clone()
        };
        let allowed = Arc::new(config.allowed_networks.clone());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(config.timeout_secs.min(5)))
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly {
                allowed: allowed.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Confidant-Push/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PushSender {
            public_key: URL_SAFE_NO_PAD
                .encode(key.public_key().public_key().to_bytes_uncompressed()),
            key,
            contact,
            allowed,
            client,
            enabled: config.enabled,
            wake: Notify::new(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The VAPID public key (`applicationServerKey`), base64url.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// What this server checks of a subscription before the core stores it: that it sends
    /// pushes at all, that the endpoint (if it is a web URL; the core refuses anything else)
    /// is at an address it may reach — names are checked again as they resolve, on every
    /// push — and that the browser's key is a point of the curve (the core checks its shape).
    pub fn accepts(&self, endpoint: &str, p256dh: &str) -> Result<(), Error> {
        if !self.enabled {
            return Err(Error::conflict(
                None,
                "push_disabled",
                "This server does not send notifications.",
            ));
        }
        if let Ok(url) = url::Url::parse(endpoint)
            && matches!(url.scheme(), "http" | "https")
            && check_url(&url, &self.allowed).is_err()
        {
            return Err(Error::invalid(
                "endpoint",
                "endpoint_not_allowed",
                "Notifications are sent to push services at public addresses only.",
            ));
        }
        let on_curve = URL_SAFE_NO_PAD
            .decode(p256dh.trim_end_matches('='))
            .is_ok_and(|key| p256::PublicKey::from_sec1_bytes(&key).is_ok());
        if !on_curve {
            return Err(Error::invalid(
                "keys.p256dh",
                "invalid_key",
                "keys.p256dh is the browser's P-256 public key, base64url.",
            ));
        }
        Ok(())
    }

    /// Tells the job that new pushes may be waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Encrypts and posts one push.
    pub async fn send(&self, push: &DuePush) -> Outcome {
        let payload = Payload::of(&push.message, push.subscription.show_text);
        match self
            .post(
                &push.subscription.endpoint,
                &push.subscription.p256dh,
                &push.subscription.auth,
                &payload,
            )
            .await
        {
            Ok(status) if status.is_success() => Outcome::Delivered,
            Ok(status) if status.as_u16() == 404 || status.as_u16() == 410 => Outcome::Gone,
            Ok(status) => Outcome::Failed(format!("the push service answered {status}")),
            Err(error) => Outcome::Failed(format!("{error:#}")),
        }
    }

    async fn post(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        payload: &Payload,
    ) -> anyhow::Result<reqwest::StatusCode> {
        let ua_public = p256::PublicKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(p256dh)?)
            .context("the browser's key is not a P-256 point")?;
        let auth = URL_SAFE_NO_PAD.decode(auth)?;
        anyhow::ensure!(auth.len() == 16, "the browser's secret is not 16 bytes");
        let request =
            WebPushBuilder::new(endpoint.parse()?, ua_public, Auth::clone_from_slice(&auth))
                .with_vapid(&self.key, &self.contact)
                .build(serde_json::to_vec(payload)?)?;
        let (parts, body) = request.into_parts();
        let url = url::Url::parse(endpoint)?;
        check_url(&url, &self.allowed).map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
        let response = self
            .client
            .post(url)
            .headers(parts.headers)
            .header("Urgency", "normal")
            .body(body)
            .send()
            .await?;
        Ok(response.status())
    }

    /// Sends due pushes when woken (a message was sent) and every few seconds (retries),
    /// until shutdown.
    pub async fn run(self: Arc<Self>, app: Confidant, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            if let Err(error) = self.deliver_due(&app).await {
                tracing::warn!(%error, "push delivery pass failed");
            }
            // A wake-up meanwhile is kept, and starts the next pass when the gap ends.
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(PASS_GAP) => {}
            }
        }
    }

    /// One pass: every push due now, claimed and sent.
    pub async fn deliver_due(&self, app: &Confidant) -> Result<u64, Error> {
        let mut sent = 0;
        loop {
            let due = app.claim_due_pushes(LEASE_SECS, BATCH).await?;
            if due.is_empty() {
                return Ok(sent);
            }
            for push in due {
                if push.streaming {
                    // The browser has the conversation open and saw it arrive.
                    app.finish_push(push.id).await?;
                    continue;
                }
                match self.send(&push).await {
                    Outcome::Delivered => {
                        sent += 1;
                        app.finish_push(push.id).await?;
                    }
                    Outcome::Gone => {
                        tracing::info!(
                            subscription = push.subscription.id,
                            "a browser unsubscribed; forgetting it"
                        );
                        app.drop_push_subscription(push.subscription.id).await?;
                    }
                    Outcome::Failed(error) => {
                        tracing::info!(%error, attempt = push.attempts, "a push failed; will retry");
                        app.retry_push(&push).await?;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confidant_core::store::{MemberRef, Message, ViaApp};
    use confidant_core::{ConversationId, MemberId, MessageId, Timestamp};

    fn decode(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// RFC 8291, section 5 and appendix A: the push a browser with these keys receives reads
    /// "When I grow up, I want to be a watermelon".
    #[test]
    fn pushes_are_encrypted_as_rfc_8291_says() {
        let ua_private =
            p256::SecretKey::from_slice(&decode("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
                .unwrap();
        let ua_public = decode(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        );
        assert_eq!(
            p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                &ua_private.public_key(),
                false
            )
            .as_bytes(),
            ua_public.as_slice()
        );
        let auth = Auth::clone_from_slice(&decode("BTBZMqHH6r4Tts7J_aSIgg"));
        let body = decode(
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
        );
        // The header names the salt and the application server's key of the example.
        assert_eq!(&body[..16], decode("DGv6ra1nlYgDCS1FRnbzlw").as_slice());
        assert_eq!(
            &body[21..86],
            decode("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8")
                .as_slice()
        );
        let plain = web_push_native::decrypt(body, &ua_private, &auth).unwrap();
        assert_eq!(plain, b"When I grow up, I want to be a watermelon");

        // And what this server encrypts to that browser, it reads back the same way.
        let request = WebPushBuilder::new(
            "https://push.example/abc".parse().unwrap(),
            ua_private.public_key(),
            auth,
        )
        .with_vapid(&ES256KeyPair::generate(), "mailto:ops@example.org")
        .build(b"When I grow up, I want to be a watermelon".to_vec())
        .unwrap();
        assert_eq!(request.headers()["content-encoding"], "aes128gcm");
        let plain = web_push_native::decrypt(request.into_body(), &ua_private, &auth).unwrap();
        assert_eq!(plain, b"When I grow up, I want to be a watermelon");
    }

    fn message(body: &str) -> Message {
        Message::written(
            MessageId(9),
            ConversationId(4),
            Some(MemberRef {
                id: MemberId(1),
                handle: "alice".into(),
                display_name: "Alice".into(),
            }),
            body.into(),
            Timestamp(0),
        )
    }

    #[test]
    fn a_push_carries_the_text_only_when_the_member_asked() {
        let quiet = Payload::of(&message("meet at the lighthouse"), false);
        assert_eq!(quiet.title, "Alice");
        assert_eq!(quiet.body, "New message");
        assert_eq!(quiet.url, "/c/4#m9");
        assert_eq!(quiet.tag, "conversation-4");
        let told = Payload::of(&message("meet at the lighthouse"), true);
        assert_eq!(told.body, "meet at the lighthouse");
        assert_eq!(Payload::of(&message(""), true).body, "Sent a file");
        let long = Payload::of(&message(&"a".repeat(500)), true);
        assert_eq!(long.body.chars().count(), TEXT_CHARS + 1);
        let mut via = message("x");
        via.via_app = Some(ViaApp {
            client_id: "cfd_app_x".into(),
            name: "Streamflix".into(),
        });
        assert_eq!(Payload::of(&via, false).title, "Alice via Streamflix");
    }
}
