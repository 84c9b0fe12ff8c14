//! The partner app registry: operators register apps, approve them, and suspend them.
//! A newly registered app is pending: it cannot start an authorization until approved.

use url::Url;

use super::{RedirectUri, Scopes};
use crate::accesslog::{Action, Denial};
use crate::partner::ItemUrlTemplate;
use crate::store::{App, AppStatus, NewLogEntry, PreviousSecret};
use crate::tokens::{self, MintedToken};
use crate::{Confidant, Error, Timestamp};

/// The most redirect URIs, surfaces and variations one app may declare.
const MAX_LIST: usize = 32;

/// What an operator fills in to register an app, before validation.
#[derive(Debug, Clone, Default)]
pub struct AppRegistration {
    pub name: String,
    pub owner: String,
    pub redirect_uris: Vec<String>,
    /// A public client (native or single-page app) gets no secret.
    pub public: bool,
    /// Space-separated; all scopes when absent.
    pub scopes: Option<String>,
    pub homepage: Option<String>,
    pub privacy_policy: Option<String>,
    pub report_webhook: Option<String>,
    pub surfaces: Vec<String>,
    pub variations: Vec<String>,
    /// Where its recommendations lead, with `{item_id}`; see [`ItemUrlTemplate`].
    pub item_url_template: Option<String>,
}

/// A registered app and, for confidential clients, its secret, which is shown only now.
#[derive(Debug)]
pub struct RegisteredApp {
    pub app: App,
    pub client_secret: Option<String>,
    /// Signs the app's webhooks; given with a webhook URL.
    pub webhook_secret: Option<String>,
}

/// What an operator changes about a registered app; `None` leaves a field as it is, and an
/// empty text clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct AppChanges {
    pub name: Option<String>,
    pub owner: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    /// Space-separated. Removing a scope ends every token the app holds: it must ask
    /// members again, for no more than it may now have.
    pub scopes: Option<String>,
    pub homepage: Option<String>,
    pub privacy_policy: Option<String>,
    /// Setting a webhook URL where there was none also makes a webhook secret.
    pub report_webhook: Option<String>,
    pub surfaces: Option<Vec<String>>,
    pub variations: Option<Vec<String>>,
    pub item_url_template: Option<String>,
}

/// An app after an update.
#[derive(Debug)]
pub struct UpdatedApp {
    pub app: App,
    /// Whether narrowed scopes ended the app's tokens.
    pub tokens_revoked: bool,
    /// A webhook secret made because a webhook URL was set for the first time.
    pub webhook_secret: Option<String>,
}

/// A new client secret, and until when the one it replaced still works.
#[derive(Debug)]
pub struct RotatedSecret {
    pub app: App,
    pub client_secret: String,
    pub previous_valid_until: Timestamp,
}

/// The longest grace period a rotated-out secret may keep working: 30 days.
pub const MAX_SECRET_GRACE_SECS: i64 = 30 * 24 * 3600;

/// Report dimensions reserved for the channel part of a variation.
const RESERVED_VARIATIONS: [&str; 2] = ["confidant", "off_platform"];

impl Confidant {
    #[tracing::instrument(skip_all, fields(name = %form.name))]
    pub async fn register_app(&self, form: AppRegistration) -> Result<RegisteredApp, Error> {
        let name = app_name(&form.name)?;
        let owner = app_owner(&form.owner)?;
        let redirect_uris = redirect_uris(&form.redirect_uris, form.public)?;
        let scopes = match form.scopes.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Scopes::parse(s)?,
            _ => Scopes::all(),
        };
        let surfaces = dimension_list("surfaces", &form.surfaces, "other")?;
        let variations = variations(&form.variations)?;
        let secret = (!form.public).then(|| tokens::mint("cfd_cs_"));
        let report_webhook = web_url("report_webhook", form.report_webhook)?;
        let item_url_template = item_url_template(form.item_url_template.as_deref())?;
        let app = App {
            client_id: format!("cfd_app_{}", tokens::random_url_safe(12)),
            name,
            owner,
            homepage: web_url("homepage", form.homepage)?,
            privacy_policy: web_url("privacy_policy", form.privacy_policy)?,
            report_webhook: report_webhook.clone(),
            webhook_secret: report_webhook
                .as_ref()
                .map(|_| crate::webhooks::new_secret()),
            redirect_uris,
            confidential: !form.public,
            secret_hash: secret.as_ref().map(|s| s.hash.clone()),
            previous_secret: None,
            scopes,
            surfaces,
            variations,
            item_url_template,
            status: AppStatus::Pending,
            created_at: self.clock.now(),
        };
        self.store.create_app(app.clone()).await?;
        tracing::info!(client_id = %app.client_id, "app registered");
        Ok(RegisteredApp {
            webhook_secret: app.webhook_secret.clone(),
            app,
            client_secret: secret.map(|MintedToken { secret, .. }| secret),
        })
    }

    /// Changes what an operator may change about an app. Checked like a registration; a
    /// refused change changes nothing.
    #[tracing::instrument(skip(self, changes))]
    pub async fn update_app(
        &self,
        client_id: &str,
        changes: AppChanges,
    ) -> Result<UpdatedApp, Error> {
        let mut app = self.app(client_id).await?;
        let mut webhook_secret = None;
        if let Some(name) = changes.name {
            app.name = app_name(&name)?;
        }
        if let Some(owner) = changes.owner {
            app.owner = app_owner(&owner)?;
        }
        if let Some(uris) = changes.redirect_uris {
            app.redirect_uris = redirect_uris(&uris, !app.confidential)?;
        }
        let mut narrowed = false;
        if let Some(scopes) = changes.scopes {
            let scopes = Scopes::parse(scopes.trim())?;
            narrowed = app.scopes.iter().any(|scope| !scopes.contains(scope));
            app.scopes = scopes;
        }
        if let Some(homepage) = changes.homepage {
            app.homepage = web_url("homepage", Some(homepage))?;
        }
        if let Some(policy) = changes.privacy_policy {
            app.privacy_policy = web_url("privacy_policy", Some(policy))?;
        }
        if let Some(webhook) = changes.report_webhook {
            app.report_webhook = web_url("report_webhook", Some(webhook))?;
            if app.report_webhook.is_some() && app.webhook_secret.is_none() {
                let secret = crate::webhooks::new_secret();
                app.webhook_secret = Some(secret.clone());
                webhook_secret = Some(secret);
            }
        }
        if let Some(surfaces) = changes.surfaces {
            app.surfaces = dimension_list("surfaces", &surfaces, "other")?;
        }
        if let Some(arms) = changes.variations {
            app.variations = variations(&arms)?;
        }
        if let Some(template) = changes.item_url_template {
            app.item_url_template = item_url_template(Some(&template))?;
        }
        self.store
            .update_app(&app, narrowed.then_some(Denial::AppNarrowed))
            .await
            .map_err(Error::from_missing)?;
        tracing::info!(client_id, tokens_revoked = narrowed, "app updated");
        Ok(UpdatedApp {
            app: self.app(client_id).await?,
            tokens_revoked: narrowed,
            webhook_secret,
        })
    }

    /// Gives a confidential app a new client secret. The old one keeps working for
    /// `grace_secs` (0: it stops at once), so the partner can deploy the new one first.
    #[tracing::instrument(skip(self))]
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        grace_secs: i64,
    ) -> Result<RotatedSecret, Error> {
        if !(0..=MAX_SECRET_GRACE_SECS).contains(&grace_secs) {
            return Err(Error::invalid(
                "grace",
                "invalid_grace",
                "the grace period is 0 to 30 days",
            ));
        }
        let mut app = self.app(client_id).await?;
        let Some(current) = app.secret_hash.clone() else {
            return Err(Error::conflict(
                None,
                "public_client",
                "a public client has no secret to rotate",
            ));
        };
        let now = self.clock.now();
        let minted = tokens::mint("cfd_cs_");
        let previous_valid_until = now.plus_secs(grace_secs);
        app.previous_secret = (grace_secs > 0).then_some(PreviousSecret {
            hash: current,
            expires_at: previous_valid_until,
        });
        app.secret_hash = Some(minted.hash);
        self.store
            .update_app(&app, None)
            .await
            .map_err(Error::from_missing)?;
        tracing::info!(client_id, grace_secs, "client secret rotated");
        Ok(RotatedSecret {
            app,
            client_secret: minted.secret,
            previous_valid_until,
        })
    }

    /// Deletes an app: every member who had connected it sees it disconnected in their
    /// access log, its tokens stop working at once, and everything that was the app's goes.
    #[tracing::instrument(skip(self))]
    pub async fn delete_app(&self, client_id: &str) -> Result<usize, Error> {
        self.app(client_id).await?;
        let now = self.clock.now();
        let grants = self.store.active_grants_of_app(client_id).await?;
        // Each member's log says the app was disconnected; deleting the app then ends its
        // tokens, recorded as revoked because the app is gone.
        for grant in &grants {
            let entry = NewLogEntry::new(
                grant.member_id,
                now,
                client_id,
                Action::ConsentRevoke,
                crate::accesslog::OPERATOR_REQUEST,
            );
            self.store.append_log(entry, None).await?;
        }
        if !self.store.delete_app(client_id).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(client_id, grants = grants.len(), "app deleted");
        Ok(grants.len())
    }

    /// Every registered app, for operators.
    pub async fn apps(&self) -> Result<Vec<App>, Error> {
        Ok(self.store.apps().await?)
    }

    /// The apps members can connect, for the public registry page.
    pub async fn approved_apps(&self) -> Result<Vec<App>, Error> {
        let mut apps = self.store.apps().await?;
        apps.retain(|app| app.status == AppStatus::Approved);
        apps.sort_by_key(|app| app.name.to_lowercase());
        Ok(apps)
    }

    pub async fn app(&self, client_id: &str) -> Result<App, Error> {
        self.store.app(client_id).await?.ok_or(Error::NotFound)
    }

    #[tracing::instrument(skip(self))]
    pub async fn approve_app(&self, client_id: &str) -> Result<App, Error> {
        self.set_app_status(client_id, AppStatus::Approved).await
    }

    /// Suspends the app: it can no longer start authorizations, and every token it holds
    /// stops working before this returns.
    #[tracing::instrument(skip(self))]
    pub async fn suspend_app(&self, client_id: &str) -> Result<App, Error> {
        self.set_app_status(client_id, AppStatus::Suspended).await
    }

    /// Sets (or, with `None` or an empty text, removes) the app's item-URL template. Cards
    /// sent from then on link to its expansions; an app without one cannot send cards.
    #[tracing::instrument(skip(self))]
    pub async fn set_item_url_template(
        &self,
        client_id: &str,
        template: Option<&str>,
    ) -> Result<App, Error> {
        let template = item_url_template(template)?;
        self.store
            .set_item_url_template(client_id, template.as_deref())
            .await
            .map_err(Error::from_missing)?;
        self.app(client_id).await
    }

    async fn set_app_status(&self, client_id: &str, status: AppStatus) -> Result<App, Error> {
        self.store
            .set_app_status(client_id, status)
            .await
            .map_err(Error::from_missing)?;
        tracing::info!(client_id, status = status.as_str(), "app status changed");
        self.app(client_id).await
    }
}

fn app_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(Error::invalid(
            "name",
            "invalid_name",
            "the app's name must be 1 to 80 characters",
        ));
    }
    Ok(name.to_owned())
}

fn app_owner(owner: &str) -> Result<String, Error> {
    let owner = owner.trim();
    if owner.chars().count() > 200 {
        return Err(Error::invalid(
            "owner",
            "invalid_owner",
            "the owner must be at most 200 characters",
        ));
    }
    Ok(owner.to_owned())
}

/// Distinct, checked redirect URIs: 1 to [`MAX_LIST`] of them.
fn redirect_uris(uris: &[String], public: bool) -> Result<Vec<String>, Error> {
    if uris.is_empty() || uris.len() > MAX_LIST {
        return Err(Error::invalid(
            "redirect_uri",
            "invalid_redirect_uri",
            format!("register 1 to {MAX_LIST} redirect URIs"),
        ));
    }
    let mut checked: Vec<String> = Vec::new();
    for uri in uris {
        let uri = RedirectUri::parse(uri.trim(), public)?;
        if !checked.contains(&uri.as_str().to_owned()) {
            checked.push(uri.as_str().to_owned());
        }
    }
    Ok(checked)
}

/// Declared experiment arms: dimension names that do not name a channel.
fn variations(values: &[String]) -> Result<Vec<String>, Error> {
    let variations = dimension_list("variations", values, "default")?;
    if let Some(reserved) = variations
        .iter()
        .find(|v| RESERVED_VARIATIONS.contains(&v.as_str()))
    {
        return Err(Error::invalid(
            "variations",
            "invalid_variation",
            format!("`{reserved}` names a channel and cannot be an experiment arm"),
        ));
    }
    Ok(variations)
}

/// A checked item-URL template, or none for an empty value.
fn item_url_template(value: Option<&str>) -> Result<Option<String>, Error> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| ItemUrlTemplate::parse("item_url_template", v).map(|t| t.as_str().to_owned()))
        .transpose()
}

/// An optional http(s) URL shown to members or called by the server.
fn web_url(field: &'static str, value: Option<String>) -> Result<Option<String>, Error> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(Some(value))
        }
        _ => Err(Error::invalid(
            field,
            "invalid_url",
            format!("{field} must be an http or https URL"),
        )),
    }
}

/// A declared report dimension: distinct names of 1–32 `[a-z0-9_]`, or `default` alone.
fn dimension_list(
    field: &'static str,
    values: &[String],
    default: &str,
) -> Result<Vec<String>, Error> {
    let mut list: Vec<String> = Vec::new();
    for value in values.iter().flat_map(|v| v.split([' ', ','])) {
        if value.is_empty() {
            continue;
        }
        let valid = value.len() <= 32
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(Error::invalid(
                field,
                "invalid_dimension",
                format!("`{value}`: {field} are 1 to 32 characters of a-z, 0-9 and _"),
            ));
        }
        if !list.iter().any(|v| v == value) {
            list.push(value.to_owned());
        }
    }
    if list.len() > MAX_LIST {
        return Err(Error::invalid(
            field,
            "invalid_dimension",
            format!("declare at most {MAX_LIST} {field}"),
        ));
    }
    if list.is_empty() {
        list.push(default.to_owned());
    }
    Ok(list)
}
