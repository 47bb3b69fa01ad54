//! The closed forms of `analytic.md` the report sets beside its measurements. Costs come from
//! the shared parameter registry's defaults and each mechanism's own facts (hops on a miss,
//! its local steps, how it acquires a token), so a mechanism with other steps gets its own
//! prediction without an edit here.

use tokenlab_models::mechanisms::{Acquisition, Mechanism, of_reference, shared_specs};

/// A shared parameter's default duration in ms, from the registry (NaN if it is not one).
fn shared_default_ms(key: &str) -> f64 {
    shared_specs()
        .iter()
        .find(|s| s.key == key)
        .and_then(|s| tokenlab_models::params::parse_duration(s.default))
        .map_or(f64::NAN, |us| us as f64 / 1000.0)
}

/// Mint time at F or the AS (t_m).
pub fn mint_ms() -> f64 {
    shared_default_ms("mint_time")
}
/// The partner store's write cost (t_w).
pub fn db_write_ms() -> f64 {
    shared_default_ms("db_write")
}
/// The partner store's read cost (t_r).
pub fn db_read_ms() -> f64 {
    shared_default_ms("db_read")
}
/// How long before exp the partner treats a token as expired (s).
pub fn expiry_margin_s() -> f64 {
    shared_default_ms("expiry_margin") / 1000.0
}
/// The access token's lifetime (s).
pub fn ttl_s() -> f64 {
    shared_default_ms("ttl") / 1000.0
}

/// `workload.md` §9: new installs per tenant-month (inference; swept in the report).
pub const INSTALLS_PER_TENANT_MONTH: f64 = 0.05;
/// `workload.md` §9: cache losses per tenant-month, partner deploys or restarts without
/// `persist_cache` (inference; swept in the report).
pub const CACHE_LOSSES_PER_TENANT_MONTH: f64 = 4.0;
/// Cold-start events per tenant-month swept beside the defaults (installs + cache losses).
pub const COLD_EVENTS_SWEEP: [f64; 5] = [0.0, 0.05, 1.05, 4.05, 30.05];
/// Hours in the tenant-month of the per-tenant-month figures (30 days).
pub const HOURS_PER_MONTH: f64 = 720.0;

/// Availability per tenant-month: the steady-state failure rate over every demand of the
/// month, plus `events` cold starts each costing `cold_failed` failed demands (inference,
/// `workload.md` §9).
pub fn availability_per_tenant_month(
    steady_success: f64,
    cold_failed: f64,
    events: f64,
    demands_per_hour: f64,
) -> f64 {
    let demands = demands_per_hour * HOURS_PER_MONTH;
    if demands <= 0.0 {
        return f64::NAN;
    }
    let failed = (1.0 - steady_success) * demands + events * cold_failed;
    1.0 - failed.min(demands) / demands
}

/// Δ of S3 at the same-region preset: from trigger's call to the commit it waits for (2d).
pub const TRIGGER_DELTA_MS: f64 = 80.0;
/// δ of U1–U3: from mint to the partner's commit (one 40 ms hop and a 5 ms write).
pub const DELIVERY_S: f64 = 0.045;

fn mechanism(reference: &str) -> Option<&'static dyn Mechanism> {
    of_reference(reference)
}

/// L1: cold-miss latency at one-way delay `d` ms, hops·d + mints·t_m + writes·t_w + reads·t_r
/// (None where the mechanism has no on-demand path, or the reference names none).
pub fn l1_ms(reference: &str, d: f64) -> Option<f64> {
    let m = mechanism(reference)?;
    if m.acquisition() == Acquisition::PushedOnly {
        return None;
    }
    let s = m.miss_steps();
    Some(
        f64::from(m.hops_on_miss()) * d
            + f64::from(s.mints) * mint_ms()
            + f64::from(s.store_writes) * db_write_ms()
            + f64::from(s.store_reads) * db_read_ms(),
    )
}

/// Inter-party messages on a cold miss (S1's exponent).
pub fn hops(reference: &str) -> u32 {
    mechanism(reference).map_or(0, |m| m.hops_on_miss())
}

/// Whether the reference names a mechanism whose tokens only arrive on the platform's
/// schedule (no on-demand path: a miss fails fast).
pub fn pushed_only(reference: &str) -> bool {
    mechanism(reference).is_some_and(|m| m.acquisition() == Acquisition::PushedOnly)
}

/// Whether the partner signs its own requests and holds no token at all.
pub fn self_signed(reference: &str) -> bool {
    mechanism(reference).is_some_and(|m| m.acquisition() == Acquisition::SelfSigned)
}

/// S1: cold success without retries under independent loss `p` (`kind` "loss") or edge 5xx
/// on requests (`kind` "5xx", half the hops are requests).
pub fn s1(mech: &str, kind: &str, p: f64) -> f64 {
    let h = hops(mech);
    let n = if kind == "loss" { h } else { h / 2 };
    (1.0 - p).powi(n as i32)
}

/// U3 evaluated by quadrature over the phase a ~ U(0, T): (P(lapse), E[gap]) for an outage of
/// `d` s, push interval `t` s and usable life `lp` = L − s − δ s.
pub fn u3(t: f64, lp: f64, d: f64) -> (f64, f64) {
    let k = 20_000;
    let (mut lapses, mut gap) = (0.0, 0.0);
    for i in 0..k {
        let a = (i as f64 + 0.5) / k as f64 * t;
        let g = (((a + d) / t).ceil() * t - lp).max(0.0);
        if g > 0.0 {
            lapses += 1.0;
        }
        gap += g;
    }
    (lapses / k as f64, gap / k as f64)
}

/// A duration switch value (`15m`, `4h`) in seconds, by the models' own parser.
pub fn seconds(s: &str) -> f64 {
    tokenlab_models::params::parse_duration(s)
        .map_or(f64::NAN, |us| us as f64 / tokenlab_models::SEC as f64)
}

/// The fixed one-way delay of a preset's inter-party links (ms), read from the preset itself.
pub fn one_way_ms(preset: &str) -> f64 {
    match tokenlab_models::faults::preset(preset).map(|p| p.network.default.latency) {
        Some(tokenlab_models::faults::LatencyDist::Fixed { ms }) => ms,
        _ => f64::NAN,
    }
}

/// The default of one of a mechanism's own duration switches, in seconds (NaN if it has none).
pub fn switch_default_s(reference: &str, key: &str) -> f64 {
    mechanism(reference)
        .and_then(|m| m.switches().into_iter().find(|s| s.key == key))
        .map_or(f64::NAN, |s| seconds(s.default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_formulas_match_analytic_md() {
        assert_eq!(l1_ms("trigger", 40.0), Some(217.0));
        assert_eq!(l1_ms("refresh:3lo", 40.0), Some(135.0));
        assert_eq!(l1_ms("tenant-secret", 100.0), Some(250.0));
        assert!((s1("trigger", "loss", 0.01) - 0.9606).abs() < 1e-4);
        assert!((s1("refresh", "loss", 0.01) - 0.9801).abs() < 1e-4);
        // U3 with L = 4T, s = δ = 0: D = 3.5 h lapses with probability 0.5 and gap 1 h.
        let (p, g) = u3(3600.0, 4.0 * 3600.0, 3.5 * 3600.0);
        assert!((p - 0.5).abs() < 1e-3, "{p}");
        assert!((g / 3600.0 - 0.5).abs() < 1e-3, "{g}");
        let (p, _) = u3(3600.0, 4.0 * 3600.0, 3.0 * 3600.0);
        assert_eq!(p, 0.0);
        // Push at 1 h, 60 demands/h: 30 failed per cold start, 4.05 events a month.
        let a = availability_per_tenant_month(1.0, 30.0, 4.05, 60.0);
        assert!((a - (1.0 - 121.5 / 43_200.0)).abs() < 1e-12, "{a}");
        assert_eq!(availability_per_tenant_month(1.0, 30.0, 0.0, 60.0), 1.0);
    }
}
