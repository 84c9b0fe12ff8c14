//! The server's logs witnessed by two witnesses on loopback: cosigned exports verify; a fork
//! and a rollback are refused by the witnesses and caught by verification; a quorum the
//! witnesses did not reach fails with its reason; a ledger row deleted since a saved
//! checkpoint fails the ledger's verification.

use std::path::Path;

use confidant_core::accesslog::Action;
use confidant_core::reports::ReportRequest;
use confidant_core::store::{AccessLogStore, HEADS_LOG, NewLogEntry, WitnessedLogStore};
use confidant_core::{Clock, MemberId, Timestamp};
use confidant_log::ledger::LedgerFile;
use confidant_log::witness::AddCheckpoint;
use confidant_log::{CosignerVerifier, Export, LogSigner, PublicKey, VerifyError, WitnessPolicy};
use confidant_server::config::WitnessConfig;
use confidant_server::witnessing::Witnessing;
use confidant_store::testing::TestDatabase;
use confidant_store::{Backend, SqlStore, on_both_backends};

use reqwest::StatusCode;

use crate::helpers::TestApp;

on_both_backends!(witnesses_keep_the_server_to_one_view_of_its_logs);

/// A witness on loopback: its data directory, key and address; serving once started.
struct TestWitness {
    dir: tempfile::TempDir,
    key: String,
    listener: Option<tokio::net::TcpListener>,
    url: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestWitness {
    async fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = confidant_server::witness::load_or_create_key(dir.path(), name)
            .unwrap()
            .verifier_key();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        Self {
            dir,
            key,
            listener: Some(listener),
            url,
            task: None,
        }
    }

    fn config(&self) -> WitnessConfig {
        WitnessConfig {
            url: self.url.clone(),
            key: self.key.clone(),
        }
    }

    fn start(&mut self, log_key: &str) {
        let router =
            confidant_server::witness::router(self.dir.path(), "w", &[log_key.to_owned()]).unwrap();
        let listener = self.listener.take().unwrap();
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        }));
    }

    fn stop(&mut self) {
        self.task.take().unwrap().abort();
    }
}

/// Rounds of publication and submission to `witnesses`, run by the test itself.
fn witnessing_to(witnesses: Vec<WitnessConfig>) -> Witnessing {
    Witnessing::new(&confidant_server::config::AccessLogConfig {
        witnesses,
        ..Default::default()
    })
    .unwrap()
}

fn policy(witnesses: &[&TestWitness], quorum: usize) -> WitnessPolicy {
    WitnessPolicy {
        witnesses: witnesses
            .iter()
            .map(|w| CosignerVerifier::parse(&w.key).unwrap())
            .collect(),
        quorum,
        now_secs: time::OffsetDateTime::now_utc().unix_timestamp() as u64,
        max_age_secs: 3600,
    }
}

async fn access(store: &SqlStore, member: i64, n: u32) {
    for i in 0..n {
        let entry = NewLogEntry::new(
            MemberId(member),
            Timestamp(1_800_000_000_000 + i64::from(i)),
            "cfd_app",
            Action::ProfileRead,
            "r",
        );
        store.append_log(entry, None).await.unwrap();
    }
}

/// The body of a public (no credentials) GET.
async fn public_text(app: &TestApp, path: &str) -> String {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

fn server_signer(data_dir: &Path) -> LogSigner {
    LogSigner::from_private_key(&std::fs::read_to_string(data_dir.join("access-log.key")).unwrap())
        .unwrap()
}

async fn witnesses_keep_the_server_to_one_view_of_its_logs(db: TestDatabase) {
    let mut first = TestWitness::new("witness-one.example").await;
    let mut second = TestWitness::new("witness-two.example").await;
    let witnesses = vec![first.config(), second.config()];
    let app = TestApp::spawn_with(db, |config| {
        config.accesslog.witnesses = witnesses;
        // Rounds are run by the test.
        config.accesslog.publish_interval_secs = Some(3600);
    })
    .await;
    let log_key = app.core.log_public_key().to_owned();
    first.start(&log_key);
    second.start(&log_key);
    let witnessing = witnessing_to(vec![first.config(), second.config()]);
    let store = app.db.store.clone();

    let alice = app.sign_up("alice").await;
    access(&store, alice.id, 3).await;
    witnessing.round(&app.core).await.unwrap();
    let export: Export =
        serde_json::from_value(app.json("/api/v1/me/access-log/export", &alice.token).await)
            .unwrap();
    let key = PublicKey::parse(&log_key).unwrap();
    let both = policy(&[&first, &second], 2);
    let verified =
        confidant_log::export::verify_witnessed(&export, Some(&key), None, Some(&both)).unwrap();
    let witnessed = verified.witnessed.unwrap();
    assert_eq!((witnessed.size, witnessed.cosigned_by.len()), (3, 2));
    // The served checkpoint is the cosigned one, and the export carries no member id.
    let served = app
        .client
        .get(app.url("/transparency/heads/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    let served = served.text().await.unwrap();
    assert_eq!(served, export.witnessed.as_ref().unwrap().checkpoint);
    assert_eq!(served.lines().filter(|l| l.starts_with("— ")).count(), 3);

    // The leaves are public and name logs by label only; the member finds theirs with the
    // salt in their export.
    let listed: serde_json::Value =
        serde_json::from_str(&public_text(&app, "/transparency/heads/leaves?from=0").await)
            .unwrap();
    let witnessed_head = export.witnessed.as_ref().unwrap();
    let salt: [u8; 32] = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &witnessed_head.salt,
    )
    .unwrap()
    .try_into()
    .unwrap();
    let label = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        confidant_log::heads::label(&salt, &export.origin),
    );
    let leaves = listed["leaves"].as_array().unwrap();
    assert_eq!(listed["size"], 1);
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0]["label"], label.as_str());
    assert_eq!(leaves[0]["size"], 3);
    assert_eq!(leaves[0]["root"], witnessed_head.root.as_str());
    assert!(!listed.to_string().contains("access-log/"));

    // Newer entries verify too, witnessed up to the published head until the next round.
    access(&store, alice.id, 2).await;
    let newer: Export =
        serde_json::from_value(app.json("/api/v1/me/access-log/export", &alice.token).await)
            .unwrap();
    let verified =
        confidant_log::export::verify_witnessed(&newer, Some(&key), None, Some(&both)).unwrap();
    assert_eq!((verified.size, verified.witnessed.unwrap().size), (5, 3));
    // So does one app's selection, through a consistency proof from the published head.
    let selection: Export = serde_json::from_value(
        app.json("/api/v1/me/access-log/export?app=cfd_app", &alice.token)
            .await,
    )
    .unwrap();
    assert!(!selection.complete);
    assert!(
        !selection
            .witnessed
            .as_ref()
            .unwrap()
            .consistency_proof
            .is_empty()
    );
    let verified =
        confidant_log::export::verify_witnessed(&selection, Some(&key), None, Some(&both)).unwrap();
    assert_eq!(verified.witnessed.unwrap().size, 3);
    let mut bent = selection.clone();
    bent.witnessed.as_mut().unwrap().consistency_proof.reverse();
    assert!(matches!(
        confidant_log::export::verify_witnessed(&bent, Some(&key), None, Some(&both)),
        Err(VerifyError::ForkedFromWitnessed { witnessed: 3 })
    ));
    witnessing.round(&app.core).await.unwrap();

    // A fork: the server signs another log of heads of the same size for someone else.
    // The witnesses refuse it (409 with their size), and an export under it has no quorum.
    let signer = server_signer(app.data_dir.path());
    let heads = store.tlog_head(HEADS_LOG).await.unwrap();
    let origin = app.core.tlog_origin(HEADS_LOG);
    let forked = signer.sign(&origin, heads.size, confidant_log::tree::leaf_hash(b"fork"));
    let refused = app
        .client
        .post(format!("{}add-checkpoint", first.url))
        .body(AddCheckpoint::body(heads.size, &[], &forked))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(
        refused.headers()["content-type"],
        confidant_log::witness::SIZE_CONTENT_TYPE
    );
    assert_eq!(refused.text().await.unwrap(), format!("{}\n", heads.size));
    let mut fork_view = export.clone();
    fork_view.witnessed.as_mut().unwrap().checkpoint = forked;
    let error = confidant_log::export::verify_witnessed(&fork_view, Some(&key), None, Some(&both))
        .unwrap_err();
    assert!(
        matches!(
            &error,
            VerifyError::HeadNotIncluded(_) | VerifyError::Quorum(_)
        ),
        "{error}"
    );

    // A rollback: a smaller log of heads is refused by the witnesses, and a member log cut
    // back below its published head fails verification.
    let rolled_back = signer.sign(&origin, 1, confidant_log::EMPTY_ROOT);
    let refused = app
        .client
        .post(format!("{}add-checkpoint", second.url))
        .body(AddCheckpoint::body(1, &[], &rolled_back))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let mut cut = newer.clone();
    cut.entries.truncate(2);
    let mut frontier = confidant_log::Frontier::empty();
    for entry in &cut.entries {
        frontier.push(entry.entry.leaf_hash());
    }
    cut.checkpoint = signer.sign(&cut.origin, 2, frontier.root());
    let current: Export =
        serde_json::from_value(app.json("/api/v1/me/access-log/export", &alice.token).await)
            .unwrap();
    cut.witnessed = current.witnessed;
    let error =
        confidant_log::export::verify_witnessed(&cut, Some(&key), None, Some(&both)).unwrap_err();
    assert!(
        matches!(
            error,
            VerifyError::RolledBack {
                witnessed: 5,
                size: 2
            }
        ),
        "{error}"
    );

    // The budget ledger: two releases, cosigned; a row deleted from it since a checkpoint
    // was saved fails verification against that checkpoint.
    let partner = app.partner("Ledger films", false).await;
    let today = app.clock.now().0 / 86_400_000;
    for first_day in [today - 40, today - 26] {
        app.core
            .release_report(ReportRequest {
                client_id: &partner.client_id,
                first_day,
                days: 14,
                mechanism: None,
                progress: &|_, _| {},
            })
            .await
            .unwrap();
    }
    witnessing.round(&app.core).await.unwrap();
    let ledger: LedgerFile =
        serde_json::from_str(&public_text(&app, "/transparency/ledger").await).unwrap();
    assert_eq!(ledger.entries.len(), 2);
    assert_eq!(ledger.entries[0].app, partner.client_id);
    let summary =
        confidant_log::ledger::verify(&ledger, &key, None, ledger.rho_per_data_day).unwrap();
    assert_eq!(summary.size, 2);
    confidant_log::export::check_cosigned(&ledger.checkpoint, &both).unwrap();
    let saved = ledger.checkpoint.clone();
    let mut without_first = ledger.clone();
    without_first.entries.remove(0);
    let mut frontier = confidant_log::Frontier::empty();
    for entry in &without_first.entries {
        frontier.push(confidant_log::tree::leaf_hash(&entry.encode()));
    }
    without_first.checkpoint = signer.sign(&ledger.origin, 1, frontier.root());
    assert!(matches!(
        confidant_log::ledger::verify(&without_first, &key, Some(&saved), 1.0),
        Err(confidant_log::ledger::LedgerError::Truncated {
            previous: 2,
            size: 1
        })
    ));

    // The server rolled back — restored from an old backup, here a new database under the
    // same key: the witnesses have seen more of its logs and refuse, and it hears why.
    let restored = match app.db.backend() {
        Backend::Sqlite => TestDatabase::sqlite().await,
        Backend::Postgres => TestDatabase::postgres("rollback").await.unwrap(),
    };
    let restored_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        app.data_dir.path().join("access-log.key"),
        restored_dir.path().join("access-log.key"),
    )
    .unwrap();
    let both_configured = vec![first.config(), second.config()];
    let mut rolled_back = TestApp::try_spawn_in(restored, restored_dir, |config| {
        config.accesslog.witnesses = both_configured;
        config.accesslog.publish_interval_secs = Some(3600);
    })
    .await
    .unwrap();
    let carol = rolled_back.sign_up("carol").await;
    access(&rolled_back.db.store, carol.id, 1).await;
    let failures = witnessing_to(vec![first.config(), second.config()])
        .round(&rolled_back.core)
        .await
        .unwrap();
    let disagreements: Vec<_> = failures
        .iter()
        .filter(|f| f.log == HEADS_LOG)
        .map(|f| f.failure.to_string())
        .collect();
    assert_eq!(disagreements.len(), 2, "{failures:?}");
    assert!(
        disagreements[0].contains("the log was rolled back"),
        "{disagreements:?}"
    );
    assert!(
        rolled_back
            .core
            .served_checkpoint(HEADS_LOG)
            .await
            .unwrap()
            .is_none()
    );
    rolled_back.shut_down().await;

    // One witness down: the new checkpoint gets one cosignature, short of the quorum of 2.
    second.stop();
    access(&store, alice.id, 1).await;
    witnessing.round(&app.core).await.unwrap();
    let one_cosigner = app.core.clone().with_witness_quorum(1);
    let thin = one_cosigner
        .export_access_log(confidant_core::MemberId(alice.id), None)
        .await
        .unwrap();
    let error =
        confidant_log::export::verify_witnessed(&thin, Some(&key), None, Some(&both)).unwrap_err();
    let reason = error.to_string();
    assert!(
        reason.contains("1 of the 2 witnesses needed") && reason.contains("witness-two.example"),
        "{reason}"
    );
    assert!(
        confidant_log::export::verify_witnessed(
            &thin,
            Some(&key),
            None,
            Some(&policy(&[&first], 1))
        )
        .is_ok()
    );
    // Verified long after, the cosignatures are stale.
    let mut later = policy(&[&first, &second], 1);
    later.now_secs += 2 * 86_400;
    let reason = confidant_log::export::verify_witnessed(&export, Some(&key), None, Some(&later))
        .unwrap_err()
        .to_string();
    assert!(reason.contains("stale"), "{reason}");
}

/// `confidant witness serve` as its own process, on a free port.
struct WitnessProcess {
    child: std::process::Child,
    url: String,
}

const BIN: &str = env!("CARGO_BIN_EXE_confidant");

impl WitnessProcess {
    async fn start(dir: &Path, log_key: &str, port: u16) -> Self {
        let mut child = std::process::Command::new(BIN)
            .args(["witness", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir)
            .args(["--log-key", log_key])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/");
        for _ in 0..200 {
            if reqwest::get(format!("{url}healthz")).await.is_ok() {
                return Self { child, url };
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the witness did not start");
    }

    fn stop(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn witness_key(dir: &Path, name: &str) -> String {
    let out = std::process::Command::new(BIN)
        .args(["witness", "key", "--name", name, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Runs `confidant` with `args`; returns whether it succeeded, and its stdout and stderr.
fn run(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_runs_witnesses_and_verifies_against_them() {
    let (one_dir, two_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one_key = witness_key(one_dir.path(), "witness-one.example");
    let two_key = witness_key(two_dir.path(), "witness-two.example");
    assert!(one_key.starts_with("witness-one.example+"));
    // The key is made once: asking again prints the same one.
    assert_eq!(witness_key(one_dir.path(), "ignored"), one_key);
    let (one_port, two_port) = (free_port(), free_port());
    let configured = vec![
        WitnessConfig {
            url: format!("http://127.0.0.1:{one_port}/"),
            key: one_key.clone(),
        },
        WitnessConfig {
            url: format!("http://127.0.0.1:{two_port}/"),
            key: two_key.clone(),
        },
    ];
    let app = TestApp::spawn_with(TestDatabase::sqlite().await, |config| {
        config.accesslog.witnesses = configured.clone();
        config.accesslog.publish_interval_secs = Some(3600);
    })
    .await;
    let log_key = app.core.log_public_key().to_owned();
    let verify = |what: &str, file: &str, extra: &[&str]| {
        let mut args = vec![what, "verify", file, "--public-key", &log_key];
        args.extend_from_slice(extra);
        run(&args)
    };
    let log_verify = |file: &str, extra: &[&str]| verify("log", file, extra);
    let ledger_verify = |file: &str, extra: &[&str]| verify("ledger", file, extra);
    let _one = WitnessProcess::start(one_dir.path(), &log_key, one_port).await;
    let mut two = WitnessProcess::start(two_dir.path(), &log_key, two_port).await;
    let witnessing = witnessing_to(configured);

    let alice = app.sign_up("alice").await;
    access(&app.db.store, alice.id, 4).await;
    witnessing.round(&app.core).await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let export_file = files.path().join("access-log.json");
    let export = app.json("/api/v1/me/access-log/export", &alice.token).await;
    std::fs::write(&export_file, export.to_string()).unwrap();
    let export_path = export_file.to_str().unwrap();
    let (ok, out, err) = log_verify(
        export_path,
        &[
            "--witness",
            &one_key,
            "--witness",
            &two_key,
            "--quorum",
            "2",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("cosigned by witness-one.example"), "{out}");
    assert!(out.contains("cosigned by witness-two.example"), "{out}");
    assert!(out.contains("witnessed: the first 4 entries"), "{out}");

    // A release, witnessed while both witnesses are up: the partner downloads its report, to
    // check below that it is in the witnessed ledger with the same numbers.
    let partner = app.partner("Ledger films", false).await;
    let today = app.clock.now().0 / 86_400_000;
    let released = app
        .core
        .release_report(ReportRequest {
            client_id: &partner.client_id,
            first_day: today - 20,
            days: 14,
            mechanism: None,
            progress: &|_, _| {},
        })
        .await
        .unwrap();
    witnessing.round(&app.core).await.unwrap();
    let report_file = files.path().join("report.json");
    let downloaded = app
        .client
        .get(app.url(&format!("/partner/v1/reports/{}", released.report.id)))
        .basic_auth(&partner.client_id, partner.secret.as_deref())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(&report_file, &downloaded).unwrap();
    let edited_file = files.path().join("edited.json");
    let mut edited: serde_json::Value = serde_json::from_str(&downloaded).unwrap();
    edited["rows"][0]["sends"] = serde_json::json!(9999);
    std::fs::write(&edited_file, edited.to_string()).unwrap();

    // The witness's state survives a restart: a rolled-back log of heads is still refused.
    two.stop();
    let mut two = WitnessProcess::start(two_dir.path(), &log_key, two_port).await;
    let signer = server_signer(app.data_dir.path());
    let origin = app.core.tlog_origin(HEADS_LOG);
    let refused = app
        .client
        .post(format!("{}add-checkpoint", two.url))
        .body(AddCheckpoint::body(
            0,
            &[],
            &signer.sign(&origin, 0, confidant_log::EMPTY_ROOT),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_eq!(refused.text().await.unwrap(), "1\n");

    // With the second witness down, new heads get one cosignature: verifying that export
    // with a quorum of 2 fails and names the missing witness.
    two.stop();
    access(&app.db.store, alice.id, 1).await;
    witnessing.round(&app.core).await.unwrap();
    let thin = app
        .core
        .clone()
        .with_witness_quorum(1)
        .export_access_log(MemberId(alice.id), None)
        .await
        .unwrap();
    let thin_file = files.path().join("thin.json");
    std::fs::write(&thin_file, serde_json::to_string(&thin).unwrap()).unwrap();
    let (ok, _, err) = log_verify(
        thin_file.to_str().unwrap(),
        &[
            "--witness",
            &one_key,
            "--witness",
            &two_key,
            "--quorum",
            "2",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("1 of the 2 witnesses needed cosigned")
            && err.contains("no cosignature from witness-two.example"),
        "{err}"
    );
    let (ok, _, err) = log_verify(
        thin_file.to_str().unwrap(),
        &["--witness", &one_key, "--quorum", "1"],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = log_verify(export_path, &["--witness", &one_key, "--quorum", "3"]);
    assert!(
        !ok && err.contains("--quorum must be between 1 and the 1 witnesses"),
        "{err}"
    );

    // The ledger verifies against the witness that cosigned it; a release that is not in it
    // is reported.
    let ledger_file = files.path().join("ledger.json");
    let ledger = public_text(&app, "/transparency/ledger").await;
    std::fs::write(&ledger_file, ledger).unwrap();
    let ledger_path = ledger_file.to_str().unwrap();
    let (ok, out, err) = ledger_verify(ledger_path, &["--witness", &one_key]);
    assert!(ok, "{err}");
    assert!(out.contains("verified 1 releases of 1 apps"), "{out}");
    let (ok, out, err) = ledger_verify(ledger_path, &["--report", report_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("with the same numbers"), "{out}");
    let (ok, _, err) = ledger_verify(ledger_path, &["--report", edited_file.to_str().unwrap()]);
    assert!(
        !ok && err.contains("the report differs from the release"),
        "{err}"
    );
    let (ok, _, err) = ledger_verify(ledger_path, &["--release", "rel_missing"]);
    assert!(
        !ok && err.contains("rel_missing is not in the ledger"),
        "{err}"
    );
}
