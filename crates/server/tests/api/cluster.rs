//! Several nodes on one PostgreSQL database, telling each other about new events over a NATS
//! server this test starts on a free port: live delivery across nodes, with NATS lost and
//! back, and with a node gone; revocations and log-in throttles that hold on every node; and
//! periodic jobs that all nodes run but that happen once.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use confidant_store::testing::TestDatabase;

use crate::events::EventStream;
use crate::helpers::{PASSWORD, TestApp, TestMember};
use crate::partner::receiver;

const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// How long a test waits for an event it knows is coming: far longer than it takes, so
/// that a machine busy with the rest of the suite does not fail it.
const PATIENCE: Duration = Duration::from_secs(15);

/// A `nats-server` of the test's own; killed when dropped.
struct Nats {
    port: u16,
    process: Option<Child>,
}

impl Nats {
    /// `None` (and a loud note) when nats-server is not installed.
    fn start() -> Option<Self> {
        if !std::path::Path::new(NATS_SERVER).exists() {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: cluster test ({NATS_SERVER} is not installed; .ci/run installs it)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = Nats {
            port,
            process: None,
        };
        nats.restart();
        Some(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server (again) on the same port, and waits until it accepts connections.
    fn restart(&mut self) {
        self.kill();
        let process = Command::new(NATS_SERVER)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.process = Some(process);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three nodes on one fresh PostgreSQL database and `nats`, or `None` (said loudly) when
/// PostgreSQL or NATS is missing.
async fn cluster(test: &str, nats: &Nats, resync_secs: u64) -> Option<[TestApp; 3]> {
    let db = TestDatabase::postgres(test).await?;
    let url = nats.url();
    let node = |config: &mut confidant_server::config::Config| {
        config.cluster.nats_url = Some(url.clone());
        config.cluster.resync_secs = resync_secs;
    };
    let first = TestApp::spawn_with(db, node).await;
    let second = first.spawn_beside(node).await;
    let third = first.spawn_beside(node).await;
    Some([first, second, third])
}

/// Alice and Bob, friends with a 1:1 conversation made through `home`, and Bob's event
/// stream on `follower`, once that node relays his announcements.
async fn friends_following_on(home: &TestApp, follower: &TestApp) -> Friends {
    let alice = home.sign_up("alice").await;
    let bob = home.sign_up("bob").await;
    home.befriend(&alice, &bob).await;
    let conversation = home.direct(&alice, &bob).await;
    let stream = EventStream::open(follower, &bob, None).await;
    // The node relays a member's announcements once it has subscribed for them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Friends {
        alice,
        bob,
        conversation,
        stream,
    }
}

struct Friends {
    alice: TestMember,
    bob: TestMember,
    conversation: i64,
    stream: EventStream,
}

/// The body of the next message event, and how long it took to come.
async fn next_message(stream: &mut EventStream, within: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    loop {
        let event = stream.next_within(within).await?;
        if event.name == "message" {
            let body = event.data["message"]["body"].as_str().unwrap().to_owned();
            return Some((body, started.elapsed()));
        }
    }
}

#[tokio::test]
async fn a_stream_on_one_node_gets_every_message_sent_through_the_others_once_in_order() {
    let Some(nats) = Nats::start() else { return };
    // Resyncs a minute apart: whatever arrives within a few seconds came over NATS.
    let test = "cluster::a_stream_on_one_node_gets_every_message";
    let Some([one, two, three]) = cluster(test, &nats, 60).await else {
        return;
    };
    let Friends {
        alice,
        conversation,
        mut stream,
        ..
    } = friends_following_on(&one, &three).await;

    for n in 0..30 {
        let node = if n % 2 == 0 { &one } else { &two };
        let body = format!("message {n}");
        assert!(
            node.send(&alice, conversation, &body)
                .await
                .status()
                .is_success()
        );
        let (got, _) = next_message(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{body} did not arrive on another node within 5 s"));
        assert_eq!(got, body, "in order, once");
    }
    assert!(
        stream
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "nothing repeated"
    );
}

#[tokio::test]
async fn with_nats_down_events_arrive_by_the_resync_and_fast_again_once_it_is_back() {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let test = "cluster::with_nats_down_events_arrive_by_the_resync";
    let resync = Duration::from_secs(2);
    let Some([one, _two, three]) = cluster(test, &nats, resync.as_secs()).await else {
        return;
    };
    let Friends {
        alice,
        conversation,
        mut stream,
        ..
    } = friends_following_on(&one, &three).await;

    nats.kill();
    for n in 0..3 {
        let body = format!("while NATS is down {n}");
        // A write never waits for NATS.
        let started = Instant::now();
        assert!(
            one.send(&alice, conversation, &body)
                .await
                .status()
                .is_success()
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        let (got, _) = next_message(&mut stream, resync + Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("{body} did not arrive within resync_secs + 3 s"));
        assert_eq!(got, body);
    }

    // Once the nodes have reconnected, delivery is fast again: three sends in a row each
    // arrive within half a second, which resyncs two seconds apart would rarely manage.
    nats.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fast_in_a_row = 0;
    let mut n = 0;
    while fast_in_a_row < 3 {
        assert!(
            Instant::now() < deadline,
            "delivery never became fast again"
        );
        n += 1;
        let body = format!("after NATS returned {n}");
        one.send(&alice, conversation, &body).await;
        let (got, latency) = next_message(&mut stream, resync + Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("{body} did not arrive"));
        assert_eq!(got, body);
        fast_in_a_row = if latency < Duration::from_millis(500) {
            fast_in_a_row + 1
        } else {
            0
        };
    }
}

#[tokio::test]
async fn when_a_node_dies_its_streams_resume_on_another_with_nothing_lost_or_repeated() {
    let Some(nats) = Nats::start() else { return };
    let test = "cluster::when_a_node_dies_its_streams_resume";
    let Some([one, two, mut three]) = cluster(test, &nats, 60).await else {
        return;
    };
    let Friends {
        alice,
        bob,
        conversation,
        mut stream,
    } = friends_following_on(&one, &three).await;
    one.send(&alice, conversation, "before").await;
    // A busy machine may take a while to relay it; the resume below needs its id.
    let last_id = loop {
        let event = stream
            .next_within(PATIENCE)
            .await
            .expect("the first message reaches the stream on node three");
        if event.name == "message" {
            assert_eq!(event.data["message"]["body"], "before");
            break event.id;
        }
    };
    three.shut_down().await;
    drop(stream);

    let away = ["while away 1", "while away 2"];
    for body in away {
        one.send(&alice, conversation, body).await;
    }
    let mut resumed = EventStream::open(&two, &bob, Some(last_id)).await;
    let mut bodies = Vec::new();
    // Both were committed before the stream opened, so they may take a while on a busy
    // machine but come first; a quiet second after them shows that nothing is repeated.
    loop {
        let quiet = if bodies.len() < away.len() {
            PATIENCE
        } else {
            Duration::from_secs(1)
        };
        let Some(event) = resumed.next_within(quiet).await else {
            break;
        };
        if event.name == "message" {
            bodies.push(event.data["message"]["body"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(bodies, away);
}

#[tokio::test]
async fn a_grant_revoked_through_one_node_is_refused_by_another_at_once() {
    let Some(nats) = Nats::start() else { return };
    let test = "cluster::a_grant_revoked_through_one_node";
    let Some([one, two, three]) = cluster(test, &nats, 60).await else {
        return;
    };
    let streamflix = one.partner("Streamflix", false).await;
    let browser = one.browser("alice").await;
    let films = one.tokens(&browser, &streamflix, "profile").await;
    // Node three has the token in its cache.
    assert_eq!(
        three.partner_me(&films.access).await.status(),
        StatusCode::OK
    );

    let token = two.log_in("alice", PASSWORD).await;
    let path = format!("/api/v1/me/apps/{}", streamflix.client_id);
    let revoked = two
        .request(Method::DELETE, &path, Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        three.partner_me(&films.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn wrong_passwords_spread_over_the_nodes_throttle_the_next_attempt_on_any() {
    let Some(nats) = Nats::start() else { return };
    let test = "cluster::wrong_passwords_spread_over_the_nodes";
    let Some(nodes) = cluster(test, &nats, 60).await else {
        return;
    };
    nodes[0].sign_up("alice").await;
    // Five failures are allowed per handle (the default); they land on all three nodes.
    for n in 0..5 {
        let refused = nodes[n % 3].try_log_in("alice", "not the password").await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    for node in &nodes {
        let throttled = node.try_log_in("alice", PASSWORD).await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // And a restart hands out no fresh allowance.
    let fresh = nodes[0].spawn_beside(|_| {}).await;
    assert_eq!(
        fresh.try_log_in("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_scheduled_release_is_made_once_and_its_webhook_sent_once_by_three_nodes() {
    use confidant_core::reports::format_day;
    use confidant_core::store::day_of;

    let Some(nats) = Nats::start() else { return };
    let start = confidant_core::Timestamp(1_800_000_000_000);
    let Some(db) = TestDatabase::postgres("cluster::a_scheduled_release_is_made_once").await else {
        return;
    };
    let url = nats.url();
    let node = move |config: &mut confidant_server::config::Config| {
        config.cluster.nats_url = Some(url.clone());
        config.reports.schedule_anchor = format_day(day_of(start));
    };
    let one = TestApp::spawn_with(db, node.clone()).await;
    let nodes = [
        one.spawn_beside(node.clone()).await,
        one.spawn_beside(node).await,
    ];
    let nodes = [&one, &nodes[0], &nodes[1]];
    let hooks = receiver(vec![]).await;
    let (streamflix, _) = one.partner_with_webhook("Streamflix", &hooks.url).await;

    // The period is over on every node's clock; all three run the schedule at once.
    let period_end_ms = (day_of(start) + 14) * 86_400_000;
    for node in nodes {
        node.clock
            .advance_secs((period_end_ms - start.0) / 1000 + 60);
    }
    let runs = futures::future::join_all(nodes.map(|node| node.core.run_report_schedule())).await;
    let released: usize = runs
        .iter()
        .map(|run| run.as_ref().unwrap().released.len())
        .sum();
    assert_eq!(released, 1);
    assert_eq!(
        one.core
            .reports_of(&streamflix.client_id)
            .await
            .unwrap()
            .len(),
        1
    );

    // And all three deliver webhooks at once: the report's goes out once.
    let transport = confidant_server::webhooks::HttpWebhooks::new().unwrap();
    let passes =
        futures::future::join_all(nodes.map(|node| node.core.deliver_due_webhooks(&transport)))
            .await;
    let attempted: usize = passes.into_iter().map(Result::unwrap).sum();
    assert_eq!(attempted, 1);
    assert_eq!(hooks.received.lock().unwrap().len(), 1);
}
