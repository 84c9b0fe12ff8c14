//! Following a recommendation's tracked link (`/r/{token}`): where it leads, and whether the
//! click counts in the app's report. Nothing about who clicked ever reaches the app: a click
//! only moves a daily aggregate, and no member can move it by more than the cap.

use crate::partner::INTERFACES;
use crate::store::{CHANNEL_CONFIDANT, Cell, CellCounts, Contribution, Counter, day_of};
use crate::{Confidant, Error, MemberId};

/// User agents that fetch links to preview them, not people clicking.
const PREVIEW_FETCHERS: [&str; 14] = [
    "facebookexternalhit",
    "slackbot",
    "twitterbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "googlebot",
    "bingbot",
    "applebot",
    "redditbot",
    "embedly",
    "iframely",
];

/// A request for a tracked link.
#[derive(Debug, Clone, Default)]
pub struct Click<'a> {
    pub token: &'a str,
    /// The interface the link was shown in, if the link says (`?i=web`).
    pub interface: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// HEAD requests look, they do not click.
    pub head: bool,
    /// The logged-in member following it, if any.
    pub viewer: Option<MemberId>,
}

/// Whether `token` could be a card's token at all, checked before any lookup.
fn well_formed(token: &str) -> bool {
    (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Confidant {
    /// The image a card shows, for the image proxy to fetch; `NotFound` for an unknown or
    /// malformed token, or a card without an image.
    pub async fn card_image(&self, token: &str) -> Result<String, Error> {
        if !well_formed(token) {
            return Err(Error::NotFound);
        }
        self.store
            .card_target(token)
            .await?
            .and_then(|target| target.image_url)
            .ok_or(Error::NotFound)
    }

    /// The card's URL; `NotFound` for an unknown or malformed token, so a tracked link can
    /// never be made to redirect anywhere else. Counts the click when the recipient, signed
    /// in, follows it (not a preview fetcher, not anyone else) and lets clicks be counted.
    pub async fn follow_link(&self, click: Click<'_>) -> Result<String, Error> {
        if !well_formed(click.token) {
            return Err(Error::NotFound);
        }
        let target = self
            .store
            .card_target(click.token)
            .await?
            .ok_or(Error::NotFound)?;
        let user_agent = click.user_agent.unwrap_or("").to_ascii_lowercase();
        let by_person = !click.head && !PREVIEW_FETCHERS.iter().any(|bot| user_agent.contains(bot));
        // Only the recipient's own click counts, against the recipient's own cap. A click by
        // anyone else — the sender, a member the link was forwarded to, someone signed out —
        // could otherwise move cells under another member's cap, and no bound on what one
        // person contributes would hold.
        let Some(recipient) = target
            .recipient
            .filter(|recipient| by_person && click.viewer == Some(*recipient))
        else {
            return Ok(target.url);
        };
        // The store counts the click only if the recipient lets their clicks be counted.
        let contribution = Contribution {
            member: recipient,
            cell: Cell {
                client_id: target.client_id,
                day: day_of(self.clock.now()),
                interface: interface_of(click.interface, &user_agent).to_owned(),
                surface: target.surface,
                variation: target.variation,
                channel: CHANNEL_CONFIDANT.to_owned(),
            },
            counter: Counter::Clicks,
            cap: self.reports.privacy.contribution_cap,
            cells_per_day: self.reports.privacy.cells_per_day,
        };
        self.store.contribute(&contribution).await?;
        Ok(target.url)
    }
}

impl Confidant {
    /// The app's measured sends and clicks per cell, from `first_day` to `last_day` (days
    /// since 1970-01-01), non-empty cells only — the raw material of its reports.
    pub async fn measured_engagement(
        &self,
        client_id: &str,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<CellCounts>, Error> {
        Ok(self
            .store
            .engagement(client_id, first_day, last_day)
            .await?)
    }
}

/// The interface a click came from: what the link says, else a guess from the user agent.
fn interface_of(declared: Option<&str>, user_agent: &str) -> &'static str {
    if let Some(known) = declared.and_then(|d| INTERFACES.iter().find(|i| **i == d)) {
        return known;
    }
    let has = |needles: &[&str]| needles.iter().any(|n| user_agent.contains(n));
    if has(&[
        "smart-tv", "smarttv", "tizen", "web0s", "appletv", "crkey", "hbbtv",
    ]) {
        "tv"
    } else if has(&["iphone", "ipad", "ipod"]) {
        "ios"
    } else if has(&["android"]) {
        "android"
    } else if has(&["mozilla"]) {
        "web"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::interface_of;

    #[test]
    fn the_interface_comes_from_the_link_or_else_the_user_agent() {
        assert_eq!(interface_of(Some("tv"), "mozilla"), "tv");
        assert_eq!(interface_of(Some("fridge"), "mozilla/5.0 (iphone)"), "ios");
        assert_eq!(
            interface_of(None, "mozilla/5.0 (linux; android 14)"),
            "android"
        );
        assert_eq!(interface_of(None, "mozilla/5.0 (smart-tv; tizen)"), "tv");
        assert_eq!(interface_of(None, "mozilla/5.0 (x11; linux)"), "web");
        assert_eq!(interface_of(None, "curl/8"), "other");
    }
}
