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
use confidant_log::heads::HeadLeaf;
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
    let served = state
        .app
        .served_checkpoint(HEADS_LOG)
        .await?
        .map_or(0, |checkpoint| checkpoint.size);
    let second = params.second.unwrap_or(served);
    if second > served {
        return Err(confidant_core::Error::invalid(
            "second",
            "beyond_log",
            format!("the served log of heads has {served} leaves, not {second}"),
        )
        .into());
    }
    if second == 0 {
        return Err(confidant_core::Error::invalid(
            "first",
            "bad_range",
            "the served log of heads is empty: there is nothing to prove yet",
        )
        .into());
    }
    if params.first == 0 || params.first > second {
        return Err(confidant_core::Error::invalid(
            "first",
            "bad_range",
            format!("first must be between 1 and {second}"),
        )
        .into());
    }
    let proof = state
        .app
        .tlog_consistency(HEADS_LOG, params.first, second)
        .await?;
    Ok(AppJson(ConsistencyOut {
        first: params.first,
        second,
        proof: proof.iter().map(hash_to_base64).collect(),
    }))
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
    let served = state
        .app
        .served_checkpoint(HEADS_LOG)
        .await?
        .map_or(0, |checkpoint| checkpoint.size);
    let from = u64::try_from(params.from.unwrap_or(0)).map_err(|_| {
        confidant_core::Error::invalid("from", "bad_range", "from must be 0 or more")
    })?;
    let limit = params.limit.unwrap_or(MAX_LEAVES);
    if limit == 0 || limit > MAX_LEAVES {
        return Err(confidant_core::Error::invalid(
            "limit",
            "bad_limit",
            format!("limit must be between 1 and {MAX_LEAVES}"),
        )
        .into());
    }
    let wanted = served.saturating_sub(from).min(u64::from(limit)) as u32;
    let leaves = if wanted == 0 {
        Vec::new()
    } else {
        state
            .app
            .store()
            .tlog_leaves(HEADS_LOG, from, wanted)
            .await
            .map_err(confidant_core::Error::from)?
    };
    let leaves = leaves
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let leaf = HeadLeaf::decode(data).ok_or_else(|| {
                confidant_core::Error::Internal("log of heads: a leaf is malformed".into())
            })?;
            Ok(HeadLeafOut {
                index: from + i as u64,
                label: BASE64.encode(leaf.label),
                size: leaf.size,
                root: hash_to_base64(&leaf.root),
            })
        })
        .collect::<Result<Vec<_>, confidant_core::Error>>()?;
    Ok(AppJson(HeadLeavesOut {
        size: served,
        leaves,
    }))
}

/// Leaves listed per request at most.
const MAX_LEAVES: u32 = 1000;

/// The public budget ledger: every report release (id, app, period, mechanism, ρ and the
/// SHA-256 of its body) under the ledger's cosigned checkpoint, and the cap per day of data
/// the server enforces. `confidant ledger verify` checks it.
#[utoipa::path(get, path = "/transparency/ledger", tag = "transparency",
    responses((status = 200, content_type = "application/json", body = serde_json::Value)))]
pub async fn ledger(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ledger = state.app.budget_ledger().await?;
    Ok(AppJson(ledger).into_response())
}
