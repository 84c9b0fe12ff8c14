//! Reports as files: CSV, JSON, and a self-contained HTML page with charts. Every format
//! states the privacy parameters, and a self-test report says what it is in its header.

mod charts;

use askama::Template;

use confidant_core::reports::{Mechanism, Report, ReportRow};

/// The formats a report is served in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Csv,
    Json,
    Html,
}

impl ReportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Json => "application/json",
            ReportFormat::Html => "text/html; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Html => "html",
        }
    }
}

/// The report in `format`.
pub fn render(report: &Report, format: ReportFormat) -> Result<String, String> {
    match format {
        ReportFormat::Json => {
            serde_json::to_string_pretty(report).map_err(|e| format!("cannot encode: {e}"))
        }
        ReportFormat::Csv => csv(report),
        ReportFormat::Html => ReportPage::new(report)
            .render()
            .map_err(|e| format!("cannot render: {e}")),
    }
}

/// One line on the privacy of the numbers, for headers: the release's ρ with the (ε, δ) it
/// gives, and what the days it covers have spent over every release so far.
pub fn privacy_line(report: &Report) -> String {
    let p = &report.privacy;
    match p.mechanism {
        Mechanism::SelfTest => "no noise (self-test)".to_owned(),
        mechanism => format!(
            "{} noise of scale {:.2} on Confidant's counts, spending rho = {:.3} \
             (zero-concentrated DP, per member over the period), i.e. (epsilon = {:.2}, \
             delta = {:e})-DP by epsilon = rho + 2*sqrt(rho*ln(1/delta)); with this release the \
             most any day of the period has spent is rho = {:.3} (epsilon = {:.2}); each member \
             adds at most {} per cell per day to at most {} cells a day; `differs` marks counts \
             more than {:.1} from the app's own",
            mechanism.as_str().replace('_', " "),
            p.scale,
            p.rho,
            p.epsilon,
            p.delta,
            report.data_day_rho,
            report.data_day_epsilon,
            p.contribution_cap,
            p.cells_per_day,
            p.flag_threshold
        ),
    }
}

fn csv(report: &Report) -> Result<String, String> {
    let mut out = format!(
        "# Confidant engagement report {} for {} ({}), {} to {}\n",
        report.id, report.app.name, report.app.client_id, report.from, report.to
    );
    if let Some(notice) = &report.notice {
        out.push_str(&format!("# {notice}\n"));
    }
    out.push_str(&format!(
        "# Generated {}; {}\n",
        report.generated_at,
        privacy_line(report)
    ));
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    for row in &report.rows {
        writer.serialize(row).map_err(|e| e.to_string())?;
    }
    let table = writer.into_inner().map_err(|e| e.to_string())?;
    out.push_str(&String::from_utf8(table).map_err(|e| e.to_string())?);
    Ok(out)
}

/// The report page's stylesheet. It is inline so that a downloaded report needs nothing
/// else; served inside the app, the page's policy admits exactly it by its hash
/// ([`html_content_security_policy`]).
const REPORT_CSS: &str = "
  body { font: 15px/1.5 system-ui, sans-serif; color: #0f172a; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
  h1 { font-size: 1.5rem; margin-bottom: .25rem; }
  .meta, .caption { color: #475569; }
  .self-test { background: #fef3c7; border: 2px solid #d97706; padding: .75rem 1rem; font-weight: 600; }
  .totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: .5rem; margin: 0; }
  .totals div { border: 1px solid #e2e8f0; border-radius: .4rem; padding: .5rem .75rem; }
  .totals dt { color: #475569; font-size: 13px; }
  .totals dd { margin: 0; font-size: 1.25rem; font-variant-numeric: tabular-nums; }
  figure { margin: 1.5rem 0; }
  figcaption { font-weight: 600; }
  svg { width: 100%; height: auto; }
  svg .tick { font-size: 11px; fill: #475569; }
  svg .legend { font-size: 12px; fill: #0f172a; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { border-bottom: 1px solid #e2e8f0; padding: .2rem .4rem; text-align: left; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  tr.differs { background: #fee2e2; }
  details { margin-top: 1rem; }
  summary { cursor: pointer; color: #1d4ed8; }
";

/// The Content-Security-Policy to serve an HTML report under: the app's own, with the
/// report's stylesheet allowed by its SHA-256 and nothing else inline.
pub fn html_content_security_policy() -> &'static str {
    static POLICY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use base64::Engine;
        use sha2::Digest;
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(REPORT_CSS.as_bytes()));
        crate::http::CONTENT_SECURITY_POLICY
            .replace("style-src 'self'", &format!("style-src 'sha256-{hash}'"))
    });
    &POLICY
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage<'a> {
    report: &'a Report,
    css: &'static str,
    privacy: String,
    totals: Vec<(&'static str, String)>,
    /// What every cell's noise amounts to, said once above the table.
    cell_interval: Option<String>,
    charts: Vec<charts::Chart>,
    /// Rows with a count that is not zero, then the rest (shown behind a toggle).
    rows: Vec<&'a ReportRow>,
    zero_rows: Vec<&'a ReportRow>,
}

impl<'a> ReportPage<'a> {
    fn new(report: &'a Report) -> Self {
        let (rows, zero_rows) = report.rows.iter().partition(|row| {
            [
                row.sends,
                row.clicks,
                row.reported_sends,
                row.reported_clicks,
            ]
            .iter()
            .any(|count| count.is_some_and(|n| n != 0))
        });
        Self {
            report,
            css: REPORT_CSS,
            privacy: privacy_line(report),
            totals: charts::totals(report),
            cell_interval: charts::cell_interval(report),
            charts: charts::for_report(report),
            rows,
            zero_rows,
        }
    }
}

/// `-` for a count that does not apply.
fn count(value: &Option<i64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use confidant_core::reports::{NoiseParameters, ReportApp, ReportRow};

    fn report(mechanism: Mechanism) -> Report {
        let row = |interface: &str, channel: &str, sends: Option<i64>| ReportRow {
            day: "2026-11-09".into(),
            interface: interface.into(),
            initiation_surface: "title_page".into(),
            variation: "a".into(),
            channel: channel.into(),
            sends,
            clicks: sends.map(|s| s / 2),
            reported_sends: Some(4),
            reported_clicks: None,
            differs: true,
        };
        Report {
            format: "confidant-report/1".into(),
            id: "rpt_test".into(),
            app: ReportApp {
                client_id: "cfd_app_x".into(),
                name: "Stream, \"Flix\"".into(),
            },
            from: "2026-11-09".into(),
            to: "2026-11-09".into(),
            days: 1,
            generated_at: "2026-11-23T00:00:00.000Z".into(),
            self_test: mechanism == Mechanism::SelfTest,
            notice: (mechanism == Mechanism::SelfTest)
                .then(|| confidant_core::reports::SELF_TEST_NOTICE.into()),
            privacy: NoiseParameters {
                mechanism,
                scale: 3.5,
                rho: 0.5,
                contribution_cap: 3,
                cells_per_day: 4,
                delta: 1e-6,
                epsilon: 5.76,
                flag_threshold: 11.5,
            },
            data_day_rho: 0.5,
            data_day_epsilon: 5.76,
            rows: vec![
                row("web", "confidant", Some(8)),
                row("web", "off_platform", None),
                row("tv", "confidant", Some(-2)),
            ],
        }
    }

    #[test]
    fn csv_has_a_header_a_row_per_cell_and_blanks_where_nothing_applies() {
        let text = render(&report(Mechanism::DiscreteGaussian), ReportFormat::Csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# Confidant engagement report rpt_test"));
        assert!(lines[1].contains("discrete gaussian noise of scale 3.50"));
        // Every format states the privacy loss as (ε, δ) too, for this release and its days.
        assert!(
            lines[1].contains("(epsilon = 5.76, delta = 1e-6)-DP"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("has spent is rho = 0.500 (epsilon = 5.76)"));
        let html = render(&report(Mechanism::DiscreteGaussian), ReportFormat::Html).unwrap();
        assert!(html.contains("epsilon = 5.76"));
        assert_eq!(
            lines[2],
            "day,interface,initiation_surface,variation,channel,sends,clicks,reported_sends,\
             reported_clicks,differs"
        );
        assert_eq!(
            lines[3],
            "2026-11-09,web,title_page,a,confidant,8,4,4,,true"
        );
        assert_eq!(
            lines[4],
            "2026-11-09,web,title_page,a,off_platform,,,4,,true"
        );
        assert_eq!(lines.len(), 6);
        assert!(!text.contains("SELF-TEST"));
    }

    #[test]
    fn every_format_of_a_self_test_says_so_first() {
        let report = report(Mechanism::SelfTest);
        let csv = render(&report, ReportFormat::Csv).unwrap();
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("# SELF-TEST REPORT")
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&report, ReportFormat::Json).unwrap()).unwrap();
        assert_eq!(json["self_test"], true);
        assert!(
            json["notice"]
                .as_str()
                .unwrap()
                .starts_with("SELF-TEST REPORT")
        );
        let html = render(&report, ReportFormat::Html).unwrap();
        let banner = html.find("SELF-TEST REPORT").unwrap();
        assert!(banner < html.find("<table").unwrap());
        assert!(html.contains("<title>SELF-TEST"));
    }

    #[test]
    fn the_html_page_is_self_contained_with_charts() {
        let html = render(&report(Mechanism::DiscreteGaussian), ReportFormat::Html).unwrap();
        assert!(html.contains("<svg"));
        assert!(html.contains("Sends per day by interface"));
        assert!(html.contains("Click-through by surface and variation"));
        assert!(
            html.contains("Stream, &#34;Flix&#34;") || html.contains("Stream, &quot;Flix&quot;")
        );
        for external in ["<script src", "<link", "http://", "https://"] {
            assert!(!html.contains(external), "{external}");
        }
    }

    #[test]
    fn every_noisy_figure_carries_its_interval_and_short_periods_are_bars() {
        let html = render(&report(Mechanism::DiscreteGaussian), ReportFormat::Html).unwrap();
        // One cell per (day, interface): 1.96 × 3.5 ≈ 7; the two cells through Confidant
        // sum to 6, within 1.96 × 3.5 × √2 ≈ 10.
        assert!(
            html.contains("web ≈ 8 ± 7"),
            "the legend total with its interval"
        );
        assert!(html.contains("≈ 6 ± 10"), "the period's total sends");
        assert!(html.contains(r#"aria-label="bar chart""#));
        assert!(
            !html.contains(r#"aria-label="line chart""#),
            "one day is bars"
        );
        assert!(html.contains("<path d=\"M"), "whiskers");
        assert!(html.contains("95 % interval"));
        assert!(
            html.contains("within ± 7 of the true count"),
            "the table's cells too"
        );

        let exact = render(&report(Mechanism::SelfTest), ReportFormat::Html).unwrap();
        assert!(!exact.contains('±'), "a self-test has no intervals");
    }

    #[test]
    fn rows_of_zeros_fold_away_and_the_stylesheet_is_allowed_by_its_hash() {
        let mut zeros = report(Mechanism::SelfTest);
        for row in &mut zeros.rows {
            row.sends = row.sends.map(|_| 0);
            row.clicks = row.clicks.map(|_| 0);
            row.reported_sends = None;
        }
        let html = render(&zeros, ReportFormat::Html).unwrap();
        assert!(html.contains("<details>"));
        assert!(html.contains("3 more rows where every count is zero or absent"));

        use base64::Engine;
        use sha2::Digest;
        let style = html
            .split("<style>")
            .nth(1)
            .and_then(|rest| rest.split("</style>").next())
            .unwrap();
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(style.as_bytes()));
        let policy = html_content_security_policy();
        assert!(
            policy.contains(&format!("style-src 'sha256-{hash}'")),
            "{policy}"
        );
        assert!(!policy.contains("unsafe-inline"));
    }
}
