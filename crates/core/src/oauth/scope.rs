//! OAuth scopes: the fixed set of things a partner app may ask to do, and how each is
//! explained to the member on the consent screen.
//!
//! There is deliberately no scope that reads a member's messages in general; reading a
//! conversation needs a per-thread grant the member picks by hand (see `details`).

use std::collections::BTreeSet;
use std::fmt;

use crate::Error;

/// One permission a partner app can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The member's display name and the app's pseudonymous id for them.
    Profile,
    /// The member's friends list, as pseudonymous ids and display names.
    FriendsRead,
    /// Sending recommendations on the member's behalf, labelled "via App".
    MessagesSend,
    /// Reading the messages this app itself sent, and their replies' status.
    MessagesReadApp,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Profile,
        Scope::FriendsRead,
        Scope::MessagesSend,
        Scope::MessagesReadApp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Profile => "profile",
            Scope::FriendsRead => "friends:read",
            Scope::MessagesSend => "messages:send",
            Scope::MessagesReadApp => "messages:read.app",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// What the scope lets the app do, in the member's words.
    pub fn allows(self) -> &'static str {
        match self {
            Scope::Profile => "See your display name, and an id for you that only this app uses",
            Scope::FriendsRead => "See the list of your friends (their display names)",
            Scope::MessagesSend => {
                "Send a recommendation to a friend you choose, shown as sent \"via\" this app"
            }
            Scope::MessagesReadApp => {
                "See whom the messages this app sent for you reached, and when"
            }
        }
    }

    /// Whether the member may untick the scope and still connect the app. The profile is
    /// what identifies the member to the app at all, so it comes with every connection.
    pub fn is_optional(self) -> bool {
        self != Scope::Profile
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, written space-separated as in RFC 6749 §3.3.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Parses a space-separated scope string; any unknown scope is an error naming it.
    pub fn parse(s: &str) -> Result<Self, Error> {
        s.split(' ')
            .filter(|part| !part.is_empty())
            .map(|part| {
                Scope::parse(part).ok_or_else(|| {
                    Error::invalid("scope", "invalid_scope", format!("unknown scope `{part}`"))
                })
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Scopes)
    }

    pub fn all() -> Self {
        Scopes(Scope::ALL.into_iter().collect())
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&other.0).copied().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().collect())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_in_a_stable_order() {
        let scopes = Scopes::parse("messages:send  profile").unwrap();
        assert_eq!(scopes.to_string(), "profile messages:send");
        assert_eq!(Scopes::parse(&scopes.to_string()).unwrap(), scopes);
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn unknown_scopes_are_refused_by_name() {
        let error = Scopes::parse("profile messages:read").unwrap_err();
        assert_eq!(error.code(), "invalid_scope");
        assert!(error.to_string().contains("messages:read"));
    }
}
