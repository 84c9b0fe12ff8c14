//! Operator pages for engagement reports (`/admin/reports`): each app's releases, how their
//! delivery to the app's webhook is going, its privacy budget, and releasing a report by
//! hand.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use confidant_core::reports::{self, Mechanism, PERIOD_DAYS, ReportRequest};
use confidant_core::store::{App, Member, ReleaseSummary};

use super::admin::operator;
use super::{FormErrors, Page, PageError, render, when};
use crate::http::error::AppQuery;
use crate::http::partner::reports::FormatQuery;
use crate::http::session::{CsrfToken, CurrentMember};
use crate::reports::{ReportFormat, render as render_report};
use crate::state::AppState;

/// How many finished periods the release form offers: a year's worth.
const PERIODS_LISTED: usize = 26;

#[derive(Template)]
#[template(path = "admin_reports.html")]
struct AdminReportsPage {
    page: Page,
    apps: Vec<AppReports>,
    /// The finished schedule periods, newest first: (first day, "from – to").
    periods: Vec<(String, String)>,
    form: ReleaseForm,
    errors: FormErrors,
}

struct AppReports {
    app: App,
    /// "ρ = 1.500 of 15", spent in the last 365 days.
    budget: String,
    releases: Vec<ReleaseRow>,
}

struct ReleaseRow {
    id: String,
    from: String,
    to: String,
    mechanism: String,
    rho: String,
    generated: String,
    delivery: String,
    /// `delivered`, `pending`, `failed` or `none`, for styling.
    delivery_state: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    app: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    self_test: Option<String>,
}

/// A release as the page lists it. Why a release has no delivery matters to an operator:
/// the app may have no webhook, the release may be one the app never sees (an exact
/// self-test on a private deployment), or it was made before the app had a webhook.
fn release_row(app: &App, summary: ReleaseSummary) -> ReleaseRow {
    let (delivery, delivery_state) = match &summary.delivery {
        None if !summary.partner_visible => (
            "not delivered: an exact self-test stays with the operator".to_owned(),
            "none",
        ),
        None if app.report_webhook.is_none() => (
            "no webhook URL: the app downloads it from /partner/v1/reports".to_owned(),
            "none",
        ),
        None => (
            "not queued: released before the app had a webhook URL; the app can download it"
                .to_owned(),
            "none",
        ),
        Some(d) if d.delivered_at.is_some() => (
            format!(
                "delivered {} (attempt {})",
                d.delivered_at.map(|at| when(at).0).unwrap_or_default(),
                d.attempts
            ),
            "delivered",
        ),
        Some(d) => match d.next_attempt_at {
            Some(next) => (
                format!(
                    "pending: {} attempts, next {}{}",
                    d.attempts,
                    when(next).0,
                    d.last_error
                        .as_ref()
                        .map(|e| format!(" (last: {e})"))
                        .unwrap_or_default()
                ),
                "pending",
            ),
            None => (
                format!(
                    "failed after {} attempts: {}",
                    d.attempts,
                    d.last_error.clone().unwrap_or_default()
                ),
                "failed",
            ),
        },
    };
    ReleaseRow {
        from: reports::format_day(summary.first_day),
        to: reports::format_day(summary.first_day + summary.days - 1),
        mechanism: summary.mechanism,
        rho: format!("{:.3}", summary.rho),
        generated: when(summary.created_at).0,
        id: summary.id,
        delivery,
        delivery_state,
    }
}

async fn reports_page(
    state: &AppState,
    me: Member,
    csrf: String,
    form: ReleaseForm,
    errors: FormErrors,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let mut apps = Vec::new();
    for app in state.app.apps().await? {
        let (spent, limit) = state.app.privacy_budget(&app.client_id).await?;
        let releases = state.app.reports_of(&app.client_id).await?;
        apps.push(AppReports {
            budget: format!("ρ = {spent:.3} of {limit} spent in the last 365 days"),
            releases: releases
                .into_iter()
                .map(|release| release_row(&app, release))
                .collect(),
            app,
        });
    }
    let mut page = Page::member(state, "Reports · admin", me, csrf).await?;
    page.notice = notice;
    let periods = state
        .app
        .finished_periods(PERIODS_LISTED)
        .into_iter()
        .map(|first| {
            (
                reports::format_day(first),
                format!(
                    "{} – {}",
                    reports::format_day(first),
                    reports::format_day(first + PERIOD_DAYS - 1)
                ),
            )
        })
        .collect();
    render(
        status,
        &AdminReportsPage {
            page,
            apps,
            periods,
            form,
            errors,
        },
    )
}

/// `GET /admin/reports`.
pub async fn page(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let form = ReleaseForm {
        days: PERIOD_DAYS.to_string(),
        ..ReleaseForm::default()
    };
    reports_page(
        &state,
        me,
        csrf,
        form,
        FormErrors::default(),
        StatusCode::OK,
        None,
    )
    .await
}

/// `POST /admin/reports`: releases a report (or finds the release already made).
pub async fn release(
    State(state): State<AppState>,
    current: CurrentMember,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<ReleaseForm>,
) -> Result<Response, PageError> {
    let me = operator(current)?;
    let parsed = reports::parse_day(form.from.trim())
        .ok_or_else(|| {
            confidant_core::Error::invalid(
                "from",
                "invalid_date",
                "Give the first day as YYYY-MM-DD.",
            )
        })
        .and_then(|first_day| {
            let days = form.days.trim().parse::<i64>().map_err(|_| {
                confidant_core::Error::invalid("days", "invalid_number", "Give a number of days.")
            })?;
            Ok((first_day, days))
        });
    let result = match parsed {
        Ok((first_day, days)) => {
            state
                .app
                .release_report(ReportRequest {
                    client_id: &form.app,
                    first_day,
                    days,
                    mechanism: form.self_test.is_some().then_some(Mechanism::SelfTest),
                    progress: &|_, _| {},
                })
                .await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(released) => {
            let notice = if released.fresh {
                format!("Released report {}.", released.report.id)
            } else {
                format!(
                    "This period was released before: report {} is served again, unchanged.",
                    released.report.id
                )
            };
            reports_page(
                &state,
                me,
                csrf,
                ReleaseForm::default(),
                FormErrors::default(),
                StatusCode::OK,
                Some(notice),
            )
            .await
        }
        Err(error) => {
            let (status, errors) = FormErrors::from_error(error)?;
            reports_page(&state, me, csrf, form, errors, status, None).await
        }
    }
}

/// `GET /admin/reports/{id}?format=html|csv|json`.
pub async fn show(
    State(state): State<AppState>,
    current: CurrentMember,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<FormatQuery>,
) -> Result<Response, PageError> {
    operator(current)?;
    let released = state.app.report(&id).await?;
    let format = query.format.unwrap_or(ReportFormat::Html);
    let body = render_report(&released.report, format)
        .map_err(|e| PageError::from(confidant_core::Error::Internal(e)))?;
    let mut response = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
    if format == ReportFormat::Html {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(crate::reports::html_content_security_policy()),
        );
    }
    Ok(response)
}
