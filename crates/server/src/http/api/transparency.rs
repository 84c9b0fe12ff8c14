//! The server's witnessed logs, for anyone: the log of members' access-log heads (its
//! cosigned checkpoint and consistency proofs, for monitors and witnesses' auditors) and the
//! public budget ledger of report releases.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use confidant_core::store::{HEADS_LOG, LEDGER_LOG};
use confidant_log::export::hash_to_base64;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accesslog::ConsistencyOut;
use super::schema::ErrorOut;
use crate::http::error::{ApiError, AppJson, AppQuery};
use crate::state::AppState;

/// The log of heads' newest checkpoint that a quorum of witnesses cosigned (C2SP
/// tlog-checkpoint with tlog-cosignature lines); 404 until there is one.
#[utoipa::path(get, path = "/transparency/heads/checkpoint", tag = "transparency",
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 404, body = ErrorOut)))]
pub async fn heads_checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    served(&state, HEADS_LOG).await
}

/// The budget ledger's newest cosigned checkpoint; 404 until there is one.
#[utoipa::path(get, path = "/transparency/ledger/checkpoint", tag = "transparency",
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 404, body = ErrorOut)))]
pub async fn ledger_checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    served(&state, LEDGER_LOG).await
}

async fn served(state: &AppState, log: &str) -> Result<Response, ApiError> {
    let checkpoint = state
        .app
        .served_checkpoint(log)
        .await?
        .ok_or(ApiError::Core(confidant_core::Error::NotFound))?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        checkpoint.note,
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadsConsistencyParams {
    /// The size of the earlier log of heads (at least 1).
    #[param(minimum = 1)]
    pub first: u64,
    /// The size of the later one (default: the served checkpoint's).
    pub second: Option<u64>,
}

/// Proof that the log of heads at `first` leaves is a prefix of it at `second`.
#[utoipa::path(get, path = "/transparency/heads/consistency", tag = "transparency",
    params(HeadsConsistencyParams),
    responses((status = 200, body = ConsistencyOut), (status = 422, body = ErrorOut)))]
pub async fn heads_consistency(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<HeadsConsistencyParams>,
) -> Result<AppJson<ConsistencyOut>, ApiError> {
    let proof = state
        .app
        .heads_consistency(params.first, params.second)
        .await?;
    Ok(AppJson(proof.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadLeavesParams {
    /// The first leaf (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// At most this many (default and most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct HeadLeafOut {
    pub index: u64,
    /// The member log's label (base64): SHA-256 of its salt and origin, no member id.
    pub label: String,
    /// The member log's size and root hash (base64) when published.
    pub size: u64,
    pub root: String,
}

#[derive(Serialize, ToSchema)]
pub struct HeadLeavesOut {
    /// The size of the served checkpoint; leaves past it are not listed yet.
    pub size: u64,
    pub leaves: Vec<HeadLeafOut>,
}

/// Leaves of the log of heads under its served checkpoint, for monitors: a member (who knows
/// the salt of their log's label, from their export) finds every head of their log that was
/// ever published, and checks each is a prefix of the log they are shown.
#[utoipa::path(get, path = "/transparency/heads/leaves", tag = "transparency",
    params(HeadLeavesParams),
    responses((status = 200, body = HeadLeavesOut), (status = 422, body = ErrorOut)))]
pub async fn heads_leaves(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<HeadLeavesParams>,
) -> Result<AppJson<HeadLeavesOut>, ApiError> {
    let listed = state
        .app
        .heads_leaves(params.from.unwrap_or(0), params.limit)
        .await?;
    Ok(AppJson(HeadLeavesOut {
        size: listed.size,
        leaves: listed
            .leaves
            .into_iter()
            .map(|(index, leaf)| HeadLeafOut {
                index,
                label: BASE64.encode(leaf.label),
                size: leaf.size,
                root: hash_to_base64(&leaf.root),
            })
            .collect(),
    }))
}

/// The public budget ledger: every report release (id, app, period, mechanism, ρ and the
/// SHA-256 of its body) under the ledger's cosigned checkpoint, and the cap per day of data
/// the server enforces. `confidant ledger verify` checks it.
#[utoipa::path(get, path = "/transparency/ledger", tag = "transparency",
    responses((status = 200, content_type = "application/json", body = serde_json::Value)))]
pub async fn ledger(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ledger = state.app.budget_ledger().await?;
    Ok(AppJson(ledger).into_response())
}
