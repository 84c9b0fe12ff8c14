use confidant_core::Timestamp;
use confidant_core::store::{
    BudgetLimit, Cell, Contribution, Counter, EngagementImport, EngagementStore,
    ImportedContribution, NewRelease, OAuthStore, ReleaseOutcome, ReportStore, ReportedEvent,
};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::oauth::app;
use super::{T0, member};

on_both_backends!(
    contributions_are_capped_per_cell_and_per_day,
    an_import_adds_up_like_live_contributions_or_changes_nothing,
    a_release_is_stored_once_and_spends_within_the_budget,
);

fn cell(day: i64, interface: &str) -> Cell {
    Cell {
        client_id: "cfd_app_a".into(),
        day,
        interface: interface.into(),
        surface: "title_page".into(),
        variation: "default".into(),
        channel: "confidant".into(),
    }
}

async fn contributions_are_capped_per_cell_and_per_day(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let contribute = |cell: Cell, counter: Counter| {
        let contribution = Contribution {
            member: alice.id,
            cell,
            counter,
            cap: 3,
            cells_per_day: 2,
        };
        async move { store.contribute(&contribution).await.unwrap() }
    };
    // Ten clicks in one cell count three times.
    let mut counted = 0;
    for _ in 0..10 {
        counted += usize::from(contribute(cell(100, "web"), Counter::Clicks).await);
    }
    assert_eq!(counted, 3);
    // Sends are capped apart from clicks, in the same cell.
    assert!(contribute(cell(100, "web"), Counter::Sends).await);
    // A second cell that day counts; a third does not, and leaves no trace.
    assert!(contribute(cell(100, "tv"), Counter::Clicks).await);
    assert!(!contribute(cell(100, "ios"), Counter::Clicks).await);
    assert!(!contribute(cell(100, "ios"), Counter::Sends).await);
    // The next day starts afresh.
    assert!(contribute(cell(101, "ios"), Counter::Clicks).await);

    let cells = store.engagement("cfd_app_a", 100, 101).await.unwrap();
    let counts: Vec<(i64, &str, i64, i64)> = cells
        .iter()
        .map(|c| (c.cell.day, c.cell.interface.as_str(), c.sends, c.clicks))
        .collect();
    assert_eq!(
        counts,
        [(100, "tv", 0, 1), (100, "web", 1, 3), (101, "ios", 0, 1)]
    );

    // Twenty clicks at once in a cell nobody has touched yet: exactly the cap counts.
    let at_once = (0..20).map(|_| contribute(cell(102, "web"), Counter::Clicks));
    let counted = futures::future::join_all(at_once).await;
    assert_eq!(counted.iter().filter(|counted| **counted).count(), 3);
    let cells = store.engagement("cfd_app_a", 102, 102).await.unwrap();
    assert_eq!(cells.len(), 1);
    assert_eq!((cells[0].sends, cells[0].clicks), (0, 3));
}

async fn an_import_adds_up_like_live_contributions_or_changes_nothing(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    let bob = member(store, "bob").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    // Alice clicked live; the import adds both members' counts on top.
    let live = Contribution {
        member: alice.id,
        cell: cell(100, "tv"),
        counter: Counter::Clicks,
        cap: 3,
        cells_per_day: 4,
    };
    assert!(store.contribute(&live).await.unwrap());
    let contribution = |member, interface: &str, sends, clicks| ImportedContribution {
        member,
        cell: cell(100, interface),
        sends,
        clicks,
    };
    let import = EngagementImport {
        contributions: vec![
            contribution(alice.id, "web", 3, 1),
            contribution(bob.id, "web", 2, 0),
            contribution(bob.id, "tv", 0, 2),
        ],
        reported: vec![ReportedEvent {
            cell: Cell {
                channel: "off_platform".into(),
                ..cell(100, "web")
            },
            sends: 9,
            clicks: 4,
            idempotency_key: "import-1".into(),
        }],
    };
    store.import_engagement(&import, T0).await.unwrap();
    let counts = || async {
        store
            .engagement("cfd_app_a", 100, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.cell.interface, c.sends, c.clicks))
            .collect::<Vec<_>>()
    };
    let expected = vec![("tv".to_owned(), 0, 3), ("web".to_owned(), 5, 1)];
    assert_eq!(counts().await, expected);
    let reported = store
        .reported_engagement("cfd_app_a", 100, 100)
        .await
        .unwrap();
    assert_eq!((reported[0].sends, reported[0].clicks), (9, 4));
    // Importing over counts that exist fails as a whole.
    assert!(store.import_engagement(&import, T0).await.is_err());
    assert_eq!(counts().await, expected);
    // Bob's cells for the day count against his limit afterwards.
    let third = Contribution {
        member: bob.id,
        cell: cell(100, "ios"),
        counter: Counter::Sends,
        cap: 3,
        cells_per_day: 2,
    };
    assert!(!store.contribute(&third).await.unwrap());
}

fn release(id: &str, first_day: i64, mechanism: &str, rho: f64) -> NewRelease {
    NewRelease {
        id: id.into(),
        client_id: "cfd_app_a".into(),
        first_day,
        days: 14,
        mechanism: mechanism.into(),
        rho,
        created_at: T0,
        body: format!(r#"{{"id":"{id}"}}"#),
    }
}

async fn a_release_is_stored_once_and_spends_within_the_budget(db: TestDatabase) {
    let store = &db.store;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let budget = BudgetLimit {
        since: Timestamp(T0.0 - 365 * 86_400_000),
        limit: 1.0,
    };
    let stored = store
        .store_release(
            release("rpt_1", 100, "discrete_gaussian", 0.5),
            budget,
            None,
        )
        .await
        .unwrap();
    assert!(matches!(stored, ReleaseOutcome::Stored(ref r) if r.summary.id == "rpt_1"));
    // The same period again: the first release, unchanged, nothing spent.
    let again = store
        .store_release(
            release("rpt_2", 100, "discrete_gaussian", 0.5),
            budget,
            None,
        )
        .await
        .unwrap();
    assert!(matches!(again, ReleaseOutcome::Existing(ref r) if r.body.contains("rpt_1")));
    assert_eq!(
        store
            .privacy_spent("cfd_app_a", budget.since)
            .await
            .unwrap(),
        0.5
    );

    // Eight periods at once, with room for one more.
    let attempts = (1..=8).map(|n| {
        store.store_release(
            release(&format!("rpt_c{n}"), 100 + 14 * n, "discrete_gaussian", 0.5),
            budget,
            None,
        )
    });
    let outcomes = futures::future::join_all(attempts).await;
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(ReleaseOutcome::Stored(_))))
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(ReleaseOutcome::OverBudget { spent }) if *spent == 1.0))
        .count();
    assert_eq!((stored, refused), (1, 7), "{outcomes:?}");
    assert_eq!(
        store
            .privacy_spent("cfd_app_a", budget.since)
            .await
            .unwrap(),
        1.0
    );
    // Spending older than the window no longer counts.
    let later = BudgetLimit {
        since: Timestamp(T0.0 + 1),
        limit: 1.0,
    };
    assert!(matches!(
        store
            .store_release(release("rpt_3", 500, "discrete_gaussian", 0.5), later, None)
            .await
            .unwrap(),
        ReleaseOutcome::Stored(_)
    ));

    // Self-tests spend nothing and are redone in place.
    for body in ["first", "second"] {
        let mut test = release("rpt_t", 100, "self_test", 0.0);
        test.body = body.into();
        assert!(matches!(
            store.store_release(test, budget, None).await.unwrap(),
            ReleaseOutcome::Stored(_)
        ));
    }
    let test = store.release("rpt_t").await.unwrap().unwrap();
    assert_eq!(test.body, "second");
    assert_eq!(store.releases("cfd_app_a", 10).await.unwrap().len(), 4);
    assert!(store.release("rpt_nope").await.unwrap().is_none());
}
