//! Synthetic but realistic data for demos and benchmarks: members with friends, a partner app,
//! and a year of recommendation sends and clicks.
//!
//! Members and friendships are made through the store like any others. Sends and clicks are
//! loaded as the engagement they leave behind — each member's capped contributions, the
//! daily cells, and the app's own reported counts — exactly as the live paths would have
//! recorded them, but in bulk: ten million events, one committed send at a time, would take
//! hours.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::accounts::{Handle, Password};
use crate::oauth::AppRegistration;
use crate::partner::INTERFACES;
use crate::reports::CHANNELS;
use crate::store::{
    CHANNEL_CONFIDANT, CapsInForce, Cell, EngagementImport, ImportedContribution, NewMember,
    ReportedEvent, day_of,
};
use crate::{Confidant, Error, MemberId};

/// Every demo member's password.
pub const DEMO_PASSWORD: &str = "demo-password";
const FIRST_NAMES: [&str; 16] = [
    "Ada", "Bea", "Cyril", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kiri",
    "Lars", "Mei", "Nadia", "Omar", "Priya",
];
const LAST_NAMES: [&str; 12] = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Kowalski",
    "Reyes",
    "Byrne",
    "Mehta",
    "Jensen",
];
/// How members split across interfaces, in percent, in [`INTERFACES`] order.
const INTERFACE_SHARE: [u32; 5] = [38, 27, 21, 10, 4];
const SURFACES: [&str; 3] = ["title_page", "player_end", "search"];
const SURFACE_SHARE: [u32; 3] = [55, 35, 10];
const VARIATIONS: [&str; 2] = ["control", "share_sheet"];
/// Friends each member has on either side of the ring.
const FRIENDS_EACH_SIDE: usize = 5;

/// What to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoSeed {
    pub members: usize,
    /// Sends plus clicks.
    pub events: u64,
    /// Spread over this many days, ending yesterday.
    pub days: i64,
    /// The same seed makes the same data.
    pub seed: u64,
}

/// Progress through a seeding stage.
#[derive(Debug, Clone, Copy)]
pub struct SeedProgress {
    pub stage: &'static str,
    pub done: u64,
    pub total: u64,
}

/// What was made.
#[derive(Debug, Clone)]
pub struct DemoSeeded {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub members: usize,
    pub friendships: usize,
    pub sends: u64,
    pub clicks: u64,
    /// What reached the counters under the caps.
    pub counted_sends: u64,
    pub counted_clicks: u64,
    pub first_day: i64,
    pub days: i64,
}

impl Confidant {
    /// Fills the database with a demo partner app, `members` members in a ring of
    /// friendships, and `events` sends and clicks over the last `days` days.
    pub async fn seed_demo(
        &self,
        seed: DemoSeed,
        progress: &(dyn Fn(SeedProgress) + Sync),
    ) -> Result<DemoSeeded, Error> {
        if seed.members < 2 {
            return Err(Error::invalid(
                "members",
                "too_few",
                "seed at least 2 members",
            ));
        }
        if !(1..=crate::reports::MAX_REPORT_DAYS).contains(&seed.days) {
            return Err(Error::invalid(
                "days",
                "out_of_range",
                "seed 1 to 1096 days",
            ));
        }
        let now = self.clock.now();
        let registered = self
            .register_app(AppRegistration {
                name: "Streamflix Demo".into(),
                owner: "Confidant demo data".into(),
                redirect_uris: vec!["https://streamflix.example/callback".into()],
                homepage: Some("https://streamflix.example".into()),
                surfaces: vec![SURFACES.join(" ")],
                variations: vec![VARIATIONS.join(" ")],
                ..AppRegistration::default()
            })
            .await?;
        let app = self.approve_app(&registered.app.client_id).await?;

        let password_hash = self.hasher.hash(Password::parse(DEMO_PASSWORD)?).await?;
        let mut members = Vec::with_capacity(seed.members);
        let mut rng = StdRng::seed_from_u64(seed.seed);
        for n in 0..seed.members {
            let handle = format!("demo{n:06}");
            let member = self
                .store
                .create_member(NewMember {
                    handle: Handle::parse(&handle)?,
                    display_name: format!(
                        "{} {}",
                        FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())],
                        LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())]
                    ),
                    password_hash: password_hash.clone(),
                    is_admin: false,
                    created_at: now,
                })
                .await
                .map_err(|e| match e {
                    crate::StoreError::Conflict(_) => Error::conflict(
                        Some("members"),
                        "already_seeded",
                        format!("member {handle} exists: seed-demo fills an empty database"),
                    ),
                    other => other.into(),
                })?;
            members.push(member.id);
            progress(SeedProgress {
                stage: "members",
                done: n as u64 + 1,
                total: seed.members as u64,
            });
        }

        let offsets = FRIENDS_EACH_SIDE.min((seed.members - 1) / 2).max(1);
        let pairs: Vec<(usize, usize)> = (0..seed.members)
            .flat_map(|i| (1..=offsets).map(move |o| (i, (i + o) % seed.members)))
            .filter(|(i, j)| i != j)
            .collect();
        for (n, (i, j)) in pairs.iter().enumerate() {
            self.store
                .create_friend_request(members[*i], members[*j], now)
                .await?;
            self.store
                .accept_friend_request(members[*i], members[*j], now)
                .await?;
            progress(SeedProgress {
                stage: "friendships",
                done: n as u64 + 1,
                total: pairs.len() as u64,
            });
        }

        let first_day = day_of(now) - seed.days;
        let mut seeded = DemoSeeded {
            client_id: app.client_id.clone(),
            client_secret: registered.client_secret,
            members: seed.members,
            friendships: pairs.len(),
            sends: 0,
            clicks: 0,
            counted_sends: 0,
            counted_clicks: 0,
            first_day,
            days: seed.days,
        };
        let mut generator = Generator {
            rng,
            members: &members,
            offsets,
            client_id: &app.client_id,
            cap: i64::from(self.reports.privacy.contribution_cap),
            cells_per_day: self.reports.privacy.cells_per_day as usize,
        };
        let weights: Vec<f64> = (0..seed.days)
            .map(|d| day_weight(first_day + d, d))
            .collect();
        let total_weight: f64 = weights.iter().sum();
        let mut planned = 0u64;
        let mut cumulative = 0.0;
        for (d, weight) in weights.iter().enumerate() {
            cumulative += weight;
            let until = ((seed.events as f64) * cumulative / total_weight).round() as u64;
            let today = generator.day(first_day + d as i64, until - planned, &mut seeded);
            planned = until;
            self.store.import_engagement(&today, now).await?;
            progress(SeedProgress {
                stage: "events",
                done: planned,
                total: seed.events,
            });
        }
        Ok(seeded)
    }
}

/// More on weekends, and slowly growing over the period.
fn day_weight(day: i64, index: i64) -> f64 {
    // 1970-01-01 was a Thursday, so days 1 to 3 of each week are Friday to Sunday.
    let weekend = matches!(day.rem_euclid(7), 1..=3);
    (if weekend { 1.35 } else { 1.0 }) * (1.0 + index as f64 / 730.0)
}

struct Generator<'a> {
    rng: StdRng,
    members: &'a [MemberId],
    offsets: usize,
    client_id: &'a str,
    cap: i64,
    cells_per_day: usize,
}

/// A cell of the demo app's domain: interface, surface and variation indexes.
type CellKey = (usize, usize, usize);

impl Generator<'_> {
    fn pick(&mut self, shares: &[u32]) -> usize {
        let mut roll = self.rng.gen_range(0..shares.iter().sum::<u32>());
        for (i, share) in shares.iter().enumerate() {
            if roll < *share {
                return i;
            }
            roll -= share;
        }
        shares.len() - 1
    }

    /// One day's `events` sends and clicks, as the counters would hold them.
    fn day(&mut self, day: i64, events: u64, totals: &mut DemoSeeded) -> EngagementImport {
        // (member, cell) → (sends, clicks), and each member's cells in first-touched order.
        let mut counts: HashMap<(usize, CellKey), (i64, i64)> = HashMap::new();
        let mut touched: HashMap<usize, Vec<CellKey>> = HashMap::new();
        let mut record = |member: usize, cell: CellKey, send: bool| {
            let entry = counts.entry((member, cell)).or_insert_with(|| {
                touched.entry(member).or_default().push(cell);
                (0, 0)
            });
            if send { entry.0 += 1 } else { entry.1 += 1 }
        };
        let n = self.members.len();
        let mut made = 0;
        while made < events {
            // A few members share a lot; most share now and then.
            let sender = ((self.rng.r#gen::<f64>().powi(3)) * n as f64) as usize % n;
            let offset = self.rng.gen_range(1..=self.offsets);
            let recipient = if self.rng.gen_bool(0.5) {
                (sender + offset) % n
            } else {
                (sender + n - offset) % n
            };
            let interface = self.pick(&INTERFACE_SHARE);
            let cell = (
                interface,
                self.pick(&SURFACE_SHARE),
                sender % VARIATIONS.len(),
            );
            record(sender, cell, true);
            totals.sends += 1;
            made += 1;
            if made < events && self.rng.gen_bool(0.35) {
                // Mostly followed where it was shown, sometimes on another device.
                let shown_on = if self.rng.gen_bool(0.8) {
                    interface
                } else {
                    self.pick(&INTERFACE_SHARE)
                };
                record(recipient, (shown_on, cell.1, cell.2), false);
                totals.clicks += 1;
                made += 1;
            }
        }

        let cell_of = |(interface, surface, variation): CellKey, channel: &str| Cell {
            client_id: self.client_id.to_owned(),
            day,
            interface: INTERFACES[interface].to_owned(),
            surface: SURFACES[surface].to_owned(),
            variation: VARIATIONS[variation].to_owned(),
            channel: channel.to_owned(),
        };
        let mut import = EngagementImport {
            caps: Some(CapsInForce {
                contribution_cap: u32::try_from(self.cap).unwrap_or(u32::MAX),
                cells_per_day: u32::try_from(self.cells_per_day).unwrap_or(u32::MAX),
            }),
            ..EngagementImport::default()
        };
        // What the app itself saw, per cell: every send and click, uncapped.
        let mut seen: HashMap<CellKey, (i64, i64)> = HashMap::new();
        for ((member, cell), (sends, clicks)) in &counts {
            let seen = seen.entry(*cell).or_default();
            seen.0 += sends;
            seen.1 += clicks;
            let rank = touched[member].iter().position(|c| c == cell).unwrap_or(0);
            if rank >= self.cells_per_day {
                continue;
            }
            let (sends, clicks) = ((*sends).min(self.cap), (*clicks).min(self.cap));
            totals.counted_sends += sends as u64;
            totals.counted_clicks += clicks as u64;
            import.contributions.push(ImportedContribution {
                member: self.members[*member],
                cell: cell_of(*cell, CHANNEL_CONFIDANT),
                sends,
                clicks,
            });
        }
        for (cell, (sends, clicks)) in seen {
            // Off-platform, people share by copied link about half as often.
            let off_sends = (sends as f64 * self.rng.gen_range(0.35..0.65)).round() as i64;
            let off_clicks = (off_sends as f64 * self.rng.gen_range(0.15..0.3)).round() as i64;
            for (channel, sends, clicks) in [
                (CHANNELS[0], sends, clicks),
                (CHANNELS[1], off_sends, off_clicks),
            ] {
                import.reported.push(ReportedEvent {
                    idempotency_key: format!(
                        "demo-{day}-{}-{}-{}-{channel}",
                        cell.0, cell.1, cell.2
                    ),
                    cell: cell_of(cell, channel),
                    sends,
                    clicks,
                });
            }
        }
        import
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekends_weigh_more() {
        // 2026-11-21 was a Saturday (day 20_778), 2026-11-23 a Monday.
        assert!(day_weight(20_778, 0) > day_weight(20_780, 0));
    }
}
