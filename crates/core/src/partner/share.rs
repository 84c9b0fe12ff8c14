//! The send dialog (`/share`): an app opens a Confidant page with a recommendation, the
//! logged-in member picks friends and confirms, and the app learns only "shared" or
//! "cancelled". No token is involved, and the app never sees who received it.

use super::send::{CardInput, Delivery, check_card};
use crate::accesslog::Action;
use crate::oauth::redirect_uri_matches;
use crate::store::{App, AppStatus, Member, NewLogEntry, RecommendationCard};
use crate::{Confidant, Error, MemberId, tokens};

/// What the app opens the dialog with.
#[derive(Debug, Clone, Default)]
pub struct ShareParams {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub card: CardInput,
}

/// A checked dialog: the app, where to return, and the card to preview.
#[derive(Debug, Clone)]
pub struct ShareDialog {
    pub app: App,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub card: RecommendationCard,
}

impl Confidant {
    /// Checks what the app asked to share. Errors name the parameter at fault; before the
    /// redirect URI is known to be the app's, nothing may be sent back to it.
    pub async fn open_share_dialog(&self, params: ShareParams) -> Result<ShareDialog, Error> {
        let app = self
            .store
            .app(&params.client_id)
            .await?
            .filter(|app| app.status == AppStatus::Approved)
            .ok_or_else(|| {
                Error::invalid(
                    "client_id",
                    "unknown_app",
                    "no approved app has this client_id",
                )
            })?;
        if !redirect_uri_matches(&app.redirect_uris, &params.redirect_uri, !app.confidential) {
            return Err(Error::invalid(
                "redirect_uri",
                "invalid_redirect_uri",
                "redirect_uri is not one the app registered",
            ));
        }
        let card = check_card(&params.card, &app)?;
        Ok(ShareDialog {
            app,
            redirect_uri: params.redirect_uri,
            state: params.state,
            card,
        })
    }

    /// The member confirmed: the card goes to the friends they picked, labelled with the app,
    /// and into their log as their own share.
    pub async fn share(
        &self,
        me: &Member,
        dialog: &ShareDialog,
        to: &[MemberId],
        text: Option<&str>,
        request_id: &str,
    ) -> Result<(), Error> {
        if to.is_empty() || to.len() > super::MAX_RECIPIENTS {
            return Err(Error::invalid(
                "to",
                "invalid_recipients",
                format!("pick 1 to {} friends", super::MAX_RECIPIENTS),
            ));
        }
        for friend in to {
            let relation = self.store.relationship(me.id, *friend).await?;
            if !relation.friends || relation.blocked_by_me || relation.blocked_me {
                return Err(Error::invalid(
                    "to",
                    "invalid_recipients",
                    "you can only share with your friends",
                ));
            }
        }
        let text = text.map(str::trim).filter(|text| !text.is_empty());
        if text.is_some_and(|text| text.len() > super::MAX_TEXT_BYTES) {
            return Err(Error::invalid(
                "text",
                "text_too_long",
                format!("a note is at most {} bytes", super::MAX_TEXT_BYTES),
            ));
        }
        let now = self.clock.now();
        let delivery = Delivery {
            app: &dialog.app,
            sender: me.id,
            to,
            body: text.map_or_else(|| dialog.card.title.clone(), str::to_owned),
            card: Some(dialog.card.clone()),
            idempotency_key: None,
            request_hash: tokens::random_url_safe(16),
            at: now,
            // A member's own share through the dialog is not rate-limited like an app's sends.
            budget: None,
        };
        let log = NewLogEntry::new(
            me.id,
            now,
            &dialog.app.client_id,
            Action::ShareDialog,
            request_id,
        );
        self.deliver(delivery, log).await?;
        Ok(())
    }
}
