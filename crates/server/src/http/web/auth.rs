//! Sign-up, log-in and log-out pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::{CookieJar, Form};
use serde::Deserialize;

use confidant_core::accounts::{NewSession, SignUp};
use confidant_core::oauth::redirect_uri_matches;
use confidant_core::store::{AppStatus, SessionKind};

use super::{FormErrors, Page, PageError, local_path, render, see_other};
use crate::http::client_addr::ClientAddr;
use crate::http::session::{BrowserSession, CsrfToken, removal_cookie, session_cookie};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    page: Page,
    handle: String,
    display_name: String,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LogInPage {
    page: Page,
    handle: String,
    next: String,
    /// The app an authorization request waiting behind this log-in is for.
    continue_to: Option<String>,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct SignUpForm {
    handle: String,
    display_name: String,
    password: String,
}

#[derive(Deserialize)]
pub struct LogInForm {
    handle: String,
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn signup_form(CsrfToken(csrf): CsrfToken) -> Result<Response, PageError> {
    render(
        StatusCode::OK,
        &SignUpPage {
            page: Page::new("Sign up", None, csrf),
            handle: String::new(),
            display_name: String::new(),
            errors: FormErrors::default(),
        },
    )
}

pub async fn sign_up(
    State(state): State<AppState>,
    CsrfToken(csrf): CsrfToken,
    jar: CookieJar,
    Form(form): Form<SignUpForm>,
) -> Result<Response, PageError> {
    let signed_up = state
        .app
        .sign_up(SignUp {
            handle: form.handle.clone(),
            display_name: Some(form.display_name.clone()),
            password: form.password,
            is_admin: false,
        })
        .await;
    match signed_up {
        Ok(member) => {
            let opened = state.app.open_session(member, SessionKind::Browser).await?;
            Ok(start_session(&state, jar, opened, "/friends"))
        }
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            render(
                status,
                &SignUpPage {
                    page: Page::new("Sign up", None, csrf),
                    handle: form.handle,
                    display_name: form.display_name,
                    errors,
                },
            )
        }
    }
}

pub async fn login_form(
    State(state): State<AppState>,
    CsrfToken(csrf): CsrfToken,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    login_page(
        &state,
        StatusCode::OK,
        csrf,
        String::new(),
        query.next,
        FormErrors::default(),
    )
    .await
}

async fn login_page(
    state: &AppState,
    status: StatusCode,
    csrf: String,
    handle: String,
    next: String,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let target = authorization_target(state, &next).await;
    let mut response = render(
        status,
        &LogInPage {
            page: Page::new("Log in", None, csrf),
            handle,
            next,
            continue_to: target.as_ref().map(|(app, _)| app.clone()),
            errors,
        },
    )?;
    // Logging in on the way to an app that was already granted ends with a redirect to it.
    if let Some((_, redirect_uri)) = target {
        crate::http::allow_form_target(&mut response, &redirect_uri);
    }
    Ok(response)
}

/// The app's name and the `redirect_uri` of an OAuth authorization request that log-in will
/// continue with — only if it is one that an approved app registered, since the page's CSP
/// lets its form go there.
async fn authorization_target(state: &AppState, next: &str) -> Option<(String, String)> {
    let next = local_path(next)?;
    let query = next.strip_prefix("/oauth/authorize?")?;
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let (client_id, redirect_uri) = (param("client_id")?, param("redirect_uri")?);
    let app = state.app.app(&client_id).await.ok()?;
    let registered = app.status == AppStatus::Approved
        && redirect_uri_matches(&app.redirect_uris, &redirect_uri, !app.confidential);
    registered.then_some((app.name, redirect_uri))
}

pub async fn log_in(
    State(state): State<AppState>,
    CsrfToken(csrf): CsrfToken,
    ClientAddr(client): ClientAddr,
    BrowserSession(previous): BrowserSession,
    jar: CookieJar,
    Form(form): Form<LogInForm>,
) -> Result<Response, PageError> {
    let result = state
        .app
        .log_in(
            &form.handle,
            &form.password,
            SessionKind::Browser,
            client.as_deref(),
        )
        .await;
    match result {
        Ok(opened) => {
            // A new session id at every log-in; the old one (if any) ends.
            if let Some(previous) = previous {
                state.app.log_out(&previous).await?;
            }
            let next = local_path(&form.next).unwrap_or_else(|| "/".to_owned());
            Ok(start_session(&state, jar, opened, &next))
        }
        Err(error) => {
            state.metrics.logins_failed.inc();
            let (status, errors) = FormErrors::from_error(error)?;
            login_page(&state, status, csrf, form.handle, form.next, errors).await
        }
    }
}

pub async fn log_out(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    jar: CookieJar,
) -> Result<Response, PageError> {
    if let Some(session) = session {
        state.app.log_out(&session).await?;
    }
    let jar = jar.add(removal_cookie(&state.web, state.web.session_cookie));
    Ok((jar, see_other("/")).into_response())
}

fn start_session(state: &AppState, jar: CookieJar, opened: NewSession, next: &str) -> Response {
    let max_age = (opened.expires_at.0 - state.app.clock().now().0) / 1000;
    let jar = jar
        .add(session_cookie(&state.web, opened.secret, max_age))
        // The anonymous CSRF cookie has served its purpose; the session carries its own.
        .add(removal_cookie(&state.web, state.web.csrf_cookie));
    (jar, see_other(next)).into_response()
}
