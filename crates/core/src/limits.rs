//! Fixed-window limits: how many messages one app may send for one member, how many
//! directory searches one member or address may make. The check and the count are one step
//! under one lock, so parallel requests cannot all pass a check that only one of them fits
//! under; work that ends up doing nothing can give its slot back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::Timestamp;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Timestamp,
    taken: u32,
}

/// A fixed-window counter per key, in memory on this node.
#[derive(Debug)]
pub struct WindowLimiter {
    limit: u32,
    window_secs: i64,
    windows: Mutex<HashMap<String, Window>>,
}

/// A slot taken from a [`WindowLimiter`]. Dropped without [`Slot::keep`], it is given back.
pub struct Slot {
    limiter: Arc<WindowLimiter>,
    key: String,
    started: Timestamp,
    kept: bool,
}

impl WindowLimiter {
    pub fn new(limit: u32, window_secs: i64) -> Self {
        Self {
            limit,
            window_secs,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for `key`, or the seconds until the window ends if it is full.
    pub fn try_take(self: &Arc<Self>, key: &str, now: Timestamp) -> Result<Slot, u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            let window_secs = self.window_secs;
            windows.retain(|_, w| w.started.plus_secs(window_secs) > now);
        }
        let window = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            taken: 0,
        });
        let ends = window.started.plus_secs(self.window_secs);
        if ends <= now {
            *window = Window {
                started: now,
                taken: 0,
            };
        } else if window.taken >= self.limit {
            return Err(((ends.millis() - now.millis()) / 1000).max(1) as u64);
        }
        window.taken += 1;
        Ok(Slot {
            limiter: Arc::clone(self),
            key: key.to_owned(),
            started: window.started,
            kept: false,
        })
    }
}

impl Slot {
    /// The work was done: the slot stays taken.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let mut windows = self
            .limiter
            .windows
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Only the window the slot came from; a newer one owes it nothing.
        if let Some(window) = windows
            .get_mut(&self.key)
            .filter(|window| window.started == self.started)
        {
            window.taken = window.taken.saturating_sub(1);
        }
    }
}

/// The page size a caller asked for, if it is 1 to `max`. Anything else is refused rather
/// than quietly changed, so a client never mistakes a shortened page for the last one.
pub fn page_size(requested: i64, max: i64) -> Result<i64, crate::Error> {
    if (1..=max).contains(&requested) {
        Ok(requested)
    } else {
        Err(crate::Error::invalid(
            "limit",
            "invalid_limit",
            format!("limit is 1 to {max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_takers_never_pass_the_limit_and_unused_slots_come_back() {
        let limiter = Arc::new(WindowLimiter::new(60, 3600));
        let t0 = Timestamp(1_000_000);
        for _ in 0..55 {
            limiter.try_take("app:1", t0).unwrap().keep();
        }
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                std::thread::spawn(move || limiter.try_take("app:1", t0).map(Slot::keep))
            })
            .collect();
        let passed = threads
            .into_iter()
            .map(|t| t.join().unwrap_or(Err(0)))
            .filter(Result::is_ok)
            .count();
        assert_eq!(passed, 5, "exactly the room that was left");
        assert_eq!(limiter.try_take("app:1", t0).err(), Some(3600));
        // Another member's allowance is their own; a slot not kept is given back.
        drop(limiter.try_take("app:2", t0).unwrap());
        assert_eq!(limiter.windows.lock().unwrap()["app:2"].taken, 0);
        // A new window starts afresh.
        assert!(limiter.try_take("app:1", t0.plus_secs(3600)).is_ok());
    }
}
