//! The partner app registry: operators register apps, approve them, and suspend them.
//! A newly registered app is pending: it cannot start an authorization until approved.

use url::Url;

use super::{RedirectUri, Scopes};
use crate::partner::ItemUrlTemplate;
use crate::store::{App, AppStatus};
use crate::tokens::{self, MintedToken};
use crate::{Confidant, Error, StoreError};

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

/// Report dimensions reserved for the channel part of a variation.
const RESERVED_VARIATIONS: [&str; 2] = ["confidant", "off_platform"];

impl Confidant {
    #[tracing::instrument(skip_all, fields(name = %form.name))]
    pub async fn register_app(&self, form: AppRegistration) -> Result<RegisteredApp, Error> {
        let name = form.name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(Error::invalid(
                "name",
                "invalid_name",
                "the app's name must be 1 to 80 characters",
            ));
        }
        let owner = form.owner.trim();
        if owner.chars().count() > 200 {
            return Err(Error::invalid(
                "owner",
                "invalid_owner",
                "the owner must be at most 200 characters",
            ));
        }
        if form.redirect_uris.is_empty() || form.redirect_uris.len() > MAX_LIST {
            return Err(Error::invalid(
                "redirect_uri",
                "invalid_redirect_uri",
                format!("register 1 to {MAX_LIST} redirect URIs"),
            ));
        }
        let mut redirect_uris = Vec::new();
        for uri in &form.redirect_uris {
            let uri = RedirectUri::parse(uri.trim(), form.public)?;
            if !redirect_uris.contains(&uri.as_str().to_owned()) {
                redirect_uris.push(uri.as_str().to_owned());
            }
        }
        let scopes = match form.scopes.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Scopes::parse(s)?,
            _ => Scopes::all(),
        };
        let surfaces = dimension_list("surfaces", &form.surfaces, "other")?;
        let variations = dimension_list("variations", &form.variations, "default")?;
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
        let secret = (!form.public).then(|| tokens::mint("cfd_cs_"));
        let report_webhook = web_url("report_webhook", form.report_webhook)?;
        let item_url_template = item_url_template(form.item_url_template.as_deref())?;
        let app = App {
            client_id: format!("cfd_app_{}", tokens::random_url_safe(12)),
            name: name.to_owned(),
            owner: owner.to_owned(),
            homepage: web_url("homepage", form.homepage)?,
            privacy_policy: web_url("privacy_policy", form.privacy_policy)?,
            report_webhook: report_webhook.clone(),
            webhook_secret: report_webhook
                .as_ref()
                .map(|_| crate::webhooks::new_secret()),
            redirect_uris,
            confidential: !form.public,
            secret_hash: secret.as_ref().map(|s| s.hash.clone()),
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
            .map_err(|error| match error {
                StoreError::NotFound => Error::NotFound,
                other => other.into(),
            })?;
        self.app(client_id).await
    }

    async fn set_app_status(&self, client_id: &str, status: AppStatus) -> Result<App, Error> {
        self.store
            .set_app_status(client_id, status)
            .await
            .map_err(|error| match error {
                StoreError::NotFound => Error::NotFound,
                other => other.into(),
            })?;
        tracing::info!(client_id, status = status.as_str(), "app status changed");
        self.app(client_id).await
    }
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
