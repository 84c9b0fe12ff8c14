//! Driving a workload from a separate process: `wrk` (Debian's package), so that the load
//! generator takes none of the CPU of the process being measured. Each workload is a list of
//! requests that wrk's threads cycle through (a Lua script reads them from a file), on
//! HTTP/1.1 keep-alive connections.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::measure::Measured;

/// One request of a workload.
#[derive(Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Request {
    pub fn get(path: impl Into<String>) -> Self {
        Request {
            method: "GET",
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// Whether `wrk` is installed.
pub fn available() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("wrk").is_file()))
}

/// Reads the requests (one per line: method, path, headers `name: value` joined by `|`, body;
/// separated by tabs) and hands them out in turn, each thread starting somewhere else.
const SCRIPT: &str = r#"
local requests = {}
local turn = 0
function init(args)
  for line in io.lines(args[1]) do
    local method, path, headers, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local h = {}
    for header in headers:gmatch("[^|]+") do
      local name, value = header:match("^([^:]+): (.*)$")
      h[name] = value
    end
    if body == "" then body = nil end
    requests[#requests + 1] = wrk.format(method, path, h, body)
  end
  turn = math.random(#requests)
end
function request()
  turn = turn % #requests + 1
  return requests[turn]
end
"#;

/// Runs wrk against `base_url` for `duration` (whole seconds, at least one) on `connections`
/// connections; every answer must be 2xx or 3xx.
pub fn run(
    what: &str,
    base_url: &str,
    requests: &[Request],
    connections: usize,
    duration: Duration,
    dir: &Path,
) -> Measured {
    let script = dir.join("requests.lua");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut lines = String::new();
    for request in requests {
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        let body = request.body.as_deref().unwrap_or("");
        assert!(
            !body.contains(['\t', '\n']),
            "a body on one line, without tabs"
        );
        writeln!(
            lines,
            "{}\t{}\t{}\t{body}",
            request.method,
            request.path,
            headers.join("|")
        )
        .unwrap();
    }
    let list = dir.join("requests.tsv");
    std::fs::write(&list, lines).unwrap();
    let seconds = duration.as_secs_f64().ceil().max(1.0) as u64;
    let output = Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--latency", "-s"])
        .arg(&script)
        .arg(base_url)
        .arg("--")
        .arg(&list)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed:\n{text}");
    assert!(
        !text.contains("Non-2xx or 3xx responses"),
        "{what}: some answers were errors:\n{text}"
    );
    parse(what, &text)
}

/// The request count, duration and latency percentiles of wrk's report.
fn parse(what: &str, text: &str) -> Measured {
    let mut units = None;
    let mut elapsed = None;
    let mut p50 = None;
    let mut p99 = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("50%") {
            p50 = parse_time(rest.trim());
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = parse_time(rest.trim());
        } else if let Some((count, rest)) = line.split_once(" requests in ") {
            units = count.trim().parse::<u64>().ok();
            elapsed = parse_time(rest.split(',').next().unwrap_or("").trim());
        }
    }
    let (Some(units), Some(elapsed)) = (units, elapsed) else {
        panic!("{what}: no request count in wrk's report:\n{text}");
    };
    Measured {
        what: what.into(),
        units,
        elapsed,
        p50,
        p99,
    }
}

/// wrk's durations: `812.00us`, `1.23ms`, `10.00s`, `1.01m`.
fn parse_time(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}
