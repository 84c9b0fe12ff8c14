//! Who is calling, and CSRF protection.
//!
//! One middleware resolves the browser session cookie once per request and enforces CSRF on
//! every state-changing request that a browser could be tricked into sending:
//! - with a session: the form field `csrf` (or header `X-CSRF-Token`) must equal the
//!   session's synchronizer token;
//! - without one, on web pages (sign-up, log-in): it must equal the `confidant_csrf`
//!   cookie (double submit), which this middleware sets on first visit.
//!
//! Requests carrying `Authorization: Bearer` are not cookie-authenticated and need no token.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use confidant_core::accounts::Session;
use confidant_core::store::{Member, SessionKind};
use confidant_core::tokens;

use super::error::ApiError;
use super::web::PageError;
use crate::state::{AppState, WebSettings};

/// The browser session resolved from the cookie, if any.
#[derive(Clone, Debug)]
pub struct BrowserSession(pub Option<Session>);

/// The CSRF token forms on this page must carry.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// The methods a route here can act on. Any other (TRACE, a made-up one) acts on nothing and
/// goes on to the router, which answers 405.
fn is_unsafe(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The credentials of an `Authorization` header in `scheme`, whose name is matched without
/// regard to case (RFC 9110 §11.1: `bearer` and `BASIC` are as good as `Bearer` and `Basic`).
pub fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, credentials) = value.trim_start().split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credentials.trim())
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers, "Bearer")
}

/// Resolves the browser session from its cookie and holds state-changing requests to their
/// CSRF token (see the module's doc), then answers through `next`: privately, where the
/// answer may be private, and with the cookies this request needs set or removed.
pub async fn resolve(state: &AppState, request: Request, next: Next) -> Response {
    let web = &state.web;
    let jar = CookieJar::from_headers(request.headers());
    let session = match jar.get(web.session_cookie) {
        Some(cookie) => state
            .app
            .session(cookie.value(), SessionKind::Browser)
            .await
            .ok(),
        None => None,
    };
    let stale_cookie = session.is_none() && jar.get(web.session_cookie).is_some();
    let path = request.uri().path();
    let is_api = path.starts_with("/api/");
    // Pages need a token for their forms; API calls and cookie-free endpoints have none,
    // and a caller with no cookie yet is given one only where a page will use it.
    let pages_use_token = !is_api && !never_reads_cookies(path);
    let (csrf, new_csrf_cookie) = match (&session, jar.get(web.csrf_cookie)) {
        (Some(session), _) => (Some(session.csrf_token.clone()), None),
        (None, Some(cookie)) => (Some(cookie.value().to_owned()), None),
        (None, None) if pages_use_token => {
            let token = tokens::random_url_safe(24);
            (Some(token.clone()), Some(token))
        }
        (None, None) => (None, None),
    };
    // Pages only ever post forms. Any other unsafe method on a page's path goes on to the
    // router, which answers 405 with `Allow` — and goes without the cookie session, so that
    // no handler could ever act for the member on a request no form of ours sends.
    let not_a_form = !is_api
        && !never_reads_cookies(path)
        && is_unsafe(request.method())
        && request.method() != Method::POST;
    let session = session.filter(|_| !not_a_form);
    // Only the JSON API takes bearer tokens, and a bearer call there never falls back to the
    // cookie session, so it needs no CSRF check. A web form acts on the cookie session
    // alone and is always checked, whatever other headers the request carries.
    let bearer_api = is_api && bearer(request.headers()).is_some();
    let needs_check = is_unsafe(request.method())
        && !not_a_form
        && !bearer_api
        && !never_reads_cookies(path)
        && (session.is_some() || !is_api);
    let mut request = request;
    if needs_check {
        // A check with no token to hold the request to refuses it.
        match check_csrf(web, request, csrf.as_deref()).await {
            Ok(checked) => request = checked,
            Err(response) => return response,
        }
    }
    // Anything answered to a signed-in caller, and everything the JSON API answers, may be
    // private: no cache may keep it.
    let private = session.is_some() || is_api || bearer(request.headers()).is_some();
    request.extensions_mut().insert(BrowserSession(session));
    if let Some(csrf) = csrf {
        request.extensions_mut().insert(CsrfToken(csrf));
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if private && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if web.secure_cookies {
        // Served over https: browsers should never try plain http again.
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if let Some(token) = new_csrf_cookie {
        append_cookie(&mut response, csrf_cookie(web, token));
    }
    if stale_cookie {
        append_cookie(&mut response, removal_cookie(web, web.session_cookie));
    }
    response
}

/// Endpoints that authenticate only by what the request itself carries (client credentials,
/// bearer tokens), so a forged cross-site request gains nothing from the browser's cookies.
fn never_reads_cookies(path: &str) -> bool {
    path.starts_with("/partner/")
        || path.starts_with("/.well-known/")
        || path.starts_with("/transparency/")
        || super::oauth::COOKIE_FREE_PATHS.contains(&path)
}

/// Checks the token (header, or `csrf` form field) and the `Origin` header; gives the
/// request back with its body intact.
async fn check_csrf(
    web: &WebSettings,
    request: Request,
    expected: Option<&str>,
) -> Result<Request, Response> {
    let is_api = request.uri().path().starts_with("/api/");
    let reject = || -> Response {
        if is_api {
            ApiError::CsrfRejected.into_response()
        } else {
            PageError::Csrf.into_response()
        }
    };
    // Defence in depth beside the token: a browser's Origin, when sent, must be ours
    // ("null" comes from privacy-preserving contexts and is left to the token check).
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && origin.as_bytes() != web.origin().as_bytes()
        && origin.as_bytes() != b"null"
    {
        return Err(reject());
    }
    let Some(expected) = expected else {
        return Err(reject());
    };
    if let Some(header) = request.headers().get("x-csrf-token") {
        return if header.as_bytes() == expected.as_bytes() {
            Ok(request)
        } else {
            Err(reject())
        };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(reject());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, web.max_body_bytes)
        .await
        .map_err(|_| PageError::TooLarge.into_response())?;
    let presented = url::form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned());
    if presented.as_deref() != Some(expected) {
        return Err(reject());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn append_cookie(response: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = cookie.to_string().parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn base_cookie(web: &WebSettings, name: &'static str, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_http_only(true);
    cookie.set_path("/");
    cookie.set_secure(web.secure_cookies);
    cookie
}

fn csrf_cookie(web: &WebSettings, token: String) -> Cookie<'static> {
    let mut cookie = base_cookie(web, web.csrf_cookie, token);
    cookie.set_same_site(SameSite::Strict);
    cookie
}

/// The session cookie: HttpOnly, SameSite=Lax, Secure and `__Host-` on https, expiring
/// with the session's absolute lifetime.
pub fn session_cookie(web: &WebSettings, secret: String, max_age_secs: i64) -> Cookie<'static> {
    let mut cookie = base_cookie(web, web.session_cookie, secret);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(time::Duration::seconds(max_age_secs));
    cookie
}

pub fn removal_cookie(web: &WebSettings, name: &'static str) -> Cookie<'static> {
    let mut cookie = base_cookie(web, name, String::new());
    cookie.set_max_age(time::Duration::ZERO);
    cookie
}

/// A logged-in member on a web page; anyone else is sent to the log-in page.
pub struct CurrentMember(pub Session);

impl CurrentMember {
    pub fn member(&self) -> &Member {
        &self.0.member
    }
}

impl FromRequestParts<AppState> for CurrentMember {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<BrowserSession>() {
            Some(BrowserSession(Some(session))) => Ok(CurrentMember(session.clone())),
            _ => Err(PageError::LoginRequired {
                next: parts.uri.path().to_owned(),
            }),
        }
    }
}

/// The caller of a JSON API endpoint: a bearer token, or the browser session cookie.
#[derive(Clone)]
pub struct ApiCaller(pub Session);

impl ApiCaller {
    pub fn member(&self) -> &Member {
        &self.0.member
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(&parts.headers) {
            return state
                .app
                .session(token, SessionKind::Api)
                .await
                .map(ApiCaller)
                .map_err(|_| ApiError::Unauthenticated);
        }
        match parts.extensions.get::<BrowserSession>() {
            Some(BrowserSession(Some(session))) => Ok(ApiCaller(session.clone())),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}

/// The optional browser session, for pages that work either way.
impl<S: Send + Sync> FromRequestParts<S> for BrowserSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<BrowserSession>()
            .cloned()
            .unwrap_or(BrowserSession(None)))
    }
}

impl FromRequestParts<AppState> for CsrfToken {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}
