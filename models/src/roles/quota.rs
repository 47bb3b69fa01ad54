//! Forge's invocation limits (`workload.md` §8, `threats.md` A9): at most `per_installation`
//! invocations per minute for one installation and `per_app` per minute for the app in its
//! environment [F: limits]. Over either limit F answers 429 with `Retry-After`.
//!
//! The window model is ours (inference; Forge's exact algorithm is unverified): fixed 60 s
//! windows aligned at t = 0, one counter per installation and one for the app. `Counts`
//! says what a counter counts: `admitted` invocations only (a refused call costs nothing),
//! or every `attempt` (a refused call still uses up the window, so one stolen URL can
//! exhaust the app-wide budget). `Retry-After` is the time to the window's end, in whole
//! seconds rounded up. The limiter draws no randomness and records nothing; the caller
//! records the refusal.

use crate::ids::TenantId;
use crate::{Micros, SEC};
use std::collections::BTreeMap;

/// The body field of a 429 carrying `Retry-After` (seconds); P honours it (`acquire.rs`).
pub const RETRY_AFTER: &str = "retry_after_s";

/// The window of every counter (the limits are per minute).
pub const QUOTA_WINDOW: Micros = 60 * SEC;

crate::choice_enum! {
    /// What the invocation counters count (`quota_counts`).
    pub enum QuotaCounts { Admitted = "admitted", Attempts = "attempts" }
}

/// The limits; 0 switches a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaConfig {
    pub per_installation: u64,
    pub per_app: u64,
    pub counts: QuotaCounts,
}

/// Fixed-window counters for one app.
#[derive(Debug)]
pub struct InvocationQuota {
    cfg: QuotaConfig,
    window: i64,
    app: u64,
    installations: BTreeMap<TenantId, u64>,
}

/// A refused invocation: which limit, and when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit {
    /// `true`: the app-wide limit; `false`: the installation's.
    pub app_wide: bool,
    /// Seconds to the end of the window (`Retry-After`), at least 1.
    pub retry_after_s: i64,
}

impl InvocationQuota {
    pub fn new(cfg: QuotaConfig) -> InvocationQuota {
        InvocationQuota {
            cfg,
            window: 0,
            app: 0,
            installations: BTreeMap::new(),
        }
    }

    /// One invocation for `tenant` at `now`: admitted (`Ok`) or refused.
    pub fn admit(&mut self, now: Micros, tenant: TenantId) -> Result<(), OverLimit> {
        let window = now.div_euclid(QUOTA_WINDOW);
        if window != self.window {
            self.window = window;
            self.app = 0;
            self.installations.clear();
        }
        let inst = self.installations.entry(tenant).or_default();
        let over = |used: u64, limit: u64| limit > 0 && used >= limit;
        let refused = if over(*inst, self.cfg.per_installation) {
            Some(false)
        } else if over(self.app, self.cfg.per_app) {
            Some(true)
        } else {
            None
        };
        if refused.is_none() || self.cfg.counts == QuotaCounts::Attempts {
            *inst += 1;
            self.app += 1;
        }
        match refused {
            None => Ok(()),
            Some(app_wide) => {
                let end = (window + 1) * QUOTA_WINDOW;
                Err(OverLimit {
                    app_wide,
                    retry_after_s: ((end - now + SEC - 1) / SEC).max(1),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(counts: QuotaCounts) -> InvocationQuota {
        InvocationQuota::new(QuotaConfig {
            per_installation: 3,
            per_app: 5,
            counts,
        })
    }

    #[test]
    fn the_installation_limit_refuses_until_the_window_ends() {
        let mut q = quota(QuotaCounts::Admitted);
        let a = TenantId(0);
        for _ in 0..3 {
            assert_eq!(q.admit(10 * SEC, a), Ok(()));
        }
        assert_eq!(
            q.admit(10 * SEC + 1, a),
            Err(OverLimit {
                app_wide: false,
                retry_after_s: 50
            })
        );
        // Another installation still has room; the next window starts afresh.
        assert_eq!(q.admit(11 * SEC, TenantId(1)), Ok(()));
        assert_eq!(q.admit(QUOTA_WINDOW, a), Ok(()));
    }

    #[test]
    fn refused_attempts_spread_to_other_tenants_only_when_counted() {
        for (counts, bystander_ok) in [
            (QuotaCounts::Admitted, true),
            (QuotaCounts::Attempts, false),
        ] {
            let mut q = quota(counts);
            for _ in 0..10 {
                let _ = q.admit(SEC, TenantId(0));
            }
            let r = q.admit(2 * SEC, TenantId(1));
            assert_eq!(r.is_ok(), bystander_ok, "{counts:?}");
            if let Err(e) = r {
                assert!(e.app_wide);
            }
        }
    }

    #[test]
    fn a_zero_limit_is_off() {
        let mut q = InvocationQuota::new(QuotaConfig {
            per_installation: 0,
            per_app: 0,
            counts: QuotaCounts::Attempts,
        });
        for _ in 0..100 {
            assert_eq!(q.admit(SEC, TenantId(0)), Ok(()));
        }
    }
}
