//! Operator pages: the partner app registry (`/admin/apps`), to register, approve and
//! suspend apps, and each app's settings (`/admin/apps/{client_id}`), to change it, rotate
//! its secret or delete it. Members who are not admins get a 403.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::oauth::{AppChanges, AppRegistration, Scope};
use confidant_core::store::{App, Member};

use super::{FormErrors, Page, PageError, render, see_other};
use crate::http::session::{CsrfToken, CurrentMember};
use crate::state::AppState;

/// A logged-in operator.
pub(super) fn operator(current: CurrentMember) -> Result<Member, PageError> {
    let member = current.0.member;
    if member.is_admin {
        Ok(member)
    } else {
        Err(PageError::AdminOnly)
    }
}

/// A newly registered app's credentials, shown once.
struct Credentials {
    client_id: String,
    client_secret: Option<String>,
    webhook_secret: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_apps.html")]
struct AdminAppsPage {
    page: Page,
    apps: Vec<App>,
    all_scopes: Vec<&'static str>,
    form: AppForm,
    errors: FormErrors,
    created: Option<Credentials>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AppForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    owner: String,
    /// One per line.
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    homepage: String,
    #[serde(default)]
    privacy_policy: String,
    #[serde(default)]
    report_webhook: String,
    #[serde(default)]
    surfaces: String,
    #[serde(default)]
    variations: String,
    #[serde(default)]
    item_url_template: String,
}

/// The item-URL template form of one app.
#[derive(Debug, Default, Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    item_url_template: String,
}

impl AppForm {
    fn has_scope(&self, scope: &str) -> bool {
        self.scope.is_empty() || self.scope.iter().any(|s| s == scope)
    }
}

async fn admin_page(
    state: &AppState,
    me: Member,
    csrf: String,
    form: AppForm,
    errors: FormErrors,
    created: Option<Credentials>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let apps = state.app.apps().await?;
    render(
        status,
        &AdminAppsPage {
            page: Page::member(state, "Apps · admin", me, csrf).await?,
            apps,
            all_scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
            form,
            errors,
            created,
        },
    )
}

pub async fn page(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    admin_page(
        &state,
        me,
        csrf,
        AppForm::default(),
        FormErrors::default(),
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<AppForm>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let optional = |value: &str| Some(value.to_owned()).filter(|v| !v.trim().is_empty());
    let registration = AppRegistration {
        name: form.name.clone(),
        owner: form.owner.clone(),
        redirect_uris: form
            .redirect_uris
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        public: form.public.is_some(),
        scopes: Some(form.scope.join(" ")),
        homepage: optional(&form.homepage),
        privacy_policy: optional(&form.privacy_policy),
        report_webhook: optional(&form.report_webhook),
        surfaces: vec![form.surfaces.clone()],
        variations: vec![form.variations.clone()],
        item_url_template: optional(&form.item_url_template),
    };
    match state.app.register_app(registration).await {
        Ok(registered) => {
            let created = Credentials {
                client_id: registered.app.client_id,
                client_secret: registered.client_secret,
                webhook_secret: registered.webhook_secret,
            };
            admin_page(
                &state,
                me,
                csrf,
                AppForm::default(),
                FormErrors::default(),
                Some(created),
                StatusCode::CREATED,
            )
            .await
        }
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            admin_page(&state, me, csrf, form, errors, None, status).await
        }
    }
}

/// `POST /admin/apps/{client_id}/{approve|suspend}`.
pub async fn act(
    State(state): State<AppState>,
    current: CurrentMember,
    Path((client_id, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    operator(current)?;
    match action.as_str() {
        "approve" => state.app.approve_app(&client_id).await?,
        "suspend" => state.app.suspend_app(&client_id).await?,
        _ => return Err(confidant_core::Error::NotFound.into()),
    };
    Ok(see_other("/admin/apps"))
}

/// `POST /admin/apps/{client_id}/item-url-template`: sets, changes or (empty) removes it.
pub async fn set_item_url_template(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(client_id): Path<String>,
    Form(form): Form<TemplateForm>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let template = Some(form.item_url_template.as_str()).filter(|t| !t.trim().is_empty());
    match state.app.set_item_url_template(&client_id, template).await {
        Ok(_) => Ok(see_other("/admin/apps")),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            admin_page(&state, me, csrf, AppForm::default(), errors, None, status).await
        }
    }
}

/// One app's settings page: change it, rotate its secret, delete it.
#[derive(Template)]
#[template(path = "admin_app.html")]
struct AdminAppPage {
    page: Page,
    app: App,
    all_scopes: Vec<&'static str>,
    form: AppForm,
    errors: FormErrors,
    /// What the last action made that is shown only once (a new secret), or said.
    notice: Option<AppNotice>,
    /// When the rotated-out secret stops working, if it still does.
    previous_secret_until: Option<String>,
}

enum AppNotice {
    Saved {
        tokens_revoked: bool,
        webhook_secret: Option<String>,
    },
    Rotated {
        secret: String,
        previous_until: Option<String>,
    },
}

impl AppForm {
    /// The form filled with the app as it is.
    fn of(app: &App) -> Self {
        AppForm {
            name: app.name.clone(),
            owner: app.owner.clone(),
            redirect_uris: app.redirect_uris.join("\n"),
            public: (!app.confidential).then(String::new),
            scope: app.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            homepage: app.homepage.clone().unwrap_or_default(),
            privacy_policy: app.privacy_policy.clone().unwrap_or_default(),
            report_webhook: app.report_webhook.clone().unwrap_or_default(),
            surfaces: app.surfaces.join(" "),
            variations: app.variations.join(" "),
            item_url_template: app.item_url_template.clone().unwrap_or_default(),
        }
    }

    fn changes(self) -> AppChanges {
        AppChanges {
            name: Some(self.name),
            owner: Some(self.owner),
            redirect_uris: Some(
                self.redirect_uris
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            scopes: Some(self.scope.join(" ")),
            homepage: Some(self.homepage),
            privacy_policy: Some(self.privacy_policy),
            report_webhook: Some(self.report_webhook),
            surfaces: Some(vec![self.surfaces]),
            variations: Some(vec![self.variations]),
            item_url_template: Some(self.item_url_template),
        }
    }
}

async fn app_page(
    state: &AppState,
    me: Member,
    csrf: String,
    app: App,
    view: (Option<AppForm>, FormErrors, Option<AppNotice>),
    status: StatusCode,
) -> Result<Response, PageError> {
    let (form, errors, notice) = view;
    let now = state.app.clock().now();
    let previous_secret_until = app
        .previous_secret
        .as_ref()
        .filter(|previous| previous.expires_at > now)
        .map(|previous| super::when(previous.expires_at).0);
    render(
        status,
        &AdminAppPage {
            page: Page::member(state, &format!("{} · admin", app.name), me, csrf).await?,
            form: form.unwrap_or_else(|| AppForm::of(&app)),
            app,
            all_scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
            errors,
            notice,
            previous_secret_until,
        },
    )
}

/// `GET /admin/apps/{client_id}`.
pub async fn show(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(client_id): Path<String>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let app = state.app.app(&client_id).await?;
    let view = (None, FormErrors::default(), None);
    app_page(&state, me, csrf, app, view, StatusCode::OK).await
}

/// `POST /admin/apps/{client_id}`: saves the whole settings form.
pub async fn update(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(client_id): Path<String>,
    Form(form): Form<AppForm>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let app = state.app.app(&client_id).await?;
    match state.app.update_app(&client_id, form.changes()).await {
        Ok(updated) => {
            let notice = AppNotice::Saved {
                tokens_revoked: updated.tokens_revoked,
                webhook_secret: updated.webhook_secret,
            };
            let view = (None, FormErrors::default(), Some(notice));
            app_page(&state, me, csrf, updated.app, view, StatusCode::OK).await
        }
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            let form = AppForm::of(&app);
            app_page(&state, me, csrf, app, (Some(form), errors, None), status).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct RotateForm {
    grace_hours: i64,
}

/// `POST /admin/apps/{client_id}/rotate-secret`.
pub async fn rotate_secret(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(client_id): Path<String>,
    Form(form): Form<RotateForm>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let grace_secs = form.grace_hours.saturating_mul(3600);
    match state.app.rotate_client_secret(&client_id, grace_secs).await {
        Ok(rotated) => {
            let notice = AppNotice::Rotated {
                secret: rotated.client_secret,
                previous_until: (grace_secs > 0)
                    .then(|| super::when(rotated.previous_valid_until).0),
            };
            let view = (None, FormErrors::default(), Some(notice));
            app_page(&state, me, csrf, rotated.app, view, StatusCode::OK).await
        }
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            let app = state.app.app(&client_id).await?;
            app_page(&state, me, csrf, app, (None, errors, None), status).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/apps/{client_id}/delete`: only with the app's name typed to confirm.
pub async fn delete(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path(client_id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let app = state.app.app(&client_id).await?;
    if form.confirm.trim() != app.name {
        let errors = FormErrors::one("confirm", "Type the app's name exactly to delete it.");
        let view = (None, errors, None);
        return app_page(
            &state,
            me,
            csrf,
            app,
            view,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    state.app.delete_app(&client_id).await?;
    Ok(see_other("/admin/apps"))
}
