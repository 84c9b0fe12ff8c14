//! Operator pages: the partner app registry (`/admin/apps`), to register, approve and
//! suspend apps. Members who are not admins get a 403.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::oauth::{AppRegistration, Scope};
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
