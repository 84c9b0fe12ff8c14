//! The report page's charts, drawn as inline SVG so that the page needs nothing else.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use confidant_core::partner::INTERFACES;
use confidant_core::reports::{Mechanism, Report};
use confidant_core::store::CHANNEL_CONFIDANT;

/// One chart: a title, a line saying what it shows, and its SVG.
pub struct Chart {
    pub title: &'static str,
    pub caption: String,
    /// Built here, every text in it escaped.
    pub svg: String,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Periods this short (in days) are drawn as bars: a line needs more points to say anything.
const SHORT_PERIOD: usize = 3;
const COLOURS: [&str; 5] = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed"];

pub fn for_report(report: &Report) -> Vec<Chart> {
    let mut days: Vec<&str> = report.rows.iter().map(|r| r.day.as_str()).collect();
    days.dedup();
    // One pass over the rows: (day, interface) → sends, clicks and how many cells were summed.
    let mut totals: HashMap<(&str, &str), Sum> = HashMap::new();
    for row in report
        .rows
        .iter()
        .filter(|r| r.channel == CHANNEL_CONFIDANT)
    {
        totals
            .entry((&row.day, &row.interface))
            .or_default()
            .add(row.sends, row.clicks);
    }
    let per_day = |pick: fn(&Sum) -> i64| {
        INTERFACES
            .iter()
            .map(|interface| {
                let mut cells = 0;
                let values = days
                    .iter()
                    .map(|day| {
                        let sum = totals.get(&(*day, *interface)).cloned().unwrap_or_default();
                        cells = cells.max(sum.cells);
                        pick(&sum)
                    })
                    .collect::<Vec<_>>();
                Series {
                    name: interface,
                    values,
                    cells_per_point: cells,
                }
            })
            .collect::<Vec<_>>()
    };
    let noise = Noise::of(report);
    let caption = |what: &str| match noise.exact() {
        true => format!("{what}, exact (self-test)."),
        false => format!(
            "{what}, as released with noise; the shaded band or whisker is the 95 % interval \
             of the true count."
        ),
    };
    vec![
        Chart {
            title: "Sends per day by interface",
            caption: caption("Recommendations sent through Confidant"),
            svg: daily(&days, &per_day(|sum| sum.sends), &noise),
        },
        Chart {
            title: "Clicks per day by interface",
            caption: caption("Recipients following a recommendation's link"),
            svg: daily(&days, &per_day(|sum| sum.clicks), &noise),
        },
        click_through(report, &noise),
    ]
}

/// What one released cell's interval is, in words, for the table of every cell; `None` for
/// exact counts.
pub fn cell_interval(report: &Report) -> Option<String> {
    let noise = Noise::of(report);
    (!noise.exact()).then(|| {
        format!(
            "Each count Confidant measured is within ± {} of the true count with 95 % \
             probability; counts below zero are noise around small true counts.",
            thousands(noise.half_width(1).round() as i64)
        )
    })
}

/// The period's totals through Confidant, each with its 95 % interval, and the app's own.
pub fn totals(report: &Report) -> Vec<(&'static str, String)> {
    let noise = Noise::of(report);
    let mut confidant = Sum::default();
    let (mut reported_sends, mut reported_clicks) = (None::<i64>, None::<i64>);
    for row in &report.rows {
        if row.channel == CHANNEL_CONFIDANT {
            confidant.add(row.sends, row.clicks);
        }
        if let Some(sends) = row.reported_sends {
            *reported_sends.get_or_insert(0) += sends;
        }
        if let Some(clicks) = row.reported_clicks {
            *reported_clicks.get_or_insert(0) += clicks;
        }
    }
    let half = noise.half_width(confidant.cells);
    let reported = |total: Option<i64>| total.map_or_else(|| "none reported".into(), thousands);
    vec![
        ("Sends through Confidant", approx(confidant.sends, half)),
        ("Clicks through Confidant", approx(confidant.clicks, half)),
        (
            "Sends the app reported, all channels",
            reported(reported_sends),
        ),
        (
            "Clicks the app reported, all channels",
            reported(reported_clicks),
        ),
    ]
}

/// Released counts summed over cells, and how many cells (each with its own noise) went in.
#[derive(Debug, Clone, Default)]
struct Sum {
    sends: i64,
    clicks: i64,
    cells: usize,
}

impl Sum {
    fn add(&mut self, sends: Option<i64>, clicks: Option<i64>) {
        self.sends += sends.unwrap_or(0);
        self.clicks += clicks.unwrap_or(0);
        self.cells += 1;
    }
}

/// One line (or set of bars) of a daily chart.
struct Series<'a> {
    name: &'a str,
    values: Vec<i64>,
    /// How many released cells each value sums.
    cells_per_point: usize,
}

/// The noise on released counts, as intervals.
struct Noise {
    mechanism: Mechanism,
    scale: f64,
}

impl Noise {
    fn of(report: &Report) -> Self {
        Noise {
            mechanism: report.privacy.mechanism,
            scale: report.privacy.scale,
        }
    }

    fn exact(&self) -> bool {
        self.mechanism == Mechanism::SelfTest || self.scale == 0.0
    }

    /// Half the width of the 95 % interval of a sum of `cells` released counts, each with
    /// independent noise: 1.96 σ √n for the discrete Gaussian; for the discrete Laplace of
    /// scale b, b ln 20 for one cell and the normal approximation 1.96 b √(2n) for a sum.
    fn half_width(&self, cells: usize) -> f64 {
        let n = cells as f64;
        match self.mechanism {
            _ if self.exact() || cells == 0 => 0.0,
            Mechanism::DiscreteGaussian => 1.96 * self.scale * n.sqrt(),
            Mechanism::DiscreteLaplace if cells == 1 => self.scale * 20f64.ln(),
            Mechanism::DiscreteLaplace => 1.96 * self.scale * (2.0 * n).sqrt(),
            Mechanism::SelfTest => 0.0,
        }
    }
}

/// "≈ 1,234 ± 56" for a noisy figure, "1,234" for an exact one.
pub fn approx(value: i64, half_width: f64) -> String {
    if half_width == 0.0 {
        thousands(value)
    } else {
        format!(
            "≈ {} ± {}",
            thousands(value),
            thousands(half_width.round() as i64)
        )
    }
}

fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 {
        out.insert(0, '−');
    }
    out
}

/// A daily chart: lines with their interval bands, or grouped bars with whiskers when the
/// period is too short for a line to show anything.
fn daily(days: &[&str], series: &[Series<'_>], noise: &Noise) -> String {
    let halves: Vec<f64> = series
        .iter()
        .map(|s| noise.half_width(s.cells_per_point))
        .collect();
    let values = series.iter().zip(&halves).flat_map(|(s, half)| {
        s.values
            .iter()
            .flat_map(move |v| [*v as f64 + half, *v as f64 - half])
    });
    let high = values.clone().fold(1.0, f64::max).ceil();
    // Noise can take a released count below zero; the axis shows it rather than hiding it.
    let low = values.fold(0.0, f64::min).floor();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h * (high - v) / (high - low);
    let mut svg = open_svg(if days.len() <= SHORT_PERIOD {
        "bar chart"
    } else {
        "line chart"
    });
    axes(&mut svg, low, high, y);
    if days.len() <= SHORT_PERIOD {
        let group_w = plot_w / days.len().max(1) as f64;
        let bar_w = (group_w - 16.0) / series.len().max(1) as f64;
        for (d, day) in days.iter().enumerate() {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" class="tick" text-anchor="middle">{}</text>"#,
                LEFT + group_w * (d as f64 + 0.5),
                HEIGHT - 8.0,
                escape(day)
            );
            for (i, (s, half)) in series.iter().zip(&halves).enumerate() {
                let value = s.values[d] as f64;
                let x = LEFT + group_w * d as f64 + 8.0 + bar_w * i as f64;
                let (top, bottom) = (y(value.max(0.0)), y(value.min(0.0)));
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                    bar_w - 2.0,
                    bottom - top,
                    COLOURS[i % COLOURS.len()]
                );
                whisker(
                    &mut svg,
                    x + bar_w / 2.0 - 1.0,
                    y(value + half),
                    y(value - half),
                );
            }
        }
    } else {
        let x = |i: usize| LEFT + plot_w * i as f64 / (days.len() - 1) as f64;
        // About seven dated ticks, whatever the period.
        let step = days.len().div_ceil(7);
        for (i, day) in days.iter().enumerate().step_by(step) {
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#cbd5e1"/><text x="{x:.1}" y="{}" class="tick" text-anchor="middle">{}</text>"##,
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM + 4.0,
                HEIGHT - 8.0,
                escape(day.get(5..).unwrap_or(day)),
                x = x(i),
            );
        }
        for (i, (s, half)) in series.iter().zip(&halves).enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let point = |d: usize, v: f64| format!("{:.1},{:.1}", x(d), y(v));
            if *half > 0.0 {
                let upper = s
                    .values
                    .iter()
                    .enumerate()
                    .map(|(d, v)| point(d, *v as f64 + half));
                let lower = s
                    .values
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(d, v)| point(d, *v as f64 - half));
                let band: Vec<String> = upper.chain(lower).collect();
                let _ = write!(
                    svg,
                    r#"<polygon fill="{colour}" fill-opacity="0.15" stroke="none" points="{}"/>"#,
                    band.join(" ")
                );
            }
            let line: Vec<String> = s
                .values
                .iter()
                .enumerate()
                .map(|(d, v)| point(d, *v as f64))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                line.join(" ")
            );
        }
    }
    // The legend gives each series' total over the period, with its interval.
    for (i, s) in series.iter().enumerate() {
        let total: i64 = s.values.iter().sum();
        let half = noise.half_width(s.cells_per_point * s.values.len());
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" class="legend">{} {}</text>"#,
            WIDTH - RIGHT + 8.0,
            TOP + 16.0 * i as f64,
            COLOURS[i % COLOURS.len()],
            WIDTH - RIGHT + 22.0,
            TOP + 9.0 + 16.0 * i as f64,
            escape(s.name),
            escape(&approx(total, half)),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A vertical interval with caps, from `top` to `bottom` (SVG y).
fn whisker(svg: &mut String, x: f64, top: f64, bottom: f64) {
    if (bottom - top).abs() < 0.5 {
        return;
    }
    let _ = write!(
        svg,
        r##"<path d="M{x:.1},{top:.1}V{bottom:.1}M{:.1},{top:.1}H{:.1}M{:.1},{bottom:.1}H{:.1}" stroke="#0f172a" stroke-width="1.2" fill="none"/>"##,
        x - 4.0,
        x + 4.0,
        x - 4.0,
        x + 4.0,
    );
}

/// Clicks per send over the period, one bar per surface and variation, with the interval
/// the noise on both counts leaves the rate in.
fn click_through(report: &Report, noise: &Noise) -> Chart {
    let mut totals: BTreeMap<(&str, &str), Sum> = BTreeMap::new();
    for row in report
        .rows
        .iter()
        .filter(|r| r.channel == CHANNEL_CONFIDANT)
    {
        totals
            .entry((&row.initiation_surface, &row.variation))
            .or_default()
            .add(row.sends, row.clicks);
    }
    // (rate, low, high): the low end takes the fewest clicks over the most sends the
    // intervals allow, the high end the reverse.
    let rates: Vec<Option<(f64, f64, f64)>> = totals
        .values()
        .map(|sum| {
            let half = noise.half_width(sum.cells);
            let (sends, clicks) = (sum.sends as f64, sum.clicks.max(0) as f64);
            (sends > 0.0).then(|| {
                let low = (clicks - half).max(0.0) / (sends + half);
                let high = if sends - half > 0.0 {
                    ((clicks + half) / (sends - half)).min(1.0)
                } else {
                    1.0
                };
                (clicks / sends, low, high)
            })
        })
        .collect();
    let top_rate = rates
        .iter()
        .flatten()
        .map(|(rate, _, high)| rate.max(*high))
        .fold(0.0, f64::max)
        .max(0.01);
    let bar_h = 24.0;
    let height = TOP + BOTTOM + bar_h * totals.len() as f64;
    let label_w = 220.0;
    let plot_w = WIDTH - label_w - RIGHT - 40.0;
    let mut svg =
        format!(r#"<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="bar chart">"#);
    for (i, ((surface, variation), rate)) in totals.keys().zip(&rates).enumerate() {
        let y = TOP + bar_h * i as f64;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="legend" text-anchor="end">{} · {}</text>"#,
            label_w - 8.0,
            y + 15.0,
            escape(surface),
            escape(variation)
        );
        let (text, end) = match rate {
            Some((rate, low, high)) => {
                let _ = write!(
                    svg,
                    r#"<rect x="{label_w}" y="{}" width="{:.1}" height="{}" fill="{}"/>"#,
                    y + 4.0,
                    plot_w * rate / top_rate,
                    bar_h - 8.0,
                    COLOURS[i % COLOURS.len()]
                );
                let (from, to) = (
                    label_w + plot_w * low / top_rate,
                    label_w + plot_w * high / top_rate,
                );
                if to - from >= 0.5 {
                    let middle = y + bar_h / 2.0;
                    let _ = write!(
                        svg,
                        r##"<path d="M{from:.1},{middle:.1}H{to:.1}M{from:.1},{:.1}V{:.1}M{to:.1},{:.1}V{:.1}" stroke="#0f172a" stroke-width="1.2" fill="none"/>"##,
                        middle - 4.0,
                        middle + 4.0,
                        middle - 4.0,
                        middle + 4.0,
                    );
                }
                let text = if noise.exact() {
                    format!("{:.1} %", rate * 100.0)
                } else {
                    format!(
                        "{:.1} % ({:.1}–{:.1} %)",
                        rate * 100.0,
                        low * 100.0,
                        high * 100.0
                    )
                };
                (text, (plot_w * rate.max(*high) / top_rate).max(0.0))
            }
            None => ("no sends".to_owned(), 0.0),
        };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="tick">{}</text>"#,
            label_w + end + 6.0,
            y + 15.0,
            escape(&text)
        );
    }
    svg.push_str("</svg>");
    Chart {
        title: "Click-through by surface and variation",
        caption: if noise.exact() {
            "Clicks per send over the whole period, through Confidant (exact, self-test).".into()
        } else {
            "Clicks per send over the whole period, through Confidant; the whisker and the \
             range in brackets are the 95 % interval."
                .into()
        },
        svg,
    }
}

fn open_svg(label: &str) -> String {
    format!(r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">"#)
}

/// The zero line and the top and bottom values.
fn axes(svg: &mut String, low: f64, high: f64, y: impl Fn(f64) -> f64) {
    let right = WIDTH - RIGHT;
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{right}" y1="{z:.1}" y2="{z:.1}" stroke="#94a3b8"/><text x="{tx}" y="{ty:.1}" class="tick" text-anchor="end">{high}</text><text x="{tx}" y="{by:.1}" class="tick" text-anchor="end">{low}</text>"##,
        z = y(0.0),
        tx = LEFT - 6.0,
        ty = y(high) + 10.0,
        by = y(low),
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
