//! Partner engagement reports: Confidant's measured counts, with privacy noise, beside the
//! counts partners report about their own channels, over every cell of the app's declared
//! domain — released once per period, stored, and delivered on a 14-day schedule.

use futures::stream::{self, StreamExt, TryStreamExt};
use time::Date;
use time::macros::format_description;

mod events;
pub mod privacy;
mod release;
mod retention;
mod schedule;
mod table;

pub use events::{CHANNELS, EventInput, EventsAccepted, EventsError, ItemError, MAX_EVENTS};
pub use privacy::{Mechanism, NoiseParameters, PrivacyPolicy};
pub use release::{
    MAX_REPORT_DAYS, REPORT_FORMAT, Released, Report, ReportApp, ReportRequest, SELF_TEST_NOTICE,
};
pub use schedule::{PERIOD_DAYS, ScheduledRun, due_period};
pub use table::{ReportRow, build_table};

/// How partner reports are made and when.
#[derive(Debug, Clone)]
pub struct ReportPolicy {
    pub privacy: PrivacyPolicy,
    /// The first day (since 1970-01-01) of the first 14-day report period; the periods
    /// follow one another from there.
    pub schedule_anchor: i64,
    /// Where this server is reached, for the links in delivered reports.
    pub public_url: String,
}

impl Default for ReportPolicy {
    fn default() -> Self {
        Self {
            privacy: PrivacyPolicy::default(),
            // A Monday.
            schedule_anchor: parse_day("2026-01-05").unwrap_or_default(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

impl crate::Confidant {
    /// The exact counts over `days` days from `first_day`, before any noise: what the privacy
    /// layer releases from. Never serve it as is to a partner.
    pub async fn raw_report_table(
        &self,
        client_id: &str,
        first_day: i64,
        days: i64,
    ) -> Result<Vec<ReportRow>, crate::Error> {
        let app = self
            .store
            .app(client_id)
            .await?
            .ok_or(crate::Error::NotFound)?;
        self.read_table(&app, first_day, days, &|_, _| {}).await
    }

    /// Reads the counts a month at a time, telling `progress` how many days are done. A
    /// month's measured and reported counts are read at once, and the next month is read
    /// while this one is taken in: on PostgreSQL each statement has a connection of its own,
    /// on SQLite a reader thread.
    pub(crate) async fn read_table(
        &self,
        app: &crate::store::App,
        first_day: i64,
        days: i64,
        progress: &(dyn Fn(i64, i64) + Sync),
    ) -> Result<Vec<ReportRow>, crate::Error> {
        const CHUNK_DAYS: i64 = 31;
        /// Months in flight: twice as many statements.
        const MONTHS_AT_ONCE: usize = 2;
        let end = first_day + days;
        let months = (first_day..end)
            .step_by(CHUNK_DAYS as usize)
            .map(|from| (from, (from + CHUNK_DAYS).min(end) - 1));
        let client_id = app.client_id.as_str();
        let mut reads = stream::iter(months)
            .map(|(from, to)| async move {
                let (measured, reported) = futures::try_join!(
                    self.store.engagement(client_id, from, to),
                    self.store.reported_engagement(client_id, from, to),
                )?;
                Ok::<_, crate::Error>((to, measured, reported))
            })
            .buffered(MONTHS_AT_ONCE);
        let mut measured = Vec::new();
        let mut reported = Vec::new();
        while let Some((to, month_measured, month_reported)) = reads.try_next().await? {
            measured.extend(month_measured);
            reported.extend(month_reported);
            progress(to + 1 - first_day, days);
        }
        Ok(build_table(app, first_day, days, &measured, &reported))
    }
}

/// `YYYY-MM-DD` as days since 1970-01-01, or `None` if it is not a real date.
pub fn parse_day(text: &str) -> Option<i64> {
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    Some(i64::from(date.to_julian_day() - unix_epoch_julian_day()))
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let julian = i32::try_from(day + i64::from(unix_epoch_julian_day())).unwrap_or(i32::MAX);
    Date::from_julian_day(julian)
        .map(|date| date.to_string())
        .unwrap_or_default()
}

fn unix_epoch_julian_day() -> i32 {
    time::macros::date!(1970 - 01 - 01).to_julian_day()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_nonsense_is_refused() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2026-11-22"), Some(20_779));
        assert_eq!(format_day(20_779), "2026-11-22");
        assert_eq!(
            parse_day("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
        for bad in ["2025-02-29", "2026-13-01", "26-11-22", "yesterday", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
