//! A9 against Forge's invocation limits (issue 13 item 1): an attacker who holds a stolen
//! trigger URL (A5, or every URL after an A2 snapshot) calls it at a fixed rate from a start
//! time, and F counts those calls against the installation's and the app's per-minute limits
//! (`models/src/roles/quota.rs`). What the URL alone costs is measured on the partner's
//! demands: the victim tenant's and the other tenants' success while the spam runs, beside
//! the same seed without it.
//!
//! The run is built so that the spam window holds many calls to F: 10 tenants, 600 demands
//! per tenant-hour and `ttl=2m` (with the 60 s expiry margin each tenant calls F about once a
//! minute). With the default 4 h TTL a tenant calls F every ~4 h and a 10-minute spam
//! meets almost none of them; the cost per call to F is the same, the number of calls scales
//! with 1/TTL (inference). The partner honours `Retry-After` within its demand deadline.

use crate::facts::{Decision, Facts};
use serde::Serialize;
use std::collections::BTreeMap;
use tokenlab_models::history::{Event, History, Outcome};
use tokenlab_models::ids::{Party, TenantId};
use tokenlab_models::mechanisms::resolve;
use tokenlab_models::roles::attacker::{AttackPlan, AttackStep, Capability};
use tokenlab_models::sim::{Scenario, run_with};
use tokenlab_models::{Micros, SEC};

/// Installations in a quota run.
pub const QUOTA_TENANTS: u32 = 10;
/// Demands per tenant-hour in a quota run (10 a minute).
pub const QUOTA_DEMANDS_PER_TENANT_HOUR: f64 = 600.0;
/// The access-token lifetime of a quota run: every tenant calls F about once a minute.
pub const QUOTA_TTL: &str = "2m";
/// The largest spam rate accepted, calls per minute (a bound on run time and memory).
pub const MAX_SPAM_PER_MIN: u32 = 120_000;
/// The longest spam accepted, s.
pub const MAX_SPAM_FOR_S: f64 = 1800.0;

/// One A9 measurement.
#[derive(Clone, Debug, Serialize)]
pub struct QuotaRequest {
    /// `trigger[...]`: a mechanism whose root credential is a trigger URL.
    pub mechanism: String,
    /// Its switches (`url_auth`, `correlate`, `quota_counts`, the limits).
    pub sets: Vec<String>,
    /// The tenant whose URL is stolen (0..[`QUOTA_TENANTS`]).
    pub victim: u32,
    /// Every tenant's URL (an A2 snapshot) instead of the victim's alone.
    pub every_url: bool,
    pub spam_per_min: u32,
    pub spam_from_s: f64,
    pub spam_for_s: f64,
    pub seed: u64,
}

/// Demands of one group of tenants invoked while the spam ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupOutcome {
    pub demands: u64,
    pub succeeded: u64,
    pub success_rate: Option<f64>,
    /// Demands that found no valid T and called F (cache misses).
    pub misses: u64,
    pub misses_succeeded: u64,
    pub miss_success_rate: Option<f64>,
    /// The slowest successful miss (Retry-After waits show here), ms.
    pub miss_latency_ms_max: Option<f64>,
    pub failed_by: BTreeMap<String, u64>,
}

/// What the attacker's calls met at F.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SpamOutcome {
    pub calls: u64,
    /// Calls that invoked the app (F minted and delivered a T to P.auth).
    pub admitted: u64,
    pub refused_by: BTreeMap<String, u64>,
}

/// One A9 measurement's result.
#[derive(Clone, Debug, Serialize)]
pub struct QuotaResult {
    pub request: QuotaRequest,
    pub tenants: u32,
    pub demands_per_tenant_hour: f64,
    pub ttl: &'static str,
    pub victim: GroupOutcome,
    pub others: GroupOutcome,
    /// The same seed without the spam, over the same window.
    pub victim_baseline: GroupOutcome,
    pub others_baseline: GroupOutcome,
    pub spam: SpamOutcome,
    /// The partner's calls to F refused 429 while the spam ran: the victim's, the others'.
    pub victim_rate_limited: u64,
    pub others_rate_limited: u64,
    /// The first `Detect` for the victim after the spam started (`correlate=on`), s after it.
    pub detected_after_s: Option<f64>,
    pub model: &'static str,
}

const MODEL: &str = "fixed 60 s windows aligned at t=0, one counter per installation and one per app; Retry-After = the rest of the window; an unauthenticated call (url_auth=required without the key) invokes nothing and is not counted (inference; Forge's algorithm is unverified)";

fn micros(s: f64) -> Micros {
    (s * SEC as f64) as Micros
}

fn rate(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The demands invoked in `[from, until)`, split into the victim and the others.
fn outcomes(h: &History, victim: TenantId, from: Micros, until: Micros) -> [GroupOutcome; 2] {
    let mut invoked: BTreeMap<_, Micros> = BTreeMap::new();
    let mut groups = [GroupOutcome::default(), GroupOutcome::default()];
    for r in &h.records {
        match &r.event {
            Event::Invoke { demand, .. } => {
                invoked.insert(*demand, r.t);
            }
            Event::Complete {
                demand,
                tenant,
                outcome,
                cold,
                token_latency,
            } => {
                let Some(at) = invoked.get(demand) else {
                    continue;
                };
                if *outcome == Outcome::Unknown || !(from..until).contains(at) {
                    continue;
                }
                let g = &mut groups[usize::from(*tenant != victim)];
                g.demands += 1;
                let ok = *outcome == Outcome::Ok;
                g.succeeded += u64::from(ok);
                if *cold {
                    g.misses += 1;
                    g.misses_succeeded += u64::from(ok);
                    if ok && let Some(l) = token_latency {
                        let ms = *l as f64 / 1e3;
                        g.miss_latency_ms_max = Some(g.miss_latency_ms_max.unwrap_or(0.0).max(ms));
                    }
                }
                if let Outcome::Fail(c) = outcome {
                    *g.failed_by.entry(c.name().into()).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for g in &mut groups {
        g.success_rate = rate(g.succeeded, g.demands);
        g.miss_success_rate = rate(g.misses_succeeded, g.misses);
    }
    groups
}

/// Checks a request's values; the error names the flag that is wrong.
pub fn validate(req: &QuotaRequest) -> anyhow::Result<()> {
    if req.victim >= QUOTA_TENANTS {
        anyhow::bail!(
            "--victim must be a tenant id in 0..{QUOTA_TENANTS} (a quota run installs {QUOTA_TENANTS} tenants), got {}",
            req.victim
        );
    }
    if req.spam_per_min == 0 || req.spam_per_min > MAX_SPAM_PER_MIN {
        anyhow::bail!(
            "--spam-rate must be calls per minute in 1..={MAX_SPAM_PER_MIN}, got {}",
            req.spam_per_min
        );
    }
    if !(req.spam_for_s > 0.0 && req.spam_for_s <= MAX_SPAM_FOR_S) {
        anyhow::bail!(
            "--spam-for-s must be in (0, {MAX_SPAM_FOR_S}], got {}",
            req.spam_for_s
        );
    }
    if !(req.spam_from_s >= 0.0 && req.spam_from_s <= 3600.0) {
        anyhow::bail!(
            "--at-s (the spam's start) must be in [0, 3600] for a spam run, got {}",
            req.spam_from_s
        );
    }
    Ok(())
}

/// Runs the spam and its baseline (same seed, no attacker) and measures both.
pub fn quota_attack(req: &QuotaRequest) -> anyhow::Result<QuotaResult> {
    validate(req)?;
    let mut sets = vec![format!("ttl={QUOTA_TTL}")];
    sets.extend(req.sets.iter().cloned());
    let (m, profile, params) = resolve(&req.mechanism, &sets)?;
    if m.root_credential() != "trigger_url" {
        anyhow::bail!(
            "--spam-rate needs a mechanism whose root credential is a trigger URL (trigger), got '{}'",
            req.mechanism
        );
    }
    let from = micros(req.spam_from_s);
    let until = from + micros(req.spam_for_s);
    let Some(mut s) = Scenario::new(&req.mechanism, "same-region") else {
        anyhow::bail!("the same-region preset is missing");
    };
    s.sets = sets.clone();
    s.tenants = QUOTA_TENANTS;
    // Drain past the spam so every demand invoked in it completes.
    s.duration_s = req.spam_from_s + req.spam_for_s + 60.0;
    s.demands_per_tenant_hour = QUOTA_DEMANDS_PER_TENANT_HOUR;
    s.seed = req.seed;
    let victim = TenantId(req.victim);
    let theft = if req.every_url {
        Capability::Breach { continuing: false }
    } else {
        Capability::Steal {
            field: "trigger_url",
            tenant: victim,
            from: tokenlab_models::history::ExposureMode::Store,
        }
    };
    // The URL key is stolen with the URL where there is one (the row holds both): the
    // A5 of one item leaves it behind, which is what url_auth=required is for.
    let steps = vec![
        AttackStep {
            at: from,
            capability: theft,
        },
        // Just after the theft, which the driver applies at `from`.
        AttackStep {
            at: from + tokenlab_models::MS,
            capability: Capability::SpamRate {
                per_min: req.spam_per_min,
                until,
            },
        },
    ];
    let mut plan = AttackPlan::new(steps, micros(s.duration_s));
    // The spam is the attack: the attacker does not also probe what it stole.
    plan.use_loot = false;
    let run = run_with(&s, m, profile, params.clone(), Some(&plan));
    let base = run_with(&s, m, profile, params, None);
    let [v, o] = outcomes(&run.history, victim, from, until);
    let [vb, ob] = outcomes(&base.history, victim, from, until);

    let f = Facts::new(&run.history);
    let mut spam = SpamOutcome::default();
    let (mut victim_rate_limited, mut others_rate_limited) = (0, 0);
    for (p, d, t) in f.decided() {
        if !(from..until + 60 * SEC).contains(&t) {
            continue;
        }
        match (p.who, d) {
            (Party::Attacker, _) if f.verifier(p.req) != Some(Party::FORGE) => {}
            (Party::Attacker, Decision::Accept { .. }) => {
                spam.calls += 1;
                spam.admitted += 1;
            }
            (Party::Attacker, Decision::Reject { reason }) => {
                spam.calls += 1;
                *spam.refused_by.entry((*reason).into()).or_default() += 1;
            }
            (Party::Partner(_), Decision::Reject { reason }) if *reason == "rate_limited" => {
                if p.tenant == victim {
                    victim_rate_limited += 1;
                } else {
                    others_rate_limited += 1;
                }
            }
            _ => {}
        }
    }
    let detected_after_s = run.history.records.iter().find_map(|r| match &r.event {
        Event::Detect { tenant, .. } if *tenant == victim && r.t >= from => {
            Some((r.t - from) as f64 / 1e6)
        }
        _ => None,
    });
    Ok(QuotaResult {
        request: req.clone(),
        tenants: QUOTA_TENANTS,
        demands_per_tenant_hour: QUOTA_DEMANDS_PER_TENANT_HOUR,
        ttl: QUOTA_TTL,
        victim: v,
        others: o,
        victim_baseline: vb,
        others_baseline: ob,
        spam,
        victim_rate_limited,
        others_rate_limited,
        detected_after_s,
        model: MODEL,
    })
}
