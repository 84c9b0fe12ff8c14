//! `GET /oauth/authorize` checks the request and shows the consent page (or, if the member
//! already granted as much, answers at once); `POST /oauth/authorize` records the member's
//! decision. Every answer to the app carries `iss` (RFC 9207) and echoes `state`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::ConversationId;
use confidant_core::oauth::{
    AuthorizationError, AuthorizationRequest, Consent, Scope, Scopes, THREAD_GRANT_DEFAULT_DAYS,
    THREAD_GRANT_MAX_DAYS, ValidAuthorization,
};
use confidant_core::store::{App, Member};

use crate::http::api::schema::conversation_title;
use crate::http::request_id::RequestId;
use crate::http::session::{BrowserSession, CsrfToken};
use crate::http::web::{Page, PageError, render};
use crate::state::AppState;

/// The parameters of an authorization request, as query or as the consent form's hidden
/// fields.
const PARAMETERS: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "authorization_details",
];

/// The authorization request's query (RFC 6749 §4.1.1, RFC 7636, RFC 9396), as the OpenAPI
/// document describes it; `parse_query` reads it and refuses repeated parameters. The consent
/// form carries the same fields.
#[derive(Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuthorizationQuery {
    /// Only `code`.
    response_type: String,
    client_id: String,
    /// One of the app's registered redirect URIs, exactly.
    redirect_uri: String,
    /// Space-separated scopes; `thread_read` is asked for in `authorization_details`.
    scope: Option<String>,
    /// Echoed back to the app.
    state: Option<String>,
    /// The PKCE S256 challenge.
    code_challenge: String,
    /// Only `S256`.
    code_challenge_method: String,
    /// RFC 9396 JSON, e.g. `[{"type":"thread_read"}]`.
    authorization_details: Option<String>,
}

/// The consent page: signed-in members see what the app asks for and decide; others are sent
/// to log in first.
#[utoipa::path(
    get, path = "/oauth/authorize", tag = "oauth", params(AuthorizationQuery),
    responses(
        (status = 200, content_type = "text/html", description = "the consent page"),
        (status = 303, description = "to the app's redirect URI with `code` or `error`, `state` \
            and `iss`; or, for a visitor not signed in, to the log-in page"),
        (status = 400, content_type = "text/html", description = "no trustworthy redirect URI to \
            send the error to (unknown client, redirect URI not registered, repeated parameter)"),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let params = match parse_query(query.as_deref().unwrap_or("")) {
        Ok(params) => params,
        Err(message) => return Err(PageError::BadRequest(message)),
    };
    let request = to_request(&params);
    let valid = match state.app.check_authorization(&request).await {
        Ok(valid) => valid,
        Err(error) => return refuse(&state, error),
    };
    let Some(session) = session else {
        let here = format!("/oauth/authorize?{}", query.unwrap_or_default());
        return Err(PageError::LoginRequired { next: here });
    };
    let me = session.member;
    if let Some(code) = state.app.authorize_without_asking(&me, &valid).await? {
        return Ok(answer(&state, &valid, Ok(&code)));
    }
    consent_page(&state, me, csrf, &params, &valid, None).await
}

/// The consent form: the request's parameters again, plus the member's choices.
#[derive(Deserialize)]
pub struct DecisionForm {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    authorization_details: Option<String>,
    /// The scopes left ticked.
    #[serde(default)]
    grant: Vec<String>,
    /// Conversations picked for `thread_read`.
    #[serde(default)]
    thread: Vec<i64>,
    thread_days: Option<i64>,
    /// Present when the member also shares the picked threads' earlier messages.
    thread_history: Option<String>,
    decision: String,
}

/// The consent form as the consent page posts it, for the OpenAPI document: the request's
/// parameters again, the member's choices, and the page's CSRF token.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ConsentDecision {
    /// The token the consent page carries; without it the post is refused (403).
    csrf: String,
    /// `allow`, or anything else to deny.
    decision: String,
    /// The scopes left ticked (repeated).
    grant: Vec<String>,
    /// Conversations picked for `thread_read` (repeated).
    thread: Vec<i64>,
    /// How long picked threads stay shared, in days.
    thread_days: Option<i64>,
    /// Present when picked threads' earlier messages are shared too.
    thread_history: Option<String>,
    #[serde(flatten)]
    request: AuthorizationQuery,
}

/// The member's decision on the consent page. Only that page can post it: the form carries
/// its CSRF token, and the session cookie is the member's.
#[utoipa::path(
    post, path = "/oauth/authorize", tag = "oauth",
    request_body(content = ConsentDecision, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "to the app's redirect URI with `code` or `error`, `state` \
            and `iss`; or, for a visitor not signed in, to the log-in page"),
        (status = 400, content_type = "text/html", description = "no trustworthy redirect URI"),
        (status = 403, content_type = "text/html", description = "no valid CSRF token: the form \
            did not come from the consent page, or it expired"),
    )
)]
pub async fn decide(
    State(state): State<AppState>,
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
    RequestId(request_id): RequestId,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let params: HashMap<String, String> = [
        ("response_type", form.response_type),
        ("client_id", form.client_id),
        ("redirect_uri", form.redirect_uri),
        ("scope", form.scope),
        ("state", form.state),
        ("code_challenge", form.code_challenge),
        ("code_challenge_method", form.code_challenge_method),
        ("authorization_details", form.authorization_details),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key.to_owned(), value?)))
    .collect();
    let valid = match state.app.check_authorization(&to_request(&params)).await {
        Ok(valid) => valid,
        Err(error) => return refuse(&state, error),
    };
    let Some(session) = session else {
        return Err(PageError::LoginRequired {
            next: "/".to_owned(),
        });
    };
    if form.decision != "allow" {
        return Ok(answer(
            &state,
            &valid,
            Err(("access_denied", "the member declined")),
        ));
    }
    let mut scopes = Scopes::default();
    for name in &form.grant {
        match Scope::parse(name) {
            Some(scope) => scopes = scopes.iter().chain([scope]).collect(),
            None => return Err(PageError::BadRequest(format!("unknown scope `{name}`"))),
        }
    }
    let consent = Consent {
        scopes,
        threads: form.thread.iter().copied().map(ConversationId).collect(),
        thread_days: form.thread_days.unwrap_or(THREAD_GRANT_DEFAULT_DAYS),
        share_history: form.thread_history.is_some(),
    };
    let me = session.member;
    match state.app.consent(&me, &valid, consent, &request_id).await {
        Ok(code) => Ok(answer(&state, &valid, Ok(&code))),
        Err(confidant_core::Error::Invalid { message, .. }) => {
            consent_page(&state, me, csrf, &params, &valid, Some(message)).await
        }
        Err(other) => Err(other.into()),
    }
}

/// The duplicate-free query parameters; a repeated one makes the request invalid.
fn parse_query(query: &str) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if params.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(format!("The request repeats the parameter `{key}`."));
        }
    }
    Ok(params)
}

fn to_request(params: &HashMap<String, String>) -> AuthorizationRequest {
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    AuthorizationRequest {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        authorization_details: get("authorization_details"),
    }
}

/// An invalid request: an error page when the redirect URI cannot be trusted, otherwise
/// the error goes back to the app.
fn refuse(state: &AppState, error: AuthorizationError) -> Result<Response, PageError> {
    match error {
        AuthorizationError::NoRedirect(message) => Err(PageError::BadRequest(message)),
        AuthorizationError::Redirect {
            redirect_uri,
            state: app_state,
            code,
            description,
        } => Ok(redirect_to_client(
            state,
            &redirect_uri,
            app_state.as_deref(),
            &[("error", code), ("error_description", &description)],
        )),
        AuthorizationError::Internal(error) => Err(error.into()),
    }
}

/// The authorization response: a code, or an error code and description.
fn answer(
    state: &AppState,
    valid: &ValidAuthorization,
    outcome: Result<&str, (&str, &str)>,
) -> Response {
    let params: Vec<(&str, &str)> = match outcome {
        Ok(code) => vec![("code", code)],
        Err((error, description)) => vec![("error", error), ("error_description", description)],
    };
    redirect_to_client(state, &valid.redirect_uri, valid.state.as_deref(), &params)
}

fn redirect_to_client(
    state: &AppState,
    redirect_uri: &str,
    app_state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        // Registered URIs are validated; this cannot happen, and must not redirect if it does.
        return PageError::BadRequest("The app's redirect URI is not valid.".into())
            .into_response();
    };
    {
        let mut query = target.query_pairs_mut();
        for (key, value) in params {
            query.append_pair(key, value);
        }
        if let Some(app_state) = app_state {
            query.append_pair("state", app_state);
        }
        query.append_pair("iss", &state.web.public_url);
    }
    Redirect::to(target.as_str()).into_response()
}

struct ScopeChoice {
    name: &'static str,
    allows: &'static str,
    optional: bool,
}

struct ThreadChoice {
    id: i64,
    title: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    page: Page,
    app: &'a App,
    me: &'a Member,
    hidden: Vec<(&'a str, &'a str)>,
    scopes: Vec<ScopeChoice>,
    thread_read: bool,
    /// What the app can never do, as every promise page words it.
    limits: Vec<&'static str>,
    threads: Vec<ThreadChoice>,
    day_choices: [i64; 3],
    default_days: i64,
    max_days: i64,
    error: Option<String>,
}

async fn consent_page(
    state: &AppState,
    me: Member,
    csrf: String,
    params: &HashMap<String, String>,
    valid: &ValidAuthorization,
    error: Option<String>,
) -> Result<Response, PageError> {
    let threads = if valid.details.thread_read {
        state
            .app
            .conversations(me.id)
            .await?
            .iter()
            .map(|c| ThreadChoice {
                id: c.id.0,
                title: conversation_title(c),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut hidden: Vec<(&str, &str)> = PARAMETERS
        .iter()
        .filter_map(|name| params.get(*name).map(|value| (*name, value.as_str())))
        .collect();
    hidden.sort();
    let page = ConsentPage {
        page: Page::new(
            format!("Connect {}", valid.app.name),
            Some(me.clone()),
            csrf,
        ),
        app: &valid.app,
        me: &me,
        hidden,
        scopes: valid
            .scopes
            .iter()
            .map(|scope| ScopeChoice {
                name: scope.as_str(),
                allows: scope.allows(),
                optional: scope.is_optional(),
            })
            .collect(),
        thread_read: valid.details.thread_read,
        limits: confidant_core::partner::app_limits(valid.details.thread_read),
        threads,
        day_choices: [1, THREAD_GRANT_DEFAULT_DAYS, THREAD_GRANT_MAX_DAYS],
        default_days: THREAD_GRANT_DEFAULT_DAYS,
        max_days: THREAD_GRANT_MAX_DAYS,
        error: error.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = render(status, &page)?;
    // The page embeds the request's parameters; it must not linger in caches.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    crate::http::allow_form_target(&mut response, &valid.redirect_uri);
    Ok(response)
}
