//! Streamflix's pages: the catalogue, sign-in, connecting Confidant, sharing a title (through
//! the partner API, through Confidant's send dialog, or as a copied link), the reports page,
//! and the webhook Confidant calls.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalogue::{Catalogue, Title, poster};
use crate::confidant::{CallError, Confidant, Friend};
use crate::store::{Connection, PendingConnection, Store};

const SESSION_COOKIE: &str = "streamflix_session";
/// The experiment Streamflix runs on its share button; declared to Confidant as variations.
pub const VARIATIONS: [&str; 2] = ["control", "big_button"];
/// Where on the page a share starts; declared to Confidant as initiation surfaces.
pub const SURFACES: [&str; 2] = ["title_page", "player_end"];

#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub confidant: Arc<Confidant>,
    pub catalogue: Arc<Catalogue>,
    /// Where Streamflix is reached, e.g. `http://127.0.0.1:8090`.
    pub public_url: String,
    /// Checks Confidant's webhook signatures (`whsec_…`), if Streamflix registered a webhook.
    pub webhook_secret: Option<String>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(log_in))
        .route("/logout", post(log_out))
        .route("/title/{id}", get(title_page))
        .route("/title/{id}/share", post(share))
        .route("/title/{id}/copy", post(copy_link))
        .route("/poster/{file}", get(poster_svg))
        .route("/connect", post(connect))
        .route("/callback", get(callback))
        .route("/shared", get(shared))
        .route("/reports", get(reports))
        .route("/account", get(account))
        .route("/webhooks/confidant", post(webhook))
        .with_state(app)
}

/// The signed-in user and their session's CSRF token.
struct User {
    name: String,
    csrf: String,
}

impl App {
    async fn user(&self, jar: &CookieJar) -> Option<User> {
        let token = jar.get(SESSION_COOKIE)?.value().to_owned();
        let (name, csrf) = self.store.session(&token).await.ok()??;
        Some(User { name, csrf })
    }

    fn title_url(&self, id: &str) -> String {
        format!("{}/title/{id}", self.public_url)
    }

    fn card(&self, title: &Title, surface: &str, variation: &str) -> Value {
        json!({
            "title": title.title,
            // No "url": Confidant builds the link from the item-URL template registered for
            // Streamflix (`…/title/{item_id}?via=confidant`), the same for every recipient.
            "image_url": format!("{}/poster/{}.svg", self.public_url, title.id),
            "description": title.synopsis,
            "item_id": title.id,
            "interface": "web",
            "initiation_surface": surface,
            "variation": variation,
        })
    }

    /// Calls Confidant with the user's access token, refreshing it once if refused. When the
    /// refresh is refused too, Streamflix has been disconnected: it forgets the connection.
    /// The conversations the user shared with Streamflix on Confidant and their newest
    /// messages; nothing if they shared none (or Confidant cannot be reached).
    async fn discussions(&self, user: &str) -> Vec<Discussion> {
        let confidant = self.confidant.clone();
        let listed = self
            .with_token(user, |token| {
                let confidant = confidant.clone();
                async move {
                    let mut discussions = Vec::new();
                    for thread in confidant.threads(&token).await? {
                        let id = thread["id"].as_str().unwrap_or_default();
                        let messages = confidant
                            .thread_messages(&token, id)
                            .await?
                            .iter()
                            .map(|m| {
                                let who = m["from"].as_str().unwrap_or("someone who left");
                                (who.to_owned(), m["body"].as_str().unwrap_or("").to_owned())
                            })
                            .collect();
                        discussions.push(Discussion {
                            title: thread["title"]
                                .as_str()
                                .unwrap_or("a conversation")
                                .to_owned(),
                            messages,
                        });
                    }
                    Ok(discussions)
                }
            })
            .await;
        listed.unwrap_or_else(|error| {
            tracing::warn!(%error, "could not read the shared conversations");
            Vec::new()
        })
    }

    async fn with_token<T, F, Fut>(&self, user: &str, call: F) -> Result<T, CallError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let Some(connection) = self.store.connection(user).await.ok().flatten() else {
            return Err(CallError::Unauthorized);
        };
        match call(connection.access_token.clone()).await {
            Err(CallError::Unauthorized) => {}
            other => return other,
        }
        let refreshed = match &connection.refresh_token {
            Some(refresh) => self.confidant.refresh(refresh).await,
            None => Err(CallError::Unauthorized),
        };
        let Ok(tokens) = refreshed else {
            tracing::info!(user, "Confidant refused the connection; it is gone");
            let why = "Confidant refused its tokens";
            let _ = self.store.forget_connection(user, &now(), why).await;
            return Err(CallError::Unauthorized);
        };
        let _ = self
            .store
            .save_connection(&Connection {
                access_token: tokens.access.clone(),
                refresh_token: tokens.refresh.or(connection.refresh_token),
                ..connection
            })
            .await;
        call(tokens.access).await
    }
}

/// The A/B arm of a user: stable, half and half.
fn variation_of(user: &str) -> &'static str {
    VARIATIONS[usize::from(Sha256::digest(user.as_bytes())[0] % 2)]
}

pub fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn random_token() -> String {
    use base64::Engine;
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn page(template: impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn refused(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!("<p>{message}</p><p><a href=\"/\">Back</a></p>")),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    user: Option<String>,
    titles: &'a [Title],
}

async fn home(State(app): State<App>, jar: CookieJar) -> Response {
    let user = app.user(&jar).await.map(|u| u.name);
    page(HomePage {
        user,
        titles: &app.catalogue.titles,
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    user: Option<String>,
    error: Option<String>,
    next: String,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(Query(query): Query<NextQuery>) -> Response {
    page(LoginPage {
        user: None,
        error: None,
        next: query.next.unwrap_or_else(|| "/".into()),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Signs in, creating the account on first use: Streamflix's own, simple accounts.
async fn log_in(State(app): State<App>, jar: CookieJar, Form(form): Form<LoginForm>) -> Response {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    let name = form.name.trim().to_lowercase();
    let again = |error: &str| {
        page(LoginPage {
            user: None,
            error: Some(error.to_owned()),
            next: form.next.clone(),
        })
    };
    if name.is_empty() || name.len() > 32 || form.password.len() < 8 {
        return again("Give a name and a password of at least 8 characters.");
    }
    let argon2 = argon2::Argon2::default();
    match app.store.password_hash(&name).await {
        Ok(Some(hash)) => {
            let matches = PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2
                        .verify_password(form.password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false);
            if !matches {
                return again("Wrong password.");
            }
        }
        Ok(None) => {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let Ok(hash) = argon2.hash_password(form.password.as_bytes(), &salt) else {
                return again("Could not create the account.");
            };
            if app
                .store
                .create_user(&name, &hash.to_string())
                .await
                .is_err()
            {
                return again("Could not create the account.");
            }
        }
        Err(_) => return again("Something went wrong; try again."),
    }
    let token = random_token();
    if app
        .store
        .create_session(&token, &name, &random_token())
        .await
        .is_err()
    {
        return again("Something went wrong; try again.");
    }
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .build();
    (jar.add(cookie), Redirect::to(&local_path(&form.next))).into_response()
}

async fn log_out(State(app): State<App>, jar: CookieJar) -> Response {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        let _ = app.store.delete_session(cookie.value()).await;
    }
    (jar.remove(Cookie::from(SESSION_COOKIE)), Redirect::to("/")).into_response()
}

#[derive(Template)]
#[template(path = "title.html")]
struct TitlePage<'a> {
    user: Option<String>,
    csrf: String,
    title: &'a Title,
    /// Whether the user reached this page from a recommendation.
    from_confidant: bool,
    connected: bool,
    /// Why Streamflix is no longer connected, if it was.
    reconnect: bool,
    friends: Vec<Friend>,
    variation: &'static str,
    /// The two places on the page a share can start from.
    placements: Vec<Placement>,
    /// Conversations the member let Streamflix read, with their newest messages.
    discussions: Vec<Discussion>,
    notice: Option<String>,
    error: Option<String>,
    copied_link: Option<String>,
}

struct Discussion {
    title: String,
    /// (who, what), newest first.
    messages: Vec<(String, String)>,
}

struct Placement {
    surface: &'static str,
    heading: &'static str,
    /// Confidant's send dialog for this title, from here.
    dialog_url: String,
}

#[derive(Deserialize, Default)]
struct TitleQuery {
    via: Option<String>,
    notice: Option<String>,
    /// How many friends the share that redirected here reached.
    shared: Option<usize>,
}

async fn title_page(
    State(app): State<App>,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(query): Query<TitleQuery>,
) -> Response {
    let notice = match query.shared {
        Some(friends) => Some(format!("Sent to {friends} friend(s) through Confidant.")),
        None => query.notice,
    };
    show_title(&app, &jar, &id, query.via.is_some(), notice, None, None).await
}

async fn show_title(
    app: &App,
    jar: &CookieJar,
    id: &str,
    from_confidant: bool,
    notice: Option<String>,
    error: Option<String>,
    copied_link: Option<String>,
) -> Response {
    let Some(title) = app.catalogue.get(id) else {
        return refused(StatusCode::NOT_FOUND, "No such title.");
    };
    let user = app.user(jar).await;
    let (mut connected, mut reconnect, mut friends) = (false, false, Vec::new());
    let mut discussions = Vec::new();
    let mut variation = VARIATIONS[0];
    let mut placements = Vec::new();
    if let Some(user) = &user {
        variation = variation_of(&user.name);
        reconnect = app
            .store
            .was_disconnected(&user.name)
            .await
            .unwrap_or(false);
        if app
            .store
            .connection(&user.name)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            let confidant = app.confidant.clone();
            match app
                .with_token(&user.name, |token| {
                    let confidant = confidant.clone();
                    async move { confidant.friends(&token).await }
                })
                .await
            {
                Ok(list) => {
                    connected = true;
                    friends = list;
                    discussions = app.discussions(&user.name).await;
                }
                Err(CallError::Unauthorized) => reconnect = true,
                Err(CallError::Failed(why)) => {
                    connected = true;
                    tracing::warn!(%why, "could not list friends");
                }
            }
        }
        for (surface, heading) in SURFACES
            .into_iter()
            .zip(["Share with friends", "Watched it? Tell your friends"])
        {
            let card = app.card(title, surface, variation);
            let back = format!("{}/shared", app.public_url);
            let state = format!("{}:{surface}", title.id);
            placements.push(Placement {
                surface,
                heading,
                dialog_url: app.confidant.share_dialog_url(&back, &state, &card),
            });
        }
    }
    page(TitlePage {
        csrf: user.as_ref().map(|u| u.csrf.clone()).unwrap_or_default(),
        user: user.map(|u| u.name),
        title,
        from_confidant,
        connected,
        reconnect,
        friends,
        variation,
        placements,
        discussions,
        notice,
        error,
        copied_link,
    })
}

#[derive(Deserialize)]
struct ShareForm {
    csrf: String,
    surface: String,
    #[serde(default)]
    friend: Vec<String>,
}

/// Sends the title to the chosen friends as a recommendation card.
async fn share(
    State(app): State<App>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<ShareForm>,
) -> Response {
    let Some(user) = app.user(&jar).await else {
        return Redirect::to(&format!("/login?next=/title/{id}")).into_response();
    };
    if form.csrf != user.csrf {
        return refused(
            StatusCode::FORBIDDEN,
            "This form has expired; reload the page.",
        );
    }
    let Some(title) = app.catalogue.get(&id) else {
        return refused(StatusCode::NOT_FOUND, "No such title.");
    };
    if !SURFACES.contains(&form.surface.as_str()) || form.friend.is_empty() {
        return show_title(
            &app,
            &jar,
            &id,
            false,
            None,
            Some("Pick at least one friend.".into()),
            None,
        )
        .await;
    }
    let card = app.card(title, &form.surface, variation_of(&user.name));
    let confidant = app.confidant.clone();
    let to = form.friend.clone();
    let sent = app
        .with_token(&user.name, |token| {
            let (confidant, to, card) = (confidant.clone(), to.clone(), card.clone());
            async move { confidant.send(&token, &to, card).await }
        })
        .await;
    match sent {
        Ok(_) => {
            let _ = app
                .store
                .record_share(&user.name, &id, form.friend.len(), &now())
                .await;
            // Post/redirect/get: reloading the page that says it was sent does not send again.
            Redirect::to(&format!("/title/{id}?shared={}", form.friend.len())).into_response()
        }
        Err(error) => show_title(&app, &jar, &id, false, None, Some(error.to_string()), None).await,
    }
}

#[derive(Deserialize)]
struct CopyForm {
    csrf: String,
    surface: String,
}

/// "Copy link": shared off-platform. Streamflix counts it and reports the day's counts to
/// Confidant once the day is over.
async fn copy_link(
    State(app): State<App>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<CopyForm>,
) -> Response {
    let Some(user) = app.user(&jar).await else {
        return Redirect::to(&format!("/login?next=/title/{id}")).into_response();
    };
    if form.csrf != user.csrf || !SURFACES.contains(&form.surface.as_str()) {
        return refused(
            StatusCode::FORBIDDEN,
            "This form has expired; reload the page.",
        );
    }
    if app.catalogue.get(&id).is_none() {
        return refused(StatusCode::NOT_FOUND, "No such title.");
    }
    let _ = app
        .store
        .count_copy(&today(), &form.surface, variation_of(&user.name))
        .await;
    let link = app.title_url(&id);
    show_title(&app, &jar, &id, false, None, None, Some(link)).await
}

async fn poster_svg(State(app): State<App>, Path(file): Path<String>) -> Response {
    let id = file.trim_end_matches(".svg");
    match app.catalogue.get(id) {
        Some(title) => ([(header::CONTENT_TYPE, "image/svg+xml")], poster(title)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
    #[serde(default)]
    next: String,
    /// Also ask to read conversations the member picks ("discuss in a group").
    threads: Option<String>,
}

/// Starts connecting Confidant: the authorization code flow with PKCE.
async fn connect(State(app): State<App>, jar: CookieJar, Form(form): Form<CsrfForm>) -> Response {
    let Some(user) = app.user(&jar).await else {
        return Redirect::to("/login").into_response();
    };
    if form.csrf != user.csrf {
        return refused(
            StatusCode::FORBIDDEN,
            "This form has expired; reload the page.",
        );
    }
    let (url, state, verifier) = app.confidant.authorize_url(form.threads.is_some());
    let pending = PendingConnection {
        user_name: user.name.clone(),
        verifier,
        return_to: local_path(&form.next),
    };
    if app.store.start_connecting(&state, &pending).await.is_err() {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not start connecting.",
        );
    }
    Redirect::to(&url).into_response()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(app): State<App>,
    jar: CookieJar,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(user) = app.user(&jar).await else {
        return Redirect::to("/login").into_response();
    };
    let state = query.state.unwrap_or_default();
    let pending = app.store.take_pending(&state).await.ok().flatten();
    let Some(PendingConnection {
        user_name: owner,
        verifier,
        return_to: back,
    }) = pending
    else {
        return refused(
            StatusCode::BAD_REQUEST,
            "This connection attempt is unknown or was used already.",
        );
    };
    if owner != user.name {
        return refused(
            StatusCode::BAD_REQUEST,
            "This connection attempt belongs to someone else.",
        );
    }
    if let Some(error) = query.error {
        let message = if error == "access_denied" {
            "You did not connect Confidant."
        } else {
            "Confidant did not connect."
        };
        return Redirect::to(&format!("{back}?notice={}", urlencode(message))).into_response();
    }
    let Some(code) = query.code else {
        return refused(StatusCode::BAD_REQUEST, "Confidant sent no code.");
    };
    let tokens = match app.confidant.exchange(&code, &verifier).await {
        Ok(tokens) => tokens,
        Err(error) => return refused(StatusCode::BAD_GATEWAY, &error.to_string()),
    };
    let me = match app.confidant.me(&tokens.access).await {
        Ok(me) => me,
        Err(error) => return refused(StatusCode::BAD_GATEWAY, &error.to_string()),
    };
    let saved = app
        .store
        .save_connection(&Connection {
            user_name: user.name.clone(),
            member_id: me.id,
            access_token: tokens.access,
            refresh_token: tokens.refresh,
        })
        .await;
    if saved.is_err() {
        return refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not save the connection.",
        );
    }
    let notice = format!("Connected to Confidant as {}.", me.display_name);
    Redirect::to(&format!("{back}?notice={}", urlencode(&notice))).into_response()
}

/// `path` if it stays on this site (`/…` but not `//host…`), else `/`: never an open redirect.
fn local_path(path: &str) -> String {
    if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") {
        path.to_owned()
    } else {
        "/".into()
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[derive(Deserialize)]
struct SharedQuery {
    result: Option<String>,
    state: Option<String>,
}

/// Back from Confidant's send dialog: only `shared` or `cancelled` is known, never to whom.
async fn shared(Query(query): Query<SharedQuery>) -> Response {
    let title = query
        .state
        .as_deref()
        .and_then(|s| s.split(':').next())
        .unwrap_or("");
    let notice = match query.result.as_deref() {
        Some("shared") => "Shared through Confidant.",
        _ => "Not shared.",
    };
    Redirect::to(&format!("/title/{title}?notice={}", urlencode(notice))).into_response()
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    user: Option<String>,
    /// Every release: (id, "from – to", mechanism), newest first.
    releases: Vec<(String, String, String)>,
    report: Option<ReportView>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ReportQuery {
    /// The release to show; the newest when absent.
    id: Option<String>,
}

struct ReportView {
    id: String,
    from: String,
    to: String,
    self_test: bool,
    notice: String,
    privacy: String,
    /// Rows with anything in them.
    rows: Vec<Value>,
    /// (interface, sends, clicks) over the period, through Confidant.
    by_interface: Vec<(String, i64, i64, u32, u32)>,
    /// How far a total may be from the true count, when there is noise.
    interval: Option<String>,
}

fn number(value: &Value) -> String {
    value.as_i64().map_or_else(|| "–".into(), |n| n.to_string())
}

/// Every report Confidant released for Streamflix, and one of them (the newest unless
/// picked) as a table and bars.
async fn reports(
    State(app): State<App>,
    jar: CookieJar,
    Query(query): Query<ReportQuery>,
) -> Response {
    let user = app.user(&jar).await.map(|u| u.name);
    let listed = app.confidant.reports().await;
    let releases: Vec<(String, String, String)> = listed
        .as_ref()
        .map(|list| {
            list.iter()
                .map(|r| {
                    let text = |key: &str| r[key].as_str().unwrap_or("").to_owned();
                    (
                        text("id"),
                        format!("{} – {}", text("from"), text("to")),
                        text("mechanism").replace('_', " "),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let chosen = query
        .id
        .filter(|id| releases.iter().any(|(listed, ..)| listed == id))
        .or_else(|| releases.first().map(|(id, ..)| id.clone()));
    let (report, error) = match (listed, chosen) {
        (Err(error), _) => (None, Some(error.to_string())),
        (Ok(_), None) => (None, None),
        (Ok(_), Some(id)) => match app.confidant.report(&id).await {
            Ok(report) => (Some(report_view(&report)), None),
            Err(error) => (None, Some(error.to_string())),
        },
    };
    page(ReportsPage {
        user,
        releases,
        report,
        error,
    })
}

fn report_view(report: &Value) -> ReportView {
    let empty = vec![];
    let rows = report["rows"].as_array().unwrap_or(&empty);
    let mut by_interface: Vec<(String, i64, i64, u32, u32)> = Vec::new();
    for row in rows.iter().filter(|r| r["channel"] == "confidant") {
        let interface = row["interface"].as_str().unwrap_or("").to_owned();
        let (sends, clicks) = (
            row["sends"].as_i64().unwrap_or(0),
            row["clicks"].as_i64().unwrap_or(0),
        );
        match by_interface.iter_mut().find(|(i, ..)| *i == interface) {
            Some(entry) => {
                entry.1 += sends;
                entry.2 += clicks;
            }
            None => by_interface.push((interface, sends, clicks, 0, 0)),
        }
    }
    let top = by_interface
        .iter()
        .map(|(_, s, c, ..)| (*s).max(*c))
        .max()
        .unwrap_or(0)
        .max(1);
    for entry in &mut by_interface {
        entry.3 = (entry.1.max(0) * 100 / top) as u32;
        entry.4 = (entry.2.max(0) * 100 / top) as u32;
    }
    let nonzero = |v: &Value| v.as_i64().is_some_and(|n| n != 0);
    let privacy = &report["privacy"];
    // Every interface's total sums the same number of noisy cells; its 95 % interval is
    // 1.96 σ √n for the discrete Gaussian (the normal approximation, 1.96 b √(2n), for the
    // discrete Laplace of scale b).
    let scale = privacy["scale"].as_f64().unwrap_or(0.0);
    let cells =
        rows.iter().filter(|r| r["channel"] == "confidant").count() / by_interface.len().max(1);
    let spread = match privacy["mechanism"].as_str() {
        Some("discrete_laplace") => (2.0 * cells as f64).sqrt(),
        _ => (cells as f64).sqrt(),
    };
    let half = (1.96 * scale * spread).round() as i64;
    ReportView {
        interval: (half > 0).then(|| {
            format!("Each total is within ± {half} of the true count with 95 % probability.")
        }),
        id: report["id"].as_str().unwrap_or("").into(),
        from: report["from"].as_str().unwrap_or("").into(),
        to: report["to"].as_str().unwrap_or("").into(),
        self_test: report["self_test"] == true,
        notice: report["notice"].as_str().unwrap_or("").into(),
        privacy: format!(
            "{} noise, scale {:.1}, ρ = {:.2}",
            privacy["mechanism"].as_str().unwrap_or("?"),
            privacy["scale"].as_f64().unwrap_or(0.0),
            privacy["rho"].as_f64().unwrap_or(0.0)
        ),
        rows: rows
            .iter()
            .filter(|r| {
                ["sends", "clicks", "reported_sends", "reported_clicks"]
                    .iter()
                    .any(|k| nonzero(&r[*k]))
            })
            .cloned()
            .collect(),
        by_interface,
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    user: Option<String>,
    csrf: String,
    connected_as: Option<String>,
    deletions: Vec<crate::store::Deletion>,
}

async fn account(State(app): State<App>, jar: CookieJar) -> Response {
    let Some(user) = app.user(&jar).await else {
        return Redirect::to("/login?next=/account").into_response();
    };
    let connection = app.store.connection(&user.name).await.ok().flatten();
    page(AccountPage {
        connected_as: connection.map(|c| c.member_id),
        deletions: app.store.deletions_of(&user.name).await.unwrap_or_default(),
        csrf: user.csrf,
        user: Some(user.name),
    })
}

/// Confidant's webhooks, checked with the Standard Webhooks signature: `grant.revoked` makes
/// Streamflix delete what it holds about that member; `report.ready` brings a report.
async fn webhook(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &app.webhook_secret else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let verified =
        standardwebhooks::Webhook::new(secret).and_then(|hook| hook.verify(&body, &headers));
    if let Err(error) = verified {
        tracing::warn!(?error, "refused a webhook with a bad signature");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match event["type"].as_str() {
        Some("grant.revoked") => {
            let member = event["data"]["member_id"].as_str().unwrap_or("");
            let why = "Confidant said the member disconnected";
            let forgotten = match app.store.user_of_member(member).await {
                Ok(Some(user)) => app.store.forget_connection(&user, &now(), why).await,
                Ok(None) => Ok(false),
                Err(error) => Err(error),
            };
            match forgotten {
                Ok(true) => tracing::info!(member, "deleted the member's connection and shares"),
                Ok(false) => tracing::info!(member, "nothing held about this member any more"),
                Err(error) => {
                    tracing::error!(%error, "could not delete a member's data");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            }
        }
        Some("report.ready") => {
            let id = event["data"]["report_id"].as_str().unwrap_or("");
            let report = event["data"]["report"].to_string();
            if app
                .store
                .save_delivered_report(id, &report, &now())
                .await
                .is_err()
            {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            tracing::info!(report = id, "received a report from Confidant");
        }
        _ => {}
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_the_site() {
        assert_eq!(local_path("/title/summit"), "/title/summit");
        for away in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example",
            "",
        ] {
            assert_eq!(local_path(away), "/", "{away}");
        }
    }
}
