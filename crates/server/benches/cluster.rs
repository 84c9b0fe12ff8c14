//! Cluster benchmark: three nodes on one PostgreSQL database and one NATS server, all in this
//! process on loopback. Members send a steady 1,000 messages/s through nodes 1 and 2; their
//! friends follow live on node 3. Prints the send-to-delivery latency across nodes (p50, p99)
//! and the CPU fan-out costs: the same load is run again with no stream open, and the
//! difference in this process's CPU time, per message, is what delivering it to the other
//! node's streams costs (announcing on NATS, relaying, reading the feed, rendering).
//!
//! `cargo bench -p confidant-server --bench cluster`, with `CONFIDANT_BENCH_POSTGRES_URL` (or
//! the tests' variable) and `/usr/sbin/nats-server`; skipped, loudly, without them.
//! `CLUSTER_BENCH_SECS` sets each phase's duration (default 10), `CLUSTER_BENCH_RATE` the
//! messages a second (default 1,000). Under `cargo test` it runs
//! for a fraction of a second at a tenth of the rate, so it keeps working.

#![allow(
    clippy::print_stdout,
    reason = "the report on standard output is what a benchmark is for"
)]

#[allow(
    dead_code,
    reason = "shared with the load benchmark, which uses all of it"
)]
#[path = "load/target.rs"]
mod target;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use confidant_server::config::Config;
use confidant_server::startup;
use confidant_store::testing::TestDatabase;

const NATS_SERVER: &str = "/usr/sbin/nats-server";
/// Conversations: a sender on node 1 or 2, a receiver streaming on node 3.
const PAIRS: usize = 50;

struct Node {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    stopped: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_node(config: &Config) -> Node {
    let mut config = config.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    config.server.public_url = Some(url.clone());
    let server = startup::build(&config).await.unwrap();
    let (stop, stopping) = tokio::sync::oneshot::channel();
    let stopped = tokio::spawn(server.serve(listener, async move {
        let _ = stopping.await;
    }));
    Node { url, stop, stopped }
}

/// This process's CPU time so far (user and system).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel reports in clock ticks, 100 per second on Linux.
    Duration::from_millis(ticks * 10)
}

/// Follows one member's event stream; records each message's latency from the time in its
/// body (microseconds since `epoch`).
fn follow(
    http: reqwest::Client,
    url: String,
    token: String,
    epoch: Instant,
    latencies: Arc<Mutex<Vec<Duration>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let response = http
            .get(format!("{url}/api/v1/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let event: Value = serde_json::from_str(data.trim()).unwrap_or_default();
                let sent = event["message"]["body"]
                    .as_str()
                    .and_then(|body| body.strip_prefix("t="))
                    .and_then(|micros| micros.parse::<u64>().ok());
                if let Some(sent) = sent {
                    let latency = epoch.elapsed() - Duration::from_micros(sent);
                    latencies.lock().unwrap().push(latency);
                }
            }
        }
    })
}

/// Sends `rate` messages a second for `duration`, alternating nodes 1 and 2; returns how many
/// were accepted.
async fn steady_sends(
    http: &reqwest::Client,
    nodes: [&str; 2],
    senders: &[target::Member],
    rate: u64,
    duration: Duration,
    epoch: Instant,
) -> usize {
    let mut every = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sends = Vec::new();
    let mut n = 0;
    while started.elapsed() < duration {
        every.tick().await;
        let sender = senders[n % senders.len()].clone();
        let url = nodes[n % 2].to_owned();
        let http = http.clone();
        sends.push(tokio::spawn(async move {
            let body = format!("t={}", epoch.elapsed().as_micros());
            http.post(format!(
                "{url}/api/v1/conversations/{}/messages",
                sender.conversation
            ))
            .bearer_auth(&sender.token)
            .json(&json!({ "body": body }))
            .send()
            .await
            .is_ok_and(|response| response.status() == 201)
        }));
        n += 1;
    }
    let mut accepted = 0;
    for send in sends {
        accepted += usize::from(send.await.unwrap());
    }
    accepted
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn main() {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let secs: f64 = std::env::var("CLUSTER_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if measuring { 10.0 } else { 0.5 });
    let duration = Duration::from_secs_f64(secs);
    let rate: u64 = std::env::var("CLUSTER_BENCH_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if measuring { 1000 } else { 100 });
    let Ok(_) = std::env::var("CONFIDANT_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var(confidant_store::testing::POSTGRES_URL_VAR))
    else {
        println!("SKIPPED: cluster benchmark (set CONFIDANT_BENCH_POSTGRES_URL)");
        return;
    };
    if !std::path::Path::new(NATS_SERVER).exists() {
        println!("SKIPPED: cluster benchmark ({NATS_SERVER} is not installed)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(duration, rate));
}

async fn run(duration: Duration, rate: u64) {
    let nats_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut nats: Child = Command::new(NATS_SERVER)
        .args(["-a", "127.0.0.1", "-p", &nats_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }

    let db = TestDatabase::postgres("cluster benchmark").await.unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut configs: Vec<Config> = dirs
        .iter()
        .map(|dir| target::config(dir.path(), &db.url))
        .collect();
    for config in &mut configs {
        config.cluster.nats_url = Some(format!("nats://127.0.0.1:{nats_port}"));
    }
    // The first node pins the access-log key; the others share its file.
    let mut nodes = vec![start_node(&configs[0]).await];
    let key = startup::log_key_path(&configs[0]);
    for config in &configs[1..] {
        std::fs::copy(&key, startup::log_key_path(config)).unwrap();
        nodes.push(start_node(config).await);
    }

    let http = reqwest::Client::new();
    let members = target::members(&http, &nodes[0].url, 2 * PAIRS).await;
    // Member 2k sends in the conversation with 2k+1, who follows on node 3.
    let senders: Vec<target::Member> = members.iter().step_by(2).cloned().collect();
    let receivers: Vec<&target::Member> = members.iter().skip(1).step_by(2).collect();
    let node_urls = [nodes[0].url.as_str(), nodes[1].url.as_str()];
    let epoch = Instant::now();

    // With every receiver streaming on node 3.
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let streams: Vec<_> = receivers
        .iter()
        .map(|member| {
            follow(
                http.clone(),
                nodes[2].url.clone(),
                member.token.clone(),
                epoch,
                latencies.clone(),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu = cpu_time();
    let sent = steady_sends(&http, node_urls, &senders, rate, duration, epoch).await;
    // The last ones are still on their way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_streams = cpu_time() - cpu;
    streams.iter().for_each(|stream| stream.abort());
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();

    // The same load with nobody streaming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu = cpu_time();
    let sent_alone = steady_sends(&http, node_urls, &senders, rate, duration, epoch).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let without_streams = cpu_time() - cpu;

    let per_message = |cpu: Duration, sent: usize| cpu.as_secs_f64() * 1e6 / sent.max(1) as f64;
    println!("\n## Cluster (3 nodes, PostgreSQL, NATS; {rate} messages/s for {duration:?})\n");
    println!("| figure | value |");
    println!("|---|---|");
    println!("| messages sent through nodes 1 and 2 | {sent} |");
    println!(
        "| delivered live on node 3 | {} ({:.1} %) |",
        latencies.len(),
        100.0 * latencies.len() as f64 / sent.max(1) as f64
    );
    if !latencies.is_empty() {
        println!(
            "| send-to-delivery latency across nodes, p50 | {:.2} ms |",
            percentile(&latencies, 50).as_secs_f64() * 1e3
        );
        println!(
            "| send-to-delivery latency across nodes, p99 | {:.2} ms |",
            percentile(&latencies, 99).as_secs_f64() * 1e3
        );
    }
    let with = per_message(with_streams, sent);
    let without = per_message(without_streams, sent_alone);
    println!("| CPU per message, with {PAIRS} streams on node 3 | {with:.0} µs |");
    println!("| CPU per message, nobody streaming | {without:.0} µs |");
    println!(
        "| CPU fan-out costs per message (the difference) | {:.0} µs |",
        with - without
    );

    for node in nodes {
        let _ = node.stop.send(());
        node.stopped.await.unwrap().unwrap();
    }
    let _ = nats.kill();
    let _ = nats.wait();
    db.remove().await;
}
