//! What a connected app can never do, in the words members read on the consent screen, on
//! `/apps` and in the README. Each sentence must hold in every case — thread grants, friend
//! lists and recommendation links included — so each names its exceptions.

/// The limits on an app, as sentences completing "{app} can never…". `thread_read` when the
/// app asks to read conversations the member picks.
pub fn app_limits(thread_read: bool) -> Vec<&'static str> {
    vec![
        if thread_read {
            "read your messages or your inbox, except the conversations you pick on its consent \
             screen: in those it sees the messages, their senders' display names and the conversation's \
             title, from the time you choose until the grant ends or you leave"
        } else {
            "read your messages or your inbox, or see your conversations"
        },
        "see your handle, or whom you talk to outside conversations you let it read",
        "send anything without it showing “via” the app, to you and to the recipient",
        "learn which recipient opened a recommendation: everyone sent an item gets the same \
         link, and the app gets only daily totals with privacy noise (its own website does see \
         a visit when someone follows the link, like any site you open)",
        "recognise you, your conversations or your messages across apps: each app gets ids \
         of its own",
        "touch your data, or a friend's, without an entry in the access log of each of you",
    ]
}
