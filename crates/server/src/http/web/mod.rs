//! The server-rendered web UI. Every page works without JavaScript; `static/app.js` adds
//! live updates, and sends, edits and deletes messages without reloading the page.

mod accesslog;
mod admin;
mod admin_members;
mod admin_reports;
mod apps;
mod assets;
mod auth;
mod conversation;
mod docs;
mod friends;
mod images;
mod inbox;
mod links;
mod search;
mod settings;
mod share;
mod timeline;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use confidant_core::messaging::Waiting;
use confidant_core::store::Member;
use confidant_core::{Error, Timestamp};

use super::error::status_of;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(inbox::home))
        .route("/signup", get(auth::signup_form).post(auth::sign_up))
        .route("/login", get(auth::login_form).post(auth::log_in))
        .route("/logout", post(auth::log_out))
        .route("/groups", post(inbox::create_group))
        .route("/c/{id}", get(conversation::show))
        .route("/c/{id}/messages", post(conversation::send))
        .route(
            "/c/{id}/messages/{message_id}/edit",
            post(conversation::edit),
        )
        .route(
            "/c/{id}/messages/{message_id}/delete",
            post(conversation::delete),
        )
        .route(
            "/c/{id}/messages/{message_id}/hide",
            post(conversation::hide),
        )
        .route("/search", get(search::page))
        .route("/c/{id}/rename", post(conversation::rename))
        .route("/c/{id}/add", post(conversation::add))
        .route("/c/{id}/leave", post(conversation::leave))
        .route("/friends", get(friends::page))
        .route("/friends/request", post(friends::request))
        .route("/friends/{id}/{action}", post(friends::act))
        .route("/settings", get(settings::page))
        .route("/settings/profile", post(settings::profile))
        .route("/settings/password", post(settings::password))
        .route("/settings/delete", post(settings::delete))
        .route("/settings/apps", get(apps::connected))
        .route("/settings/access-log", get(accesslog::page))
        .route(
            "/settings/muted-apps/{client_id}/{action}",
            post(apps::mute),
        )
        .route("/settings/clicks", post(apps::clicks))
        .route(
            "/settings/apps/{client_id}/disconnect",
            post(apps::disconnect),
        )
        .route(
            "/settings/apps/{client_id}/threads/{conversation_id}/drop",
            post(apps::drop_thread),
        )
        .route("/apps", get(apps::registry))
        .route("/share", get(share::dialog).post(share::decide))
        .route("/r/{token}", get(links::follow))
        .route("/img/{token}", get(images::card_image))
        .route("/admin/apps", get(admin::page).post(admin::create))
        .route(
            "/admin/apps/{client_id}/item-url-template",
            post(admin::set_item_url_template),
        )
        .route(
            "/admin/apps/{client_id}",
            get(admin::show).post(admin::update),
        )
        .route(
            "/admin/apps/{client_id}/rotate-secret",
            post(admin::rotate_secret),
        )
        .route("/admin/apps/{client_id}/delete", post(admin::delete))
        .route("/admin/apps/{client_id}/{action}", post(admin::act))
        .route("/admin/members", get(admin_members::page))
        .route("/admin/members/{handle}/{action}", post(admin_members::act))
        .route(
            "/admin/reports",
            get(admin_reports::page).post(admin_reports::release),
        )
        .route("/admin/reports/{id}", get(admin_reports::show))
        .route("/docs", get(docs::page))
        .route("/static/{file}", get(assets::serve))
        .route("/sw.js", get(assets::service_worker))
}

/// What the layout needs on every page.
pub struct Page {
    pub title: String,
    pub me: Option<Member>,
    pub csrf: String,
    pub notice: Option<String>,
    /// For live pages: the member's event feed position when the page was read, so the
    /// event stream resumes exactly there and nothing between render and connect is missed.
    pub feed: Option<i64>,
    /// Unread messages and friend requests, beside the navigation and in the tab's title.
    pub waiting: Waiting,
}

impl Page {
    pub fn new(title: impl Into<String>, me: Option<Member>, csrf: String) -> Self {
        Self {
            title: title.into(),
            me,
            csrf,
            notice: None,
            feed: None,
            waiting: Waiting::default(),
        }
    }

    /// A page for a signed-in member, with what they have waiting.
    pub async fn member(
        state: &AppState,
        title: impl Into<String>,
        me: Member,
        csrf: String,
    ) -> Result<Self, Error> {
        let waiting = state.app.waiting(me.id).await?;
        let mut page = Self::new(title, Some(me), csrf);
        page.waiting = waiting;
        Ok(page)
    }

    /// A live page: reads the feed position first, so everything after it gets streamed.
    pub async fn live(
        state: &AppState,
        title: impl Into<String>,
        me: Member,
        csrf: String,
    ) -> Result<Self, Error> {
        let id = me.id;
        let mut page = Self::streamed(state, title, me, csrf).await?;
        page.waiting = state.app.waiting(id).await?;
        Ok(page)
    }

    /// A live page whose caller reads what is waiting itself, after this, from what it reads
    /// anyway (the inbox, from the conversations it lists).
    pub async fn streamed(
        state: &AppState,
        title: impl Into<String>,
        me: Member,
        csrf: String,
    ) -> Result<Self, Error> {
        let feed = state.app.feed_head(me.id).await?;
        let mut page = Self::new(title, Some(me), csrf);
        page.feed = Some(feed);
        Ok(page)
    }

    /// The tab's title: "(3) Inbox", with the unread count first.
    pub fn tab_title(&self) -> String {
        match self.waiting.unread {
            0 => self.title.clone(),
            n => format!("({n}) {}", self.title),
        }
    }
}

/// Errors shown beside form fields; `form` is for errors about the whole form.
#[derive(Debug, Default)]
pub struct FormErrors(Vec<(&'static str, String)>);

impl FormErrors {
    pub fn one(field: &'static str, message: impl Into<String>) -> Self {
        Self(vec![(field, message.into())])
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }

    /// Turns a use-case error about the input into a field error; anything else (not
    /// found, a database failure) is handed back to be shown as a page error.
    pub fn from_error(error: Error) -> Result<(StatusCode, Self), PageError> {
        let status = status_of(&error);
        match error {
            Error::Invalid { field, message, .. } => Ok((status, Self(vec![(field, message)]))),
            Error::Conflict { field, message, .. } | Error::Forbidden { field, message, .. } => {
                Ok((status, Self(vec![(field.unwrap_or("form"), message)])))
            }
            Error::Unauthorized => Ok((
                status,
                Self(vec![("form", "Wrong handle or password.".to_owned())]),
            )),
            Error::Throttled { retry_after_secs } => Ok((
                status,
                Self(vec![(
                    "form",
                    format!(
                        "Too many failed attempts. Try again in {} minutes.",
                        retry_after_secs.div_ceil(60)
                    ),
                )]),
            )),
            other => Err(PageError::Core(other)),
        }
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    LoginRequired {
        next: String,
    },
    /// A malformed request that cannot be answered any better than by saying why.
    BadRequest(String),
    /// The page is for operators only.
    AdminOnly,
    Csrf,
    TooLarge,
    Core(Error),
    Render(askama::Error),
}

impl From<Error> for PageError {
    fn from(error: Error) -> Self {
        PageError::Core(error)
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        PageError::Render(error)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: Page,
    heading: &'a str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            PageError::LoginRequired { next } => {
                let target = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return Redirect::to(&target).into_response();
            }
            PageError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                "This request is not valid",
                message,
            ),
            PageError::AdminOnly => (
                StatusCode::FORBIDDEN,
                "Operators only",
                "This page is for the people who run this server.".to_owned(),
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Go back, reload the page and try again.".to_owned(),
            ),
            PageError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too much at once",
                "What you sent is larger than this server accepts.".to_owned(),
            ),
            PageError::Core(error) => {
                let status = status_of(&error);
                match status {
                    StatusCode::NOT_FOUND => (
                        status,
                        "Not found",
                        "There is nothing here, or it is not yours to see.".to_owned(),
                    ),
                    StatusCode::INTERNAL_SERVER_ERROR => {
                        tracing::error!(%error, "page failed");
                        (
                            status,
                            "Something went wrong",
                            "Please try again in a moment.".to_owned(),
                        )
                    }
                    _ => (status, "That did not work", error.to_string()),
                }
            }
            PageError::Render(error) => {
                tracing::error!(%error, "template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Please try again in a moment.".to_owned(),
                )
            }
        };
        error_page(status, heading, message)
    }
}

/// A page that says what went wrong, with `status`.
pub fn error_page(status: StatusCode, heading: &str, message: String) -> Response {
    let page = ErrorPage {
        page: Page::new(heading, None, String::new()),
        heading,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => status.into_response(),
    }
}

/// Renders a template with a status.
pub fn render(status: StatusCode, template: &impl Template) -> Result<Response, PageError> {
    Ok((status, Html(template.render()?)).into_response())
}

/// "2026-11-22 18:58 UTC" for people, and the ISO form for `<time datetime>`.
pub fn when(at: Timestamp) -> (String, String) {
    let Ok(time) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
    else {
        return (String::new(), String::new());
    };
    let human = time
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let iso = time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    (human, iso)
}

/// A redirect after a successful form post (303, so the browser follows with GET).
/// `input` as a path on this server to redirect to, or `None` if it could lead anywhere
/// else. It is parsed as a browser would resolve it against this origin — browsers drop tabs
/// and newlines and read `\\` as `/`, which turns `/\t/evil.example` into
/// `//evil.example` — and kept only if it stays on this origin and holds no control
/// characters or backslashes. The result is the normalised path, query and fragment, always
/// a valid `Location`.
pub fn local_path(input: &str) -> Option<String> {
    if !input.starts_with('/') || input.contains('\\') || input.chars().any(char::is_control) {
        return None;
    }
    let base = url::Url::parse("https://confidant.invalid/").ok()?;
    let resolved = base.join(input).ok()?;
    if resolved.origin() != base.origin() {
        return None;
    }
    let mut path = resolved.path().to_owned();
    if let Some(query) = resolved.query() {
        path.push('?');
        path.push_str(query);
    }
    if let Some(fragment) = resolved.fragment() {
        path.push('#');
        path.push_str(fragment);
    }
    // A path that starts `//` after normalising would be read as another host.
    (!path.starts_with("//")).then_some(path)
}

pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_origin_survive() {
        assert_eq!(local_path("/c/12").as_deref(), Some("/c/12"));
        assert_eq!(
            local_path("/oauth/authorize?client_id=a&redirect_uri=https%3A%2F%2Fx").as_deref(),
            Some("/oauth/authorize?client_id=a&redirect_uri=https%3A%2F%2Fx")
        );
        for hostile in [
            "//evil.example",
            "/\\evil.example",
            "/\\\\evil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/x\0",
            "https://evil.example/",
            "evil.example",
            "",
            "/\u{7f}",
            "/.//evil.example",
        ] {
            let kept = local_path(hostile);
            assert!(
                kept.as_deref()
                    .is_none_or(|p| p.starts_with('/') && !p.starts_with("//")),
                "{hostile:?} -> {kept:?}"
            );
        }
        assert_eq!(local_path("/\t/evil.example"), None);
        assert_eq!(local_path("/x\r\nSet-Cookie: a=b"), None);
        assert_eq!(local_path("/\\evil.example"), None);
    }
}
