//! Account settings: display name, password, deletion.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::{CookieJar, Form};
use serde::Deserialize;

use super::{FormErrors, Page, PageError, render, see_other};
use crate::http::session::{CsrfToken, CurrentMember, removal_cookie};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    page: Page,
    display_name: String,
    errors: FormErrors,
}

pub async fn page(
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    settings_page(
        current,
        csrf,
        None,
        FormErrors::default(),
        StatusCode::OK,
        None,
    )
}

fn settings_page(
    current: CurrentMember,
    csrf: String,
    display_name: Option<String>,
    errors: FormErrors,
    status: StatusCode,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let me = current.0.member;
    let mut page = Page::new("Settings", Some(me.clone()), csrf);
    page.notice = notice.map(str::to_owned);
    render(
        status,
        &SettingsPage {
            page,
            display_name: display_name.unwrap_or(me.display_name),
            errors,
        },
    )
}

#[derive(Deserialize)]
pub struct ProfileForm {
    display_name: String,
}

pub async fn profile(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<ProfileForm>,
) -> Result<Response, PageError> {
    match state
        .app
        .set_display_name(current.member().id, &form.display_name)
        .await
    {
        Ok(member) => {
            let mut current = current;
            current.0.member = member;
            settings_page(
                current,
                csrf,
                None,
                FormErrors::default(),
                StatusCode::OK,
                Some("Saved."),
            )
        }
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            settings_page(current, csrf, Some(form.display_name), errors, status, None)
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

pub async fn password(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    match state
        .app
        .change_password(&current.0, &form.current_password, &form.new_password)
        .await
    {
        Ok(()) => settings_page(
            current,
            csrf,
            None,
            FormErrors::default(),
            StatusCode::OK,
            Some("Password changed. Your other sessions have been logged out."),
        ),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            settings_page(current, csrf, None, errors, status, None)
        }
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    password: String,
}

pub async fn delete(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    jar: CookieJar,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    match state.app.delete_account(&current.0, &form.password).await {
        Ok(()) => {
            state.attachments.released();
            let jar = jar.add(removal_cookie(&state.web, state.web.session_cookie));
            Ok((jar, see_other("/")).into_response())
        }
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            settings_page(current, csrf, None, errors, status, None)
        }
    }
}
