//! Login throttling: after too many failures for one handle, or from one client address,
//! further attempts are refused for a while. Unknown handles are throttled exactly like
//! known ones, so a 429 reveals nothing about whether an account exists.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::Timestamp;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed per handle within the window.
    pub per_handle: u32,
    /// Failures allowed per client address within the window.
    pub per_client: u32,
    pub window_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_handle: 5,
            per_client: 20,
            window_secs: 15 * 60,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Timestamp,
    failures: u32,
}

/// Failure counters kept in memory, per node. Entries older than the window are dropped
/// lazily, so memory stays bounded by the failures of the last window.
#[derive(Debug)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    windows: Mutex<HashMap<String, Window>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn keys(handle: &str, client: Option<&str>) -> [(Option<String>, u32); 2] {
        [
            (Some(format!("h:{}", handle.to_ascii_lowercase())), 0),
            (client.map(|c| format!("c:{c}")), 1),
        ]
    }

    fn limit(&self, which: u32) -> u32 {
        if which == 0 {
            self.policy.per_handle
        } else {
            self.policy.per_client
        }
    }

    /// `Some(seconds to wait)` if the attempt must be refused without checking the password.
    pub fn check(&self, handle: &str, client: Option<&str>, now: Timestamp) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        Self::keys(handle, client)
            .into_iter()
            .filter_map(|(key, which)| {
                let window = windows.get(key.as_ref()?)?;
                let ends = window.started.plus_secs(self.policy.window_secs);
                (window.failures >= self.limit(which) && ends > now)
                    .then(|| ((ends.millis() - now.millis()) / 1000).max(1) as u64)
            })
            .max()
    }

    pub fn record_failure(&self, handle: &str, client: Option<&str>, now: Timestamp) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window_secs = self.policy.window_secs;
        if windows.len() > 100_000 {
            windows.retain(|_, w| w.started.plus_secs(window_secs) > now);
        }
        for key in Self::keys(handle, client)
            .into_iter()
            .filter_map(|(k, _)| k)
        {
            let window = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if window.started.plus_secs(window_secs) <= now {
                *window = Window {
                    started: now,
                    failures: 0,
                };
            }
            window.failures += 1;
        }
    }

    /// A successful log-in clears the handle's failures (not the client's).
    pub fn record_success(&self, handle: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(&format!("h:{}", handle.to_ascii_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_until_the_window_ends() {
        let throttle = LoginThrottle::new(ThrottlePolicy {
            per_handle: 3,
            per_client: 100,
            window_secs: 60,
        });
        let t0 = Timestamp(1_000_000);
        for _ in 0..3 {
            assert_eq!(throttle.check("alice", Some("1.2.3.4"), t0), None);
            throttle.record_failure("Alice", Some("1.2.3.4"), t0);
        }
        assert_eq!(throttle.check("alice", None, t0), Some(60));
        assert_eq!(throttle.check("bob", None, t0), None);
        assert_eq!(throttle.check("alice", None, t0.plus_secs(61)), None);
    }
}
