//! P's cache of the platform's FIT key set when F rotates its signing key
//! (`fit_key_rotation`). Without a key schedule there is no cache: P holds the one
//! pre-fetched key, and a JWKS outage makes every FIT check fail closed (or open, the mutant)
//! as it always did.
//!
//! With a schedule, P keeps the set it last fetched and verifies a FIT with the key its `kid`
//! names. It fetches again when a FIT names a `kid` it does not hold (`unknown_kid=refetch`)
//! or when the set is older than `jwks_max_age`, never sooner than `jwks_refetch_floor` after
//! its last attempt. While the JWKS is unreachable a fetch fails and P keeps what it has:
//! FITs under a cached key still verify, FITs under a key P has not learnt are refused
//! (`jwks_fail=closed`) or taken unverified (`open`, the mutant). Fetches are
//! partner-internal: they draw nothing and record nothing.

use super::KeyPolicy;
use crate::Micros;
use crate::token::{FitVerifier, KeyDirectory};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What P holds of the platform's key set.
pub struct KeyCache {
    directory: Arc<KeyDirectory>,
    policy: KeyPolicy,
    /// `kid` → verifier, as of the last successful fetch.
    cached: BTreeMap<String, FitVerifier>,
    /// When the cached set was fetched (`None`: never, or forgotten in a crash).
    fetched_at: Option<Micros>,
    /// The last fetch attempt, successful or not (the floor counts from it).
    last_attempt: Option<Micros>,
    /// Fetches attempted and failed (the JWKS was unreachable).
    pub fetches: u64,
    pub failed_fetches: u64,
    epoch: crate::token::Epoch,
}

/// How a FIT's key was found.
pub enum KeyLookup<'a> {
    /// The verifier of the FIT's `kid`.
    Found(&'a FitVerifier),
    /// P does not hold the `kid`, and the JWKS could not be fetched (now or at the last
    /// attempt, within the floor).
    Unreachable,
    /// P does not hold the `kid` although the set is as fresh as the floor allows.
    Unknown,
    /// `unknown_kid=accept`: taken without verification (mutant).
    Unchecked,
}

impl KeyCache {
    /// The cache after setup's pre-fetch at `at`.
    pub fn prefetched(directory: Arc<KeyDirectory>, policy: KeyPolicy, at: Micros) -> KeyCache {
        let mut c = KeyCache {
            directory,
            policy,
            cached: BTreeMap::new(),
            fetched_at: None,
            last_attempt: None,
            fetches: 0,
            failed_fetches: 0,
            epoch: crate::token::Epoch::default(),
        };
        c.cached = c.directory.fetch(at, c.epoch).into_iter().collect();
        c.fetched_at = Some(at);
        c
    }

    /// A partner that lost its memory lost its key set too: it fetches on its next FIT.
    pub fn forget(&mut self) {
        self.cached.clear();
        self.fetched_at = None;
        self.last_attempt = None;
    }

    pub fn set_epoch(&mut self, epoch: crate::token::Epoch) {
        self.epoch = epoch;
        for v in self.cached.values_mut() {
            v.set_epoch(epoch);
        }
    }

    fn floor_allows(&self, now: Micros) -> bool {
        self.last_attempt
            .is_none_or(|t| now - t >= self.policy.refetch_floor)
    }

    /// One fetch attempt: the set published at `now` if the JWKS is reachable.
    fn fetch(&mut self, now: Micros, reachable: bool) {
        self.last_attempt = Some(now);
        self.fetches += 1;
        if reachable {
            self.cached = self.directory.fetch(now, self.epoch).into_iter().collect();
            self.fetched_at = Some(now);
        } else {
            self.failed_fetches += 1;
        }
    }

    /// Whether the last attempt failed (the JWKS was unreachable then).
    fn last_failed(&self) -> bool {
        self.last_attempt.is_some() && self.last_attempt != self.fetched_at
    }

    /// The key a FIT with `kid` is verified with at `now`, fetching first where the policy
    /// says so.
    pub fn lookup(&mut self, kid: Option<&str>, now: Micros, reachable: bool) -> KeyLookup<'_> {
        use crate::params::UnknownKid;
        let stale = match (self.fetched_at, self.policy.max_age) {
            (None, _) => true,
            (Some(at), Some(max)) => now - at >= max,
            (Some(_), None) => false,
        };
        if stale && self.floor_allows(now) {
            self.fetch(now, reachable);
        }
        let held = kid.is_some_and(|k| self.cached.contains_key(k));
        if !held {
            match self.policy.unknown_kid {
                UnknownKid::Accept => return KeyLookup::Unchecked,
                UnknownKid::Refetch if self.floor_allows(now) => self.fetch(now, reachable),
                UnknownKid::Refetch | UnknownKid::NeverRefetch => {}
            }
        }
        match kid.and_then(|k| self.cached.get(k)) {
            Some(v) => KeyLookup::Found(v),
            None if !reachable || self.last_failed() => KeyLookup::Unreachable,
            None => KeyLookup::Unknown,
        }
    }
}
