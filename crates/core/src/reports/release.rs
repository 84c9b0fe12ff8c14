//! Releasing a report: the exact table, noised once, stored with its budget debit, and from
//! then on served as stored.

use confidant_log::ledger::{self, LedgerEntry};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::privacy::{self, Mechanism, NoiseParameters, PrivacyPolicy};
use super::{ReportRow, format_day};
use crate::store::{
    App, BudgetLimit, CHANNEL_CONFIDANT, CapsInForce, NewRelease, NewWebhook, ReleaseOutcome,
    ReleaseSummary, StoredRelease, day_of, setting,
};
use crate::{Confidant, Error, tokens};

/// The `format` of a report document.
pub const REPORT_FORMAT: &str = "confidant-report/1";
/// The longest period one report may cover: three years.
pub const MAX_REPORT_DAYS: i64 = 1096;
/// The header of every report made without noise.
pub const SELF_TEST_NOTICE: &str = "SELF-TEST REPORT: exact counts without privacy noise, made \
     to check a deployment. It is not a private release; do not share it.";

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
    /// The most ρ any day of the period has spent over all releases, this one included, and
    /// the (ε, δ) it gives: the privacy loss of a day's data as of this release.
    #[serde(default)]
    pub data_day_rho: f64,
    #[serde(default)]
    pub data_day_epsilon: f64,
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
    /// learn nothing more. Each release debits every day of data it covers, in the
    /// transaction that stores it; a release that would take any day past its budget is
    /// refused and nothing is stored. Self-test releases spend nothing and are made afresh
    /// each time, since they hide nothing; one that the app would see may not cover a day a
    /// private release covers.
    pub async fn release_report(&self, request: ReportRequest<'_>) -> Result<Released, Error> {
        let configured = PrivacyPolicy {
            mechanism: request.mechanism.unwrap_or(self.reports.privacy.mechanism),
            ..self.reports.privacy
        };
        let mechanism = configured.mechanism;
        let today = day_of(self.clock.now());
        validate_period(request.first_day, request.days, today, &configured)?;
        let app = self
            .store
            .app(request.client_id)
            .await?
            .ok_or(Error::NotFound)?;
        let last_day = request.first_day + request.days - 1;
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

        // The noise must cover the largest bounds any count of the period was taken under,
        // whatever the configuration says today.
        let policy = match self
            .store
            .caps_in_force(&app.client_id, request.first_day, last_day)
            .await?
        {
            Some(caps) => configured.with_caps(CapsInForce {
                contribution_cap: caps.contribution_cap.max(configured.contribution_cap),
                cells_per_day: caps.cells_per_day.max(configured.cells_per_day),
            }),
            None => configured,
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
        let spent_before = self
            .store
            .privacy_spent(&app.client_id, request.first_day, last_day)
            .await?;
        let data_day_rho = spent_before + noise.rho;
        let now = self.clock.now();
        let report = Report {
            format: REPORT_FORMAT.into(),
            id,
            app: ReportApp {
                client_id: app.client_id.clone(),
                name: app.name.clone(),
            },
            from: format_day(request.first_day),
            to: format_day(last_day),
            days: request.days,
            generated_at: confidant_log::entry::format_millis(now.0),
            self_test: mechanism == Mechanism::SelfTest,
            notice: (mechanism == Mechanism::SelfTest).then(|| SELF_TEST_NOTICE.to_owned()),
            privacy: noise,
            data_day_rho,
            data_day_epsilon: privacy::epsilon(data_day_rho, policy.delta),
            rows,
        };
        let body = serde_json::to_string(&report)
            .map_err(|e| Error::Internal(format!("cannot encode a report: {e}")))?;
        // Whether the app ever sees this release is decided now, by what the deployment is
        // now: switching to self-test later does not expose an exact release made earlier.
        let partner_visible = self.partner_may_see(mechanism);
        let ledger_leaf = LedgerEntry {
            release: report.id.clone(),
            app: app.client_id.clone(),
            first_day: format_day(request.first_day),
            days: u32::try_from(request.days).unwrap_or(u32::MAX),
            mechanism: mechanism.as_str().into(),
            rho: noise.rho,
            body_sha256: ledger::body_sha256(&body),
        }
        .encode();
        let release = NewRelease {
            id: report.id.clone(),
            client_id: app.client_id.clone(),
            first_day: request.first_day,
            days: request.days,
            mechanism: mechanism.as_str().into(),
            rho: noise.rho,
            created_at: now,
            body,
            partner_visible,
            ledger_leaf,
        };
        let budget = BudgetLimit {
            rho_per_data_day: policy.rho_per_data_day,
        };
        // An exact self-test goes to the app only from a deployment that is itself in
        // self-test mode; an operator's check on a live server stays with the operator.
        let webhook = partner_visible
            .then(|| self.report_ready_webhook(&app, &report))
            .flatten();
        match self.store.store_release(release, budget, webhook).await? {
            ReleaseOutcome::Stored(stored) => served(stored, true),
            ReleaseOutcome::Existing(stored) => served(stored, false),
            ReleaseOutcome::OverBudget { spent } => Err(Error::forbidden(
                "privacy_budget_exhausted",
                format!(
                    "releases of {} have already spent ρ = {spent:.3} on some day from {} to {}, \
                     and each day of data may spend at most ρ = {}; this report needs ρ = {:.3} \
                     more. Days already released cannot be released again with new noise.",
                    app.name,
                    format_day(request.first_day),
                    format_day(last_day),
                    policy.rho_per_data_day,
                    noise.rho
                ),
            )),
            ReleaseOutcome::WouldExposePrivate => Err(Error::forbidden(
                "would_expose_private_release",
                format!(
                    "private reports of {} already cover days from {} to {}; an exact report of \
                     them for the app would undo their noise",
                    app.name,
                    format_day(request.first_day),
                    format_day(last_day)
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

    /// The releases the app itself may fetch: as decided when each was made.
    pub async fn partner_reports(&self, client_id: &str) -> Result<Vec<ReleaseSummary>, Error> {
        let mut releases = self.reports_of(client_id).await?;
        releases.retain(|release| release.partner_visible);
        Ok(releases)
    }

    /// One of the app's own releases; another app's, or one it may not see, is `NotFound`.
    pub async fn partner_report(&self, client_id: &str, id: &str) -> Result<Released, Error> {
        let released = self.report(id).await?;
        if released.report.app.client_id == client_id && released.summary.partner_visible {
            Ok(released)
        } else {
            Err(Error::NotFound)
        }
    }

    /// Exact counts reach a partner only from a deployment configured for self-tests.
    fn partner_may_see(&self, mechanism: Mechanism) -> bool {
        mechanism != Mechanism::SelfTest || self.reports.privacy.mechanism == Mechanism::SelfTest
    }

    /// The most ρ the app's releases spent on any one retained day of data, and the most
    /// a day may spend.
    pub async fn privacy_budget(&self, client_id: &str) -> Result<(f64, f64), Error> {
        let today = day_of(self.clock.now());
        let first = today - self.reports.privacy.retention_days;
        let spent = self.store.privacy_spent(client_id, first, today).await?;
        Ok((spent, self.reports.privacy.rho_per_data_day))
    }

    /// Refuses to run in self-test mode — where releases are exact and go to partners — on a
    /// deployment that has made private releases, unless its operator allowed it with
    /// [`Confidant::allow_exact_reports`]. Called at start-up.
    pub async fn check_report_mode(&self) -> Result<(), Error> {
        if self.reports.privacy.mechanism != Mechanism::SelfTest {
            return Ok(());
        }
        let private = self.store.private_releases().await?;
        let allowed = self
            .store
            .setting(setting::EXACT_REPORTS_ALLOWED)
            .await?
            .is_some();
        if private > 0 && !allowed {
            return Err(Error::forbidden(
                "self_test_refused",
                format!(
                    "reports.noise = \"self_test\" would send partners exact counts, but this \
                     deployment has made {private} private report releases. If that is really \
                     wanted, run `confidant report allow-self-test` once: from then on reports \
                     are exact and go to the partners, while days already released privately \
                     stay private (exact reports of them are refused)."
                ),
            ));
        }
        Ok(())
    }

    /// The operator's explicit choice to let this deployment make exact reports for partners
    /// although it has made private ones. Returns how many private releases there are.
    pub async fn allow_exact_reports(&self) -> Result<i64, Error> {
        let at = confidant_log::entry::format_millis(self.clock.now().0);
        self.store
            .set_setting(setting::EXACT_REPORTS_ALLOWED, &at)
            .await?;
        Ok(self.store.private_releases().await?)
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
    policy: &PrivacyPolicy,
) -> Result<(), Error> {
    if !(1..=MAX_REPORT_DAYS).contains(&days) {
        return Err(Error::invalid(
            "days",
            "out_of_range",
            format!("a report covers 1 to {MAX_REPORT_DAYS} days"),
        ));
    }
    let oldest = today - policy.retention_days;
    if first_day < oldest {
        return Err(Error::invalid(
            "from",
            "period_expired",
            format!(
                "engagement data is kept for {} days, so reports can start on {} at the earliest",
                policy.retention_days,
                format_day(oldest)
            ),
        ));
    }
    let last_day = first_day + days - 1;
    // A private release is final, so its period must be over; a self-test may look at today.
    let latest = if policy.mechanism == Mechanism::SelfTest {
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
