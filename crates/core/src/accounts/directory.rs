//! The member directory: how a member finds someone to add as a friend, without letting
//! anyone walk it (the class of the 2021 scrape of 533 million profiles). A query is the
//! start of a handle, at least as long as the shortest handle; it answers a handful of
//! members with only what a friend request needs; and each member and each client address
//! has a small budget of searches per minute and per day.

use crate::limits::Allowance;
use crate::store::{Budget, Member};
use crate::{Confidant, Error, MemberId};

/// The fewest characters a query needs: the length of the shortest handle.
pub const MIN_QUERY_CHARS: usize = 3;
/// The most members one search answers.
pub const MAX_RESULTS: usize = 5;

const MINUTE: i64 = 60;
const DAY: i64 = 24 * 3600;

/// How many searches one member and one client address may make.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryPolicy {
    pub per_member_per_minute: u32,
    pub per_member_per_day: u32,
    pub per_address_per_day: u32,
}

impl Default for DirectoryPolicy {
    fn default() -> Self {
        Self {
            per_member_per_minute: 10,
            per_member_per_day: 100,
            per_address_per_day: 300,
        }
    }
}

/// The budgets of [`DirectoryPolicy`], counted in the database with every other budget.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirectoryLimits {
    member_per_minute: Allowance,
    member_per_day: Allowance,
    address_per_day: Allowance,
}

impl DirectoryLimits {
    pub(crate) fn new(policy: DirectoryPolicy) -> Self {
        let allowance = |name, limit, window_secs| Allowance {
            name,
            limit,
            window_secs,
        };
        Self {
            member_per_minute: allowance("search_minute", policy.per_member_per_minute, MINUTE),
            member_per_day: allowance("search_day", policy.per_member_per_day, DAY),
            address_per_day: allowance("search_address_day", policy.per_address_per_day, DAY),
        }
    }

    /// The budgets one search takes from: the member's, and their address's if known.
    fn budgets(&self, member: MemberId, address: Option<&str>) -> Vec<Budget> {
        let member = member.0.to_string();
        let mut budgets = vec![
            self.member_per_minute.budget(&member),
            self.member_per_day.budget(&member),
        ];
        if let Some(address) = address {
            budgets.push(self.address_per_day.budget(address));
        }
        budgets
    }
}

/// The start of a handle, as a member typed it: a leading `@` and case are forgiven.
fn handle_prefix(query: &str) -> Result<String, Error> {
    let query = query.trim();
    let query = query
        .strip_prefix('@')
        .unwrap_or(query)
        .to_ascii_lowercase();
    if !query
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::invalid(
            "q",
            "invalid_query",
            "Handles have only letters a–z, digits and underscores.",
        ));
    }
    if query.len() < MIN_QUERY_CHARS {
        return Err(Error::invalid(
            "q",
            "query_too_short",
            format!("Type at least {MIN_QUERY_CHARS} characters of their handle."),
        ));
    }
    // No handle is longer than 32 characters, so a longer query finds nobody.
    Ok(query.chars().take(33).collect())
}

impl Confidant {
    /// Up to [`MAX_RESULTS`] members whose handle starts with `query`, leaving out the
    /// searcher and anyone who blocked them. A query that is not the start of a handle
    /// (empty included) is refused and costs nothing.
    pub async fn search_members(
        &self,
        me: MemberId,
        query: &str,
        address: Option<&str>,
    ) -> Result<Vec<Member>, Error> {
        let prefix = handle_prefix(query)?;
        // Every budget that applies, or none: a refused search spends nothing.
        let budgets = self.directory.budgets(me, address);
        if let Err(retry_after_secs) = self.store.take_budgets(&budgets, self.clock.now()).await? {
            return Err(Error::Throttled { retry_after_secs });
        }
        Ok(self
            .store
            .search_members(me, &prefix, MAX_RESULTS as i64)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_handle_prefixes_of_at_least_three_characters() {
        assert_eq!(handle_prefix(" @Bob_1 ").unwrap(), "bob_1");
        let code = |q: &str| handle_prefix(q).unwrap_err().code();
        assert_eq!(code("  "), "query_too_short");
        assert_eq!(code("a"), "query_too_short");
        assert_eq!(code("@ab"), "query_too_short");
        assert_eq!(code("bo%"), "invalid_query");
        assert_eq!(code("bob smith"), "invalid_query");
    }
}
