//! The report page's charts, drawn as inline SVG so that the page needs nothing else.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use confidant_core::partner::INTERFACES;
use confidant_core::reports::Report;
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
const RIGHT: f64 = 120.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const COLOURS: [&str; 5] = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed"];

pub fn for_report(report: &Report) -> Vec<Chart> {
    let mut days: Vec<&str> = report.rows.iter().map(|r| r.day.as_str()).collect();
    days.dedup();
    // One pass over the rows: (day, interface) → (sends, clicks) through Confidant.
    let mut totals: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
    for row in report
        .rows
        .iter()
        .filter(|r| r.channel == CHANNEL_CONFIDANT)
    {
        let total = totals.entry((&row.day, &row.interface)).or_default();
        total.0 += row.sends.unwrap_or(0);
        total.1 += row.clicks.unwrap_or(0);
    }
    let per_day = |pick: fn((i64, i64)) -> i64| {
        INTERFACES
            .iter()
            .map(|interface| {
                let series = days
                    .iter()
                    .map(|day| pick(totals.get(&(*day, *interface)).copied().unwrap_or_default()))
                    .collect::<Vec<_>>();
                (*interface, series)
            })
            .collect::<Vec<_>>()
    };
    vec![
        Chart {
            title: "Sends per day by interface",
            caption: "Recommendations sent through Confidant, as released.".into(),
            svg: lines(&days, &per_day(|(sends, _)| sends)),
        },
        Chart {
            title: "Clicks per day by interface",
            caption: "Recipients following a recommendation's link, as released.".into(),
            svg: lines(&days, &per_day(|(_, clicks)| clicks)),
        },
        click_through(report),
    ]
}

/// One line per series over the days, with a legend on the right.
fn lines(days: &[&str], series: &[(&str, Vec<i64>)]) -> String {
    let values = series.iter().flat_map(|(_, v)| v.iter().copied());
    let high = values.clone().max().unwrap_or(0).max(1) as f64;
    // Noise can take a released count below zero; the axis shows it rather than hiding it.
    let low = values.min().unwrap_or(0).min(0) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / (days.len().max(2) - 1) as f64;
    let y = |v: f64| TOP + plot_h * (high - v) / (high - low);
    let mut svg = open_svg("line chart");
    axes(&mut svg, low, high, y);
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="{}" class="tick">{}</text><text x="{}" y="{}" class="tick" text-anchor="end">{}</text>"#,
        HEIGHT - 8.0,
        escape(days.first().copied().unwrap_or("")),
        LEFT + plot_w,
        HEIGHT - 8.0,
        escape(days.last().copied().unwrap_or("")),
    );
    for (i, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(d, v)| format!("{:.1},{:.1}", x(d), y(*v as f64)))
            .collect();
        let total: i64 = values.iter().sum();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/><rect x="{}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{}" class="legend">{} ({total})</text>"#,
            points.join(" "),
            WIDTH - RIGHT + 12.0,
            TOP + 16.0 * i as f64,
            WIDTH - RIGHT + 26.0,
            TOP + 9.0 + 16.0 * i as f64,
            escape(name),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Clicks per send over the period, one bar per surface and variation.
fn click_through(report: &Report) -> Chart {
    let mut totals: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for row in report
        .rows
        .iter()
        .filter(|r| r.channel == CHANNEL_CONFIDANT)
    {
        let entry = totals
            .entry((&row.initiation_surface, &row.variation))
            .or_default();
        entry.0 += row.sends.unwrap_or(0);
        entry.1 += row.clicks.unwrap_or(0);
    }
    let bar_h = 22.0;
    let height = TOP + BOTTOM + bar_h * totals.len() as f64;
    let label_w = 220.0;
    let plot_w = WIDTH - label_w - RIGHT;
    let rates: Vec<Option<f64>> = totals
        .values()
        .map(|(sends, clicks)| (*sends > 0).then(|| (*clicks).max(0) as f64 / *sends as f64))
        .collect();
    let top_rate = rates
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(0.01);
    let mut svg =
        format!(r#"<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="bar chart">"#);
    for (i, (((surface, variation), (sends, clicks)), rate)) in
        totals.iter().zip(&rates).enumerate()
    {
        let y = TOP + bar_h * i as f64;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="legend" text-anchor="end">{} · {}</text>"#,
            label_w - 8.0,
            y + 15.0,
            escape(surface),
            escape(variation)
        );
        let text = match rate {
            Some(rate) => {
                let _ = write!(
                    svg,
                    r#"<rect x="{label_w}" y="{}" width="{:.1}" height="{}" fill="{}"/>"#,
                    y + 3.0,
                    plot_w * rate / top_rate,
                    bar_h - 6.0,
                    COLOURS[i % COLOURS.len()]
                );
                format!("{:.1}% ({clicks} / {sends})", rate * 100.0)
            }
            None => "no sends".to_owned(),
        };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="tick">{}</text>"#,
            label_w + rate.map_or(0.0, |r| plot_w * r / top_rate) + 6.0,
            y + 15.0,
            escape(&text)
        );
    }
    svg.push_str("</svg>");
    Chart {
        title: "Click-through by surface and variation",
        caption: "Clicks per send over the whole period, through Confidant.".into(),
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
