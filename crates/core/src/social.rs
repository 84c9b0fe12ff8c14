//! Friends: requests, acceptance, removal and blocks. Friendship is mutual; a block stops
//! requests and direct messages in both directions.

use crate::store::{FriendRequests, Member, Relationship};
use crate::{Confidant, Error, MemberId};

/// Everything the friends page shows.
#[derive(Debug, Clone)]
pub struct FriendsOverview {
    pub friends: Vec<Member>,
    pub requests: FriendRequests,
    pub blocked: Vec<Member>,
}

/// What happened when a friend request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The request waits for the other member.
    Sent,
    /// The other member had already asked; now you are friends.
    BecameFriends,
}

impl Confidant {
    /// Asks `handle` to be friends. If they already asked us, this accepts their request.
    /// Blocks in either direction are reported as the same "cannot" so a blocked member
    /// does not learn they were blocked.
    #[tracing::instrument(skip_all, fields(me = %me))]
    pub async fn request_friend(
        &self,
        me: MemberId,
        handle: &str,
    ) -> Result<RequestOutcome, Error> {
        let other = self.member_by_handle(handle).await.map_err(|_| {
            Error::invalid(
                "handle",
                "unknown_member",
                "There is no member with that handle.",
            )
        })?;
        if other.id == me {
            return Err(Error::conflict(
                Some("handle"),
                "cannot_befriend_self",
                "You cannot send a friend request to yourself.",
            ));
        }
        let relationship = self.store.relationship(me, other.id).await?;
        if relationship.blocked_by_me || relationship.blocked_me {
            return Err(Error::forbidden(
                "cannot_request",
                "You cannot send a friend request to this member.",
            ));
        }
        if relationship.friends {
            return Err(Error::conflict(
                Some("handle"),
                "already_friends",
                "You are already friends.",
            ));
        }
        let now = self.clock.now();
        if relationship.request_received {
            let advanced = self.store.accept_friend_request(other.id, me, now).await?;
            self.live.publish(&advanced);
            return Ok(RequestOutcome::BecameFriends);
        }
        if relationship.request_sent {
            return Err(Error::conflict(
                Some("handle"),
                "request_pending",
                "You have already sent a request to this member.",
            ));
        }
        let advanced = self.store.create_friend_request(me, other.id, now).await?;
        self.live.publish(&advanced);
        Ok(RequestOutcome::Sent)
    }

    /// Accepts the request `from` sent to `me`.
    pub async fn accept_friend(&self, me: MemberId, from: MemberId) -> Result<(), Error> {
        let advanced = self
            .store
            .accept_friend_request(from, me, self.clock.now())
            .await
            .map_err(not_found_is_no_request)?;
        self.live.publish(&advanced);
        Ok(())
    }

    /// Declines a request received, or withdraws one sent.
    pub async fn drop_friend_request(&self, me: MemberId, other: MemberId) -> Result<(), Error> {
        let declined = self.store.delete_friend_request(other, me).await?;
        let withdrawn = self.store.delete_friend_request(me, other).await?;
        if declined || withdrawn {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    pub async fn remove_friend(&self, me: MemberId, friend: MemberId) -> Result<(), Error> {
        if self.store.delete_friendship(me, friend).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    pub async fn block(&self, me: MemberId, other: MemberId) -> Result<(), Error> {
        if me == other {
            return Err(Error::conflict(
                Some("member"),
                "cannot_block_self",
                "You cannot block yourself.",
            ));
        }
        self.member(other).await?;
        self.store.block(me, other, self.clock.now()).await?;
        Ok(())
    }

    pub async fn unblock(&self, me: MemberId, other: MemberId) -> Result<(), Error> {
        if self.store.unblock(me, other).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    pub async fn friends(&self, me: MemberId) -> Result<Vec<Member>, Error> {
        Ok(self.store.friends(me).await?)
    }

    pub async fn friends_overview(&self, me: MemberId) -> Result<FriendsOverview, Error> {
        Ok(FriendsOverview {
            friends: self.store.friends(me).await?,
            requests: self.store.friend_requests(me).await?,
            blocked: self.store.blocked(me).await?,
        })
    }

    pub async fn relationship(&self, me: MemberId, other: MemberId) -> Result<Relationship, Error> {
        Ok(self.store.relationship(me, other).await?)
    }
}

fn not_found_is_no_request(error: crate::StoreError) -> Error {
    match error {
        crate::StoreError::NotFound => Error::NotFound,
        other => other.into(),
    }
}
