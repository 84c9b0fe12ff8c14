//! Confidant's server: the HTTP surfaces (web UI, JSON API, operations), the CLI and startup.
//!
//! Handlers only extract, call one use case on [`confidant_core::Confidant`], and render;
//! everything else lives in the core.

pub mod attachments;
pub mod backup;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod http;
pub mod images;
pub mod metrics;
pub mod push;
pub mod reports;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod webhooks;
pub mod witness;
pub mod witnessing;
