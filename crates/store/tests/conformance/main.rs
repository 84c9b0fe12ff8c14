//! One storage story, told to SQLite and to PostgreSQL alike.

mod accesslog;
mod accounts;
mod attachments;
mod caches;
mod limits;
mod messaging;
mod oauth;
mod push;
mod reports;
mod social;
mod tlog;
mod webhooks;

use confidant_core::accounts::Handle;
use confidant_core::store::{AccountStore, Member, NewMember, SocialStore};
use confidant_core::{MemberId, StoreError, Timestamp};
use confidant_store::SqlStore;

pub const T0: Timestamp = Timestamp(1_700_000_000_000);

pub async fn member(store: &SqlStore, handle: &str) -> Member {
    store
        .create_member(NewMember {
            handle: Handle::parse(handle).unwrap(),
            display_name: handle.to_uppercase(),
            password_hash: "$argon2id$fake".into(),
            is_admin: false,
            created_at: T0,
        })
        .await
        .unwrap()
}

/// Makes `a` and `b` friends: `a` asks, `b` accepts.
pub async fn befriend(store: &SqlStore, a: MemberId, b: MemberId) {
    store.create_friend_request(a, b, T0).await.unwrap();
    store.accept_friend_request(a, b, T0).await.unwrap();
}

pub fn is_conflict(result: Result<impl std::fmt::Debug, StoreError>, which: &str) -> bool {
    matches!(result, Err(StoreError::Conflict(name)) if name == which)
}
