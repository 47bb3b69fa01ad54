//! Run metrics computed from the history alone (`workload.md` §9), so a history recorded by
//! another driver yields the same numbers. Percentiles via hdrhistogram (3 significant digits).

use super::Scenario;
use crate::history::{Cause, Event, History, ItemKind, Outcome};
use crate::ids::{MsgId, Party, PlatformEndpoint, TenantId};
use crate::mechanisms::Mechanism;
use crate::params::Params;
use crate::{Micros, SEC, as_ms};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

fn percentiles(values: &[Micros]) -> Option<Percentiles> {
    if values.is_empty() {
        return None;
    }
    let mut h = Histogram::<u64>::new(3).expect("3 significant digits is valid");
    for v in values {
        h.record((*v).max(0) as u64)
            .expect("auto-resizing histogram");
    }
    let q = |x: f64| as_ms(h.value_at_quantile(x) as Micros);
    Some(Percentiles {
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        max: as_ms(h.max() as Micros),
    })
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct FirstToken {
    pub p50: Option<f64>,
    pub max: Option<f64>,
    /// Tenants that never held a token during the run.
    pub tenants_without_token: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Cold {
    /// Each tenant's first demand.
    pub demands: u64,
    pub token_acquired: u64,
    pub token_success_rate: f64,
    pub token_latency_ms: Option<Percentiles>,
    pub time_to_first_token_s: FirstToken,
}

/// The `simulate --json` object.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub mechanism: String,
    pub profile: Option<String>,
    pub preset: String,
    pub seed: u64,
    pub seed_hex: String,
    pub tenants: u32,
    pub duration_s: f64,
    pub demands_per_tenant_hour: f64,
    /// `--set` values and profile switches that differ from the defaults.
    pub switches: Vec<String>,
    /// Parameters in force whose defaults are unverified (report them as such).
    pub unverified_parameters: Vec<String>,
    pub hops_on_miss: u32,
    pub demands: u64,
    pub succeeded: u64,
    pub failed: BTreeMap<String, u64>,
    pub unknown: u64,
    pub success_rate: f64,
    pub latency_ms: Option<Percentiles>,
    pub cold: Cold,
    pub orphan_mints: u64,
    pub stale_reads: u64,
    pub detections: u64,
    pub messages_per_demand: f64,
    pub platform_requests_per_tenant_hour: f64,
    pub platform_mints_per_tenant_hour: f64,
    /// Demands not issued because the partner was down (nemesis crash).
    pub skipped_partner_down: u64,
}

fn is_platform(p: Party) -> bool {
    matches!(
        p,
        Party::Platform(PlatformEndpoint::Forge | PlatformEndpoint::AuthServer)
    )
}

pub fn summarize(
    s: &Scenario,
    mechanism: &dyn Mechanism,
    profile: Option<&str>,
    params: &Params,
    h: &History,
    skipped_partner_down: u64,
) -> Summary {
    let mut failed: BTreeMap<String, u64> = Cause::ALL
        .iter()
        .map(|c| (c.name().to_string(), 0))
        .collect();
    let (mut demands, mut succeeded, mut unknown) = (0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    let mut invoked: BTreeMap<crate::ids::DemandId, Micros> = BTreeMap::new();
    let mut first: BTreeMap<TenantId, (crate::ids::DemandId, Option<Micros>, bool)> =
        BTreeMap::new();
    let mut first_token: BTreeMap<TenantId, Micros> = BTreeMap::new();
    // (message, its cause) for every sent message with one: sorted by message once the pass is
    // over (16 bytes a message; a B-tree took about twice that, and this pass, not the
    // checkers, set the peak after a million-tenant run).
    let mut cause_of: Vec<(MsgId, MsgId)> = Vec::new();
    let mut attempt_of: BTreeMap<MsgId, (u64, u32)> = BTreeMap::new();
    let mut attempt_end: BTreeMap<(u64, u32), (Micros, bool)> = BTreeMap::new();
    let mut commits: Vec<(Micros, Option<MsgId>)> = Vec::new();
    let (mut stale_reads, mut detections, mut platform_requests, mut mints) =
        (0u64, 0u64, 0u64, 0u64);

    for r in &h.records {
        match &r.event {
            Event::Invoke { demand, .. } => {
                invoked.insert(*demand, r.t);
            }
            Event::Complete {
                demand,
                tenant,
                outcome,
                token_latency,
                ..
            } => {
                demands += 1;
                match outcome {
                    Outcome::Ok => succeeded += 1,
                    Outcome::Fail(c) => *failed.get_mut(c.name()).expect("closed taxonomy") += 1,
                    Outcome::Unknown => unknown += 1,
                }
                if *outcome != Outcome::Unknown
                    && let Some(t0) = invoked.get(demand)
                {
                    latencies.push(r.t - t0);
                }
                let e = first.entry(*tenant).or_insert((
                    *demand,
                    *token_latency,
                    *outcome == Outcome::Unknown,
                ));
                if *demand < e.0 {
                    *e = (*demand, *token_latency, *outcome == Outcome::Unknown);
                }
                if token_latency.is_some() && r.t >= 0 {
                    first_token.entry(*tenant).or_insert(r.t);
                }
            }
            Event::AttemptStart {
                acquisition,
                attempt,
                request,
                ..
            } => {
                if let Some(req) = request.get() {
                    attempt_of.insert(req, (*acquisition, *attempt));
                }
            }
            Event::AttemptEnd {
                acquisition,
                attempt,
                ok,
                ..
            } => {
                attempt_end
                    .entry((*acquisition, *attempt))
                    .or_insert((r.t, *ok));
            }
            Event::Send { env } => {
                if let Some(c) = env.cause {
                    cause_of.push((env.id, c));
                }
                if r.t >= 0 && env.is_request() && (is_platform(env.from) || is_platform(env.to)) {
                    platform_requests += 1;
                }
            }
            Event::StoreCommit { tenant, cause, .. } => {
                commits.push((r.t, *cause));
                if r.t >= 0 {
                    let e = first_token.entry(*tenant).or_insert(r.t);
                    *e = (*e).min(r.t);
                }
            }
            Event::StaleRead { .. } => stale_reads += 1,
            Event::Detect { .. } => detections += 1,
            Event::Issue {
                kind: ItemKind::AccessToken,
                ..
            } if r.t >= 0 => mints += 1,
            _ => {}
        }
    }
    // A message sent twice keeps its last cause, as a map's `insert` would.
    let cause_of = crate::sorted_map::SortedMap::from_pairs(cause_of, false);
    let cause = |m: MsgId| cause_of.get(&m).copied();
    let root = |mut m: MsgId| {
        while let Some(c) = cause(m) {
            m = c;
        }
        m
    };
    // A token committed after the attempt that asked for it had failed and been abandoned.
    let orphan_mints = commits
        .iter()
        .filter(|(t, cause)| {
            cause
                .map(root)
                .and_then(|r| attempt_of.get(&r))
                .and_then(|a| attempt_end.get(a))
                .is_some_and(|(end, ok)| !ok && end < t)
        })
        .count() as u64;
    // Messages sent from t = 0 on whose causal chain starts at an acquisition attempt (a second
    // pass instead of a list of every message sent).
    let acquisition_messages = h
        .records
        .iter()
        .filter(|r| r.t >= 0)
        .filter(|r| match &r.event {
            Event::Send { env } => attempt_of.contains_key(&root(env.id)),
            _ => false,
        })
        .count() as u64;

    let cold_demands = first.len() as u64;
    let cold_unknown_without = first
        .values()
        .filter(|(_, tl, unk)| *unk && tl.is_none())
        .count() as u64;
    let acquired: Vec<Micros> = first.values().filter_map(|(_, tl, _)| *tl).collect();
    let mut ttft: Vec<Micros> = first_token.values().copied().collect();
    ttft.sort_unstable();
    let tenant_hours = f64::from(s.tenants) * s.duration_s / 3600.0;
    let rate = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    Summary {
        mechanism: mechanism.id().into(),
        profile: profile.map(str::to_string),
        preset: s.preset.clone(),
        seed: s.seed,
        seed_hex: format!("{:#x}", s.seed),
        tenants: s.tenants,
        duration_s: s.duration_s,
        demands_per_tenant_hour: s.demands_per_tenant_hour,
        switches: params.non_defaults(),
        unverified_parameters: params
            .unverified()
            .into_iter()
            .map(str::to_string)
            .collect(),
        hops_on_miss: mechanism.hops_on_miss(),
        demands,
        succeeded,
        failed,
        unknown,
        success_rate: rate(succeeded, demands - unknown),
        latency_ms: percentiles(&latencies),
        cold: Cold {
            demands: cold_demands,
            token_acquired: acquired.len() as u64,
            token_success_rate: rate(acquired.len() as u64, cold_demands - cold_unknown_without),
            token_latency_ms: percentiles(&acquired),
            time_to_first_token_s: FirstToken {
                p50: (!ttft.is_empty()).then(|| ttft[(ttft.len() - 1) / 2] as f64 / SEC as f64),
                max: ttft.last().map(|t| *t as f64 / SEC as f64),
                tenants_without_token: u64::from(s.tenants).saturating_sub(ttft.len() as u64),
            },
        },
        orphan_mints,
        stale_reads,
        detections,
        messages_per_demand: rate(acquisition_messages, demands),
        platform_requests_per_tenant_hour: if tenant_hours > 0.0 {
            platform_requests as f64 / tenant_hours
        } else {
            0.0
        },
        platform_mints_per_tenant_hour: if tenant_hours > 0.0 {
            mints as f64 / tenant_hours
        } else {
            0.0
        },
        skipped_partner_down,
    }
}
