//! P1's principal clause (issue 12, H12): with users in the run (`users=N`), a credential
//! for tenant t (bound to the app or to user u) never yields access as another user, or as
//! the app beyond its grant. The principal layer is not part of the simulated workload (which
//! stays app-only), so the clause runs the model's exhaustive enumeration
//! ([`tokenlab_models::principals::enumerate`]) over every credential P holds, every claimed
//! principal and every addressed principal, against the model's AS and the real API check.
//! `reached` counts the attacker's requests that reached a principal check (the AS's claim
//! check or the API's). The enumeration draws from its own fixed-seed generator, never the
//! run's, and with `users=0` (the default) it does not run at all.

use crate::facts::numbered;
use crate::{Verdict, VerdictKind};
use rand::SeedableRng;
use tokenlab_models::params::Params;
use tokenlab_models::principals::{PrincipalConfig, PrincipalRun, enumerate};

/// Tenants the enumeration provisions: enough for every cross-tenant and cross-user move.
pub const ENUMERATED_TENANTS: u32 = 2;

/// The clause's input, read from a run's parameters.
pub fn config(params: &Params) -> PrincipalConfig {
    PrincipalConfig::from_params(params)
}

/// The enumeration for one configuration (deterministic: the seed only picks key bytes).
pub fn principal_run(cfg: PrincipalConfig) -> PrincipalRun {
    enumerate(
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(0x12b),
        cfg,
        ENUMERATED_TENANTS,
    )
}

/// P1's verdict with the principal clause folded in (unchanged when no users exist).
pub fn with_principal_clause(mut v: Verdict, cfg: &PrincipalConfig) -> Verdict {
    if !cfg.active() {
        return v;
    }
    let run = principal_run(*cfg);
    v.reached += run.reached;
    if let Some(b) = run.violations.first() {
        if v.kind != VerdictKind::Violated {
            v.counterexample = Some(numbered(vec![
                format!(
                    "the attacker holds the {} (a stolen root credential)",
                    b.credential
                ),
                format!(
                    "it asks the AS for a token acting as {}, and gets one",
                    b.claimed
                ),
                format!(
                    "it presents that token at the product API for the data of {} of tenant {}",
                    b.addressed, b.tenant
                ),
                format!(
                    "violation: the API served {} of tenant {}, which the grant of the {} does not cover",
                    b.addressed, b.tenant, b.credential
                ),
            ]));
        }
        v.kind = VerdictKind::Violated;
        v.holds = false;
    }
    v
}

/// Users of one tenant that a stolen item lets its holder act as offline, from the
/// enumeration: `credential` is `tokenlab attack`'s stolen field (`None`: the whole store,
/// which holds every credential P keeps for the tenant, each user's RT included). Only
/// Connect's `shared_secret` reaches users among the single items: the simulated RT, T, URL
/// and client secret are the app's.
pub fn users_bought(cfg: PrincipalConfig, credential: Option<&str>) -> u64 {
    let reach = tokenlab_models::principals::offline_reach(&principal_run(cfg));
    reach
        .iter()
        .filter(|(kind, _)| credential.is_none_or(|c| c == kind.as_str()))
        .flat_map(|(_, set)| set.iter())
        .filter(|p| matches!(p, tokenlab_models::principals::Principal::User(_)))
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64
}
