//! The access-log crate's integration tests: agreement with an independent RFC 9162
//! implementation, and the offline verifier against tampered exports.

mod export;
mod independent;
