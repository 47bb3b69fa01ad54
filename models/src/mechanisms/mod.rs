//! The mechanisms: each module says only what is specific to it (its routes, what the partner
//! and the platform do with them, its switches and profiles). Adding an eighth mechanism means
//! one new module and one line in [`registry`].

pub mod common;
pub mod connect_jwt;
pub mod global_secret;
pub mod push;
pub mod refresh;
pub mod tenant_secret;
pub mod trigger;
pub mod upm_oauth;

use crate::params::{Basis, Kind, ParamError, ParamSpec, Params, spec};
use crate::roles::partner::PartnerSide;
use crate::roles::platform::PlatformSide;
use serde::Serialize;

/// A named "as published" profile.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub description: &'static str,
    pub sets: &'static [(&'static str, &'static str)],
}

/// How a partner gets a token when its cache misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Acquisition {
    /// It asks the platform (or an authorization server) and waits for the answer.
    OnDemand,
    /// It cannot ask: tokens arrive on the platform's schedule only (a cold start waits).
    PushedOnly,
    /// It signs its own request with a stored secret: no inter-party hop at all.
    SelfSigned,
}

/// Local steps on a cold miss's critical path: mints at the issuer, writes and reads of the
/// partner's store (`analytic.md` L1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MissSteps {
    pub mints: u32,
    pub store_writes: u32,
    pub store_reads: u32,
}

impl MissSteps {
    pub const NONE: MissSteps = MissSteps {
        mints: 0,
        store_writes: 0,
        store_reads: 0,
    };
}

/// A token-delivery mechanism.
pub trait Mechanism: Sync {
    fn id(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// Inter-party one-way messages on the critical path of a cache miss (`mechanisms.md`).
    fn hops_on_miss(&self) -> u32;
    /// How the partner gets a token when its cache misses.
    fn acquisition(&self) -> Acquisition;
    /// The long-lived item the partner stores for a tenant (what A5 steals first), by its
    /// field name in the store's row.
    fn root_credential(&self) -> &'static str;
    /// Whether an admin can revoke the tenant's grant or credential without uninstalling
    /// (where not, revocation means uninstall).
    fn revocable(&self) -> bool;
    /// The modelled local costs on a cold miss's critical path at the defaults (L1).
    fn miss_steps(&self) -> MissSteps;
    /// Mechanism-specific switches and parameters.
    fn switches(&self) -> Vec<ParamSpec>;
    fn profiles(&self) -> Vec<Profile> {
        Vec::new()
    }
    /// Builds the partner and platform parts for resolved parameters.
    fn build(&self, params: &Params) -> (Box<dyn PartnerSide>, Box<dyn PlatformSide>);
}

/// Every mechanism, in the order of `mechanisms.md`.
pub fn registry() -> [&'static dyn Mechanism; 7] {
    [
        &trigger::Trigger,
        &push::Push,
        &refresh::Refresh,
        &upm_oauth::UpmOAuth,
        &global_secret::GlobalSecret,
        &tenant_secret::TenantSecret,
        &connect_jwt::ConnectJwt,
    ]
}

pub fn find(id: &str) -> Option<&'static dyn Mechanism> {
    registry().into_iter().find(|m| m.id() == id)
}

/// The mechanism a reference names (`ID[:PROFILE][switch=value,...]`, as in `expectations.md`).
pub fn of_reference(reference: &str) -> Option<&'static dyn Mechanism> {
    let end = reference.find([':', '[']).unwrap_or(reference.len());
    find(&reference[..end])
}

/// Parameters every mechanism shares: the partner's hygiene (the same for every default
/// profile), the platform's switches, and the shared workload values of `workload.md` §8.
pub fn shared_specs() -> Vec<ParamSpec> {
    use Basis::*;
    vec![
        spec(
            "check_exp",
            Kind::Switch,
            "on",
            Inference,
            "a cached T counts only while now < exp − expiry_margin",
        ),
        spec(
            "single_flight",
            Kind::Switch,
            "on",
            Inference,
            "one acquisition per tenant in flight; others wait for it",
        ),
        spec(
            "timeout",
            Kind::DurationOrNone,
            "10s",
            Inference,
            "per attempt, on every partner-initiated call",
        ),
        spec(
            "retries",
            Kind::Int,
            "2",
            Inference,
            "partner retries (full-jitter backoff)",
        ),
        spec(
            "backoff_base",
            Kind::Duration,
            "200ms",
            Inference,
            "backoff U(0, min(cap, base·2ⁿ))",
        ),
        spec(
            "backoff_cap",
            Kind::Duration,
            "5s",
            Inference,
            "backoff cap",
        ),
        spec(
            "reread_before_retry",
            Kind::Switch,
            "on",
            Inference,
            "re-read the cache before each retry",
        ),
        spec(
            "deadline",
            Kind::DurationOrNone,
            "40s",
            Inference,
            "P abandons a demand after this",
        ),
        spec(
            "encrypt_at_rest",
            Kind::Switch,
            "on",
            Inference,
            "long-lived items and T encrypted at P",
        ),
        spec(
            "fit_check",
            Kind::Switch,
            "on",
            Mutant,
            "P.auth / P.recv verify the FIT before storing T (off: mutant)",
        ),
        spec(
            "jwks_fail",
            Kind::Choice(&["closed", "open"]),
            "closed",
            Mutant,
            "what P does when the JWKS is unreachable (open: mutant)",
        ),
        spec(
            "api_checks_installation",
            Kind::Switch,
            "off",
            Inference,
            "the API rejects T of an uninstalled app or revoked grant",
        ),
        spec(
            "recheck_install",
            Kind::Switch,
            "on",
            Mutant,
            "F and the AS check the installation at every mint (off: mutant)",
        ),
        spec(
            "revocation",
            Kind::Choice(&["enforced", "ignored"]),
            "enforced",
            Mutant,
            "ignored: a mutant AS/F",
        ),
        spec(
            "token_aud",
            Kind::Choice(&["right", "wrong"]),
            "right",
            Mutant,
            "wrong: T minted for another audience (mutant)",
        ),
        spec(
            "ttl",
            Kind::Duration,
            "4h",
            Fact,
            "access token lifetime, equal for every mechanism",
        ),
        spec(
            "mint_time",
            Kind::Duration,
            "50ms",
            Inference,
            "mint time at F or the AS",
        ),
        spec(
            "expiry_margin",
            Kind::Duration,
            "60s",
            Inference,
            "P treats T as expired this long before exp",
        ),
        spec(
            "fit_ttl",
            Kind::Duration,
            "60s",
            Inference,
            "lifetime of a FIT",
        ),
        spec(
            "db_write",
            Kind::Duration,
            "5ms",
            Inference,
            "P.store write cost t_w",
        ),
        spec(
            "db_read",
            Kind::Duration,
            "2ms",
            Inference,
            "P.store read cost t_r",
        ),
        spec(
            "q_w",
            Kind::Prob,
            "0",
            Inference,
            "P.store write failure probability",
        ),
        spec(
            "q_r",
            Kind::Prob,
            "0",
            Inference,
            "P.store read failure probability",
        ),
        spec(
            "replica_lag",
            Kind::Lag,
            "0",
            Inference,
            "replica lag: 0, fixed(ℓ) or uniform(ℓmax)",
        ),
        spec(
            "cache_ttl",
            Kind::DurationOrNone,
            "none",
            Inference,
            "read-through cache in front of P.store",
        ),
        spec(
            "exp_leeway",
            Kind::Choice(&["fixed(0s)", "track_skew"]),
            "fixed(0s)",
            Mutant,
            "track_skew: the API widens its exp leeway by the clock skew it observes (fail-open mutant)",
        ),
        spec(
            "clock_skew",
            Kind::Duration,
            "0",
            Inference,
            "how far P's clock runs behind the platform's (a fault)",
        ),
        spec(
            "log_token",
            Kind::Choice(&["none", "url", "request_log"]),
            "none",
            Mutant,
            "url: T also in the API query string; request_log: P's endpoints log inbound headers (mutants)",
        ),
        spec(
            "consent_delay",
            Kind::Duration,
            "2s",
            Inference,
            "the admin's time to consent",
        ),
    ]
}

/// Why a mechanism reference could not be resolved.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "unknown mechanism '{0}'; known: trigger, push, refresh, upm-oauth, global-secret, tenant-secret, connect-jwt"
    )]
    UnknownMechanism(String),
    #[error("unknown profile '{profile}' for {mechanism}; known: {known}")]
    UnknownProfile {
        mechanism: String,
        profile: String,
        known: String,
    },
    #[error(transparent)]
    Param(#[from] ParamError),
}

/// `ID[:PROFILE]` plus `--set` overrides, resolved to a mechanism and its parameters.
pub fn resolve(
    reference: &str,
    sets: &[String],
) -> Result<(&'static dyn Mechanism, Option<&'static str>, Params), ResolveError> {
    let (id, profile) = match reference.split_once(':') {
        Some((i, p)) => (i, Some(p)),
        None => (reference, None),
    };
    let m = find(id).ok_or_else(|| ResolveError::UnknownMechanism(id.into()))?;
    let mut specs = shared_specs();
    specs.extend(m.switches());
    let mut params = Params::from_specs(&specs);
    let profile_name = match profile {
        None => None,
        Some(p) => {
            let profiles = m.profiles();
            let found = profiles.iter().find(|x| x.name == p).ok_or_else(|| {
                ResolveError::UnknownProfile {
                    mechanism: id.into(),
                    profile: p.into(),
                    known: profiles
                        .iter()
                        .map(|x| x.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            for (k, v) in found.sets {
                params.set(k, v, id)?;
            }
            Some(found.name)
        }
    };
    for kv in sets {
        params.set_kv(kv, id)?;
    }
    Ok((m, profile_name, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_and_default_resolves() {
        for m in registry() {
            resolve(m.id(), &[]).unwrap();
            for p in m.profiles() {
                resolve(&format!("{}:{}", m.id(), p.name), &[]).unwrap();
            }
        }
    }

    #[test]
    fn bad_references_are_clear() {
        assert!(
            resolve("nope", &[])
                .err()
                .unwrap()
                .to_string()
                .contains("unknown mechanism 'nope'")
        );
        assert!(
            resolve("trigger:nope", &[])
                .err()
                .unwrap()
                .to_string()
                .contains("known: sample")
        );
        assert!(
            resolve("push", &["read_from=replica".into()])
                .err()
                .unwrap()
                .to_string()
                .contains("unknown switch 'read_from'")
        );
    }
}
