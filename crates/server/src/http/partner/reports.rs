//! `GET /partner/v1/reports` and `/partner/v1/reports/{id}`: an app's released engagement
//! reports, with its client credentials. Only releases are served; nothing here can make a
//! new one or reach the exact counts (an operator's self-test stays with the operator unless
//! the whole deployment is in self-test mode).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use confidant_core::reports::format_day;
use confidant_core::store::ReleaseSummary;

use super::auth::PartnerClient;
use crate::http::error::{ApiError, AppJson, AppQuery};
use crate::reports::{ReportFormat, render};
use crate::state::AppState;

/// A released report, without its rows.
#[derive(Serialize, ToSchema)]
pub struct ReportListing {
    pub id: String,
    /// First and last day, inclusive.
    pub from: String,
    pub to: String,
    pub days: i64,
    /// `discrete_gaussian`, `discrete_laplace`, or `self_test` (exact counts, no privacy).
    pub mechanism: String,
    /// RFC 3339.
    pub generated_at: String,
    /// The report, by format.
    pub links: ReportLinks,
}

#[derive(Serialize, ToSchema)]
pub struct ReportLinks {
    pub json: String,
    pub csv: String,
    pub html: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportList {
    pub reports: Vec<ReportListing>,
}

impl From<ReleaseSummary> for ReportListing {
    fn from(summary: ReleaseSummary) -> Self {
        let link = |format: &str| format!("/partner/v1/reports/{}?format={format}", summary.id);
        ReportListing {
            links: ReportLinks {
                json: link("json"),
                csv: link("csv"),
                html: link("html"),
            },
            from: format_day(summary.first_day),
            to: format_day(summary.first_day + summary.days - 1),
            days: summary.days,
            mechanism: summary.mechanism,
            generated_at: confidant_log::entry::format_millis(summary.created_at.0),
            id: summary.id,
        }
    }
}

/// `GET /partner/v1/reports`, with `Authorization: Basic client_id:client_secret`.
#[utoipa::path(
    get, path = "/partner/v1/reports", tag = "partner", security(("partner_client" = [])),
    responses(
        (status = 200, body = ReportList, description = "the app's released reports, newest period first"),
        (status = 401, description = "missing or wrong client credentials"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    PartnerClient(app): PartnerClient,
) -> Result<AppJson<ReportList>, ApiError> {
    let reports = state.app.partner_reports(&app.client_id).await?;
    Ok(AppJson(ReportList {
        reports: reports.into_iter().map(ReportListing::from).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `json` (the default), `csv` or `html`.
    pub format: Option<ReportFormat>,
}

/// `GET /partner/v1/reports/{id}?format=json|csv|html`.
#[utoipa::path(
    get, path = "/partner/v1/reports/{id}", tag = "partner", security(("partner_client" = [])),
    params(("id" = String, Path), FormatQuery),
    responses(
        (status = 200, description = "the report: JSON (format confidant-report/1), CSV or HTML"),
        (status = 401, description = "missing or wrong client credentials"),
        (status = 404, description = "no such report for this app"),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    PartnerClient(app): PartnerClient,
    Path(id): Path<String>,
    AppQuery(query): AppQuery<FormatQuery>,
) -> Result<Response, ApiError> {
    let released = state.app.partner_report(&app.client_id, &id).await?;
    let format = query.format.unwrap_or(ReportFormat::Json);
    let body = render(&released.report, format)
        .map_err(|e| ApiError::Core(confidant_core::Error::Internal(e)))?;
    let filename = format!(
        "attachment; filename=\"{}-{}.{}\"",
        released.report.id,
        released.report.from,
        format.extension()
    );
    let mut headers = vec![(header::CONTENT_TYPE, format.content_type().to_owned())];
    if format == ReportFormat::Html {
        headers.push((
            header::CONTENT_SECURITY_POLICY,
            crate::reports::html_content_security_policy().to_owned(),
        ));
    } else {
        headers.push((header::CONTENT_DISPOSITION, filename));
    }
    let mut response = body.into_response();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
