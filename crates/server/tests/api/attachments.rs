//! Attachments over the JSON API: what an upload keeps of a file, who can fetch it, how it is
//! served, and that its bytes go when the message, the group membership or the account does.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use image::{DynamicImage, ImageFormat};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp, TestMember, assert_error};
use crate::partner::export::unzip;

on_both_backends!(
    a_photo_loses_its_metadata_and_only_its_conversation_reads_it,
    files_that_are_not_pictures_are_only_ever_downloads,
    bad_uploads_and_sends_are_refused_and_change_nothing,
    leaving_a_group_or_deleting_an_account_ends_access_to_files,
    two_nodes_share_files_through_an_s3_bucket,
);

/// Where the place and the camera of a photo are written, to be found if they survive.
const SECRET: &[u8] = b"GPSLatitude=48.8584N;GPSLongitude=2.2945E;Make=SecretCam";

/// A JPEG of `width` × `height` whose EXIF says where it was taken and that the camera was
/// held sideways (orientation 6: turn 90° clockwise to view).
fn sideways_photo(width: u32, height: u32) -> Vec<u8> {
    let mut jpeg = Vec::new();
    DynamicImage::new_rgb8(width, height)
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .unwrap();
    // TIFF, little-endian: one IFD entry, Orientation (0x0112) = 6, then the secret.
    let mut exif =
        b"Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec();
    exif.extend_from_slice(SECRET);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    app1.extend_from_slice(&exif);
    // Right after the start-of-image marker.
    jpeg.splice(2..2, app1);
    jpeg
}

async fn upload(
    app: &TestApp,
    member: &TestMember,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Response {
    app.request(
        Method::POST,
        &format!("/api/v1/attachments?name={}", urlencode(name)),
        Some(&member.token),
    )
    .header(CONTENT_TYPE, content_type)
    .body(bytes)
    .send()
    .await
    .unwrap()
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub(crate) async fn uploaded(
    app: &TestApp,
    member: &TestMember,
    name: &str,
    bytes: Vec<u8>,
) -> Value {
    let response = upload(app, member, name, "application/octet-stream", bytes).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

pub(crate) async fn send_files(
    app: &TestApp,
    from: &TestMember,
    conversation: i64,
    body: &str,
    files: &[i64],
) -> Response {
    app.post(
        &format!("/api/v1/conversations/{conversation}/messages"),
        &from.token,
        json!({ "body": body, "attachments": files }),
    )
    .await
}

async fn fetch(app: &TestApp, member: &TestMember, path: &str) -> Response {
    app.request(Method::GET, path, Some(&member.token))
        .send()
        .await
        .unwrap()
}

/// The blobs kept under the data directory: originals and thumbnails.
fn blobs(data_dir: &Path) -> usize {
    ["attachments", "thumbnails"]
        .iter()
        .filter_map(|folder| std::fs::read_dir(data_dir.join("blobs").join(folder)).ok())
        .map(|entries| entries.count())
        .sum()
}

/// Waits for the cleanup job to bring the blob count to `expected`.
async fn blobs_become(data_dir: &Path, expected: usize) {
    for _ in 0..100 {
        if blobs(data_dir) == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(blobs(data_dir), expected, "blobs left behind");
}

async fn a_photo_loses_its_metadata_and_only_its_conversation_reads_it(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;

    // The declared type is a lie and the name a path: neither is believed.
    let photo = sideways_photo(800, 600);
    let response = upload(&app, &alice, "../../holiday.jpg", "text/html", photo).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let file: Value = response.json().await.unwrap();
    let id = file["id"].as_i64().unwrap();
    assert_eq!(file["name"], "holiday.jpg");
    assert_eq!(file["content_type"], "image/jpeg");
    // Turned upright: the camera's 800 × 600 is a 600 × 800 portrait.
    assert_eq!(
        (file["width"].as_i64(), file["height"].as_i64()),
        (Some(600), Some(800))
    );
    let url = file["url"].as_str().unwrap().to_owned();
    let thumbnail_url = file["thumbnail_url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/api/v1/attachments/{id}"));

    // Before it is sent, it is Alice's alone.
    assert_eq!(fetch(&app, &alice, &url).await.status(), StatusCode::OK);
    let unknown = fetch(&app, &bob, "/api/v1/attachments/999999").await;
    let unknown = assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    for outsider in [&bob, &carol] {
        let refused = fetch(&app, outsider, &url).await;
        assert_eq!(
            assert_error(refused, StatusCode::NOT_FOUND, "not_found").await,
            unknown
        );
    }

    // A file may go without words.
    let sent = send_files(&app, &alice, conversation, "", &[id]).await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let message: Value = sent.json().await.unwrap();
    assert_eq!(message["body"], "");
    assert_eq!(message["attachments"][0]["id"], id);
    let page = app
        .json(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &bob.token,
        )
        .await;
    assert_eq!(page["messages"][0]["attachments"][0]["url"], url);

    let original = fetch(&app, &bob, &url).await;
    assert_eq!(original.status(), StatusCode::OK);
    assert_eq!(original.headers()[CONTENT_TYPE], "image/jpeg");
    assert!(
        original.headers()[CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"holiday.jpg\"")
    );
    assert!(
        original.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let bytes = original.bytes().await.unwrap();
    assert!(
        !bytes.windows(SECRET.len()).any(|window| window == SECRET),
        "the photo still says where it was taken"
    );
    let upright = image::load_from_memory(&bytes).unwrap();
    assert_eq!((upright.width(), upright.height()), (600, 800));
    let thumbnail = fetch(&app, &bob, &thumbnail_url).await;
    assert_eq!(thumbnail.status(), StatusCode::OK);
    let thumbnail = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (240, 320));
    assert_eq!(
        fetch(&app, &carol, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&app, &carol, &thumbnail_url).await.status(),
        StatusCode::NOT_FOUND
    );

    // Alice's export holds her photo as it is kept.
    let export = fetch(&app, &alice, "/api/v1/me/export").await;
    assert_eq!(export.status(), StatusCode::OK);
    let files = unzip(&export.bytes().await.unwrap());
    assert_eq!(
        files[&format!("attachments/{id}-holiday.jpg")],
        bytes.to_vec()
    );
    let listed: Value = serde_json::from_slice(&files["attachments.json"]).unwrap();
    assert_eq!(listed[0]["message_id"], message["id"]);

    // Deleting the message deletes the file and its bytes.
    assert_eq!(blobs(app.data_dir.path()), 2);
    let deleted = app
        .request(
            Method::DELETE,
            &format!(
                "/api/v1/conversations/{conversation}/messages/{}",
                message["id"]
            ),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for member in [&alice, &bob] {
        assert_eq!(
            fetch(&app, member, &url).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    blobs_become(app.data_dir.path(), 0).await;
}

async fn files_that_are_not_pictures_are_only_ever_downloads(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;
    let pages: [(&str, &str, &[u8]); 3] = [
        (
            "drawing.svg",
            "image/svg+xml",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><script>alert(2)</script></svg>",
        ),
        ("page.html", "text/html", b"<!DOCTYPE html><script>alert(document.cookie)</script>"),
        ("notes.txt", "text/plain", b"plain words"),
    ];
    for (name, declared, bytes) in pages {
        let response = upload(&app, &alice, name, declared, bytes.to_vec()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
        let file: Value = response.json().await.unwrap();
        assert!(file["thumbnail_url"].is_null(), "{name}");
        assert!(file["width"].is_null(), "{name}");
        let sent = send_files(
            &app,
            &alice,
            conversation,
            name,
            &[file["id"].as_i64().unwrap()],
        )
        .await;
        assert_eq!(sent.status(), StatusCode::CREATED);
        let served = fetch(&app, &bob, file["url"].as_str().unwrap()).await;
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(
            served.headers()[CONTENT_TYPE],
            "application/octet-stream",
            "{name}"
        );
        assert_eq!(
            served.headers()[CONTENT_DISPOSITION],
            format!("attachment; filename=\"{name}\"; filename*=UTF-8''{name}").as_str()
        );
        assert!(
            served.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("sandbox")
        );
        assert_eq!(served.headers()["x-content-type-options"], "nosniff");
        assert_eq!(served.bytes().await.unwrap(), bytes);
    }
    // A PDF is recognized as one, and still downloaded.
    let pdf = uploaded(
        &app,
        &alice,
        "report.pdf",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec(),
    )
    .await;
    assert_eq!(pdf["content_type"], "application/pdf");
    let own = fetch(&app, &alice, pdf["url"].as_str().unwrap()).await;
    assert_eq!(own.headers()[CONTENT_TYPE], "application/octet-stream");
    assert_eq!(
        fetch(
            &app,
            &alice,
            &format!("{}/thumbnail", pdf["url"].as_str().unwrap())
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}

async fn bad_uploads_and_sends_are_refused_and_change_nothing(db: TestDatabase) {
    let app = TestApp::spawn_with(db, |config| config.media.max_bytes = 64 * 1024).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    app.befriend(&alice, &bob).await;
    let conversation = app.direct(&alice, &bob).await;

    let too_large = upload(
        &app,
        &alice,
        "big.bin",
        "application/octet-stream",
        vec![7; 64 * 1024 + 1],
    )
    .await;
    assert_error(
        too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let empty = upload(&app, &alice, "empty.txt", "text/plain", Vec::new()).await;
    assert_error(empty, StatusCode::UNPROCESSABLE_ENTITY, "empty_file").await;
    let long_name = upload(&app, &alice, &"n".repeat(256), "text/plain", b"x".to_vec()).await;
    assert_error(long_name, StatusCode::UNPROCESSABLE_ENTITY, "name_too_long").await;
    let anonymous = app
        .request(Method::POST, "/api/v1/attachments", None)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(blobs(app.data_dir.path()), 0);

    let bobs = uploaded(&app, &bob, "b.txt", b"bob's".to_vec()).await;
    let alices = uploaded(&app, &alice, "a.txt", b"alice's".to_vec()).await;
    // Someone else's upload, an id that is not one, eleven files, or one file twice.
    let ten_more: Vec<i64> = std::iter::repeat_n(alices["id"].as_i64().unwrap(), 11).collect();
    for (files, code) in [
        (vec![bobs["id"].as_i64().unwrap()], "unknown_attachment"),
        (vec![424242], "unknown_attachment"),
        (ten_more, "too_many_attachments"),
        (
            vec![
                alices["id"].as_i64().unwrap(),
                alices["id"].as_i64().unwrap(),
            ],
            "duplicate_attachment",
        ),
    ] {
        let refused = send_files(&app, &alice, conversation, "look", &files).await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    // Without files, an empty message is still refused.
    let blank = send_files(&app, &alice, conversation, " ", &[]).await;
    assert_error(blank, StatusCode::UNPROCESSABLE_ENTITY, "empty_message").await;
    let page = app
        .json(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &bob.token,
        )
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 0);
    // Alice's upload is still hers to send, once.
    let id = alices["id"].as_i64().unwrap();
    assert_eq!(
        send_files(&app, &alice, conversation, "", &[id])
            .await
            .status(),
        StatusCode::CREATED
    );
    let again = send_files(&app, &alice, conversation, "", &[id]).await;
    assert_error(
        again,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_attachment",
    )
    .await;
}

async fn leaving_a_group_or_deleting_an_account_ends_access_to_files(db: TestDatabase) {
    let app = TestApp::spawn(db).await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let carol = app.sign_up("carol").await;
    app.befriend(&alice, &bob).await;
    app.befriend(&alice, &carol).await;
    let created = app
        .post(
            "/api/v1/conversations",
            &alice.token,
            json!({ "kind": "group", "title": "Trip", "member_ids": [bob.id, carol.id] }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let group = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let file = uploaded(&app, &alice, "map.png", {
        let mut png = Vec::new();
        DynamicImage::new_rgba8(40, 30)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        png
    })
    .await;
    assert_eq!(file["content_type"], "image/png");
    let url = file["url"].as_str().unwrap().to_owned();
    let sent = send_files(
        &app,
        &alice,
        group,
        "the map",
        &[file["id"].as_i64().unwrap()],
    )
    .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    for member in [&bob, &carol] {
        assert_eq!(fetch(&app, member, &url).await.status(), StatusCode::OK);
    }
    let left = app
        .request(
            Method::DELETE,
            &format!("/api/v1/conversations/{group}/members/me"),
            Some(&carol.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        fetch(&app, &carol, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(fetch(&app, &bob, &url).await.status(), StatusCode::OK);

    // Alice's account goes, and her files with it.
    assert_eq!(blobs(app.data_dir.path()), 2);
    let gone = app
        .send_json(
            Method::DELETE,
            "/api/v1/me",
            Some(&alice.token),
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        fetch(&app, &bob, &url).await.status(),
        StatusCode::NOT_FOUND
    );
    blobs_become(app.data_dir.path(), 0).await;
}

/// An S3-compatible endpoint to test against (`scripts/test` starts moto's server), or `None`
/// after saying loudly that the test was skipped.
fn s3_endpoint(test: &str) -> Option<String> {
    let endpoint = std::env::var("CONFIDANT_TEST_S3_URL").ok();
    if endpoint.is_none() {
        use std::io::Write;
        // Written to the real stderr, past the test harness's capture, so it is seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test} (set CONFIDANT_TEST_S3_URL to an S3-compatible endpoint)"
        );
    }
    endpoint
}

/// The keys in `bucket`, listed over the S3 API itself.
async fn bucket_keys(endpoint: &str, bucket: &str) -> Vec<String> {
    let listing = reqwest::get(format!("{endpoint}/{bucket}?list-type=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

async fn two_nodes_share_files_through_an_s3_bucket(db: TestDatabase) {
    let Some(endpoint) = s3_endpoint("two_nodes_share_files_through_an_s3_bucket") else {
        return;
    };
    // A bucket of this test's own; the endpoint takes unsigned requests to make one.
    let bucket = format!("confidant-{}", uuid::Uuid::new_v4().simple());
    let made = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "cannot create the test bucket");
    let in_bucket = |config: &mut confidant_server::config::Config| {
        config.media.s3_bucket = Some(bucket.clone());
        config.media.s3_endpoint = Some(endpoint.clone());
        config.media.s3_access_key_id = Some("test".into());
        config.media.s3_secret_access_key = Some(confidant_server::config::S3Secret("test".into()));
    };
    let first = TestApp::spawn_with(db, in_bucket).await;
    let second = first.spawn_beside(in_bucket).await;
    let alice = first.sign_up("alice").await;
    let bob = first.sign_up("bob").await;
    first.befriend(&alice, &bob).await;
    let conversation = first.direct(&alice, &bob).await;

    let photo = sideways_photo(64, 48);
    let file = uploaded(&first, &alice, "photo.jpg", photo).await;
    let id = file["id"].as_i64().unwrap();
    let sent = send_files(&first, &alice, conversation, "", &[id]).await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let message: Value = sent.json().await.unwrap();
    // Nothing of it is on either node's disk; the other node serves it from the bucket.
    assert_eq!(blobs(first.data_dir.path()), 0);
    let keys = bucket_keys(&endpoint, &bucket).await;
    assert_eq!(keys.len(), 2, "the original and its thumbnail: {keys:?}");
    let served = fetch(&second, &bob, file["url"].as_str().unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    let bytes = served.bytes().await.unwrap();
    assert!(!bytes.windows(SECRET.len()).any(|window| window == SECRET));
    assert_eq!(
        fetch(&second, &bob, file["thumbnail_url"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    // Deleted through the second node: gone from the bucket.
    let deleted = second
        .request(
            Method::DELETE,
            &format!(
                "/api/v1/conversations/{conversation}/messages/{}",
                message["id"]
            ),
            Some(&alice.token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for _ in 0..100 {
        if bucket_keys(&endpoint, &bucket).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "blobs left in the bucket: {:?}",
        bucket_keys(&endpoint, &bucket).await
    );
}
