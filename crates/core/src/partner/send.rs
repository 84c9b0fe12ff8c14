//! `POST /partner/v1/messages` and `GET /partner/v1/messages/{id}`: an app sends a
//! recommendation to friends on the member's behalf, into their 1:1 conversations and
//! labelled with the app; later it may ask who it reached and when — nothing more.

use serde::Serialize;

use super::{ItemUrlTemplate, PartnerError, PartnerRequest, about_other};
use crate::accesslog::{Action, Denial};
use crate::store::{
    App, Budget, CHANNEL_CONFIDANT, Cell, Contribution, Counter, NewLogEntry, NewPartnerSend,
    PartnerMessage, PartnerSendRecord, RecommendationCard, SendOutcome, day_of,
};
use crate::{Confidant, Error, MemberId, StoreError, Timestamp, tokens};

pub const MAX_RECIPIENTS: usize = 50;
pub const MAX_TEXT_BYTES: usize = 2048;
/// The interfaces a recommendation can be started from.
pub const INTERFACES: [&str; 5] = ["web", "ios", "android", "tv", "other"];
const MAX_URL_BYTES: usize = 2048;
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_KEY_BYTES: usize = 200;

/// What the app asks to send.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendInput {
    /// Pseudonyms of the recipients, as `/partner/v1/friends` lists them.
    pub to: Vec<String>,
    pub text: Option<String>,
    pub card: Option<CardInput>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CardInput {
    pub title: String,
    /// Optional: Confidant builds it from the app's item-URL template. If given, it must be
    /// exactly that expansion.
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub description: Option<String>,
    pub item_id: String,
    pub interface: String,
    pub initiation_surface: String,
    pub variation: String,
}

/// One message for several recipients, through an app.
pub(super) struct Delivery<'a> {
    pub app: &'a App,
    pub sender: MemberId,
    pub to: &'a [MemberId],
    pub body: String,
    /// Without its tracking token: each recipient's copy gets its own.
    pub card: Option<RecommendationCard>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: String,
    pub at: Timestamp,
    /// The rate limit it counts against, if any.
    pub budget: Option<Budget>,
}

/// What became of a [`Delivery`].
pub(super) enum Delivered {
    /// Stored now, or by an earlier request with the same idempotency key.
    Sent(PartnerSendRecord),
    /// The idempotency key was used for another request.
    KeyReused,
    /// The budget is spent; nothing was stored.
    RateLimited { retry_after_secs: u64 },
}

/// A send as the app sees it: whom it reached (by pseudonym) and when.
#[derive(Debug, Clone)]
pub struct PartnerSend {
    /// The app's own id for the send ([`crate::pairwise`]).
    pub id: String,
    pub created_at: Timestamp,
    pub recipients: Vec<(String, Timestamp)>,
}

impl Confidant {
    /// Sends a message (text, a recommendation card, or both) to up to 50 friends who also
    /// use the app. Retries with the same `idempotency_key` return the first result.
    #[tracing::instrument(skip_all)]
    pub async fn partner_send(
        &self,
        request: &PartnerRequest,
        input: SendInput,
        idempotency_key: Option<&str>,
    ) -> Result<PartnerSend, PartnerError> {
        let (access, draft) = self
            .partner_authorize(request, Action::MessageSend, Vec::new())
            .await?;
        let me = access.member.id;
        let app = self
            .store
            .app(&access.client_id)
            .await?
            .ok_or(PartnerError::InvalidToken)?;
        let checked = validate(&input, &app, idempotency_key);
        let (body, card) = match checked {
            Ok(valid) => valid,
            Err(error) => return self.refuse_malformed(&draft, error).await,
        };
        let now = draft.0.at;
        let limit_key = format!("{}:{}", access.client_id, me.0);
        // Taken by the write that stores the send, in its transaction: parallel sends cannot
        // all slip under the limit, and a refused or replayed one costs nothing.
        let budget = self.partner_sends.budget(&limit_key);

        // Every recipient is checked in one read; the answer keeps the order they were named
        // in, each member once.
        let reachable = self
            .store
            .reachable_recipients(&app.client_id, me, &input.to)
            .await?;
        let mut recipients: Vec<(String, MemberId)> = Vec::new();
        for pseudonym in &input.to {
            match reachable.iter().find(|(id, _)| id == pseudonym) {
                Some((_, member)) if !recipients.iter().any(|(_, m)| m == member) => {
                    recipients.push((pseudonym.clone(), *member));
                }
                Some(_) => {}
                // Which recipient failed, and why, stays between the member and Confidant.
                None => {
                    let refused = draft.denied(Denial::RecipientRefused);
                    self.store.append_log(refused, None).await?;
                    return Err(unreachable_recipients().into());
                }
            }
        }

        let request_hash = tokens::hash(
            &serde_json::to_string(&input).map_err(|e| Error::Internal(e.to_string()))?,
        )
        .0;
        let to: Vec<MemberId> = recipients.iter().map(|(_, member)| *member).collect();
        let delivery = Delivery {
            app: &app,
            sender: me,
            to: &to,
            body,
            card,
            idempotency_key,
            request_hash,
            at: now,
            budget: Some(budget),
        };
        let record = match self.deliver(delivery, draft.allowed()).await {
            Ok(Delivered::Sent(record)) => record,
            Ok(Delivered::RateLimited { retry_after_secs }) => {
                let refused = draft.denied(Denial::RateLimited);
                self.store.append_log(refused, None).await?;
                return Err(PartnerError::RateLimited { retry_after_secs });
            }
            // A recipient became unreachable between the check above and the write.
            Err(error) if error.code() == "invalid_recipients" => {
                let refused = draft.denied(Denial::RecipientRefused);
                self.store.append_log(refused, None).await?;
                return Err(error.into());
            }
            Err(error) => return Err(error.into()),
            Ok(Delivered::KeyReused) => {
                return Err(Error::conflict(
                    Some("idempotency_key"),
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request",
                )
                .into());
            }
        };
        self.as_seen_by(&app.client_id, record).await
    }

    /// Puts the message in each recipient's 1:1 conversation with the sender, labelled with
    /// the app, each card with its own tracking token, and logs `log` about the recipients —
    /// one transaction, which also takes the delivery's budget if it has one.
    pub(super) async fn deliver(
        &self,
        delivery: Delivery<'_>,
        log: NewLogEntry,
    ) -> Result<Delivered, Error> {
        let mut messages = Vec::with_capacity(delivery.to.len());
        for recipient in delivery.to {
            messages.push(PartnerMessage {
                recipient: *recipient,
                body: delivery.body.clone(),
                card: delivery.card.clone().map(|card| RecommendationCard {
                    token: tokens::random_url_safe(16),
                    ..card
                }),
            });
        }
        let objects = delivery
            .to
            .iter()
            .map(|member| format!("member:{}", member.0))
            .collect();
        // Each recommendation delivered counts as a send in the app's report.
        let contributions = messages
            .iter()
            .filter_map(|message| message.card.as_ref())
            .map(|card| Contribution {
                member: delivery.sender,
                cell: Cell {
                    client_id: delivery.app.client_id.clone(),
                    day: day_of(delivery.at),
                    interface: card.interface.clone(),
                    surface: card.surface.clone(),
                    variation: card.variation.clone(),
                    channel: CHANNEL_CONFIDANT.to_owned(),
                },
                counter: Counter::Sends,
                cap: self.reports.privacy.contribution_cap,
                cells_per_day: self.reports.privacy.cells_per_day,
            })
            .collect();
        let log = log.with_objects(objects);
        let from_sender = vec![format!("member:{}", delivery.sender.0)];
        let about_recipients = delivery
            .to
            .iter()
            .map(|recipient| {
                about_other(
                    &log,
                    *recipient,
                    Action::MessageReceived,
                    from_sender.clone(),
                )
            })
            .collect();
        let send = NewPartnerSend {
            client_id: delivery.app.client_id.clone(),
            member_id: delivery.sender,
            idempotency_key: delivery.idempotency_key.map(str::to_owned),
            request_hash: delivery.request_hash,
            created_at: delivery.at,
            messages,
            contributions,
            about_recipients,
            budget: delivery.budget,
        };
        let outcome = match self.store.send_partner_messages(send, log).await {
            Ok(outcome) => outcome,
            // A friendship ended or a block came between the check and the write.
            Err(StoreError::Conflict("not_reachable")) => return Err(unreachable_recipients()),
            Err(other) => return Err(other.into()),
        };
        Ok(match outcome {
            SendOutcome::Sent { record, advanced } => {
                self.live.publish(&advanced);
                Delivered::Sent(record)
            }
            SendOutcome::Replayed(record) => Delivered::Sent(record),
            SendOutcome::KeyReused => Delivered::KeyReused,
            SendOutcome::RateLimited { retry_after_secs } => {
                Delivered::RateLimited { retry_after_secs }
            }
        })
    }

    /// `GET /partner/v1/messages/{id}`: a send of this app for this member — its recipients
    /// and when each message was delivered. Not whether it was read or clicked: those exist
    /// only as aggregates in reports.
    pub async fn partner_message_status(
        &self,
        request: &PartnerRequest,
        id: &str,
    ) -> Result<PartnerSend, PartnerError> {
        // The id is the app's own: which send it names is known once the token says which
        // app is asking.
        let named = self
            .partner_id(request, |ids, app| ids.parse_send(app, id))
            .await?;
        let objects = named
            .map(|id| vec![format!("send:{id}")])
            .unwrap_or_default();
        let (access, draft) = self
            .partner_authorize(request, Action::MessageStatus, objects)
            .await?;
        let record = match named {
            Some(id) => {
                self.store
                    .partner_send(&access.client_id, access.member.id, id)
                    .await?
            }
            None => None,
        };
        let Some(record) = record else {
            let refused = draft.denied(Denial::NotFound);
            self.store.append_log(refused, None).await?;
            return Err(PartnerError::NotFound);
        };
        self.log_partner_read(&access, draft.allowed()).await?;
        self.as_seen_by(&access.client_id, record).await
    }

    /// The send with its recipients under their pseudonyms for the app.
    async fn as_seen_by(
        &self,
        client_id: &str,
        record: PartnerSendRecord,
    ) -> Result<PartnerSend, PartnerError> {
        let mut recipients = Vec::with_capacity(record.deliveries.len());
        for delivery in record.deliveries {
            if let Some(grant) = self.store.grant(delivery.recipient, client_id).await? {
                recipients.push((grant.pseudonym, delivery.delivered_at));
            }
        }
        Ok(PartnerSend {
            id: self.pairwise.send(client_id, record.id),
            created_at: record.created_at,
            recipients,
        })
    }
}

/// One answer for every recipient a send cannot reach: which one, and why, stays between the
/// member and Confidant.
fn unreachable_recipients() -> Error {
    Error::invalid(
        "to",
        "invalid_recipients",
        "one or more recipients cannot receive messages from this app",
    )
}

/// Checks a send request against the limits and the app's declared report dimensions;
/// returns the message body and the card (without its tracking token yet).
fn validate(
    input: &SendInput,
    app: &App,
    idempotency_key: Option<&str>,
) -> Result<(String, Option<RecommendationCard>), Error> {
    if let Some(key) = idempotency_key
        && (key.is_empty() || key.len() > MAX_KEY_BYTES)
    {
        return Err(Error::invalid(
            "idempotency_key",
            "invalid_idempotency_key",
            format!("an Idempotency-Key has 1 to {MAX_KEY_BYTES} characters"),
        ));
    }
    if input.to.is_empty() || input.to.len() > MAX_RECIPIENTS {
        return Err(Error::invalid(
            "to",
            "invalid_recipients",
            format!("send to 1 to {MAX_RECIPIENTS} friends"),
        ));
    }
    let text = match &input.text {
        Some(text) if text.len() > MAX_TEXT_BYTES => {
            return Err(Error::invalid(
                "text",
                "text_too_long",
                format!("text is at most {MAX_TEXT_BYTES} bytes"),
            ));
        }
        Some(text) if !text.trim().is_empty() => Some(text.clone()),
        _ => None,
    };
    let card = input
        .card
        .as_ref()
        .map(|card| check_card(card, app))
        .transpose()?;
    let body = match (text, &card) {
        (Some(text), _) => text,
        (None, Some(card)) => card.title.clone(),
        (None, None) => {
            return Err(Error::invalid(
                "text",
                "empty_message",
                "send a text, a card, or both",
            ));
        }
    };
    Ok((body, card))
}

pub(super) fn check_card(card: &CardInput, app: &App) -> Result<RecommendationCard, Error> {
    let title = card.title.trim();
    if title.is_empty()
        || title.chars().count() > MAX_TITLE_CHARS
        || title.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "card.title",
            "invalid_card",
            format!("a title has 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    let item_id = card.item_id.trim();
    if item_id.is_empty() || item_id.len() > MAX_TITLE_CHARS {
        return Err(Error::invalid(
            "card.item_id",
            "invalid_card",
            "item_id is the app's own id for the item, 1 to 200 characters",
        ));
    }
    let url = card_url(card, item_id, app)?;
    let image_url = card
        .image_url
        .as_deref()
        .map(|url| web_url("card.image_url", url))
        .transpose()?;
    if card
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return Err(Error::invalid(
            "card.description",
            "invalid_card",
            format!("a description has at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if !INTERFACES.contains(&card.interface.as_str()) {
        return Err(Error::invalid(
            "card.interface",
            "invalid_card",
            format!("interface is one of {}", INTERFACES.join(", ")),
        ));
    }
    if !app.surfaces.contains(&card.initiation_surface) {
        return Err(Error::invalid(
            "card.initiation_surface",
            "invalid_card",
            format!(
                "initiation_surface is one of the app's: {}",
                app.surfaces.join(", ")
            ),
        ));
    }
    if !app.variations.contains(&card.variation) {
        return Err(Error::invalid(
            "card.variation",
            "invalid_card",
            format!(
                "variation is one of the app's: {}",
                app.variations.join(", ")
            ),
        ));
    }
    Ok(RecommendationCard {
        title: title.to_owned(),
        url,
        image_url,
        description: card.description.clone().filter(|d| !d.trim().is_empty()),
        item_id: item_id.to_owned(),
        interface: card.interface.clone(),
        surface: card.initiation_surface.clone(),
        variation: card.variation.clone(),
        token: String::new(),
    })
}

/// The card's link: the app's item-URL template expanded for the item, the same for every
/// recipient. A `url` the app sends along must be exactly that; anything else would be a way
/// to give each recipient a link of their own.
fn card_url(card: &CardInput, item_id: &str, app: &App) -> Result<String, Error> {
    let Some(template) = app.item_url_template.as_deref() else {
        return Err(Error::invalid(
            "card.url",
            "no_item_url_template",
            "this app has no item-URL template registered, so it cannot send cards; its \
             operator sets one with `confidant apps update --item-url-template`",
        ));
    };
    let template = ItemUrlTemplate::parse("card.url", template)?;
    let url = template.expand(item_id);
    match card.url.as_deref().map(str::trim) {
        None | Some("") => Ok(url),
        Some(given) if web_url("card.url", given)? == url => Ok(url),
        Some(_) => Err(Error::invalid(
            "card.url",
            "card_url_mismatch",
            format!(
                "a card's url is built from the app's item-URL template: for this item_id it \
                 is {url}; send that or leave url out"
            ),
        )),
    }
}

/// An absolute http(s) URL, which is all a card may link to.
fn web_url(field: &'static str, input: &str) -> Result<String, Error> {
    let parsed = url::Url::parse(input.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    match parsed {
        Some(url) if url.as_str().len() <= MAX_URL_BYTES => Ok(url.to_string()),
        _ => Err(Error::invalid(
            field,
            "invalid_card",
            "links must be absolute http or https URLs",
        )),
    }
}
