//! The biweekly schedule: when a period is over, each approved app's report for it is
//! released and queued for delivery. Safe to run at any time, as often as wanted, on any
//! number of nodes: a period released once is never released again.

use super::{ReportRequest, release::Released};
use crate::store::{AppStatus, day_of};
use crate::{Confidant, Error};

/// Every report period is this long.
pub const PERIOD_DAYS: i64 = 14;

/// The first day of the latest period that is over by `today`, counting periods from
/// `anchor`; `None` before the first one ends.
pub fn due_period(anchor: i64, today: i64) -> Option<i64> {
    let periods_over = (today - anchor).div_euclid(PERIOD_DAYS);
    (periods_over >= 1).then(|| anchor + (periods_over - 1) * PERIOD_DAYS)
}

/// What one pass of the schedule did.
#[derive(Debug, Default)]
pub struct ScheduledRun {
    /// The period it looked at.
    pub first_day: Option<i64>,
    /// The releases this run made (not ones another node made at the same time).
    pub released: Vec<Released>,
    /// Apps whose report was refused or failed, and why.
    pub refused: Vec<(String, Error)>,
}

impl Confidant {
    /// The first days of the last `count` schedule periods that are over, newest first: what
    /// an operator picks from to release a report by hand.
    pub fn finished_periods(&self, count: usize) -> Vec<i64> {
        let today = day_of(self.clock.now());
        let Some(latest) = due_period(self.reports.schedule_anchor, today) else {
            return Vec::new();
        };
        (0..count as i64)
            .map(|back| latest - back * PERIOD_DAYS)
            .collect()
    }

    /// Releases the latest finished period's report for every approved app that has none.
    pub async fn run_report_schedule(&self) -> Result<ScheduledRun, Error> {
        let today = day_of(self.clock.now());
        let mut run = ScheduledRun::default();
        let Some(first_day) = due_period(self.reports.schedule_anchor, today) else {
            return Ok(run);
        };
        run.first_day = Some(first_day);
        let mechanism = self.reports.privacy.mechanism.as_str();
        for app in self.store.apps().await? {
            // Nothing to say about a period that ended before the app existed.
            let ended_before = first_day + PERIOD_DAYS - 1 < day_of(app.created_at);
            if app.status != AppStatus::Approved || ended_before {
                continue;
            }
            if self
                .store
                .release_for_period(&app.client_id, first_day, PERIOD_DAYS, mechanism)
                .await?
                .is_some()
            {
                continue;
            }
            let request = ReportRequest {
                client_id: &app.client_id,
                first_day,
                days: PERIOD_DAYS,
                mechanism: None,
                progress: &|_, _| {},
            };
            match self.release_report(request).await {
                Ok(released) if released.fresh => run.released.push(released),
                // Another node released it a moment before: the stored one stands.
                Ok(_) => {}
                Err(error) => run.refused.push((app.client_id.clone(), error)),
            }
        }
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_due_once_it_is_over() {
        assert_eq!(due_period(100, 99), None);
        assert_eq!(
            due_period(100, 113),
            None,
            "the first period ends on day 113"
        );
        assert_eq!(due_period(100, 114), Some(100));
        assert_eq!(due_period(100, 127), Some(100));
        assert_eq!(due_period(100, 128), Some(114));
        assert_eq!(due_period(100, 100 + 14 * 26), Some(100 + 14 * 25));
    }
}
