//! The report table: one row per day and cell of the app's declared domain — zeros
//! included — with Confidant's measured counts beside what the app reported itself.

use serde::{Deserialize, Serialize};

use super::{CHANNELS, format_day};
use crate::partner::INTERFACES;
use crate::store::{App, CHANNEL_CONFIDANT, Cell, CellCounts};

/// One row of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub interface: String,
    pub initiation_surface: String,
    pub variation: String,
    pub channel: String,
    /// Measured by Confidant; `None` off-platform, where Confidant sees nothing.
    pub sends: Option<i64>,
    pub clicks: Option<i64>,
    /// As the app reported them (`POST /partner/v1/events`); `None` if it reported nothing
    /// for this cell.
    pub reported_sends: Option<i64>,
    pub reported_clicks: Option<i64>,
    /// The measured and reported counts differ by more than the noise could explain.
    pub differs: bool,
}

/// The rows of a report over `days` days from `first_day`: the full cross product of days,
/// interfaces, the app's surfaces and variations, and channels, in that order.
pub fn build_table(
    app: &App,
    first_day: i64,
    days: i64,
    measured: &[CellCounts],
    reported: &[CellCounts],
) -> Vec<ReportRow> {
    let domain = Domain {
        app,
        first_day,
        days,
    };
    let measured = domain.counts(measured);
    let reported = domain.counts(reported);
    let mut rows = Vec::with_capacity(measured.len());
    let mut at = 0;
    for day in first_day..first_day + days {
        let date = format_day(day);
        for interface in INTERFACES {
            for surface in &app.surfaces {
                for variation in &app.variations {
                    for channel in CHANNELS {
                        let (sends, clicks) = if channel == CHANNEL_CONFIDANT {
                            let (sends, clicks) = measured[at].unwrap_or_default();
                            (Some(sends), Some(clicks))
                        } else {
                            (None, None)
                        };
                        let reported = reported[at];
                        at += 1;
                        rows.push(ReportRow {
                            day: date.clone(),
                            interface: interface.to_owned(),
                            initiation_surface: surface.clone(),
                            variation: variation.clone(),
                            channel: channel.to_owned(),
                            sends,
                            clicks,
                            reported_sends: reported.map(|(sends, _)| sends),
                            reported_clicks: reported.map(|(_, clicks)| clicks),
                            differs: false,
                        });
                    }
                }
            }
        }
    }
    rows
}

/// The cells of a report's domain, numbered in the order of its rows, so that counts are
/// placed by arithmetic instead of looked up by their five names in a map: a year's report
/// has ~22,000 rows.
struct Domain<'a> {
    app: &'a App,
    first_day: i64,
    days: i64,
}

impl Domain<'_> {
    fn len(&self) -> usize {
        usize::try_from(self.days).unwrap_or(0)
            * INTERFACES.len()
            * self.app.surfaces.len()
            * self.app.variations.len()
            * CHANNELS.len()
    }

    /// The row of `cell`, or `None` outside the domain (another app, a day outside the
    /// period, a surface or variation the app no longer declares).
    fn row_of(&self, cell: &Cell) -> Option<usize> {
        let app = self.app;
        if cell.client_id != app.client_id {
            return None;
        }
        let day = usize::try_from(cell.day - self.first_day)
            .ok()
            .filter(|day| (*day as i64) < self.days)?;
        let interface = INTERFACES.iter().position(|i| *i == cell.interface)?;
        let surface = app.surfaces.iter().position(|s| *s == cell.surface)?;
        let variation = app.variations.iter().position(|v| *v == cell.variation)?;
        let channel = CHANNELS.iter().position(|c| *c == cell.channel)?;
        Some(
            (((day * INTERFACES.len() + interface) * app.surfaces.len() + surface)
                * app.variations.len()
                + variation)
                * CHANNELS.len()
                + channel,
        )
    }

    /// `cells`' counts, by row.
    fn counts(&self, cells: &[CellCounts]) -> Vec<Option<(i64, i64)>> {
        let mut counts = vec![None; self.len()];
        for cell in cells {
            if let Some(row) = self.row_of(&cell.cell) {
                counts[row] = Some((cell.sends, cell.clicks));
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::oauth::Scopes;
    use crate::store::AppStatus;

    fn app() -> App {
        App {
            client_id: "cfd_app_x".into(),
            name: "X".into(),
            owner: String::new(),
            homepage: None,
            privacy_policy: None,
            report_webhook: None,
            webhook_secret: None,
            redirect_uris: vec![],
            confidential: true,
            secret_hash: None,
            previous_secret: None,
            scopes: Scopes::default(),
            surfaces: vec!["title_page".into(), "player_end".into()],
            variations: vec!["arm_a".into(), "arm_b".into(), "arm_c".into()],
            item_url_template: None,
            status: AppStatus::Approved,
            created_at: Timestamp(0),
        }
    }

    fn counts(day: i64, interface: &str, channel: &str, sends: i64, clicks: i64) -> CellCounts {
        CellCounts {
            cell: Cell {
                client_id: "cfd_app_x".into(),
                day,
                interface: interface.into(),
                surface: "player_end".into(),
                variation: "arm_b".into(),
                channel: channel.into(),
            },
            sends,
            clicks,
        }
    }

    #[test]
    fn every_cell_of_the_domain_is_present_zeros_included() {
        let measured = [counts(20_780, "tv", "confidant", 7, 2)];
        // Cells outside the domain are left out: days outside the period, a surface the app
        // no longer declares, another app's.
        let outside = |change: fn(&mut Cell)| {
            let mut cell = counts(20_780, "tv", "confidant", 1_000, 1_000);
            change(&mut cell.cell);
            cell
        };
        let reported = [
            counts(20_780, "tv", "confidant", 9, 2),
            counts(20_781, "web", "off_platform", 40, 5),
            outside(|cell| cell.day = 20_778),
            outside(|cell| cell.day = 20_779 + 14),
            outside(|cell| cell.surface = "retired_surface".into()),
            outside(|cell| cell.interface = "fax".into()),
            outside(|cell| cell.client_id = "cfd_app_other".into()),
        ];
        let rows = build_table(&app(), 20_779, 14, &measured, &reported);
        // 14 days × 5 interfaces × 2 surfaces × 3 variations × 2 channels.
        assert_eq!(rows.len(), 14 * 5 * 2 * 3 * 2);
        assert_eq!(rows[0].day, "2026-11-22");
        assert!(rows.iter().all(|r| r.day.as_str() <= "2026-12-05"));
        let find = |day: &str, interface: &str, channel: &str| {
            rows.iter()
                .find(|r| {
                    r.day == day
                        && r.interface == interface
                        && r.channel == channel
                        && r.initiation_surface == "player_end"
                        && r.variation == "arm_b"
                })
                .unwrap()
                .clone()
        };
        let tv = find("2026-11-23", "tv", "confidant");
        assert_eq!(
            (tv.sends, tv.clicks, tv.reported_sends, tv.reported_clicks),
            (Some(7), Some(2), Some(9), Some(2))
        );
        let web = find("2026-11-24", "web", "off_platform");
        assert_eq!(
            (web.sends, web.reported_sends, web.reported_clicks),
            (None, Some(40), Some(5))
        );
        let quiet = find("2026-11-24", "web", "confidant");
        assert_eq!((quiet.sends, quiet.reported_sends), (Some(0), None));
        let total: i64 = rows
            .iter()
            .map(|r| r.sends.unwrap_or(0) + r.reported_sends.unwrap_or(0))
            .sum();
        assert_eq!(total, 7 + 9 + 40, "nothing counted twice or lost");
    }
}
