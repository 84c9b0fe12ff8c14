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
use confidant_store::{SqlStore, on_both_backends};

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
    let mut config = confidant_server::config::AccessLogConfig::default();
    config.witnesses = vec![first.config(), second.config()];
    let witnessing = Witnessing::new(&config).unwrap();
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

    // Newer entries verify too, witnessed up to the published head until the next round.
    access(&store, alice.id, 2).await;
    let newer: Export =
        serde_json::from_value(app.json("/api/v1/me/access-log/export", &alice.token).await)
            .unwrap();
    let verified =
        confidant_log::export::verify_witnessed(&newer, Some(&key), None, Some(&both)).unwrap();
    assert_eq!((verified.size, verified.witnessed.unwrap().size), (5, 3));
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
    let ledger: LedgerFile = app
        .client
        .get(app.url("/transparency/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
