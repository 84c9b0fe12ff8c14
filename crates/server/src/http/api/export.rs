//! `GET /api/v1/me/export`: everything Confidant holds about the member, as one zip they can
//! take elsewhere. Each file has the JSON shape the API itself answers with, so it reads the
//! same way the API documents; the access log is the verifiable export that `confidant log
//! verify` checks.
//!
//! [`COVERAGE`] says, for every table of the schema, where its rows about the member are in
//! the archive, or why they are not; a test walks the schema and fails on a table it does not
//! name, so a new table cannot hold member data without a decision about its export.

use std::io::{Seek, SeekFrom, Write};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use tokio_util::io::ReaderStream;

use confidant_core::{ConversationId, MessageId};

use super::schema::{AttachmentOut, ConversationDetailOut, MessageOut};
use super::{accounts, apps, friends, push};
use crate::attachments::Variant;
use crate::http::error::ApiError;
use crate::http::session::ApiCaller;
use crate::state::AppState;

/// Where each table's rows about the member are in the archive, or why they are not. Tables
/// the databases keep for themselves (`sqlite_*`, the search index's shadow tables) are
/// named too, so the walk covers every table there is.
pub const COVERAGE: &[(&str, &str)] = &[
    (
        "members",
        "profile.json; privacy.json (whether your clicks may be counted)",
    ),
    ("friendships", "friends.json: friends"),
    (
        "friend_requests",
        "friends.json: incoming and outgoing requests",
    ),
    ("blocks", "friends.json: blocked"),
    ("conversations", "conversations/<id>.json"),
    (
        "conversation_members",
        "conversations/<id>.json: participants, read receipts",
    ),
    (
        "messages",
        "conversations/<id>.json: every message you can see",
    ),
    (
        "recommendation_cards",
        "conversations/<id>.json: each message's card",
    ),
    (
        "hidden_messages",
        "conversations/<id>.json: what you removed from your view is left out of its messages",
    ),
    (
        "attachments",
        "attachments.json and attachments/<id>-<name>: every file you uploaded; \
         conversations/<id>.json: the files each message carries",
    ),
    (
        "push_subscriptions",
        "notifications.json: the browsers you turned notifications on in",
    ),
    ("grants", "apps.json: connected"),
    (
        "thread_grants",
        "apps.json: connected, the threads shared with each app",
    ),
    ("app_mutes", "apps.json: muted"),
    (
        "partner_sends",
        "conversations/<id>.json: the messages apps sent for you, via_app",
    ),
    ("access_log_entries", "access-log.json"),
    (
        "access_log_hashes",
        "access-log.json: the checkpoint they prove",
    ),
    ("access_log_heads", "access-log.json: the signed checkpoint"),
    (
        "access_log_tallies",
        "access-log.json: the entry each day's repeats were folded into",
    ),
    (
        "access_log_labels",
        "access-log.json: witnessed, the salt of your log's label in the log of heads",
    ),
    (
        "access_log_publications",
        "access-log.json: witnessed, where your log's head was last published",
    ),
    // Not exported, and why.
    (
        "tlog_heads",
        "not exported: the server's own logs, public at /transparency, hold no member id",
    ),
    (
        "tlog_leaves",
        "not exported: the server's own logs, public at /transparency, hold no member id",
    ),
    (
        "tlog_hashes",
        "not exported: the server's own logs, public at /transparency, hold no member id",
    ),
    (
        "tlog_checkpoints",
        "not exported: the server's own logs' checkpoints, public at /transparency",
    ),
    (
        "sessions",
        "not exported: sign-ins, held as hashes of their tokens, ending on their own",
    ),
    (
        "authorization_codes",
        "not exported: one-use OAuth codes, held as hashes, minutes long",
    ),
    (
        "oauth_tokens",
        "not exported: apps' tokens, held as hashes; apps.json lists the grants",
    ),
    (
        "token_families",
        "not exported: refresh-token rotation state of the grants in apps.json",
    ),
    (
        "revoked_tokens",
        "not exported: hashes of revoked tokens, kept to refuse them",
    ),
    (
        "member_feed",
        "not exported: live-delivery positions, derived from the conversations",
    ),
    (
        "messages_fts",
        "not exported: the search index, derived from the messages",
    ),
    (
        "messages_fts_data",
        "not exported: the search index, derived from the messages",
    ),
    (
        "messages_fts_idx",
        "not exported: the search index, derived from the messages",
    ),
    (
        "messages_fts_docsize",
        "not exported: the search index, derived from the messages",
    ),
    (
        "messages_fts_config",
        "not exported: the search index's settings",
    ),
    (
        "messages_fts_indexed",
        "not exported: how far the search index has read the messages",
    ),
    (
        "budget_windows",
        "not exported: rate-limit counters, minutes to a day long",
    ),
    (
        "engagement_contributions",
        "not exported: which cells you added to today, deleted when the day ends",
    ),
    (
        "engagement_member_days",
        "not exported: how much you added on a day, deleted when it ends",
    ),
    (
        "engagement_daily",
        "not exported: apps' aggregate counts, about nobody in particular",
    ),
    (
        "engagement_caps",
        "not exported: the caps in force, no member data",
    ),
    (
        "partner_events",
        "not exported: apps' own aggregate counts, no member data",
    ),
    (
        "privacy_ledger",
        "not exported: privacy budget spent per app, no member data",
    ),
    (
        "report_budgets",
        "not exported: privacy budget per app, no member data",
    ),
    (
        "report_releases",
        "not exported: released aggregate reports, no member data",
    ),
    (
        "deployment_settings",
        "not exported: the server's own settings, no member data",
    ),
    (
        "apps",
        "not exported: the public app registry (apps.json names the ones you use)",
    ),
    (
        "webhook_deliveries",
        "not exported: messages to apps, queued for delivery",
    ),
    (
        "job_leases",
        "not exported: which node runs a periodic job, no member data",
    ),
    (
        "cache_epochs",
        "not exported: cache bookkeeping, no member data",
    ),
    (
        "push_deliveries",
        "not exported: notifications waiting to be sent, seconds to hours long",
    ),
    (
        "blob_deletions",
        "not exported: where the bytes of deleted files were, queued for erasing",
    ),
    ("_sqlx_migrations", "not exported: the schema's version"),
    ("sqlite_sequence", "not exported: SQLite's own id counters"),
    (
        "sqlite_stat1",
        "not exported: SQLite's own query statistics",
    ),
];

/// Messages read per page while exporting a conversation.
const PAGE: i64 = 100;

/// Download everything Confidant holds about you: a zip of your profile, friends and blocks,
/// every conversation you are in with the messages you can see, the files you uploaded, the
/// apps you connected and what you shared with them, your muted apps and privacy choices,
/// and your whole access log with a signed checkpoint (`confidant log verify` checks it).
#[utoipa::path(get, path = "/api/v1/me/export", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, content_type = "application/zip", description = "The archive")))]
pub async fn export(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Response, ApiError> {
    let me = caller.member().clone();
    let mut archive = Archive::new()?;
    archive
        .json("profile.json", &accounts::me(caller.clone()).await.0)
        .await?;
    let friends = friends::overview(State(state.clone()), caller.clone()).await?;
    archive.json("friends.json", &friends.0).await?;
    let connected = apps::list(State(state.clone()), caller.clone()).await?;
    let muted = apps::muted(State(state.clone()), caller.clone()).await?;
    archive
        .json(
            "apps.json",
            &json!({ "connected": connected.0, "muted": muted.0 }),
        )
        .await?;
    let privacy = apps::privacy(State(state.clone()), caller.clone()).await?;
    archive.json("privacy.json", &privacy.0).await?;
    let notifications = push::list(State(state.clone()), caller.clone()).await?;
    archive.json("notifications.json", &notifications.0).await?;

    for summary in state.app.conversations(me.id).await? {
        let detail = state.app.conversation(me.id, summary.id).await?;
        let messages = all_messages(&state, &me, summary.id).await?;
        archive
            .json(
                &format!("conversations/{}.json", summary.id.0),
                &json!({
                    "conversation": ConversationDetailOut::from(detail),
                    "messages": messages,
                }),
            )
            .await?;
    }

    // One file at a time: an archive of many photos is written to disk, never held whole.
    let uploads = state.app.attachments_by(me.id).await?;
    let mut listed = Vec::with_capacity(uploads.len());
    for upload in uploads {
        let read = state
            .attachments
            .read(&state.app, me.id, upload.info.id, Variant::Original)
            .await;
        // Deleted since it was listed (or its bytes are lost): listed, without a file.
        let path = match read {
            Ok((_, bytes)) => {
                let path = format!("attachments/{}-{}", upload.info.id, upload.info.name);
                archive.stored(&path, bytes.to_vec()).await?;
                Some(path)
            }
            Err(confidant_core::Error::NotFound) => None,
            Err(error) => return Err(error.into()),
        };
        listed.push(json!({
            "file": path,
            "message_id": upload.message_id,
            "uploaded_at": upload.created_at,
            "attachment": AttachmentOut::from(upload.info),
        }));
    }
    archive.json("attachments.json", &listed).await?;

    let log = state.app.export_access_log(me.id, None).await?;
    archive.json("access-log.json", &log).await?;
    archive
        .add("README.txt", README.as_bytes().to_vec())
        .await?;

    let file = archive.finish().await?;
    let filename = format!(
        "attachment; filename=\"confidant-{}.zip\"",
        me.handle
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "")
    );
    let body = Body::from_stream(ReaderStream::new(tokio::fs::File::from_std(file)));
    let mut response = ([(header::CONTENT_TYPE, "application/zip")], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&filename) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Every message of the conversation the member can see, oldest first.
async fn all_messages(
    state: &AppState,
    me: &confidant_core::store::Member,
    id: ConversationId,
) -> Result<Vec<MessageOut>, ApiError> {
    let mut messages = Vec::new();
    let mut before: Option<MessageId> = None;
    loop {
        let page = state.app.messages(me.id, id, before, PAGE).await?;
        messages.extend(page.messages.into_iter().map(MessageOut::from));
        match page.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    messages.reverse();
    Ok(messages)
}

/// The archive, written to an unnamed temporary file (gone once the download ends) one
/// file at a time on a blocking thread.
struct Archive {
    zip: Option<zip::ZipWriter<std::fs::File>>,
}

impl Archive {
    fn new() -> Result<Self, ApiError> {
        let file = tempfile::tempfile().map_err(internal)?;
        Ok(Self {
            zip: Some(zip::ZipWriter::new(file)),
        })
    }

    async fn json(&mut self, name: &str, value: &impl Serialize) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(internal)?;
        self.add(name, bytes).await
    }

    /// A text file, compressed.
    async fn add(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
        self.write(name, bytes, zip::CompressionMethod::Deflated)
            .await
    }

    /// A file kept as it is: pictures and most uploads are compressed already.
    async fn stored(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
        self.write(name, bytes, zip::CompressionMethod::Stored)
            .await
    }

    async fn write(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        method: zip::CompressionMethod,
    ) -> Result<(), ApiError> {
        let mut zip = self.zip.take().ok_or_else(|| internal("archive closed"))?;
        let name = name.to_owned();
        let zip = tokio::task::spawn_blocking(move || {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(method)
                .large_file(bytes.len() as u64 >= u32::MAX as u64);
            zip.start_file(name, options)
                .and_then(|()| zip.write_all(&bytes).map_err(Into::into))
                .map_err(internal)?;
            Ok::<_, ApiError>(zip)
        })
        .await
        .map_err(internal)??;
        self.zip = Some(zip);
        Ok(())
    }

    /// The finished archive, read from its start.
    async fn finish(mut self) -> Result<std::fs::File, ApiError> {
        let zip = self.zip.take().ok_or_else(|| internal("archive closed"))?;
        tokio::task::spawn_blocking(move || {
            let mut file = zip.finish().map_err(internal)?;
            file.seek(SeekFrom::Start(0)).map_err(internal)?;
            Ok(file)
        })
        .await
        .map_err(internal)?
    }
}

const README: &str = "\
Everything Confidant holds about you, as of the moment this archive was made.

profile.json           your account
friends.json           your friends, friend requests both ways, and the members you blocked
conversations/<id>.json  each conversation you are in: its people, their read receipts, and
                       every message you can see, oldest first (messages you removed from your
                       view are left out)
attachments/           every file you uploaded, as it is kept (pictures without their
                       metadata); attachments.json says which message carries each one
apps.json              the apps you connected (what each may do, the threads you shared with
                       it, when it was last used) and the apps you muted
privacy.json           your privacy choices about apps
notifications.json     the browsers you turned notifications on in
access-log.json        everything apps did with your data, with a checkpoint signed by this
                       server; check it with `confidant log verify access-log.json
                       --public-key <the key at /.well-known/confidant-log-key>`

Each file has the shape the JSON API answers with; /docs on your server describes them.
";

/// A failure that is not the member's doing: serializing or zipping what was read.
fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Core(confidant_core::Error::Internal(error.to_string()))
}
