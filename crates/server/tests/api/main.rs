//! HTTP-level tests against a real server on 127.0.0.1:0, on SQLite and on PostgreSQL.

mod accesslog;
mod accounts;
mod admin;
mod attachments;
mod backup;
mod chat;
mod cli;
mod cluster;
mod conversations;
mod deployment;
mod events;
mod friends;
mod helpers;
mod oauth;
mod ops;
mod partner;
mod push;
mod web;
mod witness;
