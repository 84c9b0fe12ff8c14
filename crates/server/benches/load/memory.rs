//! Memory: Confidant in its own process (the release binary), so that its resident set is
//! its own. Measured idle after start, then holding open event streams.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::measure::{Measured, drive};
use crate::target::{Member, members, ok_json, send_one};

/// Resident set sizes, in bytes, and message sends with and without the streams open.
pub struct Memory {
    pub idle: u64,
    pub streams: usize,
    pub with_streams: u64,
    pub sends_alone: Measured,
    pub sends_beside_streams: Measured,
}

/// Sends between two other members, 8 connections: what the open streams cost everyone else.
async fn sends(
    what: &str,
    http: &reqwest::Client,
    url: &str,
    sender: &Arc<Member>,
    duration: Duration,
) -> Measured {
    let (http, url, sender) = (http.clone(), url.to_owned(), sender.clone());
    drive(what, 8, duration, move |_, n| {
        let (http, url, sender) = (http.clone(), url.clone(), sender.clone());
        async move { send_one(&http, &url, &sender, n).await }
    })
    .await
}

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_confidant"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("CONFIDANT_LOG__FILTER", "warn")
            .env("CONFIDANT_ACCOUNTS__ARGON2_MEMORY_KIB", "64")
            .env("CONFIDANT_ACCOUNTS__ARGON2_ITERATIONS", "1")
            .stdout(Stdio::null())
            .spawn()
            .expect("start confidant");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..600 {
            if let Ok(response) = reqwest::get(format!("{}/healthz", server.url)).await
                && response.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("confidant did not start");
    }

    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kib * 1024
    }
}

/// Idle RSS, then RSS with `streams` open `GET /api/v1/events` streams of one member; and
/// two other members' sends before and while those streams are open.
pub async fn measure(http: &reqwest::Client, streams: usize, duration: Duration) -> Memory {
    let server = Server::start().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.rss();

    let url = &server.url;
    // Two members of their own, who send to each other.
    let sender = Arc::new(members(http, url, 2).await.remove(0));
    let sends_alone = sends(
        "baseline: send a message, separate process, 8 connections",
        http,
        url,
        &sender,
        duration,
    )
    .await;
    ok_json(http.post(format!("{url}/api/v1/accounts")).json(
        &json!({ "handle": "listener", "password": "a long enough password", "display_name": "L" }),
    ))
    .await;
    let session = ok_json(
        http.post(format!("{url}/api/v1/sessions"))
            .json(&json!({ "handle": "listener", "password": "a long enough password" })),
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let address = url.trim_start_matches("http://").to_owned();
    let request = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    // Raw connections, so the client side costs little; each waits for the 200 head.
    let open = futures::stream::iter(0..streams)
        .map(|_| {
            let (address, request) = (address.clone(), request.clone());
            async move {
                let mut stream = TcpStream::connect(&address).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                let mut head = [0u8; 64];
                let read = stream.read(&mut head).await.unwrap();
                assert!(
                    head[..read].starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&head[..read])
                );
                stream
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_streams = server.rss();
    let what =
        format!("send a message beside {streams} idle streams of another member, 8 connections");
    let sends_beside_streams = sends(&what, http, url, &sender, duration).await;
    drop(open);
    Memory {
        idle,
        streams,
        with_streams,
        sends_alone,
        sends_beside_streams,
    }
}
