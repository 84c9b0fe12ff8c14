//! `GET /partner/v1/friends`: the member's friends who also connected this app, under their
//! pseudonyms for it. Friends who did not connect it do not exist for the app.

use super::{PartnerError, PartnerRequest, about_other};
use crate::Confidant;
use crate::accesslog::Action;

/// Most friends per page.
pub const MAX_FRIENDS_PAGE: usize = 200;

/// A friend as the app knows them.
#[derive(Debug, Clone)]
pub struct PartnerFriend {
    /// The friend's pseudonym for this app.
    pub id: String,
    pub display_name: String,
}

/// A page of friends, ordered by pseudonym.
#[derive(Debug, Clone)]
pub struct PartnerFriends {
    pub friends: Vec<PartnerFriend>,
    /// Pass as `after` for the next page.
    pub next_after: Option<String>,
}

impl Confidant {
    pub async fn partner_friends(
        &self,
        request: &PartnerRequest,
        after: Option<&str>,
        limit: usize,
    ) -> Result<PartnerFriends, PartnerError> {
        let (access, draft) = self
            .partner_authorize(request, Action::FriendsList, Vec::new())
            .await?;
        let limit = match crate::limits::page_size(limit as i64, MAX_FRIENDS_PAGE as i64) {
            Ok(limit) => limit as usize,
            Err(error) => return self.refuse_malformed(&draft, error).await,
        };
        let mut connected = Vec::new();
        for friend in self.store.friends(access.member.id).await? {
            let grant = self.store.grant(friend.id, &access.client_id).await?;
            if let Some(grant) = grant.filter(|grant| grant.is_active()) {
                connected.push((grant.pseudonym, friend));
            }
        }
        connected.sort_by(|a, b| a.0.cmp(&b.0));
        let mut page: Vec<_> = connected
            .into_iter()
            .filter(|(pseudonym, _)| after.is_none_or(|after| pseudonym.as_str() > after))
            .take(limit + 1)
            .collect();
        let next_after = (page.len() > limit).then(|| {
            page.truncate(limit);
            page.last().map(|(pseudonym, _)| pseudonym.clone())
        });
        let objects = page
            .iter()
            .map(|(_, friend)| format!("member:{}", friend.id.0))
            .collect();
        let entry = draft.allowed().with_objects(objects);
        // Each friend listed learns it from their own log.
        let lister = vec![format!("member:{}", access.member.id.0)];
        let about_friends = page
            .iter()
            .map(|(_, friend)| about_other(&entry, friend.id, Action::FriendListed, lister.clone()))
            .collect();
        self.log_partner_read_about(&access, entry, about_friends)
            .await?;
        Ok(PartnerFriends {
            friends: page
                .into_iter()
                .map(|(id, friend)| PartnerFriend {
                    id,
                    display_name: friend.display_name,
                })
                .collect(),
            next_after: next_after.flatten(),
        })
    }
}
