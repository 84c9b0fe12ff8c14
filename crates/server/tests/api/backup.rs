//! Backups taken while members write, verified, damaged, and restored.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Mutex;

use confidant_core::store::MessagingStore;
use confidant_core::{MessageId, store::AccessLogStore};
use confidant_server::backup;
use confidant_server::config::{Config, DatabaseUrl};
use confidant_store::testing::{POSTGRES_URL_VAR, TestDatabase};
use confidant_store::{Backend, SqlStore, on_both_backends};

use crate::attachments::{send_files, uploaded};
use crate::helpers::TestApp;

on_both_backends!(
    a_backup_under_write_load_restores_every_acknowledged_message_and_log,
    a_damaged_or_rewritten_backup_fails_verification,
    a_file_deleted_while_backing_up_is_recorded_and_a_lost_one_fails,
);

/// The configuration of `app`'s deployment, as an operator's CLI would load it.
fn config_of(app: &TestApp) -> Config {
    config_at(app.data_dir.path(), &app.db.url)
}

fn config_at(data_dir: &Path, url: &str) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    config.database.url = Some(DatabaseUrl(url.to_owned()));
    config
}

/// An empty database to restore into: a file in `data_dir`, or a new PostgreSQL database
/// whose search path names the test schema (a restore keeps the schema it was taken from).
async fn restore_target(db: &TestDatabase, data_dir: &Path) -> (String, Option<String>) {
    match db.backend() {
        Backend::Sqlite => (
            format!("sqlite://{}", data_dir.join("confidant.db").display()),
            None,
        ),
        Backend::Postgres => {
            let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap();
            let name = format!("confidant_restore_{:016x}", rand::random::<u64>());
            let admin = SqlStore::connect(&admin_url).await.unwrap();
            admin
                .execute_raw(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await;
            let mut url = url::Url::parse(&db.url).unwrap();
            url.set_path(&format!("/{name}"));
            (url.to_string(), Some(name))
        }
    }
}

async fn drop_target(database: Option<String>) {
    if let Some(name) = database {
        let admin = SqlStore::connect(&std::env::var(POSTGRES_URL_VAR).unwrap())
            .await
            .unwrap();
        admin
            .execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        admin.close().await;
    }
}

async fn a_backup_under_write_load_restores_every_acknowledged_message_and_log(db: TestDatabase) {
    let app = Arc::new(TestApp::spawn(db).await);
    let streamflix = app.partner("Streamflix", false).await;
    for handle in ["ada", "grace", "linus"] {
        app.member_with_log(handle, &streamflix, 4).await;
    }
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    let photo = uploaded(&app, &alice, "notes.bin", b"attached bytes".repeat(100)).await;
    let photo_id = photo["id"].as_i64().unwrap();
    assert_eq!(
        send_files(&app, &alice, conversation, "a file", &[photo_id])
            .await
            .status(),
        StatusCode::CREATED
    );

    // Writers send until told to stop, remembering each message acknowledged and whether
    // its acknowledgement came before the backup started.
    let backup_started = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<(i64, bool)>::new()));
    let mut writers = Vec::new();
    for (n, sender) in [alice.clone(), bob.clone()].into_iter().enumerate() {
        let (app, stop, started, acknowledged) = (
            app.clone(),
            stop.clone(),
            backup_started.clone(),
            acknowledged.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let response = app
                    .send(&sender, conversation, &format!("writer {n} message {i}"))
                    .await;
                assert_eq!(response.status(), StatusCode::CREATED);
                let sent: Value = response.json().await.unwrap();
                let before = !started.load(Ordering::SeqCst);
                acknowledged
                    .lock()
                    .await
                    .push((sent["id"].as_i64().unwrap(), before));
                i += 1;
            }
        }));
    }
    while acknowledged.lock().await.len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("backup.zip");
    backup_started.store(true, Ordering::SeqCst);
    let summary = backup::create(&config_of(&app), &file, true, &|_| {})
        .await
        .unwrap();
    // Writes go on for a while after the copy was taken.
    let written_at_backup = acknowledged.lock().await.len();
    while acknowledged.lock().await.len() < written_at_backup + 10 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(summary.member_logs, 3);
    assert!(summary.with_key);
    assert_eq!(summary.attachments, 1);

    let verified = backup::verify(&config_of(&app), &file, &|_| {})
        .await
        .unwrap();
    assert_eq!(verified.member_logs, 3);
    assert_eq!(verified.log_entries, summary.log_entries);
    assert!(verified.log_entries >= 3 * 4);

    // Restoring refuses a database that is in use.
    let refused = backup::restore(&config_of(&app), &file, &|_| {}).await;
    assert!(
        format!("{:#}", refused.unwrap_err()).contains("empty"),
        "a restore over a live database is refused"
    );

    let target_dir = tempfile::tempdir().unwrap();
    let (target_url, target_database) = restore_target(&app.db, target_dir.path()).await;
    let target_config = config_at(target_dir.path(), &target_url);
    let restored = backup::restore(&target_config, &file, &|_| {})
        .await
        .unwrap();
    assert_eq!(restored.log_entries, summary.log_entries);

    let restored_store = confidant_store::connect(&target_url).await.unwrap();
    // Every message acknowledged before the backup began is there; every message there was
    // acknowledged by the time the writers stopped (nothing half-written or invented).
    let all: Vec<(i64, bool)> = acknowledged.lock().await.clone();
    let mut present = BTreeSet::new();
    for (id, before) in &all {
        let found = restored_store.message(MessageId(*id)).await.unwrap();
        if *before {
            assert!(
                found.is_some(),
                "message {id} was acknowledged before the backup"
            );
        }
        if found.is_some() {
            present.insert(*id);
        }
    }
    let in_copy = restored_store
        .messages(
            confidant_core::ConversationId(conversation),
            alice_id(&app, &alice.token).await,
            None,
            1000,
        )
        .await
        .unwrap();
    for message in &in_copy {
        assert!(
            present.contains(&message.id.0) || message.body == "a file",
            "message {} in the backup was never acknowledged",
            message.id.0
        );
    }
    // Every member's log head survives as it was (no partner calls ran during the load).
    assert_eq!(
        restored_store.log_heads().await.unwrap(),
        app.db.store.log_heads().await.unwrap()
    );
    for (member, head) in app.db.store.log_heads().await.unwrap() {
        assert_eq!(restored_store.log_head(member).await.unwrap(), head);
    }
    restored_store.close().await;

    // The attachment's bytes and the key came back beside the database.
    let key = blob_key(&app.db.store, photo_id).await;
    assert_eq!(
        std::fs::read(target_dir.path().join("blobs/attachments").join(&key)).unwrap(),
        std::fs::read(app.data_dir.path().join("blobs/attachments").join(&key)).unwrap()
    );
    assert_eq!(
        std::fs::read(target_dir.path().join("access-log.key")).unwrap(),
        std::fs::read(app.data_dir.path().join("access-log.key")).unwrap()
    );

    // A restored deployment serves: the restored member logs in and reads the file.
    let mut restored_app = TestApp::try_spawn_in(
        TestDatabase::existing(&target_url).await,
        target_dir,
        |_| {},
    )
    .await
    .unwrap();
    let token = restored_app.log_in("alice", crate::helpers::PASSWORD).await;
    let response = restored_app
        .get(&format!("/api/v1/attachments/{photo_id}"), &token)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"attached bytes".repeat(100)
    );
    restored_app.shut_down().await;
    restored_app.db.store.close().await;
    drop(restored_app);
    drop_target(target_database).await;
}

async fn alice_id(app: &TestApp, token: &str) -> confidant_core::MemberId {
    confidant_core::MemberId(app.json("/api/v1/me", token).await["id"].as_i64().unwrap())
}

async fn blob_key(store: &SqlStore, attachment: i64) -> String {
    let keys = store.blob_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "attachment {attachment} is the only one");
    keys.into_iter().next().unwrap()
}

async fn a_damaged_or_rewritten_backup_fails_verification(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let streamflix = app.partner("Streamflix", false).await;
    app.member_with_log("ada", &streamflix, 3).await;
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("backup.zip");
    let config = config_of(&app);
    backup::create(&config, &file, false, &|_| {})
        .await
        .unwrap();
    backup::verify(&config, &file, &|_| {}).await.unwrap();

    // A second backup to the same file is refused rather than overwriting it.
    let again = backup::create(&config, &file, false, &|_| {}).await;
    assert!(format!("{:#}", again.unwrap_err()).contains("already exists"));

    // Any changed byte of the database is caught by its hash.
    let database = if app.db.backend() == Backend::Sqlite {
        "confidant.db"
    } else {
        "confidant.pgdump"
    };
    let damaged = rewrite(&file, folder.path(), "damaged.zip", |name, bytes| {
        if name == database {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x55;
        }
        false
    });
    let error = backup::verify(&config, &damaged, &|_| {})
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("damaged"), "{error:#}");

    // A log entry rewritten in the copy, with the manifest's hashes made to match, no longer
    // recomputes to the checkpoint the server signed at backup time.
    if app.db.backend() == Backend::Sqlite {
        let rewritten = rewrite(&file, folder.path(), "rewritten.zip", |name, bytes| {
            if name != "confidant.db" {
                return false;
            }
            let scratch = tempfile::tempdir().unwrap();
            let path = scratch.path().join("copy.db");
            std::fs::write(&path, &*bytes).unwrap();
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute(
                "UPDATE access_log_entries SET objects = 'member:99' WHERE seq = 2",
                [],
            )
            .unwrap();
            drop(conn);
            *bytes = std::fs::read(&path).unwrap();
            true
        });
        let error = backup::verify(&config, &rewritten, &|_| {})
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("does not recompute to its signed checkpoint"),
            "{error:#}"
        );
    }

    // Not a backup at all.
    let junk = folder.path().join("junk.zip");
    std::fs::write(&junk, b"not a zip").unwrap();
    let error = backup::verify(&config, &junk, &|_| {}).await.unwrap_err();
    assert!(format!("{error:#}").contains("not a Confidant backup"));
}

/// Copies the backup at `from` to `folder/name`, letting `change` edit each file; when it
/// says it changed one on purpose, the manifest's hash is updated to match.
fn rewrite(
    from: &Path,
    folder: &Path,
    name: &str,
    mut change: impl FnMut(&str, &mut Vec<u8>) -> bool,
) -> PathBuf {
    use sha2::Digest;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut files = Vec::new();
    let mut rehashed = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let entry_name = entry.name().to_owned();
        if change(&entry_name, &mut bytes) {
            rehashed.push((
                entry_name.clone(),
                format!("{:x}", sha2::Sha256::digest(&bytes)),
            ));
        }
        files.push((entry_name, bytes));
    }
    for (entry_name, bytes) in &mut files {
        if entry_name == "manifest.json" {
            let mut manifest: Value = serde_json::from_slice(bytes).unwrap();
            for (file, hash) in &rehashed {
                manifest["files"][file] = Value::String(hash.clone());
            }
            *bytes = serde_json::to_vec(&manifest).unwrap();
        }
    }
    let path = folder.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (entry_name, bytes) in files {
        zip.start_file(entry_name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

async fn a_file_deleted_while_backing_up_is_recorded_and_a_lost_one_fails(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    for name in ["kept.bin", "gone.bin"] {
        let file = uploaded(&app, &alice, name, name.repeat(50).into_bytes()).await;
        let id = file["id"].as_i64().unwrap();
        let sent = send_files(&app, &alice, conversation, name, &[id]).await;
        assert_eq!(sent.status(), StatusCode::CREATED);
    }
    // One file disappears as if its message had been deleted and cleaned up between the
    // database snapshot and the copy of the files.
    let keys = app.db.store.blob_keys().await.unwrap();
    let originals = app.data_dir.path().join("blobs/attachments");
    std::fs::remove_file(originals.join(&keys[1])).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("backup.zip");
    let config = config_of(&app);
    backup::create(&config, &file, false, &|_| {})
        .await
        .unwrap();
    let verified = backup::verify(&config, &file, &|_| {}).await.unwrap();
    assert_eq!(verified.attachments, 2);
    assert_eq!(verified.attachments_deleted_meanwhile, 1);

    // A file lost from the backup itself is not excused.
    let lost = rewrite_without(
        &file,
        folder.path(),
        &format!("blobs/attachments/{}", keys[0]),
    );
    let error = backup::verify(&config, &lost, &|_| {}).await.unwrap_err();
    assert!(
        format!("{error:#}").contains("have no file in the backup"),
        "{error:#}"
    );
}

/// The backup at `from` without one of its files, manifest included, as if it was lost.
fn rewrite_without(from: &Path, folder: &Path, dropped: &str) -> PathBuf {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let path = folder.join("lost.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let name = entry.name().to_owned();
        if name == dropped {
            continue;
        }
        if name == "manifest.json" {
            let mut manifest: Value = serde_json::from_slice(&bytes).unwrap();
            manifest["files"].as_object_mut().unwrap().remove(dropped);
            bytes = serde_json::to_vec(&manifest).unwrap();
        }
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}
