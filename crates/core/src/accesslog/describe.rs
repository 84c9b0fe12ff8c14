//! Log entries in words, for the member's timeline: "Streamflix sent a recommendation to Bob",
//! "Streamflix was refused thread 'Family': not granted".

use std::collections::HashMap;

use confidant_log::{Entry, Outcome};

use super::{Action, Denial};
use crate::{Confidant, ConversationId, Error, MemberId};

/// An entry with the names it refers to resolved, and a sentence saying what happened.
#[derive(Debug, Clone)]
pub struct DescribedEntry {
    pub entry: Entry,
    pub app_name: String,
    pub text: String,
    /// How many accesses of that app, action and day this entry stands for: more than one
    /// for an entry about you that repeats of the same kind were folded into.
    pub count: u64,
}

impl Confidant {
    /// One entry in words.
    pub async fn describe_entry(
        &self,
        me: MemberId,
        entry: Entry,
    ) -> Result<DescribedEntry, Error> {
        let mut described = self.describe(me, vec![entry]).await?;
        described.pop().ok_or(Error::NotFound)
    }

    pub(super) async fn describe(
        &self,
        me: MemberId,
        entries: Vec<Entry>,
    ) -> Result<Vec<DescribedEntry>, Error> {
        let mut apps: HashMap<String, String> = HashMap::new();
        let mut objects: HashMap<String, String> = HashMap::new();
        for entry in &entries {
            if !apps.contains_key(&entry.app) {
                let name = match self.store.app(&entry.app).await? {
                    Some(app) => app.name,
                    None => entry.app.clone(),
                };
                apps.insert(entry.app.clone(), name);
            }
            for object in &entry.objects {
                if !objects.contains_key(object) {
                    let name = self.object_name(me, object).await?;
                    objects.insert(object.clone(), name);
                }
            }
        }
        let seqs: Vec<u64> = entries.iter().map(|entry| entry.seq).collect();
        let tallies: HashMap<u64, u64> = self
            .store
            .log_tallies(me, &seqs)
            .await?
            .into_iter()
            .collect();
        Ok(entries
            .into_iter()
            .map(|entry| {
                let app_name = apps[&entry.app].clone();
                let names: Vec<&str> = entry.objects.iter().map(|o| objects[o].as_str()).collect();
                let text = sentence(&entry, &app_name, &names);
                DescribedEntry {
                    count: tallies.get(&entry.seq).copied().unwrap_or(1),
                    entry,
                    app_name,
                    text,
                }
            })
            .collect())
    }

    /// What the member calls the object: a friend's name, a conversation's title.
    async fn object_name(&self, me: MemberId, object: &str) -> Result<String, Error> {
        let (kind, id) = object.split_once(':').unwrap_or((object, ""));
        let id: Option<i64> = id.parse().ok();
        Ok(match (kind, id) {
            ("member", Some(id)) => match self.store.member(MemberId(id)).await? {
                Some(member) => member.display_name,
                None => "a former member".to_owned(),
            },
            // Only conversations the member is in are named: a partner probing for other ids
            // must not make their titles appear here.
            ("conversation", Some(id)) => {
                match self.store.conversation(ConversationId(id), me).await? {
                    Some(conversation) => format!("'{}'", conversation.display_title()),
                    None => format!("#{id}, which you are not in"),
                }
            }
            ("messages", Some(1)) => "1 of your messages".to_owned(),
            ("messages", Some(count)) => format!("{count} of your messages"),
            _ => object.to_owned(),
        })
    }
}

fn sentence(entry: &Entry, app: &str, names: &[&str]) -> String {
    let action = Action::parse(&entry.action);
    let scope = entry.scope.as_deref().unwrap_or("");
    let names_list = names;
    let names = join(names);
    match entry.outcome {
        Outcome::Allowed => match action {
            Some(Action::ProfileRead) => format!("{app} read your name"),
            Some(Action::FriendsList) => format!("{app} listed your friends who also use it"),
            Some(Action::MessageSend) => format!("{app} sent a recommendation to {names}"),
            Some(Action::MessageStatus) => {
                format!("{app} checked whether a message it sent was delivered")
            }
            Some(Action::ThreadsList) => {
                format!("{app} listed the threads you shared with it")
            }
            Some(Action::ThreadRead) if names.is_empty() => format!("{app} read a thread"),
            Some(Action::ThreadRead) => format!("{app} read thread {names}"),
            Some(Action::TokenIssue) => format!("{app} received an access token ({scope})"),
            Some(Action::TokenRefresh) => format!("{app} renewed its access token ({scope})"),
            Some(Action::TokenRevoke) => format!("{app} gave up one of its tokens"),
            Some(Action::ConsentGrant) if names.is_empty() => {
                format!("You connected {app} ({scope})")
            }
            Some(Action::ConsentGrant) => {
                format!("You connected {app} ({scope}) and let it read thread {names}")
            }
            Some(Action::ConsentRevoke) if entry.request_id == super::OPERATOR_REQUEST => {
                format!("The server's operator disconnected {app}")
            }
            Some(Action::ConsentRevoke) if !names.is_empty() => {
                format!("You stopped {app} reading thread {names}")
            }
            Some(Action::ConsentRevoke) => format!("You disconnected {app}"),
            Some(Action::ShareDialog) => {
                format!("You shared a recommendation from {app} with {names}")
            }
            Some(Action::ConsentExpire) => {
                format!("{app} lost its access: it went unused for too long")
            }
            // Entries about you, made when the app reached you through someone else.
            Some(Action::FriendListed) => {
                format!("{app} was shown your name when {names} listed their friends")
            }
            Some(Action::ThreadMessagesRead) => match names_of(entry, names_list) {
                (Some(thread), Some(sharer), Some(messages)) => format!(
                    "{app} read {messages} in thread {thread}, which {sharer} shared with it"
                ),
                _ => format!("{app} read a thread you are in that someone shared with it"),
            },
            Some(Action::MessageReceived) => {
                format!("{app} sent you a message from {names}")
            }
            None => format!("{app}: {}", entry.action),
        },
        Outcome::Denied => {
            let what = match action {
                Some(Action::ProfileRead) => "your name".to_owned(),
                Some(Action::FriendsList) => "your friends list".to_owned(),
                Some(Action::MessageSend) if names.is_empty() => "sending a message".to_owned(),
                Some(Action::MessageSend) => format!("sending a message to {names}"),
                Some(Action::MessageStatus) => "the status of a message".to_owned(),
                Some(Action::ThreadsList) => "the list of threads you shared".to_owned(),
                Some(Action::ThreadRead) if names.is_empty() => "a thread".to_owned(),
                Some(Action::ThreadRead) => format!("thread {names}"),
                Some(Action::TokenIssue) => "an access token".to_owned(),
                Some(Action::TokenRefresh) => "a new access token".to_owned(),
                Some(Action::TokenRevoke) => "revoking a token".to_owned(),
                Some(Action::ConsentGrant) => "your consent".to_owned(),
                Some(Action::ConsentRevoke) => "disconnecting".to_owned(),
                Some(Action::ShareDialog) => "sharing".to_owned(),
                Some(Action::ConsentExpire) => "expiring".to_owned(),
                Some(Action::FriendListed) => "your name".to_owned(),
                Some(Action::ThreadMessagesRead) => "your messages".to_owned(),
                Some(Action::MessageReceived) => "sending you a message".to_owned(),
                None => entry.action.clone(),
            };
            let reason = match entry.reason.as_deref() {
                Some(reason) => Denial::parse(reason).map_or(reason, |denial| denial.explain()),
                None => "refused",
            };
            format!("{app} was refused {what}: {reason}")
        }
    }
}

/// The thread, the member who shared it and the message count of a thread-read entry about
/// a co-member, by the kinds of its objects.
fn names_of<'a>(
    entry: &Entry,
    names: &[&'a str],
) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>) {
    let named = |kind: &str| {
        entry
            .objects
            .iter()
            .position(|o| o.starts_with(kind))
            .and_then(|i| names.get(i).copied())
    };
    (named("conversation:"), named("member:"), named("messages:"))
}

/// "Ann", "Ann and Bob", "Ann, Bob and Cy".
fn join(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: Action, outcome: Outcome, reason: Option<Denial>) -> Entry {
        Entry {
            seq: 0,
            at_ms: 0,
            app: "cfd_app_x".into(),
            action: action.as_str().into(),
            scope: Some("messages:send".into()),
            objects: vec![],
            outcome,
            reason: reason.map(|r| r.as_str().into()),
            request_id: "r".into(),
        }
    }

    #[test]
    fn entries_read_as_sentences() {
        assert_eq!(
            sentence(
                &entry(Action::MessageSend, Outcome::Allowed, None),
                "Streamflix",
                &["Bob"]
            ),
            "Streamflix sent a recommendation to Bob"
        );
        assert_eq!(
            sentence(
                &entry(
                    Action::ThreadRead,
                    Outcome::Denied,
                    Some(Denial::NotGranted)
                ),
                "Streamflix",
                &["'Family'"]
            ),
            "Streamflix was refused thread 'Family': not granted"
        );
        assert_eq!(join(&["Ann", "Bob", "Cy"]), "Ann, Bob and Cy");
    }

    #[test]
    fn action_and_denial_names_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        for denial in Denial::ALL {
            assert_eq!(Denial::parse(denial.as_str()), Some(denial));
        }
    }
}
