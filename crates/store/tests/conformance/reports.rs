use confidant_core::Timestamp;
use confidant_core::store::{
    BudgetLimit, CapsInForce, Cell, Contribution, Counter, EngagementImport, EngagementPurge,
    EngagementStore, ImportedContribution, NewRelease, OAuthStore, PartnerStore, ReleaseOutcome,
    ReportStore, ReportedEvent,
};
use confidant_store::on_both_backends;
use confidant_store::testing::TestDatabase;

use super::oauth::app;
use super::{T0, member};

on_both_backends!(
    contributions_are_capped_per_cell_and_per_day,
    a_click_counts_only_while_its_member_consents,
    an_import_adds_up_like_live_contributions_or_changes_nothing,
    a_release_is_stored_once_and_spends_within_the_budget,
    the_caps_in_force_are_recorded_per_day_and_the_largest_kept,
    a_purge_forgets_who_contributed_once_the_day_is_over,
    an_exact_release_for_the_partner_never_covers_privately_released_days,
);

/// A moment on day `day`.
fn on_day(day: i64) -> Timestamp {
    Timestamp(day * 86_400_000 + 3_600_000)
}

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

/// The write that counts a click reads the member's consent itself: a withdrawal that
/// committed first stops the very next click, whatever any cache holds. Sends are not
/// governed by it.
async fn a_click_counts_only_while_its_member_consents(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let contribute = |counter: Counter| {
        let contribution = Contribution {
            member: alice.id,
            cell: cell(100, "web"),
            counter,
            cap: 10,
            cells_per_day: 10,
        };
        async move { store.contribute(&contribution).await.unwrap() }
    };
    assert!(contribute(Counter::Clicks).await);
    // Loaded into the cache before the withdrawal.
    assert!(store.count_clicks(alice.id).await.unwrap());
    store.set_count_clicks(alice.id, false).await.unwrap();
    assert!(!contribute(Counter::Clicks).await);
    assert!(contribute(Counter::Sends).await);
    store.set_count_clicks(alice.id, true).await.unwrap();
    assert!(contribute(Counter::Clicks).await);
    let cells = store.engagement("cfd_app_a", 100, 100).await.unwrap();
    assert_eq!((cells[0].sends, cells[0].clicks), (1, 2));
    // Nobody's click counts for a member who does not exist.
    let nobody = Contribution {
        member: confidant_core::MemberId(i64::MAX),
        cell: cell(100, "web"),
        counter: Counter::Clicks,
        cap: 10,
        cells_per_day: 10,
    };
    assert!(!store.contribute(&nobody).await.unwrap());
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
        caps: Some(CapsInForce {
            contribution_cap: 3,
            cells_per_day: 4,
        }),
    };
    // Imported while day 100 runs: who contributed is kept until the day is over.
    store.import_engagement(&import, on_day(100)).await.unwrap();
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
    assert!(store.import_engagement(&import, on_day(100)).await.is_err());
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
    // An import of a day that is over keeps only the daily cells and their caps.
    let old = EngagementImport {
        contributions: vec![ImportedContribution {
            cell: cell(90, "web"),
            ..contribution(alice.id, "web", 1, 1)
        }],
        reported: Vec::new(),
        caps: Some(CapsInForce {
            contribution_cap: 3,
            cells_per_day: 4,
        }),
    };
    store.import_engagement(&old, on_day(100)).await.unwrap();
    assert_eq!(
        store.engagement("cfd_app_a", 90, 90).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.caps_in_force("cfd_app_a", 90, 90).await.unwrap(),
        old.caps
    );
    let purged = store.purge_engagement(100, 0).await.unwrap();
    assert_eq!(
        purged.member_rows, 0,
        "nothing of day 90 was kept per member"
    );
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
        partner_visible: mechanism != "self_test",
        ledger_leaf: id.as_bytes().to_vec(),
    }
}

async fn a_release_is_stored_once_and_spends_within_the_budget(db: TestDatabase) {
    let store = &db.store;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let budget = BudgetLimit {
        rho_per_data_day: 1.0,
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
    // Every day of the period was charged, and no other.
    assert_eq!(
        store.privacy_spent("cfd_app_a", 100, 113).await.unwrap(),
        0.5
    );
    assert_eq!(
        store.privacy_spent("cfd_app_a", 113, 113).await.unwrap(),
        0.5
    );
    assert_eq!(
        store.privacy_spent("cfd_app_a", 114, 200).await.unwrap(),
        0.0
    );

    // Eight periods at once that all overlap day 113, which has room for one more.
    let attempts = (1..=8).map(|n| {
        store.store_release(
            release(&format!("rpt_c{n}"), 100 + n, "discrete_gaussian", 0.5),
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
        store.privacy_spent("cfd_app_a", 100, 130).await.unwrap(),
        1.0
    );
    // Periods that share no day with those have their whole budget.
    assert!(matches!(
        store
            .store_release(
                release("rpt_3", 500, "discrete_gaussian", 0.5),
                budget,
                None
            )
            .await
            .unwrap(),
        ReleaseOutcome::Stored(_)
    ));
    assert_eq!(store.private_releases().await.unwrap(), 3);

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
    assert!(!test.summary.partner_visible);
    assert_eq!(store.releases("cfd_app_a", 10).await.unwrap().len(), 4);
    assert!(store.release("rpt_nope").await.unwrap().is_none());
    assert_eq!(store.private_releases().await.unwrap(), 3);
}

async fn the_caps_in_force_are_recorded_per_day_and_the_largest_kept(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    assert_eq!(
        store.caps_in_force("cfd_app_a", 0, 1000).await.unwrap(),
        None
    );
    let click = |day, cap, cells_per_day| Contribution {
        member: alice.id,
        cell: cell(day, "web"),
        counter: Counter::Clicks,
        cap,
        cells_per_day,
    };
    // The operator raised the cap during day 100, and lowered it on day 101.
    assert!(store.contribute(&click(100, 3, 4)).await.unwrap());
    assert!(store.contribute(&click(100, 5, 2)).await.unwrap());
    assert!(store.contribute(&click(101, 1, 1)).await.unwrap());
    let caps = |first, last| async move {
        store
            .caps_in_force("cfd_app_a", first, last)
            .await
            .unwrap()
            .map(|c| (c.contribution_cap, c.cells_per_day))
    };
    assert_eq!(caps(100, 100).await, Some((5, 4)));
    assert_eq!(caps(101, 101).await, Some((1, 1)));
    assert_eq!(caps(100, 101).await, Some((5, 4)));
    assert_eq!(caps(102, 110).await, None);
}

async fn a_purge_forgets_who_contributed_once_the_day_is_over(db: TestDatabase) {
    let store = &db.store;
    let alice = member(store, "alice").await;
    store.create_app(app("cfd_app_a")).await.unwrap();
    for day in [10, 100, 101] {
        let send = Contribution {
            member: alice.id,
            cell: cell(day, "web"),
            counter: Counter::Sends,
            cap: 3,
            cells_per_day: 1,
        };
        assert!(store.contribute(&send).await.unwrap());
    }
    let reported = |day, key: &str| ReportedEvent {
        cell: cell(day, "web"),
        sends: 1,
        clicks: 0,
        idempotency_key: key.into(),
    };
    store
        .store_reported_events(&[reported(10, "old"), reported(100, "new")], T0)
        .await
        .unwrap();

    // Day 101 runs; days 10 and 100 are over, and day 10 is past retention (from day 50).
    let purged = store.purge_engagement(101, 50).await.unwrap();
    // A contribution and a cells-touched row for each of days 10 and 100.
    assert_eq!(purged.member_rows, 4);
    // Day 10's daily cell, reported count and caps.
    assert_eq!(purged.expired_rows, 3);
    assert!(
        store
            .engagement("cfd_app_a", 0, 49)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .reported_engagement("cfd_app_a", 0, 49)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.caps_in_force("cfd_app_a", 0, 49).await.unwrap(), None);
    // Day 100's aggregate stays; who made it is gone.
    assert_eq!(
        store.engagement("cfd_app_a", 100, 100).await.unwrap()[0].sends,
        1
    );
    assert_eq!(
        store
            .reported_engagement("cfd_app_a", 100, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    let remaining: i64 = sqlx_count(&db, "SELECT COUNT(*) FROM engagement_contributions").await
        + sqlx_count(&db, "SELECT COUNT(*) FROM engagement_member_days").await;
    assert_eq!(remaining, 2, "only day 101's rows, while it runs");
    // Day 101 still enforces its limit of one cell.
    let second_cell = Contribution {
        member: alice.id,
        cell: cell(101, "tv"),
        counter: Counter::Sends,
        cap: 3,
        cells_per_day: 1,
    };
    assert!(!store.contribute(&second_cell).await.unwrap());
    // Purging again finds nothing more.
    assert_eq!(
        store.purge_engagement(101, 50).await.unwrap(),
        EngagementPurge::default()
    );
}

async fn sqlx_count(db: &TestDatabase, sql: &str) -> i64 {
    db.store.count_raw(sql).await.unwrap()
}

async fn an_exact_release_for_the_partner_never_covers_privately_released_days(db: TestDatabase) {
    let store = &db.store;
    store.create_app(app("cfd_app_a")).await.unwrap();
    let budget = BudgetLimit {
        rho_per_data_day: 1.0,
    };
    store
        .store_release(
            release("rpt_p", 100, "discrete_gaussian", 0.5),
            budget,
            None,
        )
        .await
        .unwrap();
    // Days 100–113 were released with noise: an exact release the app would see is refused.
    let mut exact = release("rpt_x", 110, "self_test", 0.0);
    exact.partner_visible = true;
    assert_eq!(
        store
            .store_release(exact.clone(), budget, None)
            .await
            .unwrap(),
        ReleaseOutcome::WouldExposePrivate
    );
    assert!(store.release("rpt_x").await.unwrap().is_none());
    // Kept from the app, an operator's exact check is fine.
    exact.partner_visible = false;
    assert!(matches!(
        store.store_release(exact, budget, None).await.unwrap(),
        ReleaseOutcome::Stored(_)
    ));
    // So are exact releases of days no private release covers.
    let mut fresh = release("rpt_y", 200, "self_test", 0.0);
    fresh.partner_visible = true;
    let stored = store.store_release(fresh, budget, None).await.unwrap();
    assert!(matches!(stored, ReleaseOutcome::Stored(ref r) if r.summary.partner_visible));
}
