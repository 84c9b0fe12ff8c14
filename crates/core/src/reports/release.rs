//! Releasing a report: the exact table, noised once, stored with its budget debit, and from
//! then on served as stored.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::privacy::{self, Mechanism, NoiseParameters};
use super::{ReportRow, format_day};
use crate::store::{
    App, BudgetLimit, CHANNEL_CONFIDANT, NewRelease, NewWebhook, ReleaseOutcome, ReleaseSummary,
    StoredRelease, day_of,
};
use crate::{Confidant, Error, tokens};

/// The `format` of a report document.
pub const REPORT_FORMAT: &str = "confidant-report/1";
/// The longest period one report may cover: three years.
pub const MAX_REPORT_DAYS: i64 = 1096;
/// The header of every report made without noise.
pub const SELF_TEST_NOTICE: &str = "SELF-TEST REPORT: exact counts without privacy noise, made \
     to check a deployment. It is not a private release; do not share it.";
const YEAR_MS: i64 = 365 * 86_400_000;

/// A report as partners receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub format: String,
    pub id: String,
    pub app: ReportApp,
    /// First and last day, `YYYY-MM-DD`, inclusive.
    pub from: String,
    pub to: String,
    pub days: i64,
    /// RFC 3339.
    pub generated_at: String,
    /// Made without noise; [`Report::notice`] says so.
    pub self_test: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub privacy: NoiseParameters,
    pub rows: Vec<ReportRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportApp {
    pub client_id: String,
    pub name: String,
}

/// What to release.
#[derive(Clone, Copy)]
pub struct ReportRequest<'a> {
    pub client_id: &'a str,
    pub first_day: i64,
    pub days: i64,
    /// Overrides the configured mechanism (the CLI's `--self-test`).
    pub mechanism: Option<Mechanism>,
    /// Told (days read, days in all) as the counts are read.
    pub progress: &'a (dyn Fn(i64, i64) + Sync),
}

/// A release, and whether this request made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Released {
    pub report: Report,
    pub summary: ReleaseSummary,
    /// False when an earlier release of the same period was served again.
    pub fresh: bool,
}

impl Confidant {
    /// Releases a report for the period, or serves the stored release of that period.
    ///
    /// A release is drawn once: asking again returns the same numbers, so repeated requests
    /// learn nothing more. Each release debits the app's yearly budget in the transaction that
    /// stores it; past the budget the request is refused and nothing is stored. Self-test
    /// releases spend nothing and are made afresh each time, since they hide nothing.
    pub async fn release_report(&self, request: ReportRequest<'_>) -> Result<Released, Error> {
        let policy = privacy::PrivacyPolicy {
            mechanism: request.mechanism.unwrap_or(self.reports.privacy.mechanism),
            ..self.reports.privacy
        };
        let mechanism = policy.mechanism;
        let today = day_of(self.clock.now());
        validate_period(request.first_day, request.days, today, mechanism)?;
        let app = self
            .store
            .app(request.client_id)
            .await?
            .ok_or(Error::NotFound)?;
        let earlier = self
            .store
            .release_for_period(
                &app.client_id,
                request.first_day,
                request.days,
                mechanism.as_str(),
            )
            .await?;
        let id = match earlier {
            Some(stored) if mechanism != Mechanism::SelfTest => return served(stored, false),
            // A self-test is redone, under the same id.
            Some(stored) => stored.summary.id,
            None => format!("rpt_{}", tokens::random_url_safe(12)),
        };

        let mut rows = self
            .read_table(&app, request.first_day, request.days, request.progress)
            .await?;
        let noise = privacy::calibrate(&policy, request.days)?;
        // Exact sampling is CPU work (tens of thousands of draws for a long report): off the
        // async workers.
        let rows = tokio::task::spawn_blocking(move || {
            apply_noise(&noise, &mut rows)?;
            Ok::<_, Error>(rows)
        })
        .await
        .map_err(|e| Error::Internal(format!("noise task: {e}")))??;
        let now = self.clock.now();
        let report = Report {
            format: REPORT_FORMAT.into(),
            id,
            app: ReportApp {
                client_id: app.client_id.clone(),
                name: app.name.clone(),
            },
            from: format_day(request.first_day),
            to: format_day(request.first_day + request.days - 1),
            days: request.days,
            generated_at: confidant_log::entry::format_millis(now.0),
            self_test: mechanism == Mechanism::SelfTest,
            notice: (mechanism == Mechanism::SelfTest).then(|| SELF_TEST_NOTICE.to_owned()),
            privacy: noise,
            rows,
        };
        let body = serde_json::to_string(&report)
            .map_err(|e| Error::Internal(format!("cannot encode a report: {e}")))?;
        let release = NewRelease {
            id: report.id.clone(),
            client_id: app.client_id.clone(),
            first_day: request.first_day,
            days: request.days,
            mechanism: mechanism.as_str().into(),
            rho: noise.rho,
            created_at: now,
            body,
        };
        let budget = BudgetLimit {
            since: crate::Timestamp(now.0 - YEAR_MS),
            limit: policy.rho_per_year,
        };
        // An exact self-test goes to the app only from a deployment that is itself in
        // self-test mode; an operator's check on a live server stays with the operator.
        let webhook = self
            .partner_may_see(mechanism)
            .then(|| self.report_ready_webhook(&app, &report))
            .flatten();
        match self.store.store_release(release, budget, webhook).await? {
            ReleaseOutcome::Stored(stored) => served(stored, true),
            ReleaseOutcome::Existing(stored) => served(stored, false),
            ReleaseOutcome::OverBudget { spent } => Err(Error::forbidden(
                "privacy_budget_exhausted",
                format!(
                    "{} has spent ρ = {spent:.3} of its yearly privacy budget of ρ = {}; this \
                     report needs ρ = {:.3} more. The budget frees up as releases pass one \
                     year of age.",
                    app.name, policy.rho_per_year, noise.rho
                ),
            )),
        }
    }

    /// A stored release, by id.
    pub async fn report(&self, id: &str) -> Result<Released, Error> {
        let stored = self.store.release(id).await?.ok_or(Error::NotFound)?;
        served(stored, false)
    }

    /// The app's releases, newest period first: everything, for operators.
    pub async fn reports_of(&self, client_id: &str) -> Result<Vec<ReleaseSummary>, Error> {
        Ok(self.store.releases(client_id, 200).await?)
    }

    /// The releases the app itself may fetch.
    pub async fn partner_reports(&self, client_id: &str) -> Result<Vec<ReleaseSummary>, Error> {
        let mut releases = self.reports_of(client_id).await?;
        releases.retain(|release| {
            Mechanism::parse(&release.mechanism).is_some_and(|m| self.partner_may_see(m))
        });
        Ok(releases)
    }

    /// One of the app's own releases; another app's, or one it may not see, is `NotFound`.
    pub async fn partner_report(&self, client_id: &str, id: &str) -> Result<Released, Error> {
        let released = self.report(id).await?;
        let visible = released.report.app.client_id == client_id
            && self.partner_may_see(released.report.privacy.mechanism);
        if visible {
            Ok(released)
        } else {
            Err(Error::NotFound)
        }
    }

    /// Exact counts reach a partner only from a deployment configured for self-tests.
    fn partner_may_see(&self, mechanism: Mechanism) -> bool {
        mechanism != Mechanism::SelfTest || self.reports.privacy.mechanism == Mechanism::SelfTest
    }

    /// ρ the app spent in the last 365 days, and its yearly budget.
    pub async fn privacy_budget(&self, client_id: &str) -> Result<(f64, f64), Error> {
        let since = crate::Timestamp(self.clock.now().0 - YEAR_MS);
        let spent = self.store.privacy_spent(client_id, since).await?;
        Ok((spent, self.reports.privacy.rho_per_year))
    }

    /// `report.ready`, carrying the report itself and where to fetch it again.
    fn report_ready_webhook(&self, app: &App, report: &Report) -> Option<NewWebhook> {
        app.report_webhook.as_ref()?;
        let url = format!(
            "{}/partner/v1/reports/{}",
            self.reports.public_url.trim_end_matches('/'),
            report.id
        );
        let payload = json!({
            "type": "report.ready",
            "timestamp": report.generated_at,
            "data": { "report_id": report.id, "url": url, "report": report },
        });
        Some(NewWebhook {
            client_id: app.client_id.clone(),
            message_id: format!("msg_{}", tokens::random_url_safe(16)),
            event_type: "report.ready".into(),
            payload: payload.to_string(),
            created_at: self.clock.now(),
        })
    }
}

fn validate_period(
    first_day: i64,
    days: i64,
    today: i64,
    mechanism: Mechanism,
) -> Result<(), Error> {
    if !(1..=MAX_REPORT_DAYS).contains(&days) {
        return Err(Error::invalid(
            "days",
            "out_of_range",
            format!("a report covers 1 to {MAX_REPORT_DAYS} days"),
        ));
    }
    let last_day = first_day + days - 1;
    // A private release is final, so its period must be over; a self-test may look at today.
    let latest = if mechanism == Mechanism::SelfTest {
        today
    } else {
        today - 1
    };
    if last_day > latest {
        return Err(Error::invalid(
            "from",
            "period_not_over",
            format!(
                "the period ends on {}, but reports can only cover days up to {}",
                format_day(last_day),
                format_day(latest)
            ),
        ));
    }
    Ok(())
}

/// Adds noise to every measured count and flags the cells where Confidant's count and the
/// partner's differ by more than the noise explains.
fn apply_noise(noise: &NoiseParameters, rows: &mut [ReportRow]) -> Result<(), Error> {
    let measured: Vec<&mut Option<i64>> = rows
        .iter_mut()
        .filter(|row| row.channel == CHANNEL_CONFIDANT)
        .flat_map(|row| [&mut row.sends, &mut row.clicks])
        .collect();
    let exact: Vec<i64> = measured.iter().map(|count| count.unwrap_or(0)).collect();
    let noisy = privacy::add_noise(noise, exact)?;
    for (count, value) in measured.into_iter().zip(noisy) {
        *count = Some(value);
    }
    for row in rows {
        let apart = |measured: Option<i64>, reported: Option<i64>| match (measured, reported) {
            (Some(m), Some(r)) => (m - r).unsigned_abs() as f64 > noise.flag_threshold,
            _ => false,
        };
        row.differs =
            apart(row.sends, row.reported_sends) || apart(row.clicks, row.reported_clicks);
    }
    Ok(())
}

fn served(stored: StoredRelease, fresh: bool) -> Result<Released, Error> {
    let report = serde_json::from_str(&stored.body).map_err(|e| {
        Error::Internal(format!(
            "stored report {} is corrupt: {e}",
            stored.summary.id
        ))
    })?;
    Ok(Released {
        report,
        summary: stored.summary,
        fresh,
    })
}
