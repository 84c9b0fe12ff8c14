//! `/settings/access-log`: the member's access log as a timeline, filtered by app, with the
//! download and the signed checkpoint to verify it with.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use confidant_core::Timestamp;
use confidant_core::store::{LogQuery, day_of};

use super::{Page, PageError, render, when};
use crate::http::session::{CsrfToken, CurrentMember};
use crate::state::AppState;

struct AppOption {
    client_id: String,
    name: String,
    selected: bool,
}

struct EntryRow {
    seq: u64,
    /// The oldest entry folded into this row, when it stands for a run of repeats.
    first_seq: u64,
    /// How many accesses the row stands for: repeats in a row, and the tally of an entry
    /// about you that same-day repeats were folded into.
    count: u64,
    /// "today" or "that day", for the count.
    day_word: &'static str,
    /// The day and what happened, which consecutive rows must share to be grouped.
    group: (i64, String, String, &'static str, Option<String>),
    when: String,
    iso: String,
    text: String,
    outcome: &'static str,
    action: String,
    scope: Option<String>,
    request_id: String,
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    page: Page,
    handle: String,
    apps: Vec<AppOption>,
    entries: Vec<EntryRow>,
    filtered: bool,
    /// The `app` query parameter to keep on links, if filtering.
    app_query: Option<String>,
    next_before: Option<u64>,
    public_key: String,
    /// The name of the member's log in its checkpoints, which the page's check compares.
    origin: String,
    checkpoint: String,
    /// The witnesses' verifier keys, and how many must have cosigned.
    witnesses: Vec<String>,
    witness_quorum: u32,
}

#[derive(Deserialize)]
pub struct Params {
    app: Option<String>,
    before: Option<u64>,
}

/// `GET /settings/access-log`.
pub async fn page(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let me = current.0.member;
    let app = params.app.filter(|app| !app.is_empty());
    let log = state
        .app
        .access_log(
            me.id,
            LogQuery {
                app: app.clone(),
                before: params.before,
                limit: confidant_core::accesslog::DEFAULT_PAGE,
            },
        )
        .await?;
    let apps = state
        .app
        .access_log_apps(me.id)
        .await?
        .into_iter()
        .map(|(client_id, name)| AppOption {
            selected: app.as_deref() == Some(client_id.as_str()),
            client_id,
            name,
        })
        .collect();
    // Repeats of the same access on the same day read as one line with a count.
    let today = day_of(state.app.clock().now());
    let mut entries: Vec<EntryRow> = Vec::new();
    for described in log.entries {
        let entry = described.entry;
        let group = (
            day_of(Timestamp(entry.at_ms)),
            entry.app.clone(),
            entry.action.clone(),
            entry.outcome.as_str(),
            entry.reason.clone(),
        );
        if let Some(last) = entries.last_mut().filter(|last| last.group == group) {
            last.count += described.count;
            last.first_seq = entry.seq;
            continue;
        }
        let (when, iso) = when(Timestamp(entry.at_ms));
        entries.push(EntryRow {
            seq: entry.seq,
            first_seq: entry.seq,
            count: described.count,
            day_word: if group.0 == today {
                "today"
            } else {
                "that day"
            },
            group,
            when,
            iso,
            text: described.text,
            outcome: entry.outcome.as_str(),
            action: entry.action,
            scope: entry.scope,
            request_id: entry.request_id,
        });
    }
    let checkpoint = state.app.log_checkpoint(me.id).await?;
    let origin = state.app.log_origin(me.id);
    render(
        StatusCode::OK,
        &AccessLogPage {
            handle: me.handle.clone(),
            page: Page::member(&state, "Access log", me, csrf).await?,
            apps,
            entries,
            filtered: app.is_some(),
            app_query: app
                .map(|app| url::form_urlencoded::byte_serialize(app.as_bytes()).collect()),
            next_before: log.next_before,
            public_key: state.app.log_public_key().to_owned(),
            origin,
            checkpoint,
            witnesses: state.web.witnesses.clone(),
            witness_quorum: state.app.witness_quorum(),
        },
    )
}
