use confidant_core::accesslog::Action;
use confidant_core::store::{NewWebhook, OAuthStore, WebhookOutcome, WebhookStore};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::oauth::{app, grant_for, log};
use super::{T0, member};

on_both_backends!(a_revocation_queues_its_webhook_which_is_claimed_once_and_retried);

fn webhook(id: &str) -> NewWebhook {
    NewWebhook {
        client_id: "cfd_app_a".into(),
        message_id: id.into(),
        event_type: "grant.revoked".into(),
        payload: r#"{"type":"grant.revoked"}"#.into(),
        created_at: T0,
    }
}

async fn a_revocation_queues_its_webhook_which_is_claimed_once_and_retried(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let mut with_hook = app("cfd_app_a");
    with_hook.report_webhook = Some("https://streamflix.example/hooks".into());
    with_hook.webhook_secret = Some("whsec_c2VjcmV0".into());
    store.create_app(with_hook).await.unwrap();
    grant_for(store, alice.id, "cfd_app_a", "p").await;

    let revoke = log(alice.id, Action::ConsentRevoke);
    assert!(
        store
            .revoke_grant(
                alice.id,
                "cfd_app_a",
                T0,
                revoke.clone(),
                Some(webhook("msg_1"))
            )
            .await
            .unwrap()
    );
    // No active grant any more: nothing is revoked, nothing queued.
    assert!(
        !store
            .revoke_grant(alice.id, "cfd_app_a", T0, revoke, Some(webhook("msg_2")))
            .await
            .unwrap()
    );
    let due = store.due_webhooks(T0, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let due = &due[0];
    assert_eq!(
        (due.url.as_str(), due.message_id.as_str(), due.attempts),
        ("https://streamflix.example/hooks", "msg_1", 0)
    );

    // Two nodes race for it: one wins.
    let lease = T0.plus_secs(60);
    assert!(
        store
            .claim_webhook(due.id, due.next_attempt_at, lease)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_webhook(due.id, due.next_attempt_at, lease)
            .await
            .unwrap()
    );
    assert!(
        store.due_webhooks(T0, 10).await.unwrap().is_empty(),
        "leased"
    );

    let retry_at = T0.plus_secs(5);
    let failed = WebhookOutcome::Failed {
        error: "the endpoint answered 500".into(),
        retry_at: Some(retry_at),
    };
    store
        .finish_webhook_attempt(due.id, T0, failed)
        .await
        .unwrap();
    assert!(store.due_webhooks(T0, 10).await.unwrap().is_empty());
    let again = store.due_webhooks(retry_at, 10).await.unwrap();
    assert_eq!(again[0].attempts, 1);
    store
        .finish_webhook_attempt(due.id, retry_at, WebhookOutcome::Delivered)
        .await
        .unwrap();
    assert!(
        store
            .due_webhooks(T0.plus_secs(86_400), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
