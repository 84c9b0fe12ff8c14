//! `/admin/members`: operators list members, make and unmake operators, set a new password
//! for someone locked out, and suspend or reinstate accounts.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::MemberId;
use confidant_core::store::{Member, MemberStanding};

use super::admin::operator;
use super::{FormErrors, Page, PageError, render, see_other};
use crate::http::session::{CsrfToken, CurrentMember};
use crate::state::AppState;

/// Members per page.
const PAGE: i64 = 100;

#[derive(Template)]
#[template(path = "admin_members.html")]
struct AdminMembersPage {
    page: Page,
    members: Vec<Row>,
    /// The `after` of the next page, when there is one.
    next: Option<i64>,
    errors: FormErrors,
    notice: Option<String>,
}

struct Row {
    member: Member,
    /// When they were suspended, for people; `None` if they are not.
    suspended: Option<String>,
    joined: String,
}

impl From<MemberStanding> for Row {
    fn from(standing: MemberStanding) -> Self {
        Row {
            suspended: standing.suspended_at.map(|at| super::when(at).0),
            joined: super::when(standing.member.created_at).0,
            member: standing.member,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Cursor {
    after: Option<i64>,
}

async fn members_page(
    state: &AppState,
    me: Member,
    csrf: String,
    after: Option<i64>,
    view: (FormErrors, Option<String>),
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut standings = state
        .app
        .member_standings(after.map(MemberId), PAGE + 1)
        .await?;
    let next = (standings.len() as i64 > PAGE).then(|| {
        standings.truncate(PAGE as usize);
        standings.last().map_or(0, |s| s.member.id.0)
    });
    let (errors, notice) = view;
    render(
        status,
        &AdminMembersPage {
            page: Page::member(state, "Members · admin", me, csrf).await?,
            members: standings.into_iter().map(Row::from).collect(),
            next,
            errors,
            notice,
        },
    )
}

/// `GET /admin/members?after=ID`.
pub async fn page(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Query(cursor): Query<Cursor>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let view = (FormErrors::default(), None);
    members_page(&state, me, csrf, cursor.after, view, StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// `POST /admin/members/{handle}/{promote|demote|suspend|unsuspend|reset-password}`.
pub async fn act(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Path((handle, action)): Path<(String, String)>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let done = match action.as_str() {
        "promote" => state.app.set_operator(&handle, true).await.map(drop),
        "demote" => state.app.set_operator(&handle, false).await.map(drop),
        "suspend" => state.app.suspend_member(&handle).await.map(drop),
        "unsuspend" => state.app.unsuspend_member(&handle).await.map(drop),
        "reset-password" => state
            .app
            .reset_password(&handle, &form.password)
            .await
            .map(drop),
        _ => return Err(confidant_core::Error::NotFound.into()),
    };
    match done {
        // A reset password is said on the page, which must not be reloaded into a repost.
        Ok(()) if action == "reset-password" => {
            let notice = format!("{handle} has a new password; their sessions have ended.");
            let view = (FormErrors::default(), Some(notice));
            members_page(&state, me, csrf, None, view, StatusCode::OK).await
        }
        Ok(()) => Ok(see_other("/admin/members")),
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            members_page(&state, me, csrf, None, (errors, None), status).await
        }
    }
}
