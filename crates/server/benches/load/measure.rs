//! Measuring a workload: run it on concurrent connections for a while, and summarise.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One row of the table.
pub struct Measured {
    pub what: String,
    /// Units of work done: requests, or rows and events where the row says so.
    pub units: u64,
    pub elapsed: Duration,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
}

impl Measured {
    /// `units` done in `elapsed`, with the latency of each request measured.
    pub fn new(
        what: impl Into<String>,
        units: u64,
        elapsed: Duration,
        mut latencies: Vec<Duration>,
    ) -> Self {
        latencies.sort();
        let at = |q: f64| {
            (!latencies.is_empty()).then(|| {
                latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)]
            })
        };
        Measured {
            what: what.into(),
            units,
            elapsed,
            p50: at(0.50),
            p99: at(0.99),
        }
    }

    /// A rate measured elsewhere (pgbench), without latencies.
    pub fn rate_only(what: impl Into<String>, per_second: f64) -> Self {
        Measured {
            what: what.into(),
            units: per_second.round() as u64,
            elapsed: Duration::from_secs(1),
            p50: None,
            p99: None,
        }
    }

    pub fn rate(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64()
    }
}

/// A table row: a measured rate against a baseline, or a plain figure (memory).
pub enum Row {
    Rate {
        measured: Measured,
        baseline: Option<(String, f64)>,
        goal: &'static str,
    },
    Figure {
        what: String,
        value: String,
        goal: &'static str,
    },
}

impl Row {
    pub fn baseline(measured: Measured) -> Self {
        Row::Rate {
            measured,
            baseline: None,
            goal: "",
        }
    }

    pub fn against(
        measured: Measured,
        baseline: &Measured,
        short: &str,
        goal: &'static str,
    ) -> Self {
        Row::against_rate(measured, baseline.rate(), short, goal)
    }

    /// `measured` against the mean rate of the baseline runs just before and just after it:
    /// on a machine whose speed drifts from minute to minute, a ratio to a baseline measured
    /// minutes earlier moves with the drift, and one to its neighbours much less.
    pub fn between(
        measured: Measured,
        before: &Measured,
        after: &Measured,
        short: &str,
        goal: &'static str,
    ) -> Self {
        let mean = (before.rate() + after.rate()) / 2.0;
        Row::against_rate(measured, mean, short, goal)
    }

    fn against_rate(measured: Measured, rate: f64, short: &str, goal: &'static str) -> Self {
        Row::Rate {
            baseline: Some((short.to_owned(), rate)),
            measured,
            goal,
        }
    }

    pub fn print(&self) {
        let ms = |d: Option<Duration>| {
            d.map_or("".into(), |d| format!("{:.2} ms", d.as_secs_f64() * 1000.0))
        };
        match self {
            Row::Rate {
                measured,
                baseline,
                goal,
            } => {
                let ratio = baseline
                    .as_ref()
                    .map(|(name, rate)| format!("{:.2}× {name}", measured.rate() / rate))
                    .unwrap_or_else(|| "baseline".into());
                println!(
                    "| {} | {} /s | {} | {} | {ratio} | {goal} |",
                    measured.what,
                    thousands(measured.rate()),
                    ms(measured.p50),
                    ms(measured.p99),
                );
            }
            Row::Figure { what, value, goal } => println!("| {what} | {value} | | | | {goal} |"),
        }
    }
}

/// 12345.6 → "12,346".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs `request(connection, n)` on `connections` concurrent tasks for `duration`; every
/// request must succeed (the closure asserts it).
pub async fn drive<F, Fut>(
    what: &str,
    connections: usize,
    duration: Duration,
    request: F,
) -> Measured
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let request = request.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                request(connection, n).await;
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    Measured::new(what, latencies.len() as u64, elapsed, latencies)
}
