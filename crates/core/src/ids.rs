//! Typed identifiers, so a member id is never passed where a conversation id belongs.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A member's internal id. Never shown to partners (they get pairwise pseudonyms).
    MemberId
);
id_type!(
    /// A 1:1 or group conversation.
    ConversationId
);
id_type!(
    /// A message; ids grow with time within a conversation, which pagination relies on.
    MessageId
);
id_type!(
    /// A file a member uploaded, to send with a message.
    AttachmentId
);
