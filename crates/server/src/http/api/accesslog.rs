//! The member's access log over the JSON API: pages of entries, the signed checkpoint,
//! inclusion and consistency proofs, and the export `confidant log verify` checks offline.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use confidant_core::accesslog::{ConsistencyProof, DEFAULT_PAGE, DescribedEntry};
use confidant_core::store::LogQuery;
use confidant_log::export::hash_to_base64;

use super::schema::ErrorOut;
use crate::http::error::{ApiError, AppJson, AppQuery};
use crate::http::session::ApiCaller;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AccessLogEntryOut {
    /// Position in your log, from 0, without gaps.
    pub seq: u64,
    /// RFC 3339, to the millisecond.
    pub at: String,
    /// The app's client id.
    pub app: String,
    pub app_name: String,
    /// e.g. `profile.read`, `message.send`, `token.issue`, `consent.revoke`.
    pub action: String,
    pub scope: Option<String>,
    /// What the access concerned, as `kind:id`.
    pub objects: Vec<String>,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// Why it was denied, e.g. `insufficient_scope`, `grant_revoked`, `not_granted`.
    pub reason: Option<String>,
    pub request_id: String,
    /// The entry in words.
    pub text: String,
    /// How many accesses it stands for: above 1 for an entry about you (a friend listing
    /// you, a thread read, a message received) that later same-day repeats were folded into.
    pub count: u64,
}

impl From<DescribedEntry> for AccessLogEntryOut {
    fn from(described: DescribedEntry) -> Self {
        let entry = described.entry;
        Self {
            seq: entry.seq,
            at: confidant_log::entry::format_millis(entry.at_ms),
            app: entry.app,
            app_name: described.app_name,
            action: entry.action,
            scope: entry.scope,
            objects: entry.objects,
            outcome: entry.outcome.as_str().to_owned(),
            reason: entry.reason,
            request_id: entry.request_id,
            text: described.text,
            count: described.count,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccessLogPageOut {
    /// Newest first.
    pub entries: Vec<AccessLogEntryOut>,
    /// Pass as `before` for the next, older page; absent on the last page.
    pub next_before: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Only this app's entries (its client id).
    pub app: Option<String>,
    /// Only entries older than this seq.
    #[param(minimum = 0)]
    pub before: Option<i64>,
    /// At most this many entries (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Your access log: everything partner apps did or tried with your data, newest first.
#[utoipa::path(get, path = "/api/v1/me/access-log", tag = "access log",
    security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = AccessLogPageOut)))]
pub async fn page(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<AppJson<AccessLogPageOut>, ApiError> {
    let page = state
        .app
        .access_log(
            caller.member().id,
            LogQuery {
                app: params.app.filter(|app| !app.is_empty()),
                before: params.before.map(u64::try_from).transpose().map_err(|_| {
                    ApiError::InvalidField {
                        field: "before".to_owned(),
                        message: "before is a position in the log: 0 or more".to_owned(),
                    }
                })?,
                limit: params.limit.unwrap_or(DEFAULT_PAGE),
            },
        )
        .await?;
    Ok(AppJson(AccessLogPageOut {
        entries: page.entries.into_iter().map(Into::into).collect(),
        next_before: page.next_before,
    }))
}

/// Your log's latest checkpoint: its size and root hash, signed by the server, as C2SP
/// tlog-checkpoint text. Keep one to check later that the log was only appended to.
#[utoipa::path(get, path = "/api/v1/me/access-log/checkpoint", tag = "access log",
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Response, ApiError> {
    let text = state.app.log_checkpoint(caller.member().id).await?;
    Ok(plain_text(text))
}

#[derive(Serialize, ToSchema)]
pub struct WitnessedOut {
    /// The log of heads' checkpoint, signed by the server and cosigned by witnesses.
    pub checkpoint: String,
    /// The leaf of your log's head in the log of heads.
    pub leaf_index: u64,
    /// The salt of your log's label there (base64).
    pub salt: String,
    /// Your log's size and root hash (base64) as published.
    pub size: u64,
    pub root: String,
    /// The leaf's inclusion proof in the log of heads, base64 hashes.
    pub inclusion_proof: Vec<String>,
}

/// Where your log's head was last published in the server's witnessed log of heads, with the
/// proof and the cosigned checkpoint; 404 before the first publication a quorum of witnesses
/// cosigned.
#[utoipa::path(get, path = "/api/v1/me/access-log/witnessed", tag = "access log",
    security(("bearer" = [])),
    responses((status = 200, body = WitnessedOut), (status = 404, body = ErrorOut)))]
pub async fn witnessed(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<AppJson<WitnessedOut>, ApiError> {
    let head = state
        .app
        .witnessed_head(caller.member().id)
        .await?
        .ok_or(ApiError::Core(confidant_core::Error::NotFound))?;
    Ok(AppJson(WitnessedOut {
        checkpoint: head.checkpoint,
        leaf_index: head.leaf_index,
        salt: head.salt,
        size: head.size,
        root: head.root,
        inclusion_proof: head.inclusion_proof,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The entry.
    pub seq: u64,
    /// The log size to prove against (default: the current size).
    pub size: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct InclusionOut {
    pub seq: u64,
    pub size: u64,
    /// Base64 SHA-256 of `0x00 ‖ canonical entry`.
    pub leaf_hash: String,
    /// RFC 9162 audit path, base64 hashes, leaf to root.
    pub proof: Vec<String>,
    pub entry: AccessLogEntryOut,
}

/// Proof that an entry is in your log (RFC 9162 inclusion proof).
#[utoipa::path(get, path = "/api/v1/me/access-log/inclusion", tag = "access log",
    security(("bearer" = [])), params(InclusionParams),
    responses((status = 200, body = InclusionOut), (status = 422, body = ErrorOut)))]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppQuery(params): AppQuery<InclusionParams>,
) -> Result<AppJson<InclusionOut>, ApiError> {
    let me = caller.member().id;
    let proof = state.app.log_inclusion(me, params.seq, params.size).await?;
    Ok(AppJson(InclusionOut {
        seq: params.seq,
        size: proof.size,
        leaf_hash: hash_to_base64(&proof.leaf_hash),
        proof: proof.proof.iter().map(hash_to_base64).collect(),
        entry: proof.entry.into(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The size of the earlier log (at least 1).
    pub first: u64,
    /// The size of the later log (default: the current size).
    pub second: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyOut {
    pub first: u64,
    pub second: u64,
    /// RFC 9162 consistency proof, base64 hashes.
    pub proof: Vec<String>,
}

/// Proof that your log of `first` entries is a prefix of your log of `second` entries.
#[utoipa::path(get, path = "/api/v1/me/access-log/consistency", tag = "access log",
    security(("bearer" = [])), params(ConsistencyParams),
    responses((status = 200, body = ConsistencyOut), (status = 422, body = ErrorOut)))]
pub async fn consistency(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppQuery(params): AppQuery<ConsistencyParams>,
) -> Result<AppJson<ConsistencyOut>, ApiError> {
    let proof = state
        .app
        .log_consistency(caller.member().id, params.first, params.second)
        .await?;
    Ok(AppJson(proof.into()))
}

impl From<ConsistencyProof> for ConsistencyOut {
    fn from(proof: ConsistencyProof) -> Self {
        ConsistencyOut {
            first: proof.first,
            second: proof.second,
            proof: proof.proof.iter().map(hash_to_base64).collect(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Only this app's entries, each with an inclusion proof (default: the whole log).
    pub app: Option<String>,
}

/// Your whole access log with its signed checkpoint, as one JSON file for
/// `confidant log verify`.
#[utoipa::path(get, path = "/api/v1/me/access-log/export", tag = "access log",
    security(("bearer" = [])), params(ExportParams),
    responses((status = 200, content_type = "application/json", description = "the export file")))]
pub async fn export(
    State(state): State<AppState>,
    caller: ApiCaller,
    AppQuery(params): AppQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let member = caller.member();
    let app = params.app.filter(|app| !app.is_empty());
    let export = state
        .app
        .export_access_log(member.id, app.as_deref())
        .await?;
    let mut response = AppJson(export).into_response();
    let filename = format!("attachment; filename=\"access-log-{}.json\"", member.handle);
    if let Ok(value) = HeaderValue::from_str(&filename) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The public key access-log checkpoints are signed with, in signed-note form
/// (`<name>+<key id>+<base64 key>`), for `confidant log verify --public-key`.
#[utoipa::path(get, path = "/.well-known/confidant-log-key", tag = "access log",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn public_key(State(state): State<AppState>) -> Response {
    plain_text(format!("{}\n", state.app.log_public_key()))
}

fn plain_text(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
