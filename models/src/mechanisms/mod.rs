//! The mechanisms: each module says only what is specific to it (its routes, what the partner
//! and the platform do with them, its switches and profiles). Adding an eighth mechanism means
//! one new module and one line in [`registry`].

pub mod client_auth;
pub mod common;
pub mod connect_jwt;
pub mod global_secret;
pub mod migration;
pub mod push;
pub mod refresh;
pub mod tenant_secret;
pub mod trigger;
pub mod upm_oauth;

use crate::Micros;
use crate::ids::Group;
use crate::params::{
    Apps, Basis, Choice, ExpLeeway, JwksFail, Kind, LogToken, ParamError, ParamSpec, Params,
    PartnerRetention, Revocation, Rotation, TokenAud, UnknownKid, spec,
};
use crate::roles::partner::{KeyPolicy, PartnerConfig, PartnerSide, RetryPolicy};
use crate::roles::platform::{PlatformConfig, PlatformSide};
use crate::roles::store::StoreConfig;
use crate::token::KeySchedule;
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

/// What a mechanism is, as data: what the report, the suites and the CLI ask instead of
/// matching on its id.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub id: &'static str,
    pub description: &'static str,
    /// Inter-party one-way messages on the critical path of a cache miss (`mechanisms.md`).
    pub hops_on_miss: u32,
    /// How the partner gets a token when its cache misses.
    pub acquisition: Acquisition,
    /// The long-lived item the partner stores for a tenant (what A5 steals first), by its
    /// field name in the store's row.
    pub root_credential: &'static str,
    /// Whether an admin can revoke the tenant's grant or credential without uninstalling
    /// (where not, revocation means uninstall).
    pub revocable: bool,
    /// The modelled local costs on a cold miss's critical path at the defaults (L1).
    pub miss_steps: MissSteps,
    /// Where P.app's on-demand acquisition goes (F for trigger, the AS for the grants);
    /// `None` without an inter-party acquisition (pushed-only, self-signed).
    pub acquires_from: Option<Group>,
    /// Whether an admin consents in a browser (an authorization-code flow): the redirect,
    /// code-injection and revoke-grant attacks apply.
    pub browser_consent: bool,
    /// Whether the root credential is a bearer capability URL: calling it alone makes the
    /// platform mint (trigger's URL).
    pub capability_url: bool,
    /// Seconds after t=0 before the partner holds T at the defaults without asking for it
    /// (pushed-only: its first delivery, within one interval). Attacks on T start later.
    pub warm_up_s: f64,
}

/// A token-delivery mechanism.
pub trait Mechanism: Sync {
    /// What the mechanism is, as data (one `const` per module).
    fn facts(&self) -> &'static Facts;
    fn id(&self) -> &'static str {
        self.facts().id
    }
    fn description(&self) -> &'static str {
        self.facts().description
    }
    fn hops_on_miss(&self) -> u32 {
        self.facts().hops_on_miss
    }
    fn acquisition(&self) -> Acquisition {
        self.facts().acquisition
    }
    fn root_credential(&self) -> &'static str {
        self.facts().root_credential
    }
    fn revocable(&self) -> bool {
        self.facts().revocable
    }
    fn miss_steps(&self) -> MissSteps {
        self.facts().miss_steps
    }
    fn acquires_from(&self) -> Option<Group> {
        self.facts().acquires_from
    }
    fn browser_consent(&self) -> bool {
        self.facts().browser_consent
    }
    fn capability_url(&self) -> bool {
        self.facts().capability_url
    }
    fn warm_up_s(&self) -> f64 {
        self.facts().warm_up_s
    }
    /// Mechanism-specific switches and parameters.
    fn switches(&self) -> Vec<ParamSpec>;
    fn profiles(&self) -> Vec<Profile> {
        Vec::new()
    }
    /// Builds the partner and platform parts for resolved parameters: the one place this
    /// mechanism reads its own switches (they are typed from here on).
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

/// Composites: scenarios built from registry mechanisms (`migration`: connect-jwt and one
/// Forge mechanism on one installation). They are not in [`registry`], so nothing that loops
/// over the seven mechanisms changes; [`find`] and [`resolve`] take them by name.
pub fn composites() -> [&'static dyn Mechanism; 1] {
    [&migration::Migration]
}

/// A registry mechanism or a composite, by id.
pub fn find(id: &str) -> Option<&'static dyn Mechanism> {
    registry()
        .into_iter()
        .chain(composites())
        .find(|m| m.id() == id)
}

/// The mechanism a reference names (`ID[:PROFILE][switch=value,...]`, as in `expectations.md`).
pub fn of_reference(reference: &str) -> Option<&'static dyn Mechanism> {
    find(&Reference::parse(reference).ok()?.id)
}

/// A mechanism reference as written: `ID[:PROFILE][switch=value,...]` (`expectations.md`,
/// every `--mechanism`). The bracketed switches mean the same as `--set switch=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub id: String,
    pub profile: Option<String>,
    /// `switch=value` as written inside the brackets (empty without brackets).
    pub sets: Vec<String>,
}

impl Reference {
    /// Parses the syntax only; [`resolve`] checks names and values.
    pub fn parse(reference: &str) -> Result<Reference, ResolveError> {
        let bad = |why: &str| ResolveError::BadReference {
            reference: reference.into(),
            why: why.into(),
        };
        let r = reference.trim();
        let (head, sets) = match r.split_once('[') {
            None => (r, Vec::new()),
            Some((head, rest)) => {
                let inner = rest
                    .strip_suffix(']')
                    .ok_or_else(|| bad("'[' without a closing ']' at the end"))?;
                if inner.contains(['[', ']']) {
                    return Err(bad("nested brackets"));
                }
                let sets: Vec<String> = inner.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(s) = sets.iter().find(|s| !s.contains('=')) {
                    return Err(bad(&format!("expected switch=value, got '{s}'")));
                }
                (head, sets)
            }
        };
        if head.contains(']') {
            return Err(bad("']' without '['"));
        }
        let (id, profile) = match head.split_once(':') {
            Some((i, p)) => (i.trim(), Some(p.trim().to_string())),
            None => (head.trim(), None),
        };
        if id.is_empty() {
            return Err(bad("no mechanism id"));
        }
        if profile.as_deref().is_some_and(str::is_empty) {
            return Err(bad("empty profile after ':'"));
        }
        Ok(Reference {
            id: id.to_string(),
            profile,
            sets,
        })
    }
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
            "dpop_replay_check",
            Kind::Switch,
            "on",
            Mutant,
            "with `sender_constraint=dpop` the API refuses a proof it has seen before (its `jti`; off: mutant)",
        ),
        spec(
            "stale_read_report",
            Kind::Switch,
            "on",
            Mutant,
            "P.app records a read after a trigger 2xx that finds no token (off: mutant, it retries silently)",
        ),
        spec(
            "fit_replay_check",
            Kind::Switch,
            "on",
            Mutant,
            "P.auth / P.recv refuse a FIT whose `jti` already came with another body (a replayed FIT carrying a forged T; off: mutant)",
        ),
        spec(
            "apps",
            Kind::Choice(Apps::NAMES),
            "1",
            Inference,
            "apps on the platform: 2 adds app B, installed wherever app A is, whose backend is the attacker's (F invokes it with app B's FIT and T every 2 min)",
        ),
        spec(
            "fit_audience_check",
            Kind::Switch,
            "on",
            Mutant,
            "P checks that a FIT's `aud` is its own app (off: mutant, app B's FIT authenticates at app A)",
        ),
        spec(
            "api_app_check",
            Kind::Switch,
            "on",
            Mutant,
            "the API serves app A's scope only to T minted for app A (its `app` claim; off: mutant)",
        ),
        spec(
            "lifecycle_fit_replay_check",
            Kind::Switch,
            "on",
            Mutant,
            "P.lifecycle refuses a FIT whose `jti` already came with another event body (a replayed hook FIT carrying a forged `installed`; off: mutant)",
        ),
        spec(
            "partner_retention",
            Kind::Choice(PartnerRetention::NAMES),
            "forget",
            Mutant,
            "what P.lifecycle does with the tenant's row at `uninstalled`: forget its credentials (keep: mutant, P's store holds an uninstalled tenant's refresh token, secrets or URL for ever)",
        ),
        spec(
            "jwks_fail",
            Kind::Choice(JwksFail::NAMES),
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
            "event_retries",
            Kind::Int,
            "4",
            Fact,
            "F's retries of a lifecycle event (install, uninstall) on timeout or 5xx",
        ),
        spec(
            "event_timeout",
            Kind::Duration,
            "5s",
            Fact,
            "F's per-attempt timeout for a lifecycle event",
        ),
        spec(
            "event_backoff",
            Kind::Duration,
            "1s",
            Unverified,
            "F's exponential backoff base between lifecycle event attempts",
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
            Kind::Choice(Revocation::NAMES),
            "enforced",
            Mutant,
            "ignored: a mutant AS/F",
        ),
        spec(
            "token_aud",
            Kind::Choice(TokenAud::NAMES),
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
            Kind::Choice(ExpLeeway::NAMES),
            "fixed(0s)",
            Mutant,
            "track_skew: the API widens its exp leeway by the clock skew it observes; ignore: the API never checks exp (fail-open mutants)",
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
            Kind::Choice(LogToken::NAMES),
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
        spec(
            "fit_key_rotation",
            Kind::Rotation,
            "never",
            Inference,
            "periodic(D): F rolls its FIT signing key over every D and FITs carry a `kid` (a period is unverified: Atlassian's schedule is not public); never: one key, no `kid`",
        ),
        spec(
            "fit_key_overlap",
            Kind::Duration,
            "1h",
            Inference,
            "with fit_key_rotation: a new key is published this long before F signs with it, and the old one stays published this long after (less than the period; the value is unverified: Atlassian's overlap is not public, and it is in force only with a rotation)",
        ),
        spec(
            "jwks_refetch_floor",
            Kind::Duration,
            "30s",
            Inference,
            "with fit_key_rotation: least time between P's JWKS fetches (jose's createRemoteJWKSet cooldown)",
        ),
        spec(
            "jwks_max_age",
            Kind::DurationOrNone,
            "10m",
            Inference,
            "with fit_key_rotation: P refetches a key set older than this at its next FIT check, keeping the stale set if the fetch fails (jose's cacheMaxAge); none: only on an unknown kid",
        ),
        spec(
            "unknown_kid",
            Kind::Choice(UnknownKid::NAMES),
            "refetch",
            Mutant,
            "with fit_key_rotation: what P does with a FIT whose kid it has not cached: refetch (floored); never_refetch: refuse it (availability mutant); accept: take it unverified (mutant)",
        ),
        spec(
            "refused_fit_binding",
            Kind::Switch,
            "on",
            Mutant,
            "with fit_key_rotation: P binds the `jti` of a FIT it refused for a key it had not learnt to the body it came with, so a captured genuine FIT cannot be replayed with a forged T once P learns the key (off: mutant)",
        ),
        // Issue 12, H12: user principals (`principals.rs`). Read by the principal layer only;
        // the simulated workload stays app-only.
        spec(
            "users",
            Kind::Choice(crate::principals::USERS_VALUES),
            "0",
            Inference,
            "users per tenant beside the app (0: the app is the only principal; the report's H12 uses 3)",
        ),
        spec(
            "api_principal_check",
            Kind::Switch,
            "on",
            Mutant,
            "the product API lets a user token reach its own user's data only and refuses an app token that claims a user (off: mutant)",
        ),
        spec(
            "as_user_claim",
            Kind::Choice(crate::principals::UserClaim::NAMES),
            "verified",
            Mutant,
            "the AS checks a claimed user against the credential's grant (honoured: mints for whoever is claimed, mutant)",
        ),
    ]
}

/// The shared switches of [`shared_specs`], typed: resolved once per run, then held by the
/// generic roles and the store (the one place that reads them by key).
#[derive(Clone, Debug)]
pub struct SharedConfig {
    pub partner: PartnerConfig,
    pub platform: PlatformConfig,
    pub store: StoreConfig,
    /// The admin's time to consent.
    pub consent_delay: Micros,
    /// Long-lived items and T encrypted at P (a stolen store yields ciphertext).
    pub encrypt_at_rest: bool,
}

impl SharedConfig {
    /// Reads every shared switch. `params` must come from [`resolve`] (every shared key is
    /// declared there); a missing key is a programming error and panics naming it.
    pub fn from_params(p: &Params) -> SharedConfig {
        let timeout = p.dur("timeout");
        SharedConfig {
            partner: PartnerConfig {
                retry: RetryPolicy {
                    attempt_timeout: timeout,
                    retries: p.int("retries") as u32,
                    backoff_base: p.dur_req("backoff_base"),
                    backoff_cap: p.dur_req("backoff_cap"),
                    // No per-attempt timeout means nothing bounds the demand either
                    // (trigger:sample).
                    deadline: timeout.and(p.dur("deadline")),
                    reread: p.bool("reread_before_retry"),
                    single_flight: p.bool("single_flight"),
                    check_exp: p.bool("check_exp"),
                    expiry_margin: p.dur_req("expiry_margin"),
                },
                fit_check: p.bool("fit_check"),
                fit_replay_check: p.bool("fit_replay_check"),
                lifecycle_fit_replay_check: p.bool("lifecycle_fit_replay_check"),
                partner_retention: p.pick("partner_retention"),
                fit_audience_check: p.bool("fit_audience_check"),
                stale_read_report: p.bool("stale_read_report"),
                jwks_fail: p.pick("jwks_fail"),
                clock_skew: p.dur_req("clock_skew"),
                log_token: p.pick("log_token"),
                keys: KeyPolicy {
                    refetch_floor: p.dur_req("jwks_refetch_floor"),
                    max_age: p.dur("jwks_max_age"),
                    unknown_kid: p.pick("unknown_kid"),
                    refused_fit_binding: p.bool("refused_fit_binding"),
                },
            },
            platform: PlatformConfig {
                recheck_install: p.bool("recheck_install"),
                mint_time: p.dur_req("mint_time"),
                ttl: p.dur_req("ttl"),
                token_aud: p.pick("token_aud"),
                fit_ttl: p.dur_req("fit_ttl"),
                revocation: p.pick("revocation"),
                exp_leeway: p.pick("exp_leeway"),
                api_checks_installation: api_checks_grant(p),
                event_retries: p.int("event_retries") as u32,
                event_timeout: p.dur_req("event_timeout"),
                event_backoff: p.dur_req("event_backoff"),
                dpop_replay_check: p.bool("dpop_replay_check"),
                apps: p.pick("apps"),
                api_app_check: p.bool("api_app_check"),
                fit_keys: match p.rotation("fit_key_rotation") {
                    // `per_use` is trigger's URL rotation only: `Kind::Rotation` refuses it.
                    Rotation::Never | Rotation::PerUse => None,
                    Rotation::Periodic(period) => Some(KeySchedule {
                        period,
                        overlap: p.dur_req("fit_key_overlap"),
                    }),
                },
                // Declared only where an `ip_allowlist` can look at it (global-secret,
                // tenant-secret); elsewhere the attacker's location changes nothing.
                attacker_location: match p.get("attacker_location") {
                    Some(crate::params::ParamValue::Choice(c)) => {
                        crate::params::Choice::from_name(c).unwrap_or_default()
                    }
                    _ => crate::network::Location::default(),
                },
            },
            store: StoreConfig {
                write_cost: p.dur_req("db_write"),
                read_cost: p.dur_req("db_read"),
                write_fail: p.prob("q_w"),
                read_fail: p.prob("q_r"),
                replica_lag: p.lag("replica_lag"),
                cache_ttl: p.dur("cache_ttl"),
            },
            consent_delay: p.dur_req("consent_delay"),
            encrypt_at_rest: p.bool("encrypt_at_rest"),
        }
    }
}

/// Whether the API refuses T of an uninstalled app or a revoked grant: `api_checks_installation`,
/// or token introspection (RFC 7662) where the mechanism declares `introspection`. In the model
/// both ask the platform's registry at every call; introspection's round trip to the AS is an
/// API-call cost, outside the hop count.
pub fn api_checks_grant(p: &Params) -> bool {
    p.bool("api_checks_installation")
        || matches!(
            p.get("introspection"),
            Some(crate::params::ParamValue::Bool(true))
        )
}

/// Why a mechanism reference could not be resolved.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "unknown mechanism '{0}'; known: trigger, push, refresh, upm-oauth, global-secret, tenant-secret, connect-jwt; composites: migration"
    )]
    UnknownMechanism(String),
    #[error("unknown profile '{profile}' for {mechanism}; known: {known}")]
    UnknownProfile {
        mechanism: String,
        profile: String,
        known: String,
    },
    #[error(
        "bad mechanism reference '{reference}': {why} (expected ID[:PROFILE][switch=value,...])"
    )]
    BadReference { reference: String, why: String },
    #[error(transparent)]
    Param(#[from] ParamError),
}

/// `ID[:PROFILE][switch=value,...]` plus `--set` overrides, resolved to a mechanism and its
/// parameters: defaults, then the profile, then the bracketed switches, then `sets`.
pub fn resolve(
    reference: &str,
    sets: &[String],
) -> Result<(&'static dyn Mechanism, Option<&'static str>, Params), ResolveError> {
    let r = Reference::parse(reference)?;
    let id = r.id.as_str();
    let profile = r.profile.as_deref();
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
    for kv in r.sets.iter().chain(sets) {
        params.set_kv(kv, id)?;
    }
    check_key_schedule(&params)?;
    Ok((m, profile_name, params))
}

/// The least FIT key rotation period: every rollover is a step on the run's schedule. (The
/// explorer's small worlds scale periods down, so this is far below any real schedule.)
const MIN_KEY_PERIOD: Micros = crate::SEC;

/// `fit_key_rotation` and `fit_key_overlap` together: a period of at least a second, and an
/// overlap shorter than the period (otherwise three generations would be published at once
/// and "the old and the new key" would not describe the set).
fn check_key_schedule(params: &Params) -> Result<(), ParamError> {
    let Rotation::Periodic(period) = params.rotation("fit_key_rotation") else {
        return Ok(());
    };
    let show = |k: &str| {
        params
            .get(k)
            .map(|v| crate::params::ShowValue(v).to_string())
            .unwrap_or_default()
    };
    if period < MIN_KEY_PERIOD {
        return Err(ParamError::BadValue {
            key: "fit_key_rotation".into(),
            value: show("fit_key_rotation"),
            expected: "never or periodic(DURATION) with a period of at least 1s".into(),
        });
    }
    if params.dur_req("fit_key_overlap") >= period {
        return Err(ParamError::BadValue {
            key: "fit_key_overlap".into(),
            value: show("fit_key_overlap"),
            expected: format!(
                "a duration shorter than fit_key_rotation's period ({})",
                show("fit_key_rotation")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_and_default_resolves() {
        for m in registry().into_iter().chain(composites()) {
            resolve(m.id(), &[]).unwrap();
            for p in m.profiles() {
                resolve(&format!("{}:{}", m.id(), p.name), &[]).unwrap();
            }
        }
    }

    #[test]
    fn every_value_of_every_choice_builds() {
        // A spec's allowed values and its enum cannot disagree: each value resolves once,
        // at build time, without a panic.
        for m in registry().into_iter().chain(composites()) {
            let mut specs = shared_specs();
            specs.extend(m.switches());
            for s in &specs {
                let Kind::Choice(values) = s.kind else {
                    continue;
                };
                for v in values {
                    let (m, _, params) = resolve(m.id(), &[format!("{}={v}", s.key)]).unwrap();
                    let _ = m.build(&params);
                    let _ = SharedConfig::from_params(&params);
                }
            }
        }
    }

    #[test]
    fn references_carry_switches_like_set() {
        let r = Reference::parse("refresh:3lo[grace_window=5s, as_binding=off]").unwrap();
        assert_eq!(r.id, "refresh");
        assert_eq!(r.profile.as_deref(), Some("3lo"));
        assert_eq!(r.sets, vec!["grace_window=5s", "as_binding=off"]);
        let (_, profile, a) = resolve("refresh:3lo[grace_window=5s]", &[]).unwrap();
        let (_, _, b) = resolve("refresh:3lo", &["grace_window=5s".into()]).unwrap();
        assert_eq!(profile, Some("3lo"));
        assert_eq!(a.non_defaults(), b.non_defaults());
        // `--set` comes after the brackets and wins.
        let (_, _, c) = resolve("refresh[grace_window=5s]", &["grace_window=9s".into()]).unwrap();
        assert_eq!(c.dur("grace_window"), Some(9 * crate::SEC));
        for bad in [
            "refresh[rotation=off",
            "refresh[rotation]",
            "[x=1]",
            "refresh:",
            "a]b",
        ] {
            let e = resolve(bad, &[]).err().unwrap().to_string();
            assert!(e.contains("bad mechanism reference"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_references_are_clear() {
        let e = resolve("trigger", &["read_form=replica".into()])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown switch 'read_form'"), "{e}");
        assert!(e.contains("read_from"), "names the valid keys: {e}");
        let e = resolve("trigger[read_from=secondary]", &[])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "bad value 'secondary' for 'read_from': expected one of primary, replica"
        );
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
